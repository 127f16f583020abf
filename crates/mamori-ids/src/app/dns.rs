//! DNS messages: queries and responses over UDP, and over TCP behind a two-byte length.
//!
//! A message is parsed whole: header, questions, answer and authority records (additional
//! records are counted, not kept). Names are decompressed with loop protection: a pointer
//! must point before the name part that contains it, at most [`MAX_POINTERS`] pointers are
//! followed and a name longer than [`MAX_NAME`] bytes is an error. Record data is decoded
//! for A, AAAA, CNAME, NS, PTR, MX, TXT, SOA and SRV; anything else is kept raw.
//!
//! Output is Suricata 7's EVE `dns` object in version 2 form (one record per question for a
//! query, one record with `answers` and `grouped` for a response) and the `dns.query`
//! buffer. Input comes from [`super::AppState`]: datagrams for UDP, stream chunks for TCP.

use super::line::printable;
use super::{AppEvent, Fault, Next, StreamParser, Timestamp};
use serde_json::{json, Map, Value};

/// Longest decompressed name accepted, in bytes.
pub const MAX_NAME: usize = 1024;
/// Compression pointers followed in one name.
pub const MAX_POINTERS: usize = 64;
/// Records kept per message (answers and authorities together).
pub const MAX_RECORDS: usize = 512;

/// Why a DNS message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("message ends inside {0} (byte {1})")]
    Truncated(&'static str, usize),
    #[error("name compression loop or forward pointer at byte {0}")]
    PointerLoop(usize),
    #[error("name longer than {MAX_NAME} bytes at byte {0}")]
    NameTooLong(usize),
    #[error("reserved label type at byte {0}")]
    BadLabel(usize),
}

/// A question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    pub name: Vec<u8>,
    pub rrtype: u16,
    pub rrclass: u16,
}

/// A resource record from the answer or authority section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: Vec<u8>,
    pub rrtype: u16,
    pub rrclass: u16,
    pub ttl: u32,
    pub data: RData,
}

/// SOA record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub mname: Vec<u8>,
    pub rname: Vec<u8>,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// SRV record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: Vec<u8>,
}

/// Decoded record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A([u8; 4]),
    Aaaa([u8; 16]),
    /// CNAME, NS, PTR: a name.
    Name(Vec<u8>),
    Mx {
        preference: u16,
        exchange: Vec<u8>,
    },
    /// The character-strings of a TXT record.
    Txt(Vec<Vec<u8>>),
    Soa(Soa),
    Srv(Srv),
    /// Any other type, or data that did not decode: the raw bytes.
    Other(Vec<u8>),
}

/// A parsed DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMessage {
    /// Number of this message in its flow, from 0 (EVE `tx_id`).
    pub tx_id: u64,
    pub id: u16,
    pub flags: u16,
    pub queries: Vec<DnsQuery>,
    pub answers: Vec<DnsRecord>,
    pub authorities: Vec<DnsRecord>,
    pub additional_count: u16,
    /// More records than [`MAX_RECORDS`]: the rest were not kept.
    pub records_truncated: bool,
}

/// The sticky buffers of a DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsBuffers<'a> {
    /// `dns.query`: each question's name (a multi-buffer).
    pub query: Vec<&'a [u8]>,
}

