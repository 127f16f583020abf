//! The ack position file, `ack.json`: everything in the spool before this position has been
//! taken by the console.
//!
//! It is replaced atomically (write `ack.json.tmp`, fsync, rename, fsync the directory), so
//! after a crash it holds either the old or the new position, never a mix. An old position
//! only means some alerts are sent again, which the console's store ignores by id.

use super::Position;
use crate::{io, Error};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

const NAME: &str = "ack.json";
const TEMP: &str = "ack.json.tmp";

/// The stored position; `None` when there is none yet or it cannot be read (then the whole
/// spool is sent again, which loses nothing).
pub(crate) fn load(dir: &Path) -> Result<Option<Position>, Error> {
    let _ = fs::remove_file(dir.join(TEMP));
    let path = dir.join(NAME);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    match serde_json::from_slice::<Position>(&text) {
        Ok(p) => Ok(Some(p)),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "ack position unreadable; resending the whole spool");
            Ok(None)
        }
    }
}

pub(crate) fn store(dir: &Path, position: Position) -> Result<(), Error> {
    let temp = dir.join(TEMP);
    let path = dir.join(NAME);
    let text = serde_json::to_vec(&position).map_err(|e| Error::Encode {
        id: "ack position".into(),
        reason: e.to_string(),
    })?;
    let mut f = File::create(&temp).map_err(io(&temp))?;
    f.write_all(&text).map_err(io(&temp))?;
    f.sync_all().map_err(io(&temp))?;
    drop(f);
    fs::rename(&temp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

/// Makes renames, creations and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
