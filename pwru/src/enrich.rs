//! Extra context beside the trace: Cilium's view of each flow (`--cilium`), as event annotations.

use anyhow::Result;
use event::Event;

pub struct CiliumEnricher {
    corr: cilium::Correlator,
    last: Option<cilium::MetricsSnapshot>,
}

impl CiliumEnricher {
    /// `bpffs`: the bpf filesystem root to read Cilium's pinned maps from (None: found automatically).
    pub fn open(bpffs: Option<&std::path::Path>) -> Result<Self> {
        let corr = cilium::Correlator::open(bpffs, None)?;
        let last = corr.metrics_snapshot().ok();
        Ok(Self { corr, last })
    }

    pub fn enrich(&mut self, ev: &mut Event) {
        if let Some(t) = &ev.tuple
            && let Some(a) = self.corr.annotate(&cilium::FlowKey::from(t), ev.mark)
        {
            ev.annotations.push(a);
        }
        // A drop: Cilium's own reason shows as the counter that moved in cilium_metrics since the last one.
        if ev.drop_reason.is_some()
            && let Ok(now) = self.corr.metrics_snapshot()
        {
            if let Some(before) = &self.last
                && let Some(a) =
                    cilium::DropDelta::annotation(&cilium::drop_reason_from_metrics(before, &now))
            {
                ev.annotations.push(a);
            }
            self.last = Some(now);
        }
    }
}
