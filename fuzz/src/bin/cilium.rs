//! Cilium's map decoders through their public entry point, `cilium::entry::decode` (by map name, as
//! `--output-bpfmap` will use it), and what shows a decoded entry: text, JSON, and conntrack/NAT lines against any
//! clock. Input: selector (which map name), release, key length, flags, then the key, the value, and (last 8 bytes)
//! the clock's reading.

use cilium::Version;
use cilium::clock::Clock;
use cilium::ct::ct_line;
use cilium::entry::{Decoded, decode};
use cilium::nat::{nat_json, nat_line};
use cilium::version::MapKind;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let [sel, rel, klen, flags, rest @ ..] = data else {
            return;
        };
        let v = Version::ALL[*rel as usize % Version::ALL.len()];
        let kinds = MapKind::GLOBAL;
        let name = match *sel as usize {
            s if s < kinds.len() => kinds[s].pin_name(v).to_string(),
            s if s < 2 * kinds.len() => kinds[s - kinds.len()].pin_name(v)[..]
                .chars()
                .take(15)
                .collect(),
            s if s % 2 == 0 => format!("cilium_policy_v2_{:05}", s),
            _ => String::from_utf8_lossy(rest.get(..16).unwrap_or(rest)).into_owned(),
        };
        let (key, value) = rest.split_at((*klen as usize).min(rest.len()));
        let value = (flags & 1 == 0).then_some(value);
        let now = rest.last_chunk::<8>().map_or(0, |b| u64::from_le_bytes(*b));
        let hz = [
            None,
            Some(0),
            Some(100),
            Some(250),
            Some(1000),
            Some(u64::MAX),
        ][(flags >> 1) as usize % 6];
        let clock = Clock { now, hz };
        let Some(Ok(e)) = decode(&name, key, value, v) else {
            return;
        };
        let _ = (e.to_string(), e.key_text(), e.value_text(), e.json());
        match &e.decoded {
            Decoded::Ct(t, Some(ct)) => {
                for c in [None, Some(&clock)] {
                    let _ = (ct_line(t, ct, v, c), ct.json(v, c), ct.text(v, c));
                }
            }
            Decoded::Nat(t, Some(nat)) => {
                for c in [None, Some(&clock)] {
                    let _ = (nat_line(t, nat, c), nat_json(t, nat, c), nat.text(t, c));
                }
            }
            _ => {}
        }
    });
}
