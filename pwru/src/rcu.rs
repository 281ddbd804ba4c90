//! Expedited RCU grace periods while plain kprobes are removed. The kernel removes them one at a time, each waiting
//! for grace periods under its tracing locks; expedited grace periods end sooner, which halved the limit's detach
//! time in the VM benchmark (probes/README.md, "Measured"). The kernel's setting is put back when the guard drops.
use std::path::{Path, PathBuf};

const RCU_EXPEDITED: &str = "/sys/kernel/rcu_expedited";

/// While alive, `/sys/kernel/rcu_expedited` is 1; dropping it writes 0 back.
pub struct Expedited {
    path: PathBuf,
}

impl Expedited {
    /// Expedites grace periods, unless the kernel already does (someone else's setting: left alone) or the setting
    /// cannot be changed (then removal just takes its usual time).
    pub fn start() -> Option<Expedited> {
        Self::at(Path::new(RCU_EXPEDITED))
    }

    fn at(path: &Path) -> Option<Expedited> {
        let now = std::fs::read_to_string(path).ok()?;
        if now.trim() != "0" {
            return None;
        }
        std::fs::write(path, "1").ok()?;
        Some(Expedited { path: path.into() })
    }
}

impl Drop for Expedited {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(&self.path, "0") {
            crate::say!("cannot set {} back to 0: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap().trim().to_string()
    }

    #[test]
    fn sets_one_and_puts_zero_back_but_leaves_a_one_alone() {
        let dir = std::env::temp_dir().join(format!("pwru-rcu-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("rcu_expedited");
        std::fs::write(&p, "0\n").unwrap();
        let g = Expedited::at(&p).expect("0 is ours to change");
        assert_eq!(read(&p), "1");
        drop(g);
        assert_eq!(read(&p), "0");
        std::fs::write(&p, "1\n").unwrap();
        assert!(Expedited::at(&p).is_none());
        assert_eq!(read(&p), "1");
        assert!(Expedited::at(&dir.join("missing")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[ignore = "needs root: writes /sys/kernel/rcu_expedited (tests/run.sh runs it)"]
    fn the_kernel_setting_is_expedited_and_restored() {
        let p = Path::new(RCU_EXPEDITED);
        assert_eq!(read(p), "0", "the host runs with normal grace periods");
        let g = Expedited::start().expect("root can expedite");
        assert_eq!(read(p), "1");
        drop(g);
        assert_eq!(read(p), "0");
    }
}
