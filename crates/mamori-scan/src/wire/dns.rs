//! A DNS TXT query and the parse of its answer — only what the SPF and DMARC checks need.

/// Upper bound on names we follow through compression pointers, against pointer loops.
const MAX_NAME_HOPS: usize = 32;

/// A TXT query for `name` with an EDNS0 OPT record advertising a 4096-byte UDP buffer.
pub fn txt_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]); // RD; 1 question, 1 additional
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("invalid DNS name {name:?}"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 16, 0, 1]); // TXT, IN
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]); // OPT, 4096
    if q.len() > 512 {
        return Err(format!("DNS name too long: {name:?}"));
    }
    Ok(q)
}

/// The answer to a TXT query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The TXT records (each record's strings joined), possibly empty (no data).
    Records(Vec<String>),
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The answer was cut; ask again over TCP.
    Truncated,
}

/// Parses a response to [`txt_query`] with the same `id`.
pub fn parse_txt_response(id: u16, msg: &[u8]) -> Result<TxtAnswer, String> {
    if msg.len() < 12 {
        return Err("response shorter than a DNS header".into());
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err("response id does not match the query".into());
    }
    let flags = u16::from_be_bytes([msg[2], msg[3]]);
    if flags & 0x8000 == 0 {
        return Err("message is not a response".into());
    }
    if flags & 0x0200 != 0 {
        return Ok(TxtAnswer::Truncated);
    }
    match flags & 0x000f {
        0 => {}
        3 => return Ok(TxtAnswer::NoSuchName),
        rcode => return Err(format!("server answered rcode {rcode}")),
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]) as usize;
    let an = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos)?;
        pos = pos
            .checked_add(4)
            .filter(|p| *p <= msg.len())
            .ok_or("truncated question")?;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        pos = skip_name(msg, pos)?;
        let fixed = msg.get(pos..pos + 10).ok_or("truncated answer")?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        pos += 10;
        let rdata = msg.get(pos..pos + rdlen).ok_or("truncated record data")?;
        pos += rdlen;
        if rtype != 16 {
            continue; // CNAME and the like; the resolver already followed them
        }
        let mut text = Vec::new();
        let mut i = 0;
        while i < rdata.len() {
            let n = rdata[i] as usize;
            let s = rdata.get(i + 1..i + 1 + n).ok_or("truncated TXT string")?;
            text.extend_from_slice(s);
            i += 1 + n;
        }
        records.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(TxtAnswer::Records(records))
}

/// The position after a (possibly compressed) name starting at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, String> {
    for _ in 0..MAX_NAME_HOPS * 8 {
        let len = *msg.get(pos).ok_or("truncated name")? as usize;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => {
                msg.get(pos + 1).ok_or("truncated pointer")?;
                return Ok(pos + 2);
            }
            l if l & 0xc0 != 0 => return Err("reserved label type".into()),
            l => pos += 1 + l,
        }
    }
    Err("name has too many labels".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response as a resolver would send it, built by hand.
    pub fn response(id: u16, query: &[u8], rcode: u8, txts: &[&str]) -> Vec<u8> {
        let qend = 12 + query[12..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
        let mut r = query[..qend].to_vec();
        r[2] = 0x81;
        r[3] = 0x80 | rcode;
        r[6..8].copy_from_slice(&(txts.len() as u16).to_be_bytes());
        r[10..12].copy_from_slice(&[0, 0]);
        let _ = id;
        for t in txts {
            r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
            let chunks: Vec<&[u8]> = t.as_bytes().chunks(255).collect();
            let rdlen: usize = chunks.iter().map(|c| c.len() + 1).sum();
            r.extend_from_slice(&(rdlen as u16).to_be_bytes());
            for c in chunks {
                r.push(c.len() as u8);
                r.extend_from_slice(c);
            }
        }
        r
    }

    #[test]
    fn round_trip_txt_records() {
        let q = txt_query(0x1234, "example.test").unwrap();
        let long = format!("v=spf1 {} -all", "ip4:192.0.2.1 ".repeat(30));
        let r = response(0x1234, &q, 0, &["v=spf1 +all", &long]);
        assert_eq!(
            parse_txt_response(0x1234, &r).unwrap(),
            TxtAnswer::Records(vec!["v=spf1 +all".into(), long])
        );
        let nx = response(0x1234, &q, 3, &[]);
        assert_eq!(
            parse_txt_response(0x1234, &nx).unwrap(),
            TxtAnswer::NoSuchName
        );
        assert!(parse_txt_response(0x9999, &r).is_err());
    }

    #[test]
    fn truncated_responses_never_panic() {
        let q = txt_query(7, "example.test").unwrap();
        let r = response(7, &q, 0, &["v=DMARC1; p=none"]);
        for cut in 0..r.len() {
            let _ = parse_txt_response(7, &r[..cut]);
        }
        let mut evil = r.clone();
        evil[12] = 0xc0; // pointer to itself in the question
        evil[13] = 12;
        let _ = parse_txt_response(7, &evil);
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(txt_query(1, "a..b").is_err());
        assert!(txt_query(1, &"a".repeat(64)).is_err());
    }
}
