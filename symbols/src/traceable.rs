//! Which kernel functions can really be probed: ftrace's `available_filter_functions` when readable, else the
//! text symbols of `/proc/kallsyms`.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

use crate::error::{Result, SymbolsError};
use crate::kallsyms::Kallsyms;
use crate::read::{MAX_SYMBOL_LIST_BYTES, read_text_capped};

/// Where ftrace lists the functions kprobes can attach to (tracefs, then its old debugfs place).
pub const AVAILABLE_FILTER_FUNCTIONS: [&str; 2] = [
    "/sys/kernel/tracing/available_filter_functions",
    "/sys/kernel/debug/tracing/available_filter_functions",
];
pub const KALLSYMS: &str = "/proc/kallsyms";
pub const KPROBE_BLACKLIST: [&str; 1] = ["/sys/kernel/debug/kprobes/blacklist"];

/// vmlinux text that kprobes refuse or that is gone after boot, as (start, end) marker symbols: init text,
/// and what the kernel's kprobe blacklist covers by section (entry code, noinstr, `__kprobes`).
const REFUSED_TEXT: [(&str, &str); 6] = [
    ("_sinittext", "_einittext"),
    ("__entry_text_start", "__entry_text_end"),
    ("__irqentry_text_start", "__irqentry_text_end"),
    ("__softirqentry_text_start", "__softirqentry_text_end"),
    ("__noinstr_text_start", "__noinstr_text_end"),
    ("__kprobes_text_start", "__kprobes_text_end"),
];

/// Tracing plumbing generated for every tracepoint (`notrace`, so never in available_filter_functions); probing
/// it only traces the tracer. Left out of the kallsyms fallback.
const TRACING_PLUMBING: [&str; 6] = [
    "__bpf_trace_",
    "__traceiter_",
    "__probestub_",
    "perf_trace_",
    "trace_event_raw_event_",
    "trace_raw_output_",
];

/// Where the list of probe-able functions came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceSource {
    /// ftrace's `available_filter_functions`.
    AvailableFilterFunctions(PathBuf),
    /// `/proc/kallsyms` text symbols, when ftrace is unreadable (a superset: includes notrace functions).
    Kallsyms(PathBuf),
}

impl std::fmt::Display for TraceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceSource::AvailableFilterFunctions(p) | TraceSource::Kallsyms(p) => {
                write!(f, "{}", p.display())
            }
        }
    }
}

/// Probe-able (function, module) pairs. Only membership is ever asked, so each pair is kept as a 64-bit hash:
/// ~120k pairs load in a few ms instead of allocating a string each (a false hit needs a 64-bit collision).
#[derive(Debug)]
pub struct Traceable {
    keys: HashSet<u64, BuildHasherDefault<IdentityHasher>>,
    modules: HashSet<String>,
    /// Which list this is.
    pub source: TraceSource,
    /// Things the user should know, e.g. that ftrace was unreadable or kallsyms addresses are hidden.
    pub warnings: Vec<String>,
}

impl Traceable {
    /// Reads the first readable available_filter_functions, else /proc/kallsyms; then drops what the kprobe
    /// blacklist (debugfs, when readable) forbids.
    pub fn detect() -> Result<Traceable> {
        Traceable::detect_with(None)
    }

    /// Like [`Traceable::detect`], taking the kallsyms fallback from an already loaded table (saves reading
    /// /proc/kallsyms twice, ~50 ms).
    pub fn detect_with(kallsyms: Option<&Kallsyms>) -> Result<Traceable> {
        let mut t = Traceable::detect_list(kallsyms)?;
        for path in KPROBE_BLACKLIST {
            if let Ok(text) = read_text_capped(Path::new(path), MAX_SYMBOL_LIST_BYTES) {
                t.remove_kprobe_blacklist(&text);
                break;
            }
        }
        Ok(t)
    }

    fn detect_list(kallsyms: Option<&Kallsyms>) -> Result<Traceable> {
        let mut why = Vec::new();
        for path in AVAILABLE_FILTER_FUNCTIONS {
            match read_text_capped(Path::new(path), MAX_SYMBOL_LIST_BYTES) {
                // Empty when ftrace is compiled in but has no functions to offer: useless as a list.
                Ok(text) if text.trim().is_empty() => why.push(format!("{path}: empty")),
                Ok(text) => {
                    return Ok(Traceable::from_available_filter_functions(
                        &text,
                        Path::new(path),
                    ));
                }
                Err(e) => why.push(e.to_string()),
            }
        }
        let mut t = match kallsyms {
            Some(k) => Traceable::from_kallsyms_table(k, Path::new(KALLSYMS)),
            None => {
                let text = read_text_capped(Path::new(KALLSYMS), MAX_SYMBOL_LIST_BYTES)
                    .map_err(|_| SymbolsError::NoTraceableList)?;
                Traceable::from_kallsyms(&text, Path::new(KALLSYMS))
            }
        };
        t.warnings.insert(
            0,
            format!(
                "available_filter_functions is unreadable ({}); using {KALLSYMS}, which may list functions that cannot be probed",
                why.join("; ")
            ),
        );
        Ok(t)
    }

