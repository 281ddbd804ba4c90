//! `pwru cilium …`: cilium-dbg-style listings and lookups over the pinned maps.

use crate::bpf::{Map, map_type};
use crate::clock::Clock;
use crate::ct::{self, CtEntry, CtTuple};
use crate::flow;
use crate::ipcache::IpcacheKey;
use crate::lb;
use crate::lookup::{Maps, ServiceHit};
use crate::names;
use crate::node::Node;
use crate::policy::{self, PolicyEntry};
use crate::table;
use crate::version::{MapKind, Version};
use anyhow::Context;
use serde_json::{Value, json};
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
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
    /// jiffies:HZ, or none (print raw values)
    #[arg(long, default_value = "auto")]
    pub clock: String,
}

impl Common {
    fn node(&self) -> anyhow::Result<Node> {
        Ok(Node::open(self.bpffs.as_deref(), self.cilium_version)?)
    }
    fn clock(&self) -> anyhow::Result<Option<Clock>> {
        if self.clock == "none" {
            return Ok(None);
        }
        Ok(Some(
            self.clock.parse::<Clock>().map_err(anyhow::Error::msg)?,
        ))
    }
}

/// `pwru cilium <command>`.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Connection tracking table (cilium-dbg bpf ct list global)
    Ct {
        /// Show only the entries a packet SRC->DST/PROTO hits, e.g. 10.244.1.5:43210->10.96.0.10:53/udp
        #[arg(long)]
        tuple: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// SNAT table (cilium-dbg bpf nat list)
    Nat {
        /// Show only the mappings of SRC->DST/PROTO (either direction)
        #[arg(long)]
        tuple: Option<String>,
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
        #[command(flatten)]
        common: Common,
    },
    /// IP prefix to identity map (cilium-dbg bpf ipcache list); with IP, the longest-prefix match
    Ipcache {
        ip: Option<IpAddr>,
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
        #[command(flatten)]
        common: Common,
    },
    /// Node IDs and their addresses (cilium-dbg bpf nodeid list)
    Nodeid {
        #[command(flatten)]
        common: Common,
    },
    /// Tunnel endpoints of remote prefixes, up to 1.17 (cilium-dbg bpf tunnel list)
    Tunnel {
        #[command(flatten)]
        common: Common,
    },
    /// Mutual-authentication state (cilium-dbg bpf auth list)
    Auth {
        #[command(flatten)]
        common: Common,
    },
    /// Local endpoints (cilium-dbg bpf endpoint list)
    Endpoints {
        #[command(flatten)]
        common: Common,
    },
    /// Datapath counters and drop reasons (cilium-dbg bpf metrics list)
    Metrics {
        #[command(flatten)]
        common: Common,
    },
    /// Detected Cilium version and every pinned map with its type, sizes and entry count
    Maps {
        #[command(flatten)]
        common: Common,
    },
}

/// Runs one `pwru cilium` command, writing its output to `out`.
pub fn run(cmd: &Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        Command::Ct { tuple, common } => ct_cmd(common, tuple.as_deref(), out),
        Command::Nat { tuple, common } => nat_cmd(common, tuple.as_deref(), out),
        Command::Lb {
            service,
            backends,
            revnat,
            source_ranges,
            affinity,
            common,
        } => {
            if *source_ranges {
                source_ranges_cmd(common, out)
            } else if *affinity {
                affinity_cmd(common, out)
            } else {
                lb_cmd(common, service.as_deref(), *backends, *revnat, out)
            }
        }
        Command::Nodeid { common } => nodeid_cmd(common, out),
        Command::Tunnel { common } => tunnel_cmd(common, out),
        Command::Auth { common } => auth_cmd(common, out),
        Command::Ipcache { ip, common } => ipcache_cmd(common, ip.as_ref(), out),
        Command::Policy {
            endpoint,
            all,
            identity,
            port,
            egress,
            common,
        } => policy_cmd(
            common,
            *endpoint,
            *all,
            *identity,
            port.as_deref(),
            *egress,
            out,
        ),
        Command::Endpoints { common } => endpoints_cmd(common, out),
        Command::Metrics { common } => metrics_cmd(common, out),
        Command::Maps { common } => maps_cmd(common, out),
    }
}

fn emit_json(out: &mut dyn Write, v: &Value) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