impl DnsMessage {
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }

    pub fn buffers(&self) -> DnsBuffers<'_> {
        DnsBuffers {
            query: self.queries.iter().map(|q| q.name.as_slice()).collect(),
        }
    }

    /// The EVE `dns` objects: one per question for a query, one for a response.
    pub fn to_eve(&self) -> Vec<Value> {
        if !self.is_response() {
            return self
                .queries
                .iter()
                .map(|q| {
                    json!({
                        "type": "query",
                        "id": self.id,
                        "rrname": name_text(&q.name),
                        "rrtype": rrtype_name(q.rrtype),
                        "tx_id": self.tx_id,
                        "opcode": self.opcode(),
                    })
                })
                .collect();
        }
        let mut obj = Map::new();
        obj.insert("version".into(), json!(2));
        obj.insert("type".into(), json!("answer"));
        obj.insert("id".into(), json!(self.id));
        obj.insert("flags".into(), json!(format!("{:x}", self.flags)));
        for (bit, name) in [
            (0x8000, "qr"),
            (0x0400, "aa"),
            (0x0200, "tc"),
            (0x0100, "rd"),
            (0x0080, "ra"),
            (0x0040, "z"),
        ] {
            if self.flags & bit != 0 {
                obj.insert(name.into(), json!(true));
            }
        }
        obj.insert("opcode".into(), json!(self.opcode()));
        if let Some(q) = self.queries.first() {
            obj.insert("rrname".into(), json!(name_text(&q.name)));
            obj.insert("rrtype".into(), json!(rrtype_name(q.rrtype)));
        }
        obj.insert("rcode".into(), json!(rcode_name(self.rcode())));
        if !self.answers.is_empty() {
            let answers: Vec<Value> = self.answers.iter().map(record_detail).collect();
            obj.insert("answers".into(), Value::Array(answers));
            let mut grouped = Map::new();
            for record in &self.answers {
                if let Some(value) = grouped_value(&record.data) {
                    let entry = grouped
                        .entry(rrtype_name(record.rrtype))
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(list) = entry {
                        list.push(value);
                    }
                }
            }
            obj.insert("grouped".into(), Value::Object(grouped));
        }
        if !self.authorities.is_empty() {
            let auth: Vec<Value> = self.authorities.iter().map(record_detail).collect();
            obj.insert("authorities".into(), Value::Array(auth));
        }
        vec![Value::Object(obj)]
    }
}

fn record_detail(record: &DnsRecord) -> Value {
    let mut obj = Map::new();
    obj.insert("rrname".into(), json!(name_text(&record.name)));
    obj.insert("rrtype".into(), json!(rrtype_name(record.rrtype)));
    obj.insert("ttl".into(), json!(record.ttl));
    match &record.data {
        RData::Soa(soa) => {
            obj.insert("soa".into(), soa_json(soa));
        }
        RData::Srv(srv) => {
            obj.insert("srv".into(), srv_json(srv));
        }
        data => {
            if let Some(text) = rdata_text(data) {
                obj.insert("rdata".into(), json!(text));
            }
        }
    }
    Value::Object(obj)
}

fn grouped_value(data: &RData) -> Option<Value> {
    match data {
        RData::Soa(soa) => Some(soa_json(soa)),
        RData::Srv(srv) => Some(srv_json(srv)),
        data => rdata_text(data).map(Value::String),
    }
}

fn soa_json(soa: &Soa) -> Value {
    json!({
        "mname": name_text(&soa.mname),
        "rname": name_text(&soa.rname),
        "serial": soa.serial,
        "refresh": soa.refresh,
        "retry": soa.retry,
        "expire": soa.expire,
        "minimum": soa.minimum,
    })
}

fn srv_json(srv: &Srv) -> Value {
    json!({
        "priority": srv.priority,
        "weight": srv.weight,
        "port": srv.port,
        "name": name_text(&srv.target),
    })
}

/// `rdata` as Suricata prints it; `None` for types it does not print.
fn rdata_text(data: &RData) -> Option<String> {
    match data {
        RData::A(a) => Some(format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])),
        RData::Aaaa(a) => Some(
            a.chunks(2)
                .map(|p| format!("{:02x}{:02x}", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(":"),
        ),
        RData::Name(name) | RData::Mx { exchange: name, .. } => Some(name_text(name)),
        // Suricata 7 prints the first character-string.
        RData::Txt(strings) => Some(printable(strings.first().map_or(&[][..], |s| s))),
        RData::Soa(_) | RData::Srv(_) | RData::Other(_) => None,
    }
}

/// A name for logs: `<root>` for the root, bytes that are not UTF-8 escaped.
pub fn name_text(name: &[u8]) -> String {
    if name.is_empty() {
        "<root>".to_owned()
    } else {
        printable(name)
    }
}

