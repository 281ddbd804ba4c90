//! The tracer's filters, applied to saved events as the kernel applies them to live ones (`pwru.bpf.c`): the
//! function regex picks the probes; netns, mark, interface and the pcap expression must all hold, unless
//! `--filter-track-skb` already follows the skb, which it then does until the skb is freed.

use crate::cli::SelectArgs;
use crate::plan::filters::{self, MarkFilter};
use anyhow::Result;
use event::{Event, PacketStart};
use std::collections::HashSet;

/// What a replay keeps.
pub struct Select {
    func: Option<regex::Regex>,
    netns: Option<u32>,
    mark: Option<MarkFilter>,
    ifname: Option<String>,
    filter: Option<pcap_filter::Program>,
    /// `--filter-track-skb`: the skbs that matched, until freed.
    tracked: Option<HashSet<u64>>,
}

impl Select {
    /// Checks the filters as the tracer does (the same errors for the same mistakes).
    pub fn new(args: &SelectArgs, expr: Option<&str>) -> Result<Select> {
        let filter = match expr {
            None => None,
            Some(e) => Some(
                pcap_filter::compile(e).map_err(|err| crate::filter_cmd::BadFilter::new(e, err))?,
            ),
        };
        Ok(Select {
            func: args
                .filter_func
                .as_deref()
                .map(filters::parse_func_regex)
                .transpose()?,
            netns: args
                .filter_netns
                .as_deref()
                .map(filters::parse_netns)
                .transpose()?
                .map(|n| n.inode),
            mark: args
                .filter_mark
                .as_deref()
                .map(filters::parse_mark)
                .transpose()?,
            ifname: args.filter_ifname.clone(),
            filter,
            tracked: args.filter_track_skb.then(HashSet::new),
        })
    }

    /// Whether the pcap expression needs packet bytes.
    pub fn needs_bytes(&self) -> bool {
        self.filter.is_some()
    }

    /// Whether `ev` is kept.
    pub fn keep(&mut self, ev: &Event) -> bool {
        if self.func.as_ref().is_some_and(|re| !re.is_match(&ev.func)) {
            return false;
        }
        let tracked = self.tracked.as_ref().is_some_and(|t| t.contains(&ev.skb));
        let keep = tracked || self.matches(ev);
        if let Some(t) = &mut self.tracked {
            if event::fate::frees_skb(ev) {
                t.remove(&ev.skb);
            } else if keep {
                t.insert(ev.skb);
            }
        }
        keep
    }

    fn matches(&self, ev: &Event) -> bool {
        if self.netns.is_some_and(|n| n != ev.netns)
            || self.mark.is_some_and(|m| ev.mark & m.mask != m.mark)
            || self
                .ifname
                .as_ref()
                .is_some_and(|n| ev.ifname.as_ref() != Some(n))
        {
            return false;
        }
        match (&self.filter, &ev.packet) {
            (None, _) => true,
            (Some(_), None) => false,
            // A program fault (it cannot happen with the compiler's programs) selects nothing, as in the kernel.
            (Some(p), Some(b)) => {
                let l3 = b.start == PacketStart::L3;
                pcap_filter::interpret_with_len(p, &b.data, b.orig_len, l3).is_ok_and(|v| v != 0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(skb: u64, func: &str, mark: u32, data: Vec<u8>) -> Event {
        Event {
            skb,
            func: func.into(),
            func_kind: event::FuncKind::Tracepoint,
            mark,
            netns: 7,
            ifname: Some("veth0".into()),
            packet: Some(event::Packet {
                start: PacketStart::L3,
                orig_len: data.len() as u32,
                data,
            }),
            ..Default::default()
        }
    }

    /// IPv4 header of protocol `proto` (1: ICMP, 17: UDP), 10.0.0.1 → 10.0.0.2.
    fn ip(proto: u8) -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h.extend([0; 8]);
        h
    }

    fn args() -> SelectArgs {
        SelectArgs::default()
    }

    #[test]
    fn every_filter_must_hold() {
        let mut s = Select::new(
            &SelectArgs {
                filter_func: Some("netif_.*".into()),
                filter_mark: Some("0x10/0xf0".into()),
                filter_netns: Some("inode:7".into()),
                filter_ifname: Some("veth0".into()),
                ..args()
            },
            Some("icmp"),
        )
        .unwrap();
        assert!(s.needs_bytes());
        assert!(s.keep(&saved(1, "netif_receive_skb", 0x13, ip(1))));
        assert!(!s.keep(&saved(1, "ip_rcv", 0x13, ip(1))), "func");
        assert!(!s.keep(&saved(1, "netif_receive_skb", 0x23, ip(1))), "mark");
        assert!(
            !s.keep(&saved(1, "netif_receive_skb", 0x13, ip(17))),
            "pcap"
        );
        let mut other = saved(1, "netif_receive_skb", 0x13, ip(1));
        other.netns = 8;
        assert!(!s.keep(&other), "netns");
        other.netns = 7;
        other.ifname = Some("eth0".into());
        assert!(!s.keep(&other), "ifname");
        other.packet = None;
        other.ifname = Some("veth0".into());
        assert!(!s.keep(&other), "no bytes for the pcap filter");
    }

    #[test]
    fn track_skb_follows_until_freed() {
        let mut s = Select::new(
            &SelectArgs {
                filter_track_skb: true,
                ..args()
            },
            Some("icmp"),
        )
        .unwrap();
        assert!(!s.keep(&saved(1, "net_dev_queue", 0, ip(17))));
        assert!(s.keep(&saved(1, "net_dev_queue", 0, ip(1))));
        // NAT rewrote it to UDP: still followed, the free too, then no more.
        assert!(s.keep(&saved(1, "netif_receive_skb", 0, ip(17))));
        assert!(s.keep(&saved(1, "consume_skb", 0, ip(17))));
        assert!(!s.keep(&saved(1, "netif_receive_skb", 0, ip(17))));
    }

    #[test]
    fn bad_filters_are_the_tracers_errors() {
        let e = |a: SelectArgs, x: Option<&str>| Select::new(&a, x).err().unwrap().to_string();
        assert!(e(args(), Some("tcp port")).starts_with("filter: "));
        let m = e(
            SelectArgs {
                filter_mark: Some("1/0".into()),
                ..args()
            },
            None,
        );
        assert!(m.contains("invalid --filter-mark"), "{m}");
    }
}
