//! `--drops-only`: each packet's events are held until its fate is known; the path of a dropped packet goes to the
//! printers (text, JSON, TUI, …) the moment it is dropped, from its first function to the drop; the others are
//! discarded when they end.
//!
//! What is a drop comes from [`event::fate::classify`]: a `kfree_skb_reason`/`sk_skb_reason_drop`/`skb:kfree_skb`
//! with a reason other than a normal consume, or a traced BPF program's dropping verdict (`TC_ACT_SHOT`,
//! `XDP_DROP`), which ends its path. After an XDP drop, the path of the skb the program ran on (at another address)
//! is printed too when the kernel frees it.
//!
//! Memory is bounded by `--drops-only-max-skbs` (packets held at once; the least recently seen is evicted) and
//! `--drops-only-max-events` (per packet: the first half and the latest half are kept). Every event is accounted
//! for in [`Held`]: printed (by the printers), not in a drop path, or evicted.

use super::paths::{Gone, Paths};
use super::{Counts, Held, Sink, Sinks, StopHandle};
use anyhow::Result;
use event::Event;
use std::collections::VecDeque;

/// One packet's held events.
#[derive(Default)]
struct Held1 {
    head: Vec<Event>,
    tail: VecDeque<Event>,
    /// Its path was printed: later events (release helpers after the drop) are not.
    printed: bool,
}

impl Held1 {
    fn len(&self) -> u64 {
        (self.head.len() + self.tail.len()) as u64
    }
}

pub use crate::plan::DropsOnlyCaps as Caps;

/// Holds paths, hands the dropped ones to `inner`.
pub struct DropsOnly {
    inner: Sinks,
    paths: Paths<Held1>,
    caps: Caps,
    /// `--output-limit-lines`: events handed on before the run is stopped.
    limit: Option<u64>,
    stop: StopHandle,
    handed: u64,
    held: Held,
    gone: Vec<Gone<Held1>>,
}

impl DropsOnly {
    /// Printers `inner`; `limit` ends the run (through `stop`) once that many events were handed on.
    pub fn new(inner: Sinks, caps: Caps, limit: Option<u64>, stop: StopHandle) -> DropsOnly {
        DropsOnly {
            inner,
            paths: Paths::new(caps.skbs),
            caps: Caps {
                skbs: caps.skbs.max(1),
                events: caps.events.max(2),
            },
            limit,
            stop,
            handed: 0,
            held: Held::default(),
            gone: Vec::new(),
        }
    }

    fn account(&mut self) {
        for g in self.gone.drain(..) {
            match g {
                Gone::Ended(h) if !h.printed => self.held.not_dropped += h.len(),
                Gone::Evicted(h) if !h.printed => self.held.evicted += h.len(),
                _ => {}
            }
        }
    }
}

