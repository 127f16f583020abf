//! The evidence export end to end: alerts of four engines on one PC become one incident in a
//! real SQLite store; its export is read back by Python's `zipfile`, Info-ZIP's `unzip` and
//! `sha256sum -c`, the tools an insurer's or the police's analyst would use.

use mamori_console::evidence;
use mamori_console::ConsoleError;
use mamori_core::incident::IncidentChange;
use mamori_core::{Alert, Asset, AssetKind, Engine, Scope, Severity, Ulid};
use mamori_store::{ActionKind, AlertQuery, DynStore, NewAction};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use time::OffsetDateTime;

/// Plain IDS alerts besides the four with evidence: enough for three pages of the store.
const FILLER: usize = 1200;

const FILES: [&str; 11] = [
    "README.txt",
    "manifest.json",
    "manifest.sha256",
    "incident.json",
    "timeline.json",
    "actions.json",
    "alerts.ndjson",
    "eve.json",
    "mail-headers.txt",
    "log-lines.txt",
    "packets.txt",
];

struct Case {
    store: DynStore,
    dir: PathBuf,
    incident: Ulid,
}

async fn incident_with_four_engines() -> Case {
    let dir = std::env::temp_dir().join(format!("mamori-test-evidence-{}", Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = mamori_store::open("", &dir.join("mamori.db"))
        .await
        .unwrap();
    store.create_tenant("alpha", "Alpha 商事").await.unwrap();
    store.create_tenant("beta", "Beta").await.unwrap();

    let start = OffsetDateTime::now_utc() - time::Duration::minutes(30);
    let pc = Asset::new(AssetKind::Host, "10.0.0.5");
    let mut alerts = Vec::new();
    let mut add = |engine, rule: &str, evidence: Value| {
        let mut a = Alert::new(engine, rule, rule, Severity::High, format!("{rule} seen"));
        a.tenant = "alpha".into();
        a.asset = Some(pc.clone());
        a.time = start + time::Duration::seconds(alerts.len() as i64);
        a.evidence = evidence;
        alerts.push(a);
    };
    add(
        Engine::Mail,
        "mail.display_name_spoof",
        json!({
            "headers": {"Subject": "Re: 請求書の件", "From": "山田 <yamada@evil.example>"},
            "to": ["taro@alpha.example"],
            "message_id": "<abc@evil.example>",
        }),
    );
    add(
        Engine::Ids,
        "1:2030000",
        json!({
            "timestamp": "2025-01-01T00:00:00.000000+0000", "event_type": "alert",
            "src_ip": "10.0.0.5", "src_port": 49152, "dest_ip": "203.0.113.9", "dest_port": 80,
            "proto": "TCP", "alert": {"signature_id": 2030000, "signature": "ET MALWARE Emotet CnC"},
            "payload": "R0VUIC9nYXRlLnBocA==", "payload_printable": "GET /gate.php",
        }),
    );
    add(
        Engine::Logs,
        "sigma.proc_creation_encoded_powershell",
        json!({
            "records": [{"raw": "<Event>powershell -enc SQBFAFgA</Event>", "record_id": 41}],
            "raw": ["sshd[77]: Failed password for root from 198.51.100.7"],
        }),
    );
    add(
        Engine::Waf,
        "waf.crs.942100",
        json!({"request": "GET /cart?id=1%27%20OR%201=1 HTTP/1.1", "status": 403}),
    );
    for i in 0..FILLER {
        add(Engine::Ids, "ids.beacon", json!({"connections": i}));
    }
    let outcome = store
        .ingest(&alerts, time::Duration::minutes(60))
        .await
        .unwrap();
    assert_eq!(outcome.stored, FILLER + 4);
    assert_eq!(outcome.incidents_opened, 1, "one PC, one incident");
    let incident = store
        .alerts(&Scope::All, &AlertQuery::default())
        .await
        .unwrap()
        .items[0]
        .incident
        .unwrap();
    store
        .update_incident(
            &Scope::All,
            incident,
            IncidentChange::Note("警察へ相談済み / reported to police".into()),
            "admin@alpha.example",
        )
        .await
        .unwrap();
    store
        .create_action(NewAction {
            tenant: Some("alpha".into()),
            kind: ActionKind::BlockIp,
            target: "203.0.113.9".into(),
            incident: Some(incident),
            actor: "admin@alpha.example".into(),
            reason: "Emotet C2".into(),
            expires_at: None,
        })
        .await
        .unwrap();
    Case {
        store,
        dir,
        incident,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_export_opens_in_standard_tools_and_its_checksums_verify() {
    let case = incident_with_four_engines().await;
    let scope = Scope::Tenant("alpha".into());
    let bytes = evidence::export(&case.store, &scope, case.incident, "admin@alpha.example")
        .await
        .unwrap();
    let zip_path = case.dir.join(evidence::file_name(case.incident));
    std::fs::write(&zip_path, &bytes).unwrap();
    let folder = format!("mamori-incident-{}", case.incident);

    // Python's zipfile: every CRC checks, the names are the documented layout.
    let out = case.dir.join("python");
    if let Some(names) = python_extract(&zip_path, &out) {
        let expected: Vec<String> = FILES.iter().map(|f| format!("{folder}/{f}")).collect();
        assert_eq!(names, expected);
        sha256sum_check(&out.join(&folder));
    }
    // Info-ZIP: tests and extracts the same archive.
    let out = case.dir.join("unzip");
    if let Some(report) = unzip(&["-t", zip_path.to_str().unwrap()]) {
        assert!(report.contains("No errors detected"), "{report}");
        unzip(&[
            "-q",
            zip_path.to_str().unwrap(),
            "-d",
            out.to_str().unwrap(),
        ]);
        sha256sum_check(&out.join(&folder));
    }

    let files = extracted(&case.dir, &folder);
    let manifest: Value = serde_json::from_str(&files["manifest.json"]).unwrap();
    assert_eq!(manifest["incident"], case.incident.to_string());
    assert_eq!(manifest["tenant"], "alpha");
    assert_eq!(manifest["exported_by"], "admin@alpha.example");
    assert!(manifest["tool"].as_str().unwrap().starts_with("Mamori "));
    assert!(time::OffsetDateTime::parse(
        manifest["exported_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert_eq!(manifest["alerts"]["exported"], FILLER + 4);
    let listed: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let others: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|f| !f.starts_with("manifest."))
        .collect();
    assert_eq!(listed, others, "manifest.json lists every other file");
    for f in manifest["files"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        assert_eq!(f["bytes"], files[name].len(), "{name}");
        assert_eq!(f["sha256"].as_str().unwrap().len(), 64, "{name}");
    }

    // Every alert once, oldest first, each naming the incident.
    let lines: Vec<Value> = files["alerts.ndjson"]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), FILLER + 4, "all pages of the store");
    assert!(lines
        .iter()
        .all(|a| a["incident"] == case.incident.to_string()));
    assert_eq!(lines[0]["rule_id"], "mail.display_name_spoof");
    let times: Vec<&str> = lines.iter().map(|a| a["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    let eve: Vec<Value> = files["eve.json"]
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        eve.len(),
        1,
        "only the alert whose evidence is an EVE record"
    );
    assert_eq!(eve[0]["event_type"], "alert");
    assert_eq!(eve[0]["alert"]["signature"], "ET MALWARE Emotet CnC");

    let mail = &files["mail-headers.txt"];
    assert!(mail.contains("Subject: Re: 請求書の件\n"), "{mail}");
    assert!(
        mail.contains("From: 山田 <yamada@evil.example>\n"),
        "{mail}"
    );
    assert!(mail.contains("Message-ID: <abc@evil.example>\n"), "{mail}");
    assert!(mail.starts_with("=== alert "), "{mail}");

    let log = &files["log-lines.txt"];
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(
        log.contains("\t<Event>powershell -enc SQBFAFgA</Event>\n"),
        "{log}"
    );
    assert!(log.contains("Failed password for root"), "{log}");
    assert!(
        log.contains("\tGET /cart?id=1%27%20OR%201=1 HTTP/1.1\n"),
        "{log}"
    );

    let packets = &files["packets.txt"];
    assert!(
        packets.contains("flow: TCP 10.0.0.5:49152 -> 203.0.113.9:80\n"),
        "{packets}"
    );
    assert!(
        packets.contains("payload: R0VUIC9nYXRlLnBocA==\n"),
        "{packets}"
    );
    assert!(
        !packets.contains("ids.beacon"),
        "alerts without a payload add nothing"
    );

    let timeline = &files["timeline.json"];
    assert!(timeline.contains("reported to police"), "{timeline}");
    let actions: Value = serde_json::from_str(&files["actions.json"]).unwrap();
    assert_eq!(actions[0]["target"], "203.0.113.9");
    assert!(files["README.txt"].contains("sha256sum -c manifest.sha256"));
    assert!(files["README.txt"].contains("改ざん"));
    let _ = std::fs::remove_dir_all(&case.dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenant_cannot_export_the_incident() {
    let case = incident_with_four_engines().await;
    let beta = Scope::Tenant("beta".into());
    let err = evidence::export(&case.store, &beta, case.incident, "admin@beta.example")
        .await
        .unwrap_err();
    assert!(matches!(err, ConsoleError::NotFound), "{err:?}");
    let err = evidence::export(&case.store, &Scope::All, Ulid::new(), "provider")
        .await
        .unwrap_err();
    assert!(matches!(err, ConsoleError::NotFound), "{err:?}");
    let _ = std::fs::remove_dir_all(&case.dir);
}

/// The files as Python or unzip extracted them; at least one of the two must have run.
fn extracted(dir: &Path, folder: &str) -> std::collections::HashMap<&'static str, String> {
    let base = [dir.join("python"), dir.join("unzip")]
        .into_iter()
        .map(|d| d.join(folder))
        .find(|d| d.is_dir())
        .expect("neither python3 nor unzip is installed; nothing could read the archive");
    FILES
        .iter()
        .map(|f| (*f, std::fs::read_to_string(base.join(f)).unwrap()))
        .collect()
}

fn sha256sum_check(folder: &Path) {
    let out = Command::new("sha256sum")
        .args(["--strict", "-c", "manifest.sha256"])
        .current_dir(folder)
        .output()
        .expect("sha256sum (coreutils)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sha256sum -c: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report.matches(": OK").count(), FILES.len() - 1, "{report}");
}

/// A tool the checks need: skipped with a message locally, required on CI.
fn tool_missing(tool: &str, version_flag: &str) -> bool {
    let present = Command::new(tool).arg(version_flag).output().is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required on CI (apt-get install {tool})"
        );
        eprintln!("skipping the {tool} check: {tool} is not installed");
    }
    !present
}

/// Python's `zipfile`: `testzip()` must find nothing; extracts into `out`, answers the names.
fn python_extract(zip: &Path, out: &Path) -> Option<Vec<String>> {
    if tool_missing("python3", "--version") {
        return None;
    }
    const SCRIPT: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    if bad is not None:
        sys.exit("bad CRC in " + bad)
    z.extractall(sys.argv[2])
    print(json.dumps(z.namelist()))
"#;
    let run = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(zip)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "python zipfile: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    Some(serde_json::from_slice(&run.stdout).unwrap())
}

fn unzip(args: &[&str]) -> Option<String> {
    if tool_missing("unzip", "-v") {
        return None;
    }
    let out = Command::new("unzip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "unzip {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
