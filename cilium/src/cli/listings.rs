//! What each `pwru cilium` listing shows: per map, its text shape and how an entry becomes a row (cells and
//! JSON), in cilium-dbg's wording and a stable order (cilium-dbg's is random).

use super::Format;
use super::listing::{Listing, Row, Shape};
use crate::clock::Clock;
use crate::ct::{self, CtTuple};
use crate::error::{Error, Result};
use crate::lb::{self, AffinityKey, AffinityValue, SourceRange, SvcKey};
use crate::metrics::Counters;
use crate::node::Node;
use crate::nodeid::{NodeKey, NodeValue};
use crate::policy::{PolicyEntry, PolicyKey};
use crate::tunnel::{TunnelKey, TunnelValue};
use crate::version::MapKind;
use crate::{auth, nat, wire};
use serde_json::json;
use std::net::IpAddr;

/// What a listing reads from the node, and the format it is printed in.
pub(crate) struct Cx<'a> {
    pub node: &'a Node,
    pub clock: Option<Clock>,
    pub format: Format,
}

impl Cx<'_> {
    /// A row with only what the format prints (a large map must not be held twice, as text and as JSON).
    pub(crate) fn row<C: IntoIterator<Item = String>>(
        &self,
        cells: impl FnOnce() -> C,
        json: impl FnOnce() -> serde_json::Value,
    ) -> Row {
        match self.format {
            Format::Text => Row::new(cells(), serde_json::Value::Null),
            Format::Json => Row::new(Vec::new(), json()),
        }
    }
}

/// A listing of one or more of Cilium's maps.
pub(crate) struct Description {
    /// What the maps hold, for "this release has none" (`tunnel`).
    pub what: &'static str,
    pub shape: Shape,
    /// The maps read, in output order. Unpinned ones are skipped, but one at least must be pinned.
    pub maps: &'static [MapKind],
    /// The entries of the pinned maps as sorted rows (`Row::map` indexes the pinned maps).
    pub rows: fn(&Cx) -> Result<Vec<Row>>,
}

impl Description {
    /// Reads the maps into a listing.
    pub(crate) fn list(&self, cx: &Cx) -> Result<Listing> {
        let node = cx.node;
        let v = node.version;
        if self.maps.iter().all(|k| k.spec(v).is_none()) {
            return Err(Error::NotInRelease {
                name: self.what,
                version: v,
            });
        }
        let pinned = self.maps.iter().filter(|k| node.has(k.pin_name(v))).count();
        if pinned == 0 {
            let names: Vec<&str> = self.maps.iter().map(|k| k.pin_name(v)).collect();
            return Err(Error::Missing(names.join(" / "), node.dir.clone()));
        }
        let mut l = Listing::new(self.shape, (self.rows)(cx)?);
        l.maps = pinned;
        Ok(l)
    }
}

/// cilium-dbg keeps this second title for `--backends` and `--revnat` too.
const LB_VALUE_TITLE: &str = "BACKEND ADDRESS (REVNAT_ID) (SLOT)";

pub(crate) const CT: Description = Description {
    what: "conntrack",
    shape: Shape::Lines {
        blank_after_map: true,
    },
    maps: &MapKind::CT,
    rows: ct_rows,
};

fn ct_rows(cx: &Cx) -> Result<Vec<Row>> {
    let v = cx.node.version;
    let mut rows = Vec::new();
    for (i, (kind, mut entries)) in cx.node.ct_entries()?.into_iter().enumerate() {
        entries.sort_by_key(|(k, _)| ct_order(k));
        let map = kind.pin_name(v);
        for (k, e) in entries {
            let mut r = cx.row(
                || [ct::ct_line(&k, &e, v, cx.clock.as_ref())],
                || ct_json(cx, map, &k, &e),
            );
            r.map = i;
            rows.push(r);
        }
    }
    Ok(rows)
}

/// A CT entry of map `map` as JSON.
pub(crate) fn ct_json(cx: &Cx, map: &str, k: &CtTuple, e: &ct::CtEntry) -> serde_json::Value {
    let (v, clock) = (cx.node.version, cx.clock.as_ref());
    json!({ "map": map, "key": k.json(), "entry": e.json(v, clock), "text": ct::ct_line(k, e, v, clock) })
}

