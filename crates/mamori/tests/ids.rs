//! `mamori ids` as a user runs it: `read` on a pcap (summary, EVE file, alerts stored in the
//! console with `--tenant`), `rules check` (coverage, skipped rules named by file and
//! line), and — when Suricata is installed — the same pcap and rules through both, with the
//! same (sid, src, dst, sport, dport) alert set.

mod common;

use common::*;
use mamori_ids::capture::{PacketBuilder, PcapWriter, TcpSession};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const T0: u64 = 1_700_000_000_000_000;

const RULES: &str = r#"alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"TEST passwd in URI"; flow:established,to_server; content:"/etc/passwd"; http_uri; classtype:web-application-attack; sid:1000001; rev:1;)
alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"TEST curl user agent"; flow:established,to_server; content:"curl/"; http_user_agent; depth:5; classtype:attempted-recon; sid:1000002; rev:1;)
alert dns $HOME_NET any -> any any (msg:"TEST query to .top"; dns.query; content:".top"; nocase; endswith; classtype:bad-unknown; sid:1000003; rev:1;)
alert tcp $EXTERNAL_NET 80 -> $HOME_NET any (msg:"TEST nginx server"; flow:established,from_server; content:"|0d 0a|Server|3a| nginx"; nocase; classtype:bad-unknown; sid:1000004; rev:1;)
alert tcp $HOME_NET any -> $EXTERNAL_NET 80 (msg:"TEST admin path"; flow:established,to_server; content:"GET"; depth:3; content:"/wp-admin/"; distance:1; within:20; classtype:web-application-activity; sid:1000005; rev:1;)
alert http any any -> any any (msg:"TEST look-behind"; pcre:"/(?<=a)b/U"; sid:1000006; rev:1;)
"#;

