//! Two network namespaces joined by a veth pair: the one topology every traffic test uses.
//!
//! ```no_run
//! let p = testkit::NetnsPair::new("ping", 201); // 10.201.0.1/24 in a, 10.201.0.2/24 in b
//! p.exec(&p.a, &format!("ping -c1 {}", p.ip_b));
//! // dropped here (also when the test panics): both namespaces and the veth pair are gone
//! ```

use crate::cmd::{need_root, need_tool, sh};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces `a` and `b` (under /run/netns) joined by veth `veth_a` (in `a`) and `veth_b` (in `b`), both up with
/// `lo`. IPv6 is off unless asked for: its autoconfiguration sends packets at random times, which would make
/// event counts unstable. Dropping it deletes both namespaces, and with them the veths and their qdiscs, also when
/// the test panics.
#[derive(Debug)]
pub struct NetnsPair {
    /// Name of namespace `a`.
    pub a: String,
    /// Name of namespace `b`.
    pub b: String,
    /// The veth end in `a`.
    pub veth_a: String,
    /// The veth end in `b`.
    pub veth_b: String,
    /// IPv4 address of `veth_a`, without prefix length.
    pub ip_a: String,
    /// IPv4 address of `veth_b`, without prefix length.
    pub ip_b: String,
    /// Inode of namespace `a` (what the probes report as netns).
    pub inode_a: u32,
    /// Inode of namespace `b`.
    pub inode_b: u32,
    /// Interface index of `veth_a` in `a`.
    pub ifindex_a: u32,
    /// Interface index of `veth_b` in `b`.
    pub ifindex_b: u32,
}

/// Options of a [`NetnsPair`] before it is created: [`NetnsPair::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until build()"]
pub struct Builder {
    tag: String,
    net: u8,
    hosts: Option<(String, String)>,
    ipv6: bool,
    resolve: bool,
}

impl NetnsPair {
    /// `a` has 10.`net`.0.1/24, `b` has 10.`net`.0.2/24. `tag` names the namespaces (`tk-<tag>-<pid>-a`), so a
    /// leftover says which test made it.
    pub fn new(tag: &str, net: u8) -> NetnsPair {
        Self::builder(tag, net).build()
    }

    /// A pair with more options; [`Builder::build`] creates it.
    pub fn builder(tag: &str, net: u8) -> Builder {
        Builder {
            tag: tag.to_string(),
            net,
            hosts: None,
            ipv6: false,
            resolve: false,
        }
    }

    /// `/run/netns/<a>`: what `--filter-netns` and `setns` open.
    pub fn path_a(&self) -> String {
        format!("/run/netns/{}", self.a)
    }

    /// `/run/netns/<b>`.
    pub fn path_b(&self) -> String {
        format!("/run/netns/{}", self.b)
    }

    /// Runs `cmd` through `sh -c` inside namespace `ns` (pipes and redirections included) and returns its stdout;
    /// panics when it fails.
    pub fn exec(&self, ns: &str, cmd: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "sh", "-c", cmd])
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {ns}: {e}"));
        assert!(
            out.status.success(),
            "`{cmd}` in netns {ns} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Builder {
    /// Host addresses instead of the /24: `a` gets `ip_a`/32 and `b` gets `ip_b`/32, each with a route to the other
    /// (as Cilium's pods are addressed).
    pub fn hosts(mut self, ip_a: &str, ip_b: &str) -> Builder {
        self.hosts = Some((ip_a.to_string(), ip_b.to_string()));
        self
    }

    /// IPv6 too: fd00:`net`::1/64 in `a`, fd00:`net`::2/64 in `b` (no duplicate address detection, so they are usable
    /// at once).
    pub fn ipv6(mut self) -> Builder {
        self.ipv6 = true;
        self
    }

    /// Pings `b` from `a` once after setup, so that neighbours are resolved and a test's traced packets are exactly
    /// the ones it sends.
    pub fn resolve_neighbours(mut self) -> Builder {
        self.resolve = true;
        self
    }

    /// Creates the namespaces and the veth pair. Needs root and iproute2.
    pub fn build(self) -> NetnsPair {
        need_root("network namespaces");
        need_tool("ip");
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let (pid, seq) = (std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
        let net = self.net;
        let (ip_a, ip_b, prefix) = match &self.hosts {
            Some((a, b)) => (a.clone(), b.clone(), 32),
            None => (format!("10.{net}.0.1"), format!("10.{net}.0.2"), 24),
        };
        let mut p = NetnsPair {
            a: format!("tk-{}-{pid}-a", self.tag),
            b: format!("tk-{}-{pid}-b", self.tag),
            veth_a: format!("tk{pid}x{seq}a"),
            veth_b: format!("tk{pid}x{seq}b"),
            ip_a,
            ip_b,
            inode_a: 0,
            inode_b: 0,
            ifindex_a: 0,
            ifindex_b: 0,
        };
        assert!(p.veth_a.len() <= 15, "veth name {} too long", p.veth_a);
        sh(&format!("ip netns add {}", p.a));
        // From here on, Drop cleans up whatever the next steps leave.
        sh(&format!("ip netns add {}", p.b));
        sh(&format!(
            "ip link add {} netns {} type veth peer name {} netns {}",
            p.veth_a, p.a, p.veth_b, p.b
        ));
        let sides = [
            (
                p.a.clone(),
                p.veth_a.clone(),
                p.ip_a.clone(),
                p.ip_b.clone(),
                1,
            ),
            (
                p.b.clone(),
                p.veth_b.clone(),
                p.ip_b.clone(),
                p.ip_a.clone(),
                2,
            ),
        ];
        for (ns, dev, ip, peer, host) in &sides {
            if self.ipv6 {
                sh(&format!(
                    "ip -n {ns} addr add fd00:{net}::{host}/64 dev {dev} nodad"
                ));
            } else {
                sh(&format!(
                    "ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                     net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.{dev}.disable_ipv6=1"
                ));
            }
            sh(&format!("ip -n {ns} addr add {ip}/{prefix} dev {dev}"));
            sh(&format!(
                "ip -n {ns} link set {dev} up && ip -n {ns} link set lo up"
            ));
            if prefix == 32 {
                sh(&format!("ip -n {ns} route add {peer}/32 dev {dev}"));
            }
        }
        p.inode_a = inode(&p.a);
        p.inode_b = inode(&p.b);
        p.ifindex_a = ifindex(&p.a, &p.veth_a);
        p.ifindex_b = ifindex(&p.b, &p.veth_b);
        if self.resolve {
            p.exec(&p.a, &format!("ping -c1 -W2 {} >/dev/null", p.ip_b));
        }
        p
    }
}

fn inode(ns: &str) -> u32 {
    let path = format!("/run/netns/{ns}");
    let meta = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    std::os::unix::fs::MetadataExt::ino(&meta) as u32
}

fn ifindex(ns: &str, dev: &str) -> u32 {
    let out = sh(&format!(
        "ip netns exec {ns} cat /sys/class/net/{dev}/ifindex"
    ));
    out.trim()
        .parse()
        .unwrap_or_else(|e| panic!("ifindex of {dev} in {ns}: {e}: {out:?}"))
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
