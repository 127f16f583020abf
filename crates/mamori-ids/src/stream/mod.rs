//! TCP stream reassembly: segments in, contiguous in-order bytes and gaps out.
//!
//! A [`Reassembler`] follows one direction of a TCP connection. Its sequence space starts
//! at the SYN (ISN + 1) or, when the capture starts mid-connection, at the first segment
//! seen. In-order data is handed straight out of the packet ([`Chunk::Data`] borrows the
//! segment's payload — no copy); segments that arrive early are copied and held until the
//! hole before them fills. Sequence numbers are compared relative to the next expected byte,
//! so streams cross the 2^32 wrap-around without noticing, and stream offsets are 64-bit.
//!
//! Overlaps and retransmissions: the first data received for a stream byte wins; later
//! copies of the same range are trimmed off and counted. (Suricata's default policy for
//! Linux targets favours the original data for segments already seen the same way; the
//! "first" policy is simpler and documented here and in the tests.)
//!
//! Gaps: when bytes are missing and the receiver's ACK shows they were delivered anyway
//! (capture loss), when held data would exceed the memory cap, or when the flow ends with
//! data still held, the reassembler emits [`Chunk::Gap`] with the number of missing bytes
//! and continues after it: app-layer parsers must resynchronise or give up there.
//!
//! Bounds: `depth` (1 MiB by default, Suricata's `stream.reassembly.depth`) caps the bytes
//! passed on per direction; `memcap` caps the out-of-order bytes held by all reassemblers
//! sharing one [`StreamContext`]; segments starting more than `max_window` past the next
//! expected byte are ignored as bogus.
//!
//! Input comes from [`crate::decode`] (the TCP header and payload) and [`crate::flow`]
//! (the direction); output goes to app-layer parsers and raw-stream rule inspection.
//! [`TcpReassembly`] pairs the two directions and feeds each side's ACKs to the other.
//!
//! Memory held by a reassembler is returned to its context by [`Reassembler::close`] —
//! call it when the flow ends (it also flushes held data), or the context's accounting
//! keeps those bytes.

mod reassembler;

pub use reassembler::{
    Chunk, Reassembler, StreamConfig, StreamContext, StreamCounters, TcpReassembly,
};
