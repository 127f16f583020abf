//! Every text/XML/JSON log format read from generated files: the records users expect come
//! out with the contract's field names, a malformed record is reported with its offset and
//! the rest of the file is still read, formats are recognised from names and content.

use mamori_logs::reader::{
    self, read_file, read_file_with, sniff, Format, JsonMapping, ReadError, ReadOptions,
};
use mamori_logs::{Event, Origin, SourceKind};
use std::path::{Path, PathBuf};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("mamori-readers-{}-{}", std::process::id(), name));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_all(path: &Path, format: Option<Format>) -> (Vec<Event>, Vec<ReadError>, u64) {
    read_with(path, format, &opts())
}

fn read_with(
    path: &Path,
    format: Option<Format>,
    opts: &ReadOptions,
) -> (Vec<Event>, Vec<ReadError>, u64) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let n = read_file_with(path, format, opts, &mut |r| match r {
        Ok(e) => events.push(e),
        Err(e) => errors.push(e),
    })
    .unwrap();
    (events, errors, n)
}

/// UTC and a fixed "now" (2024-06-01) so year-less syslog times are predictable.
fn opts() -> ReadOptions {
    ReadOptions {
        utc_offset: time::UtcOffset::UTC,
        now_ms: Some(1_717_200_000_000),
        ..ReadOptions::default()
    }
}

fn offset_of(text: &str, needle: &str) -> u64 {
    text.find(needle).unwrap() as u64
}

#[test]
fn auth_log_sshd_sudo_pam_become_auth_events_and_a_bad_line_is_reported() {
    let dir = TempDir::new("auth");
    let text = "\
May  3 10:00:01 bastion sshd[812]: Failed password for invalid user admin from 203.0.113.9 port 52311 ssh2
May  3 10:00:02 bastion sshd[812]: Failed password for root from 203.0.113.9 port 52312 ssh2
this line is not syslog at all
May  3 10:00:03 bastion sshd[813]: Accepted publickey for deploy from 10.0.0.7 port 40000 ssh2: ED25519 SHA256:abc
May  3 10:00:04 bastion sshd[814]: Invalid user oracle from 198.51.100.3 port 1022
May  3 10:00:05 bastion sshd[815]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.3  user=root
May  3 10:00:06 bastion sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx
May  3 10:00:07 bastion sshd[816]: Connection closed by authenticating user root 203.0.113.9 port 52313 [preauth]
May  3 10:00:08 bastion CRON[900]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
";
    let path = dir.write("auth.log", text.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::Syslog));
    let (ev, errs, n) = read_all(&path, None);
    assert_eq!(n, 8);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(text, "this line"));
    assert_eq!(errs[0].file.as_deref(), Some(path.as_path()));

    let failed = &ev[0];
    assert_eq!(failed.source, SourceKind::Auth);
    assert_eq!(failed.host.as_deref(), Some("bastion"));
    assert_eq!(failed.record_id, Some(1));
    assert_eq!(failed.origin.offset, 0);
    assert_eq!(failed.get("action"), Some("failure"));
    assert_eq!(failed.get("user"), Some("admin"));
    assert_eq!(failed.get("src_ip"), Some("203.0.113.9"));
    assert_eq!(failed.get("program"), Some("sshd"));
    assert_eq!(failed.raw, text.lines().next().unwrap());
    // 2024-05-03T10:00:01Z
    assert_eq!(failed.timestamp, Some(1_714_730_401_000));

    let accepted = &ev[2];
    assert_eq!(
        accepted.record_id,
        Some(4),
        "line numbers count the bad line"
    );
    assert_eq!(accepted.origin.offset, offset_of(text, "May  3 10:00:03"));
    assert_eq!(accepted.get("action"), Some("success"));
    assert_eq!(accepted.get("auth_method"), Some("publickey"));
    assert_eq!(accepted.get("user"), Some("deploy"));

    assert_eq!(ev[3].get("action"), Some("invalid_user"));
    assert_eq!(ev[3].get("user"), Some("oracle"));
    assert_eq!(ev[4].get("action"), Some("failure"));
    assert_eq!(ev[4].get("src_ip"), Some("198.51.100.3"));
    assert_eq!(ev[4].get("user"), Some("root"));
    assert_eq!(ev[5].get("user"), Some("alice"));
    assert_eq!(ev[5].get("target_user"), Some("root"));
    assert_eq!(
        ev[5].get("command"),
        Some("/usr/bin/systemctl restart nginx")
    );
    assert_eq!(ev[6].get("action"), Some("disconnect"));
    assert_eq!(ev[6].get("user"), Some("root"));
    assert_eq!(ev[7].get("action"), Some("session_opened"));
}

