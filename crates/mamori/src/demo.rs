//! `mamori up --demo`: two demo companies with a month of the incidents Japanese SMEs
//! actually see, sent through the same ingest path as real events (NDJSON → parse → bus →
//! store), then worked the way a provider's analyst would: some resolved, some under
//! investigation with notes, some still new.

use anyhow::Result;
use mamori_console::api::parse_ndjson;
use mamori_core::bus::Publisher;
use mamori_core::incident::IncidentChange;
use mamori_core::{Alert, Asset, AssetKind, Engine, IncidentState, Scope, Severity};
use mamori_store::{DynStore, IncidentQuery};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const TENANTS: [(&str, &str, &str, &str); 2] = [
    (
        "sakura-shoji",
        "株式会社さくら商事",
        "sakura-shoji.example.jp",
        "192.168.10",
    ),
    (
        "yamato-seiki",
        "大和精機株式会社",
        "yamato-seiki.example.jp",
        "10.20.1",
    ),
];

const ANALYST: &str = "analyst@provider.example";

pub async fn load(store: &DynStore, bus: &Publisher) -> Result<()> {
    for (name, display, domain, net) in TENANTS {
        if store.tenant(&Scope::All, name).await?.is_some() {
            tracing::info!(tenant = name, "demo tenant exists; leaving it as it is");
            continue;
        }
        store.create_tenant(name, display).await?;
        let seed = name.bytes().map(u64::from).sum::<u64>();
        let alerts = month_of_alerts(name, domain, net, seed);
        let total = alerts.len();
        let ndjson: Vec<u8> = alerts
            .iter()
            .flat_map(|a| {
                let mut line = serde_json::to_vec(a).unwrap_or_default();
                line.push(b'\n');
                line
            })
            .collect();
        let (parsed, answer) = parse_ndjson(&ndjson, name);
        if !answer.errors.is_empty() {
            anyhow::bail!(
                "demo data for {name} did not parse: {:?}",
                answer.errors.first()
            );
        }
        for chunk in parsed.chunks(5000) {
            bus.publish_and_wait(chunk.to_vec()).await?;
        }
        work_incidents(store, name).await?;
        tracing::info!(tenant = name, alerts = total, "demo tenant created");
    }
    Ok(())
}

struct Gen {
    rng: StdRng,
    now: OffsetDateTime,
    tenant: String,
    out: Vec<Alert>,
}

impl Gen {
    /// A time `days_ago` days back, during office hours more often than not.
    fn when(&mut self, days_ago: f64) -> OffsetDateTime {
        let jitter = self.rng.random_range(0.0..1.0);
        let t = self.now - Duration::seconds_f64((days_ago + jitter * 0.3) * 86_400.0);
        t.min(self.now - Duration::minutes(1))
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        time: OffsetDateTime,
        engine: Engine,
        rule: (&str, &str),
        severity: Severity,
        category: &str,
        summary: String,
        set: impl FnOnce(&mut Alert),
    ) {
        let mut a = Alert::new(engine, rule.0, rule.1, severity, summary);
        a.id = ulid::Ulid::from_parts(
            mamori_core::unix_ms(time).max(0) as u64,
            self.rng.random::<u128>(),
        );
        a.time = time;
        a.tenant = self.tenant.clone();
        a.sensor = format!("{}-gw1", self.tenant);
        a.category = Some(category.to_string());
        set(&mut a);
        self.out.push(a);
    }
}

