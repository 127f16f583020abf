//! A console on loopback over a fresh SQLite store, and an HTTP client that keeps its own
//! cookies, for the console's end-to-end tests.

#![allow(dead_code)]

use mamori_console::{auth, AppState};
use mamori_core::config::Config;
use mamori_core::{Role, Scope};
use mamori_store::writer::{self, WriterConfig};
use mamori_store::{DynStore, NewUser};
use std::path::PathBuf;
use std::sync::Arc;

pub struct Console {
    pub base: String,
    pub store: DynStore,
    pub dir: PathBuf,
    pub client: reqwest::Client,
}

pub fn temp_dir(tag: &str) -> PathBuf {
    mamori_core::scratch::dir(tag)
}

pub async fn start(config: Config) -> Console {
    let dir = temp_dir("console");
    let store = mamori_store::open("", &dir.join("mamori.db"))
        .await
        .unwrap();
    start_with(config, store, dir).await
}

pub async fn start_with(config: Config, store: DynStore, dir: PathBuf) -> Console {
    let (bus, sub) = mamori_core::bus::channel(config.bus.capacity);
    tokio::spawn(writer::run(
        sub,
        store.clone(),
        WriterConfig {
            batch_size: config.bus.batch_size,
            flush: std::time::Duration::from_millis(1),
            window: time::Duration::minutes(config.incidents.window_minutes as i64),
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = !config.console.tls_cert.is_empty();
    let state = AppState {
        store: store.clone(),
        bus,
        config: Arc::new(config),
        secure: tls,
        mail_spool: Some(dir.join("mail-spool")),
        data_dir: Some(dir.clone()),
        drill: Some(mamori_drill::Drill::open(&dir).unwrap()),
    };
    tokio::spawn(async move {
        mamori_console::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let scheme = if tls { "https" } else { "http" };
    Console {
        base: format!("{scheme}://{addr}"),
        store,
        dir,
        client,
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl Console {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn add_tenant(&self, name: &str) {
        self.store
            .create_tenant(name, &format!("{name} 株式会社"))
            .await
            .unwrap();
    }

    pub async fn add_user(&self, email: &str, role: Role, tenant: Option<&str>) {
        self.store
            .create_user(NewUser {
                email: email.into(),
                password_hash: auth::hash_password(PASSWORD).unwrap(),
                role,
                tenant: tenant.map(str::to_string),
            })
            .await
            .unwrap();
    }

    pub async fn add_token(&self, tenant: &str, name: &str) -> String {
        let secret = auth::new_token();
        self.store
            .create_token(tenant, name, &auth::sha256_hex(&secret))
            .await
            .unwrap();
        secret
    }

    /// Logs in through the login form; answers the session.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let (status, session) = self.try_login(email, password).await;
        assert_eq!(status, 303, "login of {email} failed");
        session.expect("no session cookie")
    }

    pub async fn try_login(&self, email: &str, password: &str) -> (u16, Option<Session>) {
        let page = self.client.get(self.url("/login")).send().await.unwrap();
        let login_cookie =
            set_cookie_value(&page, auth::LOGIN_CSRF_COOKIE).expect("login csrf cookie");
        let html = page.text().await.unwrap();
        let csrf = form_csrf(&html).expect("csrf field on the login form");
        let resp = self
            .client
            .post(self.url("/login"))
            .header(
                "cookie",
                format!("{}={login_cookie}", auth::LOGIN_CSRF_COOKIE),
            )
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let raw_cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(auth::SESSION_COOKIE))
            .map(str::to_string);
        let Some(raw_cookie) = raw_cookie else {
            return (status, None);
        };
        let cookie = raw_cookie.split(';').next().unwrap().to_string();
        let mut s = Session {
            cookie,
            csrf: String::new(),
            raw_cookie,
        };
        let home = s.get(self, "/").await;
        s.csrf =
            form_csrf(&home.text().await.unwrap()).expect("csrf on the overview's logout form");
        (status, Some(s))
    }

    /// Posts NDJSON with a token; answers status and JSON.
    pub async fn ingest(&self, token: &str, body: String) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .post(self.url("/api/v1/events"))
            .bearer_auth(token)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

pub struct Session {
    /// `mamori_session=…`
    pub cookie: String,
    pub csrf: String,
    /// The whole Set-Cookie header, to check its attributes.
    pub raw_cookie: String,
}

impl Session {
    pub async fn get(&self, c: &Console, path: &str) -> reqwest::Response {
        c.client
            .get(c.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(
        &self,
        c: &Console,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        c.client
            .post(c.url(path))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

pub fn set_cookie_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix(&format!("{name}="))
                .map(|r| r.split(';').next().unwrap_or("").to_string())
        })
}

pub fn form_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// One NDJSON line of a Mamori event.
pub fn event(id: &str, summary: &str, ip: &str) -> String {
    serde_json::json!({
        "id": id, "engine": "ids", "rule_id": "ids.test", "rule_name": "test rule",
        "severity": "high", "summary": summary, "src": {"ip": ip}, "dst": {"ip": "203.0.113.5", "port": 443}
    })
    .to_string()
}

pub fn scope_all() -> Scope {
    Scope::All
}
