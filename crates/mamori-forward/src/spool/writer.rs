//! The spool's one writer thread and its group commit.
//!
//! Appends queue up as requests; the thread takes the first, then every request already
//! waiting (up to [`GROUP_BYTES`]), writes them all and calls `fdatasync` once, then answers
//! each. Under load many appends share one fsync; alone, an append costs one.

use super::{ack, segment_path, Shared};
use crate::{io, Error};
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// How many bytes one group commit takes at most before it writes.
const GROUP_BYTES: usize = 8 << 20;

pub(crate) struct Request {
    pub data: Vec<u8>,
    pub events: u64,
    /// Room held against the spool's cap; given back when the request is dropped.
    pub _room: super::Reservation,
    pub done: oneshot::Sender<Result<(), Error>>,
}

pub(crate) struct Head {
    pub id: u64,
    pub file: File,
    pub len: u64,
}

pub(crate) fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Request>,
    mut head: Head,
    _lock: Arc<File>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut bytes = first.data.len();
        let mut group = vec![first];
        while bytes < GROUP_BYTES {
            match rx.try_recv() {
                Ok(r) => {
                    bytes += r.data.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        let broken = shared.lock().broken.clone();
        let result = match broken {
            Some(reason) => Err(Error::Broken(reason)),
            None => commit(&shared, &mut head, &group, bytes as u64),
        };
        match result {
            Ok(()) => {
                shared.committed.notify_waiters();
                for r in group {
                    let _ = r.done.send(Ok(()));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(error = %reason, events = group.iter().map(|r| r.events).sum::<u64>(), "appending to the spool failed");
                let broken = matches!(e, Error::Broken(_));
                for r in group {
                    let answer = if broken {
                        Error::Broken(reason.clone())
                    } else {
                        Error::Write(reason.clone())
                    };
                    let _ = r.done.send(Err(answer));
                }
            }
        }
    }
}

fn commit(shared: &Shared, head: &mut Head, group: &[Request], bytes: u64) -> Result<(), Error> {
    if head.len > 0 && head.len + bytes > shared.config.segment_bytes {
        rotate(shared, head)?;
    }
    let path = segment_path(&shared.dir, head.id);
    let written = group
        .iter()
        .try_for_each(|r| head.file.write_all(&r.data))
        .and_then(|()| head.file.sync_data());
    if let Err(e) = written {
        // Take back a partial write so the next append does not start mid-line; if even
        // that fails the file can no longer be trusted and the spool stops taking events.
        if let Err(undo) = head
            .file
            .set_len(head.len)
            .and_then(|()| head.file.sync_data())
        {
            let reason = format!("{}: {e}; undoing the partial write: {undo}", path.display());
            shared.lock().broken = Some(reason);
        }
        return Err(io(&path)(e));
    }
    head.len += bytes;
    let events = group.iter().map(|r| r.events).sum::<u64>();
    let mut st = shared.lock();
    st.segments.insert(head.id, head.len);
    st.total_bytes += bytes;
    st.backlog_events += events;
    Ok(())
}

fn rotate(shared: &Shared, head: &mut Head) -> Result<(), Error> {
    let id = head.id + 1;
    let path = segment_path(&shared.dir, id);
    let file = File::options()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    ack::sync_dir(&shared.dir)?;
    shared.lock().segments.insert(id, 0);
    tracing::debug!(file = %path.display(), "new spool segment");
    *head = Head { id, file, len: 0 };
    Ok(())
}
