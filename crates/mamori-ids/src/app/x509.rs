//! The fields Suricata logs from a server certificate, read with a small DER reader.
//!
//! Only what EVE `tls` needs is read from the certificate's `tbsCertificate`: serial
//! number, issuer and subject names, validity. Names print as Suricata prints them
//! (`C=US, O=Let's Encrypt, CN=R3`), the serial as colon-separated uppercase hex, times as
//! `2024-01-01T00:00:00`, the SHA-1 fingerprint of the whole certificate as colon-separated
//! lowercase hex. The reader is iterative (no recursion), checks every length against the
//! bytes present and rejects indefinite lengths and multi-byte tags. Signatures and
//! extensions are not looked at: this is for logging and matching, not for trust.

use sha1::{Digest, Sha1};

/// Why a certificate could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    #[error("DER ends inside {0}")]
    Truncated(&'static str),
    #[error("unexpected DER tag {tag:#04x} for {what}")]
    UnexpectedTag { tag: u8, what: &'static str },
    #[error("unsupported DER encoding in {0}")]
    Unsupported(&'static str),
}

/// What is logged of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint: String,
}

struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads one TLV from the front of `input`; returns it and the rest.
fn tlv<'a>(input: &'a [u8], what: &'static str) -> Result<(Tlv<'a>, &'a [u8]), X509Error> {
    let (&tag, rest) = input.split_first().ok_or(X509Error::Truncated(what))?;
    if tag & 0x1f == 0x1f {
        return Err(X509Error::Unsupported(what));
    }
    let (&first, rest) = rest.split_first().ok_or(X509Error::Truncated(what))?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(X509Error::Unsupported(what));
        }
        let bytes = rest.get(..n).ok_or(X509Error::Truncated(what))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    let content = rest.get(..len).ok_or(X509Error::Truncated(what))?;
    Ok((Tlv { tag, content }, &rest[len..]))
}

fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), X509Error> {
    let (t, rest) = tlv(input, what)?;
    if t.tag != tag {
        return Err(X509Error::UnexpectedTag { tag: t.tag, what });
    }
    Ok((t.content, rest))
}

/// Reads the certificate `der` (one element of a TLS Certificate message).
pub fn parse_certificate(der: &[u8]) -> Result<Certificate, X509Error> {
    let (cert, _) = expect(der, 0x30, "certificate")?;
    let (tbs, _) = expect(cert, 0x30, "tbsCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest, "version")?.1;
    }
    let (serial, rest) = expect(rest, 0x02, "serialNumber")?;
    let (_, rest) = expect(rest, 0x30, "signature")?;
    let (issuer, rest) = expect(rest, 0x30, "issuer")?;
    let (validity, rest) = expect(rest, 0x30, "validity")?;
    let (subject, _) = expect(rest, 0x30, "subject")?;
    let (not_before, after) = tlv(validity, "notBefore")?;
    let (not_after, _) = tlv(after, "notAfter")?;
    Ok(Certificate {
        subject: name_string(subject)?,
        issuer: name_string(issuer)?,
        serial: hex_colon(serial, true),
        not_before: time_string(&not_before)?,
        not_after: time_string(&not_after)?,
        fingerprint: fingerprint(der),
    })
}

/// SHA-1 of `der`, colon-separated lowercase hex (EVE `fingerprint`).
pub fn fingerprint(der: &[u8]) -> String {
    hex_colon(&Sha1::digest(der), false)
}

fn hex_colon(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

/// A Name as `C=US, O=Org, CN=host`; several attributes in one RDN join with ` + `.
fn name_string(mut rdns: &[u8]) -> Result<String, X509Error> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = expect(rdns, 0x31, "RelativeDistinguishedName")?;
        rdns = rest;
        let mut attrs = Vec::new();
        let mut set = set;
        while !set.is_empty() {
            let (attr, rest) = expect(set, 0x30, "AttributeTypeAndValue")?;
            set = rest;
            let (oid, value) = expect(attr, 0x06, "attribute type")?;
            let (value, _) = tlv(value, "attribute value")?;
            attrs.push(format!("{}={}", attribute_name(oid), string_value(&value)));
        }
        parts.push(attrs.join(" + "));
    }
    Ok(parts.join(", "))
}