#[test]
fn mail_log_postfix_and_dovecot_failures_are_mail_auth() {
    let dir = TempDir::new("mail");
    let text = "\
May  3 11:00:00 mx postfix/smtpd[2001]: warning: unknown[192.0.2.44]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=info@example.jp
May  3 11:00:01 mx postfix/smtpd[2001]: warning: unknown[192.0.2.44]: SASL PLAIN authentication failed: authentication failure
May  3 11:00:02 mx dovecot: imap-login: Aborted login (auth failed, 3 attempts in 12 secs): user=<sales@example.jp>, method=PLAIN, rip=192.0.2.45, lip=10.0.0.2, TLS, session=<abc>
May  3 11:00:03 mx dovecot: imap-login: Login: user=<sales@example.jp>, method=PLAIN, rip=10.0.0.50, lip=10.0.0.2, mpid=99, TLS
May  3 11:00:04 mx postfix/smtpd[2002]: connect from unknown[192.0.2.44]
May  3 11:00:05 mx postfix/smtpd[2003]: 4A1B: client=mail.example.com[198.51.100.20], sasl_method=PLAIN, sasl_username=tanaka
";
    let path = dir.write("mail.log", text.as_bytes());
    let (ev, errs, _) = read_all(&path, None);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ev[0].source, SourceKind::MailAuth);
    assert_eq!(ev[0].get("user"), Some("info@example.jp"));
    assert_eq!(ev[0].get("src_ip"), Some("192.0.2.44"));
    assert_eq!(ev[0].get("action"), Some("failure"));
    assert_eq!(ev[1].get("user"), None);
    assert_eq!(ev[1].get("auth_method"), Some("PLAIN"));
    assert_eq!(ev[2].source, SourceKind::MailAuth);
    assert_eq!(ev[2].get("user"), Some("sales@example.jp"));
    assert_eq!(ev[2].get("src_ip"), Some("192.0.2.45"));
    assert_eq!(ev[2].get("attempts"), Some("3"));
    assert_eq!(ev[3].get("action"), Some("success"));
    assert_eq!(
        ev[4].source,
        SourceKind::Syslog,
        "a plain connect is no auth event"
    );
    assert_eq!(ev[5].get("action"), Some("success"));
    assert_eq!(ev[5].get("user"), Some("tanaka"));
    assert_eq!(ev[5].get("src_ip"), Some("198.51.100.20"));
}

#[test]
fn firewall_kernel_lines_take_action_from_the_prefix() {
    let dir = TempDir::new("fw");
    let text = "\
May  3 12:00:00 gw kernel: [ 8123.456789] [UFW BLOCK] IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=198.51.100.7 DST=10.0.0.1 LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID=1 DF PROTO=TCP SPT=4444 DPT=3389 WINDOW=1024 RES=0x00 SYN URGP=0
<4>May  3 12:00:01 gw kernel: nft drop: IN=ppp0 OUT= SRC=203.0.113.80 DST=10.0.0.1 LEN=40 PROTO=UDP SPT=53 DPT=1900 LEN=20
May  3 12:00:02 gw kernel: IN= OUT=eth0 SRC=10.0.0.9 DST=93.184.216.34 LEN=52 PROTO=TCP SPT=50000 DPT=443
May  3 12:00:03 gw kernel: e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex
";
    let path = dir.write("kern.log", text.as_bytes());
    let (ev, errs, _) = read_all(&path, None);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ev[0].source, SourceKind::Firewall);
    assert_eq!(ev[0].get("action"), Some("drop"));
    assert_eq!(ev[0].get("src_ip"), Some("198.51.100.7"));
    assert_eq!(ev[0].get("dst_port"), Some("3389"));
    assert_eq!(ev[0].get("proto"), Some("TCP"));
    assert_eq!(ev[0].get("in_iface"), Some("eth0"));
    assert_eq!(ev[1].get("action"), Some("drop"));
    assert_eq!(ev[1].get("facility"), Some("kern"));
    assert_eq!(ev[1].get("src_port"), Some("53"));
    assert_eq!(ev[2].source, SourceKind::Firewall);
    assert_eq!(ev[2].get("action"), None, "no prefix, no guessed action");
    assert_eq!(ev[2].get("out_iface"), Some("eth0"));
    assert_eq!(ev[3].source, SourceKind::Syslog);
}

