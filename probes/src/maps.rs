//! The object's maps, created from our own parse of it: aya's `EbpfLoader` would parse the kernel's BTF once more
//! (a second copy of tens of MB, and as long again under emulation) and CO-RE-relocate every program of the object,
//! which `crate::linked` does anyway for the programs we load.
use crate::error::{ObjectError, ProbeError};
use aya::maps::{Map, MapData};
use aya_obj::EbpfSectionKind;
use std::collections::HashMap;
use std::os::fd::AsFd;

/// The maps by name (`EVENTS`, `COUNTERS`, ..., and `.rodata`).
pub(crate) struct Maps(HashMap<String, Map>);

impl Maps {
    /// Creates every map of `obj` (after its globals were patched), with the `max_entries` overrides; data
    /// sections get their contents, `.rodata` is then frozen, so the verifier treats the configuration as
    /// constants.
    pub(crate) fn create(
        obj: &aya_obj::Object,
        max_entries: &[(&str, u32)],
    ) -> Result<Maps, ProbeError> {
        let mut maps = HashMap::new();
        for (name, def) in &obj.maps {
            let mut def = def.clone();
            if let Some((_, n)) = max_entries.iter().find(|(m, _)| m == name) {
                def.set_max_entries(*n);
            }
            // Created without the object's BTF (nothing reads the maps' types): no type ids either.
            if let aya_obj::Map::Btf(m) = &mut def {
                m.def.btf_key_type_id = 0;
                m.def.btf_value_type_id = 0;
            }
            let kind = def.section_kind();
            let data = def.data().to_vec();
            let map = MapData::create(def, name, None).map_err(|source| match &source {
                aya::maps::MapError::CreateError { io_error, .. }
                    if matches!(io_error.raw_os_error(), Some(libc::EPERM | libc::EACCES)) =>
                {
                    ProbeError::Permission {
                        what: "creating the BPF maps".into(),
                    }
                }
                _ => ObjectError::CreateMap {
                    name: name.clone(),
                    source,
                }
                .into(),
            })?;
            if !data.is_empty() || kind == EbpfSectionKind::Rodata {
                let fd = map.fd().as_fd().try_clone_to_owned().map_err(|e| {
                    ProbeError::sys(
                        format!("map {name}"),
                        bpf_sys::Error::File {
                            path: "(map fd)".into(),
                            source: e,
                        },
                    )
                })?;
                let m = bpf_sys::map::Map::from_fd(fd)
                    .map_err(|e| ProbeError::sys(format!("map {name}"), e))?;
                if !data.is_empty() {
                    m.update(&0u32.to_ne_bytes(), &data, 0)
                        .map_err(|e| ProbeError::sys(format!("filling map {name}"), e))?;
                }
                if kind == EbpfSectionKind::Rodata {
                    m.freeze()
                        .map_err(|e| ProbeError::sys(format!("freezing map {name}"), e))?;
                }
            }
            let map = Map::from_map_data(map).map_err(|source| ObjectError::CreateMap {
                name: name.clone(),
                source,
            })?;
            maps.insert(name.clone(), map);
        }
        Ok(Maps(maps))
    }

    /// The map called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Map> {
        self.0.get(name)
    }

    /// The map called `name`, mutably.
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Map> {
        self.0.get_mut(name)
    }

    /// Takes the map called `name` out (the ring buffer, for its reader).
    pub(crate) fn take(&mut self, name: &str) -> Option<Map> {
        self.0.remove(name)
    }

    /// Every map, by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Map)> {
        self.0.iter().map(|(n, m)| (n.as_str(), m))
    }
}
