//! The message text after DATA: dot-stuffing, the end-of-data mark, and limits
//! (RFC 5321 section 4.5.2).
//!
//! [`DataDecoder`] is the receiving side. It is a byte-at-a-time state machine that the
//! server feeds with whatever arrived from the socket, in pieces of any size, so no line is
//! ever accumulated and memory is bounded by the message size limit alone. It
//!
//! - ends the message at `CRLF . CRLF` (or a first line of `. CRLF`),
//! - removes the first `.` of every line that starts with one ("dot-unstuffing"),
//! - keeps every other byte exactly as sent, so the stored message is byte for byte what
//!   the client's message was (8-bit and UTF-8 text included),
//! - counts the size and, once over the limit, stops storing but keeps reading to the end so
//!   the session stays in step and can answer 552,
//! - notes lines over the line limit (the server answers 500 after the end).
//!
//! **Bare LF and bare CR** are tolerated as data and kept, but they are not line endings:
//! only CRLF starts a new line for dot handling, so `LF . LF`, `LF . CRLF` or `CRLF . LF` never
//! end the message. This is deliberate: a gateway that ends a message at a sequence that
//! other servers treat as data (or the reverse) lets an attacker smuggle a second message
//! with forged envelope through it ("SMTP smuggling", 2023). The line-length limit counts
//! from the last LF of either kind.
//!
//! [`encode`] is the sending side for the client: it ends the message with CRLF, turns bare
//! LF into CRLF, doubles every dot that starts a line, and appends the end-of-data mark.
//!
//! Not here: the socket, timeouts, and what happens to the message afterwards.

/// Where the decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After CRLF (or at the very start): a `.` here is special.
    LineStart,
    /// Saw `.` at the start of a line.
    Dot,
    /// Saw `.` CR at the start of a line: LF ends the message.
    DotCr,
    /// Inside a line.
    Body,
    /// Saw CR inside a line: LF ends the line.
    Cr,
    /// The end-of-data mark has been read.
    Done,
}

/// Decodes the text after `354` into the message; see the module documentation.
#[derive(Debug)]
pub struct DataDecoder {
    state: State,
    max_line: usize,
    max_size: u64,
    message: Vec<u8>,
    size: u64,
    line_len: usize,
    too_big: bool,
    line_too_long: bool,
}

/// What [`DataDecoder::finish`] hands back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedData {
    /// The message after dot-unstuffing, up to and including the CRLF before the final dot.
    /// Empty when `too_big`, since those bytes were not kept.
    pub message: Vec<u8>,
    /// The message size in octets (after unstuffing), counted even past the limit.
    pub size: u64,
    /// The message was over the size limit.
    pub too_big: bool,
    /// A line was over the line limit.
    pub line_too_long: bool,
}

impl DataDecoder {
    /// A decoder for one message. `max_line` is the longest line in octets counting its line
    /// ending; `max_size` the largest message.
    pub fn new(max_line: usize, max_size: u64) -> Self {
        DataDecoder {
            state: State::LineStart,
            max_line,
            max_size,
            message: Vec::new(),
            size: 0,
            line_len: 0,
            too_big: false,
            line_too_long: false,
        }
    }

    /// Consumes bytes from `input` and returns how many it used. It uses all of them unless
    /// the end-of-data mark is among them; the bytes after it (pipelined commands) are left
    /// for the caller.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            let byte = input[i];
            match self.state {
                State::LineStart if byte == b'.' => {
                    self.count_line(1);
                    self.state = State::Dot;
                    i += 1;
                }
                State::LineStart => self.state = State::Body,
                State::Dot if byte == b'\r' => {
                    self.count_line(1);
                    self.state = State::DotCr;
                    i += 1;
                }
                // A line that starts with a dot and goes on: the first dot is dropped.
                State::Dot => self.state = State::Body,
                State::DotCr if byte == b'\n' => {
                    self.state = State::Done;
                    i += 1;
                }
                State::DotCr => {
                    self.emit(b"\r");
                    self.state = State::Cr;
                }
                State::Body => {
                    // Copy the run up to the next CR or LF in one go.
                    let run = memchr::memchr2(b'\r', b'\n', &input[i..]).unwrap_or(input.len() - i);
                    if run > 0 {
                        self.count_line(run);
                        self.emit(&input[i..i + run]);
                        i += run;
                        continue;
                    }
                    self.count_line(1);
                    self.emit(&input[i..=i]);
                    if byte == b'\r' {
                        self.state = State::Cr;
                    } else {
                        // Bare LF: kept, ends the line for length counting only.
                        self.line_len = 0;
                    }
                    i += 1;
                }
                State::Cr if byte == b'\n' => {
                    self.count_line(1);
                    self.emit(b"\n");
                    self.line_len = 0;
                    self.state = State::LineStart;
                    i += 1;
                }
                State::Cr => self.state = State::Body,
                State::Done => break,
            }
        }
        i
    }

    /// The end-of-data mark has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The decoded message and what went wrong with it, if anything.
    pub fn finish(self) -> ReceivedData {
        ReceivedData {
            message: self.message,
            size: self.size,
            too_big: self.too_big,
            line_too_long: self.line_too_long,
        }
    }

    fn count_line(&mut self, n: usize) {
        self.line_len = self.line_len.saturating_add(n);
        if self.line_len > self.max_line {
            self.line_too_long = true;
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.too_big {
            return;
        }
        if self.size > self.max_size {
            self.too_big = true;
            // Free what was kept: an over-size message is refused, not stored.
            self.message = Vec::new();
        } else {
            self.message.extend_from_slice(bytes);
        }
    }
}

