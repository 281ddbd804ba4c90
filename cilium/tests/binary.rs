//! Root test through the real `pwru` binary: `pwru cilium …` prints what the library prints, and errors are one
//! clear line with exit status 1. The binary is testkit's `pwru_bin()` (`$PWRU_BIN`, else cargo's).

mod common;

use common::cluster::{self, Layout};
use common::*;
use std::path::Path;
use std::process::Command;
use testkit::pwru_bin;

#[test]
#[ignore = "needs root: BPF maps in a private bpffs (tests/run.sh runs it)"]
fn pwru_cilium_subcommands() {
    let bin = pwru_bin();
    let fs = Bpffs::new("binary");
    cluster::build(&fs, Layout::V1_18);
    let root = fs.root.to_str().unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/1.18");
    for (args, file) in [
        (vec!["cilium", "ipcache"], "ipcache.txt"),
        (vec!["cilium", "lb", "10.96.0.10:53/udp"], "lb-dns.txt"),
        (vec!["cilium", "policy", "2001"], "policy-2001.txt"),
        (vec!["cilium", "ct"], "ct.txt"),
        (vec!["cilium", "metrics"], "metrics.txt"),
    ] {
        let out = Command::new(&bin)
            .args(&args)
            .args(["--bpffs", root, "--clock", "none"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pwru {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = std::fs::read_to_string(golden.join(file)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "pwru {args:?}");
    }
    let out = Command::new(&bin)
        .args([
            "cilium",
            "policy",
            "2001",
            "--identity",
            "34567",
            "--port",
            "9090/tcp",
            "--bpffs",
            root,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Endpoint 2001 ingress from identity 34567, 9090/TCP: DENIED: AUTH_REQUIRED (189, Authentication required): \
         matched L3-dependent entry (allow, auth spire, prefix 24)\n"
    );
    let out = Command::new(&bin)
        .args(["cilium", "maps", "--bpffs", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("pwru: /nonexistent/tc/globals does not exist"),
        "{err}"
    );
}
