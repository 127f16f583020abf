//! `@validateByteRange`, `@validateUrlEncoding`, `@validateUtf8Encoding`: these operators
//! match when the input is *invalid*.

/// Allowed bytes for `@validateByteRange`, from `1-255` or `9,10,13,32-126`.
#[derive(Debug, Clone)]
pub(crate) struct ByteRange([u64; 4]);

impl ByteRange {
    pub(crate) fn parse(arg: &str) -> Result<ByteRange, String> {
        let mut table = [0u64; 4];
        for part in arg.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let num = |s: &str| s.trim().parse::<u16>().ok().filter(|v| *v <= 255);
            let (Some(a), Some(b)) = (num(a), num(b)) else {
                return Err(format!("invalid byte range {part:?}"));
            };
            if a > b {
                return Err(format!("invalid byte range {part:?}"));
            }
            for v in a..=b {
                table[usize::from(v >> 6)] |= 1 << (v & 63);
            }
        }
        Ok(ByteRange(table))
    }

    /// The first byte outside the allowed set.
    pub(crate) fn first_invalid(&self, input: &[u8]) -> Option<u8> {
        input
            .iter()
            .copied()
            .find(|&b| self.0[usize::from(b >> 6)] & (1 << (b & 63)) == 0)
    }
}

/// A `%` not followed by two hex digits (also at the end of the input).
pub(crate) fn invalid_url_encoding(input: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c == b'%' {
            let ok = input.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && input.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

/// Not well-formed UTF-8: truncated or invalid sequences, overlong forms, surrogates, code
/// points above U+10FFFF.
pub(crate) fn invalid_utf8(input: &[u8]) -> bool {
    std::str::from_utf8(input).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_list_single_bytes_and_ranges() {
        let r = ByteRange::parse("9,10,13,32-126").unwrap();
        assert_eq!(r.first_invalid(b"hello world\r\n"), None);
        assert_eq!(r.first_invalid(b"a\x00b"), Some(0));
        assert_eq!(r.first_invalid(b"\x7f"), Some(0x7f));
        let all = ByteRange::parse("1-255").unwrap();
        assert_eq!(all.first_invalid(&[255, 1]), None);
        assert_eq!(all.first_invalid(&[0]), Some(0));
        assert!(ByteRange::parse("0-256").is_err());
        assert!(ByteRange::parse("20-10").is_err());
        assert!(ByteRange::parse("x").is_err());
    }

    #[test]
    fn url_encoding_needs_two_hex_digits_after_percent() {
        assert!(!invalid_url_encoding(b"a%20b%7E"));
        assert!(invalid_url_encoding(b"%zz"));
        assert!(invalid_url_encoding(b"abc%2"));
        assert!(invalid_url_encoding(b"%"));
        assert!(!invalid_url_encoding(b""));
    }

    #[test]
    fn utf8_rejects_overlong_truncated_and_surrogates() {
        assert!(!invalid_utf8("héllo ’".as_bytes()));
        assert!(invalid_utf8(b"\xc0\xaf"));
        assert!(invalid_utf8(b"\xe2\x80"));
        assert!(invalid_utf8(b"\xed\xa0\x80"));
        assert!(invalid_utf8(b"\xf4\x90\x80\x80"));
        assert!(invalid_utf8(b"\xff"));
    }
}
