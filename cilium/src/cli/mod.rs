//! `pwru cilium …`: the command line, and how each command prints what the model finds (cilium-dbg-style tables,
//! or JSON). Nothing in the model depends on this module.

mod listing;
pub(crate) mod listings;
mod lookups;
mod pins;
mod tabwriter;

use crate::clock::ClockSource;
use crate::error::Error;
use crate::node::Node;
use crate::version::Version;
use listing::Listing;
use listings::{Cx, Description};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

/// Output format of `pwru cilium` commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// cilium-dbg-style text.
    Text,
    /// Pretty-printed JSON.
    Json,
}

/// Options every `pwru cilium` command takes.
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// bpf filesystem root; maps are read from DIR/tc/globals [default: first bpf mount in /proc/self/mountinfo]
    #[arg(long, value_name = "DIR")]
    pub bpffs: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    /// Cilium release that wrote the maps (1.16, 1.17, 1.18) [default: detected from the maps]
    #[arg(long, value_name = "VERSION")]
    pub cilium_version: Option<Version>,
    /// Clock of CT lifetimes and NAT timestamps: auto (the agent's choice from its state dir, else ktime), ktime,
    /// jiffies:HZ (HZ from 1 to 10000), or none (print raw values)
    #[arg(long, default_value = "auto", value_name = "CLOCK")]
    pub clock: ClockSource,
}

