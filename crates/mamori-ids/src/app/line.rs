//! Bounded line splitting over a stream that arrives in chunks.
//!
//! Text protocols (HTTP headers, SMTP, SSH banners, FTP) are read line by line. A line may
//! straddle two chunks, so the unfinished part is kept — but never more than a configured
//! number of bytes: a peer that sends megabytes without a newline gets an error, not our
//! memory.

use memchr::memchr;

/// The unfinished line grew past the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong;

/// Hands out complete lines (with their `\n`) from successive chunks.
#[derive(Debug, Clone)]
pub(crate) struct LineReader {
    partial: Vec<u8>,
    /// `partial` was handed out as a complete line and must be cleared before reuse.
    emitted: bool,
    limit: usize,
}

impl LineReader {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            emitted: false,
            limit,
        }
    }

    /// Bytes of an unfinished line held back from earlier chunks.
    pub(crate) fn pending(&self) -> usize {
        if self.emitted {
            0
        } else {
            self.partial.len()
        }
    }

    /// The next complete line of `data` starting at `*pos`, joined with what an earlier
    /// chunk left unfinished. Advances `*pos` past it. `Ok(None)` when `data` ends inside
    /// a line (the rest is kept for the next call).
    pub(crate) fn next_line<'a>(
        &'a mut self,
        data: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<&'a [u8]>, LineTooLong> {
        if self.emitted {
            self.partial.clear();
            self.emitted = false;
        }
        let rest = data.get(*pos..).unwrap_or_default();
        match memchr(b'\n', rest) {
            Some(i) => {
                *pos += i + 1;
                if self.partial.is_empty() {
                    if i + 1 > self.limit {
                        return Err(LineTooLong);
                    }
                    return Ok(Some(&rest[..=i]));
                }
                if self.partial.len() + i + 1 > self.limit {
                    return Err(LineTooLong);
                }
                self.partial.extend_from_slice(&rest[..=i]);
                self.emitted = true;
                Ok(Some(&self.partial))
            }
            None => {
                *pos = data.len();
                if self.partial.len() + rest.len() > self.limit {
                    return Err(LineTooLong);
                }
                self.partial.extend_from_slice(rest);
                Ok(None)
            }
        }
    }
}

/// `line` without its trailing `\n` or `\r\n`.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `bytes` without leading and trailing spaces and tabs.
pub(crate) fn trim_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// Text for a log field: UTF-8 as it is, other bytes escaped as `\xNN`.
pub(crate) fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len());
            for chunk in bytes.utf8_chunks() {
                out.push_str(chunk.valid());
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(reader: &mut LineReader, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        for chunk in chunks {
            let mut pos = 0;
            while let Ok(Some(line)) = reader.next_line(chunk, &mut pos) {
                lines.push(line.to_vec());
            }
        }
        lines
    }

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut reader = LineReader::new(100);
        let lines = collect(&mut reader, &[b"ab", b"c\nde", b"f\r\n", b"g"]);
        assert_eq!(lines, vec![b"abc\n".to_vec(), b"def\r\n".to_vec()]);
        assert_eq!(reader.pending(), 1);
    }

    #[test]
    fn overlong_line_is_an_error() {
        let mut reader = LineReader::new(4);
        let mut pos = 0;
        assert_eq!(reader.next_line(b"abcdef", &mut pos), Err(LineTooLong));
        let mut reader = LineReader::new(4);
        let mut pos = 0;
        assert_eq!(reader.next_line(b"abc", &mut pos), Ok(None));
        pos = 0;
        assert_eq!(reader.next_line(b"de\n", &mut pos), Err(LineTooLong));
    }

    #[test]
    fn trims() {
        assert_eq!(trim_eol(b"a\r\n"), b"a");
        assert_eq!(trim_eol(b"a\n"), b"a");
        assert_eq!(trim_ws(b" \ta b\t "), b"a b");
        assert_eq!(trim_ws(b"   "), b"");
        assert_eq!(printable(b"a\xffb"), "a\\xffb");
    }
}
