//! `--output-netns-names`: a name for each network namespace inode, found in userspace.
//!
//! In order of preference: the `ip netns` name (a bind mount in /run/netns, what pwru shows), Docker's (its netns
//! files in /var/run/docker/netns are named by sandbox; a process inside names the container), then for any other
//! namespace the container of a process inside it, from that process's cgroup: the pod name a CRI runtime wrote
//! in the container's OCI config (`io.kubernetes.cri.sandbox-name`), the Docker container's name, or the first 12
//! characters of the container id. Results are cached; a miss rescans at most once per [`RESCAN_INTERVAL`], so
//! namespaces made after start are named too. Every file read is bounded.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Least time between two rescans caused by misses.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(2);
/// Most bytes read of a cgroup file or a container config.
const MAX_READ: u64 = 1 << 20;
/// Most namespaces remembered (a node with more is unusual; the cache is rebuilt past it).
const MAX_CACHED: usize = 1 << 16;

/// Where the names come from (the real paths, or a test's tree).
#[derive(Clone, Debug)]
pub struct Roots {
    /// `ip netns` names: /run/netns.
    pub ip_netns: PathBuf,
    /// Docker's sandboxes: /var/run/docker/netns.
    pub docker_netns: PathBuf,
    /// /proc.
    pub proc: PathBuf,
    /// Docker's container configs: /var/lib/docker/containers.
    pub docker_containers: PathBuf,
    /// containerd's task bundles (one directory per container id below each namespace directory):
    /// /run/containerd/io.containerd.runtime.v2.task.
    pub containerd_tasks: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            ip_netns: "/run/netns".into(),
            docker_netns: "/var/run/docker/netns".into(),
            proc: "/proc".into(),
            docker_containers: "/var/lib/docker/containers".into(),
            containerd_tasks: "/run/containerd/io.containerd.runtime.v2.task".into(),
        }
    }
}

/// netns inode → name, cached.
#[derive(Debug)]
pub struct NetnsNames {
    roots: Roots,
    names: HashMap<u32, String>,
    last_scan: Option<Instant>,
}

impl NetnsNames {
    /// Scans the real paths now.
    pub fn scan_now() -> NetnsNames {
        Self::with_roots(Roots::default())
    }

    /// Scans `roots` now.
    pub fn with_roots(roots: Roots) -> NetnsNames {
        let mut n = NetnsNames {
            roots,
            names: HashMap::new(),
            last_scan: None,
        };
        n.rescan();
        n
    }

    /// The name of namespace `inode`, rescanning on a miss (at most once per [`RESCAN_INTERVAL`]).
    pub fn lookup(&mut self, inode: u32) -> Option<&str> {
        if !self.names.contains_key(&inode)
            && self
                .last_scan
                .is_none_or(|t| t.elapsed() >= RESCAN_INTERVAL)
        {
            self.rescan();
        }
        self.names.get(&inode).map(String::as_str)
    }

    fn rescan(&mut self) {
        self.last_scan = Some(Instant::now());
        if self.names.len() >= MAX_CACHED {
            self.names.clear();
        }
        // Named mounts first: they win over anything a process tells.
        let mut named = entries(&self.roots.ip_netns);
        let docker = entries(&self.roots.docker_netns);
        for (ino, name) in named.drain(..) {
            self.names.insert(ino, name);
        }
        let docker: HashMap<u32, String> = docker.into_iter().collect();
        let Ok(rd) = std::fs::read_dir(&self.roots.proc) else {
            return;
        };
        for e in rd.flatten() {
            let pid = e.file_name();
            if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let Ok(md) = std::fs::metadata(e.path().join("ns/net")) else {
                continue;
            };
            let ino = md.ino() as u32;
            if self.names.contains_key(&ino) {
                continue;
            }
            let name = read_bounded(&e.path().join("cgroup"))
                .and_then(|cg| container_id(&cg).map(str::to_string))
                .map(|id| self.container_name(&id));
            match (name, docker.get(&ino)) {
                (Some(n), _) => {
                    self.names.insert(ino, n);
                }
                (None, Some(sandbox)) => {
                    self.names.insert(ino, format!("docker:{sandbox}"));
                }
                (None, None) => {}
            }
        }
        // Docker sandboxes with no process of ours inside (e.g. all exited but the netns is kept).
        for (ino, sandbox) in docker {
            self.names
                .entry(ino)
                .or_insert_with(|| format!("docker:{sandbox}"));
        }
    }

