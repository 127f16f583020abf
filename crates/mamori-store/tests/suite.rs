//! The store's behaviour, proved once and run against both backends.
//!
//! Every case is an async function taking a [`Db`] (a fresh, empty store plus a way to reopen
//! it). The `suite!` macro turns each into `sqlite::<case>` and `postgres::<case>` tests.
//! SQLite cases use a file in a fresh temporary directory. PostgreSQL cases need
//! `MAMORI_TEST_POSTGRES` (e.g. `postgres://mamori:mamori@127.0.0.1/mamori_test`); each case
//! gets its own schema, dropped afterwards. Without the variable the PostgreSQL cases are
//! skipped with a note, except under CI (`CI` set), where they fail: CI must not go green
//! without having tested PostgreSQL.

use mamori_core::incident::{IncidentChange, MAX_NOTE};
use mamori_core::{
    from_unix_ms, unix_ms, Alert, Asset, AssetKind, Engine, IncidentState, Role, Scope, Severity,
    TimelineKind,
};
use mamori_store::{
    ActionKind, ActionQuery, AlertQuery, DynStore, Error, EventQuery, IncidentQuery, LogEvent,
    NewAction, NewUser, Session,
};
use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
enum Target {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

/// A fresh store and how to reach its database again.
#[derive(Clone)]
struct Db {
    store: DynStore,
    target: Target,
}

impl Db {
    /// Opens the same database again, as a restart would.
    async fn reopen(&self) -> DynStore {
        match &self.target {
            Target::Sqlite(path) => mamori_store::open("", path).await.expect("reopen sqlite"),
            Target::Postgres { url, .. } => mamori_store::open(url, &PathBuf::new())
                .await
                .expect("reopen postgres"),
        }
    }

    /// Runs one SQL statement that changes rows, behind the store's back.
    async fn execute_raw(&self, sql: &str) {
        match &self.target {
            Target::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open sqlite");
                conn.busy_timeout(std::time::Duration::from_secs(5))
                    .expect("busy timeout");
                conn.execute_batch(sql).expect("raw sql");
            }
            Target::Postgres { url, .. } => {
                let client = pg_client(url).await;
                client.batch_execute(sql).await.expect("raw sql");
            }
        }
    }

    /// The versions recorded in `schema_migrations`.
    async fn migration_versions(&self) -> Vec<i64> {
        match &self.target {
            Target::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open sqlite");
                let mut st = conn
                    .prepare("SELECT version FROM schema_migrations ORDER BY version")
                    .expect("prepare");
                let rows = st.query_map([], |r| r.get(0)).expect("query");
                rows.collect::<Result<Vec<i64>, _>>().expect("rows")
            }
            Target::Postgres { url, .. } => {
                let client = pg_client(url).await;
                client
                    .query(
                        "SELECT version FROM schema_migrations ORDER BY version",
                        &[],
                    )
                    .await
                    .expect("query")
                    .iter()
                    .map(|r| r.get::<_, i64>(0))
                    .collect()
            }
        }
    }
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// Runs a case to the end, cleans up, then re-raises its panic if it had one.
async fn run_case<F, Fut>(db: Db, case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let result = tokio::spawn(case(db.clone())).await;
    match &db.target {
        Target::Sqlite(path) => {
            if let Some(dir) = path.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        Target::Postgres { url, schema } => {
            let admin = admin_url(url);
            let client = pg_client(&admin).await;
            if let Err(e) = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
            {
                eprintln!("could not drop test schema {schema}: {e}");
            }
        }
    }
    if let Err(e) = result {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

async fn run_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = mamori_core::scratch::dir("store");
    let path = dir.join("data").join("mamori.db");
    let store = mamori_store::open("", &path).await.expect("open sqlite");
    assert_eq!(store.backend(), "sqlite");
    run_case(
        Db {
            store,
            target: Target::Sqlite(path),
        },
        case,
    )
    .await;
}

fn admin_url(url: &str) -> String {
    // The per-case URL carries the search_path option; the admin connection does not.
    url.split_once("options=")
        .map(|(base, _)| base.trim_end_matches(['?', '&']).to_string())
        .unwrap_or_else(|| url.to_string())
}

async fn run_postgres<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let base = match std::env::var("MAMORI_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "MAMORI_TEST_POSTGRES is not set: PostgreSQL tests must run in CI \
                     (e.g. MAMORI_TEST_POSTGRES=postgres://mamori:mamori@127.0.0.1/mamori_test)"
                );
            }
            eprintln!("skipping PostgreSQL case: MAMORI_TEST_POSTGRES is not set");
            return;
        }
    };
    let schema = format!("mamori_test_{}", Ulid::new().to_string().to_lowercase());
    pg_client(&base)
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create test schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let store = match mamori_store::open(&url, &PathBuf::new()).await {
        Ok(store) => store,
        Err(e) => {
            let _ = pg_client(&base)
                .await
                .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                .await;
            panic!("open postgres store: {e}");
        }
    };
    assert_eq!(store.backend(), "postgres");
    run_case(
        Db {
            store,
            target: Target::Postgres { url, schema },
        },
        case,
    )
    .await;
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::run_sqlite(crate::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::run_postgres(crate::$case).await;
                }
            )*
        }
    };
}

suite!(
    migrations_are_applied_once_and_reopening_keeps_data,
    tenants_are_validated_unique_and_scoped,
    users_are_unique_by_email_whatever_the_case_and_need_a_tenant,
    sessions_answer_only_until_they_expire,
    login_failures_are_counted_by_email_and_by_address,
    tokens_are_found_by_hash_until_revoked_and_names_can_be_reused,
    ingest_counts_duplicates_within_and_across_batches,
    ingest_refuses_a_batch_with_an_unknown_tenant,
    a_batch_correlates_and_counts_exactly_as_alerts_one_by_one,
    alerts_on_one_asset_within_the_window_share_an_incident,
    an_alert_after_the_window_opens_a_new_incident,
    different_assets_get_different_incidents,
    closed_incidents_collect_no_new_alerts,
    info_alerts_never_open_incidents_but_join_open_ones,
    a_more_severe_alert_raises_the_incident_and_renames_it,
    each_alert_filter_narrows_the_list,
    text_search_is_case_insensitive_and_takes_wildcards_literally,
    keyset_pagination_walks_every_alert_exactly_once,
    paging_by_asset_or_incident_crosses_hours_without_gaps,
    incident_list_filters_and_pages,
    a_tenant_scope_never_reveals_another_tenant,
    state_changes_follow_the_allowed_transitions,
    notes_and_assignments_are_recorded_in_the_timeline,
    alert_counts_come_from_the_rollup_with_empty_buckets,
    purge_removes_old_alerts_closed_incidents_and_expired_sessions,
    a_corrupt_stored_alert_is_an_error_not_a_panic,
    log_events_are_searched_by_field_scoped_and_stored_once,
    response_actions_are_audited_scoped_and_released_once,
    sensor_contacts_are_replaced_per_sensor_and_scoped,
    the_triage_queue_puts_severe_and_old_first_and_records_sla_times,
    the_provider_queue_spans_a_thousand_tenants,
);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const WINDOW: Duration = Duration::minutes(30);

/// A whole-millisecond time `minutes` after a fixed point two days ago, so that alerts are
/// recent enough for the overview and comparisons are exact.
fn at(minutes: i64) -> OffsetDateTime {
    let base = unix_ms(OffsetDateTime::now_utc() - Duration::days(2));
    from_unix_ms(base - base % 3_600_000 + minutes * 60_000)
}

fn alert(tenant: &str, host: &str, severity: Severity, time: OffsetDateTime) -> Alert {
    let mut a = Alert::new(
        Engine::Ids,
        "ids.beacon",
        "Beacon to known C2",
        severity,
        format!("{severity} on {host}"),
    );
    a.tenant = tenant.into();
    a.time = time;
    a.asset = Some(Asset::new(AssetKind::Host, host));
    a
}

async fn setup(store: &DynStore, tenants: &[&str]) {
    for t in tenants {
        store
            .create_tenant(t, &format!("{t} Inc."))
            .await
            .expect("create tenant");
    }
}

async fn ingest(store: &DynStore, alerts: &[Alert]) -> mamori_store::IngestOutcome {
    store.ingest(alerts, WINDOW).await.expect("ingest")
}

async fn all_alerts(store: &DynStore, scope: &Scope, mut q: AlertQuery) -> Vec<Ulid> {
    let mut ids = Vec::new();
    q.limit = 500;
    loop {
        let page = store.alerts(scope, &q).await.expect("alerts");
        ids.extend(page.items.iter().map(|a| a.alert.id));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => return ids,
        }
    }
}

async fn incident_of(store: &DynStore, id: Ulid) -> Option<Ulid> {
    store
        .alert(&Scope::All, id)
        .await
        .expect("alert")
        .expect("alert is stored")
        .incident
}

fn sorted(mut ids: Vec<Ulid>) -> Vec<Ulid> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

