//! Cilium's map decoders and how their entries are shown (text and JSON), per Cilium release.
//! Input: a selector byte (which decoder), a release byte, a key length byte, then the key and the value.

use cilium::Version;
use cilium::clock::Clock;
use cilium::ct::{CtEntry, CtTuple, NatEntry, ct_line, nat_json, nat_line};
use cilium::endpoint::{EndpointInfo, EndpointKey};
use cilium::ipcache::{IpcacheKey, IpcacheValue};
use cilium::lb::{Backend, RevNat, SvcKey, SvcValue, backend_key, revnat_key, service_value_text};
use cilium::metrics::{MetricsKey, sum_per_cpu};
use cilium::misc::{
    Affinity, AuthEntry, NodeEntry, SourceRange, TunnelEntry, nodeid_rows, rfc3339,
};
use cilium::policy::{PolicyEntry, PolicyKey, detect_format, entry_json, row_cells};
use cilium::version::PolicyFormat;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let [sel, rel, klen, rest @ ..] = data else {
            return;
        };
        let v = [Version::V1_16, Version::V1_17, Version::V1_18][*rel as usize % 3];
        let (k, val) = rest.split_at((*klen as usize).min(rest.len()));
        // Clocks as a node has them: ktime seconds since boot, or jiffies >> 8 at a common HZ.
        let hz = [None, Some(100), Some(250), Some(1000)][(*rel as usize / 3) % 4];
        let clock = Clock {
            now: u64::from(*klen) * 86_400,
            hz,
        };
        let clocks = [None, Some(&clock)];
        match sel % 12 {
            0 => {
                if let Ok(t) = CtTuple::parse(k) {
                    let _ = (t.ct_text(), t.nat_text(), t.json());
                    assert_eq!(CtTuple::parse(&t.to_bytes()).ok().as_ref(), Some(&t));
                    if let Ok(e) = CtEntry::parse(val) {
                        for c in clocks {
                            let _ = (ct_line(&t, &e, v, c), e.json(v, c));
                        }
                    }
                    if let Ok(e) = NatEntry::parse(val) {
                        for c in clocks {
                            let _ = (nat_line(&t, &e, c), nat_json(&t, &e, c));
                        }
                    }
                }
            }
            1 => {
                if let Ok(e) = CtEntry::parse(val) {
                    let _ = (e.flag_names(), e.flags_text());
                    for c in clocks {
                        let _ = e.text(v, c);
                    }
                }
            }
            2 => {
                if let (Ok(key), Ok(sv)) = (SvcKey::parse(k), SvcValue::parse(val, v)) {
                    assert_eq!(SvcKey::parse(&key.to_bytes()).ok().as_ref(), Some(&key));
                    let _ = (
                        key.text(v),
                        sv.flags_text(v),
                        sv.json(v),
                        sv.is_l7lb(),
                        sv.all_flags(),
                    );
                    let be = Backend::parse(val).ok();
                    let _ = service_value_text(&key, &sv, be.as_ref(), v);
                    let _ = service_value_text(&key, &sv, None, v);
                }
            }
            3 => {
                if let Ok(b) = Backend::parse(val) {
                    let _ = (
                        b.state(),
                        b.list_text(),
                        b.json(backend_key(k).unwrap_or(0)),
                    );
                }
                let _ = (RevNat::parse(val), revnat_key(k));
            }
            4 => {
                if let Ok(key) = IpcacheKey::parse(k) {
                    let _ = key.text();
                }
                if let Ok(iv) = IpcacheValue::parse(val, v) {
                    let _ = (iv.flag_names(v), iv.text(v), iv.json(v));
                }
            }
            5 => {
                if let Ok(key) = EndpointKey::parse(k) {
                    let _ = key.text();
                }
                if let Ok(ep) = EndpointInfo::parse(val, v) {
                    let _ = (ep.is_host(), ep.text(v), ep.json(v));
                }
            }
            6 => {
                if let Ok(key) = PolicyKey::parse(k) {
                    let _ = detect_format(&[(key.clone(), val.first().copied().unwrap_or(0))]);
                    for f in [PolicyFormat::Wildcard, PolicyFormat::PrefixLen] {
                        if let Ok(e) = PolicyEntry::parse(val, v, f) {
                            let _ = (
                                key.port_text(&e),
                                key.json(),
                                e.lpm_prefix_length(),
                                e.has_explicit_auth(),
                            );
                            let _ = (
                                row_cells(&key, &e, None),
                                row_cells(&key, &e, Some((u64::MAX, 1))),
                            );
                            let _ = entry_json(&key, &e, Some((1, u64::MAX)));
                        }
                    }
                }
            }
            7 => {
                if let Ok(m) = MetricsKey::parse(k) {
                    let _ = (m.is_drop(), m.cells(u64::MAX, 0), m.json(1, u64::MAX));
                }
                let per_cpu: Vec<Vec<u8>> = val.chunks(16).map(<[u8]>::to_vec).collect();
                let _ = sum_per_cpu(&per_cpu);
            }
            8 => {
                if let Ok(n) = NodeEntry::parse(k, val) {
                    let _ = nodeid_rows(&[n]);
                }
                if let Ok(t) = TunnelEntry::parse(k, val) {
                    let _ = t.cells();
                }
            }
            9 => {
                if let Ok(a) = AuthEntry::parse(k, val) {
                    let _ = a.cells();
                }
                if val.len() >= 8 {
                    let _ = rfc3339(u64::from_le_bytes(val[..8].try_into().unwrap()));
                }
            }
            10 => {
                if let Ok(s) = SourceRange::parse(k) {
                    let _ = s.text();
                }
                if let Ok(a) = Affinity::parse(k, val) {
                    let _ = (a.cells(), a.json());
                }
            }
            _ => {
                let _ = cilium::flow::parse_tuple(&String::from_utf8_lossy(rest));
                let _ = cilium::flow::parse_service(&String::from_utf8_lossy(rest));
            }
        }
    });
}
