//! Tenant isolation, route by route: a user or token of tenant A gets nothing of tenant B
//! from any page or API route. The test walks `routes::ROUTES`, so a new route cannot be
//! added without deciding how it is scoped.

mod common;

use common::*;
use mamori_console::routes::{Access, ROUTES};
use mamori_core::config::Config;
use mamori_core::{IncidentState, Role, Scope};
use mamori_store::{AlertQuery, IncidentQuery};

const B_MARK: &str = "SECRET-OF-TENANT-B";

#[tokio::test(flavor = "multi_thread")]
async fn tenant_a_gets_nothing_of_tenant_b_on_any_route() {
    let c = start(Config::default()).await;
    c.add_tenant("alpha").await;
    c.add_tenant("bravo").await;
    c.add_user("admin@alpha.example", Role::TenantAdmin, Some("alpha"))
        .await;
    c.add_user("bob@bravo.example", Role::TenantAdmin, Some("bravo"))
        .await;
    let token_a = c.add_token("alpha", "alpha-sensor").await;
    let token_b = c.add_token("bravo", "bravo-sensor").await;

    let (s, _) = c
        .ingest(
            &token_a,
            event("01J00000000000000000000001", "alpha alert", "192.168.1.10"),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = c
        .ingest(
            &token_b,
            event("01J00000000000000000000002", B_MARK, "10.9.9.9"),
        )
        .await;
    assert_eq!(s, 200);

    // A log event of bravo's, for the log search.
    let b_event = mamori_store::LogEvent {
        id: "bravo-event-1".into(),
        tenant: "bravo".into(),
        time_ms: mamori_core::now_ms(),
        host: "dc-bravo".into(),
        source: "evtx".into(),
        channel: Some("Security".into()),
        event_id: Some(4625),
        record_id: Some(1),
        file: None,
        fields: vec![("TargetUserName".into(), B_MARK.into())],
        raw: B_MARK.into(),
    };
    c.store.ingest_events(&[b_event]).await.unwrap();

    let b_alert = c
        .store
        .alerts(
            &Scope::Tenant("bravo".into()),
            &AlertQuery {
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let b_alert = &b_alert.items[0];
    let b_incident = b_alert.incident.expect("b's alert opened an incident");
    // A response action of bravo's (its target is bravo's marker address).
    let b_action = c
        .store
        .create_action(mamori_store::NewAction {
            tenant: Some("bravo".into()),
            kind: mamori_store::ActionKind::Isolate,
            target: "10.9.9.9".into(),
            incident: Some(b_incident),
            actor: "bob@bravo.example".into(),
            reason: B_MARK.into(),
            expires_at: None,
        })
        .await
        .unwrap();
    let b_ids = [
        b_alert.alert.id.to_string(),
        b_incident.to_string(),
        b_action.id.to_string(),
    ];

    // A held mail of bravo's in the gateway's spool.
    let spool = mamori_mail::queue::spool::Spool::open(&c.dir.join("mail-spool")).unwrap();
    let b_mail = mamori_core::Ulid::new().to_string();
    let entry = mamori_mail::queue::spool::Entry {
        id: b_mail.clone(),
        tenant: "bravo".into(),
        direction: "outbound".into(),
        mail_from: "bob@bravo.example".into(),
        recipients: vec![mamori_mail::queue::spool::Recipient {
            address: "x@elsewhere.example".into(),
            state: mamori_mail::queue::spool::RcptState::Pending,
            last_reply: String::new(),
        }],
        received_ms: 0,
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        hold: Some(mamori_mail::queue::spool::Hold::Held {
            reasons: vec!["mail.pii_phone".into()],
        }),
        auth_user: None,
        size: 10,
        report: Some(serde_json::json!({"verdict": "hold", "subject": B_MARK, "reasons": []})),
    };
    spool
        .put(&entry, format!("Subject: {B_MARK}\r\n\r\nx\r\n").as_bytes())
        .unwrap();

    let user_a = c.login("admin@alpha.example", PASSWORD).await;
    let leaks = |body: &str| {
        body.contains(B_MARK)
            || b_ids.iter().any(|id| body.contains(id.as_str()))
            || body.contains("bob@bravo.example")
            || body.contains("bravo-sensor")
            || body.contains("10.9.9.9")
    };

    let mut checked = 0;
    for route in ROUTES {
        let is_api = route.path.starts_with("/api/");
        let concrete = route.path.replace(
            "{id}",
            &match route.path {
                p if p.contains("alerts") => b_alert.alert.id.to_string(),
                p if p.starts_with("/mail") => b_mail.clone(),
                p if p.contains("response") || p.contains("actions") => b_action.id.to_string(),
                _ => b_incident.to_string(),
            },
        );
        match (route.access, route.method) {
            (Access::Public, _) => {
                if route.method == "get" && !route.path.contains('{') {
                    let body = c
                        .client
                        .get(c.url(route.path))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    assert!(!leaks(&body), "{} leaks", route.path);
                }
            }
            (Access::ScopedList, "get") => {
                for path in [concrete.clone(), format!("{concrete}?tenant=bravo")] {
                    let body = user_a.get(&c, &path).await.text().await.unwrap();
                    assert!(
                        !leaks(&body),
                        "GET {path} as alpha's admin shows bravo's data"
                    );
                    if is_api {
                        let resp = c
                            .client
                            .get(c.url(&path))
                            .bearer_auth(&token_a)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(resp.status(), 200, "GET {path} with alpha's token");
                        assert!(
                            !leaks(&resp.text().await.unwrap()),
                            "GET {path} with alpha's token shows bravo's data"
                        );
                    }
                }
                checked += 1;
            }
            (Access::ScopedObject, "get") => {
                let resp = user_a.get(&c, &concrete).await;
                assert_eq!(resp.status(), 404, "GET {concrete} as alpha's admin");
                assert!(!leaks(&resp.text().await.unwrap()));
                if is_api {
                    let resp = c
                        .client
                        .get(c.url(&concrete))
                        .bearer_auth(&token_a)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 404, "GET {concrete} with alpha's token");
                }
                checked += 1;
            }
            (Access::ScopedChange, method) => {
                let status = if is_api {
                    c.client
                        .request(method.to_uppercase().parse().unwrap(), c.url(&concrete))
                        .bearer_auth(&token_a)
                        .json(&serde_json::json!({"state": "resolved", "note": "x"}))
                        .send()
                        .await
                        .unwrap()
                        .status()
                } else {
                    user_a
                        .post_form(
                            &c,
                            &concrete,
                            &[
                                ("csrf", &user_a.csrf),
                                ("state", "resolved"),
                                ("assignee", "mallory"),
                                ("text", "x"),
                            ],
                        )
                        .await
                        .status()
                };
                assert_eq!(status, 404, "{method} {concrete} by alpha");
                checked += 1;
            }
            (Access::Admin, "get") => {
                let resp = user_a.get(&c, route.path).await;
                let status = resp.status();
                assert!(
                    status == 200 || status == 403,
                    "GET {} → {status}",
                    route.path
                );
                assert!(
                    !leaks(&resp.text().await.unwrap()),
                    "GET {} as alpha's admin shows bravo's data",
                    route.path
                );
                checked += 1;
            }
            (Access::Admin, "post") => {
                let fields: Vec<(&str, &str)> = match route.path {
                    "/tenants" => vec![("name", "charlie")],
                    "/users" => vec![
                        ("email", "eve@bravo.example"),
                        ("role", "tenant_admin"),
                        ("tenant", "bravo"),
                        ("password", "long enough password"),
                    ],
                    "/tokens" => vec![("tenant", "bravo"), ("name", "stolen")],
                    "/tokens/revoke" => vec![("tenant", "bravo"), ("name", "bravo-sensor")],
                    // The test console's WAF belongs to no tenant of alpha's.
                    "/waf/exclusions" => vec![("rule", "942100"), ("path", "/")],
                    "/waf/mode" => vec![("site", "shop"), ("mode", "Off")],
                    "/scans/sites" | "/scans/run" => {
                        vec![("tenant", "bravo"), ("url", "https://bravo.example/")]
                    }
                    "/drill/education" => {
                        vec![("tenant", "bravo"), ("language", "ja"), ("intro", "x")]
                    }
                    "/drill/import" => vec![
                        ("tenant", "bravo"),
                        ("group", "g"),
                        ("csv", "name,email\nx,x@bravo.example"),
                    ],
                    "/drill/campaigns" => vec![
                        ("tenant", "bravo"),
                        ("name", "n"),
                        ("template", "invoice-ja"),
                        ("group", "g"),
                        ("smtp", "127.0.0.1:25"),
                        ("from", "a@b.example"),
                        ("base_url", "http://x.example"),
                    ],
                    "/response" | "/api/v1/actions" => vec![
                        ("tenant", "bravo"),
                        ("kind", "block_ip"),
                        ("target", "192.0.2.1"),
                        ("reason", "x"),
                    ],
                    other => panic!("no isolation check for POST {other}"),
                };
                let mut form = vec![("csrf", user_a.csrf.as_str())];
                form.extend(fields);
                let resp = user_a.post_form(&c, route.path, &form).await;
                assert!(
                    matches!(resp.status().as_u16(), 400 | 403 | 404),
                    "POST {} by alpha → {}",
                    route.path,
                    resp.status()
                );
                assert!(!leaks(&resp.text().await.unwrap()));
                checked += 1;
            }
            (Access::Ingest, _) => {
                let line = serde_json::json!({"tenant": "bravo", "engine": "ids", "rule_id": "x", "rule_name": "x", "severity": "critical", "summary": "planted"}).to_string();
                let (status, answer) = c.ingest(&token_a, line).await;
                assert_eq!(status, 400);
                assert_eq!(answer["errors"][0]["line"], 1);
                checked += 1;
            }
            (access, method) => panic!("no isolation check for {access:?} {method} {}", route.path),
        }
    }
    assert!(checked >= 15, "only {checked} routes checked");

    // Nothing of bravo's changed, and nothing was planted in it.
    let inc = c
        .store
        .incident(&Scope::All, b_incident)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inc.state, IncidentState::New);
    assert_eq!(inc.assignee, None);
    assert_eq!(
        c.store
            .timeline(&Scope::All, b_incident)
            .await
            .unwrap()
            .len(),
        1
    );
    let b_alerts = c
        .store
        .alerts(&Scope::Tenant("bravo".into()), &AlertQuery::default())
        .await
        .unwrap();
    assert_eq!(b_alerts.items.len(), 1);
    assert!(c
        .store
        .user_by_email("eve@bravo.example")
        .await
        .unwrap()
        .is_none());
    assert!(c
        .store
        .tenant(&Scope::All, "charlie")
        .await
        .unwrap()
        .is_none());
    let b_tokens = c
        .store
        .tokens(&Scope::Tenant("bravo".into()))
        .await
        .unwrap();
    assert_eq!(b_tokens.len(), 1);
    assert!(b_tokens[0].revoked_at.is_none());
    let open = c
        .store
        .incidents(
            &Scope::Tenant("bravo".into()),
            &IncidentQuery {
                open_only: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    // bravo's action is still in force, and alpha took none for bravo.
    let b_actions = c
        .store
        .actions(&Scope::Tenant("bravo".into()), &Default::default())
        .await
        .unwrap();
    assert_eq!(b_actions.len(), 1);
    assert!(b_actions[0].released_at.is_none());
}
