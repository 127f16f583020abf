//! The server spoken to byte by byte, without the crate's client: exact reply codes for
//! extensions, pipelining, limits, ordering, AUTH, STARTTLS and timeouts.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{MemoryHandler, Raw, TestCertificate, TestServer};
use mamori_smtp::ServerConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

fn config() -> ServerConfig {
    ServerConfig::new("mx.test")
}

fn plain(user: &str, password: &str) -> String {
    STANDARD.encode(format!("\0{user}\0{password}"))
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

/// Asserts the reply's code and that its text contains `needle`.
#[track_caller]
fn check(reply: (u16, String), code: u16, needle: &str) {
    assert_eq!(reply.0, code, "reply was {:?}", reply.1);
    assert!(
        reply.1.contains(needle),
        "{:?} does not contain {needle:?}",
        reply.1
    );
}

/// EHLO, MAIL, one RCPT and DATA, each accepted: the server now waits for the message.
async fn start_message(c: &mut Raw) {
    check(c.command("EHLO client").await, 250, "");
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 250, "");
    check(c.command("DATA").await, 354, "");
}

#[tokio::test]
async fn ehlo_lists_the_extensions_and_helo_does_not() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    let (code, text) = c.command("EHLO client.example.jp").await;
    assert_eq!(code, 250);
    assert_eq!(
        text,
        "250-mx.test Hello client.example.jp [127.0.0.1]\r\n\
         250-PIPELINING\r\n\
         250-SIZE 26214400\r\n\
         250-8BITMIME\r\n\
         250-SMTPUTF8\r\n\
         250 ENHANCEDSTATUSCODES\r\n"
    );
    let (code, text) = c.command("HELO client.example.jp").await;
    assert_eq!(code, 250);
    assert_eq!(text, "250 mx.test Hello client.example.jp [127.0.0.1]\r\n");
    check(c.command("QUIT").await, 221, "221 2.0.0");
    c.expect_closed().await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    c.send(
        "EHLO client\r\n\
         MAIL FROM:<sender@example.jp>\r\n\
         RCPT TO:<a@example.jp>\r\n\
         RCPT TO:<unknown@example.jp>\r\n\
         RCPT TO:<b@example.jp>\r\n\
         DATA\r\n",
    )
    .await;
    check(c.reply().await, 250, "PIPELINING");
    check(c.reply().await, 250, "250 2.1.0");
    check(c.reply().await, 250, "250 2.1.5");
    check(c.reply().await, 550, "550 5.1.1");
    check(c.reply().await, 250, "250 2.1.5");
    check(c.reply().await, 354, "354 ");
    // The message, the end mark and the next commands in one write.
    c.send("Subject: pipelined\r\n\r\nbody\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n")
        .await;
    check(c.reply().await, 250, "250 2.0.0 Queued as 1");
    check(c.reply().await, 250, "250 2.0.0 OK");
    check(c.reply().await, 250, "250 2.0.0 OK");
    check(c.reply().await, 221, "221 2.0.0");
    c.expect_closed().await;
    let messages = server.handler.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].envelope.rcpt_to,
        vec!["a@example.jp".to_string(), "b@example.jp".to_string()]
    );
    assert_eq!(messages[0].message, b"Subject: pipelined\r\n\r\nbody\r\n");
}

#[tokio::test]
async fn dot_stuffed_lines_arrive_unstuffed_and_bare_lf_never_ends_a_message() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    start_message(&mut c).await;
    // `LF . LF` and `LF . CRLF` are what SMTP smuggling uses; they are data here.
    c.send(
        "..leading dot\r\n...two\r\n.\n\
         a\n.\nMAIL FROM:<forged@example.com>\r\n\
         b\n.\r\nRCPT TO:<victim@example.jp>\r\n\
         end\r\n.\r\n",
    )
    .await;
    check(c.reply().await, 250, "Queued as 1");
    check(c.command("NOOP").await, 250, "OK");
    let messages = server.handler.messages();
    assert_eq!(messages.len(), 1, "only one message, nothing smuggled");
    assert_eq!(
        String::from_utf8_lossy(&messages[0].message),
        ".leading dot\r\n..two\r\n\n\
         a\n.\nMAIL FROM:<forged@example.com>\r\n\
         b\n.\r\nRCPT TO:<victim@example.jp>\r\n\
         end\r\n"
    );
}