/// Ten HTTP flows (some with curl, some to /etc/passwd or /wp-admin/, some served by nginx)
/// and ten DNS queries (some to .top), from 192.168.1.x to the internet.
fn traffic(dir: &Path) -> PathBuf {
    let path = dir.join("traffic.pcap");
    let mut w = PcapWriter::create(&path).unwrap();
    let mut ts = T0;
    for i in 0..10u16 {
        let uri = match i % 3 {
            0 => "/etc/passwd",
            1 => "/wp-admin/admin-ajax.php",
            _ => "/index.html",
        };
        let ua = if i % 2 == 0 {
            "curl/8.5.0"
        } else {
            "Mozilla/5.0"
        };
        let server = if i % 4 == 0 { "nginx" } else { "Apache" };
        let req =
            format!("GET {uri} HTTP/1.1\r\nHost: www.example{i}.com\r\nUser-Agent: {ua}\r\n\r\n");
        let resp = format!("HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Length: 5\r\n\r\nhello");
        let mut s = TcpSession::new(
            ([192, 168, 1, 10 + i as u8], 40000 + i),
            ([93, 184, 216, 34], 80),
        )
        .starting_at(ts);
        s.handshake()
            .client_sends(req.as_bytes())
            .server_sends(resp.as_bytes())
            .close();
        s.write_to(&mut w).unwrap();
        ts = s.now_us() + 1000;
    }
    for i in 0..10u16 {
        let name = if i % 3 == 0 {
            format!("host{i}.bad-domain.top")
        } else {
            format!("www{i}.example.com")
        };
        let mut q = vec![0x10, i as u8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let frame = PacketBuilder::udp(([192, 168, 1, 50], 50000 + i), ([8, 8, 8, 8], 53))
            .payload(&q)
            .build();
        w.write_packet(ts, &frame).unwrap();
        ts += 1000;
    }
    w.flush().unwrap();
    path
}

fn alert_set(eve: &Path) -> BTreeSet<(u64, String, String, u64, u64)> {
    std::fs::read_to_string(eve)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event_type"] == "alert")
        .map(|r| {
            (
                r["alert"]["signature_id"].as_u64().unwrap(),
                r["src_ip"].as_str().unwrap().to_string(),
                r["dest_ip"].as_str().unwrap().to_string(),
                r["src_port"].as_u64().unwrap_or(0),
                r["dest_port"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn read_prints_a_summary_writes_eve_and_stores_alerts_for_a_tenant() {
    let data = temp_dir("idsread");
    let pcap = traffic(&data);
    let rules = data.join("test.rules");
    std::fs::write(&rules, RULES).unwrap();
    let eve = data.join("eve.json");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (ok, out, err) = mamori(
        &data,
        &[
            "ids",
            "read",
            pcap.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--eve",
            eve.to_str().unwrap(),
            "--tenant",
            "acme",
        ],
        "",
    );
    assert!(ok, "{out}{err}");
    for field in [
        "packets",
        "bytes",
        "seconds",
        "packets/s",
        "alerts",
        "rules",
    ] {
        assert!(out.contains(field), "summary shows {field}: {out}");
    }
    assert!(out.contains("5 loaded, 1 skipped"), "{out}");
    assert!(
        err.contains("test.rules:6") && err.contains("look-around"),
        "the skipped rule is named by file, line and reason: {err}"
    );
    let alerts = alert_set(&eve);
    let sids: BTreeSet<u64> = alerts.iter().map(|a| a.0).collect();
    assert_eq!(
        sids,
        [1_000_001, 1_000_002, 1_000_003, 1_000_004, 1_000_005].into()
    );
    // passwd: flows 0, 3, 6, 9; curl: even flows; .top: queries 0, 3, 6, 9; nginx: 0, 4, 8;
    // wp-admin: 1, 4, 7.
    assert_eq!(alerts.len(), 4 + 5 + 4 + 3 + 3, "{alerts:#?}");
    let stored: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("stored"))
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no stored line: {out}"));
    assert_eq!(stored, alerts.len());
}

#[test]
fn rules_check_prints_the_coverage() {
    let data = temp_dir("idsrules");
    let rules = data.join("test.rules");
    std::fs::write(&rules, format!("{RULES}alert tcp any any -> any any (msg:\"x\"; frobnicate:1; sid:7;)\nnot a rule at all\n")).unwrap();
    let (ok, out, err) = mamori(
        &data,
        &[
            "ids",
            "rules",
            "check",
            rules.to_str().unwrap(),
            "--verbose",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("loaded 5 of 8 rules"), "{out}");
    assert!(out.contains("frobnicate"), "{out}");
    assert!(
        out.contains("test.rules:7"),
        "skipped rules are listed by line: {out}"
    );
    let (ok, json, _) = mamori(
        &data,
        &["ids", "rules", "check", rules.to_str().unwrap(), "--json"],
        "",
    );
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["loaded"], 5);
    assert_eq!(v["skipped"], 3);
}

/// The same pcap and rules through Suricata and Mamori: the same alerts. Runs when
/// `suricata` is installed (bench/ids installs it); `MAMORI_REQUIRE_SURICATA=1` makes its
/// absence a failure.
#[test]
fn alerts_match_suricata_on_the_same_pcap_and_rules() {
    let suricata = Command::new("suricata").arg("-V").output();
    if suricata.is_err() {
        assert!(
            std::env::var_os("MAMORI_REQUIRE_SURICATA").is_none(),
            "suricata is required but not installed"
        );
        eprintln!("suricata not installed: parity test skipped");
        return;
    }
    let data = temp_dir("idsparity");
    let pcap = traffic(&data);
    let rules = data.join("test.rules");
    // Mamori skips the look-behind rule; compare on the rules both load.
    let loaded: String = RULES.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&rules, loaded).unwrap();
    let eve = data.join("eve.json");
    let (ok, out, err) = mamori(
        &data,
        &[
            "ids",
            "read",
            pcap.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--eve",
            eve.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{out}{err}");
    let log = data.join("suricata");
    std::fs::create_dir_all(&log).unwrap();
    let status = Command::new("suricata")
        .args(["-c", "/etc/suricata/suricata.yaml", "-k", "none", "-r"])
        .arg(&pcap)
        .arg("-S")
        .arg(&rules)
        .arg("-l")
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let theirs = alert_set(&log.join("eve.json"));
    let ours = alert_set(&eve);
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs, "same (sid, src, dst, sport, dport) set");
}

/// `mamori up` with `[ids]` enabled watches the interface (loopback here) and the alerts of
/// its rules appear in the console's API. Needs root (AF_PACKET); CI runs as root.
#[tokio::test(flavor = "multi_thread")]
async fn up_runs_the_configured_sensor_and_its_alerts_reach_the_console() {
    if !Path::new("/proc/self/status").exists()
        || !std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
    {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        eprintln!("not root: AF_PACKET test skipped");
        return;
    }
    let data = temp_dir("idsup");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let rules = data.join("lo.rules");
    let port = free_port();
    std::fs::write(
        &rules,
        format!("alert udp any any -> any {port} (msg:\"TEST marker on loopback\"; content:\"MAMORI-IDS-MARKER\"; classtype:trojan-activity; sid:1000009; rev:1;)\n"),
    )
    .unwrap();
    std::fs::write(
        data.join("mamori.toml"),
        format!(
            "[ids]\nenabled = true\nmode = \"live\"\niface = \"lo\"\ntenant = \"acme\"\nrules = [\"{}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    let server = up(&data, &[]);
    let (ok, out, _) = mamori(
        &data,
        &["token", "create", "--tenant", "acme", "--name", "t"],
        "",
    );
    assert!(ok);
    let token = out.lines().last().unwrap().to_string();
    let client = reqwest::Client::new();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        udp.send_to(b"hello MAMORI-IDS-MARKER", ("127.0.0.1", port))
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let body: serde_json::Value = client
            .get(format!("{}/api/v1/alerts?limit=10", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["rule_id"] == "1:1000009" || a["alert"]["rule_id"] == "1:1000009");
        if found {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no IDS alert in the console: {body}"
        );
    }
}