async fn migrations_are_applied_once_and_reopening_keeps_data(db: Db) {
    setup(&db.store, &["acme"]).await;
    let versions = db.migration_versions().await;
    assert!(!versions.is_empty());
    let again = db.reopen().await;
    let third = db.reopen().await;
    assert_eq!(db.migration_versions().await, versions);
    assert_eq!(again.tenants(&Scope::All).await.unwrap().len(), 1);
    third.create_tenant("globex", "Globex").await.unwrap();
    assert_eq!(db.store.tenants(&Scope::All).await.unwrap().len(), 2);
}

async fn tenants_are_validated_unique_and_scoped(db: Db) {
    let s = &db.store;
    let t = s
        .create_tenant("acme-trading", "株式会社アクメ商事")
        .await
        .unwrap();
    assert_eq!(t.display_name, "株式会社アクメ商事");
    s.create_tenant("globex", "Globex").await.unwrap();
    for bad in ["", "Acme", "-acme", "acme trading", &"a".repeat(64)] {
        assert!(
            matches!(s.create_tenant(bad, "x").await, Err(Error::Invalid(_))),
            "{bad:?} should be refused"
        );
    }
    assert!(matches!(
        s.create_tenant("globex", "Again").await,
        Err(Error::Conflict(_))
    ));
    let names: Vec<_> = s
        .tenants(&Scope::All)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["acme-trading", "globex"]);
    let scoped = Scope::Tenant("globex".into());
    assert_eq!(s.tenants(&scoped).await.unwrap().len(), 1);
    assert!(s.tenant(&scoped, "acme-trading").await.unwrap().is_none());
    assert_eq!(
        s.tenant(&Scope::All, "acme-trading").await.unwrap(),
        Some(t)
    );
}

async fn users_are_unique_by_email_whatever_the_case_and_need_a_tenant(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let new = |email: &str, role, tenant: Option<&str>| NewUser {
        email: email.into(),
        password_hash: "$argon2id$fake".into(),
        role,
        tenant: tenant.map(Into::into),
    };
    let admin = s
        .create_user(new("Root@Provider.example", Role::ProviderAdmin, None))
        .await
        .unwrap();
    assert_eq!(admin.email, "root@provider.example");
    let taro = s
        .create_user(new("taro@acme.example", Role::TenantAdmin, Some("acme")))
        .await
        .unwrap();
    s.create_user(new("ken@globex.example", Role::Viewer, Some("globex")))
        .await
        .unwrap();
    assert!(matches!(
        s.create_user(new("TARO@acme.example", Role::Viewer, Some("acme")))
            .await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.create_user(new("x@acme.example", Role::Viewer, None))
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.create_user(new("x@nowhere.example", Role::Viewer, Some("nowhere")))
            .await,
        Err(Error::Invalid(_))
    ));

    let found = s.user_by_email("Taro@ACME.example").await.unwrap().unwrap();
    assert_eq!(found.id, taro.id);
    assert_eq!(found.role, Role::TenantAdmin);
    assert_eq!(found.tenant.as_deref(), Some("acme"));
    assert_eq!(
        s.user_by_id(taro.id).await.unwrap().unwrap().email,
        taro.email
    );
    assert!(s.user_by_id(taro.id + 1000).await.unwrap().is_none());
    assert_eq!(s.count_users().await.unwrap(), 3);
    assert_eq!(s.users(&Scope::All).await.unwrap().len(), 3);
    let acme = s.users(&Scope::Tenant("acme".into())).await.unwrap();
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].email, "taro@acme.example");

    s.set_password(taro.id, "$argon2id$new").await.unwrap();
    assert_eq!(
        s.user_by_id(taro.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(matches!(
        s.set_password(taro.id + 1000, "x").await,
        Err(Error::NotFound(_))
    ));
}

async fn sessions_answer_only_until_they_expire(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let user = s
        .create_user(NewUser {
            email: "taro@acme.example".into(),
            password_hash: "h".into(),
            role: Role::Viewer,
            tenant: Some("acme".into()),
        })
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    s.create_session(Session {
        id_hash: "h1".into(),
        user_id: user.id,
        csrf: "c1".into(),
        expires_at: now + Duration::hours(1),
    })
    .await
    .unwrap();
    let (session, who) = s.session("h1", now).await.unwrap().unwrap();
    assert_eq!(session.csrf, "c1");
    assert_eq!(who.id, user.id);
    assert!(s
        .session("h1", now + Duration::hours(2))
        .await
        .unwrap()
        .is_none());
    assert!(s.session("other", now).await.unwrap().is_none());
    assert!(matches!(
        s.create_session(Session {
            id_hash: "h2".into(),
            user_id: user.id + 1000,
            csrf: "c".into(),
            expires_at: now,
        })
        .await,
        Err(Error::Invalid(_))
    ));
    s.delete_session("h1").await.unwrap();
    assert!(s.session("h1", now).await.unwrap().is_none());
}

async fn login_failures_are_counted_by_email_and_by_address(db: Db) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    s.record_login_failure("Taro@acme.example", "192.0.2.1", now - Duration::hours(2))
        .await
        .unwrap();
    s.record_login_failure("taro@acme.example", "192.0.2.1", now)
        .await
        .unwrap();
    s.record_login_failure("hanako@acme.example", "192.0.2.1", now)
        .await
        .unwrap();
    s.record_login_failure("taro@acme.example", "198.51.100.7", now)
        .await
        .unwrap();
    let since = now - Duration::minutes(15);
    assert_eq!(
        s.login_failures("TARO@acme.example", "192.0.2.1", since)
            .await
            .unwrap(),
        (2, 2)
    );
    assert_eq!(
        s.login_failures("taro@acme.example", "192.0.2.1", now - Duration::days(1))
            .await
            .unwrap(),
        (3, 3)
    );
    s.clear_login_failures("taro@acme.example").await.unwrap();
    assert_eq!(
        s.login_failures("taro@acme.example", "192.0.2.1", since)
            .await
            .unwrap(),
        (0, 1)
    );
}

async fn tokens_are_found_by_hash_until_revoked_and_names_can_be_reused(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let t = s.create_token("acme", "sensor-1", "hash-1").await.unwrap();
    assert_eq!(t.tenant, "acme");
    assert!(t.revoked_at.is_none());
    s.create_token("globex", "sensor-1", "hash-2")
        .await
        .unwrap();
    assert!(matches!(
        s.create_token("acme", "sensor-1", "hash-3").await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.create_token("acme", "sensor-2", "hash-1").await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        s.create_token("nowhere", "x", "hash-9").await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(s.token_by_hash("hash-1").await.unwrap().unwrap().id, t.id);
    assert!(s.token_by_hash("nope").await.unwrap().is_none());

    assert!(s.revoke_token("acme", "sensor-1").await.unwrap());
    assert!(!s.revoke_token("acme", "sensor-1").await.unwrap());
    assert!(!s.revoke_token("acme", "missing").await.unwrap());
    assert!(s.token_by_hash("hash-1").await.unwrap().is_none());
    let listed = s.tokens(&Scope::Tenant("acme".into())).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked_at.is_some());

    let again = s.create_token("acme", "sensor-1", "hash-4").await.unwrap();
    assert!(again.revoked_at.is_none());
    assert_eq!(
        s.token_by_hash("hash-4").await.unwrap().unwrap().name,
        "sensor-1"
    );
    assert_eq!(s.tokens(&Scope::All).await.unwrap().len(), 2);
}

async fn ingest_counts_duplicates_within_and_across_batches(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.1", Severity::High, at(0));
    let b = alert("acme", "10.0.0.2", Severity::High, at(1));
    let out = ingest(s, &[a.clone(), b.clone(), a.clone()]).await;
    assert_eq!(out.stored, 2);
    assert_eq!(out.duplicates, 1);
    assert_eq!(out.duplicate_ids, [a.id]);
    assert_eq!(out.incidents_opened, 2);

    let c = alert("acme", "10.0.0.1", Severity::High, at(2));
    let out = ingest(s, &[b.clone(), c.clone()]).await;
    assert_eq!(out.stored, 1);
    assert_eq!(out.duplicate_ids, [b.id]);
    assert_eq!(out.incidents_opened, 0);

    let out = ingest(s, &[a.clone(), b.clone(), c.clone()]).await;
    assert_eq!((out.stored, out.duplicates), (0, 3));
    assert_eq!(ingest(s, &[]).await, Default::default());

    let stored = s.alert(&Scope::All, a.id).await.unwrap().unwrap();
    assert_eq!(stored.alert, a);
    let incident = s
        .incident(&Scope::All, stored.incident.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.alert_count, 2, "a duplicate must not count twice");
    assert_eq!(
        all_alerts(s, &Scope::All, AlertQuery::default())
            .await
            .len(),
        3
    );
}

/// What a tenant's alerts became, with the tenant's own ids replaced by positions in the
/// list of alerts it was sent, so that two tenants fed the same alerts can be compared.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// In first-seen order.
    incidents: Vec<IncidentShape>,
    /// Positions of alerts stored without an incident.
    unassigned: Vec<usize>,
    /// The overview's figures: total, by severity, by engine, hourly buckets, open incidents.
    total: i64,
    by_severity: Vec<(String, i64)>,
    by_engine: Vec<(String, i64)>,
    buckets: Vec<(i64, Vec<(String, i64)>)>,
    open_incidents: i64,
}