impl Sink for DropsOnly {
    fn event(&mut self, ev: &Event) -> Result<()> {
        let seen = self.paths.observe(ev, &mut self.gone);
        let h = seen.data;
        if h.printed {
            self.held.not_dropped += 1;
        } else if h.head.len() < self.caps.events / 2 {
            h.head.push(ev.clone());
        } else {
            h.tail.push_back(ev.clone());
            if h.head.len() + h.tail.len() > self.caps.events {
                h.tail.pop_front();
                self.held.evicted += 1;
            }
        }
        let mut result = Ok(());
        // The skb an XDP program dropped is printed too when the kernel frees it: where the packet came from.
        if (seen.drop.is_some() || seen.xdp_free) && !h.printed {
            h.printed = true;
            self.held.paths += 1;
            for e in h.head.drain(..).chain(h.tail.drain(..)) {
                if self.limit.is_some_and(|l| self.handed >= l) {
                    self.held.not_dropped += 1;
                    continue;
                }
                self.handed += 1;
                if result.is_ok() {
                    result = self.inner.event(&e);
                }
            }
            h.head.shrink_to_fit();
            h.tail.shrink_to_fit();
            if self.limit.is_some_and(|l| self.handed >= l) {
                self.stop.stop();
            }
        }
        if seen.frees
            && let Some(h) = self.paths.freed(ev.skb)
        {
            self.gone.push(Gone::Ended(h));
        }
        self.account();
        result
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn tick(&mut self, c: &Counts) -> Result<()> {
        self.inner.tick(&Counts {
            evicted: self.held.evicted,
            ..*c
        })
    }

    fn finish(&mut self, c: &Counts) -> Result<()> {
        // Still in flight when the run ended: not seen to be dropped.
        for h in self.paths.drain() {
            if !h.printed {
                self.held.not_dropped += h.len();
            }
        }
        self.inner.finish(&Counts {
            evicted: self.held.evicted,
            ..*c
        })
    }

    fn printed(&self) -> Option<u64> {
        self.inner.printed()
    }

    fn held(&self) -> Option<Held> {
        Some(self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::{DropReason, FuncKind};
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Default, Clone)]
    struct Record(Rc<RefCell<Vec<(u64, String)>>>);

    impl Sink for Record {
        fn event(&mut self, ev: &Event) -> Result<()> {
            self.0.borrow_mut().push((ev.skb, ev.func.clone()));
            Ok(())
        }
        fn printed(&self) -> Option<u64> {
            Some(self.0.borrow().len() as u64)
        }
    }

    fn ev(skb: u64, at: u64, func: &str) -> Event {
        Event {
            skb,
            ktime_ns: at,
            func: func.into(),
            func_kind: FuncKind::Tracepoint,
            ..Default::default()
        }
    }

    fn drop_ev(skb: u64, at: u64) -> Event {
        Event {
            drop_reason: Some(DropReason {
                code: 3,
                name: Some("NO_SOCKET".into()),
            }),
            ..ev(skb, at, "kfree_skb")
        }
    }

    fn sink(caps: Caps, limit: Option<u64>) -> (DropsOnly, Record, StopHandle) {
        let rec = Record::default();
        let mut inner = Sinks::default();
        inner.push(Box::new(rec.clone()));
        let stop = StopHandle::default();
        (DropsOnly::new(inner, caps, limit, stop.clone()), rec, stop)
    }

    const CAPS: Caps = Caps {
        skbs: 64,
        events: 64,
    };

    #[test]
    fn only_dropped_paths_whole_and_in_order() {
        let (mut d, rec, _) = sink(CAPS, None);
        for e in [
            ev(1, 0, "netif_rx"),
            ev(2, 1, "netif_rx"),
            ev(1, 2, "netif_receive_skb"),
            ev(2, 3, "netif_receive_skb"),
            ev(2, 4, "consume_skb"),
            drop_ev(1, 5),
            ev(3, 6, "netif_rx"),
        ] {
            d.event(&e).unwrap();
        }
        d.finish(&Counts::default()).unwrap();
        assert_eq!(
            *rec.0.borrow(),
            [
                (1, "netif_rx".to_string()),
                (1, "netif_receive_skb".into()),
                (1, "kfree_skb".into())
            ]
        );
        let h = d.held().unwrap();
        assert_eq!(
            (h.paths, h.not_dropped, h.evicted),
            (1, 4, 0),
            "skb 2's 3 events and skb 3's one, in flight at the end"
        );
        assert_eq!(d.printed(), Some(3));
    }

    #[test]
    fn caps_evict_and_count() {
        let (mut d, rec, _) = sink(Caps { skbs: 2, events: 4 }, None);
        // A long path: the first 2 and the latest 2 events are kept.
        for i in 0..10 {
            d.event(&ev(1, i, &format!("f{i}"))).unwrap();
        }
        d.event(&drop_ev(1, 10)).unwrap();
        let funcs: Vec<String> = rec.0.borrow().iter().map(|(_, f)| f.clone()).collect();
        assert_eq!(funcs, ["f0", "f1", "f9", "kfree_skb"]);
        assert_eq!(d.held().unwrap().evicted, 7);
        // Three packets at once with room for two: the least recently seen goes.
        d.event(&ev(5, 20, "netif_rx")).unwrap();
        d.event(&ev(6, 21, "netif_rx")).unwrap();
        d.event(&ev(7, 22, "netif_rx")).unwrap();
        let h = d.held().unwrap();
        assert_eq!(h.evicted, 7 + 1);
        // Every event is accounted for: printed + not dropped + evicted + still held.
        d.finish(&Counts::default()).unwrap();
        let h = d.held().unwrap();
        assert_eq!(4 + h.not_dropped + h.evicted, 11 + 3);
    }

    #[test]
    fn limit_counts_printed_events_and_stops_the_run() {
        let (mut d, rec, stop) = sink(CAPS, Some(2));
        for e in [ev(1, 0, "netif_rx"), ev(1, 1, "ip_rcv"), drop_ev(1, 2)] {
            d.event(&e).unwrap();
        }
        assert_eq!(rec.0.borrow().len(), 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), stop.stopped())
                .await
                .expect("the limit must stop the run");
        });
    }

    #[test]
    fn a_verdict_ends_the_path_and_an_xdp_drop_brings_its_skb() {
        let (mut d, rec, _) = sink(CAPS, None);
        let tuple = event::Tuple::new([10, 0, 0, 1], 1, [10, 0, 0, 2], 7003, 17);
        let k = |skb, at, f: &str| Event {
            func_kind: FuncKind::Kprobe,
            tuple: Some(tuple),
            ..ev(skb, at, f)
        };
        let exit = |skb, at, kind, v| Event {
            func_kind: kind,
            verdict: Some(v),
            ..k(skb, at, "prog")
        };
        let free = |skb, at, r: &str| Event {
            drop_reason: Some(DropReason {
                code: 2,
                name: Some(r.into()),
            }),
            ..k(skb, at, "kfree_skb_reason")
        };
        for e in [
            k(1, 0, "veth_xmit"),
            exit(1, 1, FuncKind::Tc, event::Verdict::tc(2)),
            free(1, 2, "TC_INGRESS"),
            k(2, 3, "veth_xmit"),
            exit(9, 4, FuncKind::Xdp, event::Verdict::xdp(1)),
            free(2, 5, "NOT_SPECIFIED"),
        ] {
            d.event(&e).unwrap();
        }
        assert_eq!(
            *rec.0.borrow(),
            [
                (1, "veth_xmit".to_string()),
                (1, "prog".into()),
                (9, "prog".into()),
                (2, "veth_xmit".into()),
                (2, "kfree_skb_reason".into()),
            ],
            "the tc path ends at its verdict; the XDP drop, then its skb's path"
        );
    }
}
