//! The `pwru cilium` commands that answer a question about one flow, service, address or packet instead of
//! listing a map: what the datapath's own lookups find.

use super::Output;
use super::listing::{Listing, Shape};
use super::listings::{self, Cx};
use crate::ct::{CtTuple, TUPLE_F_SERVICE};
use crate::flow::{self, FlowKey};
use crate::ipcache::{IpcacheKey, STATIC_PREFIX};
use crate::lookup::{Maps, lpm_lookup};
use crate::{ct, names, policy};
use serde_json::{Value, json};
use std::net::IpAddr;

/// Whether a CT key belongs to `flow` in either direction, a zero port in `flow` matching any port.
fn ct_matches(k: &CtTuple, flow: &FlowKey) -> bool {
    if k.nexthdr != flow.proto {
        return false;
    }
    let port = |want: u16, got: u16| want == 0 || want == got;
    // Orientation-free view of the key: (client addr, client port, server addr, server port).
    let (a, pa, b, pb) = if k.flags & TUPLE_F_SERVICE != 0 {
        (k.saddr, k.dport, k.daddr, k.sport)
    } else {
        (k.daddr, k.sport, k.saddr, k.dport)
    };
    (a == flow.saddr && b == flow.daddr && port(flow.sport, pa) && port(flow.dport, pb))
        || (a == flow.daddr && b == flow.saddr && port(flow.dport, pa) && port(flow.sport, pb))
}

/// `ct --tuple`: every entry a packet of the flow (either direction) can hit.
pub(super) fn ct(cx: &Cx, tuple: &str) -> anyhow::Result<Output> {
    let node = cx.node;
    let v = node.version;
    let flow = flow::parse_tuple(tuple)?;
    let mut found: Vec<(String, CtTuple, ct::CtEntry)> = Vec::new();
    if flow.sport == 0 || flow.dport == 0 {
        // A port left out (or ICMP, whose echo ID the user rarely knows) matches any: scan.
        for (kind, entries) in node.ct_entries()? {
            let map = kind.pin_name(v).to_string();
            found.extend(
                entries
                    .into_iter()
                    .filter(|(k, _)| ct_matches(k, &flow))
                    .map(|(k, e)| (map.clone(), k, e)),
            );
        }
    } else {
        let maps = Maps::open(node)?;
        let map = maps.ct_kind(&flow).pin_name(v).to_string();
        found.extend(
            maps.ct(&flow)?
                .into_iter()
                .map(|(k, e)| (map.clone(), k, e)),
        );
    }
    found.sort_by_key(|(_, k, _)| listings::ct_order(k));
    let rows = found
        .iter()
        .map(|(map, k, e)| {
            cx.row(
                || [ct::ct_line(k, e, v, cx.clock.as_ref())],
                || listings::ct_json(cx, map, k, e),
            )
        })
        .collect();
    // Like the full listing, the one map's lines end with a blank line.
    let mut l = Listing::new(
        Shape::Lines {
            blank_after_map: true,
        },
        rows,
    );
    l.empty = format!("No conntrack entries for {flow}");
    Ok(Output::Listing(l))
}

/// `nat --tuple`: the mappings of the flow, either direction.
pub(super) fn nat(cx: &Cx, tuple: &str) -> anyhow::Result<Output> {
    let mut all = Maps::open(cx.node)?.nat(&flow::parse_tuple(tuple)?)?;
    all.sort_by_key(|(k, _)| listings::nat_order(k));
    let rows = all
        .iter()
        .map(|(k, e)| listings::nat_row(cx, k, e))
        .collect();
    Ok(Output::Listing(Listing::new(
        Shape::Lines {
            blank_after_map: false,
        },
        rows,
    )))
}

/// `lb VIP:PORT/PROTO`: the service the datapath resolves, its slots and backends.
pub(super) fn service(cx: &Cx, s: &str) -> anyhow::Result<Output> {
    let v = cx.node.version;
    let (ip, port, proto) = flow::parse_service(s)?;
    let hit = Maps::open(cx.node)?.service(&ip, port, proto)?;
    let json =
        json!({ "service": s, "found": hit.is_some(), "hit": hit.as_ref().map(|h| h.json(v)) });
    let Some(hit) = hit else {
        return Ok(Output::Custom {
            text: format!("No service {s}\n"),
            json,
        });
    };
    let mut text = Listing::new(listings::SERVICES.shape, listings::service_rows(&hit, v)).text();
    if let Some(r) = &hit.revnat {
        text.push_str(&format!("RevNAT {} -> {}\n", hit.value.rev_nat, r.text()));
    }
    Ok(Output::Custom { text, json })
}

