//! The journal: where a message waits for its first delivery attempt.
//!
//! Most mail is delivered within milliseconds of being accepted. Giving each such message a
//! file of its own costs a file creation, an fsync that writes a new inode, a rename, a
//! directory fsync and an unlink — the file system's metadata work, not the message's bytes,
//! and most of the gateway's CPU under load. Instead, messages not held for anyone are
//! appended to a segment file, `journal/SEQ.log`, in the spool file's own format
//! (`MAMORI-SPOOL 1 <entry bytes> <message bytes>\n`, the entry as JSON, a newline, the
//! message), and concurrent writers share one `fdatasync` of the segment ([`GroupCommit`]).
//!
//! A delivered message gets a tombstone: its id on a line of `journal/SEQ.done`, not synced
//! (a crash may bring a delivered message back, which at-least-once delivery allows). A
//! segment that is no longer appended to and whose every message has a tombstone is removed.
//!
//! A journal message whose state changes (deferred after a failed attempt, changed from the
//! CLI) moves out: it is written to `msg/ID.mail` like a held message, then gets its
//! tombstone. A message in `msg/` takes precedence over the same id in the journal, so a
//! crash between the two leaves one message, not two.
//!
//! Recovery reads every segment in order and stops at the first record that is cut short or
//! unreadable: appends are sequential and acknowledged only once synced, so everything after
//! such a record was never acknowledged.

use super::spool::{corrupt, io, parse_header, record, sync_dir, valid_id, Entry, SpoolError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

/// Past this size the next append starts a new segment, so that old ones can be removed.
const SEGMENT_BYTES: u64 = 32 << 20;
/// A record's header and a typical entry, read in one go when scanning.
const HEAD_READ: usize = 8192;

/// Where a live message is in the journal.
#[derive(Clone)]
pub(super) struct Record {
    pub(super) entry: Entry,
    pub(super) seq: u64,
    data_at: u64,
    data_len: u64,
}

/// The journal of the process that serves the spool: it alone appends, through one writer
/// thread that writes whatever has queued up and then syncs it all with one `fdatasync`,
/// and it keeps every live record in memory.
pub(super) struct Journal {
    shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    dir: PathBuf,
    index: Mutex<Index>,
}

/// An append for the writer thread: the record as it goes to disk, and whom to answer.
struct Job {
    entry: Entry,
    record: Vec<u8>,
    /// Where the message starts within `record`.
    data_start: usize,
    answer: Answer,
}

enum Answer {
    Wait(mpsc::SyncSender<Result<(), SpoolError>>),
    Async(tokio::sync::oneshot::Sender<Result<(), SpoolError>>),
}

impl Answer {
    fn send(self, r: Result<(), SpoolError>) {
        // A caller that gave up waiting no longer needs the answer.
        let _ = match self {
            Answer::Wait(tx) => tx.send(r).map_err(drop),
            Answer::Async(tx) => tx.send(r).map_err(drop),
        };
    }
}

/// Appends queued at once that one write-and-sync round takes at most.
const MAX_BATCH: usize = 256;

struct Active {
    seq: u64,
    file: Arc<File>,
    len: u64,
}

#[derive(Default)]
struct Index {
    records: HashMap<String, Record>,
    segments: BTreeMap<u64, Segment>,
    next_seq: u64,
}

struct Segment {
    file: Arc<File>,
    live: usize,
    /// No more appends: removed once `live` is 0.
    sealed: bool,
    /// The tombstone file, opened on the first removal.
    done: Option<File>,
    /// Bytes of the tombstone file already read for tombstones another process
    /// (`mamori mail queue delete`) may have added; this process's own are read again,
    /// and are no-ops then.
    done_len: u64,
}

fn log_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.log"))
}

fn done_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.done"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a writer panicked; the index stays consistent per call.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One segment as found on disk.
struct Found {
    file: File,
    records: Vec<Record>,
    /// Tombstones (and their file's length).
    done: HashSet<String>,
    done_len: u64,
}

