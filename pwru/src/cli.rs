//! Command line, with cilium/pwru's flag names so pwru users' commands work unchanged.

use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "pwru",
    version,
    about = "Trace the kernel functions a packet passes through, and where and why it is dropped",
    after_help = "Examples:\n  pwru 'host 10.0.0.5 and icmp'\n  pwru --output-json --filter-netns /proc/1234/ns/net 'tcp port 80'",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub trace: TraceArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compile, dump or test a pcap filter expression without tracing.
    Filter(FilterArgs),
    /// Print a saved trace again (--output-json lines or an --output-pcap file), as text, JSON, pcapng or in the
    /// TUI, keeping the events the filters select.
    Replay(ReplayArgs),
    /// Inspect Cilium's pinned datapath maps.
    Cilium {
        #[command(subcommand)]
        cmd: cilium::Command,
    },
    /// Print a shell completion script (e.g. `pwru completions bash > /etc/bash_completion.d/pwru`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; e.g. `pwru man | man -l -`).
    Man,
}

#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Print the eBPF program the expression compiles to (the default without --read; with it, both).
    #[arg(long)]
    pub dump: bool,
    /// Run the filter over a pcap/pcapng file (`-`: stdin) and print the matching packet numbers, as `tcpdump -r`
    /// selects them (netmask 0). On a damaged file: the matches before the damage, a warning, exit status 1.
    #[arg(long, value_name = "FILE")]
    pub read: Option<PathBuf>,
    /// The pcap filter expression (words are joined with spaces).
    #[arg(num_args = 0..)]
    pub expr: Vec<String>,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// kprobe-multi, else kprobe, else tracepoints.
    #[default]
    Auto,
    Kprobe,
    KprobeMulti,
    Tracepoint,
}

/// `probes::KprobePlacement`, as a flag value.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum KprobePlacement {
    /// At the entry, by name (the kernel looks each name up).
    #[default]
    Symbol,
    /// At the entry, by address.
    Entry,
    /// Past the ftrace call site, by address (entry where refused).
    PastFtrace,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Timestamp {
    #[default]
    None,
    Current,
    Relative,
    Absolute,
}

