//! Reader for classic pcap and pcapng capture files.
//!
//! [`CaptureReader`] detects the format from the first four bytes and then yields one
//! [`Packet`] per call to [`CaptureReader::next_packet`]. The packet's bytes are borrowed
//! from the reader's own input buffer (2 MiB, refilled with large reads), so reading does
//! not allocate per packet and does not copy the packet once it is in the buffer.
//!
//! Supported: classic pcap in both byte orders with the microsecond (`0xa1b2c3d4`) and
//! nanosecond (`0xa1b23c4d`) magic; pcapng section header blocks of either byte order
//! (a file may hold several sections), interface description blocks with their link type,
//! `if_tsresol` and `if_tsoffset`, enhanced, simple and obsolete packet blocks. Other
//! blocks (name resolution, statistics, custom, decryption secrets …) are skipped without
//! being buffered.
//!
//! Damage: every complete packet before the damage is yielded; then `next_packet` returns
//! [`CaptureError::Truncated`] or [`CaptureError::Corrupt`] with the index of the packet
//! that could not be read and the byte offset of its record, and after that `Ok(None)`.
//! Record lengths are capped by [`MAX_RECORD_LEN`], so a corrupt length never makes the
//! reader allocate or wait for gigabytes.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Longest packet record accepted (256 KiB, larger than any real snap length).
pub const MAX_RECORD_LEN: u32 = 256 * 1024;
/// A pcapng packet block: the packet plus its header and a generous allowance for options.
const MAX_PACKET_BLOCK_LEN: usize = MAX_RECORD_LEN as usize + 64 * 1024;
/// Section header and interface description blocks hold only options.
const MAX_META_BLOCK_LEN: usize = 256 * 1024;
/// A pcapng file may describe this many interfaces per section.
const MAX_INTERFACES: usize = 4096;
/// The input buffer holds at least one whole record or block.
const BUF_LEN: usize = 2 * 1024 * 1024;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const NG_SHB: u32 = 0x0a0d_0d0a;
const NG_IDB: u32 = 1;
const NG_OPB: u32 = 2;
const NG_SPB: u32 = 3;
const NG_EPB: u32 = 6;

/// Why a capture could not be read, with the packet index and byte offset where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("read error at packet {index}, byte offset {offset}: {source}")]
    Io {
        index: u64,
        offset: u64,
        source: io::Error,
    },
    #[error("not a pcap or pcapng capture (first bytes {magic:#010x})")]
    UnknownFormat { magic: u32 },
    #[error("capture truncated in packet {index} at byte offset {offset}")]
    Truncated { index: u64, offset: u64 },
    #[error("corrupt capture at packet {index}, byte offset {offset}: {what}")]
    Corrupt {
        index: u64,
        offset: u64,
        what: String,
    },
}

