//! `--kmods`/`--all-kmods`: which modules' split BTF to read, and for a name that has none, why (built into the
//! kernel, not loaded, or unknown), so the user is not told "unknown module" about `veth` built into vmlinux.

use anyhow::{Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use symbols::ModuleSel;

/// Where module BTF, module state and the module lists live (the running kernel's, or a test's).
pub struct Roots {
    pub btf: PathBuf,
    pub sys_module: PathBuf,
    /// `/lib/modules/$(uname -r)`.
    pub lib_modules: PathBuf,
}

impl Roots {
    pub fn running_kernel() -> Roots {
        Roots {
            btf: PathBuf::from(symbols::DEFAULT_MODULE_DIR),
            sys_module: PathBuf::from("/sys/module"),
            lib_modules: Path::new("/lib/modules").join(kernel_release()),
        }
    }
}

fn kernel_release() -> String {
    // SAFETY: uname only fills the struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A module name without BTF of its own.
#[derive(Debug, PartialEq, Eq)]
enum Without {
    BuiltIn,
    NotLoaded,
    LoadedWithoutBtf,
    Unknown,
}

/// The modules whose BTF to read, and notes for the user. `tracepoints` is the tracepoint backend: module
/// functions are not probed there, so the names are only checked.
pub fn select(
    kmods: &[String],
    all: bool,
    tracepoints: bool,
    roots: &Roots,
    is_vmlinux_symbol: &dyn Fn(&str) -> bool,
) -> Result<(ModuleSel, Vec<String>)> {
    let mut notes = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for raw in kmods
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty() && *n != "vmlinux")
    {
        // The kernel spells module names with '_' wherever a file name has '-'.
        let name = raw.replace('-', "_");
        if name.contains('/') {
            bail!("--kmods {raw}: not a module name");
        }
        if roots.btf.join(&name).is_file() {
            if !names.contains(&name) {
                names.push(name);
            }
            continue;
        }
        match without_btf(&name, roots, is_vmlinux_symbol) {
            Without::BuiltIn => notes.push(format!(
                "--kmods {raw}: {name} is built into the kernel, not a module: its functions are in vmlinux's BTF and traced without --kmods"
            )),
            Without::NotLoaded => bail!("--kmods {raw}: kernel module {name} is not loaded (modprobe {name} first)"),
            Without::LoadedWithoutBtf => bail!(
                "--kmods {raw}: kernel module {name} is loaded but has no BTF in {} (the kernel needs CONFIG_DEBUG_INFO_BTF_MODULES=y)",
                roots.btf.display()
            ),
            Without::Unknown => bail!(
                "--kmods {raw}: unknown kernel module {name} (not loaded, not built in, no {})",
                roots.btf.join(&name).display()
            ),
        }
    }
    if tracepoints {
        if all || !kmods.is_empty() {
            notes.push(
                "--kmods/--all-kmods do not apply to the tracepoint backend: it attaches to the kernel's skb tracepoints, not to module functions"
                    .into(),
            );
        }
        return Ok((ModuleSel::None, notes));
    }
    let sel = if all {
        ModuleSel::All
    } else if names.is_empty() {
        ModuleSel::None
    } else {
        ModuleSel::Some(names)
    };
    Ok((sel, notes))
}

fn without_btf(name: &str, roots: &Roots, is_vmlinux_symbol: &dyn Fn(&str) -> bool) -> Without {
    let sys = roots.sys_module.join(name);
    // A loadable module has an initstate; a built-in one shows in /sys/module only with parameters, without it.
    if sys.join("initstate").exists() {
        return Without::LoadedWithoutBtf;
    }
    if sys.is_dir() || listed(&roots.lib_modules.join("modules.builtin"), name) {
        return Without::BuiltIn;
    }
    if listed(&roots.lib_modules.join("modules.dep"), name) {
        return Without::NotLoaded;
    }
    // No module lists on this node (a minimal image): a built-in module's init function is still in vmlinux's
    // symbols (`veth_init`), which a name that is no module at all does not have.
    let inits = [
        format!("{name}_init"),
        format!("{name}_module_init"),
        format!("{name}_init_module"),
        format!("init_{name}"),
    ];
    if inits.iter().any(|s| is_vmlinux_symbol(s)) {
        return Without::BuiltIn;
    }
    Without::Unknown
}

/// Whether a modules.builtin/modules.dep list names `name` (`kernel/drivers/net/veth.ko[.xz]`, '-' as '_').
fn listed(list: &Path, name: &str) -> bool {
    let Ok(f) = std::fs::File::open(list) else {
        return false;
    };
    let mut text = String::new();
    // modules.dep is about 1 MB on a distribution kernel.
    if f.take(64 << 20).read_to_string(&mut text).is_err() {
        return false;
    }
    text.lines().any(|l| {
        let path = l.split(':').next().unwrap_or("");
        let file = path.rsplit('/').next().unwrap_or("");
        let stem = file.split(".ko").next().unwrap_or("");
        file.contains(".ko") && stem.replace('-', "_") == name
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        dir: PathBuf,
    }

    impl Fake {
        fn new(tag: &str) -> Fake {
            let dir = std::env::temp_dir().join(format!("pwru-kmods-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            for d in ["btf", "sys/bridge", "sys/nf_tables", "lib"] {
                std::fs::create_dir_all(dir.join(d)).unwrap();
            }
            std::fs::write(dir.join("btf/vmlinux"), b"").unwrap();
            std::fs::write(dir.join("btf/br_netfilter"), b"").unwrap();
            std::fs::write(dir.join("sys/nf_tables/initstate"), b"live\n").unwrap();
            std::fs::write(
                dir.join("lib/modules.builtin"),
                "kernel/net/ipv4/udp_tunnel.ko\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("lib/modules.dep"),
                "kernel/net/sched/sch-ingress.ko.xz:\nkernel/drivers/net/vxlan/vxlan.ko.xz: kernel/net/ipv4/udp_tunnel.ko.xz\n",
            )
            .unwrap();
            Fake { dir }
        }

        fn roots(&self) -> Roots {
            Roots {
                btf: self.dir.join("btf"),
                sys_module: self.dir.join("sys"),
                lib_modules: self.dir.join("lib"),
            }
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn sel(f: &Fake, names: &[&str], tracepoints: bool) -> Result<(ModuleSel, Vec<String>)> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        select(&names, false, tracepoints, &f.roots(), &|s| {
            s == "veth_init"
        })
    }

    #[test]
    fn built_in_modules_are_a_note_not_an_error() {
        let f = Fake::new("builtin");
        let (s, notes) = sel(
            &f,
            &["br-netfilter", "veth", "bridge", "udp_tunnel", "vmlinux"],
            false,
        )
        .unwrap();
        assert_eq!(s, ModuleSel::Some(vec!["br_netfilter".into()]));
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes.iter().all(|n| n.contains("is built into the kernel")),
            "{notes:?}"
        );
        assert!(
            notes[0].starts_with("--kmods veth: veth is built into the kernel"),
            "{notes:?}"
        );
        let (s, notes) = sel(&f, &["veth"], false).unwrap();
        assert_eq!((s, notes.len()), (ModuleSel::None, 1));
    }

    #[test]
    fn modules_without_btf_say_why() {
        let f = Fake::new("why");
        let e = sel(&f, &["sch_ingress"], false).unwrap_err().to_string();
        assert!(e.contains("is not loaded (modprobe sch_ingress"), "{e}");
        let e = sel(&f, &["nf_tables"], false).unwrap_err().to_string();
        assert!(e.contains("loaded but has no BTF"), "{e}");
        let e = sel(&f, &["no_such_module_xyz"], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown kernel module no_such_module_xyz"),
            "{e}"
        );
        assert!(sel(&f, &["../etc"], false).is_err());
    }

    #[test]
    fn tracepoint_backend_checks_names_then_says_they_do_not_apply() {
        let f = Fake::new("tp");
        let (s, notes) = sel(&f, &["br_netfilter"], true).unwrap();
        assert_eq!(s, ModuleSel::None);
        assert!(
            notes
                .last()
                .unwrap()
                .contains("do not apply to the tracepoint backend"),
            "{notes:?}"
        );
        assert!(sel(&f, &["no_such_module_xyz"], true).is_err());
        let (s, notes) = select(&[], true, true, &f.roots(), &|_| false).unwrap();
        assert_eq!((s, notes.len()), (ModuleSel::None, 1));
        let (s, _) = select(&[], true, false, &f.roots(), &|_| false).unwrap();
        assert_eq!(s, ModuleSel::All);
    }
}
