//! Following text logs like `tail -F`: lines are read as they are appended, across rotation
//! (file renamed and recreated: the old file is finished, then the new one read from its
//! start), truncation (`copytruncate`: read again from 0) and restarts (the position of each
//! file is kept in a state file).
//!
//! Files are polled (every 250 ms by default), not watched with inotify: it needs no
//! dependency, works on network filesystems, and a quarter of a second is soon enough for
//! alerts. A file is told apart from its replacement by device and inode and by a hash of
//! its first bytes (up to 1 KiB), so a file deleted and recreated under the same inode, or
//! truncated and rewritten past the old size between two polls, is still read from 0.
//!
//! Guarantees: a line is delivered once it ends with `\n` (a partial last line waits); the
//! state is saved after the sink has seen the lines, so a crash between the two can repeat
//! the lines of one poll (at-least-once) but never skip any. After a restart a file rotated
//! while we were stopped is found again beside the followed name (`auth.log.1`,
//! `auth.log-20240501`, not compressed ones) and finished first.
//!
//! Only line-based formats can be followed (not EVTX; Windows XML one record per line).

use crate::event::{Event, Origin};
use crate::reader::lines::{Line, Lines};
use crate::reader::{sniff, Format, LineParser, ReadError, ReadOptions, Sink};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, Metadata};
use std::future::Future;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Bytes hashed at the start of a file to recognise it.
const HEAD_MAX: u64 = 1024;

/// Where to start in a file seen for the first time (no saved position) when following
/// begins. Files that appear later are always read from their start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    /// Like `tail -F`: only what is written from now on (a first `watch` on years of
    /// `auth.log` would otherwise raise alerts for old episodes).
    End,
}

#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub poll_interval: Duration,
    pub start_at: StartAt,
    /// At most this many bytes are read from one file per poll, so that a large backlog does
    /// not stall the async runtime or the other files.
    pub max_bytes_per_poll: u64,
    pub read: ReadOptions,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            poll_interval: Duration::from_millis(250),
            start_at: StartAt::End,
            max_bytes_per_poll: 4 << 20,
            read: ReadOptions::default(),
        }
    }
}

/// What can stop following (problems with single files and records go to the sink).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("reading follow state {path}: {source}")]
    StateRead { path: PathBuf, source: io::Error },
    #[error("writing follow state {path}: {source}")]
    StateWrite { path: PathBuf, source: io::Error },
}

/// Identity of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
struct FileId {
    dev: u64,
    ino: u64,
}

fn file_id(m: &Metadata) -> FileId {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        FileId::default()
    }
}

/// The saved position of one followed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    path: PathBuf,
    #[serde(flatten)]
    id: FileId,
    offset: u64,
    line: u64,
    head_len: u64,
    head_hash: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    version: u32,
    files: Vec<Saved>,
}

/// FNV-1a: a stable hash (the state file outlives the process, so no random seeds).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Hash of the first `len` bytes, or `None` if the file is now shorter.
fn head_hash(file: &mut File, len: u64) -> io::Result<Option<u64>> {
    if len > HEAD_MAX {
        // Only a corrupt state file says so; it cannot be our file.
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 == len).then(|| fnv1a(&buf)))
}

/// A file being read.
struct Open {
    file: File,
    id: FileId,
    offset: u64,
    line: u64,
    head_len: u64,
    head_hash: u64,
}

impl Open {
    fn new(file: File, id: FileId) -> Open {
        Open {
            file,
            id,
            offset: 0,
            line: 0,
            head_len: 0,
            head_hash: fnv1a(&[]),
        }
    }

    /// Whether the first bytes are still the ones we hashed; extends the hashed head while
    /// the file is shorter than `HEAD_MAX`.
    fn same_head(&mut self, size: u64) -> io::Result<bool> {
        if head_hash(&mut self.file, self.head_len)? != Some(self.head_hash) {
            return Ok(false);
        }
        if self.head_len < HEAD_MAX && size > self.head_len {
            let len = size.min(HEAD_MAX);
            if let Some(h) = head_hash(&mut self.file, len)? {
                self.head_len = len;
                self.head_hash = h;
            }
        }
        Ok(true)
    }
}

struct Followed {
    path: PathBuf,
    name: Arc<PathBuf>,
    parser: Option<LineParser>,
    cur: Option<Open>,
    /// Position saved by an earlier run, used at the first poll.
    saved: Option<Saved>,
    /// First poll done (files appearing after it are read from their start).
    seen: bool,
    /// A problem already reported (unknown format); not repeated every poll.
    reported: bool,
}

/// Follows a set of files; see the module doc.
pub struct Follower {
    files: Vec<Followed>,
    state_file: Option<PathBuf>,
    opts: FollowOptions,
}

impl Follower {
    /// Follows `paths` (format sniffed per file when `None`), remembering positions in
    /// `state_file` when given. A missing state file is a fresh start; an unreadable one is
    /// an error; a corrupt one is logged and ignored (re-reading beats not monitoring).
    pub fn new(
        paths: Vec<PathBuf>,
        state_file: Option<PathBuf>,
        format: Option<Format>,
    ) -> Result<Follower, FollowError> {
        Follower::with_options(paths, state_file, format, FollowOptions::default())
    }

