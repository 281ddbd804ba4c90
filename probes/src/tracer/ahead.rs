//! [`Loading`]: the load started before the targets are known. Where one program serves every target (told apart
//! by its BPF cookie) nothing the kernel verifies depends on which functions or tracepoints they are, so the
//! programs can be verified on a thread of their own while the caller still searches BTF for its targets, instead
//! of after it.
use super::Tracer;
use super::load::check_targets;
use crate::config::{Backend, Config, Target, TracepointTarget};
use crate::error::ProbeError;
use crate::kernel_btf::KernelBtf;
use crate::support::has_cookies;
use aya_obj::generated::{bpf_attach_type, bpf_prog_type};
use std::thread::JoinHandle;

/// A load in progress: only the kernel's BTF being parsed ([`Loading::new`]), or the programs too
/// ([`Loading::start`]). [`Loading::finish`] gives the [`Tracer`].
pub struct Loading {
    state: Option<State>,
}

enum State {
    Later(KernelBtf),
    /// Loading `cfg` (without its targets) on its own thread.
    Ahead {
        cfg: Box<Config>,
        load: JoinHandle<Result<Tracer, ProbeError>>,
    },
}

impl Default for Loading {
    fn default() -> Self {
        Self::new()
    }
}

impl Loading {
    /// Starts parsing the kernel's BTF (the loader's CO-RE needs it).
    pub fn new() -> Loading {
        Loading {
            state: Some(State::Later(KernelBtf::read_in_background())),
        }
    }

    /// Starts loading the programs of `cfg` now, if they do not depend on its targets, which `cfg` need not hold
    /// yet: everything else in it must be what [`Loading::finish`] will be given. Does nothing where one program
    /// per target (or a map sized by them) is needed, or when already started.
    pub fn start(&mut self, mut cfg: Config) {
        let btf = match self.state.take() {
            Some(State::Later(btf)) if loads_before_targets(&cfg) => btf,
            other => {
                self.state = other;
                return;
            }
        };
        without_targets(&mut cfg);
        let early = cfg.clone();
        let load = std::thread::Builder::new()
            .name("pwru-load".into())
            .spawn(move || Tracer::load_programs(early, btf, true));
        self.state = Some(match load {
            Ok(load) => State::Ahead {
                cfg: Box::new(cfg),
                load,
            },
            // No thread to spare: load after the targets, from a fresh parse.
            Err(_) => State::Later(KernelBtf::read_in_background()),
        });
    }

    /// Whether the programs are being loaded already.
    pub fn started(&self) -> bool {
        matches!(self.state, Some(State::Ahead { .. }))
    }

    /// The tracer for `cfg`, loaded (not attached). A load started for another configuration is thrown away and
    /// done again for this one.
    pub fn finish(mut self, mut cfg: Config) -> Result<Tracer, ProbeError> {
        match self.state.take().expect("a Loading always holds a state") {
            State::Later(btf) => Tracer::load_with(cfg, btf),
            State::Ahead { cfg: early, load } => {
                let loaded = match load.join() {
                    Ok(loaded) => loaded,
                    Err(panic) => std::panic::resume_unwind(panic),
                };
                let targets = without_targets(&mut cfg);
                let same = cfg == *early;
                (cfg.kprobes, cfg.tracepoints) = targets;
                if !same {
                    drop(loaded);
                    return Tracer::load_with(cfg, KernelBtf::read_in_background());
                }
                check_targets(&cfg)?;
                let mut tracer = loaded?;
                tracer.cfg = cfg;
                tracer.map_ring()?;
                Ok(tracer)
            }
        }
    }
}

/// One program for all targets, by cookie, and no map sized or filled per target (the summary's tables, the
/// functions without an skb, the map operations).
fn loads_before_targets(cfg: &Config) -> bool {
    let one_program = match cfg.backend {
        Backend::KprobeMulti => has_cookies(
            bpf_prog_type::BPF_PROG_TYPE_KPROBE,
            Some(bpf_attach_type::BPF_TRACE_KPROBE_MULTI),
        ),
        Backend::Tracepoint => has_cookies(bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT, None),
        // FUNC_IPS holds each function's address.
        Backend::Kprobe => false,
    };
    one_program
        && cfg.summary.is_none()
        && cfg.stack_track.non_skb.is_empty()
        && cfg.progs.map_funcs.is_empty()
}

/// Takes the targets out of `cfg`.
fn without_targets(cfg: &mut Config) -> (Vec<Target>, Vec<TracepointTarget>) {
    (
        std::mem::take(&mut cfg.kprobes),
        std::mem::take(&mut cfg.tracepoints),
    )
}
