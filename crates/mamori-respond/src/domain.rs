//! Blocked domains as nftables can see them: the DNS wire-format QNAME of a query, matched
//! at its fixed place in the packet.
//!
//! A DNS query's question name starts right after the 12-byte header, as length-prefixed
//! labels ending in a zero byte (`www.example.com` is `\x03www\x07example\x03com\x00`). nft
//! compares raw payload (`@ih,<bit offset>,<bit length>`, `ih` being the bytes after the
//! UDP/TCP header) against constants of at most 128 bits, so the name is cut into 16-byte
//! chunks. Letters are compared under the mask `0xdf`, which clears the ASCII case bit, so
//! `Example.COM` matches too (DNS names are case-insensitive, and some resolvers randomise
//! case as a spoofing defence); length bytes, digits and hyphens compare exactly.
//!
//! Only the exact name is matched: blocking `example.com` does not block `www.example.com`
//! (the offset of a suffix depends on the labels before it, which nft cannot follow).

use crate::RespondError;

/// The longest name in text form (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;
/// The longest constant nft compares raw payload against, in bytes.
const CHUNK: usize = 16;

/// Checks a domain name and returns it in canonical form: lowercase, without a trailing
/// dot. Labels are 1–63 letters, digits or hyphens; the whole name at most 253 characters.
pub fn validate_domain(input: &str) -> Result<String, RespondError> {
    let invalid = |reason: String| RespondError::InvalidDomain {
        input: input.chars().take(80).collect(),
        reason,
    };
    let name = input.strip_suffix('.').unwrap_or(input);
    if name.is_empty() {
        return Err(invalid("empty name".into()));
    }
    if name.len() > MAX_NAME {
        return Err(invalid(format!(
            "{} characters, more than the {MAX_NAME} DNS allows",
            name.len()
        )));
    }
    for (i, label) in name.split('.').enumerate() {
        if label.is_empty() {
            return Err(invalid(format!("label {} is empty", i + 1)));
        }
        if label.len() > MAX_LABEL {
            return Err(invalid(format!(
                "label {} has {} characters, more than {MAX_LABEL}",
                i + 1,
                label.len()
            )));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(invalid(format!(
                "label {} holds {c:?}; only letters, digits and '-' are allowed \
                 (write internationalised names in their xn-- form)",
                i + 1
            )));
        }
    }
    Ok(name.to_ascii_lowercase())
}

/// The wire form of a validated name: length-prefixed labels and the closing zero byte.
pub fn qname(domain: &str) -> Vec<u8> {
    let mut wire = Vec::with_capacity(domain.len() + 2);
    for label in domain.split('.') {
        // validate_domain keeps labels under 64 bytes.
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    wire
}

/// One raw-payload comparison: `@ih,<offset>,<bytes*8> & mask == value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Bit offset from the start of the transport payload.
    pub offset_bits: usize,
    /// The compared value, already masked (letters in upper case).
    pub value: Vec<u8>,
    /// `0xdf` for letters, `0xff` for everything else.
    pub mask: Vec<u8>,
}

impl Chunk {
    /// True when every byte compares exactly, so nft needs no `&`.
    pub fn is_exact(&self) -> bool {
        self.mask.iter().all(|&m| m == 0xff)
    }
}

/// The comparisons that together match `domain` as the QNAME of a DNS message whose
/// header starts `header_offset` bytes into the transport payload (0 for UDP, 2 for TCP,
/// where a length field comes first).
pub fn qname_chunks(domain: &str, header_offset: usize) -> Vec<Chunk> {
    let wire = qname(domain);
    let start = (header_offset + 12) * 8;
    wire.chunks(CHUNK)
        .enumerate()
        .map(|(i, bytes)| {
            let mask: Vec<u8> = bytes
                .iter()
                .map(|b| if b.is_ascii_alphabetic() { 0xdf } else { 0xff })
                .collect();
            let value = bytes.iter().zip(&mask).map(|(b, m)| b & m).collect();
            Chunk {
                offset_bits: start + i * CHUNK * 8,
                value,
                mask,
            }
        })
        .collect()
}

