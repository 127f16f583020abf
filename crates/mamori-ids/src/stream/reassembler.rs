//! One direction of TCP reassembly, its shared context and the two-direction pair.

use std::collections::BTreeMap;

use crate::decode::{TcpFlags, TcpHeader};
use crate::flow::Direction;

/// Limits shared by the reassemblers of one pipeline.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Bytes passed on per direction (1 MiB); 0 means no limit.
    pub depth: u64,
    /// Out-of-order bytes held by all reassemblers of the context (64 MiB).
    pub memcap: usize,
    /// Segments starting further than this past the next expected byte are ignored (16 MiB).
    pub max_window: u64,
    /// Out-of-order pieces one direction may hold (4096).
    pub max_segments: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            depth: 1024 * 1024,
            memcap: 64 * 1024 * 1024,
            max_window: 16 * 1024 * 1024,
            max_segments: 4096,
        }
    }
}

/// Reassembly statistics (after Suricata's `tcp.*` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Segments with payload offered.
    pub segments: u64,
    /// Segments held out of order.
    pub out_of_order: u64,
    /// Segments whose data had been seen entirely (retransmissions).
    pub retransmissions: u64,
    /// Segments partly overlapping data already seen (the overlap is trimmed).
    pub overlaps: u64,
    /// Gaps emitted and the bytes they skipped.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Directions that reached the depth limit, and the segments ignored past it.
    pub depth_reached: u64,
    pub depth_drops: u64,
    /// Out-of-order segments dropped because of the memcap or the per-stream piece limit.
    pub memcap_drops: u64,
    /// Segments ignored for starting too far ahead.
    pub out_of_window: u64,
    /// Out-of-order bytes held now.
    pub memuse: u64,
}

/// Shared limits, memory accounting and counters of a set of reassemblers.
#[derive(Debug, Default)]
pub struct StreamContext {
    pub config: StreamConfig,
    counters: StreamCounters,
    mem: usize,
}

impl StreamContext {
    pub fn new(config: StreamConfig) -> Self {
        Self {
            config,
            counters: StreamCounters::default(),
            mem: 0,
        }
    }

    pub fn counters(&self) -> StreamCounters {
        StreamCounters {
            memuse: self.mem as u64,
            ..self.counters
        }
    }
}

/// A piece of reassembled stream, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Contiguous bytes following the previous chunk.
    Data(&'a [u8]),
    /// This many bytes are missing; the next chunk follows them.
    Gap(u64),
}

/// Reassembles one direction of a TCP connection. See the module documentation.
#[derive(Debug, Default)]
pub struct Reassembler {
    started: bool,
    /// Sequence number of stream offset 0.
    base_seq: u32,
    /// Stream offset of the next expected byte (data passed on plus gaps).
    offset: u64,
    /// Held out-of-order data by stream offset; disjoint ranges, all beyond `offset`.
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    fin_offset: Option<u64>,
    depth_reached: bool,
    closed: bool,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stream offset of the next expected byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Out-of-order bytes held.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// True once everything up to the FIN was passed on, or after `close`.
    pub fn is_finished(&self) -> bool {
        self.closed || self.fin_offset.is_some_and(|f| self.offset >= f)
    }

    pub fn depth_reached(&self) -> bool {
        self.depth_reached
    }

    /// The next sequence number expected (once the stream started).
    pub fn next_seq(&self) -> Option<u32> {
        self.started
            .then(|| self.base_seq.wrapping_add(self.offset as u32))
    }

    /// Stream offset of sequence number `seq`, relative to the next expected byte.
    fn rel(&self, seq: u32) -> i64 {
        let next = self.base_seq.wrapping_add(self.offset as u32);
        self.offset as i64 + i64::from(seq.wrapping_sub(next) as i32)
    }

    /// Offers one segment of this direction; `emit` receives what became contiguous.
    pub fn segment<F: FnMut(Chunk<'_>)>(
        &mut self,
        ctx: &mut StreamContext,
        seq: u32,
        flags: TcpFlags,
        payload: &[u8],
        mut emit: F,
    ) {
        if self.closed {
            return;
        }
        let syn = flags.contains(TcpFlags::SYN);
        let data_seq = if syn { seq.wrapping_add(1) } else { seq };
        if !self.started {
            self.started = true;
            self.base_seq = data_seq;
        }
        if !payload.is_empty() {
            ctx.counters.segments += 1;
            self.data(ctx, self.rel(data_seq), payload, &mut emit);
        }
        if flags.contains(TcpFlags::FIN) && self.fin_offset.is_none() {
            let at = self.rel(data_seq) + payload.len() as i64;
            if at >= 0 {
                self.fin_offset = Some(at as u64);
            }
        }
    }