/// `pwru cilium <command>`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Connection tracking table (cilium-dbg bpf ct list global)
    Ct {
        /// Show only the entries a packet SRC->DST/PROTO hits, e.g. 10.244.1.5:43210->10.96.0.10:53/udp
        #[arg(long)]
        tuple: Option<String>,
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// SNAT table (cilium-dbg bpf nat list)
    Nat {
        /// Show only the mappings of SRC->DST/PROTO (either direction)
        #[arg(long)]
        tuple: Option<String>,
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Services and backends (cilium-dbg bpf lb list); with VIP:PORT/PROTO, the datapath's service lookup
    Lb {
        /// Service to resolve, e.g. 10.96.0.10:53/udp
        service: Option<String>,
        /// List the backends map
        #[arg(long, conflicts_with_all = ["service", "revnat"])]
        backends: bool,
        /// List the reverse-NAT map
        #[arg(long, conflicts_with = "service")]
        revnat: bool,
        /// List the LoadBalancerSourceRanges map
        #[arg(long, conflicts_with_all = ["service", "backends", "revnat"])]
        source_ranges: bool,
        /// List the session-affinity map (client → backend)
        #[arg(long, conflicts_with_all = ["service", "backends", "revnat", "source_ranges"])]
        affinity: bool,
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// IP prefix to identity map (cilium-dbg bpf ipcache list); with IP, the longest-prefix match
    Ipcache {
        /// Address to look up
        ip: Option<IpAddr>,
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// An endpoint's policy map (cilium-dbg bpf policy get -n EP); with --identity and --port, the verdict
    Policy {
        /// Endpoint ID
        #[arg(required_unless_present = "all")]
        endpoint: Option<u16>,
        /// Every endpoint's policy map
        #[arg(long, conflicts_with_all = ["endpoint", "identity"])]
        all: bool,
        /// Remote security identity of the packet
        #[arg(long, requires = "port")]
        identity: Option<u32>,
        /// Destination port and protocol, e.g. 80/tcp, udp, 8/icmp (ICMP type)
        #[arg(long, requires = "identity")]
        port: Option<String>,
        /// Judge the endpoint's egress (default: ingress)
        #[arg(long)]
        egress: bool,
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Node IDs and their addresses (cilium-dbg bpf nodeid list)
    Nodeid {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Tunnel endpoints of remote prefixes, up to 1.17 (cilium-dbg bpf tunnel list)
    Tunnel {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Mutual-authentication state (cilium-dbg bpf auth list)
    Auth {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Local endpoints (cilium-dbg bpf endpoint list)
    Endpoints {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Datapath counters and drop reasons (cilium-dbg bpf metrics list)
    Metrics {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
    /// Detected Cilium version and every pinned map with its type, sizes and entry count
    Maps {
        /// Options every command takes.
        #[command(flatten)]
        common: Common,
    },
}

impl Command {
    fn common(&self) -> &Common {
        match self {
            Command::Ct { common, .. }
            | Command::Nat { common, .. }
            | Command::Lb { common, .. }
            | Command::Ipcache { common, .. }
            | Command::Policy { common, .. }
            | Command::Nodeid { common }
            | Command::Tunnel { common }
            | Command::Auth { common }
            | Command::Endpoints { common }
            | Command::Metrics { common }
            | Command::Maps { common } => common,
        }
    }
}

/// A model error with what to do about it in this command line's terms.
#[derive(Debug, thiserror::Error)]
#[error("{error}; {hint}")]
struct Hinted {
    error: Error,
    hint: &'static str,
}

/// Adds the flag that fixes the error, where one does.
fn hint(error: Error) -> anyhow::Error {
    let hint = match error {
        Error::NoBpffs | Error::NoGlobals(_) | Error::NotBpffs(_) => {
            "pass --bpffs DIR to read another bpffs"
        }
        Error::UnknownVersion(_) => "pass --cilium-version",
        _ => return error.into(),
    };
    Hinted { error, hint }.into()
}

/// What one command printed: a listing, or its own text and JSON.
enum Output {
    Listing(Listing),
    Custom {
        text: String,
        json: serde_json::Value,
    },
}

/// Runs one `pwru cilium` command, writing its output to `out`. Nothing is written when it fails, so an error
/// never follows half a table.
pub fn run(cmd: &Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let common = cmd.common();
    let output = match Node::open(common.bpffs.as_deref(), common.cilium_version) {
        Ok(node) => {
            let cx = Cx {
                node: &node,
                // Only conntrack and NAT entries carry timestamps; reading the clock can fail (jiffies come from
                // /proc/timer_list, root's only).
                clock: match cmd {
                    Command::Ct { .. } | Command::Nat { .. } => common.clock.now()?,
                    _ => None,
                },
                format: common.output,
            };
            command(cmd, &cx)?
        }
        // Listing the pins must work where the release cannot be told (that is when one needs it most).
        Err(Error::UnknownVersion(dir)) if matches!(cmd, Command::Maps { .. }) => {
            pins::maps(&dir, None)?
        }
        Err(e) => return Err(hint(e)),
    };
    // Errors from here on are io::Errors, so that the binary recognises a closed pipe.
    match (output, common.output) {
        (Output::Listing(l), Format::Text) => l.write_text(out)?,
        (Output::Listing(l), Format::Json) => l.write_json(out)?,
        (Output::Custom { text, .. }, Format::Text) => out.write_all(text.as_bytes())?,
        (Output::Custom { json, .. }, Format::Json) => listing::write_json(&json, out)?,
    }
    out.flush()?;
    Ok(())
}

fn command(cmd: &Command, cx: &Cx) -> anyhow::Result<Output> {
    let listing = |d: &Description| Ok(Output::Listing(d.list(cx)?));
    match cmd {
        Command::Ct { tuple: None, .. } => listing(&listings::CT),
        Command::Ct { tuple: Some(t), .. } => lookups::ct(cx, t),
        Command::Nat { tuple: None, .. } => listing(&listings::NAT),
        Command::Nat { tuple: Some(t), .. } => lookups::nat(cx, t),
        Command::Lb {
            service: Some(s), ..
        } => lookups::service(cx, s),
        Command::Lb { backends: true, .. } => listing(&listings::BACKENDS),
        Command::Lb { revnat: true, .. } => listing(&listings::REVNAT),
        Command::Lb {
            source_ranges: true,
            ..
        } => listing(&listings::SOURCE_RANGES),
        Command::Lb { affinity: true, .. } => listing(&listings::AFFINITY),
        Command::Lb { .. } => listing(&listings::SERVICES),
        Command::Ipcache { ip: None, .. } => listing(&listings::IPCACHE),
        Command::Ipcache { ip: Some(ip), .. } => lookups::ipcache(cx, ip),
        Command::Policy {
            endpoint,
            all,
            identity,
            port,
            egress,
            ..
        } => match (endpoint, identity, port) {
            (Some(ep), Some(id), Some(port)) => lookups::verdict(cx, *ep, *id, port, *egress),
            _ => lookups::policies(cx, *endpoint, *all),
        },
        Command::Nodeid { .. } => listing(&listings::NODE_IDS),
        Command::Tunnel { .. } => listing(&listings::TUNNELS),
        Command::Auth { .. } => listing(&listings::AUTH),
        Command::Endpoints { .. } => listing(&listings::ENDPOINTS),
        Command::Metrics { .. } => listing(&listings::METRICS),
        Command::Maps { .. } => Ok(pins::maps(&cx.node.dir, Some(cx.node))?),
    }
}
