//! End to end: a generated month → `write_report` → HTML, JSON and, with Debian's Chromium
//! and poppler-utils, a PDF whose pages and text are checked with `pdfinfo` and `pdftotext`.
//!
//! Without Chromium or poppler-utils the PDF checks are skipped with a message, unless
//! `CI=true`: CI installs `chromium`, `poppler-utils` and a Japanese font, so there a
//! missing tool is a failure.

use mamori_core::{Engine, IncidentState, Severity};
use mamori_report::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::macros::datetime;
use time::Duration;

/// The page count the layout promises: one page per section.
const PAGES: u32 = 6;

/// October 2026 at a 40-person trading company: a PC beaconing to a C2 server (contained,
/// not resolved), a credential-stuffing wave on the web shop's login, held outgoing mail,
/// open website findings improving over six months, one training campaign.
fn seeded_month() -> ReportData {
    let month = Month::new(2026, 10).unwrap();
    let start = datetime!(2026-10-01 00:00 +09:00);
    let daily = (1..=31u8)
        .map(|day| {
            let d = u64::from(day);
            DailyCount {
                day,
                alerts: BySeverity {
                    info: 20 + d % 7,
                    low: 8 + d % 5,
                    medium: 3 + d % 3,
                    high: u64::from(day == 12 || day == 13) * 6,
                    critical: u64::from(day == 12) * 2,
                },
                blocked: 150 + (d * 37) % 90 + u64::from(day == 20) * 900,
            }
        })
        .collect::<Vec<_>>();
    let mut by_severity = BySeverity::default();
    for d in &daily {
        for s in Severity::ALL {
            by_severity.add(s, d.alerts.get(s));
        }
    }
    ReportData {
        tenant: "yamada-shoji".into(),
        tenant_display: "山田商事株式会社".into(),
        month,
        generated_at: datetime!(2026-11-01 09:00 +09:00),
        provider: Some("北陸ネットサポート".into()),
        counts: Counts {
            suspicious_access_blocked: 8_412,
            malware_neutralized: 3,
            c2_stopped: 4_126,
            mails_held: 12,
            misdelivery_prevented: 3,
            phishing_quarantined: 57,
            login_attacks_blocked: 2_250,
            alerts_total: by_severity.total(),
            alerts_by_severity: by_severity,
            incidents_opened: 3,
            incidents_resolved: 2,
        },
        previous: Some(Counts {
            suspicious_access_blocked: 6_020,
            malware_neutralized: 5,
            c2_stopped: 0,
            mails_held: 9,
            misdelivery_prevented: 1,
            phishing_quarantined: 57,
            ..Counts::default()
        }),
        daily,
        by_engine: vec![
            (Engine::Waf, 612),
            (Engine::Ids, 410),
            (Engine::Mail, 260),
            (Engine::Logs, 88),
            (Engine::Scan, 9),
            (Engine::Drill, 4),
        ],
        incidents: vec![
            IncidentLine {
                title: "PC-12 からC2サーバーへの定期通信（ビーコン）".into(),
                severity: Severity::Critical,
                state: IncidentState::Contained,
                opened_at: start + Duration::hours(11 * 24 + 9),
                asset: Some("PC-12 (192.168.1.52)".into()),
                outcome: "通信先を遮断し、PCをネットワークから隔離。駆除作業中。".into(),
            },
            IncidentLine {
                title: "Webショップのログインへのリスト型攻撃".into(),
                severity: Severity::High,
                state: IncidentState::Resolved,
                opened_at: start + Duration::hours(19 * 24 + 2),
                asset: Some("shop.yamada-shoji.example".into()),
                outcome: "攻撃元IPを自動遮断。不正ログインの成功はなし。".into(),
            },
            IncidentLine {
                title: "<script>alert('x')</script> 添付ファイル付きの不審メール".into(),
                severity: Severity::Medium,
                state: IncidentState::FalsePositive,
                opened_at: start + Duration::hours(4 * 24 + 15),
                asset: Some("sato@yamada-shoji.example".into()),
                outcome: String::new(),
            },
        ],
        top_sources: vec![
            ("203.0.113.45 (NL)".into(), 2_210),
            ("198.51.100.7 (US)".into(), 1_104),
            ("malicious-c2.example".into(), 4_126),
        ],
        top_targets: vec![
            ("shop.yamada-shoji.example/login".into(), 2_250),
            ("PC-12".into(), 4_126),
            ("mail.yamada-shoji.example".into(), 310),
        ],
        scan: Some(ScanSection {
            sites: vec![
                "https://www.yamada-shoji.example/".into(),
                "https://shop.yamada-shoji.example/".into(),
            ],
            findings: vec![
                ScanFinding {
                    id: "scan.exposed_git".into(),
                    severity: Severity::High,
                    title: ".git ディレクトリが公開されている".into(),
                    url: "https://www.yamada-shoji.example/.git/HEAD".into(),
                    status: FindingStatus::New,
                },
                ScanFinding {
                    id: "scan.tls_old_protocol".into(),
                    severity: Severity::Medium,
                    title: "古い暗号化方式（TLS 1.0）が有効".into(),
                    url: "https://shop.yamada-shoji.example/".into(),
                    status: FindingStatus::Open,
                },
                ScanFinding {
                    id: "scan.missing_hsts".into(),
                    severity: Severity::Low,
                    title: "HSTS ヘッダーが未設定".into(),
                    url: "https://www.yamada-shoji.example/".into(),
                    status: FindingStatus::Open,
                },
                ScanFinding {
                    id: "scan.directory_listing".into(),
                    severity: Severity::Medium,
                    title: "ディレクトリの一覧表示".into(),
                    url: "https://www.yamada-shoji.example/images/".into(),
                    status: FindingStatus::Fixed,
                },
            ],
            trend: vec![
                ("2026-05".into(), 9),
                ("2026-06".into(), 8),
                ("2026-07".into(), 6),
                ("2026-08".into(), 5),
                ("2026-09".into(), 3),
                ("2026-10".into(), 3),
            ],
        }),
        training: Some(TrainingSection {
            campaigns: vec![CampaignResult {
                name: "請求書送付のお知らせ（10月）".into(),
                sent: 40,
                opened: 26,
                clicked: 7,
                submitted: 2,
                reported: 9,
            }],
            departments: vec![
                DepartmentResult {
                    name: "営業部".into(),
                    sent: 15,
                    opened: 12,
                    clicked: 4,
                    submitted: 1,
                    reported: 2,
                },
                DepartmentResult {
                    name: "総務部".into(),
                    sent: 10,
                    opened: 6,
                    clicked: 1,
                    submitted: 0,
                    reported: 4,
                },
                DepartmentResult {
                    name: "製造部".into(),
                    sent: 15,
                    opened: 8,
                    clicked: 2,
                    submitted: 1,
                    reported: 3,
                },
            ],
        }),
        notes: vec!["10月15日にルーターのファームウェアを更新しました。".into()],
    }
}