impl CaptureError {
    /// Index of the packet that could not be read (0 for a damaged file header).
    pub fn index(&self) -> Option<u64> {
        match self {
            Self::Io { index, .. }
            | Self::Truncated { index, .. }
            | Self::Corrupt { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// Byte offset in the file of the damaged record or block.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Self::Io { offset, .. }
            | Self::Truncated { offset, .. }
            | Self::Corrupt { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// Which file format the reader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap; `nanos` for the nanosecond magic, `big_endian` for the byte order.
    Pcap { nanos: bool, big_endian: bool },
    /// pcapng (byte order may change per section).
    PcapNg,
}

/// One captured packet, borrowed from the reader until the next call to `next_packet`.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 0-based position of the packet in the file.
    pub index: u64,
    /// Byte offset of the packet's record (pcap) or block (pcapng) in the file.
    pub offset: u64,
    /// Capture time in microseconds since the Unix epoch.
    pub ts_us: u64,
    /// Link type (`LINKTYPE_*` number) of the interface the packet was captured on.
    pub linktype: u32,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
    /// Captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
}

/// Where the next packet lies in the buffer; built before the borrow is handed out.
struct Loc {
    offset: u64,
    ts_us: u64,
    linktype: u32,
    interface: u32,
    start: usize,
    len: usize,
    orig_len: u32,
}

/// A refillable window over the input; `pos` is the file offset of `buf[start]`.
struct Input<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pos: u64,
}

impl<R: Read> Input<R> {
    /// Makes `n` (<= buffer length) bytes available at `buf[start..]` unless the input ends
    /// first; returns how many are available, at most `n`.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.end - self.start >= n {
            return Ok(n);
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < n {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok((self.end - self.start).min(n))
    }

    fn bytes(&self, n: usize) -> &[u8] {
        &self.buf[self.start..self.start + n]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    /// Skips `n` bytes without buffering them; false if the input ended first.
    fn skip(&mut self, mut n: u64) -> io::Result<bool> {
        loop {
            let take = ((self.end - self.start) as u64).min(n);
            self.consume(take as usize);
            n -= take;
            if n == 0 {
                return Ok(true);
            }
            self.start = 0;
            self.end = 0;
            let want = (self.buf.len() as u64).min(n) as usize;
            let k = loop {
                match self.inner.read(&mut self.buf[..want]) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if k == 0 {
                return Ok(false);
            }
            self.end = k;
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TsResolution {
    /// Units of 10^-k seconds.
    Decimal(u8),
    /// Units of 2^-k seconds.
    Binary(u8),
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    resolution: TsResolution,
    offset_s: i64,
}

impl Interface {
    fn ts_us(&self, ts: u64) -> u64 {
        let us = match self.resolution {
            TsResolution::Decimal(6) => ts,
            TsResolution::Decimal(k) if k < 6 => ts.saturating_mul(10u64.pow(u32::from(6 - k))),
            TsResolution::Decimal(k) if k <= 25 => {
                let div = 10u128.pow(u32::from(k - 6));
                (u128::from(ts) / div) as u64
            }
            TsResolution::Decimal(_) => 0,
            TsResolution::Binary(k) => {
                let v = u128::from(ts) * 1_000_000;
                if k >= 127 {
                    0
                } else {
                    (v >> k).min(u128::from(u64::MAX)) as u64
                }
            }
        };
        us.saturating_add_signed(self.offset_s.saturating_mul(1_000_000))
    }
}

/// Reads packets from a classic pcap or pcapng stream. See the module documentation.
pub struct CaptureReader<R> {
    input: Input<R>,
    format: CaptureFormat,
    big_endian: bool,
    /// Classic pcap: link type and timestamp unit from the file header.
    linktype: u32,
    nanos: bool,
    interfaces: Vec<Interface>,
    index: u64,
    done: bool,
    last_ts_us: u64,
}

impl CaptureReader<File> {
    /// Opens a capture file and reads its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| CaptureError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_reader(file)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads the header from any byte stream (a file, a pipe, a byte slice).
    pub fn from_reader(inner: R) -> Result<Self, CaptureError> {
        let mut reader = CaptureReader {
            input: Input {
                inner,
                buf: vec![0; BUF_LEN],
                start: 0,
                end: 0,
                pos: 0,
            },
            format: CaptureFormat::PcapNg,
            big_endian: false,
            linktype: 0,
            nanos: false,
            interfaces: Vec::new(),
            index: 0,
            done: false,
            last_ts_us: 0,
        };
        let got = reader.input.fill(4).map_err(|e| reader.io(0, e))?;
        if got < 4 {
            return Err(CaptureError::Truncated {
                index: 0,
                offset: 0,
            });
        }
        let head = reader.input.bytes(4);
        let le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        match (le, be) {
            (PCAP_MAGIC_US, _) | (PCAP_MAGIC_NS, _) | (_, PCAP_MAGIC_US) | (_, PCAP_MAGIC_NS) => {
                let big_endian = be == PCAP_MAGIC_US || be == PCAP_MAGIC_NS;
                let nanos = le == PCAP_MAGIC_NS || be == PCAP_MAGIC_NS;
                if reader.input.fill(24).map_err(|e| reader.io(0, e))? < 24 {
                    return Err(CaptureError::Truncated {
                        index: 0,
                        offset: 0,
                    });
                }
                reader.big_endian = big_endian;
                reader.nanos = nanos;
                let h = reader.input.bytes(24);
                reader.linktype = rd32(h, 20, big_endian) & 0xffff;
                reader.input.consume(24);
                reader.format = CaptureFormat::Pcap { nanos, big_endian };
            }
            (NG_SHB, _) => {
                // The section header is parsed by the block loop like any later one.
                reader.format = CaptureFormat::PcapNg;
            }
            _ => return Err(CaptureError::UnknownFormat { magic: be }),
        }
        Ok(reader)
    }

    /// The file format found in the header.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Link type of a classic pcap file; for pcapng the link type of interface 0 once seen.
    pub fn linktype(&self) -> u32 {
        match self.format {
            CaptureFormat::Pcap { .. } => self.linktype,
            CaptureFormat::PcapNg => self.interfaces.first().map_or(0, |i| i.linktype),
        }
    }

    /// Number of packets yielded so far.
    pub fn packets_read(&self) -> u64 {
        self.index
    }

    /// The next packet, `Ok(None)` at the end of the capture, or the damage that stopped
    /// reading. After an error every further call returns `Ok(None)`.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let next = match self.format {
            CaptureFormat::Pcap { .. } => self.next_pcap(),
            CaptureFormat::PcapNg => self.next_pcapng(),
        };
        let loc = match next {
            Ok(Some(loc)) => loc,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        let index = self.index;
        self.index += 1;
        self.last_ts_us = loc.ts_us;
        Ok(Some(Packet {
            index,
            offset: loc.offset,
            ts_us: loc.ts_us,
            linktype: loc.linktype,
            interface: loc.interface,
            data: &self.input.buf[loc.start..loc.start + loc.len],
            orig_len: loc.orig_len,
        }))
    }

    fn io(&self, offset: u64, source: io::Error) -> CaptureError {
        CaptureError::Io {
            index: self.index,
            offset,
            source,
        }
    }

    fn corrupt(&self, offset: u64, what: impl Into<String>) -> CaptureError {
        CaptureError::Corrupt {
            index: self.index,
            offset,
            what: what.into(),
        }
    }

    fn truncated(&self, offset: u64) -> CaptureError {
        CaptureError::Truncated {
            index: self.index,
            offset,
        }
    }

    fn next_pcap(&mut self) -> Result<Option<Loc>, CaptureError> {
        let offset = self.input.pos;
        let got = self.input.fill(16).map_err(|e| self.io(offset, e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < 16 {
            return Err(self.truncated(offset));
        }
        let be = self.big_endian;
        let h = self.input.bytes(16);
        let sec = u64::from(rd32(h, 0, be));
        let frac = u64::from(rd32(h, 4, be));
        let incl = rd32(h, 8, be);
        let orig_len = rd32(h, 12, be);
        if incl > MAX_RECORD_LEN {
            return Err(self.corrupt(
                offset,
                format!("record length {incl} exceeds the limit of {MAX_RECORD_LEN}"),
            ));
        }
        let total = 16 + incl as usize;
        if self.input.fill(total).map_err(|e| self.io(offset, e))? < total {
            return Err(self.truncated(offset));
        }
        let frac_us = if self.nanos { frac / 1000 } else { frac };
        let start = self.input.start + 16;
        self.input.consume(total);
        Ok(Some(Loc {
            offset,
            ts_us: sec.saturating_mul(1_000_000).saturating_add(frac_us),
            linktype: self.linktype,
            interface: 0,
            start,
            len: incl as usize,
            orig_len,
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Loc>, CaptureError> {
        loop {
            let offset = self.input.pos;
            let got = self.input.fill(12).map_err(|e| self.io(offset, e))?;
            if got == 0 {
                return Ok(None);
            }
            if got < 12 {
                return Err(self.truncated(offset));
            }
            let h = self.input.bytes(12);
            if h[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                self.big_endian = match h[8..12] {
                    [0x1a, 0x2b, 0x3c, 0x4d] => true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => false,
                    _ => {
                        return Err(
                            self.corrupt(offset, "section header with unknown byte-order magic")
                        )
                    }
                };
            }
            let be = self.big_endian;
            let btype = rd32(h, 0, be);
            let blen = rd32(h, 4, be) as usize;
            if blen < 12 || blen & 3 != 0 {
                return Err(self.corrupt(offset, format!("block length {blen} is invalid")));
            }
            match btype {
                NG_SHB | NG_IDB => {
                    if blen > MAX_META_BLOCK_LEN {
                        return Err(self.corrupt(
                            offset,
                            format!("header block length {blen} exceeds the limit of {MAX_META_BLOCK_LEN}"),
                        ));
                    }
                    if self.input.fill(blen).map_err(|e| self.io(offset, e))? < blen {
                        return Err(self.truncated(offset));
                    }
                    let block = self.input.bytes(blen);
                    self.check_trailer(block, offset)?;
                    if btype == NG_SHB {
                        if blen < 28 {
                            return Err(self.corrupt(offset, "section header block too short"));
                        }
                        self.interfaces.clear();
                    } else {
                        let iface = self.parse_idb(block, offset)?;
                        if self.interfaces.len() >= MAX_INTERFACES {
                            return Err(self.corrupt(offset, "too many interfaces in one section"));
                        }
                        self.interfaces.push(iface);
                    }
                    self.input.consume(blen);
                }
                NG_EPB | NG_SPB | NG_OPB => {
                    if blen > MAX_PACKET_BLOCK_LEN {
                        return Err(self.corrupt(
                            offset,
                            format!("packet block length {blen} exceeds the limit of {MAX_PACKET_BLOCK_LEN}"),
                        ));
                    }
                    if self.input.fill(blen).map_err(|e| self.io(offset, e))? < blen {
                        return Err(self.truncated(offset));
                    }
                    let loc = self.parse_packet_block(btype, blen, offset)?;
                    self.input.consume(blen);
                    return Ok(Some(loc));
                }
                _ => {
                    if !self
                        .input
                        .skip(blen as u64)
                        .map_err(|e| self.io(offset, e))?
                    {
                        return Err(self.truncated(offset));
                    }
                }
            }
        }
    }

    fn check_trailer(&self, block: &[u8], offset: u64) -> Result<(), CaptureError> {
        let n = block.len();
        let trailer = rd32(block, n - 4, self.big_endian) as usize;
        if trailer != n {
            return Err(self.corrupt(
                offset,
                format!("block length {n} does not match trailing length {trailer}"),
            ));
        }
        Ok(())
    }

    fn parse_idb(&self, block: &[u8], offset: u64) -> Result<Interface, CaptureError> {
        let be = self.big_endian;
        if block.len() < 20 {
            return Err(self.corrupt(offset, "interface description block too short"));
        }
        let mut iface = Interface {
            linktype: u32::from(rd16(block, 8, be)),
            snaplen: rd32(block, 12, be),
            resolution: TsResolution::Decimal(6),
            offset_s: 0,
        };
        let opts = &block[16..block.len() - 4];
        let mut at = 0;
        while at + 4 <= opts.len() {
            let code = rd16(opts, at, be);
            let len = usize::from(rd16(opts, at + 2, be));
            let value = opts.get(at + 4..at + 4 + len);
            match (code, value) {
                (0, _) => break,
                (9, Some([v])) => {
                    iface.resolution = if v & 0x80 == 0 {
                        TsResolution::Decimal(*v)
                    } else {
                        TsResolution::Binary(v & 0x7f)
                    };
                }
                (14, Some(v)) if v.len() == 8 => {
                    let raw = rd64(v, 0, be);
                    iface.offset_s = raw as i64;
                }
                (_, None) => {
                    return Err(self.corrupt(offset, "interface option runs past its block"))
                }
                _ => {}
            }
            at += 4 + len.div_ceil(4) * 4;
        }
        Ok(iface)
    }

    fn parse_packet_block(
        &self,
        btype: u32,
        blen: usize,
        offset: u64,
    ) -> Result<Loc, CaptureError> {
        let be = self.big_endian;
        let block = self.input.bytes(blen);
        self.check_trailer(block, offset)?;
        let body_end = blen - 4;
        let (iface_id, ts, caplen, orig_len, data_at) = match btype {
            NG_EPB | NG_OPB => {
                if blen < 32 {
                    return Err(self.corrupt(offset, "packet block too short"));
                }
                let iface_id = if btype == NG_EPB {
                    rd32(block, 8, be)
                } else {
                    u32::from(rd16(block, 8, be))
                };
                let ts = (u64::from(rd32(block, 12, be)) << 32) | u64::from(rd32(block, 16, be));
                let caplen = rd32(block, 20, be) as usize;
                let orig_len = rd32(block, 24, be);
                (iface_id, Some(ts), caplen, orig_len, 28)
            }
            _ => {
                if blen < 16 {
                    return Err(self.corrupt(offset, "simple packet block too short"));
                }
                let orig_len = rd32(block, 8, be);
                let snap = self.interfaces.first().map_or(0, |i| i.snaplen) as usize;
                let mut caplen = (orig_len as usize).min(body_end - 12);
                if snap != 0 {
                    caplen = caplen.min(snap);
                }
                (0, None, caplen, orig_len, 12)
            }
        };
        if caplen > MAX_RECORD_LEN as usize || data_at + caplen > body_end {
            return Err(self.corrupt(
                offset,
                format!("captured length {caplen} does not fit its {blen}-byte block"),
            ));
        }
        let Some(iface) = self.interfaces.get(iface_id as usize) else {
            return Err(self.corrupt(
                offset,
                format!("packet refers to undeclared interface {iface_id}"),
            ));
        };
        let ts_us = ts.map_or(self.last_ts_us, |t| iface.ts_us(t));
        Ok(Loc {
            offset,
            ts_us,
            linktype: iface.linktype,
            interface: iface_id,
            start: self.input.start + data_at,
            len: caplen,
            orig_len,
        })
    }
}

fn rd16(b: &[u8], at: usize, be: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if be {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn rd32(b: &[u8], at: usize, be: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

fn rd64(b: &[u8], at: usize, be: bool) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    if be {
        u64::from_be_bytes(v)
    } else {
        u64::from_le_bytes(v)
    }
}
