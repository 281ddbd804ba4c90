//! Prints docs/tui.md: the keys and a text capture of each screen, rendered on ratatui's TestBackend from the same
//! recorded event streams the golden tests use. `cargo run -p tui --example screens > docs/tui.md`

use tui::snapshot::{HEIGHT, WIDTH, render, scenarios};

fn main() {
    println!("# pwru --tui\n");
    println!(
        "`pwru --tui [flags] [pcap-filter]` shows the traced packets live instead of printing lines. It uses the same \
backends, kernel filters and events as the text output. One row per packet (one skb from its first event until \
it is freed; with `--filter-track-skb` its clones and copies are indented under it): when it was first seen, its \
tuple (`NAT` when the tuple changed along the path), the interfaces it crossed, the number of functions, the time \
from its first to its last event, and its fate. The fate is *delivered to socket*, *consumed*, *transmitted \
<iface>*, or **DROPPED <reason> (<function>)**. The rules that decide it are in `tui/src/fate.rs`.\n"
    );
    println!(
        "- **Packets**: streams live and follows the newest row until you move the selection (`G` follows again)."
    );
    println!(
        "- **Path** of the selected packet: functions in order, with µs since its first event. Interface, netns, mark, length and tuple changes are highlighted where they happen, the drop is red, and the stack of the selected event (`--output-stack`) is shown under it."
    );
    println!(
        "- **Drops**: counts by (reason, function), newest first. Enter jumps to the latest packet with that drop."
    );
    println!(
        "- **Cilium** (only when events carry a `cilium` annotation): the Cilium lines of the selected packet."
    );
    println!(
        "- **Status line**: backend, functions attached, events/s, events **lost** in the kernel, events the UI could not take (**ui dropped**), the kernel filter, live/PAUSED."
    );
    println!(
        "- Memory is bounded: the newest `--tui-max-packets` packets are kept (default 5000), and the Packets title says how many were evicted. Each packet keeps at most 2048 events (the last event is always kept). The screen is redrawn at most 30 times a second. The event reader never waits for the UI.\n"
    );
    println!("## Keys\n\n| key | action |\n|---|---|");
    for (k, d) in tui::ui::HELP {
        println!("| `{k}` | {d} |");
    }
    println!(
        "\nDisplay filter terms (all must match; `!` negates): a bare address, port, `tcp`/`udp`/`icmp`/`icmp6` or \
`dropped`/`delivered`/`transmitted`/`inflight`; `addr:`, `port:`, `proto:`, `if:`, `func:` (substring), `reason:` \
(substring), `fate:`; any other word matches an interface, function or reason. A packet matches if any of its events \
does, so NAT'ed packets match both addresses. The filter applies at once to the kept packets. It does not re-attach \
probes or change the kernel filter.\n"
    );
    println!(
        "## Screens\n\nThe screens below are {WIDTH}x{HEIGHT} text captures of the TUI on ratatui's `TestBackend`, from \
the recorded event streams in `tui/src/fixtures.rs`. They are the golden buffers of `cargo test -p tui`.\n"
    );
    for mut s in scenarios() {
        let (text, _) = render(&mut s.app, WIDTH, HEIGHT);
        println!(
            "### {}\n\n{}\n\n```text\n{}```\n",
            s.name,
            s.about.split_whitespace().collect::<Vec<_>>().join(" "),
            text
        );
    }
}
