//! Names Cilium users know: protocols, reserved identities, drop reasons, metrics directions and source files.

/// Protocol name as cilium-dbg prints it (`u8proto.U8proto.String()`). This is cilium-dbg's own vocabulary (upper
/// case, `ANY` for 0, numbers for protocols it does not name, such as GRE), not pwru's `event::proto`.
pub fn proto(p: u8) -> String {
    match p {
        0 => "ANY".into(),
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        n => n.to_string(),
    }
}

/// Parses `tcp`, `UDP`, `icmp6`, `6`, … into an IP protocol number (`any` is 0, as in Cilium's maps).
pub fn parse_proto(s: &str) -> Option<u8> {
    if s.eq_ignore_ascii_case("any") {
        return Some(0);
    }
    event::proto::number(s).or_else(|| s.parse().ok())
}

/// Name of a reserved or well-known security identity (`pkg/identity/numericidentity.go`).
pub fn reserved_identity(id: u32) -> Option<&'static str> {
    Some(match id {
        0 => "unknown",
        1 => "host",
        2 => "world",
        3 => "unmanaged",
        4 => "health",
        5 => "init",
        6 => "remote-node",
        7 => "kube-apiserver",
        8 => "ingress",
        9 => "world-ipv4",
        10 => "world-ipv6",
        100 => "etcd-operator",
        101 => "kvstore",
        102 => "kube-dns",
        103 => "eks-kube-dns",
        104 => "core-dns",
        105 => "cilium-operator",
        106 => "eks-coredns",
        107 => "cilium-etcd-operator",
        108 => "etcd-operator2",
        109 => "kvstore2",
        110 => "kube-dns2",
        111 => "eks-kube-dns2",
        112 => "core-dns2",
        113 => "cilium-operator2",
        114 => "eks-coredns2",
        115 => "cilium-etcd-operator2",
        _ => return None,
    })
}

/// `12345`, `2 (world)`, `16777217 (local CIDR)`: the identity with whatever can be said offline about it.
pub fn identity_label(id: u32) -> String {
    if let Some(n) = reserved_identity(id) {
        return format!("{id} (reserved:{n})");
    }
    match id >> 24 {
        0x01 => format!("{id} (local CIDR/FQDN)"),
        0x02 => format!("{id} (remote-node scope)"),
        _ if id >> 16 != 0 => format!("{id} (cluster {})", (id >> 16) & 0xff),
        _ => id.to_string(),
    }
}

/// `{"id": 2, "reserved": "world"}`.
pub fn identity_json(id: u32) -> serde_json::Value {
    let mut v = serde_json::json!({ "id": id });
    if let Some(n) = reserved_identity(id) {
        v["reserved"] = n.into();
    }
    v
}

