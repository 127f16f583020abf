//! A minimal DER walker for X.509 certificates: validity dates, issuer and subject (raw,
//! for the self-signed test) and their common names. Nothing else of the certificate is
//! interpreted; signatures are rustls's business.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The parts of a certificate the scanner reports on.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub issuer: Vec<u8>,
    pub subject: Vec<u8>,
    pub issuer_cn: Option<String>,
    pub subject_cn: Option<String>,
}

impl CertInfo {
    /// Issued by itself: the issuer name equals the subject name.
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// One TLV: tag, and the content's range in the input.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// The whole encoding (tag and length included).
    raw: &'a [u8],
}

fn read<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Tlv<'a>, String> {
    let start = *pos;
    let tag = *buf.get(start).ok_or("truncated tag")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte tags are not used in certificates".into());
    }
    let first = *buf.get(start + 1).ok_or("truncated length")? as usize;
    let (len, header) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return Err(format!("unsupported length form 0x{first:02x}"));
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *buf.get(start + 2 + i).ok_or("truncated length")? as usize;
        }
        (len, 2 + n)
    };
    let end = start
        .checked_add(header)
        .and_then(|s| s.checked_add(len))
        .ok_or("length overflow")?;
    if end > buf.len() {
        return Err(format!("element at byte {start} runs past the end"));
    }
    *pos = end;
    Ok(Tlv {
        tag,
        content: &buf[start + header..end],
        raw: &buf[start..end],
    })
}

fn expect<'a>(buf: &'a [u8], pos: &mut usize, tag: u8, what: &str) -> Result<Tlv<'a>, String> {
    let t = read(buf, pos)?;
    if t.tag != tag {
        return Err(format!(
            "{what}: expected tag 0x{tag:02x}, found 0x{:02x}",
            t.tag
        ));
    }
    Ok(t)
}

/// Parses the fields of [`CertInfo`] from a DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, String> {
    let mut pos = 0;
    let cert = expect(der, &mut pos, 0x30, "certificate")?;
    let mut pos = 0;
    let tbs = expect(cert.content, &mut pos, 0x30, "tbsCertificate")?;
    let b = tbs.content;
    let mut pos = 0;
    let mut t = read(b, &mut pos)?;
    if t.tag == 0xa0 {
        t = read(b, &mut pos)?; // serial after the explicit version
    }
    if t.tag != 0x02 {
        return Err("serial number missing".into());
    }
    expect(b, &mut pos, 0x30, "signature algorithm")?;
    let issuer = expect(b, &mut pos, 0x30, "issuer")?;
    let validity = expect(b, &mut pos, 0x30, "validity")?;
    let subject = expect(b, &mut pos, 0x30, "subject")?;
    let mut vp = 0;
    let nb = read(validity.content, &mut vp)?;
    let na = read(validity.content, &mut vp)?;
    Ok(CertInfo {
        not_before: parse_time(&nb)?,
        not_after: parse_time(&na)?,
        issuer: issuer.raw.to_vec(),
        subject: subject.raw.to_vec(),
        issuer_cn: common_name(issuer.content),
        subject_cn: common_name(subject.content),
    })
}

fn parse_time(t: &Tlv<'_>) -> Result<OffsetDateTime, String> {
    let s = std::str::from_utf8(t.content).map_err(|_| "time is not ASCII")?;
    let s = s.strip_suffix('Z').ok_or("time is not in UTC")?;
    if !s.is_ascii() {
        return Err("time is not ASCII".into());
    }
    let (year, rest) = match t.tag {
        0x17 if s.len() == 12 => {
            let yy: i32 = s[..2].parse().map_err(|_| "bad UTCTime year")?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        0x18 if s.len() == 14 => (s[..4].parse().map_err(|_| "bad year")?, &s[4..]),
        _ => return Err(format!("unsupported time encoding (tag 0x{:02x})", t.tag)),
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return Err("time has non-digits".into());
    }
    let n = |i: usize| rest[i..i + 2].parse::<u8>().unwrap_or(99);
    let month = Month::try_from(n(0)).map_err(|_| "bad month")?;
    let date = Date::from_calendar_date(year, month, n(2)).map_err(|e| e.to_string())?;
    let time = Time::from_hms(n(4), n(6), n(8)).map_err(|e| e.to_string())?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// The first commonName (OID 2.5.4.3) of a Name, as text.
fn common_name(name: &[u8]) -> Option<String> {
    let mut pos = 0;
    while pos < name.len() {
        let set = read(name, &mut pos).ok()?;
        let mut sp = 0;
        while sp < set.content.len() {
            let atv = read(set.content, &mut sp).ok()?;
            let mut ap = 0;
            let oid = read(atv.content, &mut ap).ok()?;
            let value = read(atv.content, &mut ap).ok()?;
            if oid.tag == 0x06 && oid.content == [0x55, 0x04, 0x03] {
                return Some(
                    String::from_utf8_lossy(value.content)
                        .chars()
                        .take(256)
                        .collect(),
                );
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 128 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    fn name(cn: &str) -> Vec<u8> {
        let oid = tlv(0x06, &[0x55, 0x04, 0x03]);
        let val = tlv(0x0c, cn.as_bytes());
        tlv(0x30, &tlv(0x31, &tlv(0x30, &[oid, val].concat())))
    }

    fn cert(issuer: &str, subject: &str, nb: &str, na: &str) -> Vec<u8> {
        let tbs = [
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            tlv(0x30, &tlv(0x06, &[0x2a, 0x86, 0x48])),
            name(issuer),
            tlv(
                0x30,
                &[tlv(0x17, nb.as_bytes()), tlv(0x18, na.as_bytes())].concat(),
            ),
            name(subject),
        ]
        .concat();
        tlv(0x30, &tlv(0x30, &tbs))
    }

    #[test]
    fn reads_dates_and_names() {
        let der = cert(
            "Test CA",
            "www.example.jp",
            "200101000000Z",
            "20210101120000Z",
        );
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.not_before.year(), 2020);
        assert_eq!(info.not_after.year(), 2021);
        assert_eq!(info.not_after.hour(), 12);
        assert_eq!(info.subject_cn.as_deref(), Some("www.example.jp"));
        assert_eq!(info.issuer_cn.as_deref(), Some("Test CA"));
        assert!(!info.self_issued());
        let own = cert("a", "a", "200101000000Z", "20210101000000Z");
        assert!(parse_certificate(&own).unwrap().self_issued());
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error() {
        let der = cert("Test CA", "x", "200101000000Z", "20210101000000Z");
        for cut in 0..der.len() {
            assert!(parse_certificate(&der[..cut]).is_err());
        }
        assert!(parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse_certificate(&[0x30, 0x80]).is_err());
        let bad = cert("a", "a", "20XX01000000Z", "20210101000000Z");
        assert!(parse_certificate(&bad).is_err());
    }
}