#[derive(Debug, PartialEq)]
struct IncidentShape {
    asset: String,
    title: String,
    severity: Severity,
    state: IncidentState,
    alert_count: i64,
    first_seen_ms: i64,
    last_seen_ms: i64,
    /// Positions of its alerts.
    alerts: Vec<usize>,
    /// Its timeline, alerts named by position.
    timeline: Vec<String>,
}

async fn outcome_of(s: &DynStore, tenant: &str, sent: &[Alert]) -> Outcome {
    let scope = Scope::Tenant(tenant.to_string());
    let position = |id: Ulid| {
        sent.iter()
            .position(|a| a.id == id)
            .expect("alert was sent")
    };
    let mut q = AlertQuery {
        limit: 500,
        ..AlertQuery::default()
    };
    let mut by_incident: std::collections::BTreeMap<Ulid, Vec<usize>> = Default::default();
    let mut unassigned = Vec::new();
    loop {
        let page = s.alerts(&scope, &q).await.expect("alerts");
        for a in &page.items {
            match a.incident {
                Some(i) => by_incident.entry(i).or_default().push(position(a.alert.id)),
                None => unassigned.push(position(a.alert.id)),
            }
        }
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    let mut incidents = Vec::new();
    let page = s
        .incidents(
            &scope,
            &IncidentQuery {
                limit: 500,
                ..IncidentQuery::default()
            },
        )
        .await
        .expect("incidents");
    assert!(page.next.is_none());
    for inc in page.items {
        let mut alerts = by_incident.remove(&inc.id).unwrap_or_default();
        alerts.sort_unstable();
        let timeline = s
            .timeline(&scope, inc.id)
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| match e.kind {
                TimelineKind::Opened { severity, alert } => {
                    format!("opened {severity} by {}", position(alert))
                }
                TimelineKind::SeverityRaised { from, to, alert } => {
                    format!("raised {from}->{to} by {}", position(alert))
                }
                other => format!("{other:?}"),
            })
            .collect();
        incidents.push(IncidentShape {
            asset: inc.asset,
            title: inc.title,
            severity: inc.severity,
            state: inc.state,
            alert_count: inc.alert_count,
            first_seen_ms: unix_ms(inc.first_seen),
            last_seen_ms: unix_ms(inc.last_seen),
            alerts,
            timeline,
        });
    }
    incidents.sort_by(|a, b| (a.first_seen_ms, &a.asset).cmp(&(b.first_seen_ms, &b.asset)));
    assert!(
        by_incident.is_empty(),
        "alerts point at incidents not listed"
    );
    unassigned.sort_unstable();
    let c = s
        .alert_counts(&scope, at(-24 * 60), Duration::hours(1))
        .await
        .expect("counts");
    let buckets = c
        .buckets
        .into_iter()
        .map(|b| (b.start_ms, b.by_severity.into_iter().collect()))
        .collect();
    Outcome {
        incidents,
        unassigned,
        total: c.total,
        by_severity: c.by_severity.into_iter().collect(),
        by_engine: c.by_engine.into_iter().collect(),
        buckets,
        open_incidents: c.open_incidents,
    }
}

async fn a_batch_correlates_and_counts_exactly_as_alerts_one_by_one(db: Db) {
    let s = &db.store;
    setup(s, &["batched", "single"]).await;
    // Before: on each tenant an open incident on host a (joined by the alerts below) and a
    // resolved one on host b (not joined).
    let mut before = Vec::new();
    for t in ["batched", "single"] {
        let a = alert(t, "10.0.0.1", Severity::Low, at(0));
        let b = alert(t, "10.0.0.2", Severity::High, at(0));
        ingest(s, std::slice::from_ref(&a)).await;
        ingest(s, std::slice::from_ref(&b)).await;
        before.push(vec![a, b.clone()]);
        let closed = incident_of(s, b.id).await.expect("incident");
        s.update_incident(
            &Scope::All,
            closed,
            IncidentChange::State(IncidentState::Resolved),
            "taro@acme.example",
        )
        .await
        .expect("resolve");
    }
    // Three hosts over three hours: runs inside the window, gaps beyond it, rising and falling
    // severities, info alerts, alerts without an asset, two engines.
    let severities = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::Info,
        Severity::High,
        Severity::Low,
        Severity::Critical,
    ];
    let minutes = [1, 4, 9, 17, 26, 33, 70, 71, 95, 140, 141, 150, 176];
    let mut sent = Vec::new();
    for (i, m) in minutes.iter().enumerate() {
        for (h, host) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            let severity = severities[(i + h) % severities.len()];
            let mut a = alert("single", host, severity, at(m + h as i64));
            if (i + h) % 5 == 0 {
                a.engine = Engine::Waf;
            }
            if (i + h) % 6 == 0 {
                a.asset = None;
            }
            sent.push(a);
        }
    }
    // One by one, in time order (the order a batch is correlated in).
    let mut in_order = sent.clone();
    in_order.sort_by_key(|a| (a.time, a.id));
    for a in &in_order {
        assert_eq!(ingest(s, std::slice::from_ref(a)).await.stored, 1);
    }
    // The same alerts under new ids, shuffled, in one batch prepared in three pieces (as the
    // bus writer merges envelopes), with an alert repeated inside the batch.
    let copies: Vec<Alert> = sent
        .iter()
        .map(|a| Alert {
            id: Ulid::from_datetime(std::time::SystemTime::from(a.time)),
            tenant: "batched".into(),
            ..a.clone()
        })
        .collect();
    let mut shuffled = copies.clone();
    shuffled.reverse();
    shuffled.swap(3, 20);
    shuffled.push(shuffled[7].clone());
    let mut batch = mamori_store::PreparedBatch::default();
    for piece in shuffled.chunks(15) {
        batch.append(mamori_store::PreparedBatch::new(piece).expect("prepare"));
    }
    let outcome = s.ingest_prepared(batch, WINDOW).await.expect("ingest");
    assert_eq!(outcome.stored, copies.len());
    assert_eq!(outcome.duplicates, 1);

    let batched = outcome_of(s, "batched", &[&before[0][..], &copies[..]].concat()).await;
    let single = outcome_of(s, "single", &[&before[1][..], &sent[..]].concat()).await;
    assert!(single.incidents.len() > 4, "{single:?}");
    assert!(!single.unassigned.is_empty());
    assert_eq!(batched, single);
}

