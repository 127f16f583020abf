//! Bounded line splitting for text logs: each line comes with its byte offset and 1-based
//! number; a line longer than the limit is reported as too long (its length counted, its
//! bytes not kept), so one runaway line cannot make the reader allocate the file.
//!
//! `follow` uses the same splitter with `emit_partial = false`: a last line without its
//! newline is held back (not returned) until the writer finishes it.

use std::io::{self, BufRead};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line without its `\n` (and without a `\r` before it).
    Text {
        offset: u64,
        number: u64,
        bytes: Vec<u8>,
    },
    TooLong {
        offset: u64,
        number: u64,
        len: u64,
    },
}

pub(crate) struct Lines<R> {
    inner: R,
    /// Offset of the next line's first byte.
    offset: u64,
    number: u64,
    max: usize,
    emit_partial: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `inner`, which is positioned at byte `offset` of the file, line `number`+1.
    pub(crate) fn new(inner: R, offset: u64, number: u64, max: usize, emit_partial: bool) -> Self {
        Lines {
            inner,
            offset,
            number,
            max,
            emit_partial,
            buf: Vec::new(),
        }
    }

    /// Offset just past the last complete line returned.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    pub(crate) fn number(&self) -> u64 {
        self.number
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let mut len: u64 = 0;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                // End of input: a last line without newline.
                if len == 0 || !self.emit_partial {
                    return Ok(None);
                }
                return Ok(Some(self.finish(len)));
            }
            let (chunk, done) = match memchr::memchr(b'\n', avail) {
                Some(p) => (avail.get(..p).unwrap_or_default(), Some(p + 1)),
                None => (avail, None),
            };
            if self.buf.len() <= self.max {
                let room = (self.max + 1).saturating_sub(self.buf.len());
                self.buf
                    .extend_from_slice(chunk.get(..chunk.len().min(room)).unwrap_or_default());
            }
            len += chunk.len() as u64;
            let used = done.unwrap_or(avail.len());
            self.inner.consume(used);
            if done.is_some() {
                let line = self.finish(len);
                self.offset += 1; // the newline
                return Ok(Some(line));
            }
        }
    }

    fn finish(&mut self, len: u64) -> Line {
        let offset = self.offset;
        self.offset += len;
        self.number += 1;
        if self.buf.last() == Some(&b'\r') && len as usize == self.buf.len() {
            self.buf.pop();
        }
        if len > self.max as u64 {
            Line::TooLong {
                offset,
                number: self.number,
                len,
            }
        } else {
            Line::Text {
                offset,
                number: self.number,
                bytes: std::mem::take(&mut self.buf),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize, partial: bool) -> (Vec<Line>, u64) {
        let mut l = Lines::new(input, 0, 0, max, partial);
        let mut out = Vec::new();
        while let Some(line) = l.next_line().unwrap() {
            out.push(line);
        }
        (out, l.offset())
    }

    #[test]
    fn offsets_numbers_and_crlf() {
        let (lines, end) = all(b"ab\r\ncd\nxyz", 10, true);
        assert_eq!(
            lines,
            vec![
                Line::Text {
                    offset: 0,
                    number: 1,
                    bytes: b"ab".to_vec()
                },
                Line::Text {
                    offset: 4,
                    number: 2,
                    bytes: b"cd".to_vec()
                },
                Line::Text {
                    offset: 7,
                    number: 3,
                    bytes: b"xyz".to_vec()
                },
            ]
        );
        assert_eq!(end, 10);
    }

    #[test]
    fn partial_last_line_is_held_back_when_following() {
        let (lines, end) = all(b"ab\ncd", 10, false);
        assert_eq!(lines.len(), 1);
        assert_eq!(end, 3);
    }

    #[test]
    fn long_line_is_reported_not_kept() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\n");
        let (lines, _) = all(&input, 10, true);
        assert_eq!(
            lines[0],
            Line::TooLong {
                offset: 0,
                number: 1,
                len: 100
            }
        );
        assert_eq!(
            lines[1],
            Line::Text {
                offset: 101,
                number: 2,
                bytes: b"ok".to_vec()
            }
        );
    }
}