/// The segments' sequence numbers in `dir`, in order.
fn segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut seqs = Vec::new();
    let list = match fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(seqs),
        Err(e) => return Err(io(dir)(e)),
    };
    for f in list.flatten() {
        let name = f.file_name();
        if let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .filter(|n| n.len() == 16)
            .and_then(|n| n.parse::<u64>().ok())
        {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// The ids on the whole lines of a tombstone file from byte `from` on, and where the next
/// read starts (a line being written is read next time).
fn read_done(path: &Path, from: u64) -> Result<(Vec<String>, u64), SpoolError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), from)),
        Err(e) => return Err(io(path)(e)),
    };
    let len = file.metadata().map_err(io(path))?.len();
    let want = usize::try_from(len.saturating_sub(from))
        .map_err(|_| corrupt(path, "tombstone file too large"))?;
    let mut bytes = vec![0u8; want];
    file.read_exact_at(&mut bytes, from).map_err(io(path))?;
    let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let ids = bytes[..end]
        .split(|b| *b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter(|l| valid_id(l))
        .map(str::to_string)
        .collect();
    Ok((ids, from + end as u64))
}

/// Reads one segment: its records in order up to the first that is cut short or unreadable,
/// and its tombstones. `recovering`: the process that serves the spool reads it after a stop,
/// and reports where it ended early (elsewhere that is an append under way).
fn read_segment(dir: &Path, seq: u64, recovering: bool) -> Result<Found, SpoolError> {
    let path = log_path(dir, seq);
    let file = File::open(&path).map_err(io(&path))?;
    let len = file.metadata().map_err(io(&path))?.len();
    let (done, done_len) = read_done(&done_path(dir, seq), 0)?;
    let mut records = Vec::new();
    let mut at = 0u64;
    let mut head = vec![0u8; HEAD_READ];
    while at < len {
        let want = (len - at).min(HEAD_READ as u64) as usize;
        file.read_exact_at(&mut head[..want], at)
            .map_err(io(&path))?;
        let Some((header, entry_len, data_len)) = parse_header(&head[..want]) else {
            if recovering {
                tracing::warn!(segment = %path.display(), offset = at, "journal ends in a record that was never acknowledged");
            }
            break;
        };
        let entry_at = at + header as u64;
        let data_at = entry_at + entry_len + 1;
        let end = data_at.checked_add(data_len).filter(|e| *e <= len);
        let Some(end) = end else {
            if recovering {
                tracing::warn!(segment = %path.display(), offset = at, "journal ends in a record cut short; it was never acknowledged");
            }
            break;
        };
        let mut json = vec![0u8; entry_len as usize + 1];
        file.read_exact_at(&mut json, entry_at).map_err(io(&path))?;
        let entry = match (json.pop(), serde_json::from_slice::<Entry>(&json)) {
            (Some(b'\n'), Ok(e)) if valid_id(&e.id) => e,
            _ => {
                if recovering {
                    tracing::warn!(segment = %path.display(), offset = at, "unreadable journal record; what follows was never acknowledged");
                }
                break;
            }
        };
        records.push(Record {
            entry,
            seq,
            data_at,
            data_len,
        });
        at = end;
    }
    Ok(Found {
        file,
        records,
        done: done.into_iter().collect(),
        done_len,
    })
}

/// The live records of the journal in `dir` as they are on disk: for a process that does
/// not serve the spool. `moved` are ids that have a file in `msg/`, which wins.
pub(super) fn live_on_disk(
    dir: &Path,
    moved: &dyn Fn(&str) -> bool,
) -> Result<Vec<Record>, SpoolError> {
    let mut out = Vec::new();
    for seq in segments(dir)? {
        let found = match read_segment(dir, seq, false) {
            Ok(f) => f,
            // Removed since the directory was listed: everything in it was delivered.
            Err(SpoolError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(e) => return Err(e),
        };
        out.extend(
            found
                .records
                .into_iter()
                .filter(|r| !found.done.contains(&r.entry.id) && !moved(&r.entry.id)),
        );
    }
    Ok(out)
}

/// Reads a record's message.
fn read_data(dir: &Path, file: &File, r: &Record) -> Result<Vec<u8>, SpoolError> {
    read_at(dir, file, r.seq, r.data_at, r.data_len)
}

fn read_at(dir: &Path, file: &File, seq: u64, at: u64, len: u64) -> Result<Vec<u8>, SpoolError> {
    let len =
        usize::try_from(len).map_err(|_| corrupt(&log_path(dir, seq), "message too large"))?;
    let mut data = vec![0u8; len];
    file.read_exact_at(&mut data, at)
        .map_err(io(&log_path(dir, seq)))?;
    Ok(data)
}

/// A record's message, read by a process that does not serve the spool.
pub(super) fn data_on_disk(dir: &Path, r: &Record) -> Result<Vec<u8>, SpoolError> {
    let path = log_path(dir, r.seq);
    let file = File::open(&path).map_err(io(&path))?;
    read_data(dir, &file, r)
}

/// Appends a tombstone for `id` to segment `seq`'s tombstone file.
fn write_tombstone(file: &mut File, path: &Path, id: &str) -> Result<(), SpoolError> {
    file.write_all(format!("{id}\n").as_bytes())
        .map_err(io(path))
}

fn open_done(path: &Path) -> Result<File, SpoolError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(path))
}