    /// The peer acknowledged everything before `ack`: bytes still missing before it were
    /// lost by the capture, not the network — skip them with a gap.
    pub fn ack<F: FnMut(Chunk<'_>)>(&mut self, ctx: &mut StreamContext, ack: u32, mut emit: F) {
        if !self.started || self.closed {
            return;
        }
        let mut acked = self.rel(ack);
        if acked <= self.offset as i64 || (acked as u64 - self.offset) > ctx.config.max_window {
            return;
        }
        if let Some(fin) = self.fin_offset {
            acked = acked.min(fin as i64);
        }
        let acked = acked as u64;
        let upto = self.held.keys().next().map_or(acked, |&k| k.min(acked));
        if upto > self.offset {
            self.gap(ctx, upto - self.offset, &mut emit);
            self.drain_held(ctx, &mut emit);
        }
    }

    /// Ends the stream: held data is passed on (with gaps before it) and its memory
    /// returned to the context. Later segments are ignored.
    pub fn close<F: FnMut(Chunk<'_>)>(&mut self, ctx: &mut StreamContext, mut emit: F) {
        if self.closed {
            return;
        }
        while let Some((&k, _)) = self.held.iter().next() {
            if k > self.offset {
                self.gap(ctx, k - self.offset, &mut emit);
            }
            self.drain_held(ctx, &mut emit);
        }
        self.closed = true;
    }

    /// Skips `len` missing bytes; only the part before the depth limit is reported.
    fn gap<F: FnMut(Chunk<'_>)>(&mut self, ctx: &mut StreamContext, len: u64, emit: &mut F) {
        let depth = ctx.config.depth;
        let visible = if depth == 0 {
            len
        } else {
            len.min(depth.saturating_sub(self.offset))
        };
        self.offset += len;
        if visible > 0 {
            ctx.counters.gaps += 1;
            ctx.counters.gap_bytes += visible;
            emit(Chunk::Gap(visible));
        }
    }

    fn data<F: FnMut(Chunk<'_>)>(
        &mut self,
        ctx: &mut StreamContext,
        start: i64,
        payload: &[u8],
        emit: &mut F,
    ) {
        let end = start + payload.len() as i64;
        let here = self.offset as i64;
        if end <= here {
            ctx.counters.retransmissions += 1;
            return;
        }
        let (start, payload) = if start < here {
            ctx.counters.overlaps += 1;
            (self.offset, &payload[(here - start) as usize..])
        } else {
            (start as u64, payload)
        };
        let depth = ctx.config.depth;
        if depth != 0 && start >= depth {
            ctx.counters.depth_drops += 1;
            self.mark_depth(ctx);
            return;
        }
        if start == self.offset {
            self.deliver(ctx, payload, emit);
            self.drain_held(ctx, emit);
        } else {
            if start - self.offset > ctx.config.max_window {
                ctx.counters.out_of_window += 1;
                return;
            }
            self.hold(ctx, start, payload, emit);
        }
    }

    fn mark_depth(&mut self, ctx: &mut StreamContext) {
        if !self.depth_reached {
            self.depth_reached = true;
            ctx.counters.depth_reached += 1;
            tracing::debug!(depth = ctx.config.depth, "stream depth reached");
        }
    }

    /// Passes on in-order bytes (up to the depth) and moves the offset past all of them.
    fn deliver<F: FnMut(Chunk<'_>)>(
        &mut self,
        ctx: &mut StreamContext,
        payload: &[u8],
        emit: &mut F,
    ) {
        let depth = ctx.config.depth;
        let allowed = if depth == 0 {
            payload.len()
        } else {
            (depth.saturating_sub(self.offset)).min(payload.len() as u64) as usize
        };
        if allowed < payload.len() {
            self.mark_depth(ctx);
        }
        self.offset += payload.len() as u64;
        if allowed > 0 {
            emit(Chunk::Data(&payload[..allowed]));
        }
    }

    /// Passes on held pieces that became contiguous.
    fn drain_held<F: FnMut(Chunk<'_>)>(&mut self, ctx: &mut StreamContext, emit: &mut F) {
        while let Some(entry) = self.held.first_entry() {
            let k = *entry.key();
            if k > self.offset {
                break;
            }
            let v = entry.remove();
            self.held_bytes -= v.len();
            ctx.mem -= v.len();
            let end = k + v.len() as u64;
            if end > self.offset {
                let skip = (self.offset - k) as usize;
                self.deliver(ctx, &v[skip..], emit);
            }
        }
    }

