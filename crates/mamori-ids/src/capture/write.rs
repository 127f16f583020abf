//! Writers for classic pcap and pcapng.
//!
//! [`PcapWriter`] writes classic pcap (Ethernet by default; any link type, either byte order,
//! micro- or nanosecond timestamps). It serves tests, benchmarks and tools that export
//! packets (alert evidence, `mamori ids` subcommands). [`PcapNgWriter`] writes pcapng with
//! several interfaces, timestamp resolutions and block kinds; it exists mainly so the reader
//! can be tested against every layout it claims to understand.
//!
//! Writers do not buffer on their own: wrap files in a `BufWriter`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::decode::LINKTYPE_ETHERNET;

/// Options of a classic pcap file.
#[derive(Debug, Clone, Copy)]
pub struct PcapOptions {
    pub linktype: u32,
    /// Nanosecond timestamps (magic `0xa1b23c4d`).
    pub nanos: bool,
    pub big_endian: bool,
    pub snaplen: u32,
}

impl Default for PcapOptions {
    fn default() -> Self {
        Self {
            linktype: LINKTYPE_ETHERNET,
            nanos: false,
            big_endian: false,
            snaplen: 262_144,
        }
    }
}

/// Writes a classic pcap stream.
pub struct PcapWriter<W: Write> {
    out: W,
    opts: PcapOptions,
}

impl PcapWriter<BufWriter<File>> {
    /// Creates (truncates) a pcap file with Ethernet link type.
    pub fn create(path: impl AsRef<Path>) -> io::Result<Self> {
        Self::new(BufWriter::with_capacity(1 << 20, File::create(path)?))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Ethernet, little endian, microseconds.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_options(out, PcapOptions::default())
    }

    /// Another link type with the default options otherwise.
    pub fn with_linktype(out: W, linktype: u32) -> io::Result<Self> {
        Self::with_options(
            out,
            PcapOptions {
                linktype,
                ..PcapOptions::default()
            },
        )
    }

    pub fn with_options(mut out: W, opts: PcapOptions) -> io::Result<Self> {
        let magic: u32 = if opts.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut h = Vec::with_capacity(24);
        put32(&mut h, magic, opts.big_endian);
        put16(&mut h, 2, opts.big_endian);
        put16(&mut h, 4, opts.big_endian);
        put32(&mut h, 0, opts.big_endian);
        put32(&mut h, 0, opts.big_endian);
        put32(&mut h, opts.snaplen, opts.big_endian);
        put32(&mut h, opts.linktype, opts.big_endian);
        out.write_all(&h)?;
        Ok(Self { out, opts })
    }

    /// Writes one packet captured whole at `ts_us` (microseconds since the epoch).
    pub fn write_packet(&mut self, ts_us: u64, data: &[u8]) -> io::Result<()> {
        self.write_packet_with_len(ts_us, data, data.len() as u32)
    }

