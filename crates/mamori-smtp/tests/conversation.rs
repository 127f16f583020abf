//! Real conversations over 127.0.0.1 between the crate's client and its server: what a
//! queue relies on when it hands mail to a next hop, and what a sender relies on when it
//! hands mail to the gateway.

mod common;

use common::{TestCertificate, TestServer};
use mamori_smtp::{
    CertificateCheck, Client, ClientConfig, Credentials, Envelope, Error, RecipientStatus,
    ServerConfig, StartTls,
};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        mail_from: Some(from.to_string()),
        rcpt_to: to.iter().map(|s| s.to_string()).collect(),
        ..Envelope::default()
    }
}

fn client(config: ClientConfig) -> Client {
    Client::new(config).expect("client config")
}

fn plain_client() -> Client {
    client(ClientConfig {
        starttls: StartTls::Never,
        ..ClientConfig::new("gateway.test")
    })
}

/// A message with everything that tends to get mangled: lines starting with dots, a line
/// that is only a dot, Japanese UTF-8 in headers and body, trailing spaces, empty lines.
fn tricky_message() -> Vec<u8> {
    let text = "From: 田中 太郎 <tanaka@example.jp>\r\n\
                To: sato@example.jp\r\n\
                Subject: =?UTF-8?B?5Lya6K2w44Gu44GK55+l44KJ44Gb?=\r\n\
                Content-Type: text/plain; charset=UTF-8\r\n\
                Content-Transfer-Encoding: 8bit\r\n\
                \r\n\
                お疲れ様です。明日の会議は10時からです。\r\n\
                .\r\n\
                ..\r\n\
                .leading dot\r\n\
                trailing spaces   \r\n\
                \r\n\
                半角ｶﾅと全角カナ、①②③\r\n\
                -- \r\n\
                田中\r\n";
    text.as_bytes().to_vec()
}

#[tokio::test]
async fn delivered_bytes_equal_sent_bytes() {
    let server = TestServer::start(ServerConfig::new("mx.test")).await;
    let message = tricky_message();
    let delivery = plain_client()
        .deliver(
            "127.0.0.1",
            server.addr.port(),
            &envelope("tanaka@example.jp", &["sato@example.jp"]),
            &message,
        )
        .await
        .expect("delivery");
    assert!(delivery.all_accepted(), "{delivery:?}");
    assert!(delivery.recipients[0].reply.text().contains("Queued as 1"));
    let received = server.handler.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message, message, "bytes changed in transit");
    assert_eq!(
        received[0].envelope.mail_from.as_deref(),
        Some("tanaka@example.jp")
    );
    assert_eq!(received[0].envelope.rcpt_to, vec!["sato@example.jp"]);
    // The client declared the size and 8-bit content because the server offered both.
    assert_eq!(received[0].envelope.size_hint, Some(message.len() as u64));
    assert!(received[0].envelope.body_8bit);
    assert_eq!(received[0].session.helo.as_deref(), Some("gateway.test"));
    assert!(!received[0].session.tls);
}

#[tokio::test]
async fn each_recipient_gets_its_own_outcome_with_and_without_pipelining() {
    for pipelining in [true, false] {
        let server = TestServer::start(ServerConfig::new("mx.test")).await;
        let client = client(ClientConfig {
            starttls: StartTls::Never,
            pipelining,
            ..ClientConfig::new("gateway.test")
        });
        let mut session = client
            .connect("127.0.0.1", server.addr.port())
            .await
            .expect("connect");
        assert!(session.extensions().pipelining);
        let recipients = [
            "a@example.jp",
            "unknown@example.jp",
            "busy@example.jp",
            "b@example.jp",
        ];
        let delivery = session
            .send(
                &envelope("s@example.jp", &recipients),
                b"Subject: x\r\n\r\nhi\r\n",
            )
            .await
            .expect("send");
        let statuses: Vec<_> = delivery.recipients.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                RecipientStatus::Accepted,
                RecipientStatus::PermanentFailure,
                RecipientStatus::TemporaryFailure,
                RecipientStatus::Accepted
            ],
            "pipelining {pipelining}"
        );
        assert_eq!(delivery.recipients[1].reply.code, 550);
        assert_eq!(delivery.recipients[1].reply.enhanced, Some((5, 1, 1)));
        assert_eq!(delivery.recipients[2].reply.code, 450);
        assert!(delivery.recipients[0].reply.text().contains("Queued"));
        assert_eq!(
            delivery
                .with_status(RecipientStatus::Accepted)
                .map(|r| r.address.as_str())
                .collect::<Vec<_>>(),
            ["a@example.jp", "b@example.jp"]
        );

        // The same connection carries a second message, and one nobody accepts.
        let second = session
            .send(&envelope("s@example.jp", &["c@example.jp"]), b"second\r\n")
            .await
            .expect("second send");
        assert!(second.all_accepted());
        let refused = session
            .send(&envelope("s@example.jp", &["unknown@example.jp"]), b"x\r\n")
            .await
            .expect("third send");
        assert_eq!(
            refused.recipients[0].status,
            RecipientStatus::PermanentFailure
        );
        session.quit().await.expect("quit");

        let received = server.handler.messages();
        assert_eq!(received.len(), 2);
        assert_eq!(
            received[0].envelope.rcpt_to,
            ["a@example.jp", "b@example.jp"]
        );
        assert_eq!(received[1].message, b"second\r\n");
    }
}