    /// Lines `name` or `name [module]` (newer kernels may add an address column first).
    pub fn from_available_filter_functions(text: &str, path: &Path) -> Traceable {
        let mut t = Traceable::empty(TraceSource::AvailableFilterFunctions(path.to_path_buf()));
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let Some(mut name) = it.next() else { continue };
            let mut rest = it.next();
            if name.starts_with("ffff") && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                let Some(n) = rest else { continue };
                name = n;
                rest = it.next();
            }
            t.add(name, rest.and_then(module_of));
        }
        t
    }

    /// `/proc/kallsyms` text symbols (types t/T/w/W), less what kprobes can never use: init text (freed after
    /// boot), the text sections kprobes refuse (entry, noinstr, kprobes ...) and tracing plumbing.
    pub fn from_kallsyms(text: &str, path: &Path) -> Traceable {
        let mut syms = Vec::with_capacity(text.len() / 40);
        let mut all_zero = true;
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(addr), Some(ty), Some(name)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            if !matches!(ty, "t" | "T" | "w" | "W") {
                continue;
            }
            all_zero &= addr.bytes().all(|b| b == b'0');
            let addr = u64::from_str_radix(addr, 16).unwrap_or(0);
            syms.push((addr, name, it.next().and_then(module_of)));
        }
        let hidden = !syms.is_empty() && all_zero;
        Traceable::from_symbols(syms, hidden, path)
    }

    /// The kallsyms fallback from a parsed table: same rules as [`Traceable::from_kallsyms`].
    pub fn from_kallsyms_table(k: &Kallsyms, path: &Path) -> Traceable {
        Traceable::from_symbols(k.iter().collect(), k.addresses_hidden(), path)
    }

    fn from_symbols(syms: Vec<(u64, &str, Option<&str>)>, hidden: bool, path: &Path) -> Traceable {
        let mut t = Traceable::empty(TraceSource::Kallsyms(path.to_path_buf()));
        // One pass for the markers: a lookup per marker would walk 100k+ symbols a dozen times.
        let mut bounds = [(None, None); REFUSED_TEXT.len()];
        for (addr, name, module) in &syms {
            if module.is_some() || !name.starts_with('_') {
                continue;
            }
            for (i, (start, end)) in REFUSED_TEXT.iter().enumerate() {
                if name == start {
                    bounds[i].0.get_or_insert(*addr);
                } else if name == end {
                    bounds[i].1.get_or_insert(*addr);
                }
            }
        }
        let refused: Vec<std::ops::Range<u64>> = bounds
            .iter()
            .filter_map(|b| match *b {
                (Some(s), Some(e)) if s < e && !hidden => Some(s..e),
                _ => None,
            })
            .collect();
        for (addr, name, module) in syms.iter().copied() {
            let in_refused = module.is_none() && refused.iter().any(|r| r.contains(&addr));
            if !in_refused && !TRACING_PLUMBING.iter().any(|p| name.starts_with(p)) {
                t.add(name, module);
            }
        }
        if hidden {
            t.warnings.push(hidden_warning(path));
        }
        t
    }

    /// Removes the functions of a kprobe blacklist (`0xstart-0xend\tname [mod]` lines): kprobes refuse them.
    pub fn remove_kprobe_blacklist(&mut self, text: &str) -> usize {
        let mut removed = 0;
        for line in text.lines() {
            let mut it = line.split_whitespace().skip(1);
            let Some(name) = it.next() else { continue };
            removed += self.keys.remove(&key(name, it.next().and_then(module_of))) as usize;
        }
        removed
    }

    fn empty(source: TraceSource) -> Traceable {
        Traceable {
            keys: HashSet::default(),
            modules: HashSet::new(),
            source,
            warnings: Vec::new(),
        }
    }

    fn add(&mut self, name: &str, module: Option<&str>) {
        self.keys.insert(key(name, module));
        if let Some(m) = module
            && !self.modules.contains(m)
        {
            self.modules.insert(m.to_string());
        }
    }

    /// Whether `name` in `module` (`None` = vmlinux) can be probed.
    pub fn contains(&self, name: &str, module: Option<&str>) -> bool {
        self.keys.contains(&key(name, module))
    }

    /// Number of distinct (name, module) pairs.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Module names that appear in the list.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.iter().map(String::as_str)
    }
}

/// FNV-1a over `name`, then a separator and the module name.
pub(crate) fn key(name: &str, module: Option<&str>) -> u64 {
    let mut h = Fnv::default();
    h.write(name.as_bytes());
    if let Some(m) = module {
        h.write(&[0]);
        h.write(m.as_bytes());
    }
    h.finish()
}

pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Keys are already hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn hidden_warning(path: &Path) -> String {
    format!(
        "{} shows zero addresses (not root, or kernel.kptr_restrict): names are usable, addresses are not",
        path.display()
    )
}

fn module_of(tok: &str) -> Option<&str> {
    tok.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
}