fn attribute_name(oid: &[u8]) -> String {
    let name = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x0c] => "title",
        [0x55, 0x04, 0x2a] => "givenName",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return oid_string(oid),
    };
    name.to_owned()
}

/// Dotted form of an OID's content bytes.
fn oid_string(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for (i, b) in oid.iter().enumerate() {
        if value > u64::MAX >> 7 {
            return format!("#{}", hex_colon(oid, false));
        }
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        } else if i == oid.len() - 1 {
            return format!("#{}", hex_colon(oid, false));
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn string_value(v: &Tlv<'_>) -> String {
    match v.tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => String::from_utf8_lossy(v.content).into_owned(),
        // TeletexString: in practice Latin-1.
        0x14 => v.content.iter().map(|b| char::from(*b)).collect(),
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = v
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // UniversalString: UCS-4BE.
        0x1c => v
            .content
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect(),
        _ => format!("#{}", hex_colon(v.content, false).replace(':', "")),
    }
}

/// UTCTime or GeneralizedTime as `YYYY-MM-DDTHH:MM:SS`.
fn time_string(t: &Tlv<'_>) -> Result<String, X509Error> {
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let (year, rest) = match t.tag {
        0x17 => {
            let yy = t.content.get(..2).filter(|s| digits(s));
            let yy = yy.ok_or(X509Error::Unsupported("UTCTime"))?;
            let yy = u32::from(yy[0] - b'0') * 10 + u32::from(yy[1] - b'0');
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &t.content[2..])
        }
        0x18 => {
            let yyyy = t.content.get(..4).filter(|s| digits(s));
            let yyyy = yyyy.ok_or(X509Error::Unsupported("GeneralizedTime"))?;
            let year = yyyy.iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
            (year, &t.content[4..])
        }
        tag => {
            return Err(X509Error::UnexpectedTag {
                tag,
                what: "validity time",
            })
        }
    };
    let rest = rest
        .get(..10)
        .filter(|s| digits(s))
        .ok_or(X509Error::Unsupported("time"))?;
    let two = |i: usize| &rest[i..i + 2];
    let text = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    Ok(format!(
        "{year:04}-{}-{}T{}:{}:{}",
        text(two(0)),
        text(two(2)),
        text(two(4)),
        text(two(6)),
        text(two(8))
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else if len < 0x100 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
        out.extend_from_slice(content);
        out
    }

    fn attr(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        der(
            0x31,
            &der(0x30, &[der(0x06, oid), der(tag, value)].concat()),
        )
    }

    /// A certificate as servers send them, minus a real key and signature.
    pub(crate) fn sample_certificate() -> Vec<u8> {
        let issuer = [
            attr(&[0x55, 4, 6], 0x13, b"US"),
            attr(&[0x55, 4, 10], 0x13, b"Let's Encrypt"),
            attr(&[0x55, 4, 3], 0x13, b"R3"),
        ]
        .concat();
        let subject = attr(&[0x55, 4, 3], 0x0c, b"www.example.com");
        let validity = [der(0x17, b"240101000000Z"), der(0x18, b"20240331235959Z")].concat();
        let alg = der(
            0x30,
            &[
                der(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11]),
                der(0x05, &[]),
            ]
            .concat(),
        );
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &[0x00, 0x8a, 0x01, 0xff]),
                alg.clone(),
                der(0x30, &issuer),
                der(0x30, &validity),
                der(0x30, &subject),
                der(0x30, &[0u8; 150]), // stands in for the public key
            ]
            .concat(),
        );
        der(0x30, &[tbs, alg, der(0x03, &[0, 1, 2, 3])].concat())
    }

    #[test]
    fn fields_print_as_suricata_prints_them() {
        let cert = parse_certificate(&sample_certificate()).unwrap();
        assert_eq!(cert.issuer, "C=US, O=Let's Encrypt, CN=R3");
        assert_eq!(cert.subject, "CN=www.example.com");
        assert_eq!(cert.serial, "00:8A:01:FF");
        assert_eq!(cert.not_before, "2024-01-01T00:00:00");
        assert_eq!(cert.not_after, "2024-03-31T23:59:59");
        assert_eq!(cert.fingerprint.len(), 59);
        assert!(cert
            .fingerprint
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit()));
    }

    /// A self-signed P-256 certificate made with `openssl req -x509` (serial 0xc0ffee15);
    /// the expected values are what `openssl x509 -noout -subject -serial -dates
    /// -fingerprint -sha1` printed for it, in Suricata's notation.
    const OPENSSL_CERT_HEX: &[&str] = &[
        "308201f83082019ea003020102020500c0ffee15300a06082a8648ce3d0403023059310b3009060355040613024a5031",
        "0e300c06035504080c05546f6b796f31143012060355040a0c0b4d616d6f72692054657374310c300a060355040b0c03",
        "4944533116301406035504030c0d67772e6578616d706c652e6a70301e170d3236313132333131333832375a170d3236",
        "313232333131333832375a3059310b3009060355040613024a50310e300c06035504080c05546f6b796f311430120603",
        "55040a0c0b4d616d6f72692054657374310c300a060355040b0c034944533116301406035504030c0d67772e6578616d",
        "706c652e6a703059301306072a8648ce3d020106082a8648ce3d0301070342000402db68b0f3f92f437bf3a5a58ac28a",
        "705da7b210e728ec8566f76c9ba96f569cae51b920083e4a0bbf6f77b3f3ecfdaa303cd5e03bd523499fc31ce3316a9f",
        "d4a3533051301d0603551d0e0416041494d981ecff30a09946b3fee22bfdcb2160ffa792301f0603551d230418301680",
        "1494d981ecff30a09946b3fee22bfdcb2160ffa792300f0603551d130101ff040530030101ff300a06082a8648ce3d04",
        "030203480030450220270849b76488769c57d2ba7be422181cb905855e0b8ec5be8787762b41086bc3022100cb1fc13c",
        "eb24f00ea20865156a7b2b8de83a1c6d8ad1b29c2ade6972f9264ac4",
    ];

    #[test]
    fn a_certificate_made_by_openssl_reads_as_openssl_shows_it() {
        let hex: String = OPENSSL_CERT_HEX.concat();
        let der: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let cert = parse_certificate(&der).unwrap();
        let name = "C=JP, ST=Tokyo, O=Mamori Test, OU=IDS, CN=gw.example.jp";
        assert_eq!(cert.subject, name);
        assert_eq!(cert.issuer, name);
        // DER keeps the sign byte; Suricata prints the raw serial bytes.
        assert_eq!(cert.serial, "00:C0:FF:EE:15");
        assert_eq!(cert.not_before, "2026-11-23T11:38:27");
        assert_eq!(cert.not_after, "2026-12-23T11:38:27");
        assert_eq!(
            cert.fingerprint,
            "9c:1e:46:a9:e4:a5:04:97:87:1d:aa:e7:32:9b:61:d1:9e:82:97:77"
        );
    }

    #[test]
    fn fingerprint_is_sha1_in_colon_hex() {
        // FIPS 180 test vector: SHA-1("abc").
        assert_eq!(
            fingerprint(b"abc"),
            "a9:99:3e:36:47:06:81:6a:ba:3e:25:71:78:50:c2:6c:9c:d0:d8:9d"
        );
    }

    #[test]
    fn names_with_several_attributes_and_unknown_oids() {
        let name = [
            der(
                0x31,
                &[
                    der(0x30, &[der(0x06, &[0x55, 4, 11]), der(0x13, b"a")].concat()),
                    der(0x30, &[der(0x06, &[0x55, 4, 11]), der(0x13, b"b")].concat()),
                ]
                .concat(),
            ),
            attr(
                &[0x2b, 6, 1, 4, 1, 0x82, 0x37, 1],
                0x1e,
                &[0, b'x', 0x30, 0x42],
            ),
        ]
        .concat();
        assert_eq!(
            name_string(&name).unwrap(),
            "OU=a + OU=b, 1.3.6.1.4.1.311.1=x\u{3042}"
        );
    }

    #[test]
    fn truncated_or_odd_der_is_an_error() {
        let cert = sample_certificate();
        for cut in 0..cert.len() {
            assert!(parse_certificate(&cert[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            parse_certificate(&[0x30, 0x80, 0, 0]),
            Err(X509Error::Unsupported("certificate"))
        );
        assert!(parse_certificate(&[0x1f, 0x01, 0x00]).is_err());
        assert!(parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