/// Prepares a message for sending after `354`: CRLF line endings (bare LF becomes CRLF),
/// a dot added before every line that starts with one, a final CRLF if missing, and the
/// end-of-data mark `.CRLF`.
///
/// A line is taken to start after any LF, so the result is safe for receivers that treat
/// bare LF as a line ending.
pub fn encode(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut rest = message;
    while !rest.is_empty() {
        // At the start of a line.
        if rest[0] == b'.' {
            out.push(b'.');
        }
        match memchr::memchr(b'\n', rest) {
            Some(lf) => {
                let line = &rest[..lf];
                out.extend_from_slice(line);
                if !line.ends_with(b"\r") {
                    out.push(b'\r');
                }
                out.push(b'\n');
                rest = &rest[lf + 1..];
            }
            None => {
                out.extend_from_slice(rest);
                break;
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> (ReceivedData, usize) {
        let mut decoder = DataDecoder::new(1000, 1 << 20);
        let mut used = 0;
        for chunk in input.chunks(piece) {
            let n = decoder.feed(chunk);
            used += n;
            if decoder.is_done() {
                break;
            }
            assert_eq!(n, chunk.len());
        }
        assert!(decoder.is_done(), "no end-of-data mark in {input:?}");
        (decoder.finish(), used)
    }

    fn decode(input: &[u8]) -> Vec<u8> {
        let (first, used) = decode_in_pieces(input, input.len());
        for piece in 1..8 {
            assert_eq!(decode_in_pieces(input, piece), (first.clone(), used));
        }
        first.message
    }

    #[test]
    fn ends_at_crlf_dot_crlf_and_keeps_the_final_crlf() {
        assert_eq!(
            decode(b"Subject: x\r\n\r\nhello\r\n.\r\n"),
            b"Subject: x\r\n\r\nhello\r\n"
        );
        assert_eq!(decode(b".\r\n"), b"");
    }

    #[test]
    fn leaves_pipelined_bytes_after_the_end_unread() {
        let input = b"a\r\n.\r\nQUIT\r\n";
        let (data, used) = decode_in_pieces(input, input.len());
        assert_eq!(data.message, b"a\r\n");
        assert_eq!(&input[used..], b"QUIT\r\n");
    }

    #[test]
    fn removes_the_first_dot_of_lines_that_start_with_one() {
        assert_eq!(decode(b"..\r\n...x\r\n.y\r\n.\r\n"), b".\r\n..x\r\ny\r\n");
        assert_eq!(decode(b"a.b\r\n .\r\n.\r\n"), b"a.b\r\n .\r\n");
        // ". CR x": the dot is dropped, CR kept.
        assert_eq!(decode(b".\rx\r\n.\r\n"), b"\rx\r\n");
    }

    #[test]
    fn bare_lf_and_cr_are_data_not_line_endings() {
        // None of these end the message; the later CRLF.CRLF does.
        let input = b"a\n.\nMAIL FROM:<x@y>\r\nb\n.\r\nc\r.\r\nd\r\n.\n\r\n.\r\n";
        assert_eq!(
            decode(input),
            b"a\n.\nMAIL FROM:<x@y>\r\nb\n.\r\nc\r.\r\nd\r\n\n\r\n".to_vec()
        );
    }

    #[test]
    fn keeps_8bit_utf8_text_exactly() {
        let text = "件名: 会議のお知らせ\r\n\r\n明日は10時からです。\r\n";
        let mut input = text.as_bytes().to_vec();
        input.extend_from_slice(b".\r\n");
        assert_eq!(decode(&input), text.as_bytes());
    }

    #[test]
    fn over_size_messages_are_read_to_the_end_but_not_kept() {
        let mut decoder = DataDecoder::new(1000, 10);
        let input = b"0123456789\r\nmore\r\n.\r\nNOOP\r\n";
        let used = decoder.feed(input);
        assert_eq!(&input[used..], b"NOOP\r\n");
        let data = decoder.finish();
        assert!(data.too_big);
        assert!(data.message.is_empty());
        assert_eq!(data.size, 18);
        let mut decoder = DataDecoder::new(1000, 12);
        decoder.feed(b"0123456789\r\n.\r\n");
        let data = decoder.finish();
        assert!(!data.too_big);
        assert_eq!(data.size, 12);
    }

    #[test]
    fn long_lines_are_flagged() {
        let mut decoder = DataDecoder::new(10, 1000);
        decoder.feed(b"12345678\r\n.\r\n");
        assert!(!decoder.finish().line_too_long);
        let mut decoder = DataDecoder::new(10, 1000);
        decoder.feed(b"123456789\r\n.\r\n");
        assert!(decoder.finish().line_too_long);
        let mut decoder = DataDecoder::new(10, 1000);
        decoder.feed(b"12345\n12345\r\n.\r\n");
        assert!(!decoder.finish().line_too_long);
    }

    #[test]
    fn encode_stuffs_dots_and_normalises_line_endings() {
        assert_eq!(encode(b"a\r\n.b\r\n.\r\n"), b"a\r\n..b\r\n..\r\n.\r\n");
        assert_eq!(encode(b".start"), b"..start\r\n.\r\n");
        assert_eq!(encode(b"x\n.y\n"), b"x\r\n..y\r\n.\r\n");
        assert_eq!(encode(b""), b".\r\n");
    }

    #[test]
    fn encode_then_decode_returns_crlf_messages_unchanged() {
        for message in [
            &b"Subject: t\r\n\r\n.\r\n..\r\n. \r\nend\r\n"[..],
            "日本語の本文\r\n.ドット\r\n".as_bytes(),
            b"\r\n",
        ] {
            assert_eq!(decode(&encode(message)), message);
        }
    }
}
