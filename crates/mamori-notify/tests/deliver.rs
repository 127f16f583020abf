//! End-to-end: notifications to a test SMTP sink and a test webhook server on 127.0.0.1,
//! with a stepped clock. Proves throttling, escalation, retries, failures, quiet hours, the
//! rate limit, and that the mail a person receives decodes to the Japanese subject.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Json;
use mamori_core::{Engine, Incident, IncidentState, Severity};
use mamori_notify::{
    Channel, Clock, LogOutcome, Notice, Notifier, NotifyConfig, Outcome, SuppressReason, Trigger,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::macros::datetime;
use time::OffsetDateTime;

const TOKEN: &str = "T000-secret-token";

/// An SMTP next hop that keeps every message, after refusing the first `fail_first`
/// with 451.
#[derive(Default)]
struct Sink {
    messages: Mutex<Vec<Vec<u8>>>,
    fail_first: AtomicUsize,
}

#[mamori_smtp::async_trait]
impl mamori_smtp::Handler for Sink {
    async fn data(
        &self,
        _: &mamori_smtp::SessionInfo,
        _: &mamori_smtp::Envelope,
        message: Vec<u8>,
    ) -> mamori_smtp::Reply {
        let failing = self
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return mamori_smtp::Reply::new(451, Some((4, 3, 0)), "try again later");
        }
        self.messages.lock().unwrap().push(message);
        mamori_smtp::Reply::queued("sink")
    }
}