/// The mnemonic of a record type, or its number.
pub fn rrtype_name(rrtype: u16) -> String {
    let name = match rrtype {
        1 => "A",
        2 => "NS",
        3 => "MD",
        4 => "MF",
        5 => "CNAME",
        6 => "SOA",
        7 => "MB",
        8 => "MG",
        9 => "MR",
        10 => "NULL",
        11 => "WKS",
        12 => "PTR",
        13 => "HINFO",
        14 => "MINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        19 => "X25",
        20 => "ISDN",
        21 => "RT",
        22 => "NSAP",
        23 => "NSAPPTR",
        24 => "SIG",
        25 => "KEY",
        26 => "PX",
        27 => "GPOS",
        28 => "AAAA",
        29 => "LOC",
        30 => "NXT",
        33 => "SRV",
        34 => "ATMA",
        35 => "NAPTR",
        36 => "KX",
        37 => "CERT",
        38 => "A6",
        39 => "DNAME",
        41 => "OPT",
        42 => "APL",
        43 => "DS",
        44 => "SSHFP",
        45 => "IPSECKEY",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        49 => "DHCID",
        50 => "NSEC3",
        51 => "NSEC3PARAM",
        52 => "TLSA",
        55 => "HIP",
        59 => "CDS",
        60 => "CDNSKEY",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        249 => "TKEY",
        250 => "TSIG",
        253 => "MAILB",
        254 => "MAILA",
        255 => "ANY",
        256 => "URI",
        _ => return rrtype.to_string(),
    };
    name.to_owned()
}

/// The mnemonic of a response code, or its number.
pub fn rcode_name(rcode: u8) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return rcode.to_string(),
    };
    name.to_owned()
}

/// A bounds-checked reader over one message.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DnsError> {
        let end = self.pos.checked_add(n);
        let out = end
            .and_then(|end| self.msg.get(self.pos..end))
            .ok_or(DnsError::Truncated(what, self.pos))?;
        self.pos += n;
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DnsError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DnsError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn name(&mut self) -> Result<Vec<u8>, DnsError> {
        let mut out = Vec::new();
        self.pos = read_name(self.msg, self.pos, &mut out)?;
        Ok(out)
    }
}

/// Decompresses the name at `start` into `out`; returns the position after it.
fn read_name(msg: &[u8], start: usize, out: &mut Vec<u8>) -> Result<usize, DnsError> {
    let mut pos = start;
    // Where the current run of labels began: pointers must point before it.
    let mut run_start = start;
    let mut end = None;
    let mut pointers = 0;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Truncated("name", pos))?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    return Ok(end.unwrap_or(pos + 1));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(DnsError::Truncated("label", pos))?;
                if out.len() + label.len() + 1 > MAX_NAME {
                    return Err(DnsError::NameTooLong(pos));
                }
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(label);
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let low = *msg
                    .get(pos + 1)
                    .ok_or(DnsError::Truncated("pointer", pos))?;
                let target = usize::from(u16::from_be_bytes([len & 0x3f, low]));
                pointers += 1;
                if target >= run_start || pointers > MAX_POINTERS {
                    return Err(DnsError::PointerLoop(pos));
                }
                end.get_or_insert(pos + 2);
                run_start = target;
                pos = target;
            }
            _ => return Err(DnsError::BadLabel(pos)),
        }
    }
}

fn read_record(r: &mut Reader<'_>) -> Result<DnsRecord, DnsError> {
    let name = r.name()?;
    let rrtype = r.u16("record type")?;
    let rrclass = r.u16("record class")?;
    let ttl = r.u32("ttl")?;
    let rdlen = usize::from(r.u16("rdata length")?);
    let rdata_start = r.pos;
    let raw = r.bytes(rdlen, "rdata")?;
    // Names inside rdata may point anywhere earlier in the message.
    let mut inner = Reader {
        msg: &r.msg[..rdata_start + rdlen],
        pos: rdata_start,
    };
    let data = decode_rdata(rrtype, raw, &mut inner).unwrap_or_else(|_| RData::Other(raw.to_vec()));
    Ok(DnsRecord {
        name,
        rrtype,
        rrclass,
        ttl,
        data,
    })
}