#[tokio::test]
async fn recipients_over_the_server_limit_are_deferred_not_bounced() {
    let server = TestServer::start(ServerConfig {
        max_recipients: 2,
        ..ServerConfig::new("mx.test")
    })
    .await;
    let delivery = plain_client()
        .deliver(
            "127.0.0.1",
            server.addr.port(),
            &envelope(
                "s@example.jp",
                &["a@example.jp", "b@example.jp", "c@example.jp"],
            ),
            b"hi\r\n",
        )
        .await
        .expect("delivery");
    let statuses: Vec<_> = delivery.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Accepted,
            RecipientStatus::Accepted,
            RecipientStatus::TemporaryFailure
        ]
    );
    assert_eq!(delivery.recipients[2].reply.code, 452);
}

#[tokio::test]
async fn a_message_over_the_announced_size_is_refused_before_sending() {
    let server = TestServer::start(ServerConfig {
        max_message_bytes: 1000,
        ..ServerConfig::new("mx.test")
    })
    .await;
    let delivery = plain_client()
        .deliver(
            "127.0.0.1",
            server.addr.port(),
            &envelope("s@example.jp", &["a@example.jp", "b@example.jp"]),
            &vec![b'x'; 2000],
        )
        .await
        .expect("delivery");
    for recipient in &delivery.recipients {
        assert_eq!(recipient.status, RecipientStatus::PermanentFailure);
        assert_eq!(recipient.reply.code, 552);
        assert_eq!(recipient.reply.enhanced, Some((5, 3, 4)));
    }
    assert!(server.handler.messages().is_empty());
}

#[tokio::test]
async fn utf8_addresses_travel_with_smtputf8() {
    let server = TestServer::start(ServerConfig::new("mx.test")).await;
    let delivery = plain_client()
        .deliver(
            "127.0.0.1",
            server.addr.port(),
            &envelope("田中@例え.jp", &["山田@例え.jp"]),
            "Subject: 日本語\r\n\r\n本文\r\n".as_bytes(),
        )
        .await
        .expect("delivery");
    assert!(delivery.all_accepted(), "{delivery:?}");
    let received = &server.handler.messages()[0];
    assert!(received.envelope.smtputf8);
    assert_eq!(received.envelope.rcpt_to, ["山田@例え.jp"]);
}