    /// Keeps the parts of an early segment no earlier segment covered (first wins).
    fn hold<F: FnMut(Chunk<'_>)>(
        &mut self,
        ctx: &mut StreamContext,
        start: u64,
        payload: &[u8],
        emit: &mut F,
    ) {
        let depth = ctx.config.depth;
        let mut end = start + payload.len() as u64;
        if depth != 0 && end > depth {
            end = depth;
            self.mark_depth(ctx);
        }
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cur = start;
        let mut overlapped = false;
        if let Some((&k, v)) = self.held.range(..start).next_back() {
            let e = k + v.len() as u64;
            if e > cur {
                cur = e;
                overlapped = true;
            }
        }
        for (&k, v) in self.held.range(start..end) {
            overlapped = true;
            if k > cur {
                pieces.push((cur, k));
            }
            cur = cur.max(k + v.len() as u64);
        }
        if cur < end {
            pieces.push((cur, end));
        }
        if overlapped {
            if pieces.is_empty() {
                ctx.counters.retransmissions += 1;
            } else {
                ctx.counters.overlaps += 1;
            }
        }
        if pieces.is_empty() {
            return;
        }
        ctx.counters.out_of_order += 1;
        for (s, e) in pieces {
            let len = (e - s) as usize;
            if ctx.mem + len > ctx.config.memcap || self.held.len() >= ctx.config.max_segments {
                // Out of room: give up waiting for this stream's hole, then retry once.
                if let Some(&first) = self.held.keys().next() {
                    if first > self.offset {
                        self.gap(ctx, first - self.offset, emit);
                        self.drain_held(ctx, emit);
                    }
                }
                if s < self.offset
                    || ctx.mem + len > ctx.config.memcap
                    || self.held.len() >= ctx.config.max_segments
                {
                    ctx.counters.memcap_drops += 1;
                    continue;
                }
            }
            let from = (s - start) as usize;
            let bytes = payload[from..from + len].to_vec();
            ctx.mem += len;
            self.held_bytes += len;
            self.held.insert(s, bytes);
        }
        // A forced gap may have made held data contiguous with the new piece.
        self.drain_held(ctx, emit);
    }
}

/// Both directions of one TCP connection.
#[derive(Debug, Default)]
pub struct TcpReassembly {
    pub to_server: Reassembler,
    pub to_client: Reassembler,
}

impl TcpReassembly {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn side(&mut self, dir: Direction) -> &mut Reassembler {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    /// Feeds one packet of direction `dir`: its ACK to the other direction (which may emit
    /// a gap there), then its payload to its own. An RST closes both directions, flushing
    /// what they hold. `emit` gets the direction of each chunk.
    pub fn packet<F: FnMut(Direction, Chunk<'_>)>(
        &mut self,
        ctx: &mut StreamContext,
        dir: Direction,
        tcp: &TcpHeader,
        payload: &[u8],
        mut emit: F,
    ) {
        let back = dir.reverse();
        if tcp.flags.contains(TcpFlags::RST) {
            self.close(ctx, emit);
            return;
        }
        if tcp.flags.contains(TcpFlags::ACK) {
            self.side(back).ack(ctx, tcp.ack, |c| emit(back, c));
        }
        self.side(dir)
            .segment(ctx, tcp.seq, tcp.flags, payload, |c| emit(dir, c));
    }

    /// Ends both directions (to-server first), flushing held data and returning memory.
    pub fn close<F: FnMut(Direction, Chunk<'_>)>(&mut self, ctx: &mut StreamContext, mut emit: F) {
        self.to_server.close(ctx, |c| emit(Direction::ToServer, c));
        self.to_client.close(ctx, |c| emit(Direction::ToClient, c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(
        r: &mut Reassembler,
        ctx: &mut StreamContext,
        seq: u32,
        flags: TcpFlags,
        data: &[u8],
        out: &mut Vec<u8>,
    ) {
        r.segment(ctx, seq, flags, data, |c| match c {
            Chunk::Data(d) => out.extend_from_slice(d),
            Chunk::Gap(n) => out.extend(std::iter::repeat_n(b'_', n as usize)),
        });
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut ctx = StreamContext::default();
        let mut r = Reassembler::new();
        let mut out = Vec::new();
        run(&mut r, &mut ctx, 99, TcpFlags::SYN, b"", &mut out);
        run(&mut r, &mut ctx, 105, TcpFlags::ACK, b"world", &mut out);
        assert_eq!(out, b"");
        assert_eq!(ctx.counters().memuse, 5);
        run(&mut r, &mut ctx, 100, TcpFlags::ACK, b"hell", &mut out);
        assert_eq!(out, b"hell");
        run(&mut r, &mut ctx, 104, TcpFlags::ACK, b"o", &mut out);
        assert_eq!(out, b"helloworld");
        assert_eq!(ctx.counters().memuse, 0);
    }
}