/// Marks a record delivered from a process that does not serve the spool.
pub(super) fn remove_on_disk(dir: &Path, r: &Record) -> Result<(), SpoolError> {
    let path = done_path(dir, r.seq);
    write_tombstone(&mut open_done(&path)?, &path, &r.entry.id)
}

impl Journal {
    /// Opens the journal in `dir` for the process that serves the spool: reads every
    /// segment, drops what has a tombstone or has `moved` to `msg/`, and removes segments
    /// with nothing left. Appends go to a new segment.
    pub(super) fn open(dir: &Path, moved: &dyn Fn(&str) -> bool) -> Result<Journal, SpoolError> {
        Journal::open_sized(dir, moved, SEGMENT_BYTES)
    }

    /// [`Journal::open`] with segments of `segment_bytes` (the tests' small ones).
    fn open_sized(
        dir: &Path,
        moved: &dyn Fn(&str) -> bool,
        segment_bytes: u64,
    ) -> Result<Journal, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut index = Index::default();
        for seq in segments(dir)? {
            index.next_seq = seq + 1;
            let found = read_segment(dir, seq, true)?;
            let mut live = 0;
            for r in found.records {
                if found.done.contains(&r.entry.id) || moved(&r.entry.id) {
                    continue;
                }
                live += 1;
                index.records.insert(r.entry.id.clone(), r);
            }
            if live == 0 {
                remove_segment(dir, seq);
                continue;
            }
            index.segments.insert(
                seq,
                Segment {
                    file: Arc::new(found.file),
                    live,
                    sealed: true,
                    done: None,
                    done_len: found.done_len,
                },
            );
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            index: Mutex::new(index),
        });
        let (jobs, queued) = mpsc::channel();
        let writer = Writer {
            shared: Arc::clone(&shared),
            active: None,
            segment_bytes,
        };
        let writer = std::thread::Builder::new()
            .name("mail-journal".into())
            .spawn(move || writer.run(queued))
            .map_err(io(dir))?;
        Ok(Journal {
            shared,
            jobs: Some(jobs),
            writer: Some(writer),
        })
    }

    fn job(&self, entry: &Entry, data: &[u8], answer: Answer) {
        let (record, data_start) = match record(entry, data, &self.shared.dir) {
            Ok(r) => r,
            Err(e) => return answer.send(Err(e)),
        };
        let job = Job {
            entry: entry.clone(),
            record,
            data_start,
            answer,
        };
        // A writer that has stopped drops the job with its answer: the caller then hears
        // that nothing was stored.
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Appends a message and returns once it is durable.
    pub(super) fn append(&self, entry: &Entry, data: &[u8]) -> Result<(), SpoolError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.job(entry, data, Answer::Wait(tx));
        rx.recv().unwrap_or_else(|_| {
            Err(io(&self.shared.dir)(std::io::Error::other(
                "the journal writer has stopped",
            )))
        })
    }

    /// Appends a message; the answer comes once it is durable.
    pub(super) fn submit(
        &self,
        entry: &Entry,
        data: &[u8],
    ) -> tokio::sync::oneshot::Receiver<Result<(), SpoolError>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.job(entry, data, Answer::Async(tx));
        rx
    }

    /// The live record `id`, if the journal has it.
    pub(super) fn get(&self, id: &str) -> Option<Record> {
        lock(&self.shared.index).records.get(id).cloned()
    }

    /// Whether `id` is a live record here.
    pub(super) fn has(&self, id: &str) -> bool {
        lock(&self.shared.index).records.contains_key(id)
    }

    /// Every live record, after taking in tombstones other processes wrote.
    pub(super) fn live(&self) -> Vec<Record> {
        let mut index = lock(&self.shared.index);
        let dir = &self.shared.dir;
        let mut gone = Vec::new();
        for (seq, s) in index.segments.iter_mut() {
            match read_done(&done_path(dir, *seq), s.done_len) {
                Ok((ids, next)) => {
                    s.done_len = next;
                    gone.extend(ids);
                }
                Err(e) => tracing::warn!(error = %e, "could not read journal tombstones"),
            }
        }
        for id in gone {
            if let Some(r) = index.records.remove(&id) {
                forget(&mut index, dir, r.seq);
            }
        }
        index.records.values().cloned().collect()
    }

    /// The message of live record `id`, if the journal has it (without copying its entry).
    pub(super) fn data_of(&self, id: &str) -> Option<Result<Vec<u8>, SpoolError>> {
        let (file, seq, at, len) = {
            let index = lock(&self.shared.index);
            let r = index.records.get(id)?;
            let file = index.segments.get(&r.seq).map(|s| Arc::clone(&s.file));
            (file, r.seq, r.data_at, r.data_len)
        };
        Some(match file {
            Some(f) => read_at(&self.shared.dir, &f, seq, at, len),
            None => Err(SpoolError::Missing(id.to_string())),
        })
    }

    /// Marks live record `id` delivered, if the journal has it.
    pub(super) fn remove_id(&self, id: &str) -> Option<Result<(), SpoolError>> {
        let seq = lock(&self.shared.index).records.get(id)?.seq;
        Some(self.shared.tombstone(id, seq, false))
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Shared {
    /// Writes `id`'s tombstone; `counted`: the record was counted live without being in
    /// the index (an append whose commit failed).
    fn tombstone(&self, id: &str, seq: u64, counted: bool) -> Result<(), SpoolError> {
        let mut index = lock(&self.index);
        let was_live = index.records.remove(id).is_some() || counted;
        let dir = &self.dir;
        let Some(s) = index.segments.get_mut(&seq) else {
            return Ok(());
        };
        let path = done_path(dir, seq);
        let written = match s.done.as_mut() {
            Some(f) => write_tombstone(f, &path, id),
            None => open_done(&path).and_then(|mut f| {
                let r = write_tombstone(&mut f, &path, id);
                s.done = Some(f);
                r
            }),
        };
        // Gone from this process's view either way; a tombstone that could not be written
        // only means a delivery again after a restart.
        if was_live {
            forget(&mut index, dir, seq);
        }
        written
    }
}

/// The thread that appends: the only one that writes segments.
struct Writer {
    shared: Arc<Shared>,
    /// The segment appends go to; `None` until the first append.
    active: Option<Active>,
    /// Past this size the next append starts a new segment.
    segment_bytes: u64,
}

impl Writer {
    fn run(mut self, queued: mpsc::Receiver<Job>) {
        while let Ok(first) = queued.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queued.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let written: Vec<_> = batch.iter().map(|job| self.write(job)).collect();
            // Segments replaced during the batch were synced when they were replaced.
            let synced = match &self.active {
                Some(a) => a.file.sync_data().map_err(|e| (a.seq, e)),
                None => Ok(()),
            };
            for (job, at) in batch.into_iter().zip(written) {
                let result = match (at, &synced) {
                    (Ok((seq, at)), Ok(())) => {
                        let r = Record {
                            seq,
                            data_at: at + job.data_start as u64,
                            data_len: (job.record.len() - job.data_start) as u64,
                            entry: job.entry,
                        };
                        lock(&self.shared.index)
                            .records
                            .insert(r.entry.id.clone(), r);
                        Ok(())
                    }
                    (Ok((seq, _)), Err((failed, e))) => {
                        // Not acknowledged, so not to be delivered either (after a restart).
                        let _ = self.shared.tombstone(&job.entry.id, seq, true);
                        Err(io(&log_path(&self.shared.dir, *failed))(
                            std::io::Error::new(e.kind(), e.to_string()),
                        ))
                    }
                    (Err(e), _) => Err(e),
                };
                job.answer.send(result);
            }
        }
    }

    /// Writes one record at the end of the active segment (starting one when there is none
    /// or it is full); answers the segment and the record's offset.
    fn write(&mut self, job: &Job) -> Result<(u64, u64), SpoolError> {
        let full = self
            .active
            .as_ref()
            .is_none_or(|a| a.len >= self.segment_bytes);
        if full {
            self.rotate()?;
        }
        let Some(a) = self.active.as_mut() else {
            return Err(io(&self.shared.dir)(std::io::Error::other("no segment")));
        };
        let at = a.len;
        // Whatever part of a failed write landed is overwritten by the next append.
        a.file
            .write_all_at(&job.record, at)
            .map_err(io(&log_path(&self.shared.dir, a.seq)))?;
        a.len += job.record.len() as u64;
        // Counted live from now on, so that the segment is not removed while the record
        // waits for its sync.
        if let Some(s) = lock(&self.shared.index).segments.get_mut(&a.seq) {
            s.live += 1;
        }
        Ok((a.seq, at))
    }

    /// Starts a new segment: the current one is synced first (records written to it wait for
    /// their sync), and the new one's directory entry is made durable before anything is
    /// appended to it.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        let dir = &self.shared.dir;
        if let Some(old) = &self.active {
            old.file.sync_data().map_err(io(&log_path(dir, old.seq)))?;
        }
        let seq = lock(&self.shared.index).next_seq;
        let path = log_path(dir, seq);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        sync_dir(dir)?;
        let file = Arc::new(file);
        let mut index = lock(&self.shared.index);
        index.next_seq = seq + 1;
        index.segments.insert(
            seq,
            Segment {
                file: Arc::clone(&file),
                live: 0,
                sealed: false,
                done: None,
                done_len: 0,
            },
        );
        if let Some(old) = self.active.take() {
            change_segment(&mut index, dir, old.seq, |s| s.sealed = true);
        }
        self.active = Some(Active { seq, file, len: 0 });
        Ok(())
    }
}