/// Cilium drop codes: (code, Hubble `DropReason` name, cilium-dbg description from `pkg/monitor/api/drop.go`).
const DROPS: &[(u8, &str, &str)] = &[
    (130, "INVALID_SOURCE_MAC", "Invalid source mac"),
    (131, "INVALID_DESTINATION_MAC", "Invalid destination mac"),
    (132, "INVALID_SOURCE_IP", "Invalid source ip"),
    (133, "POLICY_DENIED", "Policy denied"),
    (134, "INVALID_PACKET_DROPPED", "Invalid packet"),
    (
        135,
        "CT_TRUNCATED_OR_INVALID_HEADER",
        "CT: Truncated or invalid header",
    ),
    (136, "FRAGMENTATION_NEEDED", "Fragmentation needed"),
    (137, "CT_UNKNOWN_L4_PROTOCOL", "CT: Unknown L4 protocol"),
    (139, "UNSUPPORTED_L3_PROTOCOL", "Unsupported L3 protocol"),
    (140, "MISSED_TAIL_CALL", "Missed tail call"),
    (141, "ERROR_WRITING_TO_PACKET", "Error writing to packet"),
    (142, "UNKNOWN_L4_PROTOCOL", "Unknown L4 protocol"),
    (143, "UNKNOWN_ICMPV4_CODE", "Unknown ICMPv4 code"),
    (144, "UNKNOWN_ICMPV4_TYPE", "Unknown ICMPv4 type"),
    (145, "UNKNOWN_ICMPV6_CODE", "Unknown ICMPv6 code"),
    (146, "UNKNOWN_ICMPV6_TYPE", "Unknown ICMPv6 type"),
    (
        147,
        "ERROR_RETRIEVING_TUNNEL_KEY",
        "Error retrieving tunnel key",
    ),
    (
        150,
        "UNKNOWN_L3_TARGET_ADDRESS",
        "Unknown L3 target address",
    ),
    (151, "STALE_OR_UNROUTABLE_IP", "Stale or unroutable IP"),
    (
        153,
        "ERROR_WHILE_CORRECTING_L3_CHECKSUM",
        "Error while correcting L3 checksum",
    ),
    (
        154,
        "ERROR_WHILE_CORRECTING_L4_CHECKSUM",
        "Error while correcting L4 checksum",
    ),
    (155, "CT_MAP_INSERTION_FAILED", "CT: Map insertion failed"),
    (
        156,
        "INVALID_IPV6_EXTENSION_HEADER",
        "Invalid IPv6 extension header",
    ),
    (
        157,
        "IP_FRAGMENTATION_NOT_SUPPORTED",
        "IP fragmentation not supported",
    ),
    (
        158,
        "SERVICE_BACKEND_NOT_FOUND",
        "Service backend not found",
    ),
    (159, "UNSUPPORTED_SERVICE_PROTOCOL", ""),
    (
        160,
        "NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT",
        "No tunnel/encapsulation endpoint (datapath BUG!)",
    ),
    (161, "NAT_46X64_DISABLED", "NAT 46/64 not enabled"),
    (
        162,
        "REACHED_EDT_RATE_LIMITING_DROP_HORIZON",
        "Reached EDT rate-limiting drop horizon",
    ),
    (
        163,
        "UNKNOWN_CONNECTION_TRACKING_STATE",
        "Unknown connection tracking state",
    ),
    (164, "LOCALHOST_UNREACHABLE", "Local host is unreachable"),
    (
        165,
        "NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION",
        "No configuration available to perform policy decision",
    ),
    (166, "UNSUPPORTED_L2_PROTOCOL", "Unsupported L2 protocol"),
    (
        167,
        "NO_MAPPING_FOR_NAT_MASQUERADE",
        "No mapping for NAT masquerade",
    ),
    (
        168,
        "UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE",
        "Unsupported protocol for NAT masquerade",
    ),
    (169, "FIB_LOOKUP_FAILED", "FIB lookup failed"),
    (
        170,
        "ENCAPSULATION_TRAFFIC_IS_PROHIBITED",
        "Encapsulation traffic is prohibited",
    ),
    (171, "INVALID_IDENTITY", "Invalid identity"),
    (172, "UNKNOWN_SENDER", "Unknown sender"),
    (173, "NAT_NOT_NEEDED", "NAT not needed"),
    (174, "IS_A_CLUSTERIP", "Is a ClusterIP"),
    (
        175,
        "FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND",
        "First logical datagram fragment not found",
    ),
    (176, "FORBIDDEN_ICMPV6_MESSAGE", "Forbidden ICMPv6 message"),
    (
        177,
        "DENIED_BY_LB_SRC_RANGE_CHECK",
        "Denied by LB src range check",
    ),
    (178, "SOCKET_LOOKUP_FAILED", "Socket lookup failed"),
    (179, "SOCKET_ASSIGN_FAILED", "Socket assign failed"),
    (
        180,
        "PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL",
        "Proxy redirection not supported for protocol",
    ),
    (181, "POLICY_DENY", "Policy denied by denylist"),
    (
        182,
        "VLAN_FILTERED",
        "VLAN traffic disallowed by VLAN filter",
    ),
    (183, "INVALID_VNI", "Incorrect VNI from VTEP"),
    (
        184,
        "INVALID_TC_BUFFER",
        "Failed to update or lookup TC buffer",
    ),
    (185, "NO_SID", "No SID was found for the IP address"),
    (
        186,
        "MISSING_SRV6_STATE",
        "SRv6 state was removed during tail call",
    ),
    (
        187,
        "NAT46",
        "L3 translation from IPv4 to IPv6 failed (NAT46)",
    ),
    (
        188,
        "NAT64",
        "L3 translation from IPv6 to IPv4 failed (NAT64)",
    ),
    (189, "AUTH_REQUIRED", "Authentication required"),
    (190, "CT_NO_MAP_FOUND", "No conntrack map found"),
    (191, "SNAT_NO_MAP_FOUND", "No nat map found"),
    (192, "INVALID_CLUSTER_ID", "Invalid ClusterID"),
    (
        193,
        "UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP",
        "Unsupported packet protocol for DSR encapsulation",
    ),
    (194, "NO_EGRESS_GATEWAY", "No egress gateway found"),
    (195, "UNENCRYPTED_TRAFFIC", "Traffic is unencrypted"),
    (196, "TTL_EXCEEDED", "TTL exceeded"),
    (197, "NO_NODE_ID", "No node ID found"),
    (198, "DROP_RATE_LIMITED", "Rate limited"),
    (199, "IGMP_HANDLED", "IGMP handled"),
    (200, "IGMP_SUBSCRIBED", "IGMP subscribed"),
    (201, "MULTICAST_HANDLED", "Multicast handled"),
    (202, "DROP_HOST_NOT_READY", "Host datapath not ready"),
    (
        203,
        "DROP_EP_NOT_READY",
        "Endpoint policy program not available",
    ),
    (204, "DROP_NO_EGRESS_IP", "No Egress IP configured"),
    (205, "DROP_PUNT_PROXY", "Punt to proxy"),
];

