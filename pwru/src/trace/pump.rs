//! Ring buffer → decoder → (Cilium) enrichment → sinks, in batches, counting what was delivered.

use crate::decode::{Decoder, Lookups};
use crate::lookups::Symbols;
use crate::sink::Sink;
use anyhow::Result;

/// Most events taken per call, so signals, ticks and the TUI's quit are seen during a flood too.
const BATCH: usize = 4096;

/// How a drain ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Drained {
    /// The ring is empty.
    Empty,
    /// The batch is full; more may be waiting.
    More,
    /// `--output-limit-lines` was reached.
    Limit,
}

pub struct Pump {
    pub enrich: Option<cilium::Enricher>,
    pub limit: Option<u64>,
    /// Events read and handed to the sinks.
    pub delivered: u64,
}

impl Pump {
    /// Decodes up to a batch of ready records into `sinks`, then flushes them.
    pub fn drain<L: Lookups>(
        &mut self,
        ring: &mut probes::RingReader,
        dec: &mut Decoder<L>,
        sinks: &mut dyn Sink,
    ) -> Result<Drained> {
        let mut end = Drained::More;
        for _ in 0..BATCH {
            if self.limit.is_some_and(|l| self.delivered >= l) {
                end = Drained::Limit;
                break;
            }
            let Some(raw) = ring.next_event() else {
                end = Drained::Empty;
                break;
            };
            let mut ev = dec.decode_record(&raw);
            if let Some(e) = &mut self.enrich {
                e.enrich(&mut ev);
            }
            self.delivered += 1;
            sinks.event(&ev)?;
        }
        if end != Drained::Limit && self.limit.is_some_and(|l| self.delivered >= l) {
            end = Drained::Limit;
        }
        sinks.flush()?;
        Ok(end)
    }

    /// [`Pump::drain`] until the ring is empty ([`Drained::Empty`]) or the line limit is reached
    /// ([`Drained::Limit`]).
    pub fn drain_all<L: Lookups>(
        &mut self,
        ring: &mut probes::RingReader,
        dec: &mut Decoder<L>,
        sinks: &mut dyn Sink,
    ) -> Result<Drained> {
        loop {
            match self.drain(ring, dec, sinks)? {
                Drained::More => continue,
                end => return Ok(end),
            }
        }
    }
}

/// The decoder's lookups: symbol tables, and kernel stacks from the tracer's map.
pub struct WithStacks<'a> {
    pub syms: &'a Symbols,
    pub tracer: &'a probes::Tracer,
    /// The traced tc/XDP programs.
    pub progs: probes::progs::ProgTable,
}

impl Lookups for WithStacks<'_> {
    fn func_name(&self, ip: u64) -> Option<String> {
        self.syms.func_name(ip)
    }
    fn sym_offset(&self, ip: u64) -> Option<String> {
        self.syms.sym_offset(ip)
    }
    fn tracepoint_name(&self, id: u32) -> Option<String> {
        self.syms.tracepoint_name(id)
    }
    fn drop_reason_name(&self, code: u32) -> Option<String> {
        self.syms.drop_reason_name(code)
    }
    fn stack(&self, id: i32) -> Vec<u64> {
        self.tracer.stack(id)
    }
    fn btf_values(&self, xdp: bool) -> Option<&btf_expr::Fetch> {
        self.syms.btf_values(xdp)
    }
    fn bpf_prog_name(&self, id: u32) -> Option<String> {
        self.progs.get(id).map(|p| p.name)
    }
    fn bpf_prog_at(&self, addr: u64) -> Option<String> {
        self.progs.containing(addr).map(|p| p.name)
    }
}
