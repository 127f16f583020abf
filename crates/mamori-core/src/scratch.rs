//! Scratch directories for tests: `$TMPDIR/mamori-tests/<pid>/<tag>-<n>`.
//!
//! Tests leave their directories behind on purpose (a failed test's files are evidence), so
//! the first directory a test process asks for sweeps away those of test processes that are
//! no longer running. A machine keeps at most the last run's directories, all under one
//! parent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

/// The parent of every test process's scratch directories.
pub fn root() -> PathBuf {
    std::env::temp_dir().join("mamori-tests")
}

/// A new, empty directory for a test, named after `tag`.
///
/// # Panics
/// When the directory cannot be created (a test cannot run without it).
pub fn dir(tag: &str) -> PathBuf {
    static SWEPT: Once = Once::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = root();
    SWEPT.call_once(|| sweep(&root, running));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = root.join(std::process::id().to_string()).join(format!(
        "{tag}-{}-{nanos}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create the test directory {}: {e}", dir.display());
    }
    dir
}

/// Whether a process with this id is running (always "yes" where `/proc` cannot tell).
fn running(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the directories under `root` of processes `alive` says are gone.
fn sweep(root: &Path, alive: impl Fn(u32) -> bool) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_finished_processes_are_swept_and_others_kept() {
        let root = dir("sweep");
        for name in ["101", "202", "notes"] {
            std::fs::create_dir_all(root.join(name).join("data")).unwrap();
        }
        sweep(&root, |pid| pid == 202);
        assert!(
            !root.join("101").exists(),
            "a finished process's directory stays"
        );
        assert!(
            root.join("202").exists(),
            "a running process's directory went"
        );
        assert!(
            root.join("notes").exists(),
            "a directory not named by a process went"
        );

        let (a, b) = (dir("same"), dir("same"));
        assert_ne!(a, b);
        assert!(a.is_dir() && b.is_dir());
        assert!(a.starts_with(super::root().join(std::process::id().to_string())));
    }
}
