//! `cilium_auth_map`: mutual-authentication state between identities, with its expiry.

use crate::names;
use crate::wire::*;
use serde_json::json;

/// `struct auth_key`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuthKey {
    /// Local security identity.
    pub local: u32,
    /// Remote security identity.
    pub remote: u32,
    /// The remote node's ID.
    pub remote_node_id: u16,
    /// Authentication type (1 spire).
    pub auth_type: u8,
}

/// `struct auth_info`: when the authentication expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthValue {
    /// Unix time in ns (stored in 512 ns units).
    pub expiration_ns: u64,
}

impl AuthKey {
    /// Decodes a 12-byte key.
    pub fn parse(k: &[u8]) -> Result<AuthKey, SizeError> {
        check("auth key", k, &[12])?;
        Ok(AuthKey {
            local: u32le(k, 0),
            remote: u32le(k, 4),
            remote_node_id: u16le(k, 8),
            auth_type: k[10],
        })
    }

    /// `34567 -> 23456 node 3 spire`.
    pub fn text(&self) -> String {
        format!(
            "{} -> {} node {} {}",
            names::identity_label(self.local),
            names::identity_label(self.remote),
            self.remote_node_id,
            names::auth_type(self.auth_type)
        )
    }

    /// The fields.
    pub fn json(&self) -> serde_json::Value {
        json!({ "local_identity": self.local, "remote_identity": self.remote, "remote_node_id": self.remote_node_id,
                "auth_type": names::auth_type(self.auth_type) })
    }
}

impl AuthValue {
    /// Decodes an 8-byte value.
    pub fn parse(v: &[u8]) -> Result<AuthValue, SizeError> {
        check("auth value", v, &[8])?;
        Ok(AuthValue {
            expiration_ns: u64le(v, 0).saturating_mul(512),
        })
    }

    /// `expires 2026-11-23T20:00:00Z`.
    pub fn text(&self) -> String {
        format!("expires {}", rfc3339(self.expiration_ns))
    }
}

/// Cells of `bpf auth list`: source identity, destination identity, remote node ID, auth type, expiration.
pub fn cells(k: &AuthKey, v: &AuthValue) -> [String; 5] {
    [
        names::identity_label(k.local),
        names::identity_label(k.remote),
        k.remote_node_id.to_string(),
        names::auth_type(k.auth_type),
        rfc3339(v.expiration_ns),
    ]
}

/// `2026-11-23T20:00:00Z` from Unix ns (UTC, whole seconds).
pub fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::hex;

    #[test]
    fn auth_entry() {
        // auth_key {local 12345, remote 34567, remote_node_id 3, auth_type 1 (spire), pad}
        let exp = 1_795_464_000u64 * 1_000_000_000 / 512;
        let key = AuthKey::parse(&hex(&["39300000", "07870000", "0300", "01", "00"])).unwrap();
        let v = AuthValue::parse(&exp.to_le_bytes()).unwrap();
        assert_eq!(
            cells(&key, &v),
            ["12345", "34567", "3", "spire", "2026-11-23T20:00:00Z"].map(String::from)
        );
        assert!(AuthValue::parse(&[0; 7]).is_err());
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 * 1_000_000_000), "2000-02-29T00:00:00Z");
    }
}