#[test]
fn web_access_log_combined_common_and_variants() {
    let dir = TempDir::new("web");
    let text = r#"203.0.113.5 - - [03/May/2024:13:00:00 +0900] "POST /wp-login.php HTTP/1.1" 200 4523 "-" "Mozilla/5.0 (compatible; scanner)"
203.0.113.5 - - [03/May/2024:13:00:01 +0900] "GET /search?q=%27+or+1%3D1-- HTTP/1.1" 404 153
garbage without brackets
10.0.0.8 - alice [03/May/2024:13:00:02 +0900] "GET /admin/ HTTP/2.0" 301 0 "https://shop.example.jp/" "curl/8.5.0" 0.012
shop.example.jp:443 10.0.0.9 - - [03/May/2024:13:00:03 +0900] "GET / HTTP/1.1" 200 - "-" "Mozilla/5.0"
"#;
    let path = dir.write("access.log", text.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::WebAccess));
    let (ev, errs, n) = read_all(&path, None);
    assert_eq!(n, 4);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(text, "garbage"));
    assert!(errs[0].reason.contains("line 3"), "{}", errs[0].reason);
    assert_eq!(ev[0].source, SourceKind::WebAccess);
    assert_eq!(ev[0].timestamp, Some(1_714_708_800_000));
    assert_eq!(ev[0].get("method"), Some("POST"));
    assert_eq!(ev[0].get("path"), Some("/wp-login.php"));
    assert_eq!(ev[0].get("status"), Some("200"));
    assert_eq!(
        ev[0].get("user_agent"),
        Some("Mozilla/5.0 (compatible; scanner)")
    );
    assert_eq!(ev[0].get("referer"), None);
    assert_eq!(ev[1].get("query"), Some("q=%27+or+1%3D1--"));
    assert_eq!(ev[1].get("uri"), Some("/search?q=%27+or+1%3D1--"));
    assert_eq!(ev[1].get("user_agent"), None, "common format has no agent");
    assert_eq!(ev[2].get("user"), Some("alice"));
    assert_eq!(ev[2].get("duration_ms"), Some("12"));
    assert_eq!(ev[2].get("referer"), Some("https://shop.example.jp/"));
    assert_eq!(ev[3].get("host"), Some("shop.example.jp"));
    assert_eq!(ev[3].get("src_ip"), Some("10.0.0.9"));
    assert_eq!(ev[3].record_id, Some(5));
}

#[test]
fn squid_access_log_is_told_apart_from_web_logs_by_content() {
    let dir = TempDir::new("squid");
    let text = "\
1714708800.123    150 10.0.0.21 TCP_MISS/200 10240 GET http://update.example.com/x.bin - HIER_DIRECT/93.184.216.34 application/octet-stream
1714708801.000     40 10.0.0.21 TCP_TUNNEL/200 5120 CONNECT c2.example.net:443 bob HIER_DIRECT/203.0.113.66 -
1714708802.5 not a squid line
1714708803.000      0 10.0.0.22 TCP_DENIED/403 3800 GET http://blocked.example.org/ - HIER_NONE/- text/html
";
    let path = dir.write("access.log", text.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::Squid));
    let (ev, errs, _) = read_all(&path, None);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(text, "1714708802.5"));
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].source, SourceKind::Squid);
    assert_eq!(ev[0].timestamp, Some(1_714_708_800_123));
    assert_eq!(ev[0].get("dst_host"), Some("update.example.com"));
    assert_eq!(ev[0].get("dst_ip"), Some("93.184.216.34"));
    assert_eq!(ev[0].get("bytes"), Some("10240"));
    assert_eq!(ev[1].get("method"), Some("CONNECT"));
    assert_eq!(ev[1].get("dst_host"), Some("c2.example.net"));
    assert_eq!(ev[1].get("dst_port"), Some("443"));
    assert_eq!(ev[1].get("user"), Some("bob"));
    assert_eq!(ev[2].get("cache"), Some("TCP_DENIED"));
    assert_eq!(ev[2].get("status"), Some("403"));
}