/// The tracer's flags as typed: checked and turned into a plan by [`crate::plan`].
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TraceArgs {
    /// pcap-filter expression (e.g. 'host 10.0.0.5 and icmp'); the words are joined with spaces.
    #[arg(value_name = "PCAP-FILTER")]
    pub filter: Vec<String>,

    /// How to attach: auto picks kprobe-multi, then kprobe, then tracepoints.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    /// BTF file to use instead of /sys/kernel/btf/vmlinux.
    #[arg(long, value_name = "FILE")]
    pub kernel_btf: Option<PathBuf>,
    /// Also trace skb functions of these kernel modules.
    #[arg(long, value_delimiter = ',', value_name = "MODS")]
    pub kmods: Vec<String>,
    /// Also trace skb functions of every loaded module with BTF.
    #[arg(long)]
    pub all_kmods: bool,
    /// kprobe backend: probes one attaching or detaching worker handles (default: a few workers per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub filter_kprobe_batch: Option<u64>,
    /// kprobe backend: remove the probes with the kernel's normal RCU grace periods (by default pwru sets
    /// /sys/kernel/rcu_expedited while detaching, which about halves the time, and sets it back to 0 after).
    #[arg(long)]
    pub detach_normal_rcu: bool,
    /// kprobe backend: where a probe goes on its function (benchmarks compare them; see probes/README.md).
    #[arg(long, hide = true, value_enum, default_value = "symbol")]
    pub kprobe_placement: KprobePlacement,

    /// Also trace tc BPF programs (cls_bpf, tcx, netkit): entry and return, with the verdict (TC_ACT_*), by their
    /// BTF names; programs loaded while tracing are picked up.
    #[arg(long)]
    pub filter_trace_tc: bool,
    /// Also trace XDP programs: entry and return with the verdict (XDP_*); a packet they pass is followed into
    /// the skb the kernel builds for it.
    #[arg(long)]
    pub filter_trace_xdp: bool,
    /// With --filter-trace-tc/--filter-trace-xdp: also show the BPF helpers and map operations those programs
    /// call (kprobes), with the calling program, tail-called ones included.
    #[arg(long)]
    pub filter_track_bpf_helpers: bool,
    /// Also follow a packet by the task whose kernel stack processes it: while a selected skb is being processed,
    /// every other skb that task handles is shown too, so the packet is followed where the kernel builds another
    /// skb for it (bridges, some tunnels, the reply built while the request is handled). JSON marks these events
    /// "by_stack".
    #[arg(long)]
    pub filter_track_skb_by_stackid: bool,
    /// Also probe these functions that take no skb (comma-separated); their events are shown for the packet the
    /// stack is processing (its skb fields). Turns on --filter-track-skb-by-stackid. Kprobe backends only.
    #[arg(long, value_delimiter = ',', value_name = "FUNCS")]
    pub filter_non_skb_funcs: Vec<String>,
    /// pcap-filter expression on the Ethernet frame inside VXLAN/Geneve packets: tunnel packets must match it, other
    /// packets are not affected (as in pwru). Combines with the main filter.
    #[arg(long, value_name = "EXPR")]
    pub filter_tunnel_pcap_l2: Option<String>,
    /// pcap-filter expression on the IP packet inside VXLAN/Geneve packets: tunnel packets must match it, other
    /// packets are not affected (as in pwru). Combines with the main filter.
    #[arg(long, value_name = "EXPR")]
    pub filter_tunnel_pcap_l3: Option<String>,

    /// Print __sk_buff->cb[] (five words tc programs keep state in); default: on while --filter-trace-tc traces tc
    /// programs.
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    pub output_skb_cb: Option<bool>,
    /// Only skbs for which this C expression over `struct sk_buff *skb` holds, e.g. 'skb->dev->ifindex == 9',
    /// 'skb->dev->name == "eth0" && skb->len > 1000' (members, enum names, ==/!=/</<=/>/>=, &, &&, ||, !;
    /// compiled on the kernel's BTF, applied with the pcap, netns, mark and ifname filters, also on traced tc
    /// programs' skbs).
    #[arg(long, value_name = "EXPR")]
    pub filter_skb_expr: Option<String>,
    /// Print these C expressions over `struct sk_buff *skb` after each event line, e.g. 'skb->hash',
    /// 'skb->dev->name' (repeatable, or comma-separated: a comma inside a "string" does not split; at most 32).
    #[arg(long, value_name = "EXPR", action = ArgAction::Append)]
    pub output_skb_metadata: Vec<String>,
    /// With --filter-trace-xdp: only the traced XDP programs' buffers for which this C expression over
    /// `struct xdp_buff *xdp` holds, e.g. 'xdp->rxq->dev->ifindex == 9' (the syntax of --filter-skb-expr; skb events
    /// are not affected).
    #[arg(long, value_name = "EXPR")]
    pub filter_xdp_expr: Option<String>,
    /// With --filter-trace-xdp: print these C expressions over `struct xdp_buff *xdp` after each event line of a
    /// traced XDP program, e.g. 'xdp->rxq->dev->ifindex' (repeatable, or comma-separated as
    /// --output-skb-metadata; at most 32).
    #[arg(long, value_name = "EXPR", action = ArgAction::Append)]
    pub output_xdp_metadata: Vec<String>,
    /// Print the struct sk_buff under each event, as the kernel prints it (bpf_snprintf_btf, Linux 5.9+).
    #[arg(long)]
    pub output_skb: bool,
    /// Print the skb's struct skb_shared_info under each event (bpf_snprintf_btf, Linux 5.9+).
    #[arg(long)]
    pub output_skb_shared_info: bool,
    /// Print the BPF map lookups, updates and deletes that traced tc/XDP programs (--filter-trace-tc/-xdp) do on
    /// the packet (map id and name, key, value; the entries of Cilium's maps decoded); JSON `bpfmap`. Kprobe
    /// backends only.
    #[arg(long)]
    pub output_bpfmap: bool,

    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// With --output-pcap: bytes of each packet to copy, from its MAC header (else its IP header); 0: none.
    #[arg(long, value_name = "N", requires = "output_pcap")]
    pub snaplen: Option<u32>,

    /// Print only the paths of packets that are dropped: each selected skb's events are kept in memory and printed,
    /// from its first function to the drop, when it is dropped; the paths of the others are discarded.
    #[arg(long)]
    pub drops_only: bool,
    /// With --drops-only: most skbs followed at once (the least recently seen is evicted, and counted, beyond).
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1 << 24), requires = "drops_only")]
    pub drops_only_max_skbs: u64,
    /// With --drops-only: most events kept per skb, the first half and the latest half (the others are evicted, and
    /// counted).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=1 << 20), requires = "drops_only")]
    pub drops_only_max_events: u64,
    /// Print a summary instead of the events (with --drops-only: after the drop paths): drops by reason, function,
    /// interface and netns, the top flows by drops, and events per function. JSON with --output-json.
    #[arg(long)]
    pub summary: bool,
    /// With --summary: print it every SECS seconds too (counts since the start).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..), requires = "summary", conflicts_with = "tui")]
    pub summary_interval: Option<u64>,
    /// Serve Prometheus metrics on http://ADDR:PORT/metrics: drops by reason, function, interface and netns, events,
    /// losses (events are printed as usual; add --summary for a quiet run).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// With --metrics: most label sets per metric; more are counted under the label value `other`.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000), requires = "metrics")]
    pub metrics_max_series: u64,

    /// Annotate events with Cilium's state for their flow (endpoints, identities, services, CT, policy, drop
    /// reasons), read from its pinned maps; optional value: the bpffs root (default: found automatically).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "", value_name = "BPFFS")]
    pub cilium: Option<String>,

    /// Bytes of each per-CPU buffer for the BTF dumps of --output-skb and --output-skb-shared-info (64 to 32768; the
    /// dumps take at most 4096): a longer dump is cut, and says so.
    #[arg(long, default_value_t = probes::config::PERCPU_BUF_DEFAULT, value_name = "BYTES")]
    pub set_percpu_buf: u32,
    /// Ring buffer size in bytes: a power of two, from the page size to 1 GiB.
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES")]
    pub ringbuf_size: u64,
    /// Create this file once every probe is attached (for scripts).
    #[arg(long, hide = true, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
}

