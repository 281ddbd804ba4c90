//! Byte images of every decoded entry kind, per Cilium release, against the text cilium-dbg prints for them.
//! The images were built from the C struct layouts (cilium-maps.md §1) independently of our decoders.

use crate::cli::listings::policy_cells;
use crate::clock::Clock;
use crate::ct::{self, CtEntry, CtTuple};
use crate::endpoint::{EndpointInfo, EndpointKey};
use crate::ipcache::{IpcacheKey, IpcacheValue};
use crate::lb::{self, Backend, RevNat, SvcKey, SvcValue};
use crate::lookup::lpm_lookup;
use crate::metrics::{Counters, MetricsKey};
use crate::nat::{self, NatEntry};
use crate::policy::{self, PolicyEntry, PolicyKey};
use crate::verdict;
use crate::version::{PolicyFormat, Version::*};

fn x(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const CT4_KEY: &str = "0af401050af402071f90a8ca0600";
const CT_ENTRY: &str = "000000000000000000000000000000000500000000000000a401000000000000e80300001300000007001b1239300000de030000e3030000";
const CT6_KEY: &str =
    "2a0023c80bcb5101cce4dbf7095733a4fd85ee78d8a686070000000000010fe51f40b8780601";
const CT6_ENTRY: &str = "0000000000000000000000000000000000000000000000000000000000000000d64f95011300000000001b1b0a000000d24f9501d24f9501";
const CTSVC_KEY: &str = "0a60000a0af40105a8ca00351104";
const CTSVC_ENTRY: &str = "0000000000000000030000000000000001000000000000003c00000000000000f40100000000000500000000393000000000000000000000";
const CTREL_KEY: &str = "0a0000010a000002000000000102";
const NAT_OUT_KEY: &str = "010101010af4010501bb9c400600";
const NAT_OUT_VAL: &str =
    "6400000000000000010000000000000000000000000000000000000000000000c0a8010a9c400000";
const NAT_IN_KEY: &str = "c0a8010a010101019c4001bb0601";
const NAT_IN_VAL: &str =
    "64000000000000000100000000000000000000000000000000000000000000000af401059c400000";
const NAT6_KEY: &str =
    "20010db8000000000000000000000001fd000000000000000000000000000005003514e91100";
const NAT6_VAL: &str = "6400000000000000000000000000000000000000000000000000000000000000fd0000000000000000000000000001001770000000000000";
const SVC_MASTER_KEY: &str = "0a60000a0035000011000000";
const SVC_MASTER_VAL: &str = "000000000200000540000000";
const SVC_SLOT_KEY: &str = "0a60000a0035010011000000";
const SVC_SLOT_VAL: &str = "030000000000000500000000";
const SVC_NP_KEY: &str = "000000007580000006010000";
const SVC_NP_VAL: &str = "000000000100000706000000";
const SVC_L7_VAL: &str = "271000000100000840040000";
const SVC6_KEY: &str = "fd0000000000000000000000000000100050000006000000";
const BACKEND4: &str = "0af402070035110000000000";
const BACKEND6: &str = "fd0000000000000000000000000000071f90060102000300";
const REVNAT4: &str = "0a60000a0035";
const IPC_KEY: &str = "40000000000000010a000004000000000000000000000000";
const IPC_WORLD_KEY: &str = "200000000000000100000000000000000000000000000000";
const IPC_V1_VAL: &str = "e8f100000000000000000000";
const IPC_V1_TUN: &str = "e8f10000c0a8010200000001";
const IPC_V2_VAL: &str = "06000000c0a8010200000000000000000000000000000002";
const IPC_V2_VAL6: &str = "06000000fd00000000000000000000000000000200000306";
const IPC6_KEY: &str = "6000000003000002fd000010024400000000000000000000";
const EP_KEY: &str = "0af4010500000000000000000000000001000000";
const EP_VAL16: &str = "0c0000000000d20400000000000000000a1b2c3d4e5f0000aabbccddeeff000039300000000000000000000000000000";
const EP_VAL17: &str = "0c0000000000d20400000000000000000a1b2c3d4e5f0000aabbccddeeff000039300000030000000000000000000000";
const EP_HOST: &str = "000000000000000001000000000000000000000000000000000000000000000000000000000000000000000000000000";
const POL_FULL_KEY: &str = "400000003930000000060050";
const POL_FULL_17: &str = "0000c000000000000a00000000000000e803000000000000";
const POL_DENY_KEY: &str = "280000000200000000000000";
const POL_DENY_17: &str = "000001000000000000000000000000000000000000000000";
const POL_RANGE_KEY: &str = "3f0000000000000001060050";
const POL_RANGE_18: &str = "3a99b88100000000";
const POL_PROTO_KEY: &str = "300000000700000001110000";
const POL_OLD_PROTO: &str = "000004000000000001000000000000000200000000000000";
const MET_KEY: &str = "8501d20402000000";
const MET_CPU0: &str = "0200000000000000a800000000000000";
const MET_CPU1: &str = "01000000000000005400000000000000";

#[test]
fn ct_v4_out_per_version() {
    let k = CtTuple::parse(&x(CT4_KEY)).unwrap();
    let e = CtEntry::parse(&x(CT_ENTRY)).unwrap();
    let base = "TCP OUT 10.244.1.5:43210 -> 10.244.2.7:8080 expires=1000 Packets=5 Bytes=420 RxFlagsSeen=0x12 \
                LastRxReport=995 TxFlagsSeen=0x1b LastTxReport=990 Flags=0x0013 [ RxClosing TxClosing SeenNonSyn ] \
                RevNAT=0 SourceSecurityID=12345 ";
    for v in [V1_16, V1_17] {
        assert_eq!(
            ct::ct_line(&k, &e, v, None),
            format!("{base}IfIndex=7 BackendID=0 ")
        );
    }
    assert_eq!(
        ct::ct_line(&k, &e, V1_18, None),
        format!("{base}BackendID=0 ")
    );
    let clock = Clock { now: 970, hz: None };
    assert!(
        ct::ct_line(&k, &e, V1_18, Some(&clock))
            .contains("expires=1000 (remaining: 30 sec(s)) Packets=5")
    );
    assert_eq!(k.to_bytes(), x(CT4_KEY));
}

#[test]
fn ct_v6_in_issue_40820() {
    let k = CtTuple::parse(&x(CT6_KEY)).unwrap();
    let e = CtEntry::parse(&x(CT6_ENTRY)).unwrap();
    assert_eq!(
        ct::ct_line(&k, &e, V1_18, None),
        "TCP IN 2a00:23c8:bcb:5101:cce4:dbf7:957:33a4:47224 -> fd85:ee78:d8a6:8607::1:fe5:8000 expires=26562518 \
         Packets=0 Bytes=0 RxFlagsSeen=0x1b LastRxReport=26562514 TxFlagsSeen=0x1b LastTxReport=26562514 \
         Flags=0x0013 [ RxClosing TxClosing SeenNonSyn ] RevNAT=0 SourceSecurityID=10 BackendID=0 "
    );
}

#[test]
fn ct_service_and_related() {
    let k = CtTuple::parse(&x(CTSVC_KEY)).unwrap();
    let e = CtEntry::parse(&x(CTSVC_ENTRY)).unwrap();
    assert_eq!(
        ct::ct_line(&k, &e, V1_17, None),
        "UDP SVC 10.244.1.5:43210 -> 10.96.0.10:53 expires=500 Packets=1 Bytes=60 RxFlagsSeen=0x00 LastRxReport=0 \
         TxFlagsSeen=0x00 LastTxReport=0 Flags=0x0000 [ ] RevNAT=5 SourceSecurityID=12345 IfIndex=0 BackendID=3 "
    );
    let r = CtTuple::parse(&x(CTREL_KEY)).unwrap();
    assert_eq!(r.ct_text(), "ICMP OUT 10.0.0.1:0 -> 10.0.0.2:0 related ");
    let mut unknown = e.clone();
    unknown.flags = 0x8001;
    assert_eq!(
        unknown.flags_text(),
        "Flags=0x8001 [ RxClosing Unknown=0x8000 ]"
    );
}

#[test]
fn nat_entries() {
    let clock = Clock { now: 112, hz: None };
    let (k, v) = (
        CtTuple::parse(&x(NAT_OUT_KEY)).unwrap(),
        NatEntry::parse(&x(NAT_OUT_VAL)).unwrap(),
    );
    assert_eq!(
        nat::nat_line(&k, &v, Some(&clock)),
        "TCP OUT 10.244.1.5:40000 -> 1.1.1.1:443 XLATE_SRC 192.168.1.10:40000 Created=12sec ago NeedsCT=1"
    );
    let (k, v) = (
        CtTuple::parse(&x(NAT_IN_KEY)).unwrap(),
        NatEntry::parse(&x(NAT_IN_VAL)).unwrap(),
    );
    assert_eq!(
        nat::nat_line(&k, &v, Some(&clock)),
        "TCP IN 1.1.1.1:443 -> 192.168.1.10:40000 XLATE_DST 10.244.1.5:40000 Created=12sec ago NeedsCT=1"
    );
    let (k, v) = (
        CtTuple::parse(&x(NAT6_KEY)).unwrap(),
        NatEntry::parse(&x(NAT6_VAL)).unwrap(),
    );
    assert_eq!(
        nat::nat_line(&k, &v, None),
        "UDP OUT [fd00::5]:5353 -> [2001:db8::1]:53 XLATE_SRC [fd00::100]:6000 Created=100 NeedsCT=0"
    );
}

#[test]
fn lb_entries_per_version() {
    let mk = SvcKey::parse(&x(SVC_MASTER_KEY)).unwrap();
    let sk = SvcKey::parse(&x(SVC_SLOT_KEY)).unwrap();
    let be = Backend::parse(&x(BACKEND4)).unwrap();
    for (v, key, slot, slotval) in [
        (
            V1_16,
            "10.96.0.10:53 (0)",
            "10.96.0.10:53 (1)",
            "10.244.2.7:53 (5) (1)",
        ),
        (
            V1_17,
            "10.96.0.10:53/UDP (0)",
            "10.96.0.10:53/UDP (1)",
            "10.244.2.7:53/UDP (5) (1)",
        ),
        (
            V1_18,
            "10.96.0.10:53/UDP (0)",
            "10.96.0.10:53/UDP (1)",
            "10.244.2.7:53/UDP (5) (1)",
        ),
    ] {
        let mv = SvcValue::parse(&x(SVC_MASTER_VAL), v).unwrap();
        let sv = SvcValue::parse(&x(SVC_SLOT_VAL), v).unwrap();
        assert_eq!(mk.text(v), key);
        assert_eq!(
            lb::service_value_text(&mk, &mv, None, v),
            "0.0.0.0:0 (5) (0) [ClusterIP] "
        );
        assert_eq!(sk.text(v), slot);
        assert_eq!(lb::service_value_text(&sk, &sv, Some(&be), v), slotval);
        assert_eq!(
            lb::service_value_text(&sk, &sv, None, v),
            "backend 3 not found"
        );
    }
    let npk = SvcKey::parse(&x(SVC_NP_KEY)).unwrap();
    let npv = SvcValue::parse(&x(SVC_NP_VAL), V1_17).unwrap();
    assert_eq!(npk.text(V1_17), "0.0.0.0:30080/TCP/i (0)");
    assert_eq!(
        lb::service_value_text(&npk, &npv, None, V1_17),
        "0.0.0.0:0 (7) (0) [NodePort, Local, non-routable] "
    );
    let l7 = SvcValue::parse(&x(SVC_L7_VAL), V1_17).unwrap();
    assert_eq!(
        lb::service_value_text(&mk, &l7, None, V1_17),
        "0.0.0.0:0 (8) (0) [ClusterIP, l7-load-balancer] (L7LB Proxy Port: 10000)"
    );
    let k6 = SvcKey::parse(&x(SVC6_KEY)).unwrap();
    assert_eq!(k6.text(V1_18), "[fd00::10]:80/TCP (0)");
    assert_eq!(
        lb::service_value_text(&k6, &l7, None, V1_16),
        "[::]:0 (8) (0) [ClusterIP, l7-load-balancer] (L7LB Proxy Port: 10000)"
    );
    assert_eq!(be.list_text(), "UDP://10.244.2.7");
    let b6 = Backend::parse(&x(BACKEND6)).unwrap();
    assert_eq!(b6.list_text(), "TCP://fd00::7@2[3]");
    assert_eq!(b6.state(), "terminating");
    assert_eq!(
        RevNat::parse(&x(REVNAT4)).unwrap(),
        RevNat {
            addr: "10.96.0.10".parse().unwrap(),
            port: 53
        }
    );
    assert_eq!(lb::revnat_key(&[0, 5]).unwrap(), 5);
    assert_eq!(mk.to_bytes(), x(SVC_MASTER_KEY));
}

#[test]
fn ipcache_entries_per_version() {
    // cilium/cilium#18817: key 40 00 00 00 00 00 00 01 0a 00 00 04…, value e8 f1 00 00… = 10.0.0.4/32 → 61928.
    let k = IpcacheKey::parse(&x(IPC_KEY)).unwrap();
    assert_eq!(k.text(), "10.0.0.4/32");
    assert_eq!(
        IpcacheValue::parse(&x(IPC_V1_VAL), V1_16)
            .unwrap()
            .text(V1_16),
        "identity=61928 encryptkey=0 tunnelendpoint=0.0.0.0, flags=<none>"
    );
    assert_eq!(
        IpcacheValue::parse(&x(IPC_V1_TUN), V1_17)
            .unwrap()
            .text(V1_17),
        "identity=61928 encryptkey=0 tunnelendpoint=192.168.1.2 flags=skiptunnel"
    );
    assert_eq!(
        IpcacheValue::parse(&x(IPC_V2_VAL), V1_18)
            .unwrap()
            .text(V1_18),
        "identity=6 encryptkey=0 tunnelendpoint=192.168.1.2 flags=hastunnel"
    );
    assert_eq!(
        IpcacheValue::parse(&x(IPC_V2_VAL6), V1_18)
            .unwrap()
            .text(V1_18),
        "identity=6 encryptkey=3 tunnelendpoint=fd00::2 flags=hastunnel,ipv6tunnel"
    );
    assert_eq!(
        IpcacheKey::parse(&x(IPC_WORLD_KEY)).unwrap().text(),
        "0.0.0.0/0"
    );
    assert_eq!(
        IpcacheKey::parse(&x(IPC6_KEY)).unwrap().text(),
        "fd00:10:244::/64@3"
    );
    // A 1.18 value where a 1.17 one is expected is refused, not misread.
    let e = IpcacheValue::parse(&x(IPC_V2_VAL), V1_17).unwrap_err();
    assert_eq!(e.to_string(), "ipcache value: 24 bytes, expected 12");
}

#[test]
fn endpoint_entries_per_version() {
    let k = EndpointKey::parse(&x(EP_KEY)).unwrap();
    assert_eq!(k.text(), "10.244.1.5:0");
    assert_eq!(EndpointKey::lookup_bytes(&k.addr), x(EP_KEY));
    let v16 = EndpointInfo::parse(&x(EP_VAL16), V1_16).unwrap();
    assert_eq!(
        v16.text(V1_16),
        "id=1234  sec_id=12345 flags=0x0000 ifindex=12  mac=0A:1B:2C:3D:4E:5F nodemac=AA:BB:CC:DD:EE:FF"
    );
    let v17 = EndpointInfo::parse(&x(EP_VAL17), V1_17).unwrap();
    assert_eq!(
        v17.text(V1_17),
        "id=1234  sec_id=12345 flags=0x0000 ifindex=12  mac=0A:1B:2C:3D:4E:5F nodemac=AA:BB:CC:DD:EE:FF parent_ifindex=3  "
    );
    assert_eq!(
        EndpointInfo::parse(&x(EP_VAL17), V1_18)
            .unwrap()
            .text(V1_18),
        v17.text(V1_17)
    );
    assert_eq!(
        EndpointInfo::parse(&x(EP_HOST), V1_18).unwrap().text(V1_18),
        "(localhost)"
    );
}

#[test]
fn policy_entries_per_version() {
    let fk = PolicyKey::parse(&x(POL_FULL_KEY)).unwrap();
    let fe = PolicyEntry::parse(&x(POL_FULL_17), V1_17, PolicyFormat::PrefixLen).unwrap();
    assert_eq!(
        policy_cells(&fk, &fe, None),
        [
            "Allow", "Ingress", "12345", "80/TCP", "NONE", "disabled", "1000", "10", "24"
        ]
    );
    let dk = PolicyKey::parse(&x(POL_DENY_KEY)).unwrap();
    let de = PolicyEntry::parse(&x(POL_DENY_17), V1_16, PolicyFormat::PrefixLen).unwrap();
    assert_eq!(
        policy_cells(&dk, &de, None),
        [
            "Deny", "Ingress", "2", "ANY", "NONE", "disabled", "0", "0", "0"
        ]
    );
    let rk = PolicyKey::parse(&x(POL_RANGE_KEY)).unwrap();
    let re = PolicyEntry::parse(&x(POL_RANGE_18), V1_18, PolicyFormat::PrefixLen).unwrap();
    assert_eq!(
        policy_cells(&rk, &re, None),
        [
            "Allow",
            "Egress",
            "0",
            "80-81/TCP",
            "15001",
            "spire",
            "-",
            "-",
            "23"
        ]
    );
    assert_eq!(
        policy_cells(
            &rk,
            &re,
            Some(Counters {
                packets: 4,
                bytes: 400
            })
        )[6..8],
        ["400", "4"]
    );
    assert!(re.has_explicit_auth());
    // 1.16.0–3 layout: "protocol only" is a wildcard bit, not a prefix length.
    let pk = PolicyKey::parse(&x(POL_PROTO_KEY)).unwrap();
    let old = PolicyEntry::parse(&x(POL_OLD_PROTO), V1_16, PolicyFormat::Wildcard).unwrap();
    assert_eq!(
        policy_cells(&pk, &old, None),
        [
            "Allow", "Egress", "7", "UDP", "NONE", "disabled", "2", "1", "8"
        ]
    );
    assert_eq!(
        policy::detect_format(&[(pk.clone(), old.flags)]),
        PolicyFormat::Wildcard
    );
    assert_eq!(
        policy::detect_format(&[(fk.clone(), fe.flags), (dk.clone(), de.flags)]),
        PolicyFormat::PrefixLen
    );
    // An 8-byte 1.18 entry in a 1.17 map is a layout error.
    assert!(PolicyEntry::parse(&x(POL_RANGE_18), V1_17, PolicyFormat::PrefixLen).is_err());
}

#[test]
fn metrics_entry() {
    let k = MetricsKey::parse(&x(MET_KEY)).unwrap();
    let c = Counters::sum(&[x(MET_CPU0), x(MET_CPU1)]).unwrap();
    assert_eq!(
        k.cells(c),
        ["Policy denied", "INGRESS", "3", "252", "1234", "bpf_lxc.c"].map(String::from)
    );
    assert!(k.is_drop());
}

/// The verdict algorithms of each release on the same map contents, with the userspace LPM.
#[test]
fn policy_verdicts() {
    use crate::version::Version;
    let entry = |v: Version, flags: u8, auth: u8, prio: u8, proxy: u16| {
        let mut b = proxy.to_be_bytes().to_vec();
        b.extend([flags, auth, prio, 0, 0, 0]);
        if v != V1_18 {
            b.extend([0u8; 16]);
        }
        b
    };
    let key = |plen: u32, id: u32, eg: u8, proto: u8, port: u16| {
        let mut b = plen.to_le_bytes().to_vec();
        b.extend(id.to_le_bytes());
        b.extend([eg, proto]);
        b.extend(port.to_be_bytes());
        b
    };
    for v in [V1_17, V1_18] {
        let fmt = PolicyFormat::PrefixLen;
        let map: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (key(64, 100, 0, 6, 80), entry(v, 24 << 3, 0, 0, 0)), // id 100 → 80/TCP allow
            (key(40, 200, 0, 0, 0), entry(v, 1, 0, 0, 0)),        // id 200 deny all
            (key(48, 0, 0, 6, 0), entry(v, 8 << 3, 0, 0, 0)),     // any → TCP allow (L4-only)
            (key(64, 300, 0, 6, 443), entry(v, 24 << 3, 0x80 | 1, 0, 0)), // id 300 → 443 with spire auth
            (key(64, 0, 0, 6, 8080), entry(v, 24 << 3, 0, 1, 15000)), // any → 8080 via proxy, higher priority
            (key(64, 100, 0, 6, 8080), entry(v, 24 << 3, 0, 0, 0)),
        ];
        let mut lookup =
            |k: &[u8]| lpm_lookup(&map, k).map(|e| PolicyEntry::parse(e, v, fmt).unwrap());
        let vd = |l: &mut dyn FnMut(&[u8]) -> Option<PolicyEntry>, id, proto, port| {
            verdict::verdict(v, l, id, false, proto, port)
        };
        assert_eq!(vd(&mut lookup, 100, 6, 80).drop, None);
        assert_eq!(vd(&mut lookup, 200, 6, 80).drop, Some(181));
        assert_eq!(vd(&mut lookup, 999, 6, 22).drop, None, "L4-only TCP allow");
        assert_eq!(vd(&mut lookup, 999, 17, 53).drop, Some(133));
        let a = vd(&mut lookup, 300, 6, 443);
        assert_eq!((a.drop, a.auth_type), (Some(189), 1));
        assert_eq!(vd(&mut lookup, 100, 6, 80).match_type(), Some("L3_L4"));
        assert_eq!(vd(&mut lookup, 200, 6, 80).match_type(), Some("L3_ONLY"));
        assert_eq!(vd(&mut lookup, 999, 6, 22).match_type(), Some("PROTO_ONLY"));
        assert_eq!(vd(&mut lookup, 999, 17, 53).match_type(), None);
        let p = vd(&mut lookup, 100, 6, 8080);
        assert_eq!(p.match_type(), Some("L4_ONLY"));
        assert_eq!(
            (p.drop, p.proxy_port),
            (None, 15000),
            "higher proxy-port priority L4-only entry wins"
        );
        assert_eq!(
            vd(&mut lookup, 300, 6, 80).drop,
            None,
            "300 has only 443; the L4-only TCP entry allows 80"
        );
    }
    // 1.16.0–3 wildcard scheme: identity/proto/* loses to ANY/proto/port.
    let v = V1_16;
    let map: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (key(48, 100, 0, 6, 0), entry(v, 1 | 4, 0, 0, 0)), // id 100 TCP deny (wildcard port)
        (key(64, 0, 0, 6, 80), entry(v, 0, 0, 0, 0)),      // any 80/TCP allow
    ];
    let mut lookup = |k: &[u8]| {
        lpm_lookup(&map, k).map(|e| PolicyEntry::parse(e, v, PolicyFormat::Wildcard).unwrap())
    };
    assert_eq!(
        verdict::verdict(v, &mut lookup, 100, false, 6, 80).drop,
        None
    );
    assert_eq!(
        verdict::verdict(v, &mut lookup, 100, false, 6, 81).drop,
        Some(181)
    );
    // 1.16.4+: a full L3/L4 entry wins outright, even over a longer... equal L4 entry.
    let map: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (key(64, 100, 0, 6, 80), entry(v, 24 << 3, 2, 0, 0)), // id 100 80/TCP with auth
        (key(64, 0, 0, 6, 80), entry(v, 24 << 3, 0, 0, 0)),
        (key(40, 5, 0, 0, 0), entry(v, 0, 0, 0, 0)), // id 5 allow all (P=0)
        (key(56, 0, 0, 6, 0), entry(v, 16 << 3, 0, 0, 0)), // any TCP ports 0-255
    ];
    let mut lookup = |k: &[u8]| {
        lpm_lookup(&map, k).map(|e| PolicyEntry::parse(e, v, PolicyFormat::PrefixLen).unwrap())
    };
    assert_eq!(
        verdict::verdict(v, &mut lookup, 100, false, 6, 80).drop,
        Some(189)
    );
    assert_eq!(
        verdict::verdict(v, &mut lookup, 5, false, 6, 22)
            .matched
            .unwrap()
            .0,
        "any"
    );
    assert_eq!(
        verdict::verdict(v, &mut lookup, 5, false, 17, 22)
            .matched
            .unwrap()
            .0,
        "identity"
    );
}