    /// The pod (CRI), the Docker container's name, or the short id.
    fn container_name(&self, id: &str) -> String {
        if let Ok(rd) = std::fs::read_dir(&self.roots.containerd_tasks) {
            for ns in rd.flatten() {
                let config = ns.path().join(id).join("config.json");
                if let Some(text) = read_bounded(&config)
                    && let Some(pod) = cri_pod_name(&text)
                {
                    return pod;
                }
            }
        }
        let docker = self.roots.docker_containers.join(id).join("config.v2.json");
        if let Some(text) = read_bounded(&docker)
            && let Some(name) = docker_name(&text)
        {
            return name;
        }
        id[..12].to_string()
    }
}

/// (inode, file name) of each namespace file in `dir`.
fn entries(dir: &Path) -> Vec<(u32, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(u32, String)> = rd
        .flatten()
        .filter_map(|e| {
            let md = std::fs::metadata(e.path()).ok()?;
            (!md.is_dir()).then(|| {
                (
                    md.ino() as u32,
                    e.file_name().to_string_lossy().into_owned(),
                )
            })
        })
        .collect();
    v.sort();
    v
}

fn read_bounded(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(MAX_READ).read_to_string(&mut s).ok()?;
    Some(s)
}

/// The 64-hex-digit container id in a cgroup file (`0::/system.slice/docker-<id>.scope`,
/// `…/cri-containerd-<id>.scope`, `…/crio-<id>.scope`, `/docker/<id>`, `/kubepods/…/<id>`, `libpod-<id>.scope`).
pub fn container_id(cgroup: &str) -> Option<&str> {
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for part in path.rsplit('/') {
            let part = part.strip_suffix(".scope").unwrap_or(part);
            let id = part.rsplit('-').next().unwrap_or(part);
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(id);
            }
        }
    }
    None
}

/// `io.kubernetes.cri.sandbox-name` (with its namespace) from a container's OCI config.
fn cri_pod_name(config: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config).ok()?;
    let a = v.get("annotations")?;
    let name = a
        .get("io.kubernetes.cri.sandbox-name")
        .or_else(|| a.get("io.kubernetes.pod.name"))?
        .as_str()?;
    let ns = a
        .get("io.kubernetes.cri.sandbox-namespace")
        .or_else(|| a.get("io.kubernetes.pod.namespace"))
        .and_then(|n| n.as_str());
    Some(match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    })
}

