//! Transformations (`t:lowercase`, `t:urlDecodeUni`, ...): pure functions from bytes to bytes
//! applied to a variable's value before an operator sees it, with ModSecurity v3's semantics
//! (its quirks included: `urlDecodeUni` keeps the low byte of `%uXXXX`, `htmlEntityDecode`
//! knows five named entities, `removeWhitespace` also drops 0xC2...). Each function's doc says
//! what it does; [`decode`] holds the decoders, [`normalize`] the evasion normalisations,
//! [`digest`] the hashes and encoders.
//!
//! CONTRACT (used by the engine): [`Transform::parse`] maps a SecLang name (case-insensitive)
//! to a transform, [`Transform::apply`] runs it, borrowing the input when nothing changes.
//! `t:none` is [`Transform::None`]: the engine treats it as "drop the transforms so far"; its
//! `apply` is the identity.
//!
//! Not supported: `SecUnicodeMapFile` code-page maps for `urlDecodeUni` (ModSecurity's default
//! without one is what we do). All functions are linear in the input, allocate at most a
//! small multiple of it, and use no regex.

pub mod decode;
pub mod digest;
pub mod normalize;

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    None,
    Lowercase,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    UrlEncode,
    JsDecode,
    HtmlEntityDecode,
    CssDecode,
    EscapeSeqDecode,
    Base64Decode,
    Base64DecodeExt,
    Base64Encode,
    HexDecode,
    HexEncode,
    SqlHexDecode,
    Utf8ToUnicode,
    CmdLine,
    CompressWhitespace,
    RemoveWhitespace,
    RemoveNulls,
    ReplaceNulls,
    RemoveComments,
    RemoveCommentsChar,
    ReplaceComments,
    NormalizePath,
    NormalizePathWin,
    Trim,
    TrimLeft,
    TrimRight,
    Length,
    Md5,
    Sha1,
    ParityEven7bit,
    ParityOdd7bit,
    ParityZero7bit,
}

/// Every transform with its canonical SecLang name.
const NAMES: &[(Transform, &str)] = &[
    (Transform::None, "none"),
    (Transform::Lowercase, "lowercase"),
    (Transform::Uppercase, "uppercase"),
    (Transform::UrlDecode, "urlDecode"),
    (Transform::UrlDecodeUni, "urlDecodeUni"),
    (Transform::UrlEncode, "urlEncode"),
    (Transform::JsDecode, "jsDecode"),
    (Transform::HtmlEntityDecode, "htmlEntityDecode"),
    (Transform::CssDecode, "cssDecode"),
    (Transform::EscapeSeqDecode, "escapeSeqDecode"),
    (Transform::Base64Decode, "base64Decode"),
    (Transform::Base64DecodeExt, "base64DecodeExt"),
    (Transform::Base64Encode, "base64Encode"),
    (Transform::HexDecode, "hexDecode"),
    (Transform::HexEncode, "hexEncode"),
    (Transform::SqlHexDecode, "sqlHexDecode"),
    (Transform::Utf8ToUnicode, "utf8toUnicode"),
    (Transform::CmdLine, "cmdLine"),
    (Transform::CompressWhitespace, "compressWhitespace"),
    (Transform::RemoveWhitespace, "removeWhitespace"),
    (Transform::RemoveNulls, "removeNulls"),
    (Transform::ReplaceNulls, "replaceNulls"),
    (Transform::RemoveComments, "removeComments"),
    (Transform::RemoveCommentsChar, "removeCommentsChar"),
    (Transform::ReplaceComments, "replaceComments"),
    (Transform::NormalizePath, "normalizePath"),
    (Transform::NormalizePathWin, "normalizePathWin"),
    (Transform::Trim, "trim"),
    (Transform::TrimLeft, "trimLeft"),
    (Transform::TrimRight, "trimRight"),
    (Transform::Length, "length"),
    (Transform::Md5, "md5"),
    (Transform::Sha1, "sha1"),
    (Transform::ParityEven7bit, "parityEven7bit"),
    (Transform::ParityOdd7bit, "parityOdd7bit"),
    (Transform::ParityZero7bit, "parityZero7bit"),
];