    /// Writes one packet whose wire length `orig_len` may exceed the captured bytes.
    pub fn write_packet_with_len(
        &mut self,
        ts_us: u64,
        data: &[u8],
        orig_len: u32,
    ) -> io::Result<()> {
        let be = self.opts.big_endian;
        let sec = (ts_us / 1_000_000) as u32;
        let frac = if self.opts.nanos {
            (ts_us % 1_000_000) as u32 * 1000
        } else {
            (ts_us % 1_000_000) as u32
        };
        let mut h = [0u8; 16];
        for (i, x) in [sec, frac, data.len() as u32, orig_len]
            .into_iter()
            .enumerate()
        {
            h[i * 4..i * 4 + 4].copy_from_slice(&if be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Writes a batch of `(ts_us, frame)` pairs, e.g. from [`crate::capture::TcpSession`].
    pub fn write_all<'a>(
        &mut self,
        packets: impl IntoIterator<Item = &'a (u64, Vec<u8>)>,
    ) -> io::Result<()> {
        for (ts, data) in packets {
            self.write_packet(*ts, data)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a pcapng stream: one section, any number of interfaces.
pub struct PcapNgWriter<W: Write> {
    out: W,
    big_endian: bool,
    /// Per interface: timestamp units per second.
    units: Vec<TsUnits>,
}

#[derive(Clone, Copy)]
enum TsUnits {
    Decimal(u32),
    Binary(u32),
}

impl<W: Write> PcapNgWriter<W> {
    /// Starts a section in the given byte order.
    pub fn new(out: W, big_endian: bool) -> io::Result<Self> {
        let mut w = Self {
            out,
            big_endian,
            units: Vec::new(),
        };
        w.section()?;
        Ok(w)
    }

    /// Starts a new section (forgetting the interfaces declared so far).
    pub fn section(&mut self) -> io::Result<()> {
        let be = self.big_endian;
        let mut body = Vec::new();
        put32(&mut body, 0x1a2b_3c4d, be);
        put16(&mut body, 1, be);
        put16(&mut body, 0, be);
        body.extend_from_slice(&[0xff; 8]); // section length unknown
        self.units.clear();
        self.block(0x0a0d_0d0a, &body)
    }

    /// Declares an interface; `tsresol` is the raw `if_tsresol` byte (None = microseconds).
    /// Returns the interface id.
    pub fn add_interface(&mut self, linktype: u16, tsresol: Option<u8>) -> io::Result<u32> {
        let be = self.big_endian;
        let mut body = Vec::new();
        put16(&mut body, linktype, be);
        put16(&mut body, 0, be);
        put32(&mut body, 262_144, be);
        if let Some(r) = tsresol {
            put16(&mut body, 9, be);
            put16(&mut body, 1, be);
            body.extend_from_slice(&[r, 0, 0, 0]);
            put16(&mut body, 0, be);
            put16(&mut body, 0, be);
        }
        self.units.push(match tsresol {
            None => TsUnits::Decimal(6),
            Some(r) if r & 0x80 == 0 => TsUnits::Decimal(u32::from(r)),
            Some(r) => TsUnits::Binary(u32::from(r & 0x7f)),
        });
        self.block(1, &body)?;
        Ok(self.units.len() as u32 - 1)
    }

    /// Writes an enhanced packet block, converting `ts_us` to the interface's resolution.
    pub fn write_epb(&mut self, interface: u32, ts_us: u64, data: &[u8]) -> io::Result<()> {
        let ts = self.units_of(interface, ts_us);
        let be = self.big_endian;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        put32(&mut body, interface, be);
        put32(&mut body, (ts >> 32) as u32, be);
        put32(&mut body, ts as u32, be);
        put32(&mut body, data.len() as u32, be);
        put32(&mut body, data.len() as u32, be);
        body.extend_from_slice(data);
        pad4(&mut body);
        self.block(6, &body)
    }

    /// Writes a simple packet block (no timestamp, interface 0).
    pub fn write_spb(&mut self, data: &[u8]) -> io::Result<()> {
        let mut body = Vec::with_capacity(4 + data.len() + 3);
        put32(&mut body, data.len() as u32, self.big_endian);
        body.extend_from_slice(data);
        pad4(&mut body);
        self.block(3, &body)
    }

    /// Writes an obsolete packet block.
    pub fn write_opb(&mut self, interface: u16, ts_us: u64, data: &[u8]) -> io::Result<()> {
        let ts = self.units_of(u32::from(interface), ts_us);
        let be = self.big_endian;
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        put16(&mut body, interface, be);
        put16(&mut body, 0, be);
        put32(&mut body, (ts >> 32) as u32, be);
        put32(&mut body, ts as u32, be);
        put32(&mut body, data.len() as u32, be);
        put32(&mut body, data.len() as u32, be);
        body.extend_from_slice(data);
        pad4(&mut body);
        self.block(2, &body)
    }

    /// Writes an arbitrary block (body padded to 4 bytes), e.g. one the reader must skip.
    pub fn write_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let mut body = body.to_vec();
        pad4(&mut body);
        self.block(block_type, &body)
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    fn units_of(&self, interface: u32, ts_us: u64) -> u64 {
        match self.units.get(interface as usize) {
            Some(TsUnits::Decimal(k)) if *k >= 6 => {
                ts_us.saturating_mul(10u64.saturating_pow(k - 6))
            }
            Some(TsUnits::Decimal(k)) => ts_us / 10u64.pow(6 - k),
            Some(TsUnits::Binary(k)) => ((u128::from(ts_us) << k) / 1_000_000) as u64,
            None => ts_us,
        }
    }

    fn block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        let be = self.big_endian;
        let len = body.len() as u32 + 12;
        let mut h = Vec::with_capacity(8);
        put32(&mut h, block_type, be);
        put32(&mut h, len, be);
        self.out.write_all(&h)?;
        self.out.write_all(body)?;
        let mut t = Vec::with_capacity(4);
        put32(&mut t, len, be);
        self.out.write_all(&t)
    }
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() & 3 != 0 {
        v.push(0);
    }
}

fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}

fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