fn decode_rdata(rrtype: u16, raw: &[u8], r: &mut Reader<'_>) -> Result<RData, DnsError> {
    Ok(match rrtype {
        1 if raw.len() == 4 => RData::A([raw[0], raw[1], raw[2], raw[3]]),
        28 if raw.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(raw);
            RData::Aaaa(a)
        }
        2 | 5 | 12 => RData::Name(r.name()?),
        15 => RData::Mx {
            preference: r.u16("mx preference")?,
            exchange: r.name()?,
        },
        16 => {
            let mut strings = Vec::new();
            let mut rest = raw;
            while let Some((&len, tail)) = rest.split_first() {
                let s = tail
                    .get(..usize::from(len))
                    .ok_or(DnsError::Truncated("txt", r.pos))?;
                strings.push(s.to_vec());
                rest = &tail[usize::from(len)..];
            }
            RData::Txt(strings)
        }
        6 => RData::Soa(Soa {
            mname: r.name()?,
            rname: r.name()?,
            serial: r.u32("soa serial")?,
            refresh: r.u32("soa refresh")?,
            retry: r.u32("soa retry")?,
            expire: r.u32("soa expire")?,
            minimum: r.u32("soa minimum")?,
        }),
        33 => RData::Srv(Srv {
            priority: r.u16("srv priority")?,
            weight: r.u16("srv weight")?,
            port: r.u16("srv port")?,
            target: r.name()?,
        }),
        _ => RData::Other(raw.to_vec()),
    })
}

/// Parses one DNS message (without the TCP length prefix).
pub fn parse_message(msg: &[u8], tx_id: u64) -> Result<DnsMessage, DnsError> {
    let mut r = Reader { msg, pos: 0 };
    let id = r.u16("header")?;
    let flags = r.u16("header")?;
    let qdcount = r.u16("header")?;
    let ancount = r.u16("header")?;
    let nscount = r.u16("header")?;
    let additional_count = r.u16("header")?;
    let mut queries = Vec::new();
    for _ in 0..qdcount {
        let name = r.name()?;
        let rrtype = r.u16("question type")?;
        let rrclass = r.u16("question class")?;
        if queries.len() < MAX_RECORDS {
            queries.push(DnsQuery {
                name,
                rrtype,
                rrclass,
            });
        }
    }
    let mut answers = Vec::new();
    let mut authorities = Vec::new();
    let mut records_truncated = false;
    for i in 0..u32::from(ancount) + u32::from(nscount) {
        let record = read_record(&mut r)?;
        if answers.len() + authorities.len() >= MAX_RECORDS {
            records_truncated = true;
        } else if i < u32::from(ancount) {
            answers.push(record);
        } else {
            authorities.push(record);
        }
    }
    Ok(DnsMessage {
        tx_id,
        id,
        flags,
        queries,
        answers,
        authorities,
        additional_count,
        records_truncated,
    })
}

/// DNS over TCP: messages behind a two-byte length, per direction.
pub(crate) struct DnsTcpParser {
    /// `[to_client, to_server]` bytes of an unfinished message (at most 2 + 65535).
    buf: [Vec<u8>; 2],
    tx: u64,
}

impl DnsTcpParser {
    pub(crate) fn new() -> Self {
        Self {
            buf: [Vec::new(), Vec::new()],
            tx: 0,
        }
    }
}

impl StreamParser for DnsTcpParser {
    fn feed(
        &mut self,
        to_server: bool,
        data: &[u8],
        _ts: Timestamp,
        out: &mut Vec<AppEvent>,
    ) -> Result<Next, Fault> {
        let buf = &mut self.buf[usize::from(to_server)];
        buf.extend_from_slice(data);
        let mut pos = 0;
        while let Some(len) = buf.get(pos..pos + 2) {
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let Some(msg) = buf.get(pos + 2..pos + 2 + len) else {
                break;
            };
            let message =
                parse_message(msg, self.tx).map_err(|_| Fault::Malformed("bad DNS message"))?;
            self.tx += 1;
            out.push(AppEvent::Dns(Box::new(message)));
            pos += 2 + len;
        }
        buf.drain(..pos);
        Ok(Next::Continue)
    }

    fn gap(&mut self, _: bool, len: u64, _: &mut Vec<AppEvent>) -> Result<(), Fault> {
        Err(Fault::Gap(len))
    }

    fn finish(&mut self, _: &mut Vec<AppEvent>) {}
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn encode_name(out: &mut Vec<u8>, name: &str) {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
    }

