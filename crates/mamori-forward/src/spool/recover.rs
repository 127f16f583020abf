//! Opening a spool directory after a clean stop, a crash or a `kill -9`.
//!
//! Rules:
//! - Segments below the ack position's segment were fully acknowledged; they are deleted.
//! - Only the newest segment can hold a torn write (older ones were fsynced before the next
//!   was created). Its lines are checked from the ack position on; at the first line that
//!   has no trailing newline or is not one JSON value the file is truncated, with a warning
//!   naming the file and offset. Appends are fsynced in order, so everything from that line
//!   on was never confirmed to a publisher and dropping it loses nothing that was promised.
//! - Unacknowledged lines in all segments are counted for the backlog.

use super::{ack, segment_path, Position};
use crate::{io, Error};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

pub(crate) struct Recovered {
    /// Segment id to length in bytes, every byte of it complete lines.
    pub segments: BTreeMap<u64, u64>,
    pub ack: Position,
    pub backlog_events: u64,
    /// The newest segment, opened for appending.
    pub head: File,
}

pub(crate) fn recover(dir: &Path) -> Result<Recovered, Error> {
    let stored_ack = ack::load(dir)?;
    let mut ids = list_segments(dir)?;
    let floor = stored_ack.map_or(1, |a| a.segment.max(1));
    for id in ids.iter().copied().filter(|id| *id < floor) {
        let path = segment_path(dir, id);
        fs::remove_file(&path).map_err(io(&path))?;
        tracing::debug!(file = %path.display(), "removed a fully acknowledged segment");
    }
    ids.retain(|id| *id >= floor);
    if ids.is_empty() {
        let path = segment_path(dir, floor);
        File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        ack::sync_dir(dir)?;
        ids.push(floor);
    }
    let first = ids[0];
    let ack = match stored_ack {
        Some(a) if a.segment == first => a,
        // The acknowledged segment is gone (or there was no ack file): start at the oldest.
        _ => Position {
            segment: first,
            offset: 0,
        },
    };

    let mut segments = BTreeMap::new();
    let mut backlog_events = 0;
    let last = ids[ids.len() - 1];
    for &id in &ids {
        let path = segment_path(dir, id);
        let len = fs::metadata(&path).map_err(io(&path))?.len();
        let from = if id == ack.segment {
            ack.offset.min(len)
        } else {
            0
        };
        let (len, lines) = if id == last {
            truncate_torn_tail(&path, from)?
        } else {
            (len, count_lines(&path, from, len)?)
        };
        backlog_events += lines;
        segments.insert(id, len);
    }
    let ack = Position {
        segment: ack.segment,
        offset: ack
            .offset
            .min(segments.get(&ack.segment).copied().unwrap_or(0)),
    };
    let head_path = segment_path(dir, last);
    let head = File::options()
        .append(true)
        .open(&head_path)
        .map_err(io(&head_path))?;
    Ok(Recovered {
        segments,
        ack,
        backlog_events,
        head,
    })
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, Error> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".ndjson"))
            .filter(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Checks every line from `from` on; returns the kept length and the number of lines after
/// `from`.
fn truncate_torn_tail(path: &Path, from: u64) -> Result<(u64, u64), Error> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io(path))?;
    file.seek(SeekFrom::Start(from)).map_err(io(path))?;
    let mut reader = BufReader::with_capacity(1 << 20, &mut file);
    let mut line = Vec::new();
    let mut offset = from;
    let mut lines = 0;
    let bad = loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 {
            break None;
        }
        if line.last() != Some(&b'\n') {
            break Some("the last line has no newline (torn write)".to_string());
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
            break Some(format!("not one JSON value: {e}"));
        }
        offset += n as u64;
        lines += 1;
    };
    drop(reader);
    if let Some(reason) = bad {
        let len = file.metadata().map_err(io(path))?.len();
        tracing::warn!(
            file = %path.display(),
            offset,
            dropped_bytes = len - offset,
            %reason,
            "truncating an unfinished write at the end of the spool"
        );
        file.set_len(offset).map_err(io(path))?;
        file.sync_all().map_err(io(path))?;
    }
    Ok((offset, lines))
}

fn count_lines(path: &Path, from: u64, len: u64) -> Result<u64, Error> {
    let mut file = File::open(path).map_err(io(path))?;
    file.seek(SeekFrom::Start(from)).map_err(io(path))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0;
    let mut last = b'\n';
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        last = buf[n - 1];
    }
    if last != b'\n' && len > from {
        // Sealed segments end on a line; this one was damaged outside Mamori. The partial
        // line is still sent and the console refuses it, which is logged.
        tracing::warn!(file = %path.display(), "spool segment does not end with a newline");
        lines += 1;
    }
    Ok(lines)
}