/// `"Name": "/web"` from Docker's config.v2.json.
fn docker_name(config: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config).ok()?;
    let n = v.get("Name")?.as_str()?.trim_start_matches('/');
    (!n.is_empty()).then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c";

    #[test]
    fn container_ids_from_cgroups() {
        for cg in [
            format!("0::/system.slice/docker-{ID}.scope\n"),
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-pod1.slice/cri-containerd-{ID}.scope"
            ),
            format!("12:memory:/docker/{ID}\n0::/"),
            format!("0::/kubepods/besteffort/pod5a1e/{ID}"),
            format!("0::/machine.slice/libpod-{ID}.scope/container"),
            format!("0::/system.slice/crio-{ID}.scope"),
        ] {
            assert_eq!(container_id(&cg), Some(ID), "{cg}");
        }
        assert_eq!(
            container_id("0::/user.slice/user-0.slice/session-1.scope"),
            None
        );
        assert_eq!(container_id("garbage\u{1F600}"), None);
    }

    /// A fake tree: namespace "files" are plain files whose inodes stand for netns inodes, and /proc/PID/ns/net
    /// links to one of them.
    struct Tree {
        dir: testkit::TempDir,
        roots: Roots,
    }

    impl Tree {
        fn new() -> Tree {
            let dir = testkit::TempDir::new("netns-names");
            let roots = Roots {
                ip_netns: dir.join("run-netns"),
                docker_netns: dir.join("docker-netns"),
                proc: dir.join("proc"),
                docker_containers: dir.join("containers"),
                containerd_tasks: dir.join("tasks"),
            };
            for d in [&roots.ip_netns, &roots.docker_netns, &roots.proc] {
                std::fs::create_dir_all(d).unwrap();
            }
            Tree { dir, roots }
        }
        fn ns(&self, name: &str) -> u32 {
            let p = self.dir.join(format!("ns-{name}"));
            std::fs::write(&p, b"").unwrap();
            std::fs::metadata(&p).unwrap().ino() as u32
        }
        fn mount(&self, dir: &Path, name: &str, ns: &str) {
            std::fs::hard_link(self.dir.join(format!("ns-{ns}")), dir.join(name)).unwrap();
        }
        fn process(&self, pid: u32, ns: &str, cgroup: &str) {
            let d = self.roots.proc.join(pid.to_string());
            std::fs::create_dir_all(d.join("ns")).unwrap();
            std::os::unix::fs::symlink(self.dir.join(format!("ns-{ns}")), d.join("ns/net"))
                .unwrap();
            std::fs::write(d.join("cgroup"), cgroup).unwrap();
        }
    }

    #[test]
    fn names_in_order_of_preference() {
        let t = Tree::new();
        let (ip, dock, pod, bare, host) = (
            t.ns("ip"),
            t.ns("dock"),
            t.ns("pod"),
            t.ns("bare"),
            t.ns("host"),
        );
        t.mount(&t.roots.ip_netns, "blue", "ip");
        t.mount(&t.roots.docker_netns, "a1b2c3d4e5f6", "dock");
        // A process in the ip netns with a container cgroup: the ip netns name still wins.
        t.process(10, "ip", &format!("0::/docker/{ID}"));
        // Docker: the container's name from its config.
        let id2 = ID.replace('4', "5");
        t.process(11, "dock", &format!("0::/system.slice/docker-{id2}.scope"));
        std::fs::create_dir_all(t.roots.docker_containers.join(&id2)).unwrap();
        std::fs::write(
            t.roots.docker_containers.join(&id2).join("config.v2.json"),
            r#"{"ID":"x","Name":"/web"}"#,
        )
        .unwrap();
        // Kubernetes with containerd: the pod.
        let id3 = ID.replace('4', "6");
        t.process(12, "pod", &format!("0::/kubepods/burstable/podx/{id3}"));
        let bundle = t.roots.containerd_tasks.join("k8s.io").join(&id3);
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-name":"coredns-5d78c9869d-8x2vq","io.kubernetes.cri.sandbox-namespace":"kube-system"}}"#,
        )
        .unwrap();
        // A container nobody describes: its short id. The host's netns has no name.
        let id4 = ID.replace('4', "7");
        t.process(
            13,
            "bare",
            &format!("0::/system.slice/cri-containerd-{id4}.scope"),
        );
        t.process(1, "host", "0::/init.scope");

        let mut n = NetnsNames::with_roots(t.roots.clone());
        assert_eq!(n.lookup(ip), Some("blue"));
        assert_eq!(n.lookup(dock), Some("web"));
        assert_eq!(n.lookup(pod), Some("kube-system/coredns-5d78c9869d-8x2vq"));
        assert_eq!(n.lookup(bare), Some(&id4[..12]));
        assert_eq!(n.lookup(host), None);
    }

    #[test]
    fn docker_sandbox_without_process_and_a_late_netns() {
        let t = Tree::new();
        let dock = t.ns("dock");
        t.mount(&t.roots.docker_netns, "a1b2c3d4e5f6", "dock");
        let mut n = NetnsNames::with_roots(t.roots.clone());
        assert_eq!(n.lookup(dock), Some("docker:a1b2c3d4e5f6"));
        // Made after the first scan: found by the rescan a miss triggers (once the interval passed).
        let late = t.ns("late");
        t.mount(&t.roots.ip_netns, "late", "late");
        n.last_scan = Some(Instant::now() - RESCAN_INTERVAL);
        assert_eq!(n.lookup(late), Some("late"));
    }

    #[test]
    fn reads_are_bounded_and_bad_files_ignored() {
        let t = Tree::new();
        let big = t.ns("big");
        // A cgroup file far past the bound, with the id beyond it: not read to the end.
        t.process(
            20,
            "big",
            &format!("{}\n0::/docker/{ID}", "x".repeat(MAX_READ as usize + 10)),
        );
        let bad = t.ns("bad");
        let id2 = ID.replace('4', "8");
        t.process(21, "bad", &format!("0::/docker/{id2}"));
        std::fs::create_dir_all(t.roots.docker_containers.join(&id2)).unwrap();
        std::fs::write(
            t.roots.docker_containers.join(&id2).join("config.v2.json"),
            "{not json",
        )
        .unwrap();
        let mut n = NetnsNames::with_roots(t.roots.clone());
        assert_eq!(n.lookup(big), None);
        assert_eq!(n.lookup(bad), Some(&id2[..12]));
    }
}
