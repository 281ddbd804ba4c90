//! The pcap/pcapng reader behind `pwru filter --read`. Findings: a panic, a packet bigger than a capture can
//! hold, or reading on after an error.

use pcap_filter::capture::{Capture, MAX_CAPLEN};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(capture) = Capture::new(data) else {
            return;
        };
        let mut ended = false;
        for p in capture {
            assert!(!ended, "a packet after an error");
            match p {
                Ok(p) => assert!(p.data.len() <= (MAX_CAPLEN as usize).max(data.len())),
                Err(e) => {
                    let _ = e.to_string();
                    ended = true;
                }
            }
        }
    });
}
