//! The bus writer over a real SQLite store: receipts per publisher, merged batches, and a
//! shutdown that stores everything queued.

use mamori_core::bus;
use mamori_core::{Alert, Engine, Scope, Severity};
use mamori_store::writer::{run, WriterConfig};
use mamori_store::AlertQuery;
use std::time::Duration;

fn alert(tenant: &str, i: u32) -> Alert {
    let mut a = Alert::new(
        Engine::Ids,
        "t.rule",
        "rule",
        Severity::Medium,
        format!("alert {i}"),
    );
    a.tenant = tenant.into();
    a.src.ip = Some(format!("192.168.0.{}", i % 200).parse().unwrap());
    a
}

async fn store() -> mamori_store::DynStore {
    let dir = mamori_core::scratch::dir("writer");
    let s = mamori_store::open("", &dir.join("m.db")).await.unwrap();
    s.create_tenant("acme", "Acme").await.unwrap();
    s
}

fn config() -> WriterConfig {
    WriterConfig {
        batch_size: 1000,
        flush: Duration::from_millis(5),
        window: time::Duration::hours(1),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_waiting_publisher_gets_its_own_receipt() {
    let s = store().await;
    let (publisher, sub) = bus::channel(10_000);
    let writer = tokio::spawn(run(sub, s.clone(), config()));
    let first: Vec<Alert> = (0..50).map(|i| alert("acme", i)).collect();
    let again = first[..10].to_vec();
    let r1 = publisher.publish_and_wait(first).await.unwrap();
    assert_eq!((r1.stored, r1.duplicates), (50, 0));
    let mut mixed = again;
    mixed.extend((50..60).map(|i| alert("acme", i)));
    let (p2, p3) = (publisher.clone(), publisher.clone());
    let extra: Vec<Alert> = (60..65).map(|i| alert("acme", i)).collect();
    let (r2, r3) = tokio::join!(p2.publish_and_wait(mixed), p3.publish_and_wait(extra));
    assert_eq!(
        (r2.as_ref().unwrap().stored, r2.unwrap().duplicates),
        (10, 10)
    );
    assert_eq!(r3.unwrap().stored, 5);
    drop((publisher, p2, p3));
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_stores_everything_already_published() {
    let s = store().await;
    let (publisher, sub) = bus::channel(100_000);
    for chunk in 0..20 {
        publisher
            .publish((0..500).map(|i| alert("acme", chunk * 500 + i)).collect())
            .await
            .unwrap();
    }
    // The writer starts only now: all 10,000 alerts are queued, none stored.
    drop(publisher);
    run(sub, s.clone(), config()).await;
    let mut seen = 0;
    let mut q = AlertQuery {
        limit: 500,
        ..AlertQuery::default()
    };
    loop {
        let page = s.alerts(&Scope::All, &q).await.unwrap();
        seen += page.items.len();
        match page.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, 10_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_envelope_does_not_fail_its_neighbours() {
    let s = store().await;
    let (publisher, sub) = bus::channel(10_000);
    let writer = tokio::spawn(run(sub, s.clone(), config()));
    let (p1, p2) = (publisher.clone(), publisher.clone());
    let good: Vec<Alert> = (0..5).map(|i| alert("acme", i)).collect();
    let bad: Vec<Alert> = (5..8).map(|i| alert("no-such-tenant", i)).collect();
    let (g, b) = tokio::join!(p1.publish_and_wait(good), p2.publish_and_wait(bad));
    assert_eq!(g.unwrap().stored, 5);
    assert!(b.is_err(), "alerts of an unknown tenant are refused");
    drop((publisher, p1, p2));
    writer.await.unwrap();
}