/// The domain that a set of comparisons read back from the kernel matches, if they form a
/// complete wire-format name starting at the lowest offset.
pub fn domain_from_chunks(chunks: &mut [(usize, Vec<u8>)]) -> Option<String> {
    chunks.sort_by_key(|(offset, _)| *offset);
    let first = chunks.first()?.0;
    let mut wire = Vec::new();
    for (offset, bytes) in chunks.iter() {
        if *offset != first + wire.len() * 8 || wire.len() + bytes.len() > MAX_NAME + 2 {
            return None;
        }
        wire.extend_from_slice(bytes);
    }
    let mut labels = Vec::new();
    let mut rest = wire.as_slice();
    loop {
        let (&len, tail) = rest.split_first()?;
        if len == 0 {
            if !tail.is_empty() {
                return None;
            }
            break;
        }
        let label = tail.get(..usize::from(len))?;
        labels.push(std::str::from_utf8(label).ok()?.to_ascii_lowercase());
        rest = &tail[usize::from(len)..];
    }
    validate_domain(&labels.join(".")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_lowercase_without_root_dot() {
        assert_eq!(
            validate_domain("Evil-C2.Example.COM.").unwrap(),
            "evil-c2.example.com"
        );
        assert_eq!(validate_domain("localhost").unwrap(), "localhost");
        assert_eq!(validate_domain("xn--r8jz45g.jp").unwrap(), "xn--r8jz45g.jp");
    }

    #[test]
    fn refuses_bad_names_with_reasons() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = vec!["abcdefghi"; 26].join(".");
        for (bad, why) in [
            ("", "empty"),
            (".", "empty"),
            ("a..b", "label 2 is empty"),
            (".example.com", "label 1 is empty"),
            (long_label.as_str(), "more than 63"),
            (long_name.as_str(), "more than the 253"),
            ("exa mple.com", "' '"),
            ("example.com\"; flush ruleset", "'\"'"),
            ("ex_ample.com", "'_'"),
            ("例え.jp", "xn--"),
            ("*.example.com", "'*'"),
        ] {
            let err = validate_domain(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(validate_domain(&vec!["a".repeat(63); 4].join(".")[..253]).is_ok());
    }

    #[test]
    fn qname_is_length_prefixed_labels() {
        assert_eq!(
            qname("www.example.com"),
            b"\x03www\x07example\x03com\x00".to_vec()
        );
        assert_eq!(qname("a"), b"\x01a\x00".to_vec());
    }

    #[test]
    fn chunks_mask_letters_only_and_start_after_the_header() {
        let udp = qname_chunks("c2.example", 0);
        assert_eq!(udp.len(), 1);
        assert_eq!(udp[0].offset_bits, 96);
        assert_eq!(udp[0].value, b"\x02C2\x07EXAMPLE\x00".to_vec());
        assert_eq!(
            udp[0].mask,
            vec![0xff, 0xdf, 0xff, 0xff, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xdf, 0xff]
        );
        let tcp = qname_chunks("c2.example", 2);
        assert_eq!(tcp[0].offset_bits, 112);
        assert!(qname_chunks("1.2", 0)[0].is_exact());
    }

    #[test]
    fn long_names_split_into_16_byte_chunks() {
        let name = "abcdefghijklmnopqrstuvwxyz.example.com";
        let chunks = qname_chunks(name, 0);
        assert_eq!(chunks.len(), 3); // 40 wire bytes
        assert_eq!(chunks[1].offset_bits, 96 + 128);
        assert_eq!(chunks[2].value.len(), 8);
        let total: usize = chunks.iter().map(|c| c.value.len()).sum();
        assert_eq!(total, qname(name).len());
    }

    #[test]
    fn chunks_decode_back_to_the_name() {
        for name in ["a", "evil-c2.example.com", &vec!["x1y2z3"; 30].join(".")] {
            let mut read: Vec<_> = qname_chunks(name, 2)
                .into_iter()
                .rev()
                .map(|c| (c.offset_bits, c.value))
                .collect();
            assert_eq!(domain_from_chunks(&mut read).as_deref(), Some(name));
        }
        let mut gap = vec![(96, b"\x01a".to_vec()), (120, b"\x00".to_vec())];
        assert_eq!(domain_from_chunks(&mut gap), None);
        let mut unterminated = vec![(96, b"\x03abc".to_vec())];
        assert_eq!(domain_from_chunks(&mut unterminated), None);
    }
}
