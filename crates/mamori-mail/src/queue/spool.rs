//! The durable spool: every accepted message is on disk, fsynced, before the gateway says
//! `250`, and stays there until it is delivered, bounced, released, or deleted.
//!
//! Layout under the spool directory:
//! - `tmp/`: files being written; anything here at start-up was never acknowledged and is removed.
//! - `msg/ID.eml`: the message exactly as received.
//! - `msg/ID.json`: its [`Entry`] (envelope, per-recipient state, attempts, hold state).
//!   The `.json` is renamed into place after the `.eml`, so its presence is the commit point:
//!   an `.eml` without a `.json` after a crash is an unacknowledged leftover and is removed.
//!
//! Every write goes to `tmp/`, is fsynced, renamed into `msg/`, and the directory is fsynced,
//! so a `kill -9` or power loss at any point leaves either the old or the new state.

use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool entry {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("no message {0} in the spool")]
    Missing(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RcptState {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub address: String,
    pub state: RcptState,
    #[serde(default)]
    pub last_reply: String,
}

/// Why a message is not being delivered right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Hold {
    /// Waiting for the sender or an approver (outbound guard).
    Held { reasons: Vec<String> },
    /// Inbound mail the analysis quarantined.
    Quarantined { reasons: Vec<String> },
    /// External mail waiting out the send delay until `until_ms`.
    Delayed { until_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub tenant: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub mail_from: String,
    pub recipients: Vec<Recipient>,
    pub received_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub hold: Option<Hold>,
    /// Authenticated submitter, for notices and account-takeover checks.
    #[serde(default)]
    pub auth_user: Option<String>,
    pub size: u64,
    /// The analysis as `mamori mail check --json` prints it: verdict, score, reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// Looks at a spool another process may be serving (the CLI, the console): no clean-up,
    /// since a half-written message there is one the gateway is about to acknowledge.
    pub fn attach(root: &Path) -> Result<Spool, SpoolError> {
        let msg = root.join("msg");
        if !msg.is_dir() {
            return Err(SpoolError::Io {
                path: msg,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no mail spool here (has mamori mail serve run?)",
                ),
            });
        }
        Ok(Spool {
            root: root.to_path_buf(),
        })
    }

    /// Opens (creating) a spool for the gateway that serves it, and removes what was never
    /// acknowledged. Only one process may do this: the one that writes to the spool.
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        for d in ["tmp", "msg"] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io(&p))?;
        }
        let tmp = root.join("tmp");
        for f in fs::read_dir(&tmp).map_err(io(&tmp))?.flatten() {
            let _ = fs::remove_file(f.path());
        }
        let spool = Spool {
            root: root.to_path_buf(),
        };
        let msg = root.join("msg");
        for f in fs::read_dir(&msg).map_err(io(&msg))?.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "eml") && !p.with_extension("json").exists() {
                tracing::warn!(file = %p.display(), "removing a message that was never acknowledged");
                let _ = fs::remove_file(&p);
            }
        }
        sync_dir(&msg)?;
        Ok(spool)
    }

    fn msg(&self, id: &str, ext: &str) -> PathBuf {
        self.root.join("msg").join(format!("{id}.{ext}"))
    }

    fn tmp(&self, id: &str, ext: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{id}.{ext}"))
    }

    /// Stores a new message durably. Only after this returns may the sender be told `250`.
    pub fn put(&self, entry: &Entry, data: &[u8]) -> Result<(), SpoolError> {
        if !valid_id(&entry.id) {
            return Err(SpoolError::Missing(entry.id.clone()));
        }
        write_synced(&self.tmp(&entry.id, "eml"), data)?;
        let eml = self.msg(&entry.id, "eml");
        fs::rename(self.tmp(&entry.id, "eml"), &eml).map_err(io(&eml))?;
        self.update(entry)
    }

    /// Replaces an entry's state atomically.
    pub fn update(&self, entry: &Entry) -> Result<(), SpoolError> {
        let json = serde_json::to_vec_pretty(entry).map_err(|e| SpoolError::Corrupt {
            path: self.msg(&entry.id, "json"),
            message: e.to_string(),
        })?;
        let tmp = self.tmp(&entry.id, "json");
        write_synced(&tmp, &json)?;
        let dst = self.msg(&entry.id, "json");
        fs::rename(&tmp, &dst).map_err(io(&dst))?;
        sync_dir(&self.root.join("msg"))
    }

    pub fn entry(&self, id: &str) -> Result<Entry, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::Missing(id.to_string()));
        }
        let path = self.msg(id, "json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SpoolError::Missing(id.into()))
            }
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| SpoolError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    pub fn data(&self, id: &str) -> Result<Vec<u8>, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::Missing(id.to_string()));
        }
        let path = self.msg(id, "eml");
        fs::read(&path).map_err(io(&path))
    }

    /// Every committed entry; a corrupt one is reported and skipped, never deleted.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let dir = self.root.join("msg");
        let mut out = Vec::new();
        for f in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "json") {
                let id = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                match self.entry(&id) {
                    Ok(e) => out.push(e),
                    Err(e) => tracing::error!(error = %e, "unreadable spool entry left in place"),
                }
            }
        }
        out.sort_by_key(|e| e.received_ms);
        Ok(out)
    }

    /// Lets a held, quarantined or delayed message go: no hold, due now. The process serving
    /// the spool delivers it on its next pass.
    pub fn release(&self, id: &str) -> Result<Entry, SpoolError> {
        let mut e = self.entry(id)?;
        e.hold = None;
        e.next_attempt_ms = mamori_core::now_ms();
        self.update(&e)?;
        Ok(e)
    }

    /// Removes a message for good (delivered, bounced, or deleted by a person).
    pub fn remove(&self, id: &str) -> Result<(), SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::Missing(id.to_string()));
        }
        for ext in ["json", "eml"] {
            let p = self.msg(id, ext);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        // No directory fsync: if a crash undoes the removal, the message is delivered
        // again, which at-least-once delivery allows; the fsync cost every delivery.
        Ok(())
    }
}

impl Spool {
    /// The secret that signs the release/cancel links mailed to senders, created on first
    /// use (readable by this user only). The console reads it to check a link.
    pub fn link_secret(&self) -> Result<Vec<u8>, SpoolError> {
        let path = self.root.join("link-secret");
        match fs::read(&path) {
            Ok(s) if s.len() >= 32 => return Ok(s),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let secret: String = (0..2)
            .map(|_| ulid::Ulid::new().random().to_string())
            .collect::<Vec<_>>()
            .join("");
        let tmp = self.root.join("tmp").join("link-secret");
        write_synced(&tmp, secret.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600));
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(secret.into_bytes())
    }
}

/// Ids are ULIDs; anything else (a path from a URL, say) is refused before touching disk.
fn valid_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), SpoolError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
