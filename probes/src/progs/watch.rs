//! The traced programs' state: the first pass over every loaded program (in parallel, at attach), then a thread
//! that polls for programs loaded, replaced or released while tracing and reports each change as a
//! [`ProgEvent`].
use super::attach::{self, Outcome, Pair, Traced};
use super::refs::{self, ITER_REFS, Refs};
use super::{
    Hook, ProgEvent, ProgTable, ProgsReport, Skipped, TailCalls, helpers, inventory, tailcall,
};
use crate::backend::kprobe;
use crate::config::{MapFuncTarget, MapOpKind, ProgTracing};
use crate::error::ProbeError;
use crate::event::ProgRef;
use crate::kernel_btf::KernelTypes;
use crate::parallel;
use crate::tracer::Ignored;
use aya_obj::generated::bpf_insn;
use bpf_sys::map::Map;
use bpf_sys::obj::{self, Kind};
use bpf_sys::perf::KprobePmu;
use bpf_sys::uapi::bpf_map_type;
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use symbols::Kallsyms;

/// The linked instructions the watcher loads: fentry/fexit for each hook, and the iterator.
pub(crate) struct Code {
    pub tc: Pair,
    pub xdp: Pair,
    pub refs: Vec<bpf_insn>,
}

/// The `--output-bpfmap` programs (bpf/bpfprog.c): a kprobe per operation and the lookup's two kretprobes.
pub(crate) struct MapProgs {
    pub lookup: OwnedFd,
    pub update: OwnedFd,
    pub delete: OwnedFd,
    /// Return of a lookup that returns the value.
    pub lookup_ret: OwnedFd,
    /// Return of [`MapFuncTarget::returns_elem`] lookups.
    pub lookup_elem_ret: OwnedFd,
    /// The kernel's map operation functions, by name.
    pub funcs: HashMap<String, MapFuncTarget>,
}

impl MapProgs {
    /// The probes for map function `name` (none when it is no map operation).
    fn jobs<'a>(&'a self, name: &str, symbol: &CString, out: &mut Vec<kprobe::Job<'a>>) {
        let Some(f) = self.funcs.get(name) else {
            return;
        };
        let entry = match f.op {
            MapOpKind::Lookup => &self.lookup,
            MapOpKind::Update => &self.update,
            MapOpKind::Delete => &self.delete,
        };
        let mut job = |prog: &'a OwnedFd, retprobe: bool| {
            out.push(kprobe::Job {
                site: kprobe::Site::Symbol(symbol.clone()),
                fallback: None,
                display: name.to_string(),
                prog: prog.as_fd(),
                retprobe,
                cookie: None,
            })
        };
        job(entry, false);
        if f.op == MapOpKind::Lookup {
            job(
                match f.returns_elem {
                    true => &self.lookup_elem_ret,
                    false => &self.lookup_ret,
                },
                true,
            );
        }
    }
}

/// kprobes on the functions the traced programs call: `kprobe_bpf_helper` on each (`helper`), and the map
/// operation programs on the map functions among them (`maps`).
struct Helpers {
    pmu: KprobePmu,
    helper: Option<OwnedFd>,
    maps: Option<MapProgs>,
    ksyms: Kallsyms,
    call_base: u64,
    probes: Vec<OwnedFd>,
    /// Probed or refused.
    seen: HashSet<String>,
}