    /// A query for `name` of type `rrtype` with RD set.
    pub(crate) fn query_bytes(id: u16, name: &str, rrtype: u16) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&id.to_be_bytes());
        m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        encode_name(&mut m, name);
        m.extend_from_slice(&rrtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    /// A response to `www.example.com A`: a CNAME (compressed) then two A records.
    pub(crate) fn response_bytes() -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&[0xab, 0xcd, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0]);
        encode_name(&mut m, "www.example.com"); // at offset 12
        m.extend_from_slice(&[0, 1, 0, 1]);
        // www.example.com CNAME cdn.example.com (cdn + pointer to "example.com" at 16)
        m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0x0e, 0x10, 0, 6]);
        let cname_at = m.len();
        m.extend_from_slice(&[3, b'c', b'd', b'n', 0xc0, 16]);
        for last in [1u8, 2] {
            m.extend_from_slice(&[0xc0, cname_at as u8, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            m.extend_from_slice(&[93, 184, 216, last]);
        }
        m
    }

    #[test]
    fn query_is_logged_per_question() {
        let msg = parse_message(&query_bytes(0x1234, "example.com", 1), 7).unwrap();
        assert!(!msg.is_response());
        assert_eq!(msg.buffers().query, vec![&b"example.com"[..]]);
        assert_eq!(
            msg.to_eve(),
            vec![
                json!({"type": "query", "id": 0x1234, "rrname": "example.com",
                        "rrtype": "A", "tx_id": 7, "opcode": 0})
            ]
        );
    }

    #[test]
    fn response_with_compression_is_logged_as_version_2() {
        let msg = parse_message(&response_bytes(), 0).unwrap();
        assert!(msg.is_response());
        assert_eq!(msg.answers.len(), 3);
        assert_eq!(
            msg.answers[0].data,
            RData::Name(b"cdn.example.com".to_vec())
        );
        assert_eq!(msg.answers[1].name, b"cdn.example.com");
        let eve = &msg.to_eve()[0];
        assert_eq!(eve["version"], 2);
        assert_eq!(eve["type"], "answer");
        assert_eq!(eve["id"], 0xabcd);
        assert_eq!(eve["flags"], "8180");
        assert_eq!(eve["qr"], true);
        assert_eq!(eve["rd"], true);
        assert_eq!(eve["ra"], true);
        assert!(eve.get("aa").is_none());
        assert_eq!(eve["rrname"], "www.example.com");
        assert_eq!(eve["rrtype"], "A");
        assert_eq!(eve["rcode"], "NOERROR");
        assert_eq!(
            eve["answers"][0],
            json!({"rrname": "www.example.com", "rrtype": "CNAME", "ttl": 3600,
                   "rdata": "cdn.example.com"})
        );
        assert_eq!(eve["answers"][2]["rdata"], "93.184.216.2");
        assert_eq!(
            eve["grouped"],
            json!({"A": ["93.184.216.1", "93.184.216.2"], "CNAME": ["cdn.example.com"]})
        );
    }

    fn one_answer(rrtype: u16, rdata: &[u8]) -> DnsMessage {
        let mut m = vec![0, 1, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        encode_name(&mut m, "example.com");
        m.extend_from_slice(&rrtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0xc0, 12]);
        m.extend_from_slice(&rrtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 1, 0]);
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
        parse_message(&m, 0).unwrap()
    }

    #[test]
    fn record_types_decode() {
        let mut aaaa = [0u8; 16];
        aaaa[0] = 0x20;
        aaaa[1] = 0x01;
        aaaa[15] = 1;
        let msg = one_answer(28, &aaaa);
        assert_eq!(
            msg.to_eve()[0]["answers"][0]["rdata"],
            "2001:0000:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(msg.to_eve()[0]["aa"], true);

        let mx = one_answer(15, &[0, 10, 2, b'm', b'x', 0xc0, 12]);
        assert_eq!(
            mx.answers[0].data,
            RData::Mx {
                preference: 10,
                exchange: b"mx.example.com".to_vec()
            }
        );
        assert_eq!(mx.to_eve()[0]["grouped"]["MX"][0], "mx.example.com");

        let txt = one_answer(16, b"\x05v=spf\x03abc");
        assert_eq!(
            txt.answers[0].data,
            RData::Txt(vec![b"v=spf".to_vec(), b"abc".to_vec()])
        );
        assert_eq!(txt.to_eve()[0]["answers"][0]["rdata"], "v=spf");

        let mut soa = vec![2, b'n', b's', 0xc0, 12, 0xc0, 12];
        for v in [2024u32, 7200, 3600, 1209600, 300] {
            soa.extend_from_slice(&v.to_be_bytes());
        }
        let soa = one_answer(6, &soa);
        assert_eq!(
            soa.to_eve()[0]["answers"][0]["soa"],
            json!({"mname": "ns.example.com", "rname": "example.com", "serial": 2024,
                   "refresh": 7200, "retry": 3600, "expire": 1209600, "minimum": 300})
        );

        let srv = one_answer(33, &[0, 1, 0, 2, 0x14, 0x66, 0xc0, 12]);
        assert_eq!(
            srv.to_eve()[0]["grouped"]["SRV"][0],
            json!({"priority": 1, "weight": 2, "port": 5222, "name": "example.com"})
        );

        let ptr = one_answer(12, &[0xc0, 12]);
        assert_eq!(ptr.answers[0].data, RData::Name(b"example.com".to_vec()));

        let other = one_answer(99, b"v=spf1");
        assert_eq!(other.answers[0].data, RData::Other(b"v=spf1".to_vec()));
        assert!(other.to_eve()[0]["answers"][0].get("rdata").is_none());

        // A record with the wrong length is kept raw, not misread.
        let bad_a = one_answer(1, &[1, 2, 3]);
        assert_eq!(bad_a.answers[0].data, RData::Other(vec![1, 2, 3]));
    }

    #[test]
    fn compression_loops_and_forward_pointers_are_rejected() {
        // The question name is a pointer to itself.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1];
        assert_eq!(parse_message(&m, 0), Err(DnsError::PointerLoop(12)));
        // Two labels pointing at each other.
        m = vec![
            0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12,
        ];
        assert!(matches!(
            parse_message(&m, 0),
            Err(DnsError::PointerLoop(_))
        ));
        // Reserved label type.
        m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 1, 0, 1];
        assert_eq!(parse_message(&m, 0), Err(DnsError::BadLabel(12)));
    }

    #[test]
    fn overlong_names_and_truncation_are_errors() {
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for _ in 0..20 {
            m.push(63);
            m.extend_from_slice(&[b'a'; 63]);
        }
        m.push(0);
        assert!(matches!(
            parse_message(&m, 0),
            Err(DnsError::NameTooLong(_))
        ));
        let q = query_bytes(1, "example.com", 1);
        for cut in 0..q.len() {
            assert!(parse_message(&q[..cut], 0).is_err(), "cut at {cut}");
        }
        // Counts that promise more than the message holds.
        let mut q = q;
        q[5] = 200;
        assert!(parse_message(&q, 0).is_err());
    }

    #[test]
    fn root_name_and_unknown_codes() {
        let msg = parse_message(
            &[0, 1, 0x80, 0x0b, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1],
            0,
        )
        .unwrap();
        let eve = &msg.to_eve()[0];
        assert_eq!(eve["rrname"], "<root>");
        assert_eq!(eve["rrtype"], "NS");
        assert_eq!(eve["rcode"], "11");
        assert_eq!(rrtype_name(4242), "4242");
    }

    #[test]
    fn tcp_messages_split_at_every_byte_give_the_same_result() {
        let mut stream = Vec::new();
        for msg in [
            query_bytes(1, "a.example", 1),
            query_bytes(2, "b.example", 28),
        ] {
            stream.extend_from_slice(&(msg.len() as u16).to_be_bytes());
            stream.extend_from_slice(&msg);
        }
        for split in 0..=stream.len() {
            let mut parser = DnsTcpParser::new();
            let mut out = Vec::new();
            let ts = std::time::UNIX_EPOCH;
            parser.feed(true, &stream[..split], ts, &mut out).unwrap();
            parser.feed(true, &stream[split..], ts, &mut out).unwrap();
            let names: Vec<Vec<u8>> = out
                .iter()
                .filter_map(|e| match e {
                    AppEvent::Dns(m) => Some(m.queries[0].name.clone()),
                    _ => None,
                })
                .collect();
            assert_eq!(
                names,
                vec![b"a.example".to_vec(), b"b.example".to_vec()],
                "split {split}"
            );
        }
    }

    #[test]
    fn tcp_gap_stops() {
        let mut parser = DnsTcpParser::new();
        assert_eq!(parser.gap(true, 10, &mut Vec::new()), Err(Fault::Gap(10)));
    }
}