/// Which events to keep besides the pcap expression: checked in the kernel by the tracer, on the saved events by
/// `pwru replay`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct SelectArgs {
    /// Only functions whose whole name matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub filter_func: Option<String>,
    /// Only packets in this netns: /proc/PID/ns/net, /run/netns/NAME or inode:N.
    #[arg(long, value_name = "NETNS")]
    pub filter_netns: Option<String>,
    /// Only packets with this mark: mark[/mask] (decimal or 0x hex).
    #[arg(long, value_name = "MARK[/MASK]")]
    pub filter_mark: Option<String>,
    /// Only packets on this interface (live: resolved in --filter-netns, else the current netns; replay: by name).
    #[arg(long, value_name = "NAME")]
    pub filter_ifname: Option<String>,
    /// Keep following an skb after its first match (NAT, decapsulation).
    #[arg(long)]
    pub filter_track_skb: bool,
}

/// What the events show and where they go: the tracer's and `pwru replay`'s.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OutputArgs {
    /// Print the metadata columns (NETNS MARK IFACE PROTO MTU LEN).
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    pub output_meta: bool,
    /// Add a NETNS NAME column (JSON: `netns_name`): the `ip netns` name, else the container runtime's (Docker's
    /// netns files, else the container id from a process's cgroup).
    #[arg(long)]
    pub output_netns_names: bool,
    /// Width of the NETNS NAME column; longer names are cut (10 at least, as in pwru).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub netns_names_max_length: u8,
    /// Print the L3/L4 tuple.
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_name = "BOOL")]
    pub output_tuple: bool,
    /// Add TCP flags to the tuple (tcp:SYN|ACK).
    #[arg(long)]
    pub output_tcp_flags: bool,
    /// Print the caller of each function.
    #[arg(long)]
    pub output_caller: bool,
    /// Print the kernel stack of each event.
    #[arg(long)]
    pub output_stack: bool,
    /// Print the packet inside VXLAN and Geneve packets: a TUNNEL column (kind, VNI, inner tuple); JSON
    /// `tunnel_tuple` and `tunnel`.
    #[arg(long)]
    pub output_tunnel: bool,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub output_json: bool,
    /// Write events to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Stop after this many events (0: no limit).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub output_limit_lines: u64,
    /// Time column: none, current (kernel ns), relative (ns since the skb's previous event), absolute (wall clock).
    #[arg(long, value_enum, default_value = "none")]
    pub timestamp: Timestamp,

    /// Also write the packets to this pcapng file (`-`: stdout, e.g. `| tshark -r -`), one per event, with the
    /// function, drop reason, netns and process in each packet's comment. With `-`, text or JSON lines are written
    /// only to --output-file.
    #[arg(long, value_name = "FILE")]
    pub output_pcap: Option<PathBuf>,
    /// With --output-pcap: only each skb's first event, for a capture that looks like tcpdump's.
    #[arg(long, requires = "output_pcap")]
    pub output_pcap_once: bool,
    /// With --output-pcap: give packets that start at the IP header an all-zero Ethernet header, so the file has one
    /// link type, as libpcap's readers (tcpdump) need.
    #[arg(long, requires = "output_pcap")]
    pub output_pcap_ethernet: bool,

    /// Live terminal view instead of text: packets with their fate, the path of the selected one, drops, Cilium.
    #[arg(long, conflicts_with_all = ["output_json", "output_file", "output_limit_lines"])]
    pub tui: bool,
    /// With --tui: how many of the newest packets to keep (older ones are evicted and counted).
    #[arg(long, default_value_t = 5000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub tui_max_packets: u64,
}