fn win_record(record_id: u32, user: &str) -> String {
    format!(
        r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
  <System>
    <Provider Name="Microsoft-Windows-Security-Auditing" Guid="{{54849625-5478-4994-a5ba-3e3b0328c30d}}"/>
    <EventID>4625</EventID>
    <TimeCreated SystemTime="2024-05-03T04:00:00.1234567Z"/>
    <EventRecordID>{record_id}</EventRecordID>
    <Execution ProcessID="636" ThreadID="4200"/>
    <Channel>Security</Channel>
    <Computer>DC01.corp.example</Computer>
    <Security/>
  </System>
  <EventData>
    <Data Name="TargetUserName">{user}</Data>
    <Data Name="IpAddress">198.51.100.23</Data>
    <Data Name="LogonType">3</Data>
  </EventData>
</Event>"#
    )
}

#[test]
fn windows_xml_export_document_reads_each_record_and_reports_a_broken_one() {
    let dir = TempDir::new("winxml");
    let broken = "<Event><System><EventID>1</EventID></Sys></Event>";
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Events>\n{}\n{}\n{}\n</Events>\n",
        win_record(100, "alice"),
        broken,
        win_record(101, "b&amp;b"),
    );
    let path = dir.write("security-export.xml", doc.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::WindowsXml));
    let (ev, errs, n) = read_all(&path, None);
    assert_eq!(n, 2);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(&doc, broken));
    assert_eq!(ev[0].source, SourceKind::WindowsXml);
    assert_eq!(ev[0].event_id, Some(4625));
    assert_eq!(ev[0].record_id, Some(100));
    assert_eq!(ev[0].channel.as_deref(), Some("Security"));
    assert_eq!(ev[0].host.as_deref(), Some("DC01.corp.example"));
    assert_eq!(ev[0].timestamp, Some(1_714_708_800_123));
    assert_eq!(ev[0].get("TargetUserName"), Some("alice"));
    assert_eq!(
        ev[0].get("Provider_Name"),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(ev[0].get("ThreadID"), Some("4200"));
    assert!(ev[0].raw.starts_with("<Event xmlns="));
    assert_eq!(ev[0].origin.offset, offset_of(&doc, "<Event xmlns"));
    assert_eq!(ev[1].get("TargetUserName"), Some("b&b"));
}

#[test]
fn windows_xml_one_record_per_line_parses_line_by_line() {
    let line = win_record(7, "carol").replace('\n', "");
    let parsed = reader::parse_line(Format::WindowsXml, &line, Origin::default());
    let ev = parsed.unwrap().unwrap();
    assert_eq!(ev.get("TargetUserName"), Some("carol"));
    assert!(reader::parse_line(Format::WindowsXml, "<Events>", Origin::default()).is_none());
    let wrapped = format!("<Events>{line}");
    let ev = reader::parse_line(Format::WindowsXml, &wrapped, Origin::default());
    assert_eq!(ev.unwrap().unwrap().record_id, Some(7));
}