#[tokio::test]
async fn size_limit_refuses_with_552_by_declaration_and_after_data() {
    let server = TestServer::start(ServerConfig {
        max_message_bytes: 1000,
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "SIZE 1000");
    check(
        c.command("MAIL FROM:<s@example.jp> SIZE=1001").await,
        552,
        "552 5.3.4",
    );
    check(
        c.command("MAIL FROM:<s@example.jp> SIZE=1000").await,
        250,
        "",
    );
    check(c.command("RCPT TO:<r@example.jp>").await, 250, "");
    check(c.command("DATA").await, 354, "");
    // Read to the end although too big, then 552; the session goes on.
    let big = format!("{}\r\n", "x".repeat(98)).repeat(20);
    c.send(&format!("{big}.\r\n")).await;
    check(c.reply().await, 552, "552 5.3.4");
    check(c.command("NOOP").await, 250, "");
    // The transaction is over: RCPT needs a new MAIL.
    check(c.command("RCPT TO:<r@example.jp>").await, 503, "");
    assert!(server.handler.messages().is_empty());
}

#[tokio::test]
async fn one_recipient_over_the_limit_gets_452() {
    let server = TestServer::start(ServerConfig {
        max_recipients: 3,
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
    for i in 0..3 {
        check(
            c.command(&format!("RCPT TO:<r{i}@example.jp>")).await,
            250,
            "",
        );
    }
    check(c.command("RCPT TO:<r3@example.jp>").await, 452, "452 4.5.3");
    check(c.command("DATA").await, 354, "");
    c.send("hi\r\n.\r\n").await;
    check(c.reply().await, 250, "Queued");
    assert_eq!(server.handler.messages()[0].envelope.rcpt_to.len(), 3);
}

#[tokio::test]
async fn over_long_lines_get_500_and_the_session_goes_on() {
    let server = TestServer::start(ServerConfig {
        max_command_line: 512,
        max_line: 100,
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    // 510 octets + CRLF is the RFC's maximum and passes; one more does not.
    check(
        c.command(&format!("NOOP {}", "x".repeat(505))).await,
        250,
        "",
    );
    check(
        c.command(&format!("NOOP {}", "x".repeat(506))).await,
        500,
        "500 5.5.6",
    );
    // A line far beyond any buffer is read and dropped.
    check(
        c.command(&format!("NOOP {}", "x".repeat(1_000_000))).await,
        500,
        "500 5.5.6",
    );
    start_message(&mut c).await;
    c.send(&format!("short\r\n{}\r\n.\r\n", "y".repeat(200)))
        .await;
    check(c.reply().await, 500, "500 5.5.6");
    check(c.command("NOOP").await, 250, "");
    assert!(server.handler.messages().is_empty());
}

#[tokio::test]
async fn commands_out_of_order_get_503() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(
        c.command("MAIL FROM:<s@example.jp>").await,
        503,
        "503 5.5.1",
    );
    check(c.command("EHLO client").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 503, "503 5.5.1");
    check(c.command("DATA").await, 503, "503 5.5.1");
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
    check(
        c.command("MAIL FROM:<s@example.jp>").await,
        503,
        "503 5.5.1",
    );
    // MAIL but no accepted recipient: RFC 5321 section 3.3 allows 503 or 554.
    check(c.command("RCPT TO:<unknown@example.jp>").await, 550, "");
    check(c.command("DATA").await, 554, "554 5.5.1");
    check(c.command("RSET").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 503, "");
    // A new EHLO also ends a transaction.
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
    check(c.command("EHLO client").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 503, "");
}

#[tokio::test]
async fn syntax_errors_unknown_commands_and_parameters_get_their_codes() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("XYZZY").await, 500, "500 5.5.1");
    check(c.command("EHLO").await, 501, "501 5.5.4");
    check(c.command("ehlo client").await, 250, "");
    check(c.command("MAIL FROM:<s@>").await, 501, "501 5.1.7");
    check(c.command("MAIL FROM:s@example.jp").await, 501, "");
    check(
        c.command("MAIL FROM:<s@example.jp> RET=FULL").await,
        555,
        "555 5.5.4",
    );
    check(
        c.command("MAIL FROM:<s@example.jp> BODY=BINARYMIME").await,
        504,
        "504 5.5.4",
    );
    check(
        c.command("MAIL FROM:<田中@example.jp>").await,
        553,
        "553 5.6.7",
    );
    check(
        c.command("mail from:<s@example.jp> body=8bitmime").await,
        250,
        "",
    );
    check(c.command("RCPT TO:<r@>").await, 501, "501 5.1.3");
    check(
        c.command("RCPT TO:<山田@example.jp>").await,
        553,
        "553 5.6.7",
    );
    check(
        c.command("RCPT TO:<r@example.jp> NOTIFY=NEVER").await,
        555,
        "",
    );
    check(c.command("RCPT TO:<Postmaster>").await, 250, "");
    check(c.command("VRFY tanaka").await, 252, "252 2.5.0");
    check(c.command("HELP").await, 214, "214 2.0.0");
    check(c.command("STARTTLS").await, 502, "502 5.5.1");
    check(c.command("AUTH PLAIN").await, 502, "502 5.5.1");
    check(c.command("QUIT").await, 221, "");
    c.expect_closed().await;
}

#[tokio::test]
async fn utf8_addresses_are_accepted_with_smtputf8() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "SMTPUTF8");
    check(
        c.command("MAIL FROM:<田中@例え.jp> SMTPUTF8").await,
        250,
        "",
    );
    check(c.command("RCPT TO:<山田@例え.jp>").await, 250, "");
    check(c.command("DATA").await, 354, "");
    c.send("Subject: テスト\r\n\r\n本文\r\n.\r\n").await;
    check(c.reply().await, 250, "");
    let message = &server.handler.messages()[0];
    assert!(message.envelope.smtputf8);
    assert_eq!(message.envelope.mail_from.as_deref(), Some("田中@例え.jp"));
    assert_eq!(message.envelope.rcpt_to, vec!["山田@例え.jp".to_string()]);
}

