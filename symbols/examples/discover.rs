//! `cargo run -p symbols --example discover -- [--kmods a,b|--all-kmods] [--filter-func RE] [--kernel-btf FILE]`:
//! prints what pwru would trace on this machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut kmods, mut filter, mut kernel_btf) = (symbols::ModuleSel::None, None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--kmods" => {
                kmods = symbols::ModuleSel::Some(
                    args.next()
                        .unwrap_or_default()
                        .split(',')
                        .map(String::from)
                        .collect(),
                )
            }
            "--all-kmods" => kmods = symbols::ModuleSel::All,
            "--filter-func" => {
                filter = Some(symbols::FuncFilter::new(&args.next().unwrap_or_default())?)
            }
            "--kernel-btf" => kernel_btf = args.next().map(std::path::PathBuf::from),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let btf = symbols::Btf::load(kernel_btf.as_deref(), &kmods)?;
    let d = symbols::skb_functions(&btf, filter.as_ref())?;
    for w in &d.warnings {
        eprintln!("warning: {w}");
    }
    for f in &d.funcs {
        let reason = f
            .reason_arg
            .map(|r| format!(" reason_arg={r}"))
            .unwrap_or_default();
        println!("func {} skb_arg={}{reason}", f.display_name(), f.skb_arg);
    }
    for t in symbols::skb_tracepoints(&btf) {
        let reason = t
            .reason_arg
            .map(|r| format!(" reason_arg={r}"))
            .unwrap_or_default();
        println!(
            "tracepoint {} skb_arg={} nargs={}{reason}",
            t.display_name(),
            t.skb_arg,
            t.nargs
        );
    }
    let reasons = symbols::DropReasons::from_btf(&btf);
    eprintln!(
        "{} skb functions probe-able (of {} in BTF, {} not probe-able; source {}), {} drop reasons",
        d.funcs.len(),
        d.total_btf,
        d.not_traceable,
        d.source,
        reasons.len()
    );
    Ok(())
}