/// A fresh output directory under the temp dir (`mamori-report-test-<pid>-<name>`), removed
/// when the test ends unless it failed: then it is kept to look at.
struct OutDir(PathBuf);

impl OutDir {
    fn new(name: &str) -> OutDir {
        let dir =
            std::env::temp_dir().join(format!("mamori-report-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        OutDir(dir)
    }
}

impl std::ops::Deref for OutDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("-v")
        .output()
        .map(|o| o.status.success() || !o.stderr.is_empty())
        .unwrap_or(false)
}

/// Why the PDF checks cannot run here, if they cannot.
fn missing_tools() -> Option<String> {
    let mut missing = Vec::new();
    if find_chromium().is_none() {
        missing.push("chromium (Debian package chromium)");
    }
    if !have("pdfinfo") || !have("pdftotext") {
        missing.push("pdfinfo/pdftotext (Debian package poppler-utils)");
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// `None`: skip (reason printed). Panics in CI, where the tools must be there.
fn pdf_checks_possible() -> bool {
    match missing_tools() {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {why} missing: CI must install them")
        }
        Some(why) => {
            eprintln!("skipping the PDF checks: {why} not installed");
            false
        }
    }
}

fn page_count(pdf: &Path) -> u32 {
    let out = Command::new("pdfinfo").arg(pdf).output().unwrap();
    let info = String::from_utf8_lossy(&out.stdout);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in pdfinfo output:\n{info}"))
}

/// The text of each page, in order, as `pdftotext -layout` reads it.
fn page_texts(pdf: &Path, pages: u32) -> Vec<String> {
    (1..=pages)
        .map(|p| {
            let out = Command::new("pdftotext")
                .args(["-layout", "-f", &p.to_string(), "-l", &p.to_string()])
                .arg(pdf)
                .arg("-")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pdftotext failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

fn assert_has(text: &str, wanted: &[&str], where_: &str) {
    for w in wanted {
        assert!(text.contains(w), "{where_}: {w:?} not found in:\n{text}");
    }
}

#[test]
fn japanese_report_prints_six_pages_with_headings_and_figures() {
    let data = seeded_month();
    let dir = OutDir::new("ja");
    let files = write_report(&data, Lang::Ja, &dir).unwrap();
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.contains("<svg"));
    assert!(
        !html.contains("<script>"),
        "an incident title reached the page unescaped"
    );
    let back: ReportData = serde_json::from_slice(&std::fs::read(&files.json).unwrap()).unwrap();
    assert_eq!(back, data, "report.json does not round-trip");

    if find_chromium().is_none() {
        let why = files.pdf_missing.as_deref().unwrap_or_default();
        assert!(files.pdf.is_none() && why.contains("chromium"), "{why}");
        assert!(!dir.join("report.pdf").exists());
    }
    if !pdf_checks_possible() {
        return;
    }
    let pdf = files
        .pdf
        .clone()
        .unwrap_or_else(|| panic!("no PDF: {:?}", files.pdf_missing));
    assert_eq!(page_count(&pdf), PAGES);
    let pages = page_texts(&pdf, PAGES);
    assert_has(
        &pages[0],
        &[
            "月次セキュリティレポート",
            "2026年10月",
            "山田商事株式会社 御中",
            "今月のまとめ",
            "対応が必要なインシデントがあります",
            "不審なアクセスを遮断",
            "8,412",
            "マルウェアを無害化",
            "C2通信を遮断",
            "4,126",
            "保留したメール・誤送信を防止",
            "フィッシングメールを隔離",
            "前月比 ▲2,392",
            "次にすべきこと",
            "至急",
        ],
        "page 1 (summary)",
    );
    assert_has(
        &pages[1],
        &[
            "検知の推移と内訳",
            "日別の検知件数",
            "遮断・防止した件数",
            "機能別の検知件数",
            "Webサイト防御",
            "612",
            "203.0.113.45",
        ],
        "page 2 (charts)",
    );
    assert_has(
        &pages[2],
        &[
            "インシデントと対応結果",
            "PC-12",
            "封じ込め済み",
            "解決済み",
            "誤検知",
            "<script>",
        ],
        "page 3 (incidents)",
    );
    assert_has(
        &pages[3],
        &[
            "Webサイト診断",
            ".git",
            "scan.exposed_git",
            "未対応の指摘件数の推移",
            "対応済み",
        ],
        "page 4 (website)",
    );
    assert_has(
        &pages[4],
        &[
            "標的型メール訓練",
            "請求書送付のお知らせ",
            "営業部",
            "26.7%",
            "17.5%",
        ],
        "page 5 (training)",
    );
    assert_has(
        &pages[5],
        &[
            "推奨する対策",
            "ウイルスに感染した可能性のあるPCを隔離・駆除してください",
            "多要素認証",
            "2,250件",
            "備考",
            "北陸ネットサポート",
        ],
        "page 6 (recommendations)",
    );
}

#[test]
fn english_report_prints_the_same_pages_in_english() {
    let data = seeded_month();
    let dir = OutDir::new("en");
    let files = write_report(&data, Lang::En, &dir).unwrap();
    assert!(std::fs::read_to_string(&files.html)
        .unwrap()
        .contains("<svg"));
    if !pdf_checks_possible() {
        return;
    }
    let pdf = files
        .pdf
        .clone()
        .unwrap_or_else(|| panic!("no PDF: {:?}", files.pdf_missing));
    assert_eq!(page_count(&pdf), PAGES);
    let pages = page_texts(&pdf, PAGES);
    assert_has(
        &pages[0],
        &[
            "Monthly security report",
            "October 2026",
            "Prepared for",
            "Some incidents need your action",
            "Suspicious accesses blocked",
            "8,412",
            "C2 communications stopped",
            "Phishing mails quarantined",
            "What to do next",
        ],
        "page 1 (summary)",
    );
    assert_has(
        &pages[1],
        &["Alerts per day by severity", "Website (WAF)"],
        "page 2",
    );
    assert_has(
        &pages[2],
        &["Incidents and outcomes", "Contained"],
        "page 3",
    );
    assert_has(
        &pages[3],
        &["Website diagnosis", "Open findings over time", "May 26"],
        "page 4",
    );
    assert_has(
        &pages[4],
        &["Phishing training", "Clicked the link"],
        "page 5",
    );
    assert_has(
        &pages[5],
        &["Recommended actions", "Isolate and clean the infected PC"],
        "page 6",
    );
}

#[test]
fn an_empty_month_still_prints_six_pages_saying_none() {
    let mut data = seeded_month();
    data.counts = Counts::default();
    data.previous = None;
    data.daily.clear();
    data.by_engine.clear();
    data.incidents.clear();
    data.top_sources.clear();
    data.top_targets.clear();
    data.scan = None;
    data.training = None;
    data.notes.clear();
    let dir = OutDir::new("empty");
    let files = write_report(&data, Lang::Ja, &dir).unwrap();
    if !pdf_checks_possible() {
        return;
    }
    let pdf = files
        .pdf
        .clone()
        .unwrap_or_else(|| panic!("no PDF: {:?}", files.pdf_missing));
    assert_eq!(page_count(&pdf), PAGES);
    let pages = page_texts(&pdf, PAGES);
    assert_has(
        &pages[0],
        &[
            "重大な被害は確認されませんでした",
            "現在の対策を続けてください",
        ],
        "page 1",
    );
    assert_has(
        &pages[2],
        &["今月のインシデントはありませんでした"],
        "page 3",
    );
    assert_has(
        &pages[3],
        &["今月はWebサイト診断を実施していません"],
        "page 4",
    );
    assert_has(
        &pages[4],
        &["今月は標的型メール訓練を実施していません"],
        "page 5",
    );
}

/// Every list over its cap and every text longer than it is clipped to: the layout must
/// still print one page per section.
fn month_at_the_limits() -> ReportData {
    let mut data = seeded_month();
    let long_ja = "長い説明文".repeat(40);
    let long_url = format!("https://www.yamada-shoji.example/{}", "a".repeat(300));
    data.tenant_display = "株式会社".repeat(30);
    data.provider = Some("サポート".repeat(30));
    let big = |i: u64| 1_000_000_000_000 + i;
    data.counts.suspicious_access_blocked = big(1);
    data.counts.mails_held = big(2);
    data.counts.phishing_quarantined = big(3);
    data.counts.malware_neutralized = big(4);
    data.counts.c2_stopped = big(5);
    data.by_engine = Engine::ALL.iter().map(|e| (*e, big(6))).collect();
    data.top_sources = (0..30)
        .map(|i| (format!("{long_url}{i}"), big(i)))
        .collect();
    data.top_targets = data.top_sources.clone();
    let incident = data.incidents[0].clone();
    data.incidents = (0..40)
        .map(|_| IncidentLine {
            title: long_ja.clone(),
            asset: Some(long_url.clone()),
            outcome: long_ja.clone(),
            ..incident.clone()
        })
        .collect();
    if let Some(scan) = data.scan.as_mut() {
        scan.sites = (0..20).map(|_| long_url.clone()).collect();
        let f = scan.findings[0].clone();
        scan.findings = (0..50)
            .map(|_| ScanFinding {
                id: format!("scan.{}", "x".repeat(80)),
                title: long_ja.clone(),
                url: long_url.clone(),
                ..f.clone()
            })
            .collect();
        scan.trend = (1..=24)
            .map(|i| {
                (
                    format!("{}-{:02}", 2024 + (i - 1) / 12, (i - 1) % 12 + 1),
                    big(i),
                )
            })
            .collect();
    }
    if let Some(training) = data.training.as_mut() {
        let c = CampaignResult {
            name: long_ja.clone(),
            ..training.campaigns[0].clone()
        };
        training.campaigns = vec![c; 10];
        let d = DepartmentResult {
            name: long_ja.clone(),
            ..training.departments[0].clone()
        };
        training.departments = vec![d; 40];
    }
    data.notes = vec![long_ja.clone(); 20];
    data
}

#[test]
fn the_layout_holds_six_pages_at_its_limits() {
    let data = month_at_the_limits();
    for lang in [Lang::Ja, Lang::En] {
        let dir = OutDir::new(&format!("limits-{lang}"));
        let files = write_report(&data, lang, &dir).unwrap();
        if !pdf_checks_possible() {
            return;
        }
        let pdf = files
            .pdf
            .clone()
            .unwrap_or_else(|| panic!("no PDF: {:?}", files.pdf_missing));
        assert_eq!(page_count(&pdf), PAGES, "{lang}: {}", pdf.display());
    }
}