/// Pin names and kernel (cut) names of every map we decode.
const NAMES: &[&str] = &[
    "cilium_ct4_global",
    "cilium_ct_any6_",
    "cilium_snat_v4_external",
    "cilium_snat_v6_",
    "cilium_lb4_services_v2",
    "cilium_lb6_serv",
    "cilium_lb4_backends_v3",
    "cilium_lb6_reverse_nat",
    "cilium_ipcache",
    "cilium_ipcache_v2",
    "cilium_lxc",
    "cilium_metrics",
    "cilium_policystats",
    "cilium_policy_v2_00012",
    "cilium_policy_00012",
    "cilium_node_map_v2",
    "cilium_tunnel_map",
    "cilium_auth_map",
    "cilium_lb4_source_range",
    "cilium_lb6_affinity",
];

/// Arbitrary bytes of every size never panic a decoder: they decode or give a size error.
#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    for len in 0..64 {
        for _ in 0..50 {
            let b: Vec<u8> = (0..len).map(|_| next()).collect();
            for v in [V1_16, V1_17, V1_18] {
                let _ = CtTuple::parse(&b).map(|k| (k.ct_text(), k.nat_text()));
                let _ = CtEntry::parse(&b).map(|e| e.text(v, None));
                let _ = NatEntry::parse(&b);
                let _ = SvcKey::parse(&b).map(|k| k.text(v));
                let _ = SvcValue::parse(&b, v).map(|x| x.flags_text(v));
                let _ = Backend::parse(&b).map(|x| x.list_text());
                let _ = RevNat::parse(&b);
                let _ = IpcacheKey::parse(&b).map(|k| k.text());
                let _ = IpcacheValue::parse(&b, v).map(|x| x.text(v));
                let _ = EndpointKey::parse(&b).map(|k| k.text());
                let _ = EndpointInfo::parse(&b, v).map(|x| x.text(v));
                let _ = MetricsKey::parse(&b).map(|k| k.cells(Counters::default()));
                if let Ok(k) = PolicyKey::parse(&b[..b.len().min(12)]) {
                    let e = &b[12..];
                    for f in [PolicyFormat::Wildcard, PolicyFormat::PrefixLen] {
                        if let Ok(e) = PolicyEntry::parse(e, v, f) {
                            let _ = policy_cells(&k, &e, None);
                            let _ = verdict::verdict(
                                v,
                                &mut |_| Some(e.clone()),
                                k.identity,
                                k.egress,
                                k.proto,
                                k.dport,
                            );
                        }
                    }
                }
                let _ = Counters::sum(std::slice::from_ref(&b));
                let _ = lb::SourceRange::parse(&b).map(|r| r.text());
            }
        }
    }
}

