//! Interface names per (netns inode, ifindex), read with rtnetlink inside each network namespace.
//!
//! Namespaces are found in /run/netns/* and /proc/*/ns/net. Each is entered with setns(2) on a short-lived
//! helper thread (setns changes only the calling thread), which opens a NETLINK_ROUTE socket there and dumps the
//! links. A lookup miss triggers a rescan, at most once per [`RESCAN_INTERVAL`], so interfaces and namespaces
//! created after start resolve too (pwru only takes a snapshot at start).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const RESCAN_INTERVAL: Duration = Duration::from_secs(1);

/// Every network namespace we can open: (inode, a path that opens it), one path per inode.
pub fn netns_paths() -> Vec<(u32, PathBuf)> {
    let mut seen = HashMap::new();
    let mut add = |p: PathBuf| {
        if let Ok(md) = std::fs::metadata(&p) {
            seen.entry(md.ino() as u32).or_insert(p);
        }
    };
    add(PathBuf::from("/proc/self/ns/net"));
    if let Ok(rd) = std::fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            add(e.path());
        }
    }
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                add(e.path().join("ns/net"));
            }
        }
    }
    let mut v: Vec<_> = seen.into_iter().collect();
    v.sort();
    v
}

/// Links of the namespace at `path`: ifindex → name.
pub fn links_in(path: &Path) -> std::io::Result<HashMap<u32, String>> {
    let f = std::fs::File::open(path)?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this helper thread only; the thread ends right after, so nothing else runs there.
            if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            dump_links()
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("netlink helper thread panicked")))
    })
}

/// Finds `name` in the namespace at `path` (the current one when None): its ifindex.
pub fn ifindex_of(name: &str, path: Option<&Path>) -> std::io::Result<Option<u32>> {
    let links = match path {
        Some(p) => links_in(p)?,
        None => dump_links()?,
    };
    Ok(links.into_iter().find(|(_, n)| n == name).map(|(i, _)| i))
}

/// RTM_GETLINK dump on a fresh NETLINK_ROUTE socket in the calling thread's netns.
pub fn dump_links() -> std::io::Result<HashMap<u32, String>> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    // nlmsghdr (16) + ifinfomsg (16)
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&32u32.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    req[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[16] = libc::AF_UNSPEC as u8;
    // SAFETY: sending our own buffer on our socket (kernel is the default destination of netlink).
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    let n = unsafe {
        libc::sendto(
            sock.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }

    let mut out = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: receiving into our own buffer.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if parse_link_messages(&buf[..n as usize], &mut out)? {
            return Ok(out);
        }
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

/// Parses one recv()'s worth of netlink messages; true when NLMSG_DONE was seen.
fn parse_link_messages(mut b: &[u8], out: &mut HashMap<u32, String>) -> std::io::Result<bool> {
    const IFLA_IFNAME: u16 = 3;
    while b.len() >= 16 {
        let len = u32_at(b, 0) as usize;
        let ty = u16_at(b, 4);
        if len < 16 || len > b.len() {
            break;
        }
        let msg = &b[..len];
        match ty as i32 {
            libc::NLMSG_DONE => return Ok(true),
            libc::NLMSG_ERROR => {
                let errno = if len >= 20 {
                    -(u32_at(msg, 16) as i32)
                } else {
                    libc::EIO
                };
                if errno != 0 {
                    return Err(std::io::Error::from_raw_os_error(errno));
                }
            }
            t if t == libc::RTM_NEWLINK as i32 && len >= 32 => {
                let ifindex = u32_at(msg, 20);
                let mut attrs = &msg[32..];
                while attrs.len() >= 4 {
                    let alen = u16_at(attrs, 0) as usize;
                    let aty = u16_at(attrs, 2) & 0x3fff;
                    if alen < 4 || alen > attrs.len() {
                        break;
                    }
                    if aty == IFLA_IFNAME {
                        let v = &attrs[4..alen];
                        let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                        out.insert(ifindex, String::from_utf8_lossy(&v[..end]).into_owned());
                    }
                    attrs = &attrs[((alen + 3) & !3).min(attrs.len())..];
                    if attrs.is_empty() {
                        break;
                    }
                }
            }
            _ => {}
        }
        let step = (len + 3) & !3;
        if step >= b.len() {
            break;
        }
        b = &b[step..];
    }
    Ok(false)
}

/// The (netns, ifindex) → name cache the decoder consults.
#[derive(Debug, Default)]
pub struct IfNames {
    names: HashMap<(u32, u32), String>,
    last_scan: Option<Instant>,
    /// Rescans done (for tests and debugging).
    pub scans: u64,
}

impl IfNames {
    /// Takes the first snapshot of every namespace.
    pub fn scan_now() -> Self {
        let mut s = Self::default();
        s.rescan();
        s
    }

    pub fn rescan(&mut self) {
        self.last_scan = Some(Instant::now());
        self.scans += 1;
        for (inode, path) in netns_paths() {
            // A namespace can vanish between listing and entering it; its names stay cached from before.
            if let Ok(links) = links_in(&path) {
                for (idx, name) in links {
                    self.names.insert((inode, idx), name);
                }
            }
        }
    }

    /// Name of `ifindex` in netns `netns`; on a miss, rescans if the last scan is old enough.
    pub fn lookup(&mut self, netns: u32, ifindex: u32) -> Option<&str> {
        if ifindex == 0 {
            return None;
        }
        if !self.names.contains_key(&(netns, ifindex))
            && self
                .last_scan
                .is_none_or(|t| t.elapsed() >= RESCAN_INTERVAL)
        {
            self.rescan();
        }
        self.names.get(&(netns, ifindex)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[ignore = "needs root: reads every process's netns (tests/run.sh runs it)"]
    fn kernel_loopback_is_found_in_our_netns() {
        let links = dump_links().unwrap();
        assert_eq!(links.get(&1).map(String::as_str), Some("lo"));
        let own = std::fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
        let mut c = IfNames::scan_now();
        assert_eq!(c.lookup(own, 1), Some("lo"));
        assert_eq!(ifindex_of("lo", None).unwrap(), Some(1));
        assert_eq!(ifindex_of("no-such-if0", None).unwrap(), None);
    }

    #[test]
    fn kernel_misses_rescan_at_most_once_per_interval() {
        let mut c = IfNames::scan_now();
        assert_eq!(c.scans, 1);
        assert_eq!(c.lookup(1, 999_999), None);
        assert_eq!(c.lookup(1, 999_998), None);
        assert_eq!(c.scans, 1, "a miss right after a scan must not rescan");
        c.last_scan = Some(Instant::now() - RESCAN_INTERVAL);
        assert_eq!(c.lookup(1, 999_999), None);
        assert_eq!(c.scans, 2);
    }

    #[test]
    fn parses_a_link_message() {
        // One RTM_NEWLINK for ifindex 7 named "veth9", then NLMSG_DONE.
        let mut m = vec![0u8; 32];
        m[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
        m[20..24].copy_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&10u16.to_ne_bytes());
        m.extend_from_slice(&3u16.to_ne_bytes());
        m.extend_from_slice(b"veth9\0\0\0");
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&len.to_ne_bytes());
        let mut done = vec![0u8; 20];
        done[0..4].copy_from_slice(&20u32.to_ne_bytes());
        done[4..6].copy_from_slice(&(libc::NLMSG_DONE as u16).to_ne_bytes());
        m.extend_from_slice(&done);
        let mut out = HashMap::new();
        assert!(parse_link_messages(&m, &mut out).unwrap());
        assert_eq!(out.get(&7).map(String::as_str), Some("veth9"));
    }
}
