//! The gateway end to end over real SMTP on 127.0.0.1: a client sends to Mamori, Mamori
//! checks, spools and relays to a sink server. Covers plain relay (bytes unchanged), the
//! 411-address Cc guard, hold and release, inbound quarantine and refusal, recovery of the
//! spool by a new process, and bounces.

use mamori_mail::gateway::Gateway;
use mamori_mail::queue::spool::Hold;
use mamori_mail::queue::{NextHop, Queue, QueueConfig};
use mamori_mail::{CheckContext, Direction, Policy};
use mamori_smtp::client::{Client, ClientConfig};
use mamori_smtp::{async_trait, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Sink {
    got: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

#[async_trait]
impl Handler for Sink {
    async fn rcpt_to(&self, _: &SessionInfo, _: &Envelope, to: &str) -> Result<(), Reply> {
        if to.starts_with("nobody@") {
            return Err(Reply::new(550, Some((5, 1, 1)), "No such user here"));
        }
        Ok(())
    }

    async fn data(&self, _: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        self.got.lock().unwrap().push((envelope.clone(), message));
        Reply::queued("sink")
    }
}

async fn serve<H: Handler + 'static>(handler: Arc<H>, max_rcpt: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::new("test.localhost");
    config.max_recipients = max_rcpt;
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
    let sink = Arc::new(Sink::default());
    let sink_addr = serve(sink.clone(), 1000).await;
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
    let gateway = Gateway {
        direction,
        tenant: "acme".into(),
        policy: Policy::default(),
        context: CheckContext {
            company_domains: vec!["acme.example.jp".into()],
            partner_domains: vec!["partner.example.jp".into()],
            colleagues: vec![("山田 太郎".into(), "yamada@acme.example.jp".into())],
            known_recipient_domains: vec!["partner.example.jp".into()],
            ..CheckContext::default()
        },
        queue: queue.clone(),
        bus: None,
        accounts: None,
        console_url: Some("https://console.example".into()),
        hostname: "mamori.test".into(),
        takeover: Default::default(),
    };
    let gateway = serve(Arc::new(gateway), 1000).await;
    Setup {
        gateway,
        sink,
        queue,
    }
}

async fn send(to: SocketAddr, from: &str, rcpts: &[String], message: &[u8]) -> Result<(), String> {
    let client = Client::new(ClientConfig::new("client.test")).unwrap();
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
