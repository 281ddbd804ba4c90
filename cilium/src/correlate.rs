//! Puts Cilium's view of a traced packet beside it: identities, service/backend, conntrack, SNAT, and the drop
//! reason Cilium counted.

use crate::clock::Clock;
use crate::drops::{DropDelta, MetricsSnapshot, drop_reason_from_metrics};
use crate::error::Result;
use crate::flow::FlowKey;
use crate::lookup::Maps;
use crate::node::Node;
use crate::version::{PolicyFormat, Version};
use crate::{ct, names, nat};
use event::Annotation;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Flows remembered before the cache is emptied (a trace of a busy node must not grow without bound).
const CACHE_LIMIT: usize = 65536;

/// Opened once on a node's bpffs; annotates trace events per flow.
pub struct Correlator {
    node: Node,
    maps: Maps,
    cache: HashMap<(FlowKey, Option<u32>), Option<Annotation>>,
    /// Backend address → services, for flows socket-LB already translated.
    backend_index: Mutex<Option<(std::time::Instant, BackendIndex)>>,
    /// Endpoint policy maps opened so far (`None`: the endpoint has none).
    policy_maps: Mutex<HashMap<u16, Option<Arc<PolicyMap>>>>,
    clock: Option<Clock>,
}

type BackendIndex = HashMap<(IpAddr, u16, u8), Vec<(String, u32)>>;

struct PolicyMap {
    map: crate::bpf::Map,
    format: PolicyFormat,
}

fn ident_text(addr: &IpAddr, id: Option<u32>, from_mark: bool, ep: Option<u16>) -> String {
    let mut s = addr.to_string();
    match id {
        Some(id) => s.push_str(&format!(" identity {}", names::identity_label(id))),
        None => s.push_str(" identity ?"),
    }
    if from_mark {
        s.push_str(" [from skb mark]");
    }
    if let Some(ep) = ep {
        s.push_str(&format!(" endpoint {ep}"));
    }
    s
}

impl Correlator {
    /// Opens the node's maps (`bpffs` = bpffs root, default from `/proc/self/mountinfo`).
    pub fn open(bpffs: Option<&Path>, version: Option<Version>) -> Result<Correlator> {
        let node = Node::open(bpffs, version)?;
        let maps = Maps::open(&node)?;
        Ok(Correlator {
            node,
            maps,
            cache: HashMap::new(),
            clock: Some(Clock::auto()),
            policy_maps: Default::default(),
            backend_index: Default::default(),
        })
    }

    /// The release the maps were written by.
    pub fn version(&self) -> Version {
        self.node.version
    }

    /// Shows raw CT/NAT timestamps instead of remaining/elapsed seconds (deterministic output for tests).
    pub fn set_clock(&mut self, clock: Option<Clock>) {
        self.clock = clock;
    }

    /// The `cilium_metrics` counters now.
    pub fn metrics_snapshot(&self) -> Result<MetricsSnapshot> {
        Ok(MetricsSnapshot {
            counts: self.node.metrics()?.into_iter().collect(),
        })
    }

    /// Cilium's view of the flow a packet belongs to; looked up once per (flow, mark identity).
    pub fn annotate(&mut self, tuple: &FlowKey, mark: u32) -> Option<Annotation> {
        let mark_id = names::identity_from_mark(mark);
        let key = (tuple.clone(), mark_id);
        if let Some(a) = self.cache.get(&key) {
            return a.clone();
        }
        let a = self.lookup_flow(tuple, mark_id).ok().flatten();
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(key, a.clone());
        a
    }