impl Helpers {
    /// kprobes on those of `names` not probed yet: (added, ignored).
    fn add(&mut self, names: &[String]) -> Result<(Vec<String>, Vec<Ignored>), ProbeError> {
        let new: Vec<&String> = names
            .iter()
            .filter(|n| self.seen.insert((*n).clone()))
            .collect();
        let mut jobs = Vec::new();
        for n in &new {
            let Ok(symbol) = CString::new(n.as_str()) else {
                continue;
            };
            if let Some(maps) = &self.maps {
                maps.jobs(n, &symbol, &mut jobs);
            }
            if let Some(prog) = &self.helper {
                jobs.push(kprobe::Job {
                    site: kprobe::Site::Symbol(symbol),
                    fallback: None,
                    display: n.to_string(),
                    prog: prog.as_fd(),
                    retprobe: false,
                    cookie: None,
                });
            }
        }
        if jobs.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let threads = parallel::threads_for(jobs.len(), None);
        let never = AtomicBool::new(false);
        let (fds, ignored) = match kprobe::attach(&self.pmu, &jobs, threads, &|_, _, _| {}, &never)
        {
            Ok(r) => (r.fds, r.ignored),
            Err(ProbeError::NothingAttached { .. }) => (
                Vec::new(),
                jobs.iter()
                    .map(|j| Ignored {
                        name: j.display.clone(),
                        reason: "refused".into(),
                    })
                    .collect(),
            ),
            Err(e) => return Err(e),
        };
        self.probes.extend(fds);
        let added = new
            .into_iter()
            .filter(|n| jobs.iter().any(|j| &j.display == *n))
            .filter(|n| !ignored.iter().any(|i| &i.name == *n))
            .cloned()
            .collect();
        let mut ignored = ignored;
        ignored.dedup_by(|a, b| a.name == b.name);
        Ok((added, ignored))
    }
}

struct State {
    want: ProgTracing,
    code: Code,
    refs: Option<Refs>,
    traced: HashMap<u32, Traced>,
    /// Programs left untraced (not retried).
    skipped: HashSet<u32>,
    table: ProgTable,
    helpers: Option<Helpers>,
}

/// A program seen in one pass, before it is traced.
enum Seen {
    Traced(Traced, Vec<String>),
    Skipped(Skipped),
    Gone,
}

impl State {
    fn wanted(&self, r: &ProgRef) -> bool {
        match Hook::of(r.prog_type) {
            Some(Hook::Tc) => self.want.tc,
            Some(Hook::Xdp) => self.want.xdp,
            None => false,
        }
    }

    /// Every program now: from the iterator (with reference counts), else by id (counts unknown, -1).
    fn list(&self) -> Result<Vec<ProgRef>, ProbeError> {
        if let Some(r) = &self.refs
            && let Ok(list) = r.read()
        {
            return Ok(list);
        }
        refs::by_id().map_err(|e| ProbeError::sys("listing BPF programs", e))
    }

    /// Describes and traces program `id` (and reads what it calls, for the helper kprobes).
    fn see(&self, id: u32) -> Result<Seen, ProbeError> {
        let d = match inventory::describe(id) {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(Seen::Gone),
            Err(e) if e.is_permission() => return Err(ProbeError::sys("reading BPF programs", e)),
            Err(_) => return Ok(Seen::Gone),
        };
        if d.prog.name.starts_with(tailcall::NAME_PREFIX) {
            return Ok(Seen::Gone);
        }
        let calls = match &self.helpers {
            Some(h) => helpers::called(d.fd.as_fd(), &h.ksyms, h.call_base).unwrap_or_default(),
            None => Vec::new(),
        };
        let pair = match d.prog.hook {
            Hook::Tc => &self.code.tc,
            Hook::Xdp => &self.code.xdp,
        };
        let outcome = if super::HOLD_ONLY.load(Ordering::Relaxed) {
            attach::hold(d)
        } else {
            attach::trace(pair, d)?
        };
        Ok(match outcome {
            Outcome::Traced(t) => Seen::Traced(t, calls),
            Outcome::Skipped(s) => Seen::Skipped(s),
        })
    }

    fn keep(&mut self, seen: Seen, calls: &mut Vec<String>) -> Option<ProgEvent> {
        match seen {
            Seen::Traced(t, c) => {
                calls.extend(c);
                self.table.insert(t.prog.clone());
                let ev = ProgEvent::Traced(t.prog.clone());
                self.traced.insert(t.prog.id, t);
                Some(ev)
            }
            Seen::Skipped(s) => {
                self.table.insert(s.prog.clone());
                self.skipped.insert(s.prog.id);
                Some(ProgEvent::Skipped(s))
            }
            Seen::Gone => None,
        }
    }

