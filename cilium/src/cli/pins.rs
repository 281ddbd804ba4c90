//! `pwru cilium maps`: the release and every pinned map with its type, sizes, entry count and layout check.

use super::Output;
use super::listing::{Listing, Row, Shape};
use crate::bpf::{BpfError, Map, MapInfo, map_type};
use crate::error::Result;
use crate::node::{self, Node, VersionSource};
use crate::version::{self, MapKind, Version};
use serde_json::json;
use std::path::Path;

/// Perf event arrays carry the agent's event rings: they are listed but never opened.
const EVENT_RINGS: [&str; 2] = ["cilium_events", "cilium_signals"];

/// Lists the pins of `dir`; `node` is `None` when the release could not be told.
pub(super) fn maps(dir: &Path, node: Option<&Node>) -> Result<Output> {
    let names = match node {
        Some(n) => n.names.clone(),
        None => node::pin_names(dir)?,
    };
    let v = node.map(|n| n.version);
    let mut rows = Vec::new();
    for name in &names {
        let path = dir.join(name);
        if EVENT_RINGS.contains(&name.as_str()) {
            let cells = [
                name,
                "perf_event_array",
                "-",
                "-",
                "-",
                "-",
                "(not opened)",
                "",
            ];
            rows.push(Row::new(
                cells.map(String::from),
                json!({ "name": name, "skipped": "event ring" }),
            ));
            continue;
        }
        if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        let m = match Map::open(&path) {
            Ok(m) => m,
            // Programs and links are pinned beside the maps.
            Err(BpfError::NotAMap { .. }) => continue,
            // Not readable is not empty: say so rather than list nothing.
            Err(e) => return Err(e.into()),
        };
        let i = &m.info;
        let count = if matches!(
            i.map_type,
            map_type::PERF_EVENT_ARRAY | map_type::PROG_ARRAY
        ) {
            None
        } else {
            Some(m.entries()?.len())
        };
        let layout = layout_check(v, name, i);
        let cells = [
            name.clone(),
            map_type::name(i.map_type).into(),
            i.key_size.to_string(),
            i.value_size.to_string(),
            i.max_entries.to_string(),
            format!("{:#x}", i.flags),
            count.map_or("-".to_string(), |c| c.to_string()),
            layout.clone(),
        ];
        let json = json!({ "name": name, "type": map_type::name(i.map_type), "key_size": i.key_size,
            "value_size": i.value_size, "max_entries": i.max_entries, "flags": i.flags, "entries": count,
            "layout": layout });
        rows.push(Row::new(cells, json));
    }
    let json = json!({ "version": v, "version_source": node.map(|n| n.version_source), "dir": dir,
                       "maps": rows.iter().map(|r| r.json.clone()).collect::<Vec<_>>() });
    let mut table = Listing::new(
        Shape::Columns {
            titles: &[
                "MAP",
                "TYPE",
                "KEY",
                "VALUE",
                "MAX ENTRIES",
                "FLAGS",
                "ENTRIES",
                "LAYOUT",
            ],
            trailing_tab: false,
        },
        rows,
    );
    table.empty = "No maps found.".into();
    let version = match node.map(|n| (n.version, n.version_source)) {
        Some((v, VersionSource::Names)) => format!("{v} (detected from map names and sizes)"),
        Some((v, VersionSource::Override)) => format!("{v} (given with --cilium-version)"),
        None => "unknown (no cilium_ipcache_v2, cilium_policystats or cilium_policy_* pins; pass --cilium-version \
                 to decode)"
            .into(),
    };
    let text = format!(
        "Cilium version: {version}\nMaps in {}:\n{}",
        dir.display(),
        table.text()
    );
    Ok(Output::Custom { text, json })
}

/// `ok` when a map we decode has the release's layout, `unexpected (…)` when not, empty for maps we do not decode.
fn layout_check(v: Option<Version>, name: &str, info: &MapInfo) -> String {
    let Some(v) = v else { return String::new() };
    let kind = MapKind::GLOBAL
        .into_iter()
        .find(|k| k.pin_name(v) == name)
        .or_else(|| {
            version::is_policy_name(name, MapKind::Policy.pin_name(v)).then_some(MapKind::Policy)
        });
    let Some((kind, spec)) = kind.and_then(|k| Some((k, k.spec(v)?))) else {
        return String::new();
    };
    match node::layout_mismatch(kind, v, info) {
        None => "ok".into(),
        Some(_) => format!(
            "unexpected (want {} {}/{})",
            map_type::name(spec.types[0]),
            spec.key,
            spec.value
        ),
    }
}
