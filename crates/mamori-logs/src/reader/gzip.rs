//! Streaming gzip decoding (RFC 1952) for rotated logs (`auth.log.2.gz`), on `miniz_oxide`'s
//! raw inflater: header and trailer are parsed here, CRC-32 and length are checked, and
//! concatenated members (what `cat a.gz b.gz` or `logrotate` with `delaycompress` may leave)
//! are read one after the other. Memory stays bounded by the inflater's window and one input
//! buffer, whatever the file size.

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
use std::io::{self, Read};

pub(crate) const MAGIC: [u8; 2] = [0x1f, 0x8b];

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Body,
    Trailer,
}

pub(crate) struct GzDecoder<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    state: Box<InflateState>,
    stage: Stage,
    members: u64,
    crc: u32,
    size: u32,
}

impl<R: Read> GzDecoder<R> {
    pub(crate) fn new(inner: R) -> Self {
        GzDecoder {
            inner,
            buf: vec![0; 32 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            state: InflateState::new_boxed(DataFormat::Raw),
            stage: Stage::Header,
            members: 0,
            crc: 0,
            size: 0,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = self.inner.read(&mut self.buf)?;
        }
        Ok(())
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        self.fill()?;
        let b = self
            .buf
            .get(self.pos)
            .copied()
            .filter(|_| self.pos < self.len);
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    fn need(&mut self) -> io::Result<u8> {
        self.byte()?
            .ok_or_else(|| invalid(io::ErrorKind::UnexpectedEof, "truncated gzip file"))
    }

    /// Reads a member header; `false` at a clean end of input after a member.
    fn header(&mut self) -> io::Result<bool> {
        let Some(first) = self.byte()? else {
            return if self.members == 0 {
                Err(invalid(io::ErrorKind::UnexpectedEof, "empty gzip file"))
            } else {
                Ok(false)
            };
        };
        let second = self.need()?;
        if [first, second] != MAGIC {
            if self.members > 0 && first == 0 {
                // Zero padding after the last member (tape-style) ends the file.
                return Ok(false);
            }
            return Err(invalid(io::ErrorKind::InvalidData, "not a gzip member"));
        }
        if self.need()? != 8 {
            return Err(invalid(
                io::ErrorKind::InvalidData,
                "gzip method is not deflate",
            ));
        }
        let flags = self.need()?;
        for _ in 0..6 {
            self.need()?; // mtime, extra flags, OS
        }
        if flags & FEXTRA != 0 {
            let n = usize::from(self.need()?) | usize::from(self.need()?) << 8;
            for _ in 0..n {
                self.need()?;
            }
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                while self.need()? != 0 {}
            }
        }
        if flags & FHCRC != 0 {
            self.need()?;
            self.need()?;
        }
        self.state.reset(DataFormat::Raw);
        self.crc = 0;
        self.size = 0;
        Ok(true)
    }

    fn trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        for b in &mut t {
            *b = self.need()?;
        }
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc || size != self.size {
            return Err(invalid(
                io::ErrorKind::InvalidData,
                "gzip checksum or length mismatch (corrupt file)",
            ));
        }
        self.members += 1;
        Ok(())
    }
}

fn invalid(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_string())
}

impl<R: Read> Read for GzDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match self.stage {
                Stage::Header => {
                    if !self.header()? {
                        return Ok(0);
                    }
                    self.stage = Stage::Body;
                }
                Stage::Trailer => {
                    self.trailer()?;
                    self.stage = Stage::Header;
                }
                Stage::Body => {
                    self.fill()?;
                    let input = self.buf.get(self.pos..self.len).unwrap_or_default();
                    let input_empty = input.is_empty();
                    let res = inflate(&mut self.state, input, out, MZFlush::None);
                    self.pos += res.bytes_consumed;
                    let written = out.get(..res.bytes_written).unwrap_or_default();
                    self.crc = crc32(self.crc, written);
                    self.size = self.size.wrapping_add(res.bytes_written as u32);
                    match res.status {
                        Ok(MZStatus::StreamEnd) => {
                            self.stage = Stage::Trailer;
                            if res.bytes_written > 0 {
                                return Ok(res.bytes_written);
                            }
                        }
                        Ok(_) | Err(MZError::Buf) => {
                            if res.bytes_written > 0 {
                                return Ok(res.bytes_written);
                            }
                            if input_empty {
                                return Err(invalid(
                                    io::ErrorKind::UnexpectedEof,
                                    "truncated gzip file",
                                ));
                            }
                        }
                        Err(_) => {
                            return Err(invalid(
                                io::ErrorKind::InvalidData,
                                "corrupt deflate data in gzip file",
                            ))
                        }
                    }
                }
            }
        }
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE) continued from `crc` over `data`.
pub(crate) fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gzip member of `data` (used by the readers' tests too).
    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, FNAME, 0, 0, 0, 0, 0, 3];
        out.extend_from_slice(b"log\0");
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend(crc32(0, data).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(0, b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn concatenated_members_decode_in_order() {
        let mut gz = gzip(b"first line\n");
        gz.extend(gzip(b"second line\n"));
        let mut s = String::new();
        GzDecoder::new(&gz[..]).read_to_string(&mut s).unwrap();
        assert_eq!(s, "first line\nsecond line\n");
    }

    #[test]
    fn corrupt_and_truncated_files_are_errors() {
        let mut gz = gzip(b"hello hello hello\n");
        let n = gz.len();
        gz[n - 5] ^= 0xff; // length field
        let mut s = String::new();
        assert!(GzDecoder::new(&gz[..]).read_to_string(&mut s).is_err());
        let gz = gzip(b"hello hello hello\n");
        let mut s = String::new();
        assert!(GzDecoder::new(&gz[..gz.len() - 10])
            .read_to_string(&mut s)
            .is_err());
    }
}
