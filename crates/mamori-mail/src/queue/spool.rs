//! The durable spool: every accepted message is on disk, fsynced, before the gateway says
//! `250`, and stays there until it is delivered, bounced, released, or deleted.
//!
//! Layout under the spool directory:
//! - `journal/SEQ.log` and `SEQ.done`: messages on their first delivery attempt, appended
//!   and synced in groups, with tombstones for the delivered ones ([`super::journal`]). Only
//!   the process serving the spool appends; the others read it from disk.
//! - `tmp/`: files being written; anything here at start-up was never acknowledged and is removed.
//! - `msg/ID.mail`: one file per held message, and per message moved out of the journal when
//!   its first attempt failed: a header line
//!   `MAMORI-SPOOL 1 <entry bytes> <message bytes>`, the [`Entry`] as JSON (envelope,
//!   per-recipient state, attempts, hold state) and a newline, then the message exactly as
//!   received. It is written to `tmp/`, fsynced and renamed into `msg/`: its presence is the
//!   commit point. One file means one fsync and one rename per message.
//! - `msg/ID.json`: the entry's later state (after a deferral, a release, a retry), which
//!   supersedes the entry inside `ID.mail`; written the same way (`tmp/`, fsync, rename).
//! - The layout before version 1, still read so that a spool left by an older Mamori is
//!   delivered: `msg/ID.eml` (the message) and `msg/ID.json` (its entry, the commit point;
//!   an `.eml` without a `.json` was never acknowledged and is removed at start-up).
//!
//! Every rename into `msg/` is followed by an fsync of `msg/` before the write counts as
//! done, so a `kill -9` or power loss at any point leaves either the old or the new state.
//! Concurrent writers share those directory fsyncs ([`DirCommit`]): one writer syncs the
//! directory for every rename made before it started, the others wait for it, so under load
//! the cost of the directory entry's durability is paid once per batch, not per message.

use super::journal::{self, Journal, Record};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

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

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
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

/// The first bytes of a version-1 spool file.
const MAGIC: &str = "MAMORI-SPOOL 1 ";
/// The longest header line accepted (magic, two lengths, newline).
const MAX_HEADER: usize = 64;
/// An entry is a few KB (the analysis' reasons included); anything much larger is corrupt.
const MAX_ENTRY: u64 = 16 << 20;