    pub fn with_options(
        paths: Vec<PathBuf>,
        state_file: Option<PathBuf>,
        format: Option<Format>,
        opts: FollowOptions,
    ) -> Result<Follower, FollowError> {
        let state = match &state_file {
            Some(p) => load_state(p)?,
            None => State::default(),
        };
        let files = paths
            .into_iter()
            .map(|path| Followed {
                saved: state.files.iter().find(|s| s.path == path).cloned(),
                name: Arc::new(path.clone()),
                parser: format.map(|f| LineParser::new(f, opts.read.clone())),
                path,
                cur: None,
                seen: false,
                reported: false,
            })
            .collect();
        Ok(Follower {
            files,
            state_file,
            opts,
        })
    }

    /// Reads what is new in every file into the sink; returns the events delivered.
    pub fn poll_once(&mut self, sink: &mut Sink<'_>) -> Result<u64, FollowError> {
        let mut events = 0;
        let mut changed = false;
        for f in &mut self.files {
            let before = f.cur.as_ref().map(|c| (c.id, c.offset));
            events += poll_file(f, &self.opts, sink);
            changed |= f.cur.as_ref().map(|c| (c.id, c.offset)) != before;
        }
        if changed {
            self.save()?;
        }
        Ok(events)
    }

    /// Polls until `shutdown` completes, then saves the state. Reads are plain blocking file
    /// reads bounded by `max_bytes_per_poll` per file.
    pub async fn run<F, S>(mut self, mut sink: F, shutdown: S) -> Result<(), FollowError>
    where
        F: FnMut(Result<Event, ReadError>),
        S: Future<Output = ()>,
    {
        tokio::pin!(shutdown);
        loop {
            self.poll_once(&mut sink)?;
            tokio::select! {
                _ = &mut shutdown => return self.save(),
                _ = tokio::time::sleep(self.opts.poll_interval) => {}
            }
        }
    }

    fn save(&self) -> Result<(), FollowError> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let mut state = State {
            version: 1,
            files: Vec::new(),
        };
        for f in &self.files {
            if let Some(c) = &f.cur {
                state.files.push(Saved {
                    path: f.path.clone(),
                    id: c.id,
                    offset: c.offset,
                    line: c.line,
                    head_len: c.head_len,
                    head_hash: c.head_hash,
                });
            } else if let Some(s) = &f.saved {
                // Not opened yet (file missing): keep what an earlier run knew.
                state.files.push(s.clone());
            }
        }
        let err = |source| FollowError::StateWrite {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(&state).map_err(|e| err(io::Error::other(e)))?;
        // Write then rename, so a crash never leaves half a state file.
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, json).map_err(err)?;
        fs::rename(&tmp, path).map_err(err)
    }
}

fn load_state(path: &Path) -> Result<State, FollowError> {
    match fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(s) => Ok(s),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "follow state unreadable, starting afresh");
                Ok(State::default())
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
        Err(source) => Err(FollowError::StateRead {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn report(f: &Followed, offset: u64, reason: String, sink: &mut Sink<'_>) {
    sink(Err(ReadError {
        file: Some(f.path.clone()),
        offset,
        reason,
    }));
}

/// One poll of one followed path.
fn poll_file(f: &mut Followed, opts: &FollowOptions, sink: &mut Sink<'_>) -> u64 {
    let first = !f.seen;
    f.seen = true;
    let meta = fs::metadata(&f.path).ok();
    let mut events = 0;

    // The file we have open was renamed or removed: finish it before anything else.
    if let Some(cur) = &f.cur {
        let same = meta.as_ref().is_some_and(|m| file_id(m) == cur.id);
        if !same {
            if let Some(mut old) = f.cur.take() {
                events += drain(f, &mut old, opts, true, u64::MAX, sink);
            }
        }
    }
    let Some(meta) = meta else {
        return events;
    };

    if f.cur.is_none() {
        let file = match File::open(&f.path) {
            Ok(file) => file,
            Err(e) => {
                if !f.reported {
                    report(f, 0, format!("cannot open: {e}"), sink);
                    f.reported = true;
                }
                return events;
            }
        };
        let mut open = Open::new(file, file_id(&meta));
        if let Some(saved) = f.saved.take() {
            events += resume(f, &mut open, &saved, &meta, opts, sink);
        } else if first && opts.start_at == StartAt::End {
            if let Err(e) = skip_to_end(&mut open, meta.len()) {
                report(f, 0, format!("read error: {e}"), sink);
            }
        }
        f.cur = Some(open);
        f.reported = false;
    }

    let Some(mut cur) = f.cur.take() else {
        return events;
    };
    let size = meta.len();
    let replaced = size < cur.offset || !cur.same_head(size).unwrap_or(false);
    if replaced {
        // Truncated (copytruncate) or rewritten in place: everything there is new.
        cur = Open::new(cur.file, cur.id);
    }
    events += drain(f, &mut cur, opts, false, opts.max_bytes_per_poll, sink);
    f.cur = Some(cur);
    events
}

/// Picks up a file at the position an earlier run saved, finishing a rotated predecessor.
fn resume(
    f: &mut Followed,
    open: &mut Open,
    saved: &Saved,
    meta: &Metadata,
    opts: &FollowOptions,
    sink: &mut Sink<'_>,
) -> u64 {
    let head_ok =
        |file: &mut File| head_hash(file, saved.head_len).ok().flatten() == Some(saved.head_hash);
    if saved.id == open.id {
        if meta.len() >= saved.offset && head_ok(&mut open.file) {
            restore(open, saved);
        }
        return 0;
    }
    // Rotated while we were stopped: finish the old file if it is still beside us.
    let mut events = 0;
    if let Some(rotated) = find_rotated(&f.path, saved.id) {
        if let Ok(file) = File::open(&rotated) {
            let mut old = Open::new(file, saved.id);
            if head_ok(&mut old.file) {
                restore(&mut old, saved);
                events += drain(f, &mut old, opts, true, u64::MAX, sink);
            }
        }
    }
    events
}

fn restore(open: &mut Open, saved: &Saved) {
    open.offset = saved.offset;
    open.line = saved.line;
    open.head_len = saved.head_len;
    open.head_hash = saved.head_hash;
}

/// A sibling of `path` (`auth.log.1`, `auth.log-20240501`) that is the file `id`.
fn find_rotated(path: &Path, id: FileId) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .take(10_000)
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.len() > name.len()
                && n.starts_with(&name)
                && matches!(n.as_bytes().get(name.len()), Some(b'.' | b'-'))
                && ![".gz", ".bz2", ".xz", ".zst"]
                    .iter()
                    .any(|s| n.ends_with(s))
        })
        .find(|e| e.metadata().is_ok_and(|m| file_id(&m) == id))
        .map(|e| e.path())
}

