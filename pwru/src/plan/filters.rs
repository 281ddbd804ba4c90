//! The `--filter-*` values that are not pcap: netns, mark, function regex.

use anyhow::{Context, Result, bail};
use std::os::unix::fs::MetadataExt;

/// `--filter-mark mark[/mask]`: decimal or 0x-hex; no mask means all bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarkFilter {
    pub mark: u32,
    pub mask: u32,
}

impl MarkFilter {
    /// What the kernel side checks (`pwru.bpf.c`: the mark is compared unmasked).
    #[cfg(test)]
    pub fn matches(&self, mark: u32) -> bool {
        mark & self.mask == self.mark
    }
}

/// A number too big for 32 bits, told apart from one that is not a number at all.
enum Num {
    Ok(u32),
    TooBig,
    Bad,
}

fn parse_u32(s: &str) -> Num {
    let s = s.trim();
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Num::Bad;
    }
    match u32::from_str_radix(digits, radix) {
        Ok(n) => Num::Ok(n),
        Err(_) => Num::TooBig,
    }
}

pub fn parse_mark(s: &str) -> Result<MarkFilter> {
    let (m, mask) = match s.split_once('/') {
        Some((m, k)) => (m, Some(k)),
        None => (s, None),
    };
    let num = |part: &str| match parse_u32(part) {
        Num::Ok(n) => Ok(n),
        Num::TooBig => bail!(
            "invalid --filter-mark {s:?}: {} is out of range (marks are 32-bit, at most 0xffffffff)",
            part.trim()
        ),
        Num::Bad => bail!("invalid --filter-mark {s:?}: expected mark[/mask], e.g. 0x100/0xf00"),
    };
    let mark = num(m)?;
    let mask = match mask {
        Some(k) => num(k)?,
        None => u32::MAX,
    };
    if mark & !mask != 0 {
        bail!(
            "invalid --filter-mark {s:?}: mark {mark:#x} has bits outside mask {mask:#x}, so no packet can match (did you mean {:#x}/{mask:#x}?)",
            mark & mask
        );
    }
    Ok(MarkFilter { mark, mask })
}

/// `--filter-netns`: where the namespace is, so we can both get its inode and enter it (for --filter-ifname).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetnsFilter {
    pub inode: u32,
    /// A path that opens the namespace (absent for a bare `inode:N` not found under /proc or /run/netns).
    pub path: Option<std::path::PathBuf>,
}

pub fn parse_netns(s: &str) -> Result<NetnsFilter> {
    if let Some(n) = s.strip_prefix("inode:") {
        let Num::Ok(inode) = parse_u32(n) else {
            bail!("invalid --filter-netns {s:?}: inode:N needs a 32-bit number");
        };
        if inode == 0 {
            // The probes take netns 0 to mean "any namespace".
            bail!("invalid --filter-netns {s:?}: no namespace has inode 0");
        }
        let path = crate::ifnames::netns_paths()
            .into_iter()
            .find(|(i, _)| *i == inode)
            .map(|(_, p)| p);
        return Ok(NetnsFilter { inode, path });
    }
    let path = std::path::PathBuf::from(s);
    if !path.is_absolute() {
        bail!(
            "invalid --filter-netns {s:?}: expected /proc/PID/ns/net, /run/netns/NAME or inode:N"
        );
    }
    let md = std::fs::metadata(&path).with_context(|| format!("invalid --filter-netns {s:?}"))?;
    // nsfs inodes live on the nsfs pseudo filesystem; a bind mount in /run/netns keeps its inode.
    let f = std::fs::File::open(&path).with_context(|| format!("invalid --filter-netns {s:?}"))?;
    if !is_netns(&f) {
        bail!("invalid --filter-netns {s:?}: not a network namespace");
    }
    Ok(NetnsFilter {
        inode: md.ino() as u32,
        path: Some(path),
    })
}