/// Random keys and values of every map by name, of the layout's sizes and one byte off, never panic the
/// decoder or its text and JSON.
#[test]
fn decode_by_name_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    let mut decoded = 0;
    for name in NAMES {
        for v in [V1_16, V1_17, V1_18] {
            let kinds = crate::version::MapKind::GLOBAL
                .into_iter()
                .chain([crate::version::MapKind::Policy]);
            let Some(spec) = kinds
                .filter(|k| k.is_named(name, v))
                .find_map(|k| k.spec(v))
            else {
                continue;
            };
            for (dk, dv) in [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1)] {
                let klen = (spec.key as i64 + dk).max(0) as usize;
                let vlen = (spec.value as i64 + dv).max(0) as usize;
                for _ in 0..200 {
                    let k: Vec<u8> = (0..klen).map(|_| next()).collect();
                    let val: Vec<u8> = (0..vlen).map(|_| next()).collect();
                    for val in [Some(&val[..]), None] {
                        match crate::entry::decode(name, &k, val, v) {
                            Some(Ok(e)) => {
                                decoded += 1;
                                let _ = (e.to_string(), e.json());
                            }
                            Some(Err(e)) => assert!(e.to_string().starts_with(name), "{e}"),
                            None => {}
                        }
                    }
                }
            }
        }
    }
    assert!(decoded > 10_000, "{decoded}");
}