/// Positions at the end of the file, counting its lines so record ids stay line numbers.
fn skip_to_end(open: &mut Open, size: u64) -> io::Result<()> {
    open.file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(64 * 1024, (&open.file).take(size));
    let mut lines = 0u64;
    let mut last_nl = 0u64;
    let mut pos = 0u64;
    loop {
        let buf = io::BufRead::fill_buf(&mut r)?;
        if buf.is_empty() {
            break;
        }
        for p in memchr::memchr_iter(b'\n', buf) {
            lines += 1;
            last_nl = pos + p as u64 + 1;
        }
        let n = buf.len();
        pos += n as u64;
        io::BufRead::consume(&mut r, n);
    }
    // A partial last line is read once it is finished.
    open.offset = last_nl;
    open.line = lines;
    open.same_head(size)?;
    Ok(())
}

/// Reads complete lines from `cur.offset` (and, when `finish`, a last partial one too).
fn drain(
    f: &mut Followed,
    cur: &mut Open,
    opts: &FollowOptions,
    finish: bool,
    limit: u64,
    sink: &mut Sink<'_>,
) -> u64 {
    if let Err(e) = cur.file.seek(SeekFrom::Start(cur.offset)) {
        report(f, cur.offset, format!("read error: {e}"), sink);
        return 0;
    }
    let start = cur.offset;
    let reader = BufReader::with_capacity(64 * 1024, &cur.file);
    let mut lines = Lines::new(reader, cur.offset, cur.line, opts.read.max_line, finish);
    let mut events = 0;
    // The limit is checked between lines, not by cutting the input: a cut would make a line
    // longer than the limit look partial forever.
    while lines.offset() - start < limit {
        let line = match lines.next_line() {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                report(f, lines.offset(), format!("read error: {e}"), sink);
                break;
            }
        };
        match line {
            Line::TooLong {
                offset,
                number,
                len,
            } => report(
                f,
                offset,
                format!(
                    "line {number}: {len} bytes, longer than the {} limit",
                    opts.read.max_line
                ),
                sink,
            ),
            Line::Text {
                offset,
                number,
                bytes,
            } => {
                let text = String::from_utf8_lossy(&bytes);
                if f.parser.is_none() {
                    f.parser = pick_parser(&f.path, &text, &opts.read);
                    if f.parser.is_none() && !f.reported {
                        report(
                            f,
                            offset,
                            "log format not recognised; name it with --format".into(),
                            sink,
                        );
                        f.reported = true;
                    }
                }
                let Some(parser) = &f.parser else { continue };
                let origin = Origin {
                    file: Some(f.name.clone()),
                    offset,
                };
                match parser.parse(&text, origin, Some(number)) {
                    Some(Ok(ev)) => {
                        events += 1;
                        sink(Ok(ev));
                    }
                    Some(Err(e)) => sink(Err(e)),
                    None => {}
                }
            }
        }
    }
    cur.offset = lines.offset();
    cur.line = lines.number();
    events
}

/// The parser for a file whose format was not given: by name, else by its first line.
fn pick_parser(path: &Path, first_line: &str, read: &ReadOptions) -> Option<LineParser> {
    let format = sniff(path)
        .ok()
        .flatten()
        .or_else(|| crate::reader::sniff_content(None, first_line.as_bytes()))?;
    format
        .is_line_based()
        .then(|| LineParser::new(format, read.clone()))
}