fn month_of_alerts(tenant: &str, domain: &str, net: &str, seed: u64) -> Vec<Alert> {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        now: OffsetDateTime::now_utc(),
        tenant: tenant.to_string(),
        out: Vec::new(),
    };
    let pc = |n: u8| format!("{net}.{n}");
    let shop = format!("https://www.{domain}");

    // Background: scans of exposed RDP/VPN ports, every day.
    for day in 0..30 {
        let n = g.rng.random_range(15..40);
        for _ in 0..n {
            let t = g.when(day as f64);
            let src = format!("198.51.100.{}", g.rng.random_range(1..254));
            let gw = format!("{net}.1");
            g.push(t, Engine::Ids, ("1:2001219", "ET SCAN Potential SSH Scan"), Severity::Low, "reconnaissance",
                "外部からのポートスキャン（RDP/SSH/VPN ポートへの接続試行）".into(), |a| {
                    a.src.ip = src.parse().ok();
                    a.dst.ip = gw.parse().ok();
                    a.dst.port = Some([22, 3389, 443, 10443][(t.second() % 4) as usize]);
                    a.evidence = json!({"flow": {"pkts_toserver": 3, "bytes_toserver": 180}, "note": "SYN to exposed service"});
                });
        }
    }
    // Credential stuffing against the VPN from abroad, days 26–24.
    for i in 0..160 {
        let t = g.when(26.0 - i as f64 / 80.0);
        let src = format!("203.0.113.{}", g.rng.random_range(10..40));
        let user = ["tanaka", "suzuki", "sato", "admin", "test"][i % 5];
        g.push(t, Engine::Logs, ("logs.vpn_bruteforce", "VPN login failures from one address"), Severity::Medium, "credential-access",
            format!("VPN へのログイン失敗が続いています（ユーザー {user}、海外 IP）"), |a| {
                a.src.ip = src.parse().ok();
                a.dst.user = Some(user.to_string());
                a.asset = Some(Asset::new(AssetKind::Host, "vpn-gateway"));
                a.evidence = json!({"log": format!("sslvpn: login failed user={user} from {src} reason=bad_password"), "failures_10min": 25});
            });
    }
    // Emotet: a password-protected zip with a colleague's display name, then C2 beacons.
    let victim = pc(23);
    let t0 = g.when(12.0);
    g.push(t0, Engine::Mail, ("mail.encrypted_zip", "Password-protected ZIP from outside"), Severity::High, "initial-access",
        "社外から「RE: 見積書の件」パスワード付きZIP添付（同僚の表示名を詐称）".into(), |a| {
            a.src.mail = Some("yamada.taro@freemail-example.com".into());
            a.dst.mail = Some(format!("sato@{domain}"));
            a.asset = Some(Asset::new(AssetKind::MailAccount, format!("sato@{domain}")));
            a.evidence = json!({"verdict": "quarantine", "direction": "inbound",
                "headers": {"From": "\"山田 太郎\" <yamada.taro@freemail-example.com>", "Subject": "RE: 見積書の件", "X-Mailer": "unknown"},
                "attachment": {"name": "見積書_1012.zip", "encrypted": true, "password_in_body": true}});
        });
    for i in 0..96 {
        let t = t0 + Duration::minutes(20 + i * 37 + g.rng.random_range(0..5));
        if t >= g.now {
            break;
        }
        let sev = if i > 40 {
            Severity::Critical
        } else {
            Severity::High
        };
        g.push(t, Engine::Ids, ("ids.beacon", "Regular calls to a command server (beacon)"), sev, "command-and-control",
            format!("PC {victim} が外部サーバー 185.100.87.41 へ約37分間隔で通信（C2 通信の疑い）"), |a| {
                a.src.ip = victim.parse().ok();
                a.src.port = Some(49152 + (i as u16 % 1000));
                a.dst.ip = "185.100.87.41".parse().ok();
                a.dst.port = Some(8080);
                a.evidence = json!({"interval_seconds": 2220, "jitter": 0.04, "connections": i + 1, "http": {"method": "POST", "uri": "/wp/inc/", "user_agent": "Mozilla/4.0 (compatible; MSIE 7.0)"}});
            });
    }
    // SQL injection against the web shop, blocked by the WAF.
    for i in 0..220 {
        // Attacks come in campaigns: a few bursts of automated scanning, not a steady drip.
        let burst = [19.2, 15.6, 11.1, 8.4, 5.3, 2.7, 0.6][i % 7];
        let t = g.now - Duration::seconds_f64(burst * 86_400.0 + g.rng.random_range(0.0..2400.0));
        let src = format!(
            "45.{}.{}.{}",
            g.rng.random_range(1..250),
            g.rng.random_range(1..250),
            g.rng.random_range(1..250)
        );
        let (rule, name, sev, payload) = match i % 3 {
            0 => (
                "waf.942100",
                "SQL Injection Attack Detected via libinjection",
                Severity::Critical,
                "id=1' OR '1'='1",
            ),
            1 => (
                "waf.941100",
                "XSS Attack Detected via libinjection",
                Severity::High,
                "q=<script>alert(1)</script>",
            ),
            _ => (
                "waf.930120",
                "OS File Access Attempt",
                Severity::High,
                "file=../../etc/passwd",
            ),
        };
        let url = format!("{shop}/products?{payload}");
        g.push(t, Engine::Waf, (rule, name), sev, "initial-access",
            format!("Webサイトへの攻撃を遮断しました（{name}）"), |a| {
                a.src.ip = src.parse().ok();
                a.dst.url = Some(url.clone());
                a.evidence = json!({"request": format!("GET {url} HTTP/1.1"), "matched": payload, "action": "blocked", "anomaly_score": 10});
            });
    }
    // Outbound mistakes held by the mail guard.
    for (days, rule, name, sev, summary) in [
        (18.0, "mail.mass_recipients", "Many external recipients in To/Cc", Severity::Medium,
         "社外 58 件のアドレスが To/Cc に入ったメールを保留し、Bcc への変更を送信者に通知しました"),
        (9.0, "mail.pii", "Personal data in attachment", Severity::High,
         "添付ファイル（顧客一覧.xlsx）に個人情報（電話番号 1,240 件・住所）を検出し、送信を保留しました"),
        (3.0, "mail.lookalike_domain", "Recipient domain looks like a usual partner's", Severity::Medium,
         "宛先ドメイン example-partmer.co.jp が取引先 example-partner.co.jp に酷似しているため保留しました"),
    ] {
        let t = g.when(days);
        g.push(t, Engine::Mail, (rule, name), sev, "exfiltration", summary.to_string(), |a| {
            a.src.mail = Some(format!("kobayashi@{domain}"));
            a.evidence = json!({"action": "held", "subject": "【ご案内】年末年始の営業について"});
        });
    }
    // Website diagnosis findings.
    let t = g.when(6.0);
    g.push(t, Engine::Scan, ("scan.exposed_git", "Exposed .git directory"), Severity::High, "initial-access",
        format!("{shop}/.git/ が外部から取得できます。ソースコードや認証情報が漏えいするおそれがあります"), |a| {
            a.dst.url = Some(format!("{shop}/.git/HEAD"));
            a.evidence = json!({"request": "GET /.git/HEAD", "response": "ref: refs/heads/main", "fix": "Web サーバーで .git へのアクセスを拒否してください"});
        });
    let t = g.when(6.0);
    g.push(
        t,
        Engine::Scan,
        ("scan.tls_expiring", "TLS certificate expires soon"),
        Severity::Medium,
        "",
        "サーバー証明書の有効期限まで 12 日です".into(),
        |a| {
            a.dst.url = Some(shop.clone());
            a.evidence = json!({"not_after": "2026-12-05T00:00:00Z"});
        },
    );
    // Windows / AD events.
    for (days, rule, name, sev, user, summary) in [
        (
            15.0,
            "logs.4720",
            "User account created",
            Severity::High,
            "svc_backup2",
            "業務時間外にドメイン管理者権限のアカウントが作成されました",
        ),
        (
            14.5,
            "logs.4740",
            "Account locked out",
            Severity::Medium,
            "tanaka",
            "アカウント tanaka がロックアウトされました（パスワード誤り 10 回）",
        ),
        (
            2.0,
            "logs.1102",
            "Security log cleared",
            Severity::Critical,
            "administrator",
            "ファイルサーバーでセキュリティログが消去されました",
        ),
    ] {
        let t = g.when(days);
        let host = pc(5);
        g.push(t, Engine::Logs, (rule, name), sev, "persistence", summary.to_string(), |a| {
            a.src.user = Some(user.to_string());
            a.dst.ip = host.parse().ok();
            a.evidence = json!({"channel": "Security", "event_id": rule.trim_start_matches("logs."), "computer": "FS01"});
        });
    }
    // Training results and DNS noise.
    for i in 0..12 {
        let t = g.when(20.0 - i as f64 * 0.1);
        g.push(
            t,
            Engine::Drill,
            ("drill.clicked", "Training mail link clicked"),
            Severity::Info,
            "",
            "標的型メール訓練：営業部の社員が訓練メールのリンクをクリックしました".into(),
            |a| {
                a.dst.mail = Some(format!("staff{i}@{domain}"));
            },
        );
    }
    for day in 0..30 {
        for _ in 0..g.rng.random_range(3..9) {
            let t = g.when(day as f64);
            let host = pc(g.rng.random_range(30..80));
            g.push(
                t,
                Engine::Ids,
                ("ids.dns_new_domain", "Query for a newly registered domain"),
                Severity::Info,
                "command-and-control",
                "新しく登録されたドメインへの DNS 問い合わせ".into(),
                |a| {
                    a.src.ip = host.parse().ok();
                    a.evidence =
                        json!({"dns": {"rrname": "cdn-update-check.example", "rrtype": "A"}});
                },
            );
        }
    }
    g.out.sort_by_key(|a| a.time);
    g.out
}

