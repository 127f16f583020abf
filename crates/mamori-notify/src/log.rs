//! The notification log: one JSON line per decision — sent, held, suppressed or failed —
//! in `notify-log.jsonl`, appended and fsynced, rotated to `notify-log.jsonl.1` at a size
//! limit so it never fills the disk.
//!
//! Targets are mail addresses or a webhook's host; never a webhook URL (it is a secret),
//! never a password.

use crate::error::NotifyError;
use crate::gate::SuppressReason;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::OffsetDateTime;
use ulid::Ulid;

pub(crate) const LOG_FILE: &str = "notify-log.jsonl";
/// Rotate when the current file reaches this size; one old file is kept.
pub(crate) const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;

/// Where a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Mail,
    Webhook,
}

/// What became of a notice for one rule (and channel, once sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOutcome {
    Sent,
    /// Kept for the digest at the end of quiet hours.
    Held,
    Suppressed,
    Failed,
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub tenant: String,
    pub rule: String,
    /// Absent for digests, which cover several incidents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<Ulid>,
    /// Absent when nothing was sent (held, suppressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Mail addresses, or the webhook's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `opened`, `severity_raised`, `updated`, `resolved`, `quiet_digest`, `rate_digest`.
    pub trigger: String,
    pub outcome: LogOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SuppressReason>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The log file and its rotation.
pub(crate) struct SentLog {
    path: PathBuf,
    old: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<File>>,
}

impl SentLog {
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<SentLog, NotifyError> {
        std::fs::create_dir_all(dir).map_err(|e| NotifyError::io(dir, e))?;
        let path = dir.join(LOG_FILE);
        Ok(SentLog {
            old: dir.join(format!("{LOG_FILE}.1")),
            path,
            max_bytes,
            file: Mutex::new(None),
        })
    }

    fn open_file(&self) -> Result<File, NotifyError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| NotifyError::io(&self.path, e))
    }

    /// Appends entries and syncs them to disk.
    pub(crate) fn append(&self, entries: &[LogEntry]) -> Result<(), NotifyError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for entry in entries {
            // Serializing plain fields cannot fail; skip rather than panic if it did.
            if let Ok(line) = serde_json::to_vec(entry) {
                lines.extend(line);
                lines.push(b'\n');
            }
        }
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + lines.len() as u64 > self.max_bytes {
            *guard = None;
            std::fs::rename(&self.path, &self.old).map_err(|e| NotifyError::io(&self.path, e))?;
        }
        if guard.is_none() {
            *guard = Some(self.open_file()?);
        }
        let file = guard
            .as_mut()
            .ok_or_else(|| NotifyError::io(&self.path, std::io::ErrorKind::NotFound.into()))?;
        let result = file.write_all(&lines).and_then(|()| file.sync_data());
        if let Err(e) = result {
            *guard = None;
            return Err(NotifyError::io(&self.path, e));
        }
        Ok(())
    }

    /// Entries for a tenant (or all), newest first.
    pub(crate) fn read(
        &self,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, NotifyError> {
        let mut entries = Vec::new();
        for path in [&self.old, &self.path] {
            let file = match File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(NotifyError::io(path, e)),
            };
            for line in BufReader::new(file).lines() {
                let line = line.map_err(|e| NotifyError::io(path, e))?;
                // A torn last line after a crash is skipped, not fatal.
                let Ok(entry) = serde_json::from_str::<LogEntry>(&line) else {
                    continue;
                };
                if tenant.is_none_or(|t| entry.tenant == t) {
                    entries.push(entry);
                }
            }
        }
        entries.reverse();
        entries.truncate(limit);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tenant: &str, n: u32) -> LogEntry {
        LogEntry {
            time: OffsetDateTime::UNIX_EPOCH,
            tenant: tenant.into(),
            rule: "r".into(),
            incident: None,
            channel: Some(Channel::Webhook),
            target: Some("hooks.example.jp".into()),
            trigger: "opened".into(),
            outcome: LogOutcome::Sent,
            reason: None,
            attempts: n,
            error: None,
        }
    }

    #[test]
    fn the_log_rotates_and_reads_newest_first() {
        let dir = mamori_core::scratch::dir("notify-log");
        let log = SentLog::open(&dir, 2000).expect("open");
        for n in 0..40 {
            log.append(&[entry(if n % 2 == 0 { "acme" } else { "beta" }, n)])
                .expect("append");
        }
        assert!(dir.join(format!("{LOG_FILE}.1")).exists());
        let size = std::fs::metadata(dir.join(LOG_FILE)).expect("log").len();
        assert!(size <= 2000, "{size}");
        let acme = log.read(Some("acme"), 3).expect("read");
        assert_eq!(
            acme.iter().map(|e| e.attempts).collect::<Vec<_>>(),
            [38, 36, 34]
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