impl Transform {
    /// The transform a SecLang name (case-insensitive, British spellings accepted) names.
    pub fn parse(name: &str) -> Option<Transform> {
        let name = name.trim();
        let alias = match name.to_ascii_lowercase().as_str() {
            "normalisepath" => Some(Transform::NormalizePath),
            "normalisepathwin" => Some(Transform::NormalizePathWin),
            _ => Option::None,
        };
        alias.or_else(|| {
            NAMES
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(name))
                .map(|(t, _)| *t)
        })
    }

    /// The canonical SecLang name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("none", |(_, n)| n)
    }

    /// Every transform (for documentation and tests).
    pub fn all() -> impl Iterator<Item = Transform> {
        NAMES.iter().map(|(t, _)| *t)
    }

    pub fn apply(self, input: &[u8]) -> Cow<'_, [u8]> {
        use Transform as T;
        match self {
            T::None => Cow::Borrowed(input),
            T::Lowercase => normalize::lowercase(input),
            T::Uppercase => normalize::uppercase(input),
            T::UrlDecode => decode::url_decode(input),
            T::UrlDecodeUni => decode::url_decode_uni(input),
            T::UrlEncode => digest::url_encode(input),
            T::JsDecode => decode::js_decode(input),
            T::HtmlEntityDecode => decode::html_entity_decode(input),
            T::CssDecode => decode::css_decode(input),
            T::EscapeSeqDecode => decode::escape_seq_decode(input),
            T::Base64Decode => decode::base64_decode(input),
            T::Base64DecodeExt => decode::base64_decode_ext(input),
            T::Base64Encode => digest::base64_encode(input),
            T::HexDecode => decode::hex_decode(input),
            T::HexEncode => digest::hex_encode(input),
            T::SqlHexDecode => decode::sql_hex_decode(input),
            T::Utf8ToUnicode => decode::utf8_to_unicode(input),
            T::CmdLine => normalize::cmd_line(input),
            T::CompressWhitespace => normalize::compress_whitespace(input),
            T::RemoveWhitespace => normalize::remove_whitespace(input),
            T::RemoveNulls => normalize::remove_nulls(input),
            T::ReplaceNulls => normalize::replace_nulls(input),
            T::RemoveComments => normalize::remove_comments(input),
            T::RemoveCommentsChar => normalize::remove_comments_char(input),
            T::ReplaceComments => normalize::replace_comments(input),
            T::NormalizePath => normalize::normalize_path(input, false),
            T::NormalizePathWin => normalize::normalize_path(input, true),
            T::Trim => normalize::trim(input, true, true),
            T::TrimLeft => normalize::trim(input, true, false),
            T::TrimRight => normalize::trim(input, false, true),
            T::Length => Cow::Owned(input.len().to_string().into_bytes()),
            T::Md5 => Cow::Owned(digest::md5(input).to_vec()),
            T::Sha1 => Cow::Owned(digest::sha1(input).to_vec()),
            T::ParityEven7bit => normalize::parity(input, normalize::Parity::Even),
            T::ParityOdd7bit => normalize::parity(input, normalize::Parity::Odd),
            T::ParityZero7bit => normalize::parity(input, normalize::Parity::Zero),
        }
    }
}

/// C's `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Value of a hex digit as ModSecurity's `x2c` computes it (garbage in, garbage out: callers
/// that need validity check `is_ascii_hexdigit` first).
pub(crate) fn hex_digit(c: u8) -> u8 {
    if c >= b'A' {
        (c & 0xdf).wrapping_sub(b'A').wrapping_add(10)
    } else {
        c.wrapping_sub(b'0')
    }
}

/// Two hex digits to a byte.
pub(crate) fn x2c(hi: u8, lo: u8) -> u8 {
    hex_digit(hi).wrapping_mul(16).wrapping_add(hex_digit(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for t in Transform::all() {
            assert_eq!(Transform::parse(t.name()), Some(t));
            assert_eq!(Transform::parse(&t.name().to_ascii_uppercase()), Some(t));
        }
        assert_eq!(
            Transform::parse("normalisePath"),
            Some(Transform::NormalizePath)
        );
        assert_eq!(
            Transform::parse("normalisePathWin"),
            Some(Transform::NormalizePathWin)
        );
        assert_eq!(
            Transform::parse("base64decode"),
            Some(Transform::Base64Decode)
        );
        assert_eq!(
            Transform::parse("utf8ToUnicode"),
            Some(Transform::Utf8ToUnicode)
        );
        assert_eq!(Transform::parse("alert"), Option::None);
    }

    #[test]
    fn unchanged_values_are_borrowed() {
        let plain = b"hello world 123";
        for t in [
            Transform::None,
            Transform::Lowercase,
            Transform::UrlDecode,
            Transform::UrlDecodeUni,
            Transform::JsDecode,
            Transform::HtmlEntityDecode,
            Transform::CssDecode,
            Transform::EscapeSeqDecode,
            Transform::SqlHexDecode,
            Transform::Utf8ToUnicode,
            Transform::CompressWhitespace,
            Transform::RemoveNulls,
            Transform::ReplaceNulls,
            Transform::RemoveComments,
            Transform::RemoveCommentsChar,
            Transform::ReplaceComments,
            Transform::NormalizePath,
            Transform::NormalizePathWin,
            Transform::Trim,
        ] {
            assert!(matches!(t.apply(plain), Cow::Borrowed(_)), "{}", t.name());
            assert_eq!(&*t.apply(plain), plain, "{}", t.name());
        }
    }

    #[test]
    fn every_transform_survives_hostile_bytes() {
        let mut nasty: Vec<u8> = (0..=255u8).collect();
        nasty.extend_from_slice(b"%u%uff%%2%\\u12\\x4\\0777&#x&#;&;/*--><!--#\\../..//.\\");
        for t in Transform::all() {
            for end in 0..nasty.len() {
                let _ = t.apply(&nasty[..end]);
                let _ = t.apply(&nasty[end..]);
            }
        }
    }
}
