//! `mamori report` on a tenant's month of alerts sent through the ingest API: the counts the
//! public reports use, the HTML with its charts, and the PDF printed by Chromium (checked
//! with pdftotext when both are installed; CI installs them).

mod common;

use common::*;
use std::process::Command;

fn have(program: &str, version_flag: &str) -> bool {
    Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_months_alerts_become_the_report_in_html_and_pdf() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink, smtp_port) = rt.block_on(Sink::start());
    let data = temp_dir("report");
    std::fs::write(
        data.join("mamori.toml"),
        format!("[notify]\nsmtp = {{ host = \"127.0.0.1\", port = {smtp_port}, starttls = false, from = \"mamori@provider.example\" }}\n"),
    )
    .unwrap();
    let server = up(&data, &[]);
    assert!(
        mamori(
            &data,
            &["tenant", "add", "acme", "--display-name", "株式会社アクメ"],
            ""
        )
        .0
    );
    let token = token(&data, "acme");
    let lines = [
        // A WAF block and an IPS drop of a C2 beacon: suspicious accesses blocked, C2 stopped.
        r#"{"time":"2026-10-03T10:00:00+09:00","engine":"waf","rule_id":"waf.crs.942100","rule_name":"SQL Injection","severity":"high","summary":"blocked: GET shop.example /item?id=1' OR 1=1 from 203.0.113.7","src":{"ip":"203.0.113.7"},"evidence":{"action":"blocked"}}"#,
        r#"{"time":"2026-10-04T11:00:00+09:00","engine":"ids","rule_id":"ids.2027758","rule_name":"ET MALWARE Emotet CnC Beacon","severity":"critical","category":"command-and-control","summary":"beacon","src":{"ip":"192.168.1.23"},"dst":{"ip":"198.51.100.50"},"evidence":{"alert":{"action":"blocked"}}}"#,
        // Mail: an Emotet-style zip quarantined, a mass Cc turned into Bcc, a hold.
        r#"{"time":"2026-10-05T09:00:00+09:00","engine":"mail","rule_id":"mail.encrypted_zip","rule_name":"Encrypted zip","severity":"high","summary":"quarantined","evidence":{"verdict":"quarantine","direction":"inbound","reasons":[]}}"#,
        r#"{"time":"2026-10-06T09:00:00+09:00","engine":"mail","rule_id":"mail.many_external_recipients","rule_name":"Many recipients","severity":"medium","summary":"bcc","evidence":{"verdict":"bcc","direction":"outbound"}}"#,
        r#"{"time":"2026-10-06T10:00:00+09:00","engine":"mail","rule_id":"mail.pii","rule_name":"Personal data","severity":"medium","summary":"held","evidence":{"verdict":"hold","direction":"outbound"}}"#,
        // Another month's alert is not counted.
        r#"{"time":"2026-11-02T09:00:00+09:00","engine":"waf","rule_id":"waf.crs.941100","rule_name":"XSS","severity":"high","summary":"blocked: x","evidence":{"action":"blocked"}}"#,
    ];
    send_lines(&data, &server.base, &token, &lines);

    let report = data.join("report-ja");
    let (ok, out, err) = mamori(
        &data,
        &[
            "report",
            "--tenant",
            "acme",
            "--month",
            "2026-10",
            "--out",
            report.to_str().unwrap(),
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("report.html"), "{out}");
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("株式会社アクメ"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    let c = &json["counts"];
    assert_eq!(c["alerts_total"], 5, "{c}");
    assert_eq!(c["suspicious_access_blocked"], 2, "{c}");
    assert_eq!(c["c2_stopped"], 1, "{c}");
    assert_eq!(c["malware_neutralized"], 1, "{c}");
    assert_eq!(c["misdelivery_prevented"], 1, "{c}");
    assert_eq!(c["mails_held"], 1, "{c}");

    // --mail sends the figures and the link to the tenant's admins.
    let (ok, _, err) = mamori(
        &data,
        &[
            "user",
            "add",
            "--email",
            "boss@acme.example",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = mamori(
        &data,
        &[
            "report",
            "--tenant",
            "acme",
            "--month",
            "2026-10",
            "--out",
            report.to_str().unwrap(),
            "--mail",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert_eq!(sink.len(), 1);
    let mail = String::from_utf8_lossy(&sink.0.lock().unwrap()[0]).into_owned();
    assert!(
        mail.contains("To: boss@acme.example") && mail.contains("Subject: =?UTF-8?B?"),
        "{mail}"
    );

    // Bad input says what is wrong.
    let (ok, _, err) = mamori(
        &data,
        &[
            "report", "--tenant", "acme", "--month", "2026-13", "--out", "x",
        ],
        "",
    );
    assert!(!ok && err.contains("--month"), "{err}");
    let (ok, _, err) = mamori(
        &data,
        &[
            "report", "--tenant", "nobody", "--month", "2026-10", "--out", "x",
        ],
        "",
    );
    assert!(!ok && err.contains("nobody"), "{err}");

    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !(have("chromium", "--version") && have("pdftotext", "-v")) {
        assert!(
            !ci,
            "CI must check the PDF: install chromium and poppler-utils"
        );
        eprintln!("PDF not checked: chromium or pdftotext missing");
        return;
    }
    let pdf = report.join("report.pdf");
    assert!(out.contains("report.pdf") && pdf.exists(), "{out}");
    let text = Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("株式会社アクメ") && text.contains("2026年10月"),
        "{text}"
    );
    assert!(
        text.contains("不審なアクセスを遮断") && text.contains("C2通信を遮断"),
        "{text}"
    );
    let en = data.join("report-en");
    let (ok, _, err) = mamori(
        &data,
        &[
            "report",
            "--tenant",
            "acme",
            "--month",
            "2026-10",
            "--out",
            en.to_str().unwrap(),
            "--lang",
            "en",
        ],
        "",
    );
    assert!(ok, "{err}");
    let text = Command::new("pdftotext")
        .args([en.join("report.pdf").to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("October 2026"));
}
