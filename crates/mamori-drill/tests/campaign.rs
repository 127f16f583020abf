//! A whole campaign over real sockets: targets from a Shift_JIS CSV, mails sent over SMTP to
//! a capturing sink, tracking links followed over HTTP, a landing form submitted, reports by
//! endpoint and by forwarded mail, scanner hits kept apart, and the numbers checked per
//! person and per department.

use mail_parser::MessageParser;
use mamori_drill::{BotRules, Drill, DrillError, NewCampaign, Scope, Settings, SmtpProfile, State};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
const PASSWORD: &str = "Sakura-Tr0ub4dor&3-secret";

/// An SMTP server that keeps every message it is given.
#[derive(Default)]
struct Sink(Mutex<Vec<Vec<u8>>>);

#[mamori_smtp::async_trait]
impl mamori_smtp::Handler for Sink {
    async fn data(
        &self,
        _: &mamori_smtp::SessionInfo,
        _: &mamori_smtp::Envelope,
        message: Vec<u8>,
    ) -> mamori_smtp::Reply {
        self.0.lock().unwrap().push(message);
        mamori_smtp::Reply::new(250, None, "queued")
    }
}

async fn start_sink() -> (Arc<Sink>, u16) {
    let sink = Arc::new(Sink::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = mamori_smtp::ServerConfig::new("sink.test");
    tokio::spawn(mamori_smtp::listen(
        listener,
        Arc::new(config),
        sink.clone(),
        std::future::pending(),
    ));
    (sink, port)
}

async fn serve_tracking(drill: &Drill) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = drill
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn temp_dir() -> std::path::PathBuf {
    mamori_core::scratch::dir("drill-e2e")
}

/// 12 people in three departments, plus one row with a broken address on line 15.
fn staff_csv() -> Vec<u8> {
    let mut csv = String::from("氏名,メールアドレス,部署,役職\r\n");
    let people = [
        ("s1", "営業部", "部長"),
        ("s2", "営業部", "課長"),
        ("s3", "営業部", "一般"),
        ("s4", "営業部", "一般"),
        ("a1", "経理部", "部長"),
        ("a2", "経理部", "課長"),
        ("a3", "経理部", "一般"),
        ("a4", "経理部", "一般"),
        ("g1", "総務部", "部長"),
        ("g2", "総務部", "課長"),
        ("g3", "総務部", "一般"),
        ("g4", "総務部", "一般"),
    ];
    for (who, dept, pos) in people {
        csv.push_str(&format!("社員 {who},{who}@example.jp,{dept},{pos}\r\n"));
    }
    csv.push_str("重複 s1,S1@Example.jp,,\r\n"); // line 14: merged into s1
    csv.push_str("壊れた行,broken-address,総務部,一般\r\n"); // line 15
    encoding_rs::SHIFT_JIS.encode(&csv).0.into_owned()
}

/// Who each captured mail went to, with its tracking links.
struct Captured {
    raw: Vec<u8>,
    click: String,
    pixel: String,
}

fn parse_captured(mails: &[Vec<u8>], base: &str) -> HashMap<String, Captured> {
    let mut out = HashMap::new();
    for raw in mails {
        let msg = MessageParser::default().parse(raw).expect("mail parses");
        let to = msg
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap()
            .to_string();
        let html = msg.body_html(0).unwrap().into_owned();
        let find = |prefix: &str| {
            let start = html
                .find(prefix)
                .unwrap_or_else(|| panic!("{prefix} in {to}'s mail"));
            let rest = &html[start..];
            rest[..rest.find('"').unwrap()].to_string()
        };
        let click = find(&format!("{base}/t/c/"));
        let pixel = find(&format!("{base}/t/o/"));
        let text = msg.body_text(0).unwrap();
        assert!(text.contains(&click), "text part carries the same link");
        let who = to.split('@').next().unwrap().to_string();
        out.insert(
            who,
            Captured {
                raw: raw.clone(),
                click,
                pixel,
            },
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_is_sent_tracked_reported_and_counted_by_person() {
    let started = Instant::now();
    let dir = temp_dir();
    let drill = Drill::open_with(
        &dir,
        Settings {
            bot: BotRules {
                min_delay: Duration::from_secs(3),
                ..BotRules::default()
            },
            report_address: Some("report@example.jp".into()),
            tick: Duration::from_millis(100),
            ..Settings::default()
        },
    )
    .unwrap();
    let (sink, smtp_port) = start_sink().await;
    let base = serve_tracking(&drill).await;

    // Targets.
    let outcome = drill.import_csv("acme", &staff_csv(), "全社員").unwrap();
    assert_eq!(outcome.imported, 12);
    assert_eq!(outcome.errors.len(), 1);
    assert_eq!(outcome.errors[0].0, 15, "{:?}", outcome.errors);
    let members = drill.members("acme", &outcome.group_id).unwrap();
    assert_eq!(members.len(), 12);
    assert!(members
        .iter()
        .any(|m| m.name == "社員 s1" && m.department == "営業部"));
    assert!(drill
        .members("other-tenant", &outcome.group_id)
        .unwrap()
        .is_empty());

    // Campaign.
    let new = |name: &str, template: &str, per_minute: u32| NewCampaign {
        name: name.into(),
        template_id: template.into(),
        group_ids: vec![outcome.group_id.clone()],
        smtp: SmtpProfile {
            host: "127.0.0.1".into(),
            port: smtp_port,
            ..SmtpProfile::default()
        },
        from_addr: "helpdesk@it-support.test".into(),
        base_url: format!("{base}/"),
        per_minute,
        ..NewCampaign::default()
    };
    let id = drill
        .create_campaign("acme", new("パスワード訓練", "password-ja", 1000))
        .unwrap();
    let all = Scope::All;
    let other = Scope::Tenant("other-tenant".into());
    assert!(matches!(
        drill.campaign(&other, &id),
        Err(DrillError::NoCampaign(_))
    ));
    assert!(drill.campaigns(&other).unwrap().is_empty());
    assert_eq!(drill.campaign(&all, &id).unwrap().state, State::Draft);
    assert!(matches!(
        drill.pause(&all, &id),
        Err(DrillError::Transition { .. })
    ));
    assert_eq!(
        drill.start(&Scope::Tenant("acme".into()), &id).unwrap(),
        State::Scheduled
    );
    assert!(matches!(
        drill.start(&all, &id),
        Err(DrillError::Transition { .. })
    ));

    // Send through the background sender until every mail is out.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sender = tokio::spawn({
        let drill = drill.clone();
        async move {
            drill
                .run_sender(async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.0.lock().unwrap().len() < 12 {
        assert!(Instant::now() < deadline, "sender did not send 12 mails");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_at = Instant::now();
    let mails = sink.0.lock().unwrap().clone();
    let by = parse_captured(&mails, &base);
    assert_eq!(by.len(), 12);

    let http = reqwest::Client::builder()
        .user_agent(BROWSER)
        .build()
        .unwrap();

    // Scanner hits first, within seconds of delivery: all recorded, none counted.
    let r = http.get(&by["g1"].click).send().await.unwrap();
    assert_eq!(r.status(), 200, "a fast click still gets a page");
    http.head(&by["s4"].click).send().await.unwrap();
    http.get(&by["a2"].click)
        .header("user-agent", "Mimecast-Scanner/2.0")
        .send()
        .await
        .unwrap();
    assert!(
        sent_at.elapsed() < Duration::from_secs(3),
        "fast click was not fast"
    );

    // The mail itself.
    let msg = MessageParser::default().parse(&by["s1"].raw).unwrap();
    assert_eq!(
        msg.subject(),
        Some("【重要】パスワードの有効期限が本日切れます")
    );
    assert_eq!(
        msg.header_raw("X-Mamori-Drill").map(str::trim),
        Some(id.as_str())
    );
    assert_eq!(
        msg.from().and_then(|a| a.first()).and_then(|a| a.name()),
        Some("情報システム部")
    );
    assert!(msg
        .body_text(0)
        .unwrap()
        .contains("社員 s1 様（s1@example.jp）"));

    // People act after the scanners' window.
    tokio::time::sleep(
        Duration::from_secs(3).saturating_sub(sent_at.elapsed()) + Duration::from_millis(200),
    )
    .await;
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    for who in ["s1", "s2", "s3", "g3", "g4", "g4"] {
        let r = get(by[who].pixel.clone()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/gif");
    }
    for who in ["s1", "s1", "s2", "a1", "g3"] {
        let page = get(by[who].click.clone()).await.text().await.unwrap();
        assert!(
            page.contains("type=\"password\""),
            "password template shows the landing form"
        );
    }
    for who in ["s1", "g3"] {
        let submit = by[who].click.replace("/t/c/", "/t/s/");
        let r = http
            .post(&submit)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept-language", "en-US,en;q=0.9")
            .body(format!("user={who}%40example.jp&password={PASSWORD}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(
            page.contains("This was a phishing training mail"),
            "English by Accept-Language"
        );
        assert!(page.contains("It asks for your password through a link in a mail"));
    }
    let page = get(by["s2"].click.replace("/t/c/", "/t/e/") + "?lang=ja")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("これは標的型攻撃メールの訓練です"));
    assert!(page.contains("パスワードの入力をメールのリンク先で求めている"));
    assert!(page.contains("report@example.jp"));

    // Reports: one by the endpoint, one forwarded to the report mailbox as an attachment.
    let r = http
        .post(by["a3"].click.replace("/t/c/", "/t/r/"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("報告ありがとうございます"));
    let forwarded = [
        b"From: g2@example.jp\r\nTo: report@example.jp\r\nSubject: Fwd: suspicious\r\n\
          MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n\
          --fwd\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nThis looks fake.\r\n\
          --fwd\r\nContent-Type: message/rfc822\r\n\r\n"
            .as_slice(),
        &by["g2"].raw,
        b"\r\n--fwd--\r\n",
    ]
    .concat();
    let reported = drill
        .handle_report_mail(&forwarded)
        .unwrap()
        .expect("a training mail");
    assert_eq!(reported.email, "g2@example.jp");
    assert_eq!(reported.campaign_id, id);
    assert_eq!(
        drill
            .handle_report_mail(b"Subject: hello\r\n\r\nnothing here\r\n")
            .unwrap(),
        None
    );

    // Unknown tokens.
    for path in [
        "/t/c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/t/o/nope.gif",
        "/t/a/x",
        "/t/r/%00",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = http
        .post(format!("{base}/t/s/x"))
        .body("password=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // The numbers: people, not hits.
    let results = drill.results(&all, &id).unwrap();
    assert_eq!(results.state, State::Running);
    assert_eq!(
        (
            results.sent,
            results.opened,
            results.clicked,
            results.submitted,
            results.reported,
            results.bot_clicks
        ),
        (12, 6, 4, 2, 2, 3),
    );
    assert_eq!(results.bot_click_events, 3);
    assert_eq!(results.errors, 0);
    let json = serde_json::to_value(&results).unwrap();
    let depts: Vec<(String, u64, u64, u64, u64, u64)> = json["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["department"].as_str().unwrap().to_string(),
                d["sent"].as_u64().unwrap(),
                d["opened"].as_u64().unwrap(),
                d["clicked"].as_u64().unwrap(),
                d["submitted"].as_u64().unwrap(),
                d["reported"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        depts,
        vec![
            ("営業部".to_string(), 4, 3, 2, 1, 0),
            ("経理部".to_string(), 4, 1, 1, 0, 1),
            ("総務部".to_string(), 4, 2, 1, 1, 1),
        ]
    );
    assert_eq!(results.departments[0].funnel.click_rate, 0.5);
    assert_eq!(results.departments[2].funnel.report_rate, 0.25);
    for key in [
        "sent",
        "opened",
        "clicked",
        "submitted",
        "reported",
        "bot_clicks",
    ] {
        assert!(json[key].is_u64(), "{key}");
    }
    let bots: Vec<_> = results.timeline.iter().filter(|e| e.bot).collect();
    assert_eq!(bots.len(), 3);
    assert!(bots
        .iter()
        .any(|e| e.bot_reason.as_deref() == Some("HEAD request")));
    assert!(bots.iter().any(|e| e
        .bot_reason
        .as_deref()
        .is_some_and(|r| r.contains("mimecast"))));
    assert!(bots.iter().any(|e| e
        .bot_reason
        .as_deref()
        .is_some_and(|r| r.contains("after delivery"))));
    let buchou = results
        .positions
        .iter()
        .find(|p| p.position == "部長")
        .unwrap();
    assert_eq!((buchou.funnel.sent, buchou.funnel.clicked), (3, 2));
    let csv = drill.export_csv(&all, &id).unwrap();
    assert_eq!(csv.lines().count(), 13);

    // Pause and resume; a second campaign paced at five a minute.
    assert_eq!(drill.pause(&all, &id).unwrap(), State::Paused);
    assert_eq!(drill.resume(&all, &id).unwrap(), State::Scheduled);
    let _ = stop.send(());
    sender.await.unwrap();
    let second = drill
        .create_campaign("acme", new("請求書訓練", "invoice-ja", 5))
        .unwrap();
    drill.start(&all, &second).unwrap();
    let before = sink.0.lock().unwrap().len();
    assert_eq!(drill.send_due().await.unwrap(), 5);
    assert_eq!(
        drill.send_due().await.unwrap(),
        0,
        "the minute's budget is spent"
    );
    assert_eq!(sink.0.lock().unwrap().len(), before + 5);
    assert_eq!(drill.campaign(&all, &second).unwrap().state, State::Sending);
    assert_eq!(drill.campaign(&all, &id).unwrap().state, State::Running);
    let new_mails = sink.0.lock().unwrap()[before..].to_vec();
    let raw = String::from_utf8_lossy(&new_mails[0]).into_owned();
    assert!(
        raw.contains("Subject: =?ISO-2022-JP?B?"),
        "invoice-ja uses ISO-2022-JP"
    );
    let msg = MessageParser::default().parse(&new_mails[0]).unwrap();
    assert_eq!(
        msg.subject(),
        Some("【ご確認】請求書送付のご案内（お支払期限：今月末）")
    );
    assert_eq!(msg.attachments().count(), 1);
    // One who got both mails clicks both (late enough to be a person): a repeat clicker.
    let second_by = parse_captured(&new_mails, &base);
    let mut who: Vec<&String> = second_by.keys().collect();
    who.sort();
    let who = who[0].clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    get(second_by[&who].click.clone()).await;
    if !["s1", "s2", "a1", "g3"].contains(&who.as_str()) {
        get(by[&who].click.clone()).await;
    }
    let clickers = drill.repeat_clickers("acme").unwrap();
    assert_eq!(clickers.len(), 1, "{clickers:?}");
    assert_eq!(clickers[0].email, format!("{who}@example.jp"));
    assert_eq!((clickers[0].clicked, clickers[0].received), (2, 2));
    assert!(drill.repeat_clickers("other-tenant").unwrap().is_empty());

    // What was typed into the form is nowhere on disk.
    drop(drill);
    for file in ["drill.db", "drill.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(file)) {
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes()),
                "{file} holds the submitted password"
            );
            assert!(!bytes.windows(9).any(|w| w == b"Tr0ub4dor"), "{file}");
        }
    }
    eprintln!("end-to-end campaign test took {:?}", started.elapsed());
    let _ = std::fs::remove_dir_all(dir);
}
