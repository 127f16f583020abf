//! The gateway end to end over real SMTP on 127.0.0.1: a client sends to Mamori, Mamori
//! checks, spools and relays to a sink server. Covers plain relay (bytes unchanged), the
//! 411-address Cc guard, hold and release, inbound quarantine and refusal, recovery of the
//! spool by a new process, and bounces.

use mamori_mail::gateway::{Accounts, Gateway};
use mamori_mail::queue::spool::Hold;
use mamori_mail::queue::{NextHop, Queue, QueueConfig};
use mamori_mail::{CheckContext, Direction, Policy};
use mamori_smtp::client::{Client, ClientConfig, Credentials};
use mamori_smtp::{async_trait, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Sink {
    got: Mutex<Vec<(Envelope, Vec<u8>)>>,
    /// The client address of each message's connection.
    peers: Mutex<Vec<SocketAddr>>,
}

#[async_trait]
impl Handler for Sink {
    async fn rcpt_to(&self, _: &SessionInfo, _: &Envelope, to: &str) -> Result<(), Reply> {
        if to.starts_with("nobody") {
            return Err(Reply::new(550, Some((5, 1, 1)), "No such user here"));
        }
        Ok(())
    }

    async fn data(&self, info: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        self.peers.lock().unwrap().push(info.peer);
        self.got.lock().unwrap().push((envelope.clone(), message));
        Reply::queued("sink")
    }
}

async fn serve<H: Handler + 'static>(handler: Arc<H>, max_rcpt: usize) -> SocketAddr {
    let mut config = ServerConfig::new("test.localhost");
    config.max_recipients = max_rcpt;
    serve_with(handler, config).await
}

async fn serve_with<H: Handler + 'static>(handler: Arc<H>, config: ServerConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mamori_smtp::listen(
        listener,
        Arc::new(config),
        handler,
        std::future::pending(),
    ));
    addr
}

fn spool_dir() -> PathBuf {
    std::env::temp_dir().join(format!("mamori-gw-{}", ulid::Ulid::new()))
}

struct Setup {
    gateway: SocketAddr,
    sink: Arc<Sink>,
    queue: Arc<Queue>,
}

async fn setup(direction: Direction, spool: PathBuf) -> Setup {
    setup_with(direction, spool, Policy::default(), None).await
}

/// Staff who may submit mail: one account, `sato@acme.example.jp` with password `pw`.
struct Staff;

#[async_trait]
impl Accounts for Staff {
    async fn verify(&self, user: &str, password: &str) -> bool {
        user == "sato@acme.example.jp" && password == "pw"
    }
}

/// A gateway whose listener requires SMTP AUTH (without TLS, on loopback) against [`Staff`],
/// or the plain listener when `accounts` is `None`.
async fn setup_with(
    direction: Direction,
    spool: PathBuf,
    policy: Policy,
    accounts: Option<Arc<dyn Accounts>>,
) -> Setup {
    let mut sink_config = ServerConfig::new("test.localhost");
    sink_config.max_recipients = 1000;
    setup_full(direction, spool, policy, accounts, sink_config).await
}

/// [`setup_with`], with the sink's server configured as given.
async fn setup_full(
    direction: Direction,
    spool: PathBuf,
    policy: Policy,
    accounts: Option<Arc<dyn Accounts>>,
    sink_config: ServerConfig,
) -> Setup {
    let sink = Arc::new(Sink::default());
    let sink_addr = serve_with(sink.clone(), sink_config).await;
    let queue = Queue::open(
        QueueConfig::new(
            spool,
            NextHop::Relay {
                host: "127.0.0.1".into(),
                port: sink_addr.port(),
            },
            "mamori.test",
        ),
        None,
    )
    .unwrap();
    tokio::spawn(queue.clone().run(std::future::pending()));
    let takeover = Arc::new(mamori_mail::takeover::Tracker::default());
    queue.report_outcomes_to(takeover.clone());
    let authenticating = accounts.is_some();
    let gateway = Gateway {
        direction,
        tenant: "acme".into(),
        policy,
        context: CheckContext {
            company_domains: vec!["acme.example.jp".into()],
            partner_domains: vec!["partner.example.jp".into()],
            colleagues: vec![("山田 太郎".into(), "yamada@acme.example.jp".into())],
            known_recipient_domains: vec!["partner.example.jp".into()],
            ..CheckContext::default()
        },
        queue: queue.clone(),
        bus: None,
        accounts,
        console_url: Some("https://console.example".into()),
        hostname: "mamori.test".into(),
        takeover,
    };
    let mut config = ServerConfig::new("test.localhost");
    config.max_recipients = 1000;
    config.advertise_auth = authenticating;
    config.auth_required = authenticating;
    config.require_tls_for_auth = false;
    let gateway = serve_with(Arc::new(gateway), config).await;
    Setup {
        gateway,
        sink,
        queue,
    }
}