async fn ingest_refuses_a_batch_with_an_unknown_tenant(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let good = alert("acme", "10.0.0.1", Severity::High, at(0));
    let bad = alert("nowhere", "10.0.0.1", Severity::High, at(0));
    match s.ingest(&[good.clone(), bad], WINDOW).await {
        Err(Error::Invalid(m)) => assert!(m.contains("unknown tenant nowhere"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(s.alert(&Scope::All, good.id).await.unwrap().is_none());
    assert_eq!(ingest(s, &[good]).await.stored, 1);
}

async fn alerts_on_one_asset_within_the_window_share_an_incident(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.5", Severity::Medium, at(0));
    let b = alert("acme", "10.0.0.5", Severity::Medium, at(20));
    // In separate batches the second must find the first in the store.
    let c = alert("acme", "10.0.0.5", Severity::Low, at(45));
    ingest(s, &[b.clone(), a.clone()]).await;
    ingest(s, std::slice::from_ref(&c)).await;
    let inc = incident_of(s, a.id).await.unwrap();
    assert_eq!(incident_of(s, b.id).await, Some(inc));
    assert_eq!(incident_of(s, c.id).await, Some(inc));
    let incident = s.incident(&Scope::All, inc).await.unwrap().unwrap();
    assert_eq!(incident.alert_count, 3);
    assert_eq!(incident.first_seen, a.time);
    assert_eq!(incident.last_seen, c.time);
    assert_eq!(incident.asset, "host:10.0.0.5");
    assert_eq!(incident.state, IncidentState::New);
    assert_eq!(incident.severity, Severity::Medium);
    let in_incident = all_alerts(
        s,
        &Scope::All,
        AlertQuery {
            incident: Some(inc),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(in_incident, [c.id, b.id, a.id]);
}

async fn an_alert_after_the_window_opens_a_new_incident(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.5", Severity::High, at(0));
    let b = alert("acme", "10.0.0.5", Severity::High, at(31));
    ingest(s, std::slice::from_ref(&a)).await;
    let out = ingest(s, std::slice::from_ref(&b)).await;
    assert_eq!(out.incidents_opened, 1);
    assert_ne!(incident_of(s, a.id).await, incident_of(s, b.id).await);
}

async fn different_assets_get_different_incidents(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let a = alert("acme", "10.0.0.5", Severity::High, at(0));
    let b = alert("acme", "10.0.0.6", Severity::High, at(1));
    // Same address, other tenant: another company's network.
    let c = alert("globex", "10.0.0.5", Severity::High, at(2));
    let mut d = alert("acme", "x", Severity::High, at(3));
    d.asset = None;
    let out = ingest(s, &[a.clone(), b.clone(), c.clone(), d.clone()]).await;
    assert_eq!(out.incidents_opened, 3);
    let ids: HashSet<_> = [
        incident_of(s, a.id).await,
        incident_of(s, b.id).await,
        incident_of(s, c.id).await,
    ]
    .into_iter()
    .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(incident_of(s, d.id).await, None, "no asset, no incident");
}

async fn closed_incidents_collect_no_new_alerts(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.5", Severity::High, at(0));
    ingest(s, std::slice::from_ref(&a)).await;
    let first = incident_of(s, a.id).await.unwrap();
    s.update_incident(
        &Scope::All,
        first,
        IncidentChange::State(IncidentState::Resolved),
        "taro@acme.example",
    )
    .await
    .unwrap();
    let b = alert("acme", "10.0.0.5", Severity::High, at(5));
    assert_eq!(
        ingest(s, std::slice::from_ref(&b)).await.incidents_opened,
        1
    );
    let second = incident_of(s, b.id).await.unwrap();
    assert_ne!(first, second);
    let closed = s.incident(&Scope::All, first).await.unwrap().unwrap();
    assert_eq!(closed.alert_count, 1);
}

async fn info_alerts_never_open_incidents_but_join_open_ones(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let i1 = alert("acme", "10.0.0.5", Severity::Info, at(0));
    let out = ingest(s, std::slice::from_ref(&i1)).await;
    assert_eq!((out.stored, out.incidents_opened), (1, 0));
    assert_eq!(incident_of(s, i1.id).await, None);
    let low = alert("acme", "10.0.0.5", Severity::Low, at(1));
    let i2 = alert("acme", "10.0.0.5", Severity::Info, at(2));
    ingest(s, &[low.clone(), i2.clone()]).await;
    let inc = incident_of(s, low.id).await;
    assert!(inc.is_some());
    assert_eq!(incident_of(s, i2.id).await, inc);
    let incident = s
        .incident(&Scope::All, inc.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.alert_count, 2);
    assert_eq!(incident.severity, Severity::Low);
}

async fn a_more_severe_alert_raises_the_incident_and_renames_it(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let mut low = alert("acme", "10.0.0.5", Severity::Low, at(0));
    low.summary = "Port scan from 10.0.0.5".into();
    let mut crit = alert("acme", "10.0.0.5", Severity::Critical, at(10));
    crit.summary = "Cobalt Strike beacon from 10.0.0.5".into();
    let medium = alert("acme", "10.0.0.5", Severity::Medium, at(12));
    ingest(s, std::slice::from_ref(&low)).await;
    ingest(s, &[crit.clone(), medium.clone()]).await;
    let inc = incident_of(s, low.id).await.unwrap();
    let incident = s.incident(&Scope::All, inc).await.unwrap().unwrap();
    assert_eq!(incident.severity, Severity::Critical);
    assert_eq!(incident.title, crit.summary);
    assert_eq!(incident.alert_count, 3);
    let timeline = s.timeline(&Scope::All, inc).await.unwrap();
    let kinds: Vec<_> = timeline.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [
            TimelineKind::Opened {
                severity: Severity::Low,
                alert: low.id
            },
            TimelineKind::SeverityRaised {
                from: Severity::Low,
                to: Severity::Critical,
                alert: crit.id
            },
        ]
    );
    assert!(timeline.iter().all(|e| e.actor == "mamori"));
}

async fn each_alert_filter_narrows_the_list(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let a1 = alert("acme", "10.0.0.1", Severity::Low, at(0));
    let mut a2 = alert("acme", "10.0.0.2", Severity::High, at(10));
    a2.engine = Engine::Waf;
    let a3 = alert("acme", "10.0.0.1", Severity::Critical, at(20));
    let g1 = alert("globex", "10.0.0.1", Severity::Medium, at(30));
    ingest(s, &[a1.clone(), a2.clone(), a3.clone(), g1.clone()]).await;
    let all = Scope::All;
    let q = |f: fn(&mut AlertQuery)| {
        let mut q = AlertQuery::default();
        f(&mut q);
        q
    };

    assert_eq!(
        all_alerts(s, &all, AlertQuery::default()).await,
        [g1.id, a3.id, a2.id, a1.id]
    );
    assert_eq!(
        all_alerts(s, &all, q(|q| q.tenant = Some("globex".into()))).await,
        [g1.id]
    );
    let from_to = AlertQuery {
        from: Some(at(10)),
        to: Some(at(30)),
        ..Default::default()
    };
    assert_eq!(all_alerts(s, &all, from_to).await, [a3.id, a2.id]);
    assert_eq!(
        all_alerts(s, &all, q(|q| q.min_severity = Some(Severity::High))).await,
        [a3.id, a2.id]
    );
    assert_eq!(
        all_alerts(s, &all, q(|q| q.engine = Some(Engine::Waf))).await,
        [a2.id]
    );
    let acme_host = AlertQuery {
        tenant: Some("acme".into()),
        asset: Some("host:10.0.0.1".into()),
        ..Default::default()
    };
    assert_eq!(all_alerts(s, &all, acme_host).await, [a3.id, a1.id]);
    assert_eq!(
        all_alerts(s, &all, q(|q| q.asset = Some("host:10.0.0.1".into()))).await,
        [g1.id, a3.id, a1.id]
    );
    let inc = incident_of(s, a1.id).await;
    let by_incident = AlertQuery {
        incident: inc,
        ..Default::default()
    };
    assert_eq!(all_alerts(s, &all, by_incident).await, [a3.id, a1.id]);
    let combined = AlertQuery {
        tenant: Some("acme".into()),
        min_severity: Some(Severity::Medium),
        engine: Some(Engine::Ids),
        ..Default::default()
    };
    assert_eq!(all_alerts(s, &all, combined).await, [a3.id]);
}

async fn text_search_is_case_insensitive_and_takes_wildcards_literally(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let mut cpu = alert("acme", "10.0.0.1", Severity::Low, at(0));
    cpu.summary = "CPU at 100% on the file server".into();
    let mut percent = alert("acme", "10.0.0.1", Severity::Low, at(1));
    percent.summary = "CPU at 100 percent".into();
    let mut rule = alert("acme", "10.0.0.1", Severity::Low, at(2));
    rule.rule_id = "waf.942100_sqli".into();
    rule.rule_name = "SQL Injection Attack".into();
    rule.summary = "blocked request".into();
    ingest(s, &[cpu.clone(), percent.clone(), rule.clone()]).await;
    let search = |text: &str| AlertQuery {
        text: Some(text.into()),
        ..Default::default()
    };
    assert_eq!(all_alerts(s, &Scope::All, search("100%")).await, [cpu.id]);
    assert_eq!(
        all_alerts(s, &Scope::All, search("cpu AT 100")).await,
        [percent.id, cpu.id]
    );
    assert_eq!(
        all_alerts(s, &Scope::All, search("injection")).await,
        [rule.id]
    );
    assert_eq!(
        all_alerts(s, &Scope::All, search("942100_")).await,
        [rule.id]
    );
    assert!(all_alerts(s, &Scope::All, search("942100\\"))
        .await
        .is_empty());
    assert!(all_alerts(s, &Scope::All, search("_PU")).await.is_empty());
}

async fn keyset_pagination_walks_every_alert_exactly_once(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let mut batch = Vec::new();
    for i in 0..237i64 {
        // Groups of three share a millisecond so the id has to break ties.
        let tenant = if i % 4 == 0 { "globex" } else { "acme" };
        let mut a = alert(
            tenant,
            &format!("10.0.{}.1", i % 7),
            Severity::Low,
            at(i / 3),
        );
        a.id = Ulid::new();
        batch.push(a);
    }
    ingest(s, &batch[..100]).await;
    ingest(s, &batch[100..]).await;
    let mut expected: Vec<_> = batch.iter().map(|a| (unix_ms(a.time), a.id)).collect();
    expected.sort_by(|x, y| y.cmp(x));
    let expected: Vec<Ulid> = expected.into_iter().map(|(_, id)| id).collect();

    for limit in [1usize, 7, 20, 236, 237, 500] {
        let mut seen = Vec::new();
        let mut q = AlertQuery {
            limit,
            ..Default::default()
        };
        let mut pages = 0;
        loop {
            let page = s.alerts(&Scope::All, &q).await.unwrap();
            assert!(page.items.len() <= limit);
            pages += 1;
            seen.extend(page.items.iter().map(|a| a.alert.id));
            match page.next {
                Some(next) => {
                    assert_eq!(page.items.len(), limit, "only the last page may be short");
                    q.cursor = Some(next);
                }
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}");
        assert_eq!(pages, expected.len().div_ceil(limit), "limit {limit}");
    }

    let acme: Vec<Ulid> = expected
        .iter()
        .copied()
        .filter(|id| batch.iter().any(|a| a.id == *id && a.tenant == "acme"))
        .collect();
    let mut seen = Vec::new();
    let mut q = AlertQuery {
        limit: 13,
        ..Default::default()
    };
    loop {
        let page = s.alerts(&Scope::Tenant("acme".into()), &q).await.unwrap();
        seen.extend(page.items.iter().map(|a| a.alert.id));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, acme);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    let bad = AlertQuery {
        cursor: Some("garbage".into()),
        ..Default::default()
    };
    assert!(matches!(
        s.alerts(&Scope::All, &bad).await,
        Err(Error::Invalid(_))
    ));
}

async fn paging_by_asset_or_incident_crosses_hours_without_gaps(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    // One alert every ten minutes for ten hours on one host (one incident), pairs sharing a
    // millisecond, and noise on other hosts and in the other tenant at the same times.
    let mut mine = Vec::new();
    let mut batch = Vec::new();
    for i in 0..120i64 {
        let a = alert("acme", "10.0.0.9", Severity::Medium, at(5 * (i / 2) * 2));
        mine.push(a.clone());
        batch.push(a);
        batch.push(alert("acme", "10.0.0.8", Severity::Medium, at(5 * i)));
        batch.push(alert("globex", "10.0.0.9", Severity::Medium, at(5 * i)));
    }
    ingest(s, &batch[..150]).await;
    ingest(s, &batch[150..]).await;
    let mut expected: Vec<_> = mine.iter().map(|a| (unix_ms(a.time), a.id)).collect();
    expected.sort_by(|x, y| y.cmp(x));
    let expected: Vec<Ulid> = expected.into_iter().map(|(_, id)| id).collect();
    let incident = incident_of(s, mine[0].id).await;
    assert!(incident.is_some());

    let acme = Scope::Tenant("acme".into());
    for base in [
        AlertQuery {
            asset: Some("host:10.0.0.9".into()),
            ..Default::default()
        },
        AlertQuery {
            incident,
            ..Default::default()
        },
    ] {
        for limit in [7usize, 50] {
            let mut q = AlertQuery {
                limit,
                ..base.clone()
            };
            let mut seen = Vec::new();
            loop {
                let page = s.alerts(&acme, &q).await.unwrap();
                seen.extend(page.items.iter().map(|a| a.alert.id));
                match page.next {
                    Some(next) => q.cursor = Some(next),
                    None => break,
                }
            }
            assert_eq!(seen, expected, "{base:?} limit {limit}");
        }
        let window = AlertQuery {
            from: Some(at(120)),
            to: Some(at(240)),
            ..base.clone()
        };
        let in_window: Vec<Ulid> = expected
            .iter()
            .copied()
            .filter(|id| {
                let a = mine.iter().find(|a| a.id == *id).unwrap();
                a.time >= at(120) && a.time < at(240)
            })
            .collect();
        assert_eq!(all_alerts(s, &acme, window).await, in_window);
    }
    let globex = Scope::Tenant("globex".into());
    let other_tenant = AlertQuery {
        incident,
        ..Default::default()
    };
    assert!(all_alerts(s, &globex, other_tenant).await.is_empty());
    assert_eq!(
        all_alerts(
            s,
            &globex,
            AlertQuery {
                asset: Some("host:10.0.0.9".into()),
                ..Default::default()
            }
        )
        .await
        .len(),
        120
    );
}

async fn incident_list_filters_and_pages(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let mut batch = Vec::new();
    for i in 0..30i64 {
        let severity = if i % 3 == 0 {
            Severity::Critical
        } else {
            Severity::Low
        };
        let tenant = if i % 5 == 0 { "globex" } else { "acme" };
        batch.push(alert(tenant, &format!("10.1.0.{i}"), severity, at(i)));
    }
    assert_eq!(ingest(s, &batch).await.incidents_opened, 30);
    let mut q = IncidentQuery {
        limit: 7,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.incidents(&Scope::All, &q).await.unwrap();
        seen.extend(page.items.iter().map(|i| (i.last_seen, i.id)));
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    let list = |q: IncidentQuery| async move {
        s.incidents(&Scope::All, &IncidentQuery { limit: 100, ..q })
            .await
            .unwrap()
            .items
    };
    let crit = list(IncidentQuery {
        min_severity: Some(Severity::High),
        ..Default::default()
    })
    .await;
    assert_eq!(crit.len(), 10);
    let globex = list(IncidentQuery {
        tenant: Some("globex".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(globex.len(), 6);
    assert!(globex.iter().all(|i| i.tenant == "globex"));
    let one = list(IncidentQuery {
        asset: Some("host:10.1.0.7".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(one.len(), 1);

    s.update_incident(
        &Scope::All,
        one[0].id,
        IncidentChange::State(IncidentState::FalsePositive),
        "taro",
    )
    .await
    .unwrap();
    let open = list(IncidentQuery {
        open_only: true,
        ..Default::default()
    })
    .await;
    assert_eq!(open.len(), 29);
    let fp = list(IncidentQuery {
        state: Some(IncidentState::FalsePositive),
        ..Default::default()
    })
    .await;
    assert_eq!(fp.len(), 1);
    assert_eq!(fp[0].id, one[0].id);
}

async fn a_tenant_scope_never_reveals_another_tenant(db: Db) {
    let s = &db.store;
    setup(s, &["a", "b"]).await;
    let a = alert("a", "10.0.0.1", Severity::High, at(0));
    let b = alert("b", "10.0.0.1", Severity::High, at(1));
    ingest(s, &[a.clone(), b.clone()]).await;
    s.create_token("a", "t", "ha").await.unwrap();
    s.create_token("b", "t", "hb").await.unwrap();
    for (email, tenant) in [("x@a.example", "a"), ("y@b.example", "b")] {
        s.create_user(NewUser {
            email: email.into(),
            password_hash: "h".into(),
            role: Role::Viewer,
            tenant: Some(tenant.into()),
        })
        .await
        .unwrap();
    }
    let b_inc = incident_of(s, b.id).await.unwrap();
    let scope = Scope::Tenant("a".into());

    assert_eq!(all_alerts(s, &scope, AlertQuery::default()).await, [a.id]);
    let asking_for_b = AlertQuery {
        tenant: Some("b".into()),
        ..Default::default()
    };
    assert!(all_alerts(s, &scope, asking_for_b).await.is_empty());
    let b_incident_alerts = AlertQuery {
        incident: Some(b_inc),
        ..Default::default()
    };
    assert!(all_alerts(s, &scope, b_incident_alerts).await.is_empty());
    assert!(s.alert(&scope, b.id).await.unwrap().is_none());
    assert!(s.alert(&scope, a.id).await.unwrap().is_some());

    let incidents = s
        .incidents(&scope, &IncidentQuery::default())
        .await
        .unwrap();
    assert!(incidents.items.iter().all(|i| i.tenant == "a"));
    assert_eq!(incidents.items.len(), 1);
    let for_b = IncidentQuery {
        tenant: Some("b".into()),
        ..Default::default()
    };
    assert!(s.incidents(&scope, &for_b).await.unwrap().items.is_empty());
    assert!(s.incident(&scope, b_inc).await.unwrap().is_none());
    assert!(s.timeline(&scope, b_inc).await.unwrap().is_empty());
    assert!(!s.timeline(&Scope::All, b_inc).await.unwrap().is_empty());
    for change in [
        IncidentChange::State(IncidentState::Investigating),
        IncidentChange::Assign(Some("x@a.example".into())),
        IncidentChange::Note("mine now".into()),
    ] {
        assert!(matches!(
            s.update_incident(&scope, b_inc, change, "x@a.example")
                .await,
            Err(Error::NotFound(_))
        ));
    }
    let untouched = s.incident(&Scope::All, b_inc).await.unwrap().unwrap();
    assert_eq!(untouched.state, IncidentState::New);
    assert_eq!(s.timeline(&Scope::All, b_inc).await.unwrap().len(), 1);

    let tokens = s.tokens(&scope).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].tenant, "a");
    let users = s.users(&scope).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "x@a.example");
    let tenants = s.tenants(&scope).await.unwrap();
    assert_eq!(tenants.len(), 1);
    assert!(s.tenant(&scope, "b").await.unwrap().is_none());

    let counts = s
        .alert_counts(&scope, at(-60), Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(counts.total, 1);
    assert_eq!(counts.open_incidents, 1);
}

async fn state_changes_follow_the_allowed_transitions(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.1", Severity::High, at(0));
    ingest(s, std::slice::from_ref(&a)).await;
    let id = incident_of(s, a.id).await.unwrap();
    let before = s.incident(&Scope::All, id).await.unwrap().unwrap();
    let scope = Scope::Tenant("acme".into());
    let moved = |to| IncidentChange::State(to);

    match s
        .update_incident(&scope, id, moved(IncidentState::New), "taro")
        .await
    {
        Err(Error::Invalid(m)) => assert!(m.contains("new"), "{m}"),
        other => panic!("new → new must be refused, got {other:?}"),
    }
    let inc = s
        .update_incident(&scope, id, moved(IncidentState::Investigating), "taro")
        .await
        .unwrap();
    assert_eq!(inc.state, IncidentState::Investigating);
    assert!(inc.updated_at >= before.updated_at);
    let open = |s: DynStore| async move {
        s.alert_counts(&Scope::All, at(-60), Duration::days(1))
            .await
            .unwrap()
            .open_incidents
    };
    assert_eq!(open(s.clone()).await, 1);
    s.update_incident(&scope, id, moved(IncidentState::Resolved), "taro")
        .await
        .unwrap();
    assert_eq!(open(s.clone()).await, 0, "a resolved incident is not open");
    match s
        .update_incident(&scope, id, moved(IncidentState::Contained), "taro")
        .await
    {
        Err(Error::Invalid(m)) => {
            assert!(m.contains("resolved") && m.contains("contained"), "{m}")
        }
        other => panic!("resolved → contained must be refused, got {other:?}"),
    }
    s.update_incident(&scope, id, moved(IncidentState::Investigating), "hanako")
        .await
        .unwrap();
    let stored = s.incident(&scope, id).await.unwrap().unwrap();
    assert_eq!(stored.state, IncidentState::Investigating);
    assert_eq!(
        open(s.clone()).await,
        1,
        "a reopened incident is open again"
    );
    let timeline = s.timeline(&scope, id).await.unwrap();
    let changes: Vec<_> = timeline
        .iter()
        .filter_map(|e| match e.kind {
            TimelineKind::StateChanged { from, to } => Some((from, to, e.actor.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (IncidentState::New, IncidentState::Investigating, "taro"),
            (
                IncidentState::Investigating,
                IncidentState::Resolved,
                "taro"
            ),
            (
                IncidentState::Resolved,
                IncidentState::Investigating,
                "hanako"
            ),
        ]
    );
    assert!(matches!(
        s.update_incident(&scope, Ulid::new(), moved(IncidentState::Resolved), "taro")
            .await,
        Err(Error::NotFound(_))
    ));
}

async fn notes_and_assignments_are_recorded_in_the_timeline(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.1", Severity::High, at(0));
    ingest(s, std::slice::from_ref(&a)).await;
    let id = incident_of(s, a.id).await.unwrap();
    let all = Scope::All;
    let inc = s
        .update_incident(
            &all,
            id,
            IncidentChange::Assign(Some("taro@acme.example".into())),
            "boss",
        )
        .await
        .unwrap();
    assert_eq!(inc.assignee.as_deref(), Some("taro@acme.example"));
    s.update_incident(
        &all,
        id,
        IncidentChange::Note("Isolated the PC; 再起動済み".into()),
        "taro",
    )
    .await
    .unwrap();
    for bad in [String::new(), "   ".into(), "x".repeat(MAX_NOTE + 1)] {
        assert!(matches!(
            s.update_incident(&all, id, IncidentChange::Note(bad), "taro")
                .await,
            Err(Error::Invalid(_))
        ));
    }
    let inc = s
        .update_incident(&all, id, IncidentChange::Assign(None), "boss")
        .await
        .unwrap();
    assert_eq!(inc.assignee, None);
    assert_eq!(s.incident(&all, id).await.unwrap().unwrap().assignee, None);
    let timeline = s.timeline(&all, id).await.unwrap();
    let kinds: Vec<_> = timeline
        .iter()
        .map(|e| (e.actor.as_str(), &e.kind))
        .collect();
    assert_eq!(kinds.len(), 4);
    assert!(matches!(kinds[0], ("mamori", TimelineKind::Opened { .. })));
    assert_eq!(
        kinds[1],
        (
            "boss",
            &TimelineKind::Assigned {
                to: Some("taro@acme.example".into())
            }
        )
    );
    assert_eq!(
        kinds[2],
        (
            "taro",
            &TimelineKind::Note {
                text: "Isolated the PC; 再起動済み".into()
            }
        )
    );
    assert_eq!(kinds[3], ("boss", &TimelineKind::Assigned { to: None }));
    assert!(timeline.windows(2).all(|w| w[0].time <= w[1].time));
}

async fn alert_counts_come_from_the_rollup_with_empty_buckets(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "globex"]).await;
    let now = OffsetDateTime::now_utc();
    let mut batch = Vec::new();
    // Two hours ago: 3 high IDS alerts; one hour ago: 2 low WAF alerts; 2 days ago: 1.
    for _ in 0..3 {
        batch.push(alert(
            "acme",
            "10.0.0.1",
            Severity::High,
            now - Duration::minutes(150),
        ));
    }
    for _ in 0..2 {
        let mut a = alert(
            "acme",
            "10.0.0.2",
            Severity::Low,
            now - Duration::minutes(70),
        );
        a.engine = Engine::Waf;
        batch.push(a);
    }
    batch.push(alert(
        "globex",
        "10.0.0.3",
        Severity::Critical,
        now - Duration::minutes(10),
    ));
    batch.push(alert(
        "acme",
        "10.0.0.4",
        Severity::Medium,
        now - Duration::days(2),
    ));
    ingest(s, &batch[..3]).await;
    ingest(s, &batch[3..]).await;

    let since = now - Duration::hours(6);
    let c = s
        .alert_counts(&Scope::All, since, Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(c.total, 6);
    assert_eq!(c.by_severity["high"], 3);
    assert_eq!(c.by_severity["low"], 2);
    assert_eq!(c.by_severity["critical"], 1);
    assert_eq!(c.by_severity["medium"], 0);
    assert_eq!(c.by_engine["ids"], 4);
    assert_eq!(c.by_engine["waf"], 2);
    assert_eq!(c.buckets.len(), 6);
    assert!(c.buckets.windows(2).all(|w| w[0].start_ms < w[1].start_ms));
    assert_eq!(c.buckets[0].start_ms, unix_ms(since));
    let per_bucket: i64 = c.buckets.iter().flat_map(|b| b.by_severity.values()).sum();
    assert_eq!(per_bucket, 6);
    assert!(c
        .buckets
        .iter()
        .any(|b| b.by_severity.values().sum::<i64>() == 0));
    assert_eq!(c.open_incidents, 4);

    let acme = s
        .alert_counts(&Scope::Tenant("acme".into()), since, Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(acme.total, 5);
    assert_eq!(acme.buckets.len(), 3);
    assert_eq!(acme.open_incidents, 3);
    let week = s
        .alert_counts(&Scope::All, now - Duration::days(7), Duration::days(1))
        .await
        .unwrap();
    assert_eq!(week.total, 7);
    assert_eq!(week.buckets.len(), 7);
}

async fn purge_removes_old_alerts_closed_incidents_and_expired_sessions(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let now = OffsetDateTime::now_utc();
    let cutoff = now - Duration::days(30);
    // An incident closed long ago, one still open, and recent alerts.
    let old_closed = alert(
        "acme",
        "10.0.0.1",
        Severity::High,
        cutoff - Duration::days(5),
    );
    let old_open = alert(
        "acme",
        "10.0.0.2",
        Severity::High,
        cutoff - Duration::days(5),
    );
    // Same rollup hour as the cutoff, on both sides of it.
    let just_before = alert(
        "acme",
        "10.0.0.3",
        Severity::Low,
        cutoff - Duration::seconds(1),
    );
    let just_after = alert(
        "acme",
        "10.0.0.3",
        Severity::Low,
        cutoff + Duration::seconds(1),
    );
    let recent = alert("acme", "10.0.0.4", Severity::Low, now - Duration::hours(1));
    let batch = [
        old_closed.clone(),
        old_open.clone(),
        just_before.clone(),
        just_after.clone(),
        recent.clone(),
    ];
    ingest(s, &batch).await;
    let closed_id = incident_of(s, old_closed.id).await.unwrap();
    let open_id = incident_of(s, old_open.id).await.unwrap();
    s.update_incident(
        &Scope::All,
        closed_id,
        IncidentChange::State(IncidentState::Resolved),
        "taro",
    )
    .await
    .unwrap();
    let user = s
        .create_user(NewUser {
            email: "taro@acme.example".into(),
            password_hash: "h".into(),
            role: Role::Viewer,
            tenant: Some("acme".into()),
        })
        .await
        .unwrap();
    for (hash, expires) in [
        ("gone", now - Duration::hours(1)),
        ("kept", now + Duration::hours(1)),
    ] {
        s.create_session(Session {
            id_hash: hash.into(),
            user_id: user.id,
            csrf: "c".into(),
            expires_at: expires,
        })
        .await
        .unwrap();
    }
    s.record_login_failure("taro@acme.example", "192.0.2.1", cutoff - Duration::days(1))
        .await
        .unwrap();
    s.record_login_failure("taro@acme.example", "192.0.2.1", now)
        .await
        .unwrap();

    assert_eq!(s.purge_before(cutoff).await.unwrap(), 3);
    assert_eq!(
        sorted(all_alerts(s, &Scope::All, AlertQuery::default()).await),
        sorted(vec![just_after.id, recent.id])
    );
    assert!(s.incident(&Scope::All, closed_id).await.unwrap().is_none());
    assert!(s.timeline(&Scope::All, closed_id).await.unwrap().is_empty());
    assert!(s.incident(&Scope::All, open_id).await.unwrap().is_some());
    assert!(s.session("kept", now).await.unwrap().is_some());
    let long_ago = now - Duration::days(365);
    assert_eq!(
        s.login_failures("taro@acme.example", "192.0.2.1", long_ago)
            .await
            .unwrap(),
        (1, 1)
    );
    let counts = s
        .alert_counts(&Scope::All, long_ago, Duration::days(1))
        .await
        .unwrap();
    assert_eq!(counts.total, 2, "the rollup forgets purged alerts");
    // The expired session is gone from the table, not just filtered out.
    db.execute_raw("UPDATE sessions SET expires_at_ms = 9000000000000")
        .await;
    assert!(s.session("gone", now).await.unwrap().is_none());
    assert_eq!(s.purge_before(cutoff).await.unwrap(), 0);
}

async fn a_corrupt_stored_alert_is_an_error_not_a_panic(db: Db) {
    let s = &db.store;
    setup(s, &["acme"]).await;
    let a = alert("acme", "10.0.0.1", Severity::High, at(0));
    ingest(s, std::slice::from_ref(&a)).await;
    db.execute_raw(&format!(
        "UPDATE alerts SET body = '{{not json' WHERE id = '{}'",
        a.id
    ))
    .await;
    assert!(matches!(
        s.alert(&Scope::All, a.id).await,
        Err(Error::Corrupt(_))
    ));
    assert!(matches!(
        s.alerts(&Scope::All, &AlertQuery::default()).await,
        Err(Error::Corrupt(_))
    ));
    db.execute_raw("UPDATE incidents SET state = 'on_fire'")
        .await;
    assert!(matches!(
        s.incidents(&Scope::All, &IncidentQuery::default()).await,
        Err(Error::Corrupt(_))
    ));
    // The store keeps working for everything else.
    assert_eq!(s.tenants(&Scope::All).await.unwrap().len(), 1);
}

fn log_event(tenant: &str, n: i64, host: &str, fields: &[(&str, &str)]) -> LogEvent {
    LogEvent {
        id: format!("{tenant}-{n}"),
        tenant: tenant.into(),
        time_ms: unix_ms(at(n)),
        host: host.into(),
        source: "evtx".into(),
        channel: Some("Security".into()),
        event_id: fields
            .iter()
            .find(|(k, _)| *k == "EventID")
            .and_then(|(_, v)| v.parse().ok()),
        record_id: Some(n),
        file: Some("/logs/Security.evtx".into()),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        raw: format!("<Event>{n} {fields:?}</Event>"),
    }
}

async fn search(s: &DynStore, scope: &Scope, line: &str) -> Vec<String> {
    let (terms, words) = EventQuery::parse(line).expect("parse");
    let mut ids = Vec::new();
    let mut q = EventQuery {
        terms,
        words,
        limit: 2,
        ..EventQuery::default()
    };
    loop {
        let page = s.events(scope, &q).await.expect("events");
        ids.extend(page.items.into_iter().map(|e| e.id));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    ids
}

async fn log_events_are_searched_by_field_scoped_and_stored_once(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "beta"]).await;
    let events = vec![
        log_event(
            "acme",
            1,
            "DC01",
            &[
                ("EventID", "4625"),
                ("TargetUserName", "Administrator"),
                ("IpAddress", "203.0.113.9"),
            ],
        ),
        log_event(
            "acme",
            2,
            "DC01",
            &[
                ("EventID", "4625"),
                ("TargetUserName", "yamada"),
                ("IpAddress", "203.0.113.9"),
            ],
        ),
        log_event(
            "acme",
            3,
            "PC07",
            &[
                ("EventID", "4624"),
                ("TargetUserName", "ADMINISTRATOR"),
                ("LogonType", "10"),
            ],
        ),
        log_event(
            "acme",
            4,
            "PC07",
            &[
                ("EventID", "4688"),
                ("CommandLine", "powershell -enc SQBFAFgA"),
                ("Name", "first"),
                ("Name", "second"),
            ],
        ),
        log_event(
            "beta",
            5,
            "DC01",
            &[("EventID", "4625"), ("TargetUserName", "Administrator")],
        ),
    ];
    assert_eq!(s.ingest_events(&events).await.expect("ingest"), 5);
    // The same records again (a file read twice) store nothing new.
    assert_eq!(s.ingest_events(&events).await.expect("again"), 0);

    let all = Scope::All;
    let acme = Scope::Tenant("acme".into());
    // Newest first; equality ignores case; pages of two cover everything once.
    assert_eq!(
        search(s, &all, "EventID=4625").await,
        ["beta-5", "acme-2", "acme-1"]
    );
    assert_eq!(search(s, &acme, "EventID=4625").await, ["acme-2", "acme-1"]);
    assert_eq!(
        search(s, &acme, "TargetUserName=administrator").await,
        ["acme-3", "acme-1"]
    );
    assert_eq!(
        search(s, &acme, "TargetUserName~ADMIN host=dc01").await,
        ["acme-1"]
    );
    assert_eq!(
        search(s, &acme, "EventID=4625 TargetUserName!=yamada").await,
        ["acme-1"]
    );
    assert_eq!(search(s, &acme, "LogonType=*").await, ["acme-3"]);
    assert_eq!(search(s, &acme, "event_id=4688 SQBFAFgA").await, ["acme-4"]);
    assert_eq!(search(s, &acme, "CommandLine~\"-enc S\"").await, ["acme-4"]);
    // A repeated name is searched by its first value.
    assert_eq!(search(s, &acme, "Name=first").await, ["acme-4"]);
    assert!(search(s, &acme, "Name=second").await.is_empty());
    // LIKE wildcards in a value are literal.
    assert!(search(s, &acme, "TargetUserName~adm%n").await.is_empty());
    // A tenant scope never sees another tenant's events, even when it asks.
    let q = EventQuery {
        tenant: Some("beta".into()),
        ..EventQuery::default()
    };
    assert!(s.events(&acme, &q).await.expect("events").items.is_empty());
    // The record comes back whole, fields in record order.
    let page = s
        .events(
            &acme,
            &EventQuery {
                limit: 10,
                ..EventQuery::default()
            },
        )
        .await
        .expect("events");
    let first = page
        .items
        .iter()
        .find(|e| e.id == "acme-1")
        .expect("acme-1");
    assert_eq!(first, &events[0]);
    // Unknown tenants are refused; old events are purged with old alerts.
    let stray = log_event("nobody", 9, "X", &[]);
    assert!(matches!(
        s.ingest_events(&[stray]).await,
        Err(Error::Invalid(_))
    ));
    s.purge_before(OffsetDateTime::now_utc())
        .await
        .expect("purge");
    assert!(search(s, &all, "").await.is_empty());
}

fn new_action(tenant: Option<&str>, kind: ActionKind, target: &str) -> NewAction {
    NewAction {
        tenant: tenant.map(str::to_string),
        kind,
        target: target.into(),
        incident: None,
        actor: "analyst@provider.example".into(),
        reason: "C2 beacon".into(),
        expires_at: None,
    }
}

async fn response_actions_are_audited_scoped_and_released_once(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "beta"]).await;
    ingest(s, &[alert("acme", "10.0.0.7", Severity::High, at(1))]).await;
    let incident = s
        .incidents(&Scope::All, &IncidentQuery::default())
        .await
        .unwrap()
        .items[0]
        .id;
    let mut block = new_action(Some("acme"), ActionKind::BlockIp, "203.0.113.9/32");
    block.incident = Some(incident);
    let block = s.create_action(block).await.expect("block");
    assert_eq!(block.status, "pending");
    assert_eq!(block.created_by, "analyst@provider.example");
    let mut expired = new_action(Some("acme"), ActionKind::BlockDomain, "c2.example");
    expired.expires_at = Some(OffsetDateTime::now_utc() - Duration::minutes(1));
    s.create_action(expired).await.unwrap();
    let gateway = s
        .create_action(new_action(None, ActionKind::Isolate, "192.168.1.23"))
        .await
        .unwrap();
    s.create_action(new_action(
        Some("beta"),
        ActionKind::BlockIp,
        "198.51.100.0/24",
    ))
    .await
    .unwrap();

    // An incident of another tenant, an unknown tenant and an empty actor are refused.
    let mut wrong = new_action(Some("beta"), ActionKind::BlockIp, "192.0.2.1");
    wrong.incident = Some(incident);
    assert!(matches!(
        s.create_action(wrong).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.create_action(new_action(Some("nobody"), ActionKind::BlockIp, "192.0.2.1"))
            .await,
        Err(Error::Invalid(_))
    ));
    let mut anonymous = new_action(Some("acme"), ActionKind::BlockIp, "192.0.2.1");
    anonymous.actor.clear();
    assert!(s.create_action(anonymous).await.is_err());

    let acme = Scope::Tenant("acme".into());
    let active = ActionQuery {
        active_only: true,
        ..ActionQuery::default()
    };
    // Newest first; two made in the same millisecond may come in either order.
    let kinds = |v: Vec<mamori_store::ResponseAction>| {
        let mut t: Vec<String> = v.into_iter().map(|a| a.target).collect();
        t.sort();
        t
    };
    assert_eq!(
        kinds(s.actions(&acme, &ActionQuery::default()).await.unwrap()),
        ["203.0.113.9/32", "c2.example"]
    );
    assert_eq!(
        kinds(s.actions(&acme, &active).await.unwrap()),
        ["203.0.113.9/32"]
    );
    // The provider sees every tenant's and the gateway's own; a tenant never the gateway's.
    assert_eq!(s.actions(&Scope::All, &active).await.unwrap().len(), 3);
    assert!(s.action(&acme, gateway.id).await.unwrap().is_none());
    let by_incident = ActionQuery {
        incident: Some(incident),
        ..ActionQuery::default()
    };
    assert_eq!(
        kinds(s.actions(&Scope::All, &by_incident).await.unwrap()),
        ["203.0.113.9/32"]
    );

    s.set_action_status(block.id, "applied").await.unwrap();
    // Releasing is scoped, recorded, and happens once.
    let beta = Scope::Tenant("beta".into());
    assert!(matches!(
        s.release_action(&beta, block.id, "x", "").await,
        Err(Error::NotFound(_))
    ));
    let released = s
        .release_action(&acme, block.id, "admin@acme.example", "cleaned")
        .await
        .unwrap();
    assert_eq!(released.released_by.as_deref(), Some("admin@acme.example"));
    assert_eq!(released.release_reason.as_deref(), Some("cleaned"));
    assert_eq!(released.status, "applied");
    assert!(released.released_at.is_some() && !released.is_active(OffsetDateTime::now_utc()));
    assert!(matches!(
        s.release_action(&acme, block.id, "x", "").await,
        Err(Error::Invalid(_))
    ));
    assert!(s.actions(&acme, &active).await.unwrap().is_empty());
}

async fn sensor_contacts_are_replaced_per_sensor_and_scoped(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "beta"]).await;
    let now = from_unix_ms(unix_ms(OffsetDateTime::now_utc()));
    let contact = |tenant: &str, name: &str, backlog: i64| mamori_store::SensorContact {
        tenant: tenant.into(),
        name: name.into(),
        last_contact: now,
        backlog,
        oldest_unsent: Some(now - Duration::seconds(90)),
        address: "192.0.2.10".into(),
    };
    s.sensor_contact(&contact("acme", "gw1", 500))
        .await
        .unwrap();
    s.sensor_contact(&contact("acme", "gw1", 0)).await.unwrap();
    s.sensor_contact(&contact("beta", "gw1", 7)).await.unwrap();
    let acme = s.sensors(&Scope::Tenant("acme".into())).await.unwrap();
    assert_eq!(acme, vec![contact("acme", "gw1", 0)]);
    assert_eq!(acme[0].lag(), Duration::ZERO, "nothing waiting: no lag");
    let all = s.sensors(&Scope::All).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].lag(), Duration::seconds(90));
    // The provider's tenant list: last event, open incidents, sensors online.
    ingest(s, &[alert("acme", "10.0.0.9", Severity::High, at(5))]).await;
    let health = s
        .tenant_health(&Scope::All, now - Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(health.len(), 2);
    assert_eq!(health[0].tenant, "acme");
    assert_eq!(health[0].last_event, Some(at(5)));
    assert_eq!(
        (
            health[0].open_incidents,
            health[0].sensors,
            health[0].sensors_online
        ),
        (1, 1, 1)
    );
    assert_eq!((health[1].last_event, health[1].open_incidents), (None, 0));
    let later = s
        .tenant_health(&Scope::Tenant("beta".into()), now + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!((later[0].sensors, later[0].sensors_online), (1, 0));
}

async fn the_triage_queue_puts_severe_and_old_first_and_records_sla_times(db: Db) {
    let s = &db.store;
    setup(s, &["acme", "beta"]).await;
    ingest(
        s,
        &[
            alert("acme", "10.0.0.1", Severity::High, at(10)),
            alert("beta", "10.0.0.2", Severity::High, at(1)),
            alert("acme", "10.0.0.3", Severity::Critical, at(30)),
            alert("beta", "10.0.0.4", Severity::Medium, at(0)),
            alert("acme", "10.0.0.5", Severity::Low, at(2)),
        ],
    )
    .await;
    let mut q = IncidentQuery {
        triage: true,
        limit: 1,
        ..IncidentQuery::default()
    };
    let mut order = Vec::new();
    loop {
        let page = s.incidents(&Scope::All, &q).await.unwrap();
        order.extend(page.items.iter().map(|i| i.asset.clone()));
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    let hosts: Vec<&str> = order
        .iter()
        .map(|a| a.trim_start_matches("host:"))
        .collect();
    assert_eq!(
        hosts,
        ["10.0.0.3", "10.0.0.2", "10.0.0.1", "10.0.0.4", "10.0.0.5"]
    );
    let acme = IncidentQuery {
        triage: true,
        limit: 10,
        ..IncidentQuery::default()
    };
    let mine = s
        .incidents(&Scope::Tenant("acme".into()), &acme)
        .await
        .unwrap();
    assert_eq!(mine.items.len(), 3);

    // The first person to act starts the SLA clock's first response; containment is kept once.
    let id = mine.items[0].id;
    let auto = s
        .update_incident(
            &Scope::All,
            id,
            IncidentChange::Note("auto".into()),
            "mamori",
        )
        .await
        .unwrap();
    assert!(auto.first_response.is_none());
    let noted = s
        .update_incident(
            &Scope::All,
            id,
            IncidentChange::Note("見ています".into()),
            "analyst@p.example",
        )
        .await
        .unwrap();
    let first = noted.first_response.expect("first response");
    let contained = s
        .update_incident(
            &Scope::All,
            id,
            IncidentChange::State(IncidentState::Contained),
            "analyst@p.example",
        )
        .await
        .unwrap();
    assert_eq!(contained.first_response, Some(first));
    let when = contained.contained.expect("contained");
    let again = s.incident(&Scope::All, id).await.unwrap().unwrap();
    assert_eq!(
        (again.first_response, again.contained),
        (Some(first), Some(when))
    );
    // Contained incidents stay in the queue; resolved ones leave it.
    s.update_incident(
        &Scope::All,
        id,
        IncidentChange::State(IncidentState::Resolved),
        "analyst@p.example",
    )
    .await
    .unwrap();
    let left = s
        .incidents(&Scope::Tenant("acme".into()), &acme)
        .await
        .unwrap();
    assert_eq!(left.items.len(), 2);
}

async fn the_provider_queue_spans_a_thousand_tenants(db: Db) {
    let s = &db.store;
    let names: Vec<String> = (0..1000).map(|i| format!("t{i:04}")).collect();
    for n in &names {
        s.create_tenant(n, n).await.unwrap();
    }
    let sev = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    let mut alerts = Vec::new();
    for (i, n) in names.iter().enumerate() {
        alerts.push(alert(n, "10.0.0.1", sev[i % 4], at((i % 600) as i64)));
        alerts.push(alert(n, "10.0.0.2", Severity::Low, at(700)));
    }
    for chunk in alerts.chunks(500) {
        ingest(s, chunk).await;
    }
    // The queue walks all 2,000 open incidents once, most severe first, oldest first.
    let mut q = IncidentQuery {
        triage: true,
        limit: 500,
        ..IncidentQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.incidents(&Scope::All, &q).await.unwrap();
        seen.extend(
            page.items
                .into_iter()
                .map(|i| (i.severity, i.first_seen, i.id)),
        );
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2000);
    assert!(seen
        .windows(2)
        .all(|w| (std::cmp::Reverse(w[0].0), w[0].1) <= (std::cmp::Reverse(w[1].0), w[1].1)));
    assert_eq!(seen.iter().map(|x| x.2).collect::<HashSet<_>>().len(), 2000);
    assert_eq!(seen[0].0, Severity::Critical);
    // One tenant's queue, and every tenant's health in one answer.
    let one = IncidentQuery {
        triage: true,
        limit: 50,
        tenant: Some("t0003".into()),
        ..IncidentQuery::default()
    };
    let page = s.incidents(&Scope::All, &one).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].severity, Severity::Critical);
    let health = s
        .tenant_health(&Scope::All, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(health.len(), 1000);
    assert!(health
        .iter()
        .all(|h| h.open_incidents == 2 && h.last_event == Some(at(700))));
}