#[test]
fn windows_json_from_winlogbeat_and_nxlog_share_evtx_names() {
    let dir = TempDir::new("winjson");
    let text = r#"{"@timestamp":"2024-05-03T04:00:00.000Z","winlog":{"channel":"Security","event_id":4624,"computer_name":"WS7.corp.example","record_id":555,"provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"alice","LogonType":"10","IpAddress":"203.0.113.200"},"process":{"pid":636,"thread":{"id":1}}}}
{"EventTime":"2024-05-03 13:00:00","Hostname":"DC01","EventID":4740,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","RecordNumber":9001,"TargetUserName":"bob","TargetDomainName":"CORP","EventReceivedTime":"2024-05-03 13:00:01"}
{"broken json
{"some":"json but not windows"}
"#;
    let path = dir.write("winlogbeat.json", text.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::WindowsJson));
    let o = ReadOptions {
        utc_offset: time::UtcOffset::from_hms(9, 0, 0).unwrap(),
        ..opts()
    };
    let (ev, errs, _) = read_with(&path, None, &o);
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].offset, offset_of(text, "{\"broken"));
    assert_eq!(ev[0].source, SourceKind::WindowsJson);
    assert_eq!(ev[0].event_id, Some(4624));
    assert_eq!(ev[0].record_id, Some(555));
    assert_eq!(ev[0].get("Computer"), Some("WS7.corp.example"));
    assert_eq!(ev[0].get("LogonType"), Some("10"));
    assert_eq!(ev[0].get("ProcessID"), Some("636"));
    assert_eq!(ev[1].event_id, Some(4740));
    assert_eq!(ev[1].record_id, Some(9001));
    assert_eq!(ev[1].host.as_deref(), Some("DC01"));
    assert_eq!(
        ev[1].get("Provider_Name"),
        Some("Microsoft-Windows-Security-Auditing")
    );
    assert_eq!(ev[1].get("TargetDomainName"), Some("CORP"));
    assert_eq!(
        ev[1].timestamp,
        Some(1_714_708_800_000),
        "NXLog local time at +09:00"
    );
}

#[test]
fn json_lines_use_the_configured_mapping() {
    let dir = TempDir::new("jsonl");
    let text = r#"{"ts":"2024-05-03T04:00:00Z","device":{"name":"vpn-gw"},"client":{"ip":"203.0.113.4"},"login":"suzuki","result":"failed","attempt":2}
not json
{"ts":1714708801,"device":{"name":"vpn-gw"},"client":{"ip":"203.0.113.4"},"login":"suzuki","result":"ok"}
"#;
    let path = dir.write("vpn.jsonl", text.as_bytes());
    assert_eq!(sniff(&path).unwrap(), Some(Format::JsonLines));
    let mut mapping = JsonMapping {
        timestamp: Some("ts".into()),
        host: Some("device.name".into()),
        ..JsonMapping::default()
    };
    mapping.fields.insert("src_ip".into(), "client.ip".into());
    mapping.fields.insert("user".into(), "login".into());
    mapping.fields.insert("action".into(), "result".into());
    let o = ReadOptions {
        json_mapping: mapping,
        ..opts()
    };
    let (ev, errs, _) = read_with(&path, Some(Format::JsonLines), &o);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(text, "not json"));
    assert_eq!(ev[0].source, SourceKind::JsonLines);
    assert_eq!(ev[0].timestamp, Some(1_714_708_800_000));
    assert_eq!(ev[0].host.as_deref(), Some("vpn-gw"));
    assert_eq!(ev[0].get("src_ip"), Some("203.0.113.4"));
    assert_eq!(ev[0].get("user"), Some("suzuki"));
    assert_eq!(
        ev[0].get("attempt"),
        Some("2"),
        "unmapped scalars keep their names"
    );
    assert_eq!(ev[0].get("login"), None, "mapped keys are not repeated");
    assert_eq!(ev[1].timestamp, Some(1_714_708_801_000));
    assert_eq!(ev[1].record_id, Some(3));
}

#[test]
fn syslog_rfc5424_and_rsyslog_iso_lines_in_one_file() {
    let dir = TempDir::new("5424");
    let text = r#"<38>1 2024-05-03T04:00:00.5Z nas01 sshd 4321 - [origin ip="10.0.0.3"] Failed password for admin from 203.0.113.8 port 60000 ssh2
2024-05-03T13:00:01.000000+09:00 web1 sudo: bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/sh
"#;
    let path = dir.write("syslog", text.as_bytes());
    let (ev, errs, _) = read_all(&path, None);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ev[0].timestamp, Some(1_714_708_800_500));
    assert_eq!(ev[0].host.as_deref(), Some("nas01"));
    assert_eq!(ev[0].get("origin.ip"), Some("10.0.0.3"));
    assert_eq!(ev[0].source, SourceKind::Auth);
    assert_eq!(ev[0].get("user"), Some("admin"));
    assert_eq!(ev[1].timestamp, Some(1_714_708_801_000));
    assert_eq!(ev[1].get("action"), Some("failure"));
    assert_eq!(ev[1].get("reason"), Some("user NOT in sudoers"));
}