pub struct Spool {
    root: PathBuf,
    /// Directory fsyncs of `msg/`, shared by concurrent renames.
    commit: GroupCommit,
    /// The journal this process appends to; `None` in a process that only looks
    /// ([`Spool::attach`]), which reads the journal from disk each time.
    journal: Option<Journal>,
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
        Ok(Spool::at(root))
    }

    fn at(root: &Path) -> Spool {
        Spool {
            root: root.to_path_buf(),
            commit: GroupCommit::new(),
            journal: None,
        }
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
        let spool = Spool::at(root);
        let files = spool.files()?;
        for id in &files.eml {
            if !files.json.contains(id) {
                let p = spool.msg(id, "eml");
                tracing::warn!(file = %p.display(), "removing a message that was never acknowledged");
                let _ = fs::remove_file(&p);
            }
        }
        // A state file whose message is gone is what a removal interrupted by a crash
        // leaves (the message is removed first).
        for id in &files.json {
            if !files.mail.contains(id) && !files.eml.contains(id) {
                let _ = fs::remove_file(spool.msg(id, "json"));
            }
        }
        sync_dir(&root.join("msg"))?;
        let files = spool.files()?;
        let journal = Journal::open(&root.join("journal"), &|id| files.has_message(id))?;
        Ok(Spool {
            journal: Some(journal),
            ..spool
        })
    }

    fn journal_dir(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// The journal's live records: this process's own index, or what is on disk in a
    /// process that only looks. A message that also has a file in `msg/` is the file's.
    fn journal_live(&self, files: &Files) -> Result<Vec<Record>, SpoolError> {
        match &self.journal {
            Some(j) => Ok(j
                .live()
                .into_iter()
                .filter(|r| !files.has_message(&r.entry.id))
                .collect()),
            None => journal::live_on_disk(&self.journal_dir(), &|id| files.has_message(id)),
        }
    }

    /// Message `id` in the journal, unless it has a file in `msg/`.
    fn journal_record(&self, id: &str) -> Result<Option<Record>, SpoolError> {
        if let Some(j) = &self.journal {
            return Ok(j.get(id));
        }
        let has_file = self.msg(id, "mail").exists() || self.msg(id, "eml").exists();
        if has_file {
            return Ok(None);
        }
        let live = journal::live_on_disk(&self.journal_dir(), &|_| false)?;
        Ok(live.into_iter().find(|r| r.entry.id == id))
    }

    fn journal_data(&self, r: &Record) -> Result<Vec<u8>, SpoolError> {
        match &self.journal {
            Some(j) => j
                .data_of(&r.entry.id)
                .unwrap_or_else(|| Err(SpoolError::Missing(r.entry.id.clone()))),
            None => journal::data_on_disk(&self.journal_dir(), r),
        }
    }

    fn journal_remove(&self, r: &Record) -> Result<(), SpoolError> {
        match &self.journal {
            // Already gone (delivered meanwhile) is done too.
            Some(j) => j.remove_id(&r.entry.id).unwrap_or(Ok(())),
            None => journal::remove_on_disk(&self.journal_dir(), r),
        }
    }

    /// Every rename into `msg/` so far is durable once this returns.
    fn sync_msg_dir(&self) -> Result<(), SpoolError> {
        let msg = self.root.join("msg");
        self.commit
            .sync(&msg, || File::open(&msg).and_then(|d| d.sync_all()))
    }

    fn msg(&self, id: &str, ext: &str) -> PathBuf {
        self.root.join("msg").join(format!("{id}.{ext}"))
    }

    fn tmp(&self, id: &str, ext: &str) -> PathBuf {
        self.root.join("tmp").join(format!("{id}.{ext}"))
    }

    /// The ids in `msg/`, by kind of file.
    fn files(&self) -> Result<Files, SpoolError> {
        let dir = self.root.join("msg");
        let mut files = Files::default();
        for f in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            let name = f.file_name();
            let Some((id, ext)) = name.to_str().and_then(|n| n.split_once('.')) else {
                continue;
            };
            if !valid_id(id) {
                continue;
            }
            let set = match ext {
                "mail" => &mut files.mail,
                "json" => &mut files.json,
                "eml" => &mut files.eml,
                _ => continue,
            };
            set.insert(id.to_string());
        }
        Ok(files)
    }

    /// Stores a new message durably. Only after this returns may the sender be told `250`.
    /// A message on its way to delivery goes to the journal (in the process that serves the
    /// spool); a held one gets a file of its own, since it may wait for days.
    pub fn put(&self, entry: &Entry, data: &[u8]) -> Result<(), SpoolError> {
        if !valid_id(&entry.id) {
            return Err(SpoolError::Missing(entry.id.clone()));
        }
        match &self.journal {
            Some(j) if entry.hold.is_none() => j.append(entry, data),
            _ => self.put_file(entry, data),
        }
    }

    /// [`Spool::put`] for async callers, when the message goes to the journal: the answer
    /// comes once it is durable, without a thread waiting for it. `None`: use `put`.
    pub fn submit(
        &self,
        entry: &Entry,
        data: &[u8],
    ) -> Option<tokio::sync::oneshot::Receiver<Result<(), SpoolError>>> {
        match &self.journal {
            Some(j) if entry.hold.is_none() && valid_id(&entry.id) => Some(j.submit(entry, data)),
            _ => None,
        }
    }

    /// Whether message `id` is in this process's journal: reading it and removing it then
    /// touch only the page cache.
    pub fn in_journal(&self, id: &str) -> bool {
        self.journal.as_ref().is_some_and(|j| j.has(id))
    }

    /// Writes `msg/ID.mail`: entry and message in one file, fsynced and renamed into place.
    fn put_file(&self, entry: &Entry, data: &[u8]) -> Result<(), SpoolError> {
        let dst = self.msg(&entry.id, "mail");
        let (file, _) = record(entry, data, &dst)?;
        let tmp = self.tmp(&entry.id, "mail");
        write_synced(&tmp, &file)?;
        fs::rename(&tmp, &dst).map_err(io(&dst))?;
        if let Err(e) = self.sync_msg_dir() {
            // Not acknowledged, so not to be delivered either: the sender will try again.
            let _ = fs::remove_file(&dst);
            return Err(e);
        }
        Ok(())
    }

    /// Replaces an entry's state atomically. A message in the journal moves to a file of
    /// its own first (then gets its tombstone): it is no longer on its first attempt.
    pub fn update(&self, entry: &Entry) -> Result<(), SpoolError> {
        if !valid_id(&entry.id) {
            return Err(SpoolError::Missing(entry.id.clone()));
        }
        if let Some(r) = self.journal_record(&entry.id)? {
            let data = self.journal_data(&r)?;
            self.put_file(entry, &data)?;
            return self.journal_remove(&r);
        }
        let dst = self.msg(&entry.id, "json");
        let json = serde_json::to_vec_pretty(entry).map_err(|e| SpoolError::Corrupt {
            path: dst.clone(),
            message: e.to_string(),
        })?;
        let tmp = self.tmp(&entry.id, "json");
        write_synced(&tmp, &json)?;
        fs::rename(&tmp, &dst).map_err(io(&dst))?;
        self.sync_msg_dir()
    }

    pub fn entry(&self, id: &str) -> Result<Entry, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::Missing(id.to_string()));
        }
        let path = self.msg(id, "json");
        match fs::read(&path) {
            Ok(bytes) => {
                // A state file alone is the rest of an interrupted removal.
                if !self.msg(id, "mail").exists() && !self.msg(id, "eml").exists() {
                    return Err(SpoolError::Missing(id.into()));
                }
                return serde_json::from_slice(&bytes).map_err(|e| SpoolError::Corrupt {
                    path,
                    message: e.to_string(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&path)(e)),
        }
        let path = self.msg(id, "mail");
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match self.journal_record(id)? {
                    Some(r) => Ok(r.entry),
                    None => Err(SpoolError::Missing(id.into())),
                };
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let (mut rest, entry_len, _) = read_header(&mut file, &path)?;
        let mut json = Vec::with_capacity(entry_len as usize);
        json.extend_from_slice(
            rest.get(..(entry_len as usize).min(rest.len()))
                .unwrap_or(&[]),
        );
        if (json.len() as u64) < entry_len {
            rest.clear();
            (&mut file)
                .take(entry_len - json.len() as u64)
                .read_to_end(&mut json)
                .map_err(io(&path))?;
        }
        if (json.len() as u64) != entry_len {
            return Err(corrupt(&path, "shorter than its header says"));
        }
        serde_json::from_slice(&json).map_err(|e| SpoolError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    pub fn data(&self, id: &str) -> Result<Vec<u8>, SpoolError> {
        if !valid_id(id) {
            return Err(SpoolError::Missing(id.to_string()));
        }
        // This process's journal first: a message it holds has no file (one moved out by
        // another process meanwhile has the same bytes).
        if let Some(data) = self.journal.as_ref().and_then(|j| j.data_of(id)) {
            return data;
        }
        let path = self.msg(id, "mail");
        match fs::read(&path) {
            Ok(bytes) => message_part(&bytes)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| corrupt(&path, "not a spool file of version 1")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(r) = self.journal_record(id)? {
                    return self.journal_data(&r);
                }
                let path = self.msg(id, "eml");
                fs::read(&path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => SpoolError::Missing(id.into()),
                    _ => io(&path)(e),
                })
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Every committed entry; a corrupt one is reported and skipped, never deleted.
    pub fn entries(&self) -> Result<Vec<Entry>, SpoolError> {
        let files = self.files()?;
        let mut out = Vec::new();
        let old = files.eml.iter().filter(|id| files.json.contains(*id));
        for id in files.mail.iter().chain(old) {
            match self.entry(id) {
                Ok(e) => out.push(e),
                // Delivered and removed since the directory was listed.
                Err(SpoolError::Missing(_)) => {}
                Err(e) => tracing::error!(error = %e, "unreadable spool entry left in place"),
            }
        }
        out.extend(self.journal_live(&files)?.into_iter().map(|r| r.entry));
        out.sort_by(|a, b| a.received_ms.cmp(&b.received_ms).then(a.id.cmp(&b.id)));
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
        if let Some(removed) = self.journal.as_ref().and_then(|j| j.remove_id(id)) {
            return removed;
        }
        if self.journal.is_none() {
            if let Some(r) = self.journal_record(id)? {
                return self.journal_remove(&r);
            }
        }
        // The message before its state file: a crash in between leaves a state file alone,
        // which start-up removes, never a message with a stale state.
        for ext in ["mail", "eml", "json"] {
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

/// The ids found in `msg/`, by file kind.
#[derive(Default)]
struct Files {
    mail: HashSet<String>,
    json: HashSet<String>,
    eml: HashSet<String>,
}

impl Files {
    /// Whether `id` has a message file (either layout).
    fn has_message(&self, id: &str) -> bool {
        self.mail.contains(id) || self.eml.contains(id)
    }
}

pub(super) fn corrupt(path: &Path, message: &str) -> SpoolError {
    SpoolError::Corrupt {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// A message with its entry as a version-1 spool file (or journal record) holds them:
/// `MAMORI-SPOOL 1 <entry> <message>\n`, the entry as JSON, a newline, the message. Also
/// answers where the message starts. `path` names the destination in an error.
pub(super) fn record(
    entry: &Entry,
    data: &[u8],
    path: &Path,
) -> Result<(Vec<u8>, usize), SpoolError> {
    let json = serde_json::to_vec(entry).map_err(|e| corrupt(path, &e.to_string()))?;
    let header = format!("{MAGIC}{} {}\n", json.len(), data.len());
    let mut out = Vec::with_capacity(header.len() + json.len() + 1 + data.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&json);
    out.push(b'\n');
    let data_start = out.len();
    out.extend_from_slice(data);
    Ok((out, data_start))
}

/// Parses `MAMORI-SPOOL 1 <entry> <message>\n` at the start of `bytes`: the header's
/// length and the two sizes.
pub(super) fn parse_header(bytes: &[u8]) -> Option<(usize, u64, u64)> {
    let line_end = bytes.iter().take(MAX_HEADER).position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(bytes.get(..line_end)?).ok()?;
    let sizes = line.strip_prefix(MAGIC)?;
    let (entry, message) = sizes.split_once(' ')?;
    let entry: u64 = entry.parse().ok()?;
    let message: u64 = message.parse().ok()?;
    (entry <= MAX_ENTRY).then_some((line_end + 1, entry, message))
}

/// Reads a version-1 file's header; answers the bytes read past it, the entry's size and
/// the message's size, after checking the file is as long as the header says.
fn read_header(file: &mut File, path: &Path) -> Result<(Vec<u8>, u64, u64), SpoolError> {
    // Enough for the header and a typical entry in one read.
    let mut buf = vec![0; 4096];
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(path)(e)),
        }
    }
    buf.truncate(filled);
    let (header, entry, message) =
        parse_header(&buf).ok_or_else(|| corrupt(path, "not a spool file of version 1"))?;
    let len = file.metadata().map_err(io(path))?.len();
    if len != header as u64 + entry + 1 + message {
        return Err(corrupt(path, "its length does not match its header"));
    }
    Ok((buf.split_off(header), entry, message))
}

/// The message inside a whole version-1 file.
fn message_part(bytes: &[u8]) -> Option<&[u8]> {
    let (header, entry, message) = parse_header(bytes)?;
    let start = header
        .checked_add(usize::try_from(entry).ok()?)?
        .checked_add(1)?;
    let end = start.checked_add(usize::try_from(message).ok()?)?;
    (end == bytes.len())
        .then(|| bytes.get(start..end))
        .flatten()
}

/// Group commit of fsyncs: of the directory that makes renames into `msg/` durable, and of
/// the journal segment that appends go to.
///
/// A writer takes a ticket after its write and waits until an fsync that began after that
/// ticket has finished. If none is running, it runs one itself, for every ticket taken so
/// far; writers arriving meanwhile wait for the next one, which then covers all of them. A
/// failed fsync fails exactly the tickets it was meant to cover.
pub(super) struct GroupCommit {
    state: Mutex<CommitState>,
    done: Condvar,
    /// Fsyncs run, for the tests that prove they are shared.
    #[cfg(test)]
    syncs: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct CommitState {
    /// Tickets handed out so far (the last one's number).
    issued: u64,
    /// Every ticket up to this one is durable.
    synced: u64,
    /// A writer is syncing now.
    running: bool,
    /// The tickets `(after, up_to]` of the last failed fsync, and its error.
    failed: Option<(u64, u64, std::io::ErrorKind, String)>,
}

impl GroupCommit {
    pub(super) fn new() -> GroupCommit {
        GroupCommit {
            state: Mutex::new(CommitState::default()),
            done: Condvar::new(),
            #[cfg(test)]
            syncs: Default::default(),
        }
    }

    /// Returns once everything this thread wrote before calling is durable: `fsync` makes
    /// everything written so far durable; `what` names it in an error.
    pub(super) fn sync(
        &self,
        what: &Path,
        fsync: impl Fn() -> std::io::Result<()>,
    ) -> Result<(), SpoolError> {
        // A poisoned lock only means another writer panicked; the counters stay consistent.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.issued += 1;
        let ticket = st.issued;
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if let Some((after, up_to, kind, message)) = &st.failed {
                if *after < ticket && ticket <= *up_to {
                    return Err(SpoolError::Io {
                        path: what.to_path_buf(),
                        source: std::io::Error::new(*kind, message.clone()),
                    });
                }
            }
            if st.running {
                st = self.done.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            st.running = true;
            let (after, up_to) = (st.synced, st.issued);
            drop(st);
            #[cfg(test)]
            self.syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = fsync();
            st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = false;
            match result {
                Ok(()) => st.synced = st.synced.max(up_to),
                Err(e) => st.failed = Some((after, up_to, e.kind(), e.to_string())),
            }
            self.done.notify_all();
        }
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
pub(super) fn valid_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), SpoolError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn dir() -> PathBuf {
        let d = mamori_core::scratch::dir("dircommit");
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn sync_dir_of(commit: &GroupCommit, d: &Path) -> Result<(), SpoolError> {
        commit.sync(d, || File::open(d).and_then(|f| f.sync_all()))
    }

    /// Waits until `n` writers hold a ticket.
    fn wait_for_tickets(commit: &GroupCommit, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while commit.state.lock().unwrap().issued < n {
            assert!(Instant::now() < deadline, "writers never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn writers_waiting_behind_a_directory_fsync_share_the_next_one() {
        let d = dir();
        let commit = Arc::new(GroupCommit::new());
        // A directory fsync is under way (this test holds it), and 20 writers arrive.
        commit.state.lock().unwrap().running = true;
        let writers: Vec<_> = (0..20)
            .map(|_| {
                let (commit, d) = (commit.clone(), d.clone());
                std::thread::spawn(move || sync_dir_of(&commit, &d))
            })
            .collect();
        wait_for_tickets(&commit, 20);
        // The fsync ends having covered none of them.
        commit.state.lock().unwrap().running = false;
        commit.done.notify_all();
        for w in writers {
            w.join().unwrap().unwrap();
        }
        assert_eq!(commit.syncs.load(Ordering::Relaxed), 1);
        assert_eq!(commit.state.lock().unwrap().synced, 20);
        // A writer alone syncs for itself.
        sync_dir_of(&commit, &d).unwrap();
        assert_eq!(commit.syncs.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_failed_directory_fsync_fails_the_writers_it_covered_and_no_others() {
        let d = dir();
        let gone = d.join("gone");
        let commit = Arc::new(GroupCommit::new());
        commit.state.lock().unwrap().running = true;
        let writers: Vec<_> = (0..5)
            .map(|_| {
                let (commit, gone) = (commit.clone(), gone.clone());
                std::thread::spawn(move || sync_dir_of(&commit, &gone))
            })
            .collect();
        wait_for_tickets(&commit, 5);
        commit.state.lock().unwrap().running = false;
        commit.done.notify_all();
        for w in writers {
            assert!(w.join().unwrap().is_err());
        }
        // The directory is back: the next writer succeeds, nobody hangs.
        fs::create_dir_all(&gone).unwrap();
        sync_dir_of(&commit, &gone).unwrap();
    }
}