#[tokio::test]
async fn starttls_upgrades_and_verifies_the_certificate() {
    let certificate = TestCertificate::generate();
    let server = TestServer::start(ServerConfig {
        tls: Some(certificate.server_config()),
        ..ServerConfig::new("mx.test")
    })
    .await;
    let verified = client(ClientConfig {
        starttls: StartTls::Required,
        certificates: CertificateCheck::Roots(certificate.roots()),
        ..ClientConfig::new("gateway.test")
    });
    let mut session = verified
        .connect_addr(server.addr, "localhost")
        .await
        .expect("connect with TLS");
    assert!(session.is_tls());
    assert!(session.tls_description().is_some());
    assert!(
        !session.extensions().starttls,
        "STARTTLS is not offered twice"
    );
    let message = tricky_message();
    let delivery = session
        .send(&envelope("s@example.jp", &["r@example.jp"]), &message)
        .await
        .expect("send");
    assert!(delivery.all_accepted());
    session.quit().await.expect("quit");
    let received = &server.handler.messages()[0];
    assert!(received.session.tls);
    assert!(received.session.tls_description.is_some());
    assert_eq!(received.message, message);

    // Opportunistic mode accepts the self-signed certificate without roots.
    let opportunistic = client(ClientConfig::new("gateway.test"));
    let session = opportunistic
        .connect("127.0.0.1", server.addr.port())
        .await
        .expect("opportunistic connect");
    assert!(session.is_tls());

    // Verifying against the public roots refuses it.
    let strict = client(ClientConfig {
        certificates: CertificateCheck::WebPkiRoots,
        ..ClientConfig::new("gateway.test")
    });
    let error = strict
        .connect_addr(server.addr, "localhost")
        .await
        .expect_err("an unknown certificate is refused");
    assert!(matches!(error, Error::Tls { .. }), "{error}");
}

#[tokio::test]
async fn required_tls_fails_when_the_server_does_not_offer_it() {
    let server = TestServer::start(ServerConfig::new("mx.test")).await;
    let required = client(ClientConfig {
        starttls: StartTls::Required,
        ..ClientConfig::new("gateway.test")
    });
    let error = required
        .connect("127.0.0.1", server.addr.port())
        .await
        .expect_err("no STARTTLS offered");
    assert!(matches!(error, Error::TlsUnavailable { .. }), "{error}");
    // Opportunistic mode goes on in clear.
    let session = client(ClientConfig::new("gateway.test"))
        .connect("127.0.0.1", server.addr.port())
        .await
        .expect("plain connect");
    assert!(!session.is_tls());
}

fn submission_server_config(certificate: &TestCertificate) -> ServerConfig {
    ServerConfig {
        tls: Some(certificate.server_config()),
        advertise_auth: true,
        require_tls_for_auth: true,
        auth_required: true,
        ..ServerConfig::new("smarthost.test")
    }
}

#[tokio::test]
async fn client_logs_in_to_a_smarthost_after_starttls() {
    let certificate = TestCertificate::generate();
    let server = TestServer::start(submission_server_config(&certificate)).await;
    let with_password = |password: &str| {
        client(ClientConfig {
            starttls: StartTls::Required,
            certificates: CertificateCheck::Roots(certificate.roots()),
            credentials: Some(Credentials {
                user: "tanaka".into(),
                password: password.into(),
            }),
            ..ClientConfig::new("gateway.test")
        })
    };
    let delivery = with_password("正しいパスワード")
        .deliver(
            "localhost",
            server.addr.port(),
            &envelope("tanaka@example.jp", &["r@example.com"]),
            b"hi\r\n",
        )
        .await
        .expect("delivery");
    assert!(delivery.all_accepted());
    let received = &server.handler.messages()[0];
    assert_eq!(received.session.authenticated.as_deref(), Some("tanaka"));

    let error = with_password("wrong")
        .connect_addr(server.addr, "localhost")
        .await
        .expect_err("wrong password");
    assert_eq!(error.reply().map(|r| r.code), Some(535), "{error}");
    assert!(error.to_string().contains("AUTH"), "{error}");
}

#[tokio::test]
async fn client_never_sends_credentials_in_clear() {
    let server = TestServer::start(ServerConfig {
        advertise_auth: true,
        require_tls_for_auth: false,
        ..ServerConfig::new("mx.test")
    })
    .await;
    let cautious = client(ClientConfig {
        credentials: Some(Credentials {
            user: "tanaka".into(),
            password: "正しいパスワード".into(),
        }),
        ..ClientConfig::new("gateway.test")
    });
    let error = cautious
        .connect("127.0.0.1", server.addr.port())
        .await
        .expect_err("no TLS");
    assert!(matches!(error, Error::AuthWithoutTls { .. }), "{error}");
    assert!(server.handler.failed_logins().is_empty());
}