    /// The verdicts of the source endpoint's egress and the destination endpoint's ingress policy, for endpoints
    /// local to this node.
    fn policy_lines(
        &self,
        flow: &FlowKey,
        src_id: Option<u32>,
        dst: &(IpAddr, u16),
        lines: &mut Vec<String>,
        j: &mut serde_json::Map<String, Value>,
    ) -> Result<()> {
        let m = &self.maps;
        let dst_id = m.ipcache(&dst.0)?.map(|x| x.identity);
        let local = |a: &IpAddr| -> Result<Option<u16>> {
            Ok(m.endpoint(a)?.filter(|e| !e.is_host()).map(|e| e.lxc_id))
        };
        let mut checks = Vec::new();
        if let (Some(ep), Some(remote)) = (local(&flow.saddr)?, dst_id) {
            checks.push((ep, true, remote));
        }
        if let (Some(ep), Some(remote)) = (local(&dst.0)?, src_id) {
            checks.push((ep, false, remote));
        }
        let mut pj = Vec::new();
        for (ep, egress, remote) in checks {
            let Some(pm) = self.policy_map(ep) else {
                continue; // no policy map for this endpoint
            };
            let Ok(verdict) = crate::verdict::verdict_on(
                self.node.version,
                &pm.map,
                pm.format,
                remote,
                egress,
                flow.proto,
                dst.1,
            ) else {
                continue;
            };
            lines.push(format!(
                "cilium policy {} endpoint {ep} {} identity {} {}/{}: {}",
                crate::policy::direction(egress).to_lowercase(),
                if egress { "to" } else { "from" },
                names::identity_label(remote),
                dst.1,
                names::proto(flow.proto),
                verdict.text()
            ));
            let mut vj = verdict.json();
            vj["endpoint"] = ep.into();
            vj["direction"] = crate::policy::direction(egress).into();
            vj["remote_identity"] = remote.into();
            vj["dport"] = dst.1.into();
            pj.push(vj);
        }
        if !pj.is_empty() {
            j.insert("policy".into(), Value::Array(pj));
        }
        Ok(())
    }

    /// Services (`VIP:port/PROTO`) that have `addr:port/proto` as a backend, from an index of the LB maps rebuilt
    /// at most every few seconds.
    fn services_of_backend(&self, addr: &IpAddr, port: u16, proto: u8) -> Vec<(String, u32)> {
        let mut guard = self.backend_index.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = guard
            .as_ref()
            .is_some_and(|(t, _)| t.elapsed() < std::time::Duration::from_secs(5));
        if !fresh {
            *guard = self
                .build_backend_index()
                .ok()
                .map(|i| (std::time::Instant::now(), i));
        }
        let Some((_, index)) = guard.as_ref() else {
            return Vec::new();
        };
        let mut out = index
            .get(&(*addr, port, proto))
            .cloned()
            .unwrap_or_default();
        // Before 1.17 backends carry no protocol.
        if out.is_empty() {
            out = index.get(&(*addr, port, 0)).cloned().unwrap_or_default();
        }
        out
    }

    fn build_backend_index(&self) -> Result<BackendIndex> {
        let v = self.node.version;
        let backends = self.node.backends()?;
        let mut index: BackendIndex = HashMap::new();
        for (k, val) in self.node.services()? {
            if k.slot == 0 {
                continue;
            }
            if let Some(b) = backends.get(&(k.addr.is_ipv6(), val.union)) {
                let master = crate::lb::SvcKey {
                    slot: 0,
                    ..k.clone()
                };
                let name = master.text(v);
                let name = name.trim_end_matches(" (0)").to_string();
                let e = index.entry((b.addr, b.port, b.proto)).or_default();
                if !e.iter().any(|(n, _)| *n == name) {
                    e.push((name, val.union));
                }
            }
        }
        for list in index.values_mut() {
            list.sort();
        }
        Ok(index)
    }

    fn policy_map(&self, ep: u16) -> Option<Arc<PolicyMap>> {
        let mut cache = self.policy_maps.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(ep)
            .or_insert_with(|| {
                let map = self.node.policy_map(ep).ok()?;
                let format = self.node.policy_format(&map).ok()?;
                Some(Arc::new(PolicyMap { map, format }))
            })
            .clone()
    }

