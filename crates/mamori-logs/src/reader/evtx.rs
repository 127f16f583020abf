//! Windows EVTX files (owned by the Sigma/EVTX work).
//!
//! CONTRACT: `pub fn read(path: &Path, sink: &mut Sink<'_>) -> Result<u64, ReadError>` reads
//! every record of the file into the sink (a corrupt chunk or record is an `Err` in the sink
//! and reading goes on) and returns the number of events produced.

use super::{ReadError, Sink};
use std::path::Path;

pub fn read(path: &Path, _sink: &mut Sink<'_>) -> Result<u64, ReadError> {
    Err(ReadError {
        file: Some(path.to_path_buf()),
        offset: 0,
        reason: "EVTX reading is not built yet".into(),
    })
}