#[tokio::test]
async fn mail_parameters_need_ehlo() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("HELO client").await, 250, "");
    check(c.command("MAIL FROM:<s@example.jp> SIZE=10").await, 555, "");
    check(c.command("MAIL FROM:<> ").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 250, "");
    check(c.command("DATA").await, 354, "");
    c.send(".\r\n").await;
    check(c.reply().await, 250, "");
    let message = &server.handler.messages()[0];
    assert_eq!(message.envelope.mail_from, None);
    assert!(message.message.is_empty());
    assert!(!message.session.esmtp);
}

#[tokio::test]
async fn a_client_that_keeps_erring_is_disconnected() {
    let server = TestServer::start(ServerConfig {
        max_errors: 3,
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("GET / HTTP/1.1").await, 500, "");
    check(c.command("Host: example.jp").await, 500, "");
    c.send("\r\n").await;
    check(c.reply().await, 500, "");
    check(c.reply().await, 421, "421 4.7.0");
    c.expect_closed().await;
}

fn auth_config() -> ServerConfig {
    ServerConfig {
        advertise_auth: true,
        require_tls_for_auth: false,
        ..config()
    }
}

#[tokio::test]
async fn auth_plain_with_and_without_initial_response() {
    let server = TestServer::start(auth_config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(
        c.command("EHLO client").await,
        250,
        "250 AUTH PLAIN LOGIN\r\n",
    );
    check(
        c.command(&format!(
            "AUTH PLAIN {}",
            plain("tanaka", "正しいパスワード")
        ))
        .await,
        235,
        "235 2.7.0",
    );
    check(c.command("AUTH PLAIN").await, 503, "503 5.5.1");
    check(c.command("MAIL FROM:<tanaka@example.jp>").await, 250, "");
    check(c.command("RCPT TO:<r@example.jp>").await, 250, "");
    check(c.command("DATA").await, 354, "");
    c.send("hi\r\n.\r\n").await;
    check(c.reply().await, 250, "");
    assert_eq!(
        server.handler.messages()[0]
            .session
            .authenticated
            .as_deref(),
        Some("tanaka")
    );

    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    check(c.command("AUTH PLAIN").await, 334, "334 \r\n");
    check(c.command(&plain("tanaka", "wrong")).await, 535, "535 5.7.8");
    check(c.command("AUTH PLAIN").await, 334, "");
    check(c.command("*").await, 501, "501 5.0.0");
    check(c.command("AUTH PLAIN !!!").await, 501, "");
    check(c.command("AUTH PLAIN").await, 334, "");
    check(c.command("not base64 at all").await, 501, "501 5.5.2");
    check(c.command("AUTH CRAM-MD5").await, 504, "504 5.5.4");
    assert_eq!(server.handler.failed_logins()[0].1, "tanaka");
}

#[tokio::test]
async fn auth_login_success_and_failure() {
    let server = TestServer::start(auth_config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    check(c.command("AUTH LOGIN").await, 334, "334 VXNlcm5hbWU6\r\n");
    check(c.command(&b64("tanaka")).await, 334, "334 UGFzc3dvcmQ6\r\n");
    check(c.command(&b64("違う")).await, 535, "535 5.7.8");
    // The user name may come as the initial response.
    check(
        c.command(&format!("AUTH LOGIN {}", b64("tanaka"))).await,
        334,
        "UGFzc3dvcmQ6",
    );
    check(c.command(&b64("正しいパスワード")).await, 235, "235 2.7.0");
}

#[tokio::test]
async fn repeated_login_failures_close_the_connection() {
    let server = TestServer::start(ServerConfig {
        max_auth_failures: 2,
        ..auth_config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    check(
        c.command(&format!("AUTH PLAIN {}", plain("admin", "1")))
            .await,
        535,
        "",
    );
    check(
        c.command(&format!("AUTH PLAIN {}", plain("admin", "2")))
            .await,
        535,
        "",
    );
    check(c.reply().await, 421, "421 4.7.0");
    c.expect_closed().await;
    let failed = server.handler.failed_logins();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0.ip(), std::net::Ipv4Addr::LOCALHOST);
}

#[tokio::test]
async fn auth_required_listener_refuses_mail_before_login() {
    let server = TestServer::start(ServerConfig {
        auth_required: true,
        ..auth_config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    check(
        c.command("MAIL FROM:<s@example.jp>").await,
        530,
        "530 5.7.0",
    );
    check(
        c.command(&format!(
            "AUTH PLAIN {}",
            plain("tanaka", "正しいパスワード")
        ))
        .await,
        235,
        "",
    );
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
}

fn tls_config(certificate: &TestCertificate) -> ServerConfig {
    ServerConfig {
        tls: Some(certificate.server_config()),
        advertise_auth: true,
        require_tls_for_auth: true,
        ..config()
    }
}

#[tokio::test]
async fn auth_before_starttls_is_refused_and_not_advertised() {
    let certificate = TestCertificate::generate();
    let server = TestServer::start(tls_config(&certificate)).await;
    let mut c = Raw::connect(server.addr).await;
    let (code, text) = c.command("EHLO client").await;
    assert_eq!(code, 250);
    assert!(text.contains("250-STARTTLS\r\n") || text.contains("250 STARTTLS\r\n"));
    assert!(!text.contains("AUTH"), "{text}");
    check(
        c.command(&format!(
            "AUTH PLAIN {}",
            plain("tanaka", "正しいパスワード")
        ))
        .await,
        538,
        "538 5.7.11",
    );
    assert!(server.handler.failed_logins().is_empty());
}

#[tokio::test]
async fn starttls_resets_the_session_and_drops_plaintext_sent_after_it() {
    let certificate = TestCertificate::generate();
    let server = TestServer::start(tls_config(&certificate)).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "STARTTLS");
    check(c.command("MAIL FROM:<s@example.jp>").await, 250, "");
    // An attacker on the path appends a command to STARTTLS in the same packet; it must not
    // be executed inside the encrypted session.
    c.send("STARTTLS\r\nHELP\r\n").await;
    check(c.reply().await, 220, "220 2.0.0");
    assert!(c.stream.buffer().is_empty());
    let tcp = c.stream.into_inner();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(certificate.roots())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio::time::timeout(common::STEP, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let mut c = Raw::new(tls);
    // The first reply in TLS is the one to our NOOP, not the 214 to the injected HELP.
    check(c.command("NOOP").await, 250, "250 2.0.0 OK\r\n");
    // The transaction before STARTTLS is gone, and so is the greeting.
    check(
        c.command("MAIL FROM:<s@example.jp>").await,
        503,
        "HELO or EHLO",
    );
    let (code, text) = c.command("EHLO client").await;
    assert_eq!(code, 250);
    assert!(!text.contains("STARTTLS"), "{text}");
    assert!(text.contains("AUTH PLAIN LOGIN"), "{text}");
    check(c.command("STARTTLS").await, 503, "");
    check(
        c.command(&format!(
            "AUTH PLAIN {}",
            plain("tanaka", "正しいパスワード")
        ))
        .await,
        235,
        "",
    );
}

#[tokio::test]
async fn a_silent_client_gets_421_after_the_command_timeout() {
    let server = TestServer::start(ServerConfig {
        command_timeout: Duration::from_millis(300),
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    let started = Instant::now();
    check(c.reply().await, 421, "421 4.4.2");
    assert!(started.elapsed() >= Duration::from_millis(250));
    c.expect_closed().await;
}

#[tokio::test]
async fn the_session_time_limit_ends_even_a_busy_session_with_421() {
    let server = TestServer::start(ServerConfig {
        session_timeout: Duration::from_millis(800),
        ..config()
    })
    .await;
    let mut c = Raw::connect(server.addr).await;
    let started = Instant::now();
    loop {
        // Busy: a command every 100 ms, far below the command timeout.
        check(c.command("NOOP").await, 250, "");
        assert!(started.elapsed() < Duration::from_secs(5), "no time limit");
        let unsolicited =
            tokio::time::timeout(Duration::from_millis(100), c.stream.fill_buf()).await;
        if let Ok(Ok(bytes)) = unsolicited {
            assert!(!bytes.is_empty(), "closed without 421");
            let (code, text) = c.reply().await;
            assert_eq!(code, 421, "{text}");
            assert!(text.contains("421 4.4.2"), "{text}");
            assert!(text.contains("session time limit"), "{text}");
            break;
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(700));
    c.expect_closed().await;
}

#[tokio::test]
async fn shutdown_tells_idle_sessions_421() {
    let server = TestServer::start(config()).await;
    let mut c = Raw::connect(server.addr).await;
    check(c.command("EHLO client").await, 250, "");
    let addr = server.addr;
    server.stop().await;
    check(c.reply().await, 421, "421 4.3.2");
    c.expect_closed().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn connections_over_the_limit_are_told_to_come_back() {
    let server = TestServer::start_with(
        ServerConfig {
            max_connections: 1,
            ..config()
        },
        MemoryHandler::default(),
    )
    .await;
    let mut first = Raw::connect(server.addr).await;
    let mut second = Raw::connect_without_greeting(server.addr).await;
    check(second.reply().await, 421, "421 4.7.0");
    second.expect_closed().await;
    check(first.command("QUIT").await, 221, "");
    first.expect_closed().await;
    // The slot is free again once the first session has ended.
    let mut third = Raw::connect_without_greeting(server.addr).await;
    for _ in 0..50 {
        let (code, _) = third.reply().await;
        if code == 220 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        third = Raw::connect_without_greeting(server.addr).await;
    }
    panic!("the connection slot was never released");
}
