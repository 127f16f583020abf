//! Notices held during quiet hours, kept in memory and in `notify-held.json` in the log
//! directory, so that a restart at 3 a.m. does not lose the morning digest.
//!
//! The file is rewritten whole (temporary file, fsync, rename) on each change; holds are
//! few, capped at [`MAX_HELD`].

use crate::error::NotifyError;
use crate::notice::Notice;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::OffsetDateTime;

pub(crate) const HELD_FILE: &str = "notify-held.json";
/// Holds beyond this are suppressed (and logged) rather than kept.
pub(crate) const MAX_HELD: usize = 5_000;

/// One held notice: the latest state of an incident for one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Held {
    pub rule: String,
    pub notice: Notice,
    #[serde(with = "time::serde::rfc3339")]
    pub held_at: OffsetDateTime,
}

pub(crate) struct HeldFile {
    path: PathBuf,
    /// The version last written, so an older snapshot never overwrites a newer one.
    written: Mutex<u64>,
}

impl HeldFile {
    pub(crate) fn new(dir: &Path) -> HeldFile {
        HeldFile {
            path: dir.join(HELD_FILE),
            written: Mutex::new(0),
        }
    }

    /// The holds from before a restart. A damaged file is moved aside with a warning:
    /// losing a digest is better than refusing to start.
    pub(crate) fn load(&self) -> Result<Vec<Held>, NotifyError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NotifyError::io(&self.path, e)),
        };
        match serde_json::from_slice(&bytes) {
            Ok(held) => Ok(held),
            Err(error) => {
                let aside = self.path.with_extension("json.bad");
                tracing::warn!(path = %self.path.display(), %error, "held notices unreadable; moved aside");
                std::fs::rename(&self.path, &aside).map_err(|e| NotifyError::io(&self.path, e))?;
                Ok(Vec::new())
            }
        }
    }

    /// Writes snapshot number `version` unless a newer one is already on disk.
    pub(crate) fn save(&self, version: u64, held: &[Held]) -> Result<(), NotifyError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if version <= *written {
            return Ok(());
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec(held).map_err(|e| NotifyError::io(&tmp, e.into()))?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| NotifyError::io(&self.path, e))?;
        *written = version;
        Ok(())
    }
}