/// One live record of segment `seq` fewer.
fn forget(index: &mut Index, dir: &Path, seq: u64) {
    change_segment(index, dir, seq, |s| s.live = s.live.saturating_sub(1));
}

/// Applies `change` to segment `seq`; a sealed segment left with no live record is removed.
fn change_segment(index: &mut Index, dir: &Path, seq: u64, change: impl FnOnce(&mut Segment)) {
    let empty = index.segments.get_mut(&seq).is_some_and(|s| {
        change(s);
        s.sealed && s.live == 0
    });
    if empty {
        index.segments.remove(&seq);
        remove_segment(dir, seq);
    }
}

/// Removes a segment and its tombstones. No directory fsync: a removal a crash undoes only
/// brings back messages with their tombstones, or delivered messages again.
fn remove_segment(dir: &Path, seq: u64) {
    for p in [log_path(dir, seq), done_path(dir, seq)] {
        if let Err(e) = fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %p.display(), error = %e, "could not remove a finished journal segment");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::spool::{RcptState, Recipient};

    fn entry(n: usize) -> (Entry, Vec<u8>) {
        let data = format!("Subject: {n}\r\n\r\nbody {n}\r\n").into_bytes();
        let e = Entry {
            id: ulid::Ulid::new().to_string(),
            tenant: "acme".into(),
            direction: "inbound".into(),
            mail_from: "a@partner.example".into(),
            recipients: vec![Recipient {
                address: "b@acme.example".into(),
                state: RcptState::Pending,
                last_reply: String::new(),
            }],
            received_ms: n as i64,
            attempts: 0,
            next_attempt_ms: 0,
            last_error: String::new(),
            hold: None,
            auth_user: None,
            size: data.len() as u64,
            report: None,
        };
        (e, data)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Segments fill and are replaced while appends wait for their sync, and removals come
    /// from many threads: every record stays readable until it is removed, and once all are,
    /// only the segment being appended to is left.
    #[test]
    fn full_segments_are_replaced_and_removed_once_their_last_message_is_delivered() {
        let dir = mamori_core::scratch::dir("journal");
        let journal = Arc::new(Journal::open_sized(&dir, &|_| false, 2_000).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = Arc::clone(&journal);
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..40 {
                        let (e, data) = entry(t * 100 + i);
                        journal.append(&e, &data).unwrap();
                        mine.push((e.id, data));
                    }
                    for (id, data) in &mine {
                        let read = journal.data_of(id).expect("live until removed");
                        assert_eq!(&read.unwrap(), data);
                        journal.remove_id(id).expect("live until removed").unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert!(journal.live().is_empty());
        let left = files(&dir);
        assert!(left.len() <= 2, "only the active segment is left: {left:?}");
        assert!(left.iter().all(|f| f.starts_with(&left[0][..16])));
        drop(journal);
        let journal = Journal::open(&dir, &|_| false).unwrap();
        assert!(journal.live().is_empty());
        assert!(files(&dir).is_empty());
    }
}