/// NAT46x64 entries live in the IPv6 NAT map with IPv4-mapped addresses; cilium-dbg prints those as dotted quads
/// inside brackets (seen in the field: `TCP IN [64:ff9b::8c52:7104]:80 -> [192.168.64.2]:33388 XLATE_DST …`).
#[test]
fn nat46x64_mapped_addresses() {
    let k = CtTuple::parse(&x(concat!(
        "00000000000000000000ffffc0a84002",  // daddr ::ffff:192.168.64.2
        "0064ff9b0000000000000000 8c527104", // saddr 64:ff9b::8c52:7104
        "826c0050",
        "0601"
    )
    .replace(' ', "")
    .as_str()))
    .unwrap();
    let mut v = x(NAT6_VAL);
    v[32..48].copy_from_slice(&x("20010db8deadbeef0000000000000002"));
    v[48..50].copy_from_slice(&33388u16.to_be_bytes());
    let e = NatEntry::parse(&v).unwrap();
    assert_eq!(
        nat::nat_line(&k, &e, Some(&Clock { now: 255, hz: None })),
        "TCP IN [64:ff9b::8c52:7104]:80 -> [192.168.64.2]:33388 XLATE_DST [2001:db8:dead:beef::2]:33388 Created=155sec ago NeedsCT=0"
    );
}