fn ct_sort_key(k: &CtTuple) -> (IpAddr, u16, IpAddr, u16, u8, u8) {
    (k.daddr, k.sport, k.saddr, k.dport, k.nexthdr, k.flags)
}

/// Whether a CT key belongs to `flow` in either direction, a zero port in `flow` matching any port.
fn ct_matches(k: &CtTuple, flow: &flow::FlowKey) -> bool {
    if k.nexthdr != flow.proto {
        return false;
    }
    let port = |want: u16, got: u16| want == 0 || want == got;
    // Orientation-free view of the key: (client addr, client port, server addr, server port).
    let (a, pa, b, pb) = if k.flags & crate::ct::TUPLE_F_SERVICE != 0 {
        (k.saddr, k.dport, k.daddr, k.sport)
    } else {
        (k.daddr, k.sport, k.saddr, k.dport)
    };
    (a == flow.saddr && b == flow.daddr && port(flow.sport, pa) && port(flow.dport, pb))
        || (a == flow.daddr && b == flow.saddr && port(flow.dport, pa) && port(flow.sport, pb))
}

fn ct_cmd(c: &Common, tuple: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let clock = c.clock()?;
    let v = node.version;
    let groups: Vec<(String, Vec<(CtTuple, CtEntry)>)> = match tuple {
        Some(t) => {
            let flow = flow::parse_tuple(t)?;
            let entries = if flow.sport == 0 || flow.dport == 0 {
                // A port left out (or ICMP, whose echo ID the user rarely knows) matches any: scan.
                node.ct_entries()?
                    .into_iter()
                    .flat_map(|(_, e)| e)
                    .filter(|(k, _)| ct_matches(k, &flow))
                    .collect()
            } else {
                Maps::open(&node)?.ct(&flow)?
            };
            vec![(flow.to_string(), entries)]
        }
        None => node
            .ct_entries()?
            .into_iter()
            .map(|(k, e)| (k.pin_name(v).to_string(), e))
            .collect(),
    };
    if c.output == Format::Json {
        let mut arr = Vec::new();
        for (map, mut entries) in groups {
            entries.sort_by_key(|(k, _)| ct_sort_key(k));
            for (k, e) in entries {
                arr.push(
                    json!({ "map": map, "key": k.json(), "entry": e.json(v, clock.as_ref()),
                                 "text": ct::ct_line(&k, &e, v, clock.as_ref()) }),
                );
            }
        }
        return emit_json(out, &Value::Array(arr));
    }
    if tuple.is_some() && groups[0].1.is_empty() {
        writeln!(out, "No conntrack entries for {}", groups[0].0)?;
        return Ok(());
    }
    for (_, mut entries) in groups {
        entries.sort_by_key(|(k, _)| ct_sort_key(k));
        for (k, e) in entries {
            writeln!(out, "{}", ct::ct_line(&k, &e, v, clock.as_ref()))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn nat_sort_key(k: &CtTuple) -> (IpAddr, u16, IpAddr, u16, u8, u8) {
    (k.saddr, k.sport, k.daddr, k.dport, k.nexthdr, k.flags)
}

fn nat_cmd(c: &Common, tuple: Option<&str>, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let clock = c.clock()?;
    let mut entries: Vec<_> = match tuple {
        Some(t) => Maps::open(&node)?.nat(&flow::parse_tuple(t)?)?,
        None => node
            .nat_entries()?
            .into_iter()
            .flat_map(|(_, e)| e)
            .collect(),
    };
    entries.sort_by_key(|(k, _)| nat_sort_key(k));
    if c.output == Format::Json {
        let arr = entries
            .iter()
            .map(|(k, e)| ct::nat_json(k, e, clock.as_ref()))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if entries.is_empty() {
        writeln!(out, "No entries found.")?;
    }
    for (k, e) in &entries {
        writeln!(out, "{}", ct::nat_line(k, e, clock.as_ref()))?;
    }
    Ok(())
}

/// cilium-dbg keeps this second title for `--backends` and `--revnat` too.
const LB_VALUE_TITLE: &str = "BACKEND ADDRESS (REVNAT_ID) (SLOT)";

fn svc_sort_key(k: &lb::SvcKey) -> (IpAddr, u16, u8, u8, u16) {
    (k.addr, k.dport, k.proto, k.scope, k.slot)
}

fn lb_cmd(
    c: &Common,
    service: Option<&str>,
    backends: bool,
    revnat: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let node = c.node()?;
    let v = node.version;
    if let Some(s) = service {
        let (ip, port, proto) = flow::parse_service(s)?;
        let hit = Maps::open(&node)?.service(&ip, port, proto)?;
        return service_hit_out(c, v, s, hit.as_ref(), out);
    }
    if backends {
        let all = node.backends()?;
        if c.output == Format::Json {
            return emit_json(
                out,
                &Value::Array(all.iter().map(|((_, id), b)| b.json(*id)).collect()),
            );
        }
        let rows: Vec<_> = all
            .iter()
            .map(|((_, id), b)| (id.to_string(), vec![b.list_text()]))
            .collect();
        write!(
            out,
            "{}",
            table::key_value_table("ID", LB_VALUE_TITLE, &rows)
        )?;
        return Ok(());
    }
    if revnat {
        let all = node.revnats()?;
        if c.output == Format::Json {
            let arr = all
                .iter()
                .map(|((_, id), r)| json!({"id": id, "addr": r.addr, "port": r.port}))
                .collect();
            return emit_json(out, &Value::Array(arr));
        }
        let rows: Vec<_> = all
            .iter()
            .map(|((_, id), r)| {
                (
                    id.to_string(),
                    vec![crate::wire::host_port(&r.addr, r.port)],
                )
            })
            .collect();
        write!(
            out,
            "{}",
            table::key_value_table("ID", LB_VALUE_TITLE, &rows)
        )?;
        return Ok(());
    }
    let mut svcs = node.services()?;
    svcs.sort_by_key(|(k, _)| svc_sort_key(k));
    let bes = node.backends()?;
    let be = |k: &lb::SvcKey, val: &lb::SvcValue| bes.get(&(k.addr.is_ipv6(), val.union)).cloned();
    if c.output == Format::Json {
        let arr = svcs
            .iter()
            .map(|(k, val)| {
                let b = if k.slot != 0 { be(k, val) } else { None };
                json!({ "frontend": { "addr": k.addr, "port": k.dport, "proto": names::proto(k.proto),
                                      "scope": if k.scope == 1 { "internal" } else { "external" }, "slot": k.slot },
                        "value": val.json(v),
                        "backend": b.as_ref().map(|b| b.json(val.union)),
                        "text": format!("{} {}", k.text(v), lb::service_value_text(k, val, b.as_ref(), v)) })
            })
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if svcs.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let rows: Vec<_> = svcs
        .iter()
        .map(|(k, val)| {
            let b = if k.slot != 0 { be(k, val) } else { None };
            (
                k.text(v),
                vec![lb::service_value_text(k, val, b.as_ref(), v)],
            )
        })
        .collect();
    write!(
        out,
        "{}",
        table::key_value_table("SERVICE ADDRESS", LB_VALUE_TITLE, &rows)
    )?;
    Ok(())
}

/// Text and JSON of a resolved service, shared with the correlator.
pub fn service_hit_json(hit: &ServiceHit, v: Version) -> Value {
    json!({
        "frontend": { "addr": hit.key.addr, "port": hit.key.dport, "proto": names::proto(hit.key.proto),
                      "scope": if hit.key.scope == 1 { "internal" } else { "external" } },
        "rev_nat": hit.value.rev_nat,
        "flags": hit.value.flags_text(v),
        "revnat_addr": hit.revnat.as_ref().map(|r| crate::wire::host_port(&r.addr, r.port)),
        "backends": hit.backends.iter().map(|(slot, id, b)| json!({
            "slot": slot, "id": id, "backend": b.as_ref().map(|b| b.json(*id)) })).collect::<Vec<_>>(),
    })
}

fn service_hit_out(
    c: &Common,
    v: Version,
    s: &str,
    hit: Option<&ServiceHit>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if c.output == Format::Json {
        return emit_json(
            out,
            &json!({ "service": s, "found": hit.is_some(), "hit": hit.map(|h| service_hit_json(h, v)) }),
        );
    }
    let Some(hit) = hit else {
        writeln!(out, "No service {s}")?;
        return Ok(());
    };
    let mut rows = vec![(
        hit.key.text(v),
        vec![lb::service_value_text(&hit.key, &hit.value, None, v)],
    )];
    for (slot, id, b) in &hit.backends {
        let key = lb::SvcKey {
            slot: *slot,
            ..hit.key.clone()
        };
        let val = lb::SvcValue {
            union: *id,
            ..hit.value.clone()
        };
        rows.push((
            key.text(v),
            vec![lb::service_value_text(&key, &val, b.as_ref(), v)],
        ));
    }
    write!(
        out,
        "{}",
        table::key_value_table("SERVICE ADDRESS", LB_VALUE_TITLE, &rows)
    )?;
    if let Some(r) = &hit.revnat {
        writeln!(
            out,
            "RevNAT {} -> {}",
            hit.value.rev_nat,
            crate::wire::host_port(&r.addr, r.port)
        )?;
    }
    Ok(())
}

fn ipcache_cmd(c: &Common, ip: Option<&IpAddr>, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let v = node.version;
    let mut all = node.ipcache()?;
    all.sort_by_key(|(k, _)| (k.addr.is_ipv6(), k.addr, k.prefix, k.cluster_id));
    if let Some(ip) = ip {
        let maps = Maps::open(&node)?;
        let val = maps.ipcache(ip)?;
        // The kernel returns only the value; find the prefix it came from in the dump.
        let raw: Vec<(Vec<u8>, usize)> = all
            .iter()
            .enumerate()
            .map(|(i, (k, _))| {
                let mut kb = IpcacheKey::lookup_bytes(&k.addr, k.cluster_id);
                kb[..4].copy_from_slice(
                    &(k.prefix as u32 + crate::ipcache::STATIC_PREFIX).to_le_bytes(),
                );
                (kb, i)
            })
            .collect();
        let prefix = policy::lpm_lookup(&raw, &IpcacheKey::lookup_bytes(ip, 0))
            .map(|&i| &all[i])
            .filter(|(_, pv)| Some(pv) == val.as_ref())
            .map(|(k, _)| k.text());
        if c.output == Format::Json {
            return emit_json(
                out,
                &json!({ "ip": ip, "prefix": prefix, "value": val.as_ref().map(|x| x.json(v)) }),
            );
        }
        match val {
            None => writeln!(out, "{ip} does not map to any identity")?,
            Some(val) => {
                let via = prefix.map(|p| format!(" via {p}")).unwrap_or_default();
                let label = names::identity_label(val.identity);
                let label = if label == val.identity.to_string() {
                    String::new()
                } else {
                    format!(" [{label}]")
                };
                writeln!(out, "{ip} maps to identity {}{via}{label}", val.text(v))?
            }
        }
        return Ok(());
    }
    if c.output == Format::Json {
        let arr = all
            .iter()
            .map(|(k, val)| json!({ "prefix": k.text(), "value": val.json(v) }))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if all.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let rows: Vec<_> = all
        .iter()
        .map(|(k, val)| (k.text(), vec![val.text(v)]))
        .collect();
    write!(
        out,
        "{}",
        table::key_value_table("IP PREFIX/ADDRESS", "IDENTITY", &rows)
    )?;
    Ok(())
}

fn endpoints_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let v = node.version;
    let mut all = node.endpoints()?;
    all.sort_by_key(|(k, _)| (k.addr.is_ipv6(), k.addr, k.cluster_id, k.key));
    if c.output == Format::Json {
        let arr = all
            .iter()
            .map(|(k, e)| json!({ "key": k.text(), "addr": k.addr, "info": e.json(v) }))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if all.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let rows: Vec<_> = all
        .iter()
        .map(|(k, e)| (k.text(), vec![e.text(v)]))
        .collect();
    write!(
        out,
        "{}",
        table::key_value_table("IP ADDRESS", "LOCAL ENDPOINT INFO", &rows)
    )?;
    Ok(())
}

fn metrics_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let all = node.metrics()?;
    if c.output == Format::Json {
        let mut all = all;
        all.sort_by_key(|(k, _, _)| *k);
        return emit_json(
            out,
            &Value::Array(all.iter().map(|(k, p, b)| k.json(*p, *b)).collect()),
        );
    }
    if all.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let mut rows: Vec<[String; 6]> = all.iter().map(|(k, p, b)| k.cells(*p, *b)).collect();
    rows.sort();
    let mut s = String::from("REASON\tDIRECTION\tPACKETS\tBYTES\tLINE\tFILE\n");
    for r in rows {
        s.push_str(&r.join("\t"));
        s.push('\n');
    }
    write!(out, "{}", table::layout(&s))?;
    Ok(())
}

fn policy_table(node: &Node, ep: u16, stats: Option<&Map>) -> anyhow::Result<(String, Vec<Value>)> {
    let (_, mut entries) = node.policy(ep)?;
    entries.sort_by_key(|(k, e)| policy::sort_key(k, e));
    let mut s = policy::HEADER
        .iter()
        .map(|h| format!("{h}\t"))
        .collect::<String>();
    s.push('\n');
    let mut js = Vec::new();
    for (k, e) in &entries {
        let st = node.policy_stats(ep, k, stats)?;
        for cell in policy::row_cells(k, e, st) {
            s.push_str(&cell);
            s.push('\t');
        }
        s.push('\n');
        js.push(policy::entry_json(k, e, st));
    }
    let mut text = table::layout(&s);
    if entries.is_empty() {
        text.push_str("Policy stats empty. Perhaps the policy enforcement is disabled?\n");
    }
    Ok((text, js))
}

fn policy_cmd(
    c: &Common,
    ep: Option<u16>,
    all: bool,
    identity: Option<u32>,
    port: Option<&str>,
    egress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let node = c.node()?;
    let v = node.version;
    let stats = node.map(MapKind::PolicyStats)?;
    if let (Some(ep), Some(id), Some(port)) = (ep, identity, port) {
        let (dport, proto) = flow::parse_port(port)?;
        let verdict = policy_verdict(&node, ep, id, egress, proto, dport)?;
        if c.output == Format::Json {
            let mut j = verdict.json();
            j["endpoint"] = ep.into();
            j["identity"] = names::identity_json(id);
            j["direction"] = policy::direction(egress).into();
            j["port"] = dport.into();
            j["proto"] = names::proto(proto).into();
            return emit_json(out, &j);
        }
        writeln!(
            out,
            "Endpoint {ep} {} {} identity {}, {dport}/{}: {}",
            policy::direction(egress).to_lowercase(),
            if egress { "to" } else { "from" },
            names::identity_label(id),
            names::proto(proto),
            verdict.text()
        )?;
        return Ok(());
    }
    let eps = if all {
        node.policy_endpoints()
    } else {
        vec![ep.ok_or_else(|| anyhow::anyhow!("policy: give an endpoint ID or --all"))?]
    };
    let mut js = Vec::new();
    for ep in eps {
        let (text, entries) = policy_table(&node, ep, stats.as_ref())?;
        if c.output == Format::Json {
            js.push(json!({ "endpoint": ep, "path": node.dir.join(node.policy_map_name(ep)), "entries": entries }));
            continue;
        }
        if all {
            writeln!(out, "Endpoint ID: {ep}")?;
            writeln!(
                out,
                "Path: {}",
                node.dir.join(node.policy_map_name(ep)).display()
            )?;
            writeln!(out)?;
        }
        write!(out, "{text}")?;
        if all {
            writeln!(out)?;
            writeln!(out)?;
        }
    }
    if c.output == Format::Json {
        let v_json = if all {
            Value::Array(js)
        } else {
            js.pop().unwrap_or(Value::Null)
        };
        return emit_json(out, &v_json);
    }
    let _ = v;
    Ok(())
}

/// The verdict endpoint `ep`'s policy map gives a packet from/to `remote_id`, with the release's algorithm.
pub fn policy_verdict(
    node: &Node,
    ep: u16,
    remote_id: u32,
    egress: bool,
    proto: u8,
    dport: u16,
) -> anyhow::Result<policy::Verdict> {
    let map = node.policy_map(ep)?;
    let format = policy_map_format(node, &map)?;
    verdict_on(node.version, &map, format, remote_id, egress, proto, dport)
}

/// The entry layout of an endpoint's policy map (read from the data only for 1.16).
pub fn policy_map_format(node: &Node, map: &Map) -> anyhow::Result<crate::version::PolicyFormat> {
    if node.version != Version::V1_16 {
        return Ok(crate::version::PolicyFormat::PrefixLen);
    }
    Ok(node.policy_format(&map.entries()?))
}

/// The verdict on an already opened policy map.
pub fn verdict_on(
    v: Version,
    map: &Map,
    format: crate::version::PolicyFormat,
    remote_id: u32,
    egress: bool,
    proto: u8,
    dport: u16,
) -> anyhow::Result<policy::Verdict> {
    let mut err = None;
    let mut lookup = |key: &[u8]| -> Option<PolicyEntry> {
        match map.lookup(key) {
            Ok(Some(val)) => PolicyEntry::parse(&val[0], v, format).ok(),
            Ok(None) => None,
            Err(e) => {
                err = Some(e);
                None
            }
        }
    };
    let verdict = policy::verdict(v, &mut lookup, remote_id, egress, proto, dport);
    if let Some(e) = err {
        return Err(e).context("policy lookup");
    }
    Ok(verdict)
}

fn maps_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    // Listing must work even where the release cannot be told (that is when one needs it most).
    let (dir, names, version) = match Node::open(c.bpffs.as_deref(), c.cilium_version) {
        Ok(n) => (
            n.dir.clone(),
            n.names.clone(),
            Some((n.version, n.version_source)),
        ),
        Err(crate::node::Error::UnknownVersion(dir)) => {
            let mut names: Vec<String> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            names.sort();
            (dir, names, None)
        }
        Err(e) => return Err(e.into()),
    };
    let v = version.map(|(v, _)| v);
    let mut rows = Vec::new();
    for name in &names {
        // Perf event arrays carry the agent's event rings: do not even open them.
        if name == "cilium_events" || name == "cilium_signals" {
            rows.push((name.clone(), None));
            continue;
        }
        let path = dir.join(name);
        match Map::open(&path) {
            Ok(m) => {
                let count = if m.info.map_type == map_type::PERF_EVENT_ARRAY
                    || m.info.map_type == map_type::PROG_ARRAY
                {
                    None
                } else {
                    m.entries().ok().map(|e| e.len())
                };
                rows.push((name.clone(), Some((m.info.clone(), count))));
            }
            Err(_) => continue, // not a map (programs, directories)
        }
    }
    if c.output == Format::Json {
        let arr: Vec<Value> = rows
            .iter()
            .map(|(n, i)| match i {
                None => json!({ "name": n, "skipped": "event ring" }),
                Some((i, cnt)) => json!({ "name": n, "type": map_type::name(i.map_type), "key_size": i.key_size,
                    "value_size": i.value_size, "max_entries": i.max_entries, "flags": i.flags, "entries": cnt,
                    "layout": layout_check(v, n, i) }),
            })
            .collect();
        return emit_json(
            out,
            &json!({ "version": v, "version_source": version.map(|(_, s)| s), "dir": dir, "maps": arr }),
        );
    }
    match version {
        Some((v, crate::node::VersionSource::Names)) => writeln!(
            out,
            "Cilium version: {v} (detected from map names and sizes)"
        )?,
        Some((v, crate::node::VersionSource::Override)) => {
            writeln!(out, "Cilium version: {v} (given with --cilium-version)")?
        }
        None => writeln!(
            out,
            "Cilium version: unknown (no cilium_ipcache_v2, cilium_policystats or cilium_policy_* pins; \
             pass --cilium-version to decode)"
        )?,
    }
    writeln!(out, "Maps in {}:", dir.display())?;
    let mut s = String::from("MAP\tTYPE\tKEY\tVALUE\tMAX ENTRIES\tFLAGS\tENTRIES\tLAYOUT\n");
    for (n, i) in &rows {
        match i {
            None => s.push_str(&format!(
                "{n}\tperf_event_array\t-\t-\t-\t-\t(not opened)\t\n"
            )),
            Some((i, cnt)) => s.push_str(&format!(
                "{n}\t{}\t{}\t{}\t{}\t{:#x}\t{}\t{}\n",
                map_type::name(i.map_type),
                i.key_size,
                i.value_size,
                i.max_entries,
                i.flags,
                cnt.map_or("-".to_string(), |c| c.to_string()),
                layout_check(v, n, i)
            )),
        }
    }
    write!(out, "{}", table::layout(&s))?;
    Ok(())
}

/// `ok` when a map we decode has the release's layout, `unexpected (…)` when not, empty for maps we do not decode.
fn layout_check(v: Option<Version>, name: &str, info: &crate::bpf::MapInfo) -> String {
    let Some(v) = v else { return String::new() };
    let kind = MapKind::GLOBAL
        .into_iter()
        .find(|k| k.pin_name(v) == name)
        .or_else(|| {
            crate::version::is_policy_name(name, MapKind::Policy.pin_name(v))
                .then_some(MapKind::Policy)
        });
    let Some(spec) = kind.and_then(|k| k.spec(v)) else {
        return String::new();
    };
    if spec.types.contains(&info.map_type)
        && spec.key == info.key_size
        && spec.value == info.value_size
    {
        "ok".into()
    } else {
        format!(
            "unexpected (want {} {}/{})",
            map_type::name(spec.types[0]),
            spec.key,
            spec.value
        )
    }
}

fn source_ranges_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let mut all = node.decode_all(&[MapKind::Lb4SrcRange, MapKind::Lb6SrcRange], |k, _| {
        crate::misc::SourceRange::parse(k)
    })?;
    all.sort();
    if c.output == Format::Json {
        let arr = all
            .iter()
            .map(|r| json!({ "rev_nat": r.rev_nat, "cidr": format!("{}/{}", r.addr, r.prefix) }))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    // cilium-dbg prints these keys with an empty second title.
    let rows: Vec<_> = all
        .iter()
        .map(|r| (r.text(), vec![String::new()]))
        .collect();
    write!(
        out,
        "{}",
        table::key_value_table("SOURCE RANGE (REVNAT_ID)", "", &rows)
    )?;
    Ok(())
}

fn affinity_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let mut all = node.decode_all(
        &[MapKind::Lb4Affinity, MapKind::Lb6Affinity],
        crate::misc::Affinity::parse,
    )?;
    all.sort_by_key(|a| (a.rev_nat, a.client, a.netns_cookie));
    if c.output == Format::Json {
        return emit_json(out, &Value::Array(all.iter().map(|a| a.json()).collect()));
    }
    let mut s = String::from("CLIENT\tREVNAT_ID\tBACKEND ID\tLAST USED\n");
    for a in &all {
        s.push_str(&a.cells().join("\t"));
        s.push('\n');
    }
    write!(out, "{}", table::layout(&s))?;
    Ok(())
}

fn nodeid_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let all = node.decode_all(&[MapKind::NodeMap], crate::misc::NodeEntry::parse)?;
    let rows = crate::misc::nodeid_rows(&all);
    if c.output == Format::Json {
        let arr = rows
            .iter()
            .map(|r| json!({ "id": r[0], "ips": r[1].split(',').collect::<Vec<_>>(), "spi": r[2] }))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    let mut s = String::from("NODE ID\tIP ADDRESSES\tSPI\n");
    for r in &rows {
        s.push_str(&r.join("\t"));
        s.push('\n');
    }
    write!(out, "{}", table::layout(&s))?;
    Ok(())
}

fn tunnel_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let mut all = node.decode_all(&[MapKind::Tunnel], crate::misc::TunnelEntry::parse)?;
    all.sort_by_key(|t| (t.prefix, t.cluster_id));
    if c.output == Format::Json {
        let arr = all
            .iter()
            .map(|t| json!({ "prefix": t.prefix, "cluster_id": t.cluster_id, "endpoint": t.endpoint, "key": t.key }))
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if all.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let rows: Vec<_> = all
        .iter()
        .map(|t| t.cells())
        .map(|(k, v)| (k, vec![v]))
        .collect();
    write!(out, "{}", table::key_value_table("TUNNEL", "VALUE", &rows))?;
    Ok(())
}

fn auth_cmd(c: &Common, out: &mut dyn Write) -> anyhow::Result<()> {
    let node = c.node()?;
    let mut all = node.decode_all(&[MapKind::Auth], crate::misc::AuthEntry::parse)?;
    all.sort_by_key(|a| (a.local, a.remote, a.remote_node_id, a.auth_type));
    if c.output == Format::Json {
        let arr = all
            .iter()
            .map(|a| {
                json!({ "local_identity": a.local, "remote_identity": a.remote, "remote_node_id": a.remote_node_id,
                        "auth_type": crate::policy::auth_name(a.auth_type), "expiration": crate::misc::rfc3339(a.expiration_ns) })
            })
            .collect();
        return emit_json(out, &Value::Array(arr));
    }
    if all.is_empty() {
        writeln!(out, "No entries found.")?;
        return Ok(());
    }
    let mut s = String::from("SRC IDENTITY\tDST IDENTITY\tREMOTE NODE ID\tAUTH TYPE\tEXPIRATION\n");
    for a in &all {
        s.push_str(&a.cells().join("\t"));
        s.push('\n');
    }
    write!(out, "{}", table::layout(&s))?;
    Ok(())
}