/// `pwru replay`'s arguments.
#[derive(clap::Args, Clone, Debug)]
#[command(
    after_help = "Examples:\n  pwru replay trace.json\n  pwru replay --tui trace.pcapng 'icmp'\n  pwru replay --filter-func 'kfree_skb.*' --output-json trace.pcapng"
)]
pub struct ReplayArgs {
    /// The saved trace: JSON lines (--output-json) or pcapng (--output-pcap); `-`: stdin.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// pcap-filter expression, run on the packet bytes of a pcapng trace (JSON lines hold none).
    #[arg(value_name = "PCAP-FILTER")]
    pub filter: Vec<String>,
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl TraceArgs {
    /// `--output-skb-cb`, on by default with `--filter-trace-tc` (as in pwru).
    pub fn skb_cb(&self) -> bool {
        self.output_skb_cb.unwrap_or(self.filter_trace_tc)
    }

    /// The pcap expression, or None when no words were given.
    pub fn filter_expr(&self) -> Option<String> {
        join_expr(&self.filter)
    }
}

impl ReplayArgs {
    /// The pcap expression, or None when no words were given.
    pub fn filter_expr(&self) -> Option<String> {
        join_expr(&self.filter)
    }
}

fn join_expr(words: &[String]) -> Option<String> {
    let s = words.join(" ");
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("pwru").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn positional_words_join_into_one_expression() {
        let c = parse(&["host", "10.0.0.5", "and", "icmp"]);
        assert_eq!(
            c.trace.filter_expr().as_deref(),
            Some("host 10.0.0.5 and icmp")
        );
        assert_eq!(parse(&[]).trace.filter_expr(), None);
    }

    #[test]
    fn pwru_flag_spellings() {
        let c = parse(&[
            "--backend",
            "kprobe-multi",
            "--kmods",
            "veth,bridge",
            "--filter-func",
            "^ip_.*",
            "--filter-netns",
            "inode:4026531840",
            "--filter-mark",
            "0x10/0xff",
            "--filter-ifname",
            "eth0",
            "--filter-track-skb",
            "--filter-track-skb-by-stackid",
            "--filter-non-skb-funcs",
            "xfrm_state_lookup,xfrm_state_look_at",
            "--filter-non-skb-funcs=htab_map_lookup_elem",
            "--filter-tunnel-pcap-l2",
            "ether src 02:00:00:00:00:01",
            "--filter-tunnel-pcap-l3=icmp and host 10.244.2.7",
            "--output-tunnel",
            "--output-bpfmap",
            "--set-percpu-buf",
            "8192",
            "--output-meta=false",
            "--output-tuple",
            "--output-caller",
            "--output-json",
            "--output-limit-lines",
            "10",
            "--timestamp",
            "absolute",
            "--ready-file",
            "/tmp/r",
            "tcp",
        ]);
        let t = &c.trace;
        assert_eq!(t.backend, Backend::KprobeMulti);
        assert_eq!(t.kmods, vec!["veth", "bridge"]);
        let o = &t.output;
        assert!(
            !o.output_meta
                && o.output_tuple
                && o.output_caller
                && o.output_json
                && t.select.filter_track_skb
        );
        assert_eq!(o.output_limit_lines, 10);
        assert_eq!(o.timestamp, Timestamp::Absolute);
        assert!(t.filter_track_skb_by_stackid && t.output.output_tunnel && t.output_bpfmap);
        assert_eq!(
            t.filter_non_skb_funcs,
            vec![
                "xfrm_state_lookup",
                "xfrm_state_look_at",
                "htab_map_lookup_elem"
            ]
        );
        assert_eq!(
            t.filter_tunnel_pcap_l2.as_deref(),
            Some("ether src 02:00:00:00:00:01")
        );
        assert_eq!(
            t.filter_tunnel_pcap_l3.as_deref(),
            Some("icmp and host 10.244.2.7")
        );
        assert_eq!(t.set_percpu_buf, 8192);
        assert_eq!(t.filter_expr().as_deref(), Some("tcp"));
    }

    #[test]
    fn defaults_are_pwrus() {
        let t = parse(&[]).trace;
        assert!(t.output.output_meta && t.output.output_tuple && !t.output.output_json);
        assert_eq!(t.backend, Backend::Auto);
        assert_eq!(t.output.timestamp, Timestamp::None);
        assert_eq!(t.set_percpu_buf, 4096);
        assert!(!t.output.output_tunnel && !t.output_bpfmap && !t.filter_track_skb_by_stackid);
    }

    #[test]
    fn subcommands() {
        match parse(&["filter", "--dump", "tcp", "port", "80"]).command {
            Some(Command::Filter(f)) => {
                assert!(f.dump);
                assert_eq!(f.expr.join(" "), "tcp port 80");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["cilium", "maps"]).command,
            Some(Command::Cilium { .. })
        ));
        match parse(&[
            "replay",
            "--output-meta=false",
            "--filter-func",
            "ip_.*",
            "t.pcapng",
            "icmp",
            "or",
            "udp",
        ])
        .command
        {
            Some(Command::Replay(r)) => {
                assert_eq!(r.file, PathBuf::from("t.pcapng"));
                assert_eq!(r.filter_expr().as_deref(), Some("icmp or udp"));
                assert!(!r.output.output_meta);
                assert_eq!(r.select.filter_func.as_deref(), Some("ip_.*"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pcap_flags_need_output_pcap() {
        let t = parse(&["--output-pcap", "-", "--snaplen", "0", "--output-pcap-once"]).trace;
        assert_eq!(t.output.output_pcap, Some(PathBuf::from("-")));
        assert_eq!(t.snaplen, Some(0));
        assert!(t.output.output_pcap_once);
        for f in [
            &["--snaplen", "64"][..],
            &["--output-pcap-once"],
            &["--output-pcap-ethernet"],
        ] {
            assert!(Cli::try_parse_from(std::iter::once("pwru").chain(f.iter().copied())).is_err());
        }
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(Cli::try_parse_from(["pwru", "--backend", "fentry"]).is_err());
        assert!(Cli::try_parse_from(["pwru", "--output-meta=maybe"]).is_err());
    }
}