impl Sink {
    async fn start(fail_first: usize) -> (Arc<Sink>, u16) {
        let sink = Arc::new(Sink {
            fail_first: AtomicUsize::new(fail_first),
            ..Sink::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(mamori_smtp::listen(
            listener,
            Arc::new(mamori_smtp::ServerConfig::new("sink.test")),
            sink.clone(),
            std::future::pending(),
        ));
        (sink, port)
    }

    fn messages(&self) -> Vec<Vec<u8>> {
        self.messages.lock().unwrap().clone()
    }
}

/// A webhook receiver that records bodies, after failing the first `fail_first` requests
/// with `status` (429 comes with `Retry-After: 1`).
struct Hook {
    bodies: Mutex<Vec<serde_json::Value>>,
    hits: AtomicUsize,
    fail_first: AtomicUsize,
    status: StatusCode,
}

impl Hook {
    async fn start(fail_first: usize, status: StatusCode) -> (Arc<Hook>, String) {
        let hook = Arc::new(Hook {
            bodies: Mutex::new(Vec::new()),
            hits: AtomicUsize::new(0),
            fail_first: AtomicUsize::new(fail_first),
            status,
        });
        let app = axum::Router::new()
            .route("/hook/{token}", post(receive))
            .with_state(hook.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook/{TOKEN}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (hook, url)
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies.lock().unwrap().clone()
    }
}

async fn receive(
    State(hook): State<Arc<Hook>>,
    Json(body): Json<serde_json::Value>,
) -> (StatusCode, HeaderMap) {
    hook.hits.fetch_add(1, Ordering::SeqCst);
    let failing = hook
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let mut headers = HeaderMap::new();
    if failing {
        if hook.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert("retry-after", "1".parse().unwrap());
        }
        return (hook.status, headers);
    }
    hook.bodies.lock().unwrap().push(body);
    (StatusCode::OK, headers)
}

/// A clock the test moves.
struct Stepped(Mutex<OffsetDateTime>);

impl Clock for Stepped {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl Stepped {
    fn at(t: OffsetDateTime) -> Arc<Stepped> {
        Arc::new(Stepped(Mutex::new(t)))
    }
    fn set(&self, t: OffsetDateTime) {
        *self.0.lock().unwrap() = t;
    }
}

fn temp_dir() -> PathBuf {
    mamori_core::scratch::dir("notify")
}

/// `[notify]` with short retry delays; `rule` is the TOML of the one rule.
fn config(smtp_port: Option<u16>, extra: &str, rule: &str) -> NotifyConfig {
    let smtp = smtp_port
        .map(|p| {
            format!("smtp = {{ host = \"127.0.0.1\", port = {p}, starttls = false, from = \"mamori@example.jp\" }}\n")
        })
        .unwrap_or_default();
    let text = format!(
        "{smtp}console_url = \"https://console.example.jp\"\n{extra}\n\
         retry = {{ attempts = 4, initial_delay_ms = 20, max_delay_ms = 100, timeout_secs = 5 }}\n\
         [[rules]]\nname = \"acme-admins\"\n{rule}\n"
    );
    toml::from_str(&text).expect("test config")
}

fn incident(severity: Severity) -> Incident {
    let t = datetime!(2025-03-01 10:00 +09:00);
    Incident {
        id: ulid::Ulid::new(),
        tenant: "acme".into(),
        asset: "host:10.0.0.5".into(),
        title: "社内PCから C2 サーバーへの定期通信".into(),
        severity,
        state: IncidentState::New,
        assignee: None,
        alert_count: 1,
        first_seen: t,
        last_seen: t,
        updated_at: t,
        first_response: None,
        contained: None,
    }
}

fn notice(incident: &Incident, trigger: Trigger) -> Notice {
    Notice {
        incident: incident.clone(),
        trigger,
        engines: vec![Engine::Ids],
        summary: "10.0.0.5 が 203.0.113.7 へ定期的に通信".into(),
        link: None,
    }
}

const DAY: OffsetDateTime = datetime!(2025-03-01 10:00 +09:00);

#[tokio::test]
async fn fifty_updates_send_one_mail_and_one_webhook_and_escalation_sends_again() {
    let (sink, smtp_port) = Sink::start(0).await;
    let (hook, url) = Hook::start(0, StatusCode::OK).await;
    let dir = temp_dir();
    let clock = Stepped::at(DAY);
    let rule = format!("mail = [\"admin@acme.example.jp\"]\nwebhook = {{ url = \"{url}\" }}");
    let notifier =
        Notifier::with_clock(config(Some(smtp_port), "", &rule), &dir, clock.clone()).unwrap();

    let mut inc = incident(Severity::High);
    let first = notifier.handle(notice(&inc, Trigger::Opened)).await;
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first
        .iter()
        .all(|d| d.outcome == Outcome::Sent { attempts: 1 }));
    for minute in 1..=50 {
        inc.alert_count += 1;
        clock.set(DAY + time::Duration::seconds(minute * 60));
        let d = notifier.handle(notice(&inc, Trigger::Updated)).await;
        assert_eq!(d[0].outcome, Outcome::Suppressed(SuppressReason::Throttled));
    }
    assert_eq!(sink.messages().len(), 1);
    assert_eq!(hook.bodies().len(), 1);

    inc.severity = Severity::Critical;
    let raised = notifier
        .handle(notice(
            &inc,
            Trigger::SeverityRaised {
                from: Severity::High,
            },
        ))
        .await;
    assert!(raised
        .iter()
        .all(|d| matches!(d.outcome, Outcome::Sent { .. })));
    assert_eq!(sink.messages().len(), 2);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["trigger"], "severity_raised");
    assert_eq!(bodies[1]["severity"], "critical");
    assert_eq!(bodies[1]["more_alerts"], 50);
    assert_eq!(bodies[0]["incident_id"], inc.id.to_string());

    // The mail a person gets: a Japanese subject that decodes, a body with the facts.
    let messages = sink.messages();
    let parsed = mail_parser::MessageParser::default()
        .parse(&messages[1])
        .expect("the mail parses");
    assert_eq!(
        parsed.subject(),
        Some("[Mamori][重大] acme : 深刻度が上昇 社内PCから C2 サーバーへの定期通信")
    );
    let body = parsed.body_text(0).expect("a text body");
    assert!(
        body.contains("深刻度が「高」から「重大」に上がりました。"),
        "{body}"
    );
    assert!(body.contains("さらに 50 件のアラート"), "{body}");
    assert!(
        body.contains(&format!("https://console.example.jp/incidents/{}", inc.id)),
        "{body}"
    );
    assert!(parsed.message_id().is_some() && parsed.date().is_some());

    // The log: 2 + 2 sent, 50 suppressed, newest first, the webhook by host only.
    let log = notifier.sent_log(Some("acme"), 1000).unwrap();
    assert_eq!(log.len(), 54);
    assert_eq!(log[0].trigger, "severity_raised");
    let suppressed = log
        .iter()
        .filter(|e| e.reason == Some(SuppressReason::Throttled))
        .count();
    assert_eq!(suppressed, 50);
    let hook_entry = log
        .iter()
        .find(|e| e.channel == Some(Channel::Webhook))
        .unwrap();
    assert_eq!(hook_entry.target.as_deref(), Some("127.0.0.1"));
    assert!(notifier.sent_log(Some("other"), 10).unwrap().is_empty());
    let raw = std::fs::read_to_string(dir.join("notify-log.jsonl")).unwrap();
    assert!(
        !raw.contains(TOKEN),
        "the webhook token leaked into the log"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_webhook_failing_twice_is_delivered_once_on_the_third_attempt() {
    let (hook, url) = Hook::start(2, StatusCode::INTERNAL_SERVER_ERROR).await;
    let dir = temp_dir();
    let rule = format!("webhook = {{ url = \"{url}\", format = \"slack\" }}");
    let notifier = Notifier::with_clock(
        config(None, "language = \"en\"", &rule),
        &dir,
        Stepped::at(DAY),
    )
    .unwrap();
    let d = notifier
        .handle(notice(&incident(Severity::High), Trigger::Opened))
        .await;
    assert_eq!(d[0].outcome, Outcome::Sent { attempts: 3 });
    assert_eq!(hook.hits.load(Ordering::SeqCst), 3);
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1);
    let text = bodies[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("[Mamori][High] acme: New incident:"),
        "{text}"
    );
    assert_eq!(bodies[0]["blocks"][0]["type"], "header");
    let log = notifier.sent_log(None, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].outcome, log[0].attempts), (LogOutcome::Sent, 3));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_429_is_retried_after_the_capped_retry_after() {
    let (hook, url) = Hook::start(1, StatusCode::TOO_MANY_REQUESTS).await;
    let dir = temp_dir();
    let rule = format!("webhook = {{ url = \"{url}\", format = \"teams\" }}");
    let notifier = Notifier::with_clock(config(None, "", &rule), &dir, Stepped::at(DAY)).unwrap();
    let started = std::time::Instant::now();
    let d = notifier
        .handle(notice(&incident(Severity::High), Trigger::Opened))
        .await;
    assert_eq!(d[0].outcome, Outcome::Sent { attempts: 2 });
    // Retry-After: 1 is capped at max_delay_ms = 100.
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(hook.bodies()[0]["@type"], "MessageCard");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_webhook_failing_always_fails_after_the_last_attempt_without_hanging() {
    let (hook, url) = Hook::start(usize::MAX, StatusCode::BAD_GATEWAY).await;
    let (refusing, refusing_url) = Hook::start(usize::MAX, StatusCode::NOT_FOUND).await;
    let dir = temp_dir();
    let rule = format!("webhook = {{ url = \"{url}\" }}");
    let notifier = Notifier::with_clock(config(None, "", &rule), &dir, Stepped::at(DAY)).unwrap();
    let d = tokio::time::timeout(
        Duration::from_secs(10),
        notifier.handle(notice(&incident(Severity::High), Trigger::Opened)),
    )
    .await
    .expect("gives up in bounded time");
    match &d[0].outcome {
        Outcome::Failed { attempts, error } => {
            assert_eq!(*attempts, 4);
            assert!(error.contains("502"), "{error}");
            assert!(!error.contains(TOKEN));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(hook.hits.load(Ordering::SeqCst), 4);
    let log = notifier.sent_log(None, 10).unwrap();
    assert_eq!((log[0].outcome, log[0].attempts), (LogOutcome::Failed, 4));

    // 404 is final: no retries.
    let rule = format!("webhook = {{ url = \"{refusing_url}\" }}");
    let dir2 = temp_dir();
    let notifier = Notifier::with_clock(config(None, "", &rule), &dir2, Stepped::at(DAY)).unwrap();
    let d = notifier
        .handle(notice(&incident(Severity::High), Trigger::Opened))
        .await;
    assert!(
        matches!(d[0].outcome, Outcome::Failed { attempts: 1, .. }),
        "{d:?}"
    );
    assert_eq!(refusing.hits.load(Ordering::SeqCst), 1);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}

#[tokio::test]
async fn mail_refused_with_451_is_retried() {
    let (sink, smtp_port) = Sink::start(1).await;
    let dir = temp_dir();
    let notifier = Notifier::with_clock(
        config(
            Some(smtp_port),
            "",
            "mail = [\"a@acme.example.jp\", \"b@acme.example.jp\"]",
        ),
        &dir,
        Stepped::at(DAY),
    )
    .unwrap();
    let d = notifier
        .handle(notice(&incident(Severity::High), Trigger::Opened))
        .await;
    assert_eq!(d[0].outcome, Outcome::Sent { attempts: 2 }, "{d:?}");
    assert_eq!(sink.messages().len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn quiet_hours_hold_a_medium_incident_until_morning_and_send_a_critical_one() {
    let (hook, url) = Hook::start(0, StatusCode::OK).await;
    let dir = temp_dir();
    let night = datetime!(2025-03-01 23:30 +09:00);
    let clock = Stepped::at(night);
    let rule = format!("webhook = {{ url = \"{url}\" }}");
    let quiet = "quiet = { start = \"22:00\", end = \"07:00\" }";
    let notifier = Notifier::with_clock(config(None, quiet, &rule), &dir, clock.clone()).unwrap();

    let mut medium = incident(Severity::Medium);
    let d = notifier.handle(notice(&medium, Trigger::Opened)).await;
    assert_eq!(d[0].outcome, Outcome::Held);
    // Later that night it grows; the digest will show its latest state, still as new.
    clock.set(datetime!(2025-03-02 00:45 +09:00));
    medium.alert_count = 9;
    let d = notifier.handle(notice(&medium, Trigger::Updated)).await;
    assert_eq!(d[0].outcome, Outcome::Held);
    let critical = incident(Severity::Critical);
    let d = notifier.handle(notice(&critical, Trigger::Opened)).await;
    assert_eq!(d[0].outcome, Outcome::Sent { attempts: 1 });
    assert!(notifier.flush().await.is_empty(), "still quiet");
    assert_eq!(hook.bodies().len(), 1);

    // A restart during the night keeps the held notice.
    drop(notifier);
    let notifier = Notifier::with_clock(config(None, quiet, &rule), &dir, clock.clone()).unwrap();
    clock.set(datetime!(2025-03-02 07:05 +09:00));
    let d = notifier.flush().await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].outcome, Outcome::Sent { attempts: 1 });
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["digest"], "quiet_hours");
    let held = &bodies[1]["incidents"];
    assert_eq!(held.as_array().map(Vec::len), Some(1));
    assert_eq!(held[0]["incident_id"], medium.id.to_string());
    assert_eq!(held[0]["trigger"], "opened");
    assert_eq!(held[0]["alert_count"], 9);
    assert!(notifier.flush().await.is_empty(), "the digest goes once");

    let log = notifier.sent_log(Some("acme"), 10).unwrap();
    let outcomes: Vec<_> = log
        .iter()
        .map(|e| (e.trigger.as_str(), e.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("quiet_digest", LogOutcome::Sent),
            ("opened", LogOutcome::Sent),
            ("updated", LogOutcome::Held),
            ("opened", LogOutcome::Held),
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_hourly_limit_drops_a_storm_and_reports_it_once_the_hour_frees() {
    let (hook, url) = Hook::start(0, StatusCode::OK).await;
    let dir = temp_dir();
    let clock = Stepped::at(DAY);
    let rule = format!("webhook = {{ url = \"{url}\" }}\nmax_per_hour = 3");
    let notifier = Notifier::with_clock(config(None, "", &rule), &dir, clock.clone()).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let d = notifier
            .handle(notice(&incident(Severity::High), Trigger::Opened))
            .await;
        outcomes.push(d[0].outcome.clone());
    }
    let limited = outcomes
        .iter()
        .filter(|o| **o == Outcome::Suppressed(SuppressReason::RateLimit))
        .count();
    assert_eq!((hook.bodies().len(), limited), (3, 7));
    assert!(notifier.flush().await.is_empty());
    clock.set(DAY + time::Duration::minutes(61));
    let d = notifier.flush().await;
    assert_eq!(d.len(), 1);
    let bodies = hook.bodies();
    assert_eq!(bodies[3]["digest"], "rate_limit");
    assert_eq!(bodies[3]["count"], 7);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_background_loop_delivers_and_stops_on_shutdown() {
    let (hook, url) = Hook::start(0, StatusCode::OK).await;
    let dir = temp_dir();
    let rule = format!("webhook = {{ url = \"{url}\" }}");
    let notifier = Notifier::new(config(None, "", &rule), &dir).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(notifier.clone().run(rx, async {
        let _ = stop_rx.await;
    }));
    let inc = incident(Severity::High);
    for _ in 0..5 {
        tx.send(notice(&inc, Trigger::Updated)).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while notifier.sent_log(None, 10).unwrap().len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loop handled the notices"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops")
        .unwrap();
    assert_eq!(hook.bodies().len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}