#[test]
fn year_less_times_from_december_read_in_january_are_last_year() {
    let dir = TempDir::new("year");
    let path = dir.write(
        "auth.log",
        b"Dec 31 23:59:00 h sshd[1]: Invalid user x from 192.0.2.1 port 1\n",
    );
    let o = ReadOptions {
        now_ms: Some(1_704_153_600_000), // 2024-01-02
        ..opts()
    };
    let (ev, _, _) = read_with(&path, None, &o);
    assert_eq!(ev[0].timestamp, Some(1_704_067_140_000)); // 2023-12-31T23:59:00Z
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

#[test]
fn gzip_rotated_logs_are_read_like_plain_ones() {
    let dir = TempDir::new("gz");
    let mut text = String::new();
    for i in 0..2000 {
        text.push_str(&format!(
            "May  3 10:{:02}:{:02} h sshd[1]: Failed password for root from 192.0.2.{} port {} ssh2\n",
            (i / 60) % 60,
            i % 60,
            i % 250,
            1000 + i
        ));
    }
    text.push_str("broken\n");
    let path = dir.write("auth.log.2.gz", &gzip(text.as_bytes()));
    assert_eq!(sniff(&path).unwrap(), Some(Format::Syslog));
    let (ev, errs, n) = read_all(&path, None);
    assert_eq!(n, 2000);
    assert_eq!(ev[1999].get("src_port"), Some("2999"));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, offset_of(&text, "broken"));

    // A corrupt archive ends the read with an error naming the file, after what was readable.
    let mut bad = gzip(text.as_bytes());
    let n = bad.len();
    bad[n - 6] ^= 0x55;
    let path = dir.write("auth.log.3.gz", &bad);
    let mut got = 0;
    let r = read_file(&path, Some(Format::Syslog), &mut |r| {
        if r.is_ok() {
            got += 1
        }
    });
    assert!(r.is_err());
    assert_eq!(got, 2000);
}

#[test]
fn an_overlong_line_is_an_error_not_an_allocation() {
    let dir = TempDir::new("long");
    let mut text = String::from("May  3 10:00:00 h app: start\n");
    let long_at = text.len() as u64;
    text.push_str(&"x".repeat(200_000));
    text.push('\n');
    text.push_str("May  3 10:00:01 h app: after\n");
    let path = dir.write("messages", text.as_bytes());
    let (ev, errs, _) = read_all(&path, None);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1].get("message"), Some("after"));
    assert_eq!(ev[1].record_id, Some(3));
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, long_at);
}

#[test]
fn formats_are_sniffed_from_names_and_content() {
    let dir = TempDir::new("sniff");
    let cases: [(&str, &[u8], Option<Format>); 7] = [
        ("Security.evtx", b"ElfFile\0rest", Some(Format::Evtx)),
        (
            "events.xml",
            b"<Events><Event xmlns='x'>",
            Some(Format::WindowsXml),
        ),
        ("secure", b"", Some(Format::Syslog)),
        (
            "unknown.txt",
            b"<13>May  3 10:00:00 h app: hi\n",
            Some(Format::Syslog),
        ),
        (
            "unknown.txt",
            b"192.0.2.1 - - [03/May/2024:13:00:00 +0900] \"GET / HTTP/1.1\" 200 1\n",
            Some(Format::WebAccess),
        ),
        (
            "journal.json",
            b"{\"__REALTIME_TIMESTAMP\":\"1\",\"MESSAGE\":\"x\"}\n",
            Some(Format::Syslog),
        ),
        ("notes.txt", b"hello there\n", None),
    ];
    for (name, data, want) in cases {
        let path = dir.write(name, data);
        assert_eq!(sniff(&path).unwrap(), want, "{name}");
    }
    let path = dir.join_missing();
    assert!(read_file(&path, None, &mut |_| {}).is_err());
}

impl TempDir {
    fn join_missing(&self) -> PathBuf {
        self.0.join("does-not-exist.log")
    }
}

#[test]
fn format_flag_values_parse() {
    for f in Format::ALL {
        assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
    }
    assert_eq!("winlogbeat".parse::<Format>().unwrap(), Format::WindowsJson);
    assert!("evtx2".parse::<Format>().is_err());
    assert_eq!(
        serde_json::to_string(&Format::WebAccess).unwrap(),
        "\"web-access\""
    );
}
