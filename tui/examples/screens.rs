//! Prints docs/tui.md: the keys and a text capture of each screen, rendered on ratatui's TestBackend from the same
//! recorded event streams the golden tests use. `cargo run -p tui --example screens > docs/tui.md`

use tui::snapshot::{HEIGHT, WIDTH, render, scenarios};

fn main() {
    println!("# pwru --tui\n");
    println!(
        "`pwru --tui [flags] [pcap-filter]` shows the traced packets live instead of printing lines. It uses the same \
backends, kernel filters and events as the text output. One row per packet (one skb from its first event until \
it is freed; with `--filter-track-skb` its clones and copies are indented under it, when the kprobe backends report the \
`skb_clone`/`skb_copy` call that made them): when it was first seen, its \
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
        "- **Status line**: backend, functions attached, events/s, events **lost** in the kernel, events the UI could not take (**ui dropped**), with `--filter-track-skb` the skbs its table could not hold (**untracked**), with `--drops-only` the events its caps evicted (**drops only, evicted**; only dropped packets arrive), the kernel filter, live/PAUSED."
    );
    println!(
        "- Memory is bounded: the newest `--tui-max-packets` packets are kept (default 5000), and at most 100,000 events in all (59 MB measured, 588 bytes an event). The Packets title says how many packets were evicted. Each packet keeps at most 2048 events (the last event is always kept). The screen is redrawn at most 30 times a second. The event reader never waits for the UI."
    );
    println!(
        "- `w` writes the lines text mode would print with the same `--output-*`/`--timestamp` flags (via `event::TextFormatter`)."
    );
    println!(
        "- A packet ends when its skb is freed (`kfree_skbmem`, or the `kfree_skb`/`consume_skb` tracepoints). When a kernel filter hides the free (e.g. `--filter-netns` and a veth), a reused address starts a new packet if it is queued for transmit again on the device it just left through, or received there after more than 1 ms.\n"
    );
    println!(
        "Try it without root or a kernel: `cargo run -p tui --example demo` replays the recorded streams below \
(`--rate N` events/s; `--panic-after-ms N` checks that a panic restores the terminal).\n"
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
    println!(
        "### A real run\n\nCaptured with `tmux capture-pane` on the development host (kernel 6.18, tracepoint backend), \
while running `pwru --backend tracepoint --tui --output-stack --filter-netns /run/netns/tuidemo`, `ping -c2 10.232.0.2` \
into that netns, and one UDP datagram to its closed port 53. Tab Tab Enter on the Drops pane jumped to the dropped \
datagram. The three rows without a tuple are netlink messages in that netns (pwru resolving interface names). The \
echo replies show as *transmitted eth0*: they leave the traced netns, so their delivery is not traced.\n"
    );
    println!(
        "```text\n{}```\n",
        include_str!("../docs/live-tracepoint.txt")
    );
    println!("## Cost and overload\n");
    println!(
        "The reader thread never blocks: `EventSender::send` is a `try_send` on a bounded channel (65,536 events). \
The UI drains the channel for at most 20 ms at a time, then redraws (at most 30 times a second) and reads keys. \
When it falls behind, or while it is paused, the events it cannot take are counted and shown as **ui dropped**. \
Events lost in the kernel are shown as **lost**. The benchmark floods the real run loop on a headless 200x60 \
terminal. The per-event and per-frame costs are single-threaded CPU times. The flood rows depend on how much CPU \
the UI thread gets. This run was on a 2-core host shared with other builds (load average 15). The UI thread got \
between 6% and 16% of a core. At 300k events/s it needs about 15% (ingest costs 0.46 µs an event, about \
2 M events/s per core, and a frame 0.44 ms), and the 65,536-event channel covers only 0.2 s of being \
descheduled, so those rows dropped events. It never sleeps while events are waiting, and it counts every drop. \
The memory line is the RSS growth while the model fills its default event \
budget.\n"
    );
    println!(
        "```text\n{}```",
        include_str!("../benches/flood-results.txt")
    );
}
