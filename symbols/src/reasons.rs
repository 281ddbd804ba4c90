//! Names of skb drop reasons, from BTF (`enum skb_drop_reason`, its subsystems, and subsystem reason enums).

use std::collections::HashMap;

use crate::btf::{Btf, raw::kind};

/// Since 6.4 the high 16 bits of a reason select a subsystem. The kernel puts the mask in the enum
/// (`SKB_DROP_REASON_SUBSYS_MASK`); the shift is a `#define` and follows from the mask.
pub const DEFAULT_SUBSYS_MASK: u32 = 0xffff_0000;

const PREFIX: &str = "SKB_DROP_REASON_";
const SUBSYS_PREFIX: &str = "SKB_DROP_REASON_SUBSYS_";

/// Names of the kernel's drop reasons (`enum skb_drop_reason` and the subsystem reason enums), by code.
#[derive(Clone, Debug, Default)]
pub struct DropReasons {
    core: HashMap<u32, String>,
    subsys_mask: u32,
    /// subsystem id -> name (`MAC80211_UNUSABLE`, `OPENVSWITCH`, ...), from `enum skb_drop_reason_subsys`.
    subsys: HashMap<u32, String>,
    /// Full code -> name from subsystem reason enums (`enum ovs_drop_reason` ...) in the loaded BTF.
    subsys_reasons: HashMap<u32, String>,
}

impl DropReasons {
    /// The reasons `btf` declares (vmlinux and loaded modules); empty on a kernel without drop reasons.
    pub fn from_btf(btf: &Btf) -> DropReasons {
        let mut r = DropReasons::default();
        for view in btf.views() {
            for (_, ty) in view.own_types() {
                if !matches!(ty.kind(), kind::ENUM | kind::ENUM64) {
                    continue;
                }
                let enum_name = view.name(&ty);
                if enum_name == "skb_drop_reason" {
                    for (name, val) in view.enumerators(&ty) {
                        let Ok(code) = u32::try_from(val) else {
                            continue;
                        };
                        let short = name.strip_prefix(PREFIX).unwrap_or(name);
                        r.core.entry(code).or_insert_with(|| short.to_string());
                    }
                } else if enum_name == "skb_drop_reason_subsys" {
                    for (name, val) in view.enumerators(&ty) {
                        let short = name.strip_prefix(SUBSYS_PREFIX).unwrap_or(name);
                        if short != "NUM" {
                            r.subsys
                                .entry(val as u32)
                                .or_insert_with(|| short.to_string());
                        }
                    }
                } else if enum_name.ends_with("drop_reason") {
                    // Subsystem enums (mac80211's, openvswitch's) hold full codes: subsys << 16 | n.
                    for (name, val) in view.enumerators(&ty) {
                        if let Ok(code) = u32::try_from(val)
                            && code & DEFAULT_SUBSYS_MASK != 0
                        {
                            r.subsys_reasons
                                .entry(code)
                                .or_insert_with(|| name.to_string());
                        }
                    }
                }
            }
        }
        // SKB_DROP_REASON_MAX is a count, not a reason.
        r.core.retain(|_, name| name != "MAX");
        r.subsys_mask = DEFAULT_SUBSYS_MASK;
        if let Some(code) = r
            .core
            .iter()
            .find(|(_, n)| *n == "SUBSYS_MASK")
            .map(|(c, _)| *c)
        {
            r.core.remove(&code);
            if code != 0 {
                r.subsys_mask = code;
            }
        }
        r
    }

    /// The core reason's name without the `SKB_DROP_REASON_` prefix (`2` -> `NO_SOCKET`), or a subsystem
    /// enum's constant name.
    pub fn name(&self, code: u32) -> Option<&str> {
        self.core
            .get(&code)
            .or_else(|| self.subsys_reasons.get(&code))
            .map(String::as_str)
    }

    /// Always something printable: the name, else `SUBSYS:0x<n>` for a known subsystem, else the number.
    pub fn describe(&self, code: u32) -> String {
        if let Some(name) = self.name(code) {
            return name.to_string();
        }
        let mask = if self.subsys_mask == 0 {
            DEFAULT_SUBSYS_MASK
        } else {
            self.subsys_mask
        };
        let sub = (code & mask) >> mask.trailing_zeros();
        match self.subsys.get(&sub) {
            Some(s) if sub != 0 => format!("{s}:{:#x}", code & !mask),
            _ => code.to_string(),
        }
    }

    /// Number of core reasons known.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether no core reason is known.
    pub fn is_empty(&self) -> bool {
        self.core.is_empty()
    }

    /// Core reasons sorted by code.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        let mut v: Vec<(u32, &str)> = self.core.iter().map(|(k, v)| (*k, v.as_str())).collect();
        v.sort_unstable();
        v.into_iter()
    }

    /// The subsystem mask (from BTF when the enum has `SUBSYS_MASK`, else 0xffff0000).
    pub fn subsys_mask(&self) -> u32 {
        self.subsys_mask
    }

    /// Subsystem names by id (`0` is the core).
    pub fn subsystem(&self, id: u32) -> Option<&str> {
        self.subsys.get(&id).map(String::as_str)
    }
}
