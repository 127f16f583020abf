//! The durable spool: alerts waiting for the console, on disk.
//!
//! Layout of the spool directory:
//! - `00000000000000000001.ndjson`, `…02.ndjson`, …: append-only segments, one alert JSON
//!   per line. A new segment starts when the next write would pass
//!   [`SpoolConfig::segment_bytes`]; a segment is deleted once every line in it is
//!   acknowledged.
//! - `ack.json`: `{"segment": n, "offset": bytes}`, the [`Position`] before which the
//!   console has taken everything; replaced atomically.
//! - `lock`: held (`flock`) while a process has the spool open, so two sensors cannot
//!   share one directory.
//!
//! [`Spool::append`] returns only once its lines are written and `fdatasync`ed; concurrent
//! appends share one fsync (group commit). When the unacknowledged bytes reach
//! [`SpoolConfig::max_bytes`], appends wait for the forwarder to free room (backpressure,
//! logged once) rather than drop events; disk use stays below the cap plus one segment.
//!
//! Readers ([`Spool::read`]) see only committed lines and never change the spool; the
//! forwarder keeps its own read cursor and calls [`Spool::ack`] in order. Recovery rules
//! after a crash are in `recover.rs`.

mod ack;
mod recover;
mod writer;

use crate::{io, Error};
use mamori_core::Alert;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, oneshot, Notify};

/// Sizes of a spool.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// A segment is closed and a new one started past this size (64 MiB).
    pub segment_bytes: u64,
    /// Unacknowledged bytes at which appends wait (1 GiB).
    pub max_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            segment_bytes: 64 << 20,
            max_bytes: 1 << 30,
        }
    }
}

/// A place in the spool: a segment id and a byte offset in it. Ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Consecutive complete lines read from one segment.
#[derive(Debug, Clone)]
pub struct Batch {
    pub start: Position,
    /// Just past the last line: where the next read starts and what [`Spool::ack`] takes.
    pub end: Position,
    /// Number of lines (alerts).
    pub events: u64,
    /// NDJSON, every line ending in `\n`.
    pub lines: Vec<u8>,
}

/// Counters for status pages and the console's lag display.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Alerts written but not yet acknowledged by the console.
    pub backlog_events: u64,
    pub backlog_bytes: u64,
    /// The `time` of the oldest unacknowledged alert, in Unix milliseconds.
    pub oldest_unsent_ms: Option<i64>,
    pub segments: usize,
    /// Appends are waiting for room.
    pub full: bool,
}

/// A durable queue of alert lines in a directory. Cheap to clone; all clones share one
/// writer thread, which stops when the last clone is dropped (that drop waits for the
/// thread's last fsync).
#[derive(Clone)]
pub struct Spool {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
    tx: Option<mpsc::Sender<writer::Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _lock: Arc<File>,
}

impl Drop for Handle {
    /// Waits for the writer thread to finish what it was given (one group commit at most),
    /// so the directory lock is free once the last clone is gone.
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(crate) struct Shared {
    dir: PathBuf,
    config: SpoolConfig,
    state: Mutex<State>,
    /// Woken when unacknowledged bytes shrink.
    room: Notify,
    /// Woken after each group commit.
    committed: Notify,
    /// Serialises [`Spool::ack`] so the ack file never goes backwards.
    acking: Mutex<()>,
}

struct State {
    /// Segment id to committed length.
    segments: BTreeMap<u64, u64>,
    /// Sum of `segments`' lengths.
    total_bytes: u64,
    ack: Position,
    backlog_events: u64,
    /// Bytes of appends admitted but not yet committed.
    reserved: u64,
    full: bool,
    broken: Option<String>,
    /// The oldest unsent alert's time, for the ack position it was read at.
    oldest: Option<(Position, Option<i64>)>,
}

impl State {
    fn backlog_bytes(&self) -> u64 {
        self.total_bytes.saturating_sub(self.ack.offset)
    }