    /// One poll: programs released since the last (only our references left), then new ones.
    fn poll(&mut self, out: &Sender<ProgEvent>) -> Result<(), ProbeError> {
        let Ok(list) = self.list() else {
            return Ok(()); // retried at the next poll
        };
        let counts: HashMap<u32, i64> = list.iter().map(|r| (r.id, r.refcnt)).collect();
        if counts.values().all(|&n| n >= 0) {
            let released: Vec<u32> = self
                .traced
                .keys()
                .copied()
                .filter(|id| {
                    counts
                        .get(id)
                        .is_none_or(|&n| n <= Traced::REFS + ITER_REFS)
                })
                .collect();
            for id in released {
                if let Some(t) = self.traced.remove(&id) {
                    let prog = t.prog.clone();
                    drop(t);
                    let _ = out.send(ProgEvent::Released(prog));
                }
            }
        }
        let present: HashSet<u32> = list.iter().map(|r| r.id).collect();
        self.skipped.retain(|id| present.contains(id));
        let new: Vec<u32> = list
            .iter()
            .filter(|r| {
                self.wanted(r) && !self.traced.contains_key(&r.id) && !self.skipped.contains(&r.id)
            })
            .map(|r| r.id)
            .collect();
        let mut calls = Vec::new();
        for id in new {
            let seen = self.see(id)?;
            if let Some(ev) = self.keep(seen, &mut calls) {
                let _ = out.send(ev);
            }
        }
        if let Some(h) = &mut self.helpers {
            let (added, ignored) = h.add(&calls)?;
            if !added.is_empty() || !ignored.is_empty() {
                let _ = out.send(ProgEvent::Helpers { added, ignored });
            }
        }
        Ok(())
    }
}

/// Programs in any `prog_array` now: the tail-call targets.
fn tail_call_targets() -> HashSet<u32> {
    let mut out = HashSet::new();
    for id in obj::ids(Kind::Map).unwrap_or_default() {
        let Ok(m) = Map::from_id(id) else { continue };
        if m.info().map_type != bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY as u32 {
            continue;
        }
        for k in 0..m.info().max_entries {
            if let Ok(Some(v)) = m.get(&k.to_ne_bytes())
                && let Some(b) = v.get(..4)
            {
                out.insert(u32::from_ne_bytes(b.try_into().unwrap_or_default()));
            }
        }
    }
    out
}

/// The traced programs, and the thread that keeps them current.
pub(crate) struct Watch {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    /// Shared with the thread, which locks it for each poll; `None` after [`Watch::stop`].
    state: Arc<Mutex<Option<State>>>,
    events: Receiver<ProgEvent>,
    table: ProgTable,
}