/// Asks the kernel whether the fd is a network namespace (NS_GET_NSTYPE).
pub fn is_netns(f: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703; // _IO(0xb7, 0x3)
    // SAFETY: the ioctl takes no argument and only reads the fd.
    let t = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    t == libc::CLONE_NEWNET
}

/// `--filter-func`: pwru matches the regex against the whole function name.
pub fn parse_func_regex(s: &str) -> Result<regex::Regex> {
    regex::Regex::new(&format!("^(?:{s})$")).map_err(|e| {
        anyhow::anyhow!(
            "invalid --filter-func {s:?}: {}",
            first_line(&e.to_string())
        )
    })
}

fn first_line(s: &str) -> String {
    // regex errors are multi-line with a caret diagram; the last line names the problem.
    s.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks() {
        assert_eq!(
            parse_mark("0x10").unwrap(),
            MarkFilter {
                mark: 0x10,
                mask: u32::MAX
            }
        );
        assert_eq!(
            parse_mark("256/0xff00").unwrap(),
            MarkFilter {
                mark: 256,
                mask: 0xff00
            }
        );
        assert_eq!(
            parse_mark("0xA/0XF").unwrap(),
            MarkFilter { mark: 10, mask: 15 }
        );
        for bad in ["", "x", "0x", "1/", "/1", "1/2/3", "-1", "+1", "0x-1"] {
            let e = parse_mark(bad).unwrap_err().to_string();
            assert!(e.contains("expected mark[/mask]"), "{bad}: {e}");
        }
        for big in ["4294967296", "0xfffffffff", "1/4294967296"] {
            let e = parse_mark(big).unwrap_err().to_string();
            assert!(e.contains("out of range"), "{big}: {e}");
        }
        for never in ["1/0", "0x10/0x1", "0x1ff/0xf0"] {
            let e = parse_mark(never).unwrap_err().to_string();
            assert!(e.contains("no packet can match"), "{never}: {e}");
        }
        let f = parse_mark("0x100/0xf00").unwrap();
        assert!(f.matches(0x1100) && !f.matches(0x200));
        let any = parse_mark("0/0").unwrap();
        assert!(any.matches(0) && any.matches(0xffff_ffff));
    }

    #[test]
    fn kernel_netns_from_proc_path_and_inode() {
        let own = std::fs::metadata("/proc/self/ns/net").unwrap().ino() as u32;
        let f = parse_netns("/proc/self/ns/net").unwrap();
        assert_eq!(f.inode, own);
        let f = parse_netns(&format!("inode:{own}")).unwrap();
        assert_eq!(f.inode, own);
        assert!(f.path.is_some(), "our own netns must be found under /proc");
        let f = parse_netns("inode:12").unwrap();
        assert_eq!((f.inode, f.path), (12, None));
    }

    #[test]
    fn kernel_netns_errors() {
        assert!(parse_netns("inode:abc").is_err());
        let e = parse_netns("inode:0").unwrap_err().to_string();
        assert!(e.contains("no namespace has inode 0"), "{e}");
        assert!(parse_netns("inode:99999999999").is_err());
        assert!(parse_netns("relative/path").is_err());
        assert!(parse_netns("/proc/999999999/ns/net").is_err());
        let e = parse_netns("/proc/self/ns/mnt").unwrap_err().to_string();
        assert!(e.contains("not a network namespace"), "{e}");
        assert!(parse_netns("/etc/hostname").is_err());
    }

    #[test]
    fn func_regex_is_anchored() {
        let r = parse_func_regex("ip_.*").unwrap();
        assert!(r.is_match("ip_rcv") && !r.is_match("tcp_v4_rcv_ip_x") && !r.is_match("xip_rcv"));
        let r = parse_func_regex("kfree_skb|consume_skb").unwrap();
        assert!(r.is_match("consume_skb") && !r.is_match("kfree_skb_reason"));
        let e = parse_func_regex("ip_(").unwrap_err().to_string();
        assert!(
            e.starts_with("invalid --filter-func") && !e.contains('\n'),
            "{e}"
        );
    }
}