/// The order of `bpf ct list`'s lines: by the printed addresses and ports.
pub(crate) fn ct_order(k: &CtTuple) -> (IpAddr, u16, IpAddr, u16, u8, u8) {
    (k.daddr, k.sport, k.saddr, k.dport, k.nexthdr, k.flags)
}

pub(crate) const NAT: Description = Description {
    what: "SNAT",
    shape: Shape::Lines {
        blank_after_map: false,
    },
    maps: &[MapKind::Nat4, MapKind::Nat6],
    rows: |cx| {
        let mut all = cx
            .node
            .dump_pairs(&[MapKind::Nat4, MapKind::Nat6], |k, v| {
                Ok((CtTuple::parse(k)?, nat::NatEntry::parse(v)?))
            })?;
        all.sort_by_key(|(k, _)| nat_order(k));
        Ok(all.iter().map(|(k, e)| nat_row(cx, k, e)).collect())
    },
};

/// The order of `bpf nat list`'s lines (packet orientation).
pub(crate) fn nat_order(k: &CtTuple) -> (IpAddr, u16, IpAddr, u16, u8, u8) {
    (k.saddr, k.sport, k.daddr, k.dport, k.nexthdr, k.flags)
}

pub(crate) fn nat_row(cx: &Cx, k: &CtTuple, e: &nat::NatEntry) -> Row {
    let clock = cx.clock.as_ref();
    cx.row(
        || [nat::nat_line(k, e, clock)],
        || nat::nat_json(k, e, clock),
    )
}

pub(crate) const SERVICES: Description = Description {
    what: "load-balancer",
    shape: Shape::KeyValue("SERVICE ADDRESS", LB_VALUE_TITLE),
    maps: &[MapKind::Lb4Services, MapKind::Lb6Services],
    rows: |cx| {
        let v = cx.node.version;
        let mut svcs = cx.node.services()?;
        svcs.sort_by_key(|(k, _)| (k.addr, k.dport, k.proto, k.scope, k.slot));
        let bes = cx.node.backends()?;
        Ok(svcs
            .iter()
            .map(|(k, val)| {
                let b = (k.slot != 0)
                    .then(|| bes.get(&(k.addr.is_ipv6(), val.union)))
                    .flatten();
                let text = || lb::service_value_text(k, val, b, v);
                let json = || {
                    json!({ "frontend": k.json(), "value": val.json(v), "backend": b.map(|b| b.json(val.union)),
                            "text": format!("{} {}", k.text(v), text()) })
                };
                cx.row(|| [k.text(v), text()], json)
            })
            .collect())
    },
};

pub(crate) const BACKENDS: Description = Description {
    what: "load-balancer backends",
    shape: Shape::KeyValue("ID", LB_VALUE_TITLE),
    maps: &[MapKind::Lb4Backends, MapKind::Lb6Backends],
    rows: |cx| {
        Ok(cx
            .node
            .backends()?
            .iter()
            .map(|((_, id), b)| cx.row(|| [id.to_string(), b.list_text()], || b.json(*id)))
            .collect())
    },
};

pub(crate) const REVNAT: Description = Description {
    what: "reverse-NAT",
    shape: Shape::KeyValue("ID", LB_VALUE_TITLE),
    maps: &[MapKind::Lb4RevNat, MapKind::Lb6RevNat],
    rows: |cx| {
        Ok(cx
            .node
            .revnats()?
            .iter()
            .map(|((_, id), r)| {
                cx.row(
                    || [id.to_string(), r.text()],
                    || json!({"id": id, "addr": r.addr, "port": r.port}),
                )
            })
            .collect())
    },
};

pub(crate) const SOURCE_RANGES: Description = Description {
    what: "LoadBalancerSourceRanges",
    // cilium-dbg prints these keys with an empty second title.
    shape: Shape::KeyValue("SOURCE RANGE (REVNAT_ID)", ""),
    maps: &[MapKind::Lb4SrcRange, MapKind::Lb6SrcRange],
    rows: |cx| {
        let mut all = cx
            .node
            .dump_pairs(&[MapKind::Lb4SrcRange, MapKind::Lb6SrcRange], |k, _| {
                SourceRange::parse(k)
            })?;
        all.sort();
        Ok(all
            .iter()
            .map(|r| cx.row(|| [r.text(), String::new()], || r.json()))
            .collect())
    },
};