impl Watch {
    /// Tests tail calls, traces every loaded program of the wanted types and, with `want.poll`, starts the
    /// polling thread. `helper_prog` is the loaded `kprobe_bpf_helper` (with `want.helpers`), `maps` the map
    /// operation programs (with `want.map_funcs`).
    pub(crate) fn start(
        want: ProgTracing,
        code: Code,
        btf: &KernelTypes,
        helper_prog: Option<OwnedFd>,
        maps: Option<MapProgs>,
    ) -> Result<(Watch, ProgsReport), ProbeError> {
        let t0 = Instant::now();
        let (tail_calls, refused) = if super::HOLD_ONLY.load(Ordering::Relaxed) {
            (
                TailCalls::Unknown("not tested: programs held, not traced".into()),
                None,
            )
        } else {
            match tailcall::test() {
                tailcall::Found::Answer(a) => (a, None),
                tailcall::Found::Refused(why) => (TailCalls::Unknown(why.clone()), Some(why)),
            }
        };
        let refs = Refs::new(&code.refs, btf);
        let release = refs.as_ref().map(drop).map_err(Clone::clone);
        let mut helpers_unavailable = None;
        let helpers = match (helper_prog.is_some() || maps.is_some()).then_some(()) {
            Some(()) => match (KprobePmu::open(), Kallsyms::load()) {
                (Ok(pmu), Ok(ksyms)) => {
                    let call_base = ksyms.address("__bpf_call_base").unwrap_or(0);
                    Some(Helpers {
                        pmu,
                        helper: helper_prog,
                        maps,
                        ksyms,
                        call_base,
                        probes: Vec::new(),
                        seen: HashSet::new(),
                    })
                }
                (Err(_), _) => {
                    helpers_unavailable =
                        Some("no kprobes on this kernel (CONFIG_KPROBES not set)".into());
                    None
                }
                (_, Err(e)) => {
                    helpers_unavailable = Some(format!("reading /proc/kallsyms: {e}"));
                    None
                }
            },
            None => None,
        };
        let table = ProgTable::default();
        let mut state = State {
            want: want.clone(),
            code,
            refs: refs.ok(),
            traced: HashMap::new(),
            skipped: HashSet::new(),
            table: table.clone(),
            helpers,
        };
        let mut report = ProgsReport {
            traced: 0,
            skipped: Vec::new(),
            refused,
            tail_calls,
            tail_targets: 0,
            helpers: Vec::new(),
            helpers_ignored: Vec::new(),
            helpers_unavailable,
            release,
            elapsed: Default::default(),
        };
        // A kernel that refuses fentry on our own test program refuses it on every other.
        let list = if report.refused.is_some() {
            Vec::new()
        } else {
            state.list()?
        };
        let ids: Vec<u32> = list
            .iter()
            .filter(|r| state.wanted(r))
            .map(|r| r.id)
            .collect();
        let never = AtomicBool::new(false);
        let seen = parallel::try_map(
            &ids,
            parallel::threads_for(ids.len(), None),
            &never,
            |_, &id| state.see(id),
        );
        let mut calls = Vec::new();
        match seen {
            Ok(seen) => {
                for s in seen {
                    if let Some(ProgEvent::Skipped(s)) = state.keep(s, &mut calls) {
                        report.skipped.push(s);
                    }
                }
            }
            Err(ProbeError::Permission { what }) => {
                report.refused = Some(format!("{what} on a BPF program: permission denied"));
            }
            Err(e) => return Err(e),
        }
        report.traced = state.traced.len();
        if report.refused.is_none()
            && let Some(h) = &mut state.helpers
        {
            let (added, ignored) = h.add(&calls)?;
            report.helpers = added;
            report.helpers_ignored = ignored;
        }
        let targets = tail_call_targets();
        report.tail_targets = state
            .traced
            .keys()
            .filter(|id| targets.contains(id))
            .count();
        report.elapsed = t0.elapsed();

        let (tx, events) = channel();
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let state = Arc::new(Mutex::new(Some(state)));
        let mut thread = None;
        if let Some(every) = want.poll.filter(|_| report.refused.is_none()) {
            let (stop, state) = (stop.clone(), state.clone());
            let t = std::thread::Builder::new()
                .name("pwru-progs".into())
                .spawn(move || {
                    let (lock, cv) = &*stop;
                    loop {
                        let g = lock.lock().unwrap_or_else(|p| p.into_inner());
                        let (g, _) = cv
                            .wait_timeout_while(g, every, |stopped| !*stopped)
                            .unwrap_or_else(|p| p.into_inner());
                        if *g {
                            break;
                        }
                        drop(g);
                        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                        let Some(st) = st.as_mut() else { break };
                        if let Err(e) = st.poll(&tx) {
                            log::warn!("watching BPF programs stopped: {e}");
                            break;
                        }
                    }
                })
                .map_err(|source| ProbeError::Io {
                    what: "starting the BPF program watcher",
                    source,
                })?;
            thread = Some(t);
        }
        Ok((
            Watch {
                stop,
                thread,
                state,
                events,
                table,
            },
            report,
        ))
    }

    /// The programs seen so far.
    pub(crate) fn table(&self) -> &ProgTable {
        &self.table
    }

    /// Changes since the last call.
    pub(crate) fn events(&self) -> Vec<ProgEvent> {
        self.events.try_iter().collect()
    }

    /// Kernel ids of our links and their programs (leak checks).
    pub(crate) fn link_ids(&self) -> Vec<(u32, u32)> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.iter()
            .flat_map(|s| s.traced.values().flat_map(|t| t.ids()))
            .collect()
    }

    /// Stops the thread and closes every link and kprobe.
    pub(crate) fn stop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.state.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop();
    }
}