/// Non-drop metrics reasons (`REASON_*`), index = code.
const REASONS: &[&str] = &[
    "Success",
    "",
    "Invalid packet",
    "Interface",
    "Interface Decrypted",
    "LB, sock cgroup: No backend slot entry found",
    "LB, sock cgroup: No backend entry found",
    "LB, sock cgroup: Reverse entry update failed",
    "LB, sock cgroup: Reverse entry stale",
    "Fragmented packet",
    "Fragmented packet entry update failed",
    "Missed tail call to custom program",
    "Interface Decrypting",
    "Interface Encrypting",
    "LB: sock cgroup: Reverse entry delete succeeded",
];

/// Hubble-style name of a Cilium drop code (`POLICY_DENIED` for 133).
pub fn drop_name(code: u8) -> Option<&'static str> {
    DROPS.iter().find(|d| d.0 == code).map(|d| d.1)
}

/// The description cilium-dbg prints for a metrics reason, `"<n>, 0"` when it has none.
pub fn reason_desc(code: u8) -> String {
    let s = if code >= 130 {
        DROPS
            .iter()
            .find(|d| d.0 == code)
            .map(|d| d.2)
            .unwrap_or("")
    } else {
        REASONS.get(code as usize).copied().unwrap_or("")
    };
    if s.is_empty() {
        format!("{code}, 0")
    } else {
        s.to_string()
    }
}

/// Go's `IsDrop`: reason 2 or any code ≥ 130.
pub fn is_drop(code: u8) -> bool {
    code == 2 || code >= 130
}

/// A metrics or drop direction: `INGRESS`, `EGRESS`, `SERVICE`, `UNKNOWN`.
pub fn direction(dir: u8) -> &'static str {
    match dir & 3 {
        1 => "INGRESS",
        2 => "EGRESS",
        3 => "SERVICE",
        _ => "UNKNOWN",
    }
}

/// The datapath source file of a metrics/drop file ID (`bpf_lxc.c`), `unknown(N)` if we do not know it.
pub fn bpf_file(id: u8) -> String {
    let s = match id {
        1 => "bpf_host.c",
        2 => "bpf_lxc.c",
        3 => "bpf_overlay.c",
        4 => "bpf_xdp.c",
        5 => "bpf_sock.c",
        6 => "bpf_network.c",
        7 => "bpf_wireguard.c",
        101 => "arp.h",
        102 => "drop.h",
        103 => "srv6.h",
        104 => "icmp6.h",
        105 => "nodeport.h",
        106 => "lb.h",
        107 => "mcast.h",
        108 => "ipv4.h",
        109 => "conntrack.h",
        110 => "l3.h",
        111 => "trace.h",
        112 => "encap.h",
        113 => "encrypt.h",
        114 => "host_firewall.h",
        115 => "nodeport_egress.h",
        116 => "ipv6.h",
        117 => "classifiers.h",
        n => return format!("unknown({n})"),
    };
    s.to_string()
}

/// A policy/auth-map authentication type: `disabled`, `spire`, `test-always-fail`, `unknown(N)`.
pub fn auth_type(t: u8) -> String {
    match t {
        0 => "disabled".into(),
        1 => "spire".into(),
        2 => "test-always-fail".into(),
        n => format!("unknown({n})"),
    }
}

/// Identity carried in `skb->mark` when Cilium tagged the packet (`MARK_MAGIC_IDENTITY`).
pub fn identity_from_mark(mark: u32) -> Option<u32> {
    if mark & 0xF00 == 0xF00 {
        Some(((mark >> 16) & 0xFFFF) | ((mark & 0xFF) << 16))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(drop_name(133), Some("POLICY_DENIED"));
        assert_eq!(reason_desc(133), "Policy denied");
        assert_eq!(reason_desc(159), "159, 0");
        assert_eq!(reason_desc(0), "Success");
        assert_eq!(reason_desc(120), "120, 0");
        assert_eq!(identity_label(2), "2 (reserved:world)");
        assert_eq!(identity_label(16777217), "16777217 (local CIDR/FQDN)");
        assert_eq!(identity_label(12345), "12345");
        assert_eq!(identity_from_mark(0x3039_0F00), Some(12345));
        assert_eq!(identity_from_mark(0x3039_0F01), Some(12345 | 1 << 16));
        assert_eq!(identity_from_mark(0x0000_0200), None);
        assert_eq!(parse_proto("Tcp"), Some(6));
        assert_eq!(parse_proto("ANY"), Some(0));
        assert_eq!(parse_proto("icmpv6"), Some(58));
        assert_eq!(parse_proto("gre"), Some(47));
        assert_eq!(parse_proto("132"), Some(132));
        assert_eq!(parse_proto("tcpx"), None);
        assert_eq!(proto(58), "ICMPv6");
    }
}