pub(crate) const AFFINITY: Description = Description {
    what: "session-affinity",
    shape: Shape::Columns {
        titles: &["CLIENT", "REVNAT_ID", "BACKEND ID", "LAST USED"],
        trailing_tab: false,
    },
    maps: &[MapKind::Lb4Affinity, MapKind::Lb6Affinity],
    rows: |cx| {
        let mut all = cx
            .node
            .dump_pairs(&[MapKind::Lb4Affinity, MapKind::Lb6Affinity], |k, v| {
                Ok((AffinityKey::parse(k)?, AffinityValue::parse(v)?))
            })?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all
            .iter()
            .map(|(k, v)| {
                let cells = || {
                    [
                        k.client_text(),
                        k.rev_nat.to_string(),
                        v.backend_id.to_string(),
                        v.last_used.to_string(),
                    ]
                };
                let json = || {
                    let mut j = k.json();
                    j["backend_id"] = v.backend_id.into();
                    j["last_used"] = v.last_used.into();
                    j
                };
                cx.row(cells, json)
            })
            .collect())
    },
};

pub(crate) const IPCACHE: Description = Description {
    what: "ipcache",
    shape: Shape::KeyValue("IP PREFIX/ADDRESS", "IDENTITY"),
    maps: &[MapKind::Ipcache],
    rows: |cx| {
        let v = cx.node.version;
        let mut all = cx.node.ipcache()?;
        all.sort_by_key(|(k, _)| (k.addr.is_ipv6(), k.addr, k.prefix, k.cluster_id));
        Ok(all
            .iter()
            .map(|(k, val)| {
                cx.row(
                    || [k.text(), val.text(v)],
                    || json!({ "prefix": k.text(), "value": val.json(v) }),
                )
            })
            .collect())
    },
};

pub(crate) const ENDPOINTS: Description = Description {
    what: "endpoint",
    shape: Shape::KeyValue("IP ADDRESS", "LOCAL ENDPOINT INFO"),
    maps: &[MapKind::Lxc],
    rows: |cx| {
        let v = cx.node.version;
        let mut all = cx.node.endpoints()?;
        all.sort_by_key(|(k, _)| (k.addr.is_ipv6(), k.addr, k.cluster_id, k.key));
        Ok(all
            .iter()
            .map(|(k, e)| {
                cx.row(
                    || [k.text(), e.text(v)],
                    || json!({ "key": k.text(), "addr": k.addr, "info": e.json(v) }),
                )
            })
            .collect())
    },
};

pub(crate) const METRICS: Description = Description {
    what: "metrics",
    shape: Shape::Columns {
        titles: &["REASON", "DIRECTION", "PACKETS", "BYTES", "LINE", "FILE"],
        trailing_tab: false,
    },
    maps: &[MapKind::Metrics],
    rows: |cx| {
        let mut all = cx.node.metrics()?;
        // cilium-dbg sorts the printed cells.
        all.sort_by_cached_key(|(k, c)| k.cells(*c));
        Ok(all
            .iter()
            .map(|(k, c)| {
                let json = || {
                    let mut j = k.json();
                    j["packets"] = c.packets.into();
                    j["bytes"] = c.bytes.into();
                    j
                };
                cx.row(|| k.cells(*c), json)
            })
            .collect())
    },
};

pub(crate) const NODE_IDS: Description = Description {
    what: "node ID",
    shape: Shape::Columns {
        titles: &["NODE ID", "IP ADDRESSES", "SPI"],
        trailing_tab: false,
    },
    maps: &[MapKind::NodeMap],
    rows: |cx| {
        let all = cx.node.dump_pairs(&[MapKind::NodeMap], |k, v| {
            Ok((NodeKey::parse(k)?, NodeValue::parse(v)?))
        })?;
        Ok(crate::nodeid::by_node(&all)
            .iter()
            .map(|n| {
                let json = || {
                    json!({ "id": n.node.id, "ips": n.addrs.iter().map(wire::go_ip).collect::<Vec<_>>(),
                            "spi": n.node.spi })
                };
                cx.row(|| n.cells(), json)
            })
            .collect())
    },
};

