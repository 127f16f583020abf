//! EVE JSON output, with Suricata's field names, so that tools reading Suricata's `eve.json`
//! (Elastic, Wazuh, jq scripts, Mamori's own console ingest) read ours unchanged.
//!
//! One [`Record`] per line: the fields every record shares (`timestamp flow_id event_type
//! src_ip src_port dest_ip dest_port proto app_proto`) and one object for the event type
//! (`alert`, `http`, `dns`, `tls`, `smtp`, `ssh`, `flow`, `anomaly`, `stats`). App-layer
//! objects arrive as JSON values built by their parsers; the writer only frames them.

use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;

/// A packet or flow time, microseconds since the Unix epoch, written as Suricata does:
/// `2024-01-02T03:04:05.123456+0000` (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn format(self) -> String {
        let secs = (self.0 / 1_000_000) as i64;
        let micros = self.0 % 1_000_000;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.format())
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Suricata's name for an IP protocol number.
pub fn proto_name(proto: u8) -> &'static str {
    match proto {
        1 => "ICMP",
        6 => "TCP",
        17 => "UDP",
        58 => "IPv6-ICMP",
        47 => "GRE",
        132 => "SCTP",
        _ => "IP",
    }
}

/// The `alert` object.
#[derive(Debug, Clone, Serialize)]
pub struct AlertObject {
    /// `allowed`, or `blocked` when inline mode dropped the packet.
    pub action: &'static str,
    pub gid: u32,
    pub signature_id: u32,
    pub rev: u32,
    pub signature: String,
    pub category: String,
    pub severity: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// The `flow` object of flow records (and of alerts, as Suricata adds it).
#[derive(Debug, Clone, Serialize)]
pub struct FlowObject {
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    pub start: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerted: Option<bool>,
}

/// One EVE line.
#[derive(Debug, Clone, Serialize)]
pub struct Record<'a> {
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_iface: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcap_cnt: Option<u64>,
    pub event_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_ip: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_proto: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<&'a AlertObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<&'a FlowObject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<&'a serde_json::Value>,
    /// Mamori's behavioural findings (`ids.beacon`, `ids.port_scan` …) as alert records
    /// carry their evidence here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mamori: Option<&'a serde_json::Value>,
    /// Base64 of the packet (or stream) payload that matched, for alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_printable: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// A record of `event_type` with nothing but its time set.
    pub fn new(event_type: &'static str, timestamp: Timestamp) -> Record<'a> {
        Record {
            timestamp,
            flow_id: None,
            in_iface: None,
            pcap_cnt: None,
            event_type,
            src_ip: None,
            src_port: None,
            dest_ip: None,
            dest_port: None,
            proto: None,
            app_proto: None,
            direction: None,
            tx_id: None,
            alert: None,
            http: None,
            dns: None,
            tls: None,
            smtp: None,
            ssh: None,
            anomaly: None,
            flow: None,
            stats: None,
            mamori: None,
            payload: None,
            payload_printable: None,
            host: None,
        }
    }
}

/// Suricata's `payload_printable`: printable ASCII kept, everything else as `.`.
pub fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\r' || b == b'\t' {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes records as JSON lines; counts them per event type.
pub struct EveWriter<W: Write> {
    out: W,
    pub written: u64,
    pub alerts: u64,
}

impl<W: Write> EveWriter<W> {
    pub fn new(out: W) -> EveWriter<W> {
        EveWriter {
            out,
            written: 0,
            alerts: 0,
        }
    }

    pub fn write(&mut self, record: &Record) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        if record.event_type == "alert" {
            self.alerts += 1;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_suricata_does() {
        assert_eq!(
            Timestamp(1_700_000_000_000_100).format(),
            "2023-11-14T22:13:20.000100+0000"
        );
        assert_eq!(Timestamp(0).format(), "1970-01-01T00:00:00.000000+0000");
        assert_eq!(
            Timestamp(951_782_400_000_000).format(),
            "2000-02-29T00:00:00.000000+0000"
        );
    }

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"GET / HTTP/1.1"), "R0VUIC8gSFRUUC8xLjE=");
    }

    #[test]
    fn an_alert_record_reads_back_as_a_mamori_alert() {
        let alert = AlertObject {
            action: "allowed",
            gid: 1,
            signature_id: 2_027_758,
            rev: 2,
            signature: "ET MALWARE Emotet CnC Beacon".into(),
            category: "A Network Trojan was detected".into(),
            severity: 1,
            metadata: None,
        };
        let mut r = Record::new("alert", Timestamp(1_700_000_000_000_000));
        r.flow_id = Some(7);
        r.src_ip = "192.168.1.23".parse().ok();
        r.src_port = Some(51_234);
        r.dest_ip = "203.0.113.50".parse().ok();
        r.dest_port = Some(443);
        r.proto = Some(proto_name(6));
        r.alert = Some(&alert);
        r.payload = Some(base64(b"hello"));
        let mut w = EveWriter::new(Vec::new());
        w.write(&r).unwrap();
        let line = String::from_utf8(w.into_inner()).unwrap();
        assert!(line.ends_with('\n'));
        match mamori_core::eve::parse_line(line.trim()).unwrap() {
            mamori_core::eve::Line::Alert(a) => {
                assert_eq!(a.rule_id, "1:2027758");
                assert_eq!(a.severity, mamori_core::Severity::High);
                assert_eq!(a.dst.port, Some(443));
            }
            other => panic!("{other:?}"),
        }
    }
}