    /// The first committed byte at or after `from`, and the end of its segment.
    fn locate(&self, from: Position) -> Option<(Position, u64)> {
        let from = from.max(self.ack);
        self.segments
            .range(from.segment..)
            .find_map(|(&segment, &len)| {
                let offset = if segment == from.segment {
                    from.offset
                } else {
                    0
                };
                (offset < len).then_some((Position { segment, offset }, len))
            })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Room taken against the cap by one append; given back on drop (after its commit has
/// moved the bytes into the backlog, or after a failure).
pub(crate) struct Reservation {
    shared: Arc<Shared>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.reserved = st.reserved.saturating_sub(self.bytes);
        drop(st);
        self.shared.room.notify_waiters();
    }
}

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.ndjson"))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, recovering from a crash as described in
    /// `recover.rs`. Blocking: reads the newest segment once.
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<Spool, Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock = Arc::new(lock_dir(&dir)?);
        let r = recover::recover(&dir)?;
        let head_id = r.segments.keys().next_back().copied().unwrap_or(1);
        let head_len = r.segments.get(&head_id).copied().unwrap_or(0);
        let state = State {
            total_bytes: r.segments.values().sum(),
            segments: r.segments,
            ack: r.ack,
            backlog_events: r.backlog_events,
            reserved: 0,
            full: false,
            broken: None,
            oldest: None,
        };
        tracing::info!(
            dir = %dir.display(),
            backlog_events = state.backlog_events,
            backlog_bytes = state.backlog_bytes(),
            "spool opened"
        );
        let shared = Arc::new(Shared {
            dir,
            config,
            state: Mutex::new(state),
            room: Notify::new(),
            committed: Notify::new(),
            acking: Mutex::new(()),
        });
        let (tx, rx) = mpsc::channel(256);
        let head = writer::Head {
            id: head_id,
            file: r.head,
            len: head_len,
        };
        let thread_shared = shared.clone();
        let thread_lock = lock.clone();
        let thread = std::thread::Builder::new()
            .name("mamori-spool".into())
            .spawn(move || writer::run(thread_shared, rx, head, thread_lock))
            .map_err(io(&shared.dir))?;
        Ok(Spool {
            handle: Arc::new(Handle {
                shared,
                tx: Some(tx),
                thread: Some(thread),
                _lock: lock,
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.handle.shared.dir
    }

    /// Writes alerts as NDJSON lines; returns their number once they are on disk.
    pub async fn append(&self, alerts: &[Alert]) -> Result<usize, Error> {
        let mut data = Vec::with_capacity(alerts.len() * 512);
        for a in alerts {
            serde_json::to_writer(&mut data, a).map_err(|e| Error::Encode {
                id: a.id.to_string(),
                reason: e.to_string(),
            })?;
            data.push(b'\n');
        }
        self.append_encoded(data, alerts.len() as u64).await?;
        Ok(alerts.len())
    }

    /// Writes pre-serialized NDJSON (a missing final newline is added). Each line must be one
    /// JSON value: recovery treats an invalid line as the end of a torn write.
    pub async fn append_lines(&self, mut ndjson: Vec<u8>) -> Result<usize, Error> {
        if ndjson.is_empty() {
            return Ok(0);
        }
        if ndjson.last() != Some(&b'\n') {
            ndjson.push(b'\n');
        }
        let mut events = 0;
        for (i, line) in ndjson[..ndjson.len() - 1]
            .split(|b| *b == b'\n')
            .enumerate()
        {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                return Err(Error::InvalidLine {
                    line: i + 1,
                    reason: e.to_string(),
                });
            }
            events += 1;
        }
        self.append_encoded(ndjson, events).await?;
        Ok(events as usize)
    }

    async fn append_encoded(&self, data: Vec<u8>, events: u64) -> Result<(), Error> {
        if events == 0 {
            return Ok(());
        }
        let room = self.reserve(data.len() as u64).await?;
        let (done, answer) = oneshot::channel();
        let request = writer::Request {
            data,
            events,
            _room: room,
            done,
        };
        let tx = self.handle.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(request).await.map_err(|_| Error::Closed)?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Waits until `bytes` fit under the cap (or the spool is empty: an append larger than
    /// the whole cap goes in alone rather than waiting forever).
    async fn reserve(&self, bytes: u64) -> Result<Reservation, Error> {
        let shared = &self.handle.shared;
        loop {
            let notified = shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = shared.lock();
                if let Some(reason) = &st.broken {
                    return Err(Error::Broken(reason.clone()));
                }
                let used = st.backlog_bytes() + st.reserved;
                if used == 0 || used + bytes <= shared.config.max_bytes {
                    st.reserved += bytes;
                    if st.full {
                        st.full = false;
                        tracing::info!(dir = %shared.dir.display(), "spool has room again");
                    }
                    return Ok(Reservation {
                        shared: shared.clone(),
                        bytes,
                    });
                }
                if !st.full {
                    st.full = true;
                    tracing::warn!(
                        dir = %shared.dir.display(),
                        backlog_bytes = st.backlog_bytes(),
                        max_bytes = shared.config.max_bytes,
                        "spool is full; engines wait until the console takes events"
                    );
                }
            }
            notified.await;
        }
    }

    /// Where unacknowledged data starts: the forwarder's first read position.
    pub fn ack_position(&self) -> Position {
        self.handle.shared.lock().ack
    }

    /// Up to `max_bytes` of complete lines from `from` on (at least one line, however long),
    /// or `None` when nothing committed lies beyond `from`. A batch never spans segments.
    pub async fn read(&self, from: Position, max_bytes: usize) -> Result<Option<Batch>, Error> {
        let shared = self.handle.shared.clone();
        blocking(move || read_batch(&shared, from, max_bytes as u64)).await
    }

    /// Returns once committed data lies beyond `from`.
    pub async fn wait_for_data(&self, from: Position) {
        let shared = &self.handle.shared;
        loop {
            let notified = shared.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.lock().locate(from).is_some() {
                return;
            }
            notified.await;
        }
    }

    /// Records that the console took everything before `upto` (`events` alerts since the
    /// previous ack): persists the position, then deletes segments left fully behind.
    /// A position at or before the current one is ignored.
    pub async fn ack(&self, upto: Position, events: u64) -> Result<(), Error> {
        let shared = self.handle.shared.clone();
        blocking(move || ack_upto(&shared, upto, events)).await
    }

    /// Current counters. Reads one line from disk when the ack position moved since the last
    /// call, to learn the oldest unsent alert's time.
    pub fn stats(&self) -> SpoolStats {
        let shared = &self.handle.shared;
        let (mut stats, ack, cached) = {
            let st = shared.lock();
            let stats = SpoolStats {
                backlog_events: st.backlog_events,
                backlog_bytes: st.backlog_bytes(),
                oldest_unsent_ms: None,
                segments: st.segments.len(),
                full: st.full,
            };
            (stats, st.ack, st.oldest)
        };
        if stats.backlog_events == 0 {
            return stats;
        }
        stats.oldest_unsent_ms = match cached {
            Some((at, time)) if at == ack => time,
            _ => {
                let time = time_at(shared, ack);
                shared.lock().oldest = Some((ack, time));
                time
            }
        };
        stats
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or(Err(Error::Closed))
}

fn lock_dir(dir: &Path) -> Result<File, Error> {
    let path = dir.join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Err(Error::Locked(dir.to_path_buf()));
            }
            return Err(io(&path)(e));
        }
    }
    Ok(file)
}

fn read_batch(shared: &Shared, from: Position, max_bytes: u64) -> Result<Option<Batch>, Error> {
    let Some((start, end)) = shared.lock().locate(from) else {
        return Ok(None);
    };
    let path = segment_path(&shared.dir, start.segment);
    let mut file = File::open(&path).map_err(io(&path))?;
    file.seek(SeekFrom::Start(start.offset))
        .map_err(io(&path))?;
    let available = end - start.offset;
    let want = available.min(max_bytes.max(1));
    let mut lines = Vec::with_capacity(want as usize);
    (&mut file)
        .take(want)
        .read_to_end(&mut lines)
        .map_err(io(&path))?;
    match lines.iter().rposition(|b| *b == b'\n') {
        Some(last) => lines.truncate(last + 1),
        None => {
            // One line longer than max_bytes: finish it.
            let mut rest = BufReader::new((&mut file).take(available - lines.len() as u64));
            rest.read_until(b'\n', &mut lines).map_err(io(&path))?;
        }
    }
    let events = lines.iter().filter(|b| **b == b'\n').count() as u64;
    let events = if lines.last() == Some(&b'\n') {
        events
    } else {
        events + 1
    };
    Ok(Some(Batch {
        start,
        end: Position {
            segment: start.segment,
            offset: start.offset + lines.len() as u64,
        },
        events,
        lines,
    }))
}

fn ack_upto(shared: &Shared, upto: Position, events: u64) -> Result<(), Error> {
    let _one_at_a_time = shared.acking.lock().unwrap_or_else(|e| e.into_inner());
    let (target, gone) = {
        let st = shared.lock();
        if upto <= st.ack {
            return Ok(());
        }
        // Past the end of a closed segment means the start of the next one.
        let mut target = upto;
        while let Some(&len) = st.segments.get(&target.segment) {
            match st.segments.range(target.segment + 1..).next() {
                Some((&next, _)) if target.offset >= len => {
                    target = Position {
                        segment: next,
                        offset: 0,
                    }
                }
                _ => break,
            }
        }
        let gone: Vec<u64> = st
            .segments
            .range(..target.segment)
            .map(|(&id, _)| id)
            .collect();
        (target, gone)
    };
    ack::store(&shared.dir, target)?;
    {
        let mut st = shared.lock();
        for id in &gone {
            if let Some(len) = st.segments.remove(id) {
                st.total_bytes -= len;
            }
        }
        st.ack = target;
        st.backlog_events = st.backlog_events.saturating_sub(events);
    }
    shared.room.notify_waiters();
    for id in gone {
        let path = segment_path(&shared.dir, id);
        if let Err(e) = fs::remove_file(&path) {
            // Harmless: the next open deletes segments below the ack position.
            tracing::warn!(file = %path.display(), error = %e, "could not delete an acknowledged segment");
        }
    }
    Ok(())
}

/// The `time` of the alert at `at`, in Unix milliseconds.
fn time_at(shared: &Shared, at: Position) -> Option<i64> {
    #[derive(Deserialize)]
    struct When {
        #[serde(with = "time::serde::rfc3339")]
        time: time::OffsetDateTime,
    }
    let (start, end) = shared.lock().locate(at)?;
    let mut file = File::open(segment_path(&shared.dir, start.segment)).ok()?;
    file.seek(SeekFrom::Start(start.offset)).ok()?;
    let mut line = Vec::new();
    BufReader::new(file.take(end - start.offset))
        .read_until(b'\n', &mut line)
        .ok()?;
    let when: When = serde_json::from_slice(&line).ok()?;
    Some(mamori_core::unix_ms(when.time))
}

#[cfg(test)]
mod tests;