/// Works the demo incidents: older ones resolved or marked false positive, recent ones
/// under investigation with notes, the newest left for the user.
async fn work_incidents(store: &DynStore, tenant: &str) -> Result<()> {
    let scope = Scope::Tenant(tenant.to_string());
    let mut cursor = None;
    let now = OffsetDateTime::now_utc();
    loop {
        let page = store
            .incidents(
                &scope,
                &IncidentQuery {
                    open_only: false,
                    limit: 200,
                    cursor: cursor.clone(),
                    ..IncidentQuery::default()
                },
            )
            .await?;
        for inc in &page.items {
            let age = now - inc.last_seen;
            let steps: Vec<IncidentChange> = if age > Duration::days(7)
                || (inc.severity <= Severity::Low && age > Duration::hours(12))
            {
                if inc.severity <= Severity::Low {
                    vec![
                        IncidentChange::Note(
                            "外部からの定常的なスキャンで、通信は遮断済み。影響なし。".into(),
                        ),
                        IncidentChange::State(IncidentState::FalsePositive),
                    ]
                } else {
                    vec![
                        IncidentChange::Assign(Some(ANALYST.into())),
                        IncidentChange::State(IncidentState::Investigating),
                        IncidentChange::Note(
                            "ログを確認しました。該当端末の利用者に連絡済みです。".into(),
                        ),
                        IncidentChange::State(IncidentState::Contained),
                        IncidentChange::State(IncidentState::Resolved),
                    ]
                }
            } else if age > Duration::days(1) && inc.severity >= Severity::High {
                vec![
                    IncidentChange::Assign(Some(ANALYST.into())),
                    IncidentChange::State(IncidentState::Investigating),
                    IncidentChange::Note(
                        "通信先をブロックリストに追加予定。端末のネットワーク隔離を依頼しました。"
                            .into(),
                    ),
                ]
            } else {
                Vec::new()
            };
            for change in steps {
                store
                    .update_incident(&scope, inc.id, change, ANALYST)
                    .await?;
            }
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    Ok(())
}