/// A scripted next hop: answers each command line with `answer(line)`, takes the message
/// after DATA, and records every line it received.
async fn scripted_server(
    greeting: Option<&'static str>,
    answer: fn(&str) -> &'static str,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&lines);
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let mut stream = BufReader::new(tcp);
        let Some(greeting) = greeting else {
            // Say nothing, and keep the connection open.
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        };
        let _ = stream.get_mut().write_all(greeting.as_bytes()).await;
        let mut in_data = false;
        loop {
            let mut line = String::new();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            log.lock().expect("lock").push(line.clone());
            let reply = if in_data {
                if line != ".\r\n" {
                    continue;
                }
                in_data = false;
                "250 accepted\r\n"
            } else {
                let reply = answer(line.trim_end());
                in_data = reply.starts_with("354");
                reply
            };
            let _ = stream.get_mut().write_all(reply.as_bytes()).await;
        }
    });
    (addr, lines)
}

#[tokio::test]
async fn client_falls_back_to_helo_for_an_old_server() {
    let (addr, lines) = scripted_server(Some("220 old.test SMTP\r\n"), |line| {
        match line.split(' ').next().unwrap_or("") {
            "EHLO" => "502 Command not implemented\r\n",
            "HELO" | "MAIL" | "RCPT" => "250 OK\r\n",
            "DATA" => "354 go ahead\r\n",
            "QUIT" => "221 bye\r\n",
            _ => "500 what?\r\n",
        }
    })
    .await;
    let delivery = client(ClientConfig::new("gateway.test"))
        .deliver(
            "127.0.0.1",
            addr.port(),
            &envelope("s@example.jp", &["r@example.jp"]),
            b".dot\r\nend",
        )
        .await
        .expect("delivery");
    assert!(delivery.all_accepted(), "{delivery:?}");
    let lines = lines.lock().expect("lock").clone();
    assert_eq!(
        lines,
        [
            "EHLO gateway.test\r\n",
            "HELO gateway.test\r\n",
            // No ESMTP parameters for a HELO server.
            "MAIL FROM:<s@example.jp>\r\n",
            "RCPT TO:<r@example.jp>\r\n",
            "DATA\r\n",
            // Dot-stuffed, with the missing final CRLF added.
            "..dot\r\n",
            "end\r\n",
            ".\r\n",
            "QUIT\r\n",
        ]
    );
}

#[tokio::test]
async fn utf8_addresses_bounce_locally_when_the_next_hop_lacks_smtputf8() {
    let (addr, lines) = scripted_server(Some("220 old.test ESMTP\r\n"), |line| {
        match line.split(' ').next().unwrap_or("") {
            "EHLO" => "250-old.test\r\n250 8BITMIME\r\n",
            "QUIT" => "221 bye\r\n",
            _ => "250 OK\r\n",
        }
    })
    .await;
    let delivery = client(ClientConfig::new("gateway.test"))
        .deliver(
            "127.0.0.1",
            addr.port(),
            &envelope("s@example.jp", &["山田@例え.jp"]),
            b"hi\r\n",
        )
        .await
        .expect("delivery");
    assert_eq!(
        delivery.recipients[0].status,
        RecipientStatus::PermanentFailure
    );
    assert_eq!(delivery.recipients[0].reply.code, 553);
    assert_eq!(delivery.recipients[0].reply.enhanced, Some((5, 6, 7)));
    assert!(!lines
        .lock()
        .expect("lock")
        .iter()
        .any(|l| l.starts_with("MAIL")));
}

#[tokio::test]
async fn client_errors_name_the_peer_and_the_stage() {
    // A server that never greets.
    let (addr, _) = scripted_server(None, |_| "").await;
    let impatient = client(ClientConfig {
        command_timeout: Duration::from_millis(300),
        ..ClientConfig::new("gateway.test")
    });
    let error = impatient
        .connect("127.0.0.1", addr.port())
        .await
        .expect_err("no greeting");
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{}", addr.port())),
        "{text}"
    );
    assert!(text.contains("greeting"), "{text}");

    // A server that refuses everyone at the greeting.
    let (addr, _) = scripted_server(Some("554 5.7.1 go away\r\n"), |_| "").await;
    let error = impatient
        .connect("127.0.0.1", addr.port())
        .await
        .expect_err("refused");
    assert_eq!(error.reply().map(|r| r.code), Some(554));

    // Nothing listening.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let error = impatient
        .connect("127.0.0.1", port)
        .await
        .expect_err("connection refused");
    assert!(matches!(error, Error::Io { .. }), "{error}");
}
