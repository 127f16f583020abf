//! The help desk by web and mail: the provider writes on an incident, the company's admin
//! gets it by mail through the relay, replies by mail to the help desk's SMTP listener, and
//! the reply joins the conversation and reaches the provider's mailbox.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

fn set_cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))?
                .split(';')
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn hidden_csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// An SMTP conversation with the help desk's listener; answers the reply to DATA.
fn smtp_send(port: u16, from: &str, subject: &str, body: &str) -> String {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut read_reply = || {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return all;
            }
        }
    };
    read_reply();
    for cmd in [
        "EHLO client.example".to_string(),
        format!("MAIL FROM:<{from}>"),
        "RCPT TO:<helpdesk@provider.example>".into(),
        "DATA".into(),
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        read_reply();
    }
    write!(
        w,
        "From: <{from}>\r\nTo: <helpdesk@provider.example>\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{body}\r\n.\r\n"
    )
    .unwrap();
    let answer = read_reply();
    let _ = write!(w, "QUIT\r\n");
    answer
}

#[test]
fn a_conversation_goes_out_by_mail_and_replies_come_back_into_the_incident() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink, smtp_port) = rt.block_on(Sink::start());
    let helpdesk_port = free_port();
    let data = temp_dir("helpdesk");
    std::fs::write(
        data.join("mamori.toml"),
        format!(
            "[notify]\nsmtp = {{ host = \"127.0.0.1\", port = {smtp_port}, starttls = false, from = \"mamori@provider.example\" }}\n\
             [helpdesk]\nlisten = \"127.0.0.1:{helpdesk_port}\"\naddress = \"helpdesk@provider.example\"\nprovider_mail = [\"ops@provider.example\"]\n"
        ),
    )
    .unwrap();
    let server = up(&data, &[]);
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (ok, _, err) = mamori(
        &data,
        &[
            "user",
            "add",
            "--email",
            "it@acme.example",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(ok, "{err}");
    let token = token(&data, "acme");
    let file = data.join("a.ndjson");
    std::fs::write(&file, r#"{"engine":"ids","rule_id":"ids.beacon","rule_name":"C2 beacon","severity":"high","summary":"PC calls its C2","src":{"ip":"192.168.1.23"}}"#).unwrap();
    assert!(
        mamori(
            &data,
            &[
                "send",
                file.to_str().unwrap(),
                "--url",
                &server.base,
                "--token",
                &token
            ],
            ""
        )
        .0
    );

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = server.base.clone();
    let (incident, session, csrf) = rt.block_on(async {
        let login = client.get(format!("{base}/login")).send().await.unwrap();
        let login_cookie = set_cookie(&login, "mamori_login_csrf");
        let csrf = hidden_csrf(&login.text().await.unwrap());
        let resp = client
            .post(format!("{base}/login"))
            .header("cookie", format!("mamori_login_csrf={login_cookie}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@mamori.local"),
                ("password", server.password.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let session = set_cookie(&resp, "mamori_session");
        let v: serde_json::Value = client
            .get(format!("{base}/api/v1/incidents"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let incident = v["items"][0]["id"].as_str().unwrap().to_string();
        let page = client
            .get(format!("{base}/incidents/{incident}"))
            .header("cookie", format!("mamori_session={session}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (incident, session, hidden_csrf(&page))
    });

    // The provider writes; the company's admin gets it by mail, tagged with the incident.
    let status = rt.block_on(async {
        client
            .post(format!("{base}/incidents/{incident}/messages"))
            .header("cookie", format!("mamori_session={session}"))
            .form(&[
                ("csrf", csrf.as_str()),
                (
                    "text",
                    "PC 192.168.1.23 を隔離しました。電源を切らずにお待ちください。",
                ),
            ])
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 303);
    wait_until("the mail to the company", 30, || sink.len() == 1);
    let mail = String::from_utf8_lossy(&sink.0.lock().unwrap()[0]).into_owned();
    assert!(
        mail.contains("To: it@acme.example")
            && mail.contains("Reply-To: helpdesk@provider.example"),
        "{mail}"
    );
    let subject = format!("Re: [Mamori #{incident}] C2 beacon");

    // The admin replies by mail; the reply joins the conversation and reaches the provider.
    let answer = smtp_send(
        helpdesk_port,
        "it@acme.example",
        &subject,
        "承知しました。よろしくお願いします。\n\n> PC 192.168.1.23 を隔離しました。",
    );
    assert!(answer.starts_with("250"), "{answer}");
    wait_until("the mail to the provider", 30, || sink.len() == 2);
    let mail = String::from_utf8_lossy(&sink.0.lock().unwrap()[1]).into_owned();
    assert!(mail.contains("To: ops@provider.example"), "{mail}");
    let v: serde_json::Value = rt.block_on(async {
        client
            .get(format!("{base}/api/v1/incidents/{incident}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let messages: Vec<&serde_json::Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .collect();
    assert_eq!(messages.len(), 2, "{v}");
    assert_eq!(messages[1]["side"], "customer");
    assert_eq!(messages[1]["via"], "mail");
    assert_eq!(messages[1]["text"], "承知しました。よろしくお願いします。");
    assert!(
        v["incident"]["first_response"].is_string(),
        "the provider's message was the first response"
    );

    // Strangers and untagged mail are refused with the reason.
    let answer = smtp_send(helpdesk_port, "stranger@elsewhere.example", &subject, "hi");
    assert!(
        answer.starts_with("550") && answer.contains("not a user"),
        "{answer}"
    );
    let answer = smtp_send(helpdesk_port, "it@acme.example", "hello", "hi");
    assert!(answer.starts_with("550"), "{answer}");
}
