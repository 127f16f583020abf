//! The console end to end over HTTP: login and its cookie, CSRF, throttling, roles, the
//! incident workflow, and the ingest API's answers to good and bad input.

mod common;

use common::*;
use mamori_console::routes::{Access, ROUTES};
use mamori_core::config::Config;
use mamori_core::{IncidentState, Role, Scope};
use mamori_store::AlertQuery;

async fn console_with_alpha() -> (Console, String) {
    let c = start(Config::default()).await;
    c.add_tenant("alpha").await;
    c.add_user("admin@alpha.example", Role::TenantAdmin, Some("alpha"))
        .await;
    c.add_user("viewer@alpha.example", Role::Viewer, Some("alpha"))
        .await;
    let token = c.add_token("alpha", "sensor").await;
    (c, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_httponly_and_samesite_strict() {
    let (c, _) = console_with_alpha().await;
    let s = c.login("admin@alpha.example", PASSWORD).await;
    assert!(s.raw_cookie.contains("HttpOnly"), "{}", s.raw_cookie);
    assert!(s.raw_cookie.contains("SameSite=Strict"), "{}", s.raw_cookie);
    assert!(
        !s.raw_cookie.contains("Secure"),
        "plain HTTP cannot carry a Secure cookie"
    );
    let resp = c.client.get(c.url("/alerts")).send().await.unwrap();
    assert_eq!(resp.status(), 303, "pages need a login");
    assert!(
        resp.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=%2Falerts")
            || resp.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?next=/alerts")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_form_post_without_the_csrf_token_is_refused() {
    let (c, token) = console_with_alpha().await;
    let (_, answer) = c
        .ingest(
            &token,
            event("01J00000000000000000000009", "x", "192.168.1.2"),
        )
        .await;
    assert_eq!(answer["stored"], 1);
    let inc = c
        .store
        .alerts(&Scope::All, &AlertQuery::default())
        .await
        .unwrap()
        .items[0]
        .incident
        .unwrap();
    let s = c.login("admin@alpha.example", PASSWORD).await;
    let mut posts = 0;
    for route in ROUTES
        .iter()
        .filter(|r| r.method == "post" && !r.path.starts_with("/api/"))
    {
        let path = route.path.replace("{id}", &inc.to_string());
        let fields = [
            ("state", "resolved"),
            ("text", "note"),
            ("name", "x"),
            ("tenant", "alpha"),
            ("email", "admin@alpha.example"),
            ("password", PASSWORD),
        ];
        if route.access == Access::Public && path == "/login" {
            // The login form uses a double-submit cookie instead of a session token.
            let resp = c
                .client
                .post(c.url("/login"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 403, "POST /login without its CSRF cookie");
            posts += 1;
            continue;
        }
        let resp = s.post_form(&c, &path, &fields).await;
        assert_eq!(resp.status(), 403, "POST {path} without a token");
        let mut wrong = fields.to_vec();
        wrong.push(("csrf", "0123456789abcdef0123456789abcdef"));
        let resp = s.post_form(&c, &path, &wrong).await;
        assert_eq!(resp.status(), 403, "POST {path} with a wrong token");
        posts += 1;
    }
    assert!(posts >= 8);
    // The API refuses a cookie-authenticated change without X-CSRF-Token.
    let resp = c
        .client
        .patch(c.url(&format!("/api/v1/incidents/{inc}")))
        .header("cookie", &s.cookie)
        .json(&serde_json::json!({"state": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = c
        .client
        .patch(c.url(&format!("/api/v1/incidents/{inc}")))
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .json(&serde_json::json!({"state": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        c.store
            .incident(&Scope::All, inc)
            .await
            .unwrap()
            .unwrap()
            .state,
        IncidentState::Investigating
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_throttled_after_repeated_failures() {
    let (c, _) = console_with_alpha().await;
    for _ in 0..5 {
        let (status, session) = c.try_login("admin@alpha.example", "wrong password!").await;
        assert_eq!(status, 401);
        assert!(session.is_none());
    }
    let (status, session) = c.try_login("admin@alpha.example", PASSWORD).await;
    assert_eq!(
        status, 429,
        "the right password must wait after five failures"
    );
    assert!(session.is_none());
    // Another account from the same address still gets in.
    let (status, _) = c.try_login("viewer@alpha.example", PASSWORD).await;
    assert_eq!(status, 303);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incident_is_worked_through_the_console() {
    let (c, token) = console_with_alpha().await;
    let lines = [
        event("01J00000000000000000000011", "first beacon", "192.168.1.50"),
        event(
            "01J00000000000000000000012",
            "second beacon",
            "192.168.1.50",
        ),
    ]
    .join("\n");
    let (status, answer) = c.ingest(&token, lines).await;
    assert_eq!((status, answer["stored"].as_u64()), (200, Some(2)));
    let incidents = c
        .store
        .incidents(&Scope::All, &Default::default())
        .await
        .unwrap();
    assert_eq!(
        incidents.items.len(),
        1,
        "two alerts on one host make one incident"
    );
    let id = incidents.items[0].id;
    let s = c.login("admin@alpha.example", PASSWORD).await;
    let page = s
        .get(&c, &format!("/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("host:192.168.1.50"));
    let r = s
        .post_form(
            &c,
            &format!("/incidents/{id}/state"),
            &[("csrf", &s.csrf), ("state", "investigating")],
        )
        .await;
    assert_eq!(r.status(), 303);
    s.post_form(
        &c,
        &format!("/incidents/{id}/assign"),
        &[("csrf", &s.csrf), ("assignee", "suzuki")],
    )
    .await;
    s.post_form(
        &c,
        &format!("/incidents/{id}/notes"),
        &[("csrf", &s.csrf), ("text", "PC を隔離しました")],
    )
    .await;
    // resolved → contained is not a move the workflow allows.
    s.post_form(
        &c,
        &format!("/incidents/{id}/state"),
        &[("csrf", &s.csrf), ("state", "resolved")],
    )
    .await;
    let bad = s
        .post_form(
            &c,
            &format!("/incidents/{id}/state"),
            &[("csrf", &s.csrf), ("state", "contained")],
        )
        .await;
    assert_eq!(bad.status(), 400);
    let page = s
        .get(&c, &format!("/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("PC を隔離しました"));
    assert!(page.contains("suzuki"));
    let timeline = c.store.timeline(&Scope::All, id).await.unwrap();
    assert_eq!(
        timeline.len(),
        5,
        "opened, investigating, assigned, note, resolved"
    );
    assert!(timeline[1..]
        .iter()
        .all(|e| e.actor == "admin@alpha.example"));
    // The English page says the same in English.
    let en = c
        .client
        .get(c.url(&format!("/incidents/{id}")))
        .header("cookie", format!("{}; mamori_lang=en", s.cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(en.contains("Timeline") && en.contains("Resolved"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_reads_but_cannot_change() {
    let (c, token) = console_with_alpha().await;
    c.ingest(
        &token,
        event("01J00000000000000000000021", "x", "192.168.1.7"),
    )
    .await;
    let id = c
        .store
        .incidents(&Scope::All, &Default::default())
        .await
        .unwrap()
        .items[0]
        .id;
    let v = c.login("viewer@alpha.example", PASSWORD).await;
    assert_eq!(v.get(&c, &format!("/incidents/{id}")).await.status(), 200);
    let r = v
        .post_form(
            &c,
            &format!("/incidents/{id}/state"),
            &[("csrf", &v.csrf), ("state", "resolved")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(v.get(&c, "/users").await.status(), 403);
    assert_eq!(
        c.store
            .incident(&Scope::All, id)
            .await
            .unwrap()
            .unwrap()
            .state,
        IncidentState::New
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_keeps_valid_lines_and_names_the_bad_ones() {
    let (c, token) = console_with_alpha().await;
    let body = [
        event("01J00000000000000000000031", "ok 1", "192.168.1.1"),
        "{this is not json".to_string(),
        r#"{"engine":"ids","rule_id":"x","severity":"apocalyptic","summary":"s"}"#.to_string(),
        event("01J00000000000000000000032", "ok 2", "192.168.1.1"),
    ]
    .join("\n");
    let (status, answer) = c.ingest(&token, body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["stored"], 2);
    let errors = answer["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[1]["line"], 3);
    assert!(errors[1]["error"].as_str().unwrap().contains("apocalyptic"));

    // Resending is idempotent by id.
    let again = [
        event("01J00000000000000000000031", "ok 1", "192.168.1.1"),
        event("01J00000000000000000000033", "ok 3", "192.168.1.1"),
    ]
    .join("\n");
    let (status, answer) = c.ingest(&token, again).await;
    assert_eq!(status, 200);
    assert_eq!(
        (answer["stored"].as_u64(), answer["duplicates"].as_u64()),
        (Some(1), Some(1))
    );

    // A Suricata EVE alert is taken as it is; other EVE records are skipped.
    let eve = r#"{"timestamp":"2026-10-03T09:14:07.402193+0900","flow_id":1,"event_type":"alert","src_ip":"192.168.1.23","src_port":51234,"dest_ip":"203.0.113.50","dest_port":443,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2027758,"rev":2,"signature":"ET MALWARE Emotet CnC Beacon","category":"A Network Trojan was detected","severity":1}}
{"timestamp":"2026-10-03T09:14:08.000000+0900","event_type":"flow","src_ip":"192.168.1.23"}"#;
    let (status, answer) = c.ingest(&token, eve.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        (answer["stored"].as_u64(), answer["skipped"].as_u64()),
        (Some(1), Some(1))
    );

    let resp = c
        .client
        .get(c.url("/api/v1/alerts?limit=10"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["rule_name"] == "ET MALWARE Emotet CnC Beacon"));
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_refuses_wrong_tokens_and_oversized_bodies() {
    let mut config = Config::default();
    config.console.ingest_max_bytes = 4096;
    let c = start(config).await;
    c.add_tenant("alpha").await;
    let token = c.add_token("alpha", "sensor").await;
    let line = event("01J00000000000000000000041", "x", "192.168.1.1");

    let (status, answer) = c.ingest("mmr_0000", line.clone()).await;
    assert_eq!(status, 401);
    assert!(answer["error"].as_str().unwrap().contains("token"));
    let resp = c
        .client
        .post(c.url("/api/v1/events"))
        .body(line.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let big = vec![line.clone(); 40].join("\n");
    assert!(big.len() > 4096);
    let (status, answer) = c.ingest(&token, big).await;
    assert_eq!(status, 413);
    assert!(answer["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("4096"));
    assert!(c
        .store
        .alerts(&Scope::All, &AlertQuery::default())
        .await
        .unwrap()
        .items
        .is_empty());

    // A revoked token stops working at once.
    assert!(c.store.revoke_token("alpha", "sensor").await.unwrap());
    let (status, _) = c.ingest(&token, line).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_is_served() {
    let (c, _) = console_with_alpha().await;
    let doc: serde_json::Value = c
        .client
        .get(c.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/events"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn under_tls_the_session_cookie_is_secure() {
    let dir = temp_dir("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "2",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate (apt-get install openssl)");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut config = Config::default();
    config.console.tls_cert = cert.display().to_string();
    config.console.tls_key = key.display().to_string();
    let c = start(config).await;
    assert!(c.base.starts_with("https://"));
    c.add_tenant("alpha").await;
    c.add_user("admin@alpha.example", Role::TenantAdmin, Some("alpha"))
        .await;
    let s = c.login("admin@alpha.example", PASSWORD).await;
    assert!(s.raw_cookie.contains("; Secure"), "{}", s.raw_cookie);
}

#[tokio::test(flavor = "multi_thread")]
async fn held_mail_is_shown_with_its_reasons_and_released_from_the_console() {
    use mamori_mail::queue::spool::{Entry, Hold, RcptState, Recipient, Spool};
    let (c, _) = console_with_alpha().await;
    let spool = Spool::open(&c.dir.join("mail-spool")).unwrap();
    let id = mamori_core::Ulid::new().to_string();
    let entry = Entry {
        id: id.clone(),
        tenant: "alpha".into(),
        direction: "outbound".into(),
        mail_from: "sato@alpha.example".into(),
        recipients: vec![Recipient {
            address: "x@partmer.example".into(),
            state: RcptState::Pending,
            last_reply: String::new(),
        }],
        received_ms: 1_790_000_000_000,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        hold: Some(Hold::Held {
            reasons: vec!["mail.lookalike_recipient".into()],
        }),
        auth_user: None,
        size: 10,
        report: Some(
            serde_json::json!({"verdict": "hold", "subject": "顧客一覧", "reasons": [
            {"code": "mail.lookalike_recipient", "score": 10.0, "message_ja": "宛先のドメインが取引先に酷似しています", "message_en": "The recipient domain resembles a partner's"}]}),
        ),
    };
    spool
        .put(&entry, "Subject: list\r\n\r\nx\r\n".as_bytes())
        .unwrap();
    let s = c.login("admin@alpha.example", PASSWORD).await;
    let list = s.get(&c, "/mail").await.text().await.unwrap();
    assert!(
        list.contains("顧客一覧") && list.contains("保留中"),
        "{list}"
    );
    let page = s
        .get(&c, &format!("/mail/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("宛先のドメインが取引先に酷似しています"));
    let viewer = c.login("viewer@alpha.example", PASSWORD).await;
    let r = viewer
        .post_form(
            &c,
            &format!("/mail/{id}/release"),
            &[("csrf", &viewer.csrf)],
        )
        .await;
    assert_eq!(r.status(), 403, "a viewer cannot release mail");
    let r = s
        .post_form(&c, &format!("/mail/{id}/release"), &[("csrf", &s.csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(
        spool.entry(&id).unwrap().hold.is_none(),
        "released for the gateway to deliver"
    );
    let r = s
        .post_form(&c, &format!("/mail/{id}/delete"), &[("csrf", &s.csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(spool.entry(&id).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_link_releases_a_held_mail_once_after_confirmation() {
    use mamori_mail::queue::spool::{Entry, Hold, RcptState, Recipient, Spool};
    let (c, _) = console_with_alpha().await;
    let spool = Spool::open(&c.dir.join("mail-spool")).unwrap();
    let id = mamori_core::Ulid::new().to_string();
    let entry = Entry {
        id: id.clone(),
        tenant: "alpha".into(),
        direction: "outbound".into(),
        mail_from: "sato@alpha.example".into(),
        recipients: vec![Recipient {
            address: "x@other.example".into(),
            state: RcptState::Pending,
            last_reply: String::new(),
        }],
        received_ms: 0,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        hold: Some(Hold::Held { reasons: vec![] }),
        auth_user: None,
        size: 1,
        report: Some(serde_json::json!({"subject": "見積書", "reasons": []})),
    };
    spool.put(&entry, b"Subject: x\r\n\r\nx\r\n").unwrap();
    let secret = spool.link_secret().unwrap();
    let sig = mamori_core::sign::mail_action_signature(&secret, &id, "release");
    let url = |sig: &str| c.url(&format!("/mail/action/{id}/release?sig={sig}"));
    assert_eq!(
        c.client.get(url("00")).send().await.unwrap().status(),
        403,
        "a forged link is refused"
    );
    let cancel_sig = mamori_core::sign::mail_action_signature(&secret, &id, "cancel");
    assert_eq!(
        c.client
            .get(url(&cancel_sig))
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "a cancel signature does not release"
    );
    let page = c.client.get(url(&sig)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("見積書"));
    assert!(
        spool.entry(&id).unwrap().hold.is_some(),
        "opening the link alone changes nothing"
    );
    let post = |sig: String| {
        c.client
            .post(c.url(&format!("/mail/action/{id}/release")))
            .form(&[("sig", sig)])
            .send()
    };
    assert_eq!(post(sig.clone()).await.unwrap().status(), 200);
    assert!(spool.entry(&id).unwrap().hold.is_none());
    assert_eq!(post(sig).await.unwrap().status(), 404, "a link works once");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_events_are_searched_by_field_on_the_page_and_the_api() {
    let (c, token) = console_with_alpha().await;
    let now = mamori_core::now_ms();
    let ev = |n: i64, user: &str, ip: &str| mamori_store::LogEvent {
        id: format!("alpha-{n}"),
        tenant: "alpha".into(),
        time_ms: now - n * 1000,
        host: "DC01".into(),
        source: "evtx".into(),
        channel: Some("Security".into()),
        event_id: Some(4625),
        record_id: Some(n),
        file: Some("Security.evtx".into()),
        fields: vec![
            ("EventID".into(), "4625".into()),
            ("TargetUserName".into(), user.into()),
            ("IpAddress".into(), ip.into()),
        ],
        raw: format!("<Event><Data Name='TargetUserName'>{user}</Data></Event>"),
    };
    c.store
        .ingest_events(&[
            ev(1, "administrator", "203.0.113.5"),
            ev(2, "yamada<b>", "198.51.100.7"),
        ])
        .await
        .unwrap();
    let s = c.login("viewer@alpha.example", PASSWORD).await;
    let page = s
        .get(&c, "/events?q=TargetUserName%3DADMINISTRATOR")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("203.0.113.5"), "{page}");
    assert!(!page.contains("198.51.100.7"));
    // Everything shown is escaped.
    let page = s
        .get(&c, "/events?q=IpAddress~198.51")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("yamada&lt;b&gt;") && !page.contains("yamada<b>"));
    // A malformed search says what is wrong instead of failing the page.
    let resp = s.get(&c, "/events?q=bad%27name%3D1").await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("class=\"error\"") && page.contains("field name"),
        "{page}"
    );
    // The API answers the same search as JSON, and 400 for a bad one.
    let resp = c
        .client
        .get(c.url("/api/v1/log-events?q=IpAddress%3D198.51.100.7"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["id"], "alpha-2");
    let resp = c
        .client
        .get(c.url("/api/v1/log-events?q=a%3D%22open"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_monthly_report_opens_from_the_console_for_the_users_tenant_only() {
    let (c, token) = console_with_alpha().await;
    c.ingest(
        &token,
        event(
            "01J00000000000000000000031",
            "blocked: GET /x",
            "203.0.113.3",
        ),
    )
    .await;
    let month = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9));
    let month = format!("{:04}-{:02}", month.year(), month.month() as u8);
    let s = c.login("viewer@alpha.example", PASSWORD).await;
    let page = s.get(&c, "/reports").await.text().await.unwrap();
    assert!(page.contains("/reports/view?tenant=alpha"), "{page}");
    let resp = s.get(&c, &format!("/reports/view?month={month}")).await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("<svg") && html.contains("月次"), "{html}");
    let resp = s
        .get(&c, &format!("/reports/view?tenant=bravo&month={month}"))
        .await;
    assert_eq!(resp.status(), 404);
    let resp = s.get(&c, "/reports/view?month=2026-13").await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_onboards_a_customer_triages_and_exports_evidence() {
    let (c, token) = console_with_alpha().await;
    c.add_user("ops@provider.example", Role::ProviderAdmin, None)
        .await;
    let p = c.login("ops@provider.example", PASSWORD).await;

    // Onboarding: tenant, admin and sensor token in one form, the secrets shown once.
    let resp = p
        .post_form(
            &c,
            "/tenants",
            &[
                ("csrf", &p.csrf),
                ("name", "bravo"),
                ("display_name", "株式会社ブラボー"),
                ("admin_email", "it@bravo.example"),
                ("sensor_token", "on"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("it@bravo.example") && page.contains("mamori up --role sensor"),
        "{page}"
    );
    let admin = c
        .store
        .user_by_email("it@bravo.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.tenant.as_deref(), Some("bravo"));
    assert_eq!(
        c.store
            .tokens(&Scope::Tenant("bravo".into()))
            .await
            .unwrap()
            .len(),
        1
    );
    // A taken name is refused with the reason, nothing else created.
    let resp = p
        .post_form(
            &c,
            "/tenants",
            &[
                ("csrf", &p.csrf),
                ("name", "bravo"),
                ("admin_email", "x@bravo.example"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(c
        .store
        .user_by_email("x@bravo.example")
        .await
        .unwrap()
        .is_none());

    // The queue puts the critical incident first, with its SLA clocks running.
    c.ingest(
        &token,
        event("01J00000000000000000000041", "low one", "192.168.1.41"),
    )
    .await;
    let critical = serde_json::json!({"id": "01J00000000000000000000042", "engine": "ids", "rule_id": "x", "rule_name": "C2", "severity": "critical", "summary": "critical one", "src": {"ip": "192.168.1.42"}}).to_string();
    c.ingest(&token, critical).await;
    let queue = p.get(&c, "/queue").await.text().await.unwrap();
    let (first, second) = (queue.find("critical one"), queue.find("192.168.1.41"));
    assert!(
        first.is_some() && second.is_some() && first < second,
        "{queue}"
    );
    assert!(queue.contains("⚠") || queue.contains("経過"), "{queue}");

    // Evidence: a ZIP with its digest, noted in the timeline.
    let id = c
        .store
        .incidents(&Scope::All, &Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.title.contains("critical one"))
        .unwrap()
        .id;
    let resp = p.get(&c, &format!("/incidents/{id}/evidence.zip")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let sha = resp.headers()["x-content-sha256"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"));
    let timeline = c.store.timeline(&Scope::All, id).await.unwrap();
    assert!(timeline
        .iter()
        .any(|e| format!("{:?}", e.kind).contains(&sha)));
    // The first person to act started the first-response clock.
    let inc = c.store.incident(&Scope::All, id).await.unwrap().unwrap();
    assert!(inc.first_response.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn training_is_set_up_from_the_console() {
    let (c, _) = console_with_alpha().await;
    let a = c.login("admin@alpha.example", PASSWORD).await;
    let r = a
        .post_form(
            &c,
            "/drill/import",
            &[
                ("csrf", &a.csrf),
                ("group", "営業部"),
                (
                    "csv",
                    "氏名,メールアドレス,部署,役職\n山田 太郎,yamada@alpha.example,営業部,課長\n",
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = a.get(&c, "/drill").await.text().await.unwrap();
    assert!(page.contains("営業部 (1)"), "{page}");
    let marker = "name=\"group\"><option value=\"";
    let at = page.find(marker).expect("the group select") + marker.len();
    let group: String = page[at..].chars().take_while(|c| *c != '"').collect();
    let r = a
        .post_form(
            &c,
            "/drill/campaigns",
            &[
                ("csrf", &a.csrf),
                ("name", "請求書訓練"),
                ("template", "invoice-ja"),
                ("group", &group),
                ("smtp", "127.0.0.1:25"),
                ("from", "billing@notice.example"),
                ("base_url", "http://127.0.0.1:8080"),
                ("per_minute", "60"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = a.get(&c, "/drill").await.text().await.unwrap();
    assert!(page.contains("請求書訓練"), "{page}");
    let r = a
        .post_form(
            &c,
            "/drill/education",
            &[
                ("csrf", &a.csrf),
                ("language", "ja"),
                ("intro", "これは訓練でした。"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    // A bad CSV line is named.
    let r = a
        .post_form(
            &c,
            "/drill/import",
            &[
                ("csrf", &a.csrf),
                ("group", "x"),
                ("csv", "氏名,メールアドレス\n山田,not-an-address\n"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("line 2"));
    // A viewer reads but does not run training.
    let v = c.login("viewer@alpha.example", PASSWORD).await;
    assert_eq!(v.get(&c, "/drill").await.status(), 200);
    let r = v
        .post_form(&c, "/drill/education", &[("csrf", &v.csrf), ("intro", "x")])
        .await;
    assert_eq!(r.status(), 403);
}
