//! `cargo bench -p symbols`: times BTF loading, skb function/tracepoint discovery, drop reasons and kallsyms on
//! the running kernel, and prints a table (median and min of several runs).

use std::hint::black_box;
use std::time::{Duration, Instant};

use symbols::{Btf, DropReasons, Kallsyms, ModuleSel, Traceable};

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = black_box(f());
        times.push(t0.elapsed());
        last = Some(out);
    }
    times.sort();
    (times[runs / 2], times[0], last.expect("runs > 0"))
}

fn row(what: &str, (median, min): (Duration, Duration), note: &str) {
    println!(
        "| {what:<46} | {:>10.2} | {:>10.2} | {note}",
        ms(median),
        ms(min)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a run count.
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    println!(
        "symbols benchmark, kernel {}, {runs} runs each",
        kernel_release()
    );
    println!(
        "| {:<46} | {:>10} | {:>10} | result",
        "step", "median ms", "min ms"
    );
    println!("|{:-<48}|{:-<12}|{:-<12}|--------", "", "", "");

    let (md, mn, btf) = time(runs, || {
        Btf::load(None, &ModuleSel::None).expect("load vmlinux BTF")
    });
    row(
        "Btf::load(vmlinux)",
        (md, mn),
        &format!(
            "{} types, {} KiB",
            btf.type_count(),
            btf.base_bytes().len() / 1024
        ),
    );

    let (md, mn, funcs) = time(runs, || symbols::skb_functions_in_btf(&btf, None));
    row(
        "skb functions in BTF",
        (md, mn),
        &format!("{} functions", funcs.len()),
    );

    let (md, mn, tr) = time(runs, || Traceable::detect().expect("traceable list"));
    row(
        "probe-able list",
        (md, mn),
        &format!("{} names from {}", tr.len(), tr.source),
    );

    let (md, mn, disc) = time(runs, || {
        symbols::skb_functions(&btf, None).expect("discovery")
    });
    row(
        "skb_functions (BTF scan + probe-able)",
        (md, mn),
        &format!(
            "{} probe-able, {} not",
            disc.funcs.len(),
            disc.not_traceable
        ),
    );

    let (md, mn, all) = time(runs, || {
        let btf = Btf::load(None, &ModuleSel::None).expect("load");
        symbols::skb_functions(&btf, None)
            .expect("discovery")
            .funcs
            .len()
    });
    row(
        "load + skb_functions (end to end)",
        (md, mn),
        &format!("{all} functions"),
    );

    let ks0 = Kallsyms::load().expect("kallsyms");
    let (md, mn, n) = time(runs, || {
        symbols::skb_functions_kallsyms(&btf, None, &ks0)
            .expect("discovery")
            .funcs
            .len()
    });
    row(
        "skb_functions_kallsyms (table already loaded)",
        (md, mn),
        &format!("{n} probe-able"),
    );

    let filter = symbols::FuncFilter::new("ip_.*").expect("regex");
    let (md, mn, n) = time(runs, || {
        symbols::skb_functions_in_btf(&btf, Some(&filter)).len()
    });
    row(
        "skb functions in BTF, --filter-func 'ip_.*'",
        (md, mn),
        &format!("{n} functions"),
    );

    let (md, mn, tps) = time(runs, || symbols::skb_tracepoints(&btf));
    row(
        "skb_tracepoints (with tracefs systems)",
        (md, mn),
        &format!("{} tracepoints", tps.len()),
    );

    let (md, mn, reasons) = time(runs, || DropReasons::from_btf(&btf));
    row(
        "DropReasons::from_btf",
        (md, mn),
        &format!("{} reasons", reasons.len()),
    );

    let (md, mn, ks) = time(runs, || Kallsyms::load().expect("kallsyms"));
    row(
        "Kallsyms::load",
        (md, mn),
        &format!("{} text symbols", ks.len()),
    );

    let (md, mn, _) = time(runs, || {
        let k = Kallsyms::load().expect("kallsyms");
        k.address("ip_rcv")
    });
    row("Kallsyms::load + first address() (index)", (md, mn), "");

    let addrs: Vec<u64> = funcs.iter().filter_map(|f| ks.address(&f.name)).collect();
    const LOOKUPS: usize = 1_000_000;
    let (md, mn, hits) = time(runs.min(5), || {
        let mut hits = 0usize;
        for i in 0..LOOKUPS {
            let a = addrs[i % addrs.len()] + (i as u64 % 64);
            hits += ks.resolve(black_box(a)).is_some() as usize;
        }
        hits
    });
    row(
        &format!("resolve() x {LOOKUPS}"),
        (md, mn),
        &format!("{:.0} ns each, {hits} hits", ms(md) * 1e6 / LOOKUPS as f64),
    );

    let names: Vec<&str> = funcs.iter().map(|f| f.name.as_str()).collect();
    let (md, mn, hits) = time(runs.min(5), || {
        names.iter().filter(|n| ks.address(n).is_some()).count()
    });
    row(
        &format!("address() x {}", names.len()),
        (md, mn),
        &format!("{hits} found"),
    );
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