    /// The uncached lookups behind [`annotate`](Self::annotate).
    pub fn lookup_flow(&self, flow: &FlowKey, mark_id: Option<u32>) -> Result<Option<Annotation>> {
        let v = self.node.version;
        let m = &self.maps;
        let clock = self.clock.map(|c| c.refreshed());
        let mut lines = Vec::new();
        let mut j = serde_json::Map::new();

        let src_ip = m.ipcache(&flow.saddr)?.map(|x| x.identity);
        let dst_ip = m.ipcache(&flow.daddr)?.map(|x| x.identity);
        let src_id = mark_id.or(src_ip);
        let src_ep = m
            .endpoint(&flow.saddr)?
            .filter(|e| !e.is_host())
            .map(|e| e.lxc_id);
        let dst_ep = m
            .endpoint(&flow.daddr)?
            .filter(|e| !e.is_host())
            .map(|e| e.lxc_id);
        lines.push(format!(
            "cilium src {} -> dst {}",
            ident_text(&flow.saddr, src_id, mark_id.is_some(), src_ep),
            ident_text(&flow.daddr, dst_ip, false, dst_ep)
        ));
        j.insert(
            "src".into(),
            json!({ "addr": flow.saddr, "identity": src_id.map(names::identity_json), "ipcache_identity": src_ip,
                    "mark_identity": mark_id, "endpoint": src_ep }),
        );
        j.insert(
            "dst".into(),
            json!({ "addr": flow.daddr, "identity": dst_ip.map(names::identity_json), "endpoint": dst_ep }),
        );

        let ct_entries = m.ct(flow)?;
        // Policy is enforced on the post-DNAT destination (the selected backend of a service).
        let mut post_dnat = (flow.daddr, flow.dport);
        if let Some(hit) = m.service(&flow.daddr, flow.dport, flow.proto)? {
            // The SVC conntrack entry remembers which backend this connection was given.
            let chosen = ct_entries
                .iter()
                .find(|(k, _)| k.flags & ct::TUPLE_F_SERVICE != 0)
                .map(|(_, e)| e.backend_id as u32);
            let chosen_be =
                chosen.and_then(|id| hit.backends.iter().find(|(_, bid, _)| *bid == id));
            let be_text = match (chosen, chosen_be) {
                (Some(id), Some((slot, _, Some(b)))) => {
                    format!(
                        "backend {id} {} (slot {slot}, {})",
                        crate::wire::host_port(&b.addr, b.port),
                        b.state()
                    )
                }
                (Some(id), _) => format!("backend {id} (not in the service's slots)"),
                (None, _) => "no backend selected yet (no SVC conntrack entry)".into(),
            };
            lines.push(format!(
                "cilium service {} [{}] revnat {} -> {be_text}; {} backends",
                hit.key.text(v),
                hit.value.flags_text(v),
                hit.value.rev_nat,
                hit.backends.len()
            ));
            if let Some((_, _, Some(b))) = chosen_be {
                post_dnat = (b.addr, b.port);
            }
            let mut sj = hit.json(v);
            sj["selected_backend"] = json!(chosen);
            j.insert("service".into(), sj);
        } else {
            // Socket-LB (kube-proxy replacement) already rewrote the VIP at connect(): name the services this
            // destination is a backend of.
            let of = self.services_of_backend(&flow.daddr, flow.dport, flow.proto);
            if !of.is_empty() {
                lines.push(format!(
                    "cilium backend {} of service {}",
                    crate::wire::host_port(&flow.daddr, flow.dport),
                    of.iter()
                        .map(|(svc, id)| format!("{svc} (backend {id})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                j.insert(
                    "backend_of".into(),
                    Value::Array(
                        of.iter()
                            .map(|(svc, id)| json!({ "service": svc, "backend_id": id }))
                            .collect(),
                    ),
                );
            }
        }
        let mut cts = Vec::new();
        for (k, e) in &ct_entries {
            lines.push(format!(
                "cilium ct {}",
                ct::ct_line(k, e, v, clock.as_ref()).trim_end()
            ));
            if e.rev_nat_index != 0
                && k.flags & ct::TUPLE_F_SERVICE == 0
                && let Some(r) = m.revnat(k.daddr.is_ipv6(), e.rev_nat_index)?
            {
                lines.push(format!(
                    "cilium ct revnat {} -> {}",
                    e.rev_nat_index,
                    crate::wire::host_port(&r.addr, r.port)
                ));
            }
            cts.push(json!({ "key": k.json(), "entry": e.json(v, clock.as_ref()) }));
        }
        if !cts.is_empty() {
            j.insert("ct".into(), Value::Array(cts));
        }
        self.policy_lines(flow, src_id, &post_dnat, &mut lines, &mut j)?;
        let nats = m.nat(flow)?;
        let mut nj = Vec::new();
        for (k, e) in &nats {
            lines.push(format!(
                "cilium nat {}",
                nat::nat_line(k, e, clock.as_ref())
            ));
            nj.push(nat::nat_json(k, e, clock.as_ref()));
        }
        if !nj.is_empty() {
            j.insert("nat".into(), Value::Array(nj));
        }
        if src_id.is_none()
            && dst_ip.is_none()
            && ct_entries.is_empty()
            && nats.is_empty()
            && !j.contains_key("service")
        {
            return Ok(None);
        }
        Ok(Some(Annotation {
            name: "cilium".into(),
            lines,
            json: Value::Object(j),
        }))
    }
}

/// Everything the trace loop needs from this crate, per event: Cilium's view of the packet's flow, and for a drop
/// the Cilium drop reason whose counter grew since the previous drop.
pub struct Enricher {
    corr: Correlator,
    last: Option<MetricsSnapshot>,
    /// ifindex → the endpoint on it (annotation), looked up at most every [`ENDPOINT_TTL`].
    endpoints: HashMap<u32, (std::time::Instant, Option<Annotation>)>,
    /// The netns pwru runs in (the host's, where Cilium's lxc devices are).
    own_netns: Option<u32>,
}

/// How long an ifindex → endpoint answer is kept (endpoints come and go on a node).
const ENDPOINT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl Enricher {
    /// `cilium endpoint 1234 on ifindex 7: 10.244.1.5 identity 12345 (…)`: the endpoint whose lxc device is
    /// `ifindex`, if any.
    fn endpoint_on(&mut self, ifindex: u32) -> Option<Annotation> {
        if let Some((at, a)) = self.endpoints.get(&ifindex)
            && at.elapsed() < ENDPOINT_TTL
        {
            return a.clone();
        }
        let eps = self.corr.maps.endpoints_on(ifindex).unwrap_or_default();
        let a = eps.first().map(|(_, info)| {
            let addrs: Vec<String> = eps.iter().map(|(k, _)| k.addr.to_string()).collect();
            Annotation {
                name: "cilium_endpoint".into(),
                lines: vec![format!(
                    "cilium endpoint {} on ifindex {ifindex}: {} identity {}",
                    info.lxc_id,
                    addrs.join(" "),
                    names::identity_label(info.sec_id)
                )],
                json: json!({ "id": info.lxc_id, "ifindex": ifindex, "addresses": addrs,
                              "identity": info.sec_id }),
            }
        });
        if self.endpoints.len() > 4096 {
            self.endpoints.clear();
        }
        self.endpoints
            .insert(ifindex, (std::time::Instant::now(), a.clone()));
        a
    }

    /// Opens the node's maps (`bpffs` root; default from `/proc/self/mountinfo`) and takes the metrics baseline.
    pub fn open(bpffs: Option<&Path>) -> Result<Enricher> {
        use std::os::unix::fs::MetadataExt;
        let corr = Correlator::open(bpffs, None)?;
        let last = corr.metrics_snapshot().ok();
        Ok(Enricher {
            corr,
            last,
            endpoints: HashMap::new(),
            own_netns: std::fs::metadata("/proc/self/ns/net")
                .ok()
                .map(|m| m.ino() as u32),
        })
    }

    /// The correlator behind it.
    pub fn correlator(&mut self) -> &mut Correlator {
        &mut self.corr
    }

    /// Adds the "cilium" annotation (and "cilium_drop" on drop events: the kernel's drops and the drop verdicts
    /// of traced programs; "cilium_endpoint" on the events of tc programs on an endpoint's interface) to `ev`.
    /// Lookup failures leave `ev` as is: a trace must not stop because a map changed under it.
    pub fn enrich(&mut self, ev: &mut event::Event) {
        if let Some(t) = &ev.tuple
            && let Some(a) = self.corr.annotate(&FlowKey::from(t), ev.mark)
        {
            ev.annotations.push(a);
        }
        if ev.func_kind == event::FuncKind::Tc
            && ev.ifindex != 0
            && self.own_netns.is_none_or(|n| n == ev.netns)
            && let Some(a) = self.endpoint_on(ev.ifindex)
        {
            ev.annotations.push(a);
        }
        let dropped = ev.drop_reason.is_some() || ev.verdict.as_ref().is_some_and(|v| v.drop);
        if dropped && let Ok(now) = self.corr.metrics_snapshot() {
            if let Some(before) = &self.last
                && let Some(a) = DropDelta::annotation(&drop_reason_from_metrics(before, &now))
            {
                ev.annotations.push(a);
            }
            self.last = Some(now);
        }
    }
}