/// The trace loop may move the enricher between threads.
#[test]
fn enricher_is_send() {
    fn send<T: Send>() {}
    send::<crate::Enricher>();
    send::<crate::Correlator>();
}

/// The byte images above decoded by map name (pin names and the kernel's 15-character names), as
/// `--output-bpfmap` will: key alone or with its value, one line of text and JSON.
#[test]
fn entries_by_map_name() {
    use crate::entry::decode;
    let show = |name: &str, k: &str, v: Option<&str>, ver| {
        let v = v.map(x);
        let e = decode(name, &x(k), v.as_deref(), ver)
            .unwrap_or_else(|| panic!("{name}: not recognised"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        (e.to_string(), e)
    };
    let cases: &[(&str, &str, Option<&str>, crate::version::Version, &str)] = &[
        (
            "cilium_ct4_glob",
            CT4_KEY,
            None,
            V1_18,
            "TCP OUT 10.244.1.5:43210 -> 10.244.2.7:8080",
        ),
        (
            "cilium_ct_any4_global",
            CTSVC_KEY,
            Some(CTSVC_ENTRY),
            V1_17,
            "UDP SVC 10.244.1.5:43210 -> 10.96.0.10:53 expires=500 Packets=1 Bytes=60 RxFlagsSeen=0x00 LastRxReport=0 TxFlagsSeen=0x00 LastTxReport=0 Flags=0x0000 [ ] RevNAT=5 SourceSecurityID=12345 IfIndex=0 BackendID=3",
        ),
        (
            "cilium_snat_v4_external",
            NAT_OUT_KEY,
            Some(NAT_OUT_VAL),
            V1_18,
            "TCP OUT 10.244.1.5:40000 -> 1.1.1.1:443 XLATE_SRC 192.168.1.10:40000 Created=100 NeedsCT=1",
        ),
        (
            "cilium_snat_v6_",
            NAT6_KEY,
            Some(NAT6_VAL),
            V1_18,
            "UDP OUT [fd00::5]:5353 -> [2001:db8::1]:53 XLATE_SRC [fd00::100]:6000 Created=100 NeedsCT=0",
        ),
        (
            "cilium_lb4_services_v2",
            SVC_MASTER_KEY,
            Some(SVC_MASTER_VAL),
            V1_18,
            "10.96.0.10:53/UDP (0) count=2 revnat=5 [ClusterIP]",
        ),
        (
            "cilium_lb4_serv",
            SVC_SLOT_KEY,
            Some(SVC_SLOT_VAL),
            V1_16,
            "10.96.0.10:53 (1) backend=3 revnat=5",
        ),
        (
            "cilium_lb4_services_v2",
            SVC_MASTER_KEY,
            Some(SVC_L7_VAL),
            V1_17,
            "10.96.0.10:53/UDP (0) count=1 revnat=8 [ClusterIP, l7-load-balancer] l7-proxy-port=10000",
        ),
        (
            "cilium_lb4_back",
            "03000000",
            Some(BACKEND4),
            V1_18,
            "id=3 10.244.2.7:53/UDP active",
        ),
        (
            "cilium_lb6_backends_v3",
            "06000000",
            Some(BACKEND6),
            V1_18,
            "id=6 [fd00::7]:8080/TCP terminating cluster=2 zone=3",
        ),
        (
            "cilium_lb4_reverse_nat",
            "0005",
            Some(REVNAT4),
            V1_18,
            "id=5 10.96.0.10:53",
        ),
        // A 1.17 ipcache left beside 1.18's decodes with its own layout.
        (
            "cilium_ipcache",
            IPC_KEY,
            Some(IPC_V1_TUN),
            V1_18,
            "10.0.0.4/32 identity=61928 encryptkey=0 tunnelendpoint=192.168.1.2 flags=skiptunnel",
        ),
        (
            "cilium_ipcache_",
            IPC6_KEY,
            Some(IPC_V2_VAL6),
            V1_18,
            "fd00:10:244::/64@3 identity=6 encryptkey=3 tunnelendpoint=fd00::2 flags=hastunnel,ipv6tunnel",
        ),
        (
            "cilium_lxc",
            EP_KEY,
            Some(EP_VAL17),
            V1_17,
            "10.244.1.5:0 id=1234  sec_id=12345 flags=0x0000 ifindex=12  mac=0A:1B:2C:3D:4E:5F nodemac=AA:BB:CC:DD:EE:FF parent_ifindex=3",
        ),
        (
            "cilium_lxc",
            EP_KEY,
            Some(EP_HOST),
            V1_18,
            "10.244.1.5:0 (localhost)",
        ),
        (
            "cilium_policy_v2_02001",
            POL_FULL_KEY,
            Some(POL_FULL_17),
            V1_17,
            "Ingress identity=12345 80/TCP Allow proxy-port=NONE auth=disabled packets=10 bytes=1000",
        ),
        (
            "cilium_policy_v",
            POL_RANGE_KEY,
            Some(POL_RANGE_18),
            V1_18,
            "Egress identity=0 80-81/TCP Allow proxy-port=15001 auth=spire",
        ),
        (
            "cilium_policy_02001",
            POL_PROTO_KEY,
            Some(POL_OLD_PROTO),
            V1_16,
            "Egress identity=7 UDP Allow proxy-port=NONE auth=disabled packets=1 bytes=2",
        ),
        (
            "cilium_policy_0",
            POL_DENY_KEY,
            None,
            V1_16,
            "Ingress identity=2 ANY",
        ),
        (
            "cilium_metrics",
            MET_KEY,
            Some(MET_CPU0),
            V1_18,
            "Policy denied (133) INGRESS bpf_lxc.c:1234 packets=2 bytes=168",
        ),
    ];
    for &(name, k, v, ver, want) in cases {
        assert_eq!(show(name, k, v, ver).0, want, "{name}");
    }
    let (_, e) = show("cilium_ct4_global", CT4_KEY, Some(CT_ENTRY), V1_18);
    let j = e.json();
    assert_eq!(
        (j["map"].as_str(), j["kind"].as_str(), j["version"].as_str()),
        (Some("cilium_ct4_global"), Some("Ct4"), Some("1.18"))
    );
    assert_eq!(
        (j["key"]["saddr"].as_str(), j["key"]["proto"].as_str()),
        (Some("10.244.2.7"), Some("TCP"))
    );
    assert_eq!(
        j["value"]["flag_names"],
        serde_json::json!(["RxClosing", "TxClosing", "SeenNonSyn"])
    );
    assert_eq!(
        show("cilium_ct4_glob", CT4_KEY, None, V1_18).1.json()["value"],
        serde_json::Value::Null
    );
    // Wrong sizes on a name that is Cilium's: an error with both sizes. Other maps: not ours.
    let err = decode(
        "cilium_ct4_global",
        &x(CT4_KEY)[..13],
        Some(&x(CT_ENTRY)),
        V1_18,
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cilium_ct4_global: key 13 bytes, value 56 bytes is not a layout of Cilium's Ct4 map (expected key 14 bytes, value 56 bytes)"
    );
    assert!(
        decode("cilium_lb4_reve", &[0; 16], Some(&[0; 8]), V1_18).is_none(),
        "cilium_lb4_reverse_sk"
    );
    assert!(decode("cilium_events", &[0; 4], Some(&[0; 4]), V1_18).is_none());
    assert!(decode("my_ct_map", &x(CT4_KEY), Some(&x(CT_ENTRY)), V1_18).is_none());
}