/// `ipcache IP`: the kernel's longest-prefix match, with the prefix that matched.
pub(super) fn ipcache(cx: &Cx, ip: &IpAddr) -> anyhow::Result<Output> {
    let node = cx.node;
    let v = node.version;
    let all = node.ipcache()?;
    let val = Maps::open(node)?.ipcache(ip)?;
    // The kernel returns only the value; find the prefix it came from in the dump.
    let raw: Vec<(Vec<u8>, usize)> = all
        .iter()
        .enumerate()
        .map(|(i, (k, _))| {
            let mut kb = IpcacheKey::lookup_bytes(&k.addr, k.cluster_id);
            kb[..4].copy_from_slice(&(k.prefix as u32 + STATIC_PREFIX).to_le_bytes());
            (kb, i)
        })
        .collect();
    let prefix = lpm_lookup(&raw, &IpcacheKey::lookup_bytes(ip, 0))
        .map(|&i| &all[i])
        .filter(|(_, pv)| Some(pv) == val.as_ref())
        .map(|(k, _)| k.text());
    let json = json!({ "ip": ip, "prefix": prefix, "value": val.as_ref().map(|x| x.json(v)) });
    let text = match val {
        None => format!("{ip} does not map to any identity\n"),
        Some(val) => {
            let via = prefix.map(|p| format!(" via {p}")).unwrap_or_default();
            let label = names::identity_label(val.identity);
            let label = if label == val.identity.to_string() {
                String::new()
            } else {
                format!(" [{label}]")
            };
            format!("{ip} maps to identity {}{via}{label}\n", val.text(v))
        }
    };
    Ok(Output::Custom { text, json })
}

/// `policy EP --identity N --port P/PROTO [--egress]`: the release's verdict on such a packet.
pub(super) fn verdict(
    cx: &Cx,
    ep: u16,
    id: u32,
    port: &str,
    egress: bool,
) -> anyhow::Result<Output> {
    let node = cx.node;
    let (dport, proto) = flow::parse_port(port)?;
    let map = node.policy_map(ep)?;
    let format = node.policy_format(&map)?;
    let verdict = crate::verdict::verdict_on(node.version, &map, format, id, egress, proto, dport)?;
    let mut json = verdict.json();
    json["endpoint"] = ep.into();
    json["identity"] = names::identity_json(id);
    json["direction"] = policy::direction(egress).into();
    json["port"] = dport.into();
    json["proto"] = names::proto(proto).into();
    let text = format!(
        "Endpoint {ep} {} {} identity {}, {dport}/{}: {}\n",
        policy::direction(egress).to_lowercase(),
        if egress { "to" } else { "from" },
        names::identity_label(id),
        names::proto(proto),
        verdict.text()
    );
    Ok(Output::Custom { text, json })
}

/// `policy EP` or `policy --all`: endpoints' policy maps.
pub(super) fn policies(cx: &Cx, ep: Option<u16>, all: bool) -> anyhow::Result<Output> {
    let node = cx.node;
    let eps = match (all, ep) {
        (true, _) => node.policy_endpoints(),
        (false, Some(ep)) => vec![ep],
        (false, None) => anyhow::bail!("policy: give an endpoint ID or --all"),
    };
    let mut text = String::new();
    let mut js = Vec::new();
    for ep in eps {
        let l = listings::policy(cx, ep)?;
        let path = node.dir.join(node.policy_map_name(ep));
        if all {
            text.push_str(&format!("Endpoint ID: {ep}\nPath: {}\n\n", path.display()));
        }
        text.push_str(&l.text());
        if all {
            text.push_str("\n\n");
        }
        js.push(json!({ "endpoint": ep, "path": path, "entries": l.json() }));
    }
    let json = if all {
        Value::Array(js)
    } else {
        js.pop().unwrap_or(Value::Null)
    };
    Ok(Output::Custom { text, json })
}