pub(crate) const TUNNELS: Description = Description {
    what: "tunnel",
    shape: Shape::KeyValue("TUNNEL", "VALUE"),
    maps: &[MapKind::Tunnel],
    rows: |cx| {
        let mut all = cx.node.dump_pairs(&[MapKind::Tunnel], |k, v| {
            Ok((TunnelKey::parse(k)?, TunnelValue::parse(v)?))
        })?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all
            .iter()
            .map(|(k, t)| {
                let json = || {
                    json!({ "prefix": k.prefix, "cluster_id": k.cluster_id, "endpoint": t.endpoint, "key": t.key })
                };
                cx.row(|| [k.text(), t.text()], json)
            })
            .collect())
    },
};

pub(crate) const AUTH: Description = Description {
    what: "auth",
    shape: Shape::Columns {
        titles: &[
            "SRC IDENTITY",
            "DST IDENTITY",
            "REMOTE NODE ID",
            "AUTH TYPE",
            "EXPIRATION",
        ],
        trailing_tab: false,
    },
    maps: &[MapKind::Auth],
    rows: |cx| {
        let mut all = cx.node.dump_pairs(&[MapKind::Auth], |k, v| {
            Ok((auth::AuthKey::parse(k)?, auth::AuthValue::parse(v)?))
        })?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all
            .iter()
            .map(|(k, v)| {
                let json = || {
                    let mut j = k.json();
                    j["expiration"] = auth::rfc3339(v.expiration_ns).into();
                    j
                };
                cx.row(|| auth::cells(k, v), json)
            })
            .collect())
    },
};

/// Columns of `bpf policy get`.
const POLICY_TITLES: &[&str] = &[
    "POLICY",
    "DIRECTION",
    "IDENTITY",
    "PORT/PROTO",
    "PROXY PORT",
    "AUTH TYPE",
    "BYTES",
    "PACKETS",
    "PREFIX",
];

/// Endpoint `ep`'s policy map, rows in cilium-dbg's order: deny first, then direction, then identity (protocol,
/// port and prefix make it total).
pub(crate) fn policy(cx: &Cx, ep: u16) -> Result<Listing> {
    let node = cx.node;
    let stats = node.map(MapKind::PolicyStats)?;
    let (_, mut entries) = node.policy(ep)?;
    entries.sort_by_key(|(k, e)| (!e.deny(), k.egress, k.identity, k.proto, k.dport, k.p));
    let mut rows = Vec::new();
    for (k, e) in &entries {
        let st = node.policy_stats(ep, k, stats.as_ref())?;
        rows.push(cx.row(|| policy_cells(k, e, st), || e.json(k, st)));
    }
    let mut l = Listing::new(
        Shape::Columns {
            titles: POLICY_TITLES,
            trailing_tab: true,
        },
        rows,
    );
    l.empty = "Policy stats empty. Perhaps the policy enforcement is disabled?".into();
    Ok(l)
}

/// One row of `bpf policy get` (cells in cilium-dbg column order).
pub(crate) fn policy_cells(k: &PolicyKey, e: &PolicyEntry, stats: Option<Counters>) -> Vec<String> {
    let (bytes, packets) = match e.counters(stats) {
        Some(c) => (c.bytes.to_string(), c.packets.to_string()),
        None => ("-".into(), "-".into()),
    };
    vec![
        if e.deny() { "Deny" } else { "Allow" }.into(),
        crate::policy::direction(k.egress).into(),
        k.identity.to_string(),
        k.port_text(e),
        if e.proxy_port == 0 {
            "NONE".into()
        } else {
            e.proxy_port.to_string()
        },
        crate::names::auth_type(e.auth_type()),
        bytes,
        packets,
        k.p.to_string(),
    ]
}

/// The rows of one service's `bpf lb list` table: its master entry and every slot with its backend.
pub(crate) fn service_rows(
    hit: &crate::lookup::ServiceHit,
    v: crate::version::Version,
) -> Vec<Row> {
    let mut rows = vec![Row::new(
        [
            hit.key.text(v),
            lb::service_value_text(&hit.key, &hit.value, None, v),
        ],
        json!(null),
    )];
    for (slot, id, b) in &hit.backends {
        let key = SvcKey {
            slot: *slot,
            ..hit.key.clone()
        };
        let val = lb::SvcValue {
            union: *id,
            ..hit.value.clone()
        };
        rows.push(Row::new(
            [
                key.text(v),
                lb::service_value_text(&key, &val, b.as_ref(), v),
            ],
            json!(null),
        ));
    }
    rows
}