async fn send(to: SocketAddr, from: &str, rcpts: &[String], message: &[u8]) -> Result<(), String> {
    send_as(None, to, from, rcpts, message).await
}

/// Sends, logged in as `login` (user, password) when given.
async fn send_as(
    login: Option<(&str, &str)>,
    to: SocketAddr,
    from: &str,
    rcpts: &[String],
    message: &[u8],
) -> Result<(), String> {
    let mut config = ClientConfig::new("client.test");
    if let Some((user, password)) = login {
        config.credentials = Some(Credentials {
            user: user.into(),
            password: password.into(),
        });
        config.auth_without_tls = true;
    }
    let client = Client::new(config).unwrap();
    let envelope = Envelope {
        mail_from: Some(from.to_string()),
        rcpt_to: rcpts.to_vec(),
        body_8bit: true,
        smtputf8: false,
        size_hint: None,
    };
    let d = client
        .deliver("127.0.0.1", to.port(), &envelope, message)
        .await
        .map_err(|e| e.to_string())?;
    if d.all_accepted() {
        Ok(())
    } else {
        Err(format!(
            "{:?}",
            d.recipients
                .iter()
                .map(|r| r.reply.to_string())
                .collect::<Vec<_>>()
        ))
    }
}

async fn wait_for(sink: &Sink, n: usize) -> Vec<(Envelope, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = sink.got.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn mail(from: &str, to: &str, cc: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\n{cc}Subject: {subject}\r\nMessage-ID: <{}@acme.example.jp>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0900\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        ulid::Ulid::new(),
        cc = if cc.is_empty() { String::new() } else { format!("Cc: {cc}\r\n") }
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ordinary_mail_is_relayed_byte_for_byte() {
    let s = setup(Direction::Outbound, spool_dir()).await;
    let m = mail(
        "sato@acme.example.jp",
        "tanaka@partner.example.jp",
        "",
        "お見積りの件",
        "いつもお世話になっております。\r\n.先頭がドットの行\r\n",
    );
    send(
        s.gateway,
        "sato@acme.example.jp",
        &["tanaka@partner.example.jp".into()],
        &m,
    )
    .await
    .unwrap();
    let got = wait_for(&s.sink, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, m, "delivered bytes equal what was sent");
    assert_eq!(
        got[0].0.rcpt_to,
        vec!["tanaka@partner.example.jp".to_string()]
    );
    assert!(
        s.queue.spool().entries().unwrap().is_empty(),
        "delivered mail leaves the spool"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_reuse_the_next_hops_connection_until_it_closes_it() {
    let mut sink_config = ServerConfig::new("test.localhost");
    // The sink hangs up on a client silent for this long (421), as servers do.
    sink_config.command_timeout = Duration::from_millis(700);
    let s = setup_full(
        Direction::Outbound,
        spool_dir(),
        Policy::default(),
        None,
        sink_config,
    )
    .await;
    let to = ["tanaka@partner.example.jp".to_string()];
    for n in 1..=3 {
        let m = mail(
            "sato@acme.example.jp",
            &to[0],
            "",
            &format!("第{n}便"),
            "本文\r\n",
        );
        send(s.gateway, "sato@acme.example.jp", &to, &m)
            .await
            .unwrap();
        assert_eq!(wait_for(&s.sink, n).await.len(), n);
    }
    let peers = s.sink.peers.lock().unwrap().clone();
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection carried all three messages: {peers:?}"
    );

    // The sink closes the idle connection; the next message still goes, over a new one.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let m = mail("sato@acme.example.jp", &to[0], "", "第4便", "本文\r\n");
    send(s.gateway, "sato@acme.example.jp", &to, &m)
        .await
        .unwrap();
    let got = wait_for(&s.sink, 4).await;
    assert_eq!(got.len(), 4, "the message after the hang-up was delivered");
    assert_eq!(got[3].1, m);
    let peers = s.sink.peers.lock().unwrap().clone();
    assert_ne!(
        peers[3], peers[0],
        "a new connection after the server closed the old one"
    );
    let deferred = s.queue.spool().entries().unwrap();
    assert!(deferred.is_empty(), "nothing deferred: {deferred:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn four_hundred_eleven_addresses_in_cc_are_hidden_but_all_delivered() {
    let s = setup(Direction::Outbound, spool_dir()).await;
    let rcpts: Vec<String> = (0..411)
        .map(|i| format!("citizen{i}@provider{}.com", i % 40))
        .collect();
    let m = mail(
        "kouhou@acme.example.jp",
        "kouhou@acme.example.jp",
        &rcpts.join(",\r\n "),
        "イベントのお知らせ",
        "ご参加ありがとうございました。",
    );
    send(s.gateway, "kouhou@acme.example.jp", &rcpts, &m)
        .await
        .unwrap();
    let got = wait_for(&s.sink, 2).await;
    assert_eq!(got.len(), 2, "the mail and the sender's note");
    let (env, sent) = got
        .iter()
        .find(|(e, _)| e.rcpt_to.len() > 1)
        .expect("the mail itself");
    assert_eq!(env.rcpt_to.len(), 411, "every citizen still gets the mail");
    let text = String::from_utf8_lossy(sent);
    assert!(
        !text.contains("citizen1@"),
        "no recipient sees another's address"
    );
    assert!(text.contains("To: undisclosed-recipients:;"));
    let (note_env, note) = got
        .iter()
        .find(|(e, _)| e.rcpt_to.len() == 1)
        .expect("the sender's note");
    assert_eq!(note_env.rcpt_to, vec!["kouhou@acme.example.jp".to_string()]);
    assert!(note_env.mail_from.is_none());
    let note = String::from_utf8_lossy(note).to_string();
    let b64: String = note
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    use base64::Engine;
    let body = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    assert!(
        body.contains("411 external addresses") && body.contains("Bcc に変えて送信しました"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn held_mail_waits_until_released() {
    let s = setup(Direction::Outbound, spool_dir()).await;
    let mut csv = String::from("氏名,電話,住所\r\n");
    for i in 0..60 {
        csv.push_str(&format!(
            "顧客{i},03-{:04}-{:04},〒100-0001 東京都千代田区千代田{}-1\r\n",
            1000 + i,
            2000 + i,
            i + 1
        ));
    }
    let m = mail(
        "sato@acme.example.jp",
        "someone@partmer.example.jp",
        "",
        "顧客一覧",
        &csv,
    );
    send(
        s.gateway,
        "sato@acme.example.jp",
        &["someone@partmer.example.jp".into()],
        &m,
    )
    .await
    .unwrap();
    // The sender is told, with signed links; the held mail itself does not leave.
    let got = wait_for(&s.sink, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.sink.got.lock().unwrap().len(),
        1,
        "only the notice leaves"
    );
    assert_eq!(got[0].0.rcpt_to, vec!["sato@acme.example.jp".to_string()]);
    assert!(
        got[0].0.mail_from.is_none(),
        "notices are sent with the null sender"
    );
    let raw = String::from_utf8_lossy(&got[0].1).to_string();
    let b64: String = raw
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    use base64::Engine;
    let text = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    let entries = s.queue.spool().entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert!(
        matches!(entries[0].hold, Some(Hold::Held { .. })),
        "{:?}",
        entries[0].hold
    );
    let id = &entries[0].id;
    assert!(
        text.contains("保留の理由") && text.contains("Why it was held"),
        "{text}"
    );
    let secret = s.queue.spool().link_secret().unwrap();
    let sig = mamori_core::sign::mail_action_signature(&secret, id, "release");
    assert!(
        text.contains(&format!(
            "https://console.example/mail/action/{id}/release?sig={sig}"
        )),
        "{text}"
    );
    s.queue.release(id).unwrap();
    assert_eq!(
        wait_for(&s.sink, 2).await.len(),
        2,
        "released mail is delivered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inbound_spoofs_are_quarantined_and_worst_mail_refused() {
    let s = setup(Direction::Inbound, spool_dir()).await;
    let spoof = mail(
        "\"山田 太郎\" <yamada.taro@freemail-example.com>",
        "sato@acme.example.jp",
        "",
        "RE: 見積書の件",
        "添付をご確認ください。パスワードは別途お送りします。",
    );
    let result = send(
        s.gateway,
        "yamada.taro@freemail-example.com",
        &["sato@acme.example.jp".into()],
        &spoof,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let entries = s.queue.spool().entries().unwrap();
    match result {
        Ok(()) => {
            assert!(
                s.sink
                    .got
                    .lock()
                    .unwrap()
                    .iter()
                    .all(|(_, m)| String::from_utf8_lossy(m).contains("X-Mamori-Verdict"))
                    || !entries.is_empty()
            );
        }
        Err(e) => assert!(e.contains("550"), "{e}"),
    }
    let quarantined = entries
        .iter()
        .filter(|e| matches!(e.hold, Some(Hold::Quarantined { .. })))
        .count();
    let tagged = s
        .sink
        .got
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| String::from_utf8_lossy(m).contains("X-Mamori-Verdict: tag"))
        .count();
    assert_eq!(
        quarantined + tagged,
        1,
        "the spoof is tagged or quarantined, never delivered as is"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_process_delivers_what_the_old_one_accepted() {
    let spool = spool_dir();
    // First process: the next hop is down, so the message stays in the spool.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let q1 = Queue::open(
        QueueConfig::new(
            spool.clone(),
            NextHop::Relay {
                host: "127.0.0.1".into(),
                port: dead.port(),
            },
            "m",
        ),
        None,
    )
    .unwrap();
    let gw = Gateway {
        direction: Direction::Outbound,
        tenant: "acme".into(),
        policy: Policy::default(),
        context: CheckContext {
            company_domains: vec!["acme.example.jp".into()],
            known_recipient_domains: vec!["partner.example.jp".into()],
            ..CheckContext::default()
        },
        queue: q1.clone(),
        bus: None,
        accounts: None,
        console_url: Some("https://console.example".into()),
        hostname: "mamori.test".into(),
        takeover: Default::default(),
    };
    let addr = serve(Arc::new(gw), 10).await;
    let m = mail(
        "sato@acme.example.jp",
        "tanaka@partner.example.jp",
        "",
        "test",
        "body",
    );
    send(
        addr,
        "sato@acme.example.jp",
        &["tanaka@partner.example.jp".into()],
        &m,
    )
    .await
    .unwrap();
    q1.deliver_due().await.unwrap();
    let e = &q1.spool().entries().unwrap()[0];
    assert_eq!(e.attempts, 1);
    assert!(!e.last_error.is_empty());
    // Accepted into the journal; deferred, it has a file of its own.
    assert!(!q1.spool().in_journal(&e.id));
    assert!(spool.join("msg").join(format!("{}.mail", e.id)).exists());
    drop(q1);
    // Second process over the same spool, with the next hop back.
    let s = setup(Direction::Outbound, spool.clone()).await;
    let id = s.queue.spool().entries().unwrap()[0].id.clone();
    s.queue.retry_now(&id).unwrap();
    let got = wait_for(&s.sink, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, m);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permanent_failure_bounces_to_the_sender() {
    let s = setup(Direction::Outbound, spool_dir()).await;
    let m = mail(
        "sato@acme.example.jp",
        "nobody@partner.example.jp",
        "",
        "test",
        "body",
    );
    send(
        s.gateway,
        "sato@acme.example.jp",
        &[
            "nobody@partner.example.jp".into(),
            "tanaka@partner.example.jp".into(),
        ],
        &m,
    )
    .await
    .unwrap();
    let got = wait_for(&s.sink, 2).await;
    assert_eq!(got.len(), 2, "the mail for tanaka and the bounce for sato");
    let bounce = got
        .iter()
        .find(|(e, _)| e.mail_from.is_none())
        .expect("a bounce with the null sender");
    assert_eq!(bounce.0.rcpt_to, vec!["sato@acme.example.jp".to_string()]);
    let text = String::from_utf8_lossy(&bounce.1);
    assert!(
        text.contains("multipart/report")
            && text.contains("nobody@partner.example.jp")
            && text.contains("550")
    );
}

/// Decodes the base64 text body of a notice.
fn notice_text(raw: &[u8]) -> String {
    use base64::Engine;
    let raw = String::from_utf8_lossy(raw);
    let b64: String = raw
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approver_gets_the_hold_notice_with_the_same_links() {
    let policy = Policy {
        first_time_domain_action: mamori_mail::policy::OutboundAction::Hold,
        hold_approvers: vec!["boss@acme.example.jp".into()],
        ..Policy::default()
    };
    let s = setup_with(Direction::Outbound, spool_dir(), policy, None).await;
    let m = mail(
        "sato@acme.example.jp",
        "someone@newcustomer.example",
        "",
        "見積書",
        "よろしくお願いします。",
    );
    send(
        s.gateway,
        "sato@acme.example.jp",
        &["someone@newcustomer.example".into()],
        &m,
    )
    .await
    .unwrap();
    let got = wait_for(&s.sink, 2).await;
    assert_eq!(
        got.len(),
        2,
        "a notice to the sender and one to the approver: {:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    let id = s.queue.spool().entries().unwrap()[0].id.clone();
    let secret = s.queue.spool().link_secret().unwrap();
    let cancel = format!(
        "https://console.example/mail/action/{id}/cancel?sig={}",
        mamori_core::sign::mail_action_signature(&secret, &id, "cancel")
    );
    let to = |who: &str| {
        got.iter()
            .find(|(e, _)| e.rcpt_to == vec![who.to_string()])
            .map(|(_, raw)| notice_text(raw))
            .unwrap_or_else(|| panic!("no notice to {who}"))
    };
    let sender = to("sato@acme.example.jp");
    let approver = to("boss@acme.example.jp");
    assert!(sender.contains(&cancel) && approver.contains(&cancel));
    assert!(
        approver.contains("sato@acme.example.jp さんが送信したメールを保留しました")
            && approver.contains("As an approver"),
        "{approver}"
    );
    assert!(!sender.contains("承認者"), "{sender}");
}

/// An account whose password was guessed, used through an authenticated SMTP session as a
/// spam relay: past the hourly limit its mail is held, not sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_taken_over_account_sending_spam_is_held() {
    let policy = Policy {
        account_max_recipients_per_hour: 40,
        mass_recipients_threshold: 1000,
        ..Policy::default()
    };
    let s = setup_with(
        Direction::Outbound,
        spool_dir(),
        policy,
        Some(Arc::new(Staff)),
    )
    .await;
    let login = Some(("sato@acme.example.jp", "pw"));
    let spam = |i: usize| {
        let rcpts: Vec<String> = (0..10)
            .map(|j| format!("victim{i}-{j}@partner.example.jp"))
            .collect();
        let m = mail("sato@acme.example.jp", &rcpts[0], "", "Invoice", "pay now");
        (rcpts, m)
    };
    assert!(
        send(s.gateway, "sato@acme.example.jp", &spam(0).0, &spam(0).1)
            .await
            .is_err(),
        "the listener requires authentication"
    );
    for i in 0..4 {
        let (rcpts, m) = spam(i);
        send_as(login, s.gateway, "sato@acme.example.jp", &rcpts, &m)
            .await
            .unwrap();
    }
    assert_eq!(wait_for(&s.sink, 4).await.len(), 4, "40 recipients pass");
    let (rcpts, m) = spam(4);
    send_as(login, s.gateway, "sato@acme.example.jp", &rcpts, &m)
        .await
        .unwrap();
    let held = s.queue.spool().entries().unwrap();
    let held: Vec<_> = held
        .iter()
        .filter(|e| matches!(e.hold, Some(Hold::Held { .. })))
        .collect();
    assert_eq!(held.len(), 1, "the 41st recipient holds the message");
    assert_eq!(held[0].auth_user.as_deref(), Some("sato@acme.example.jp"));
    let report = held[0].report.as_ref().unwrap().to_string();
    assert!(report.contains("mail.account_takeover"), "{report}");
}

/// Most recipients refused by the next hop (a spammer's list of dead addresses): the
/// queue reports the refusals and the account's next message is held.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_whose_recipients_are_mostly_refused_is_held() {
    let s = setup_with(
        Direction::Outbound,
        spool_dir(),
        Policy {
            mass_recipients_threshold: 1000,
            ..Policy::default()
        },
        Some(Arc::new(Staff)),
    )
    .await;
    let login = Some(("sato@acme.example.jp", "pw"));
    let mut rcpts: Vec<String> = (0..12)
        .map(|j| format!("nobody{j}@partner.example.jp"))
        .collect();
    rcpts.push("tanaka@partner.example.jp".into());
    let m = mail("sato@acme.example.jp", &rcpts[0], "", "hello", "hi");
    send_as(login, s.gateway, "sato@acme.example.jp", &rcpts, &m)
        .await
        .unwrap();
    // tanaka's copy and the bounce to sato: the delivery has finished and been reported.
    let got = wait_for(&s.sink, 2).await;
    assert_eq!(
        got.len(),
        2,
        "{:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    let next = mail(
        "sato@acme.example.jp",
        "tanaka@partner.example.jp",
        "",
        "hello again",
        "hi",
    );
    send_as(
        login,
        s.gateway,
        "sato@acme.example.jp",
        &["tanaka@partner.example.jp".into()],
        &next,
    )
    .await
    .unwrap();
    let entries = s.queue.spool().entries().unwrap();
    let held = entries
        .iter()
        .find(|e| matches!(e.hold, Some(Hold::Held { .. })))
        .expect("the next message is held");
    let report = held.report.as_ref().unwrap().to_string();
    assert!(report.contains("refused 12"), "{report}");
}
