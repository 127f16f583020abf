//! End to end on 127.0.0.1: engines publish on the bus, the sensor spools and forwards, a
//! stand-in console stores ids. Every test is bounded in time.

mod common;

use common::{
    alert, free_addr, self_signed, temp_dir, wait_until, Faults, Seen, TestConsole, TOKEN,
};
use mamori_core::bus::{self, Publisher};
use mamori_core::Ulid;
use mamori_forward::{spool_writer, Error, ForwardConfig, Forwarder, Spool, SpoolConfig};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const DRAIN_LIMIT: Duration = Duration::from_secs(60);

fn config(url: &str) -> ForwardConfig {
    ForwardConfig {
        retry_min: Duration::from_millis(20),
        retry_max: Duration::from_millis(400),
        request_timeout: Duration::from_secs(10),
        flush_deadline: Duration::from_secs(2),
        ..ForwardConfig::new(url, TOKEN, "gw-01")
    }
}

/// A running forwarder and the way to stop it.
struct Running {
    forwarder: Arc<Forwarder>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn forward(spool: &Spool, config: ForwardConfig) -> Running {
    let forwarder = Arc::new(Forwarder::new(spool.clone(), config).expect("forwarder"));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = {
        let forwarder = forwarder.clone();
        tokio::spawn(async move {
            forwarder
                .run(async {
                    let _ = stopped.await;
                })
                .await
        })
    };
    Running {
        forwarder,
        stop: Some(stop),
        task,
    }
}

impl Running {
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the forwarder stops within its flush deadline")
            .expect("forwarder task");
    }
}

/// Publishes `n` alerts from four engines at once, half waiting for receipts; returns the
/// ids once all are published.
async fn produce(publisher: &Publisher, n: usize) -> HashSet<Ulid> {
    let mut tasks = Vec::new();
    for engine in 0..4 {
        let publisher = publisher.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let alerts: Vec<_> = (engine..n).step_by(4).map(alert).collect();
            for (i, chunk) in alerts.chunks(100).enumerate() {
                ids.extend(chunk.iter().map(|a| a.id));
                if i % 2 == 0 {
                    let receipt = publisher
                        .publish_and_wait(chunk.to_vec())
                        .await
                        .expect("spooled");
                    assert_eq!(receipt.stored, chunk.len());
                } else {
                    publisher.publish(chunk.to_vec()).await.expect("published");
                }
            }
            ids
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        all.extend(t.await.expect("producer"));
    }
    assert_eq!(all.len(), n);
    all
}

fn sensor(dir: &std::path::Path) -> (Spool, Publisher, JoinHandle<()>) {
    let spool = Spool::open(dir, SpoolConfig::default()).expect("open spool");
    let (publisher, sub) = bus::channel(20_000);
    let writer = tokio::spawn(spool_writer(sub, spool.clone()));
    (spool, publisher, writer)
}

async fn drained(seen: &Seen, running: &Running, expected: &HashSet<Ulid>) {
    let what = format!("{} alerts delivered and the spool empty", expected.len());
    wait_until(DRAIN_LIMIT, &what, || {
        seen.stored() >= expected.len() && running.forwarder.status().backlog_events == 0
    })
    .await;
    let ids = seen.ids.lock().expect("ids").clone();
    assert_eq!(ids.len(), expected.len(), "the store holds each alert once");
    assert!(
        ids == *expected,
        "the store holds exactly the produced alerts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_arrives_once_after_the_console_was_down() {
    let dir = temp_dir("down");
    let seen = Seen::new(Faults::default());
    let mut console = TestConsole::start(free_addr().await, seen.clone(), None).await;
    let (spool, publisher, writer) = sensor(&dir);
    let running = forward(&spool, config(&console.url()));

    let mut produced = produce(&publisher, 10_000).await;
    console.stop().await;
    produced.extend(produce(&publisher, 90_000).await);
    assert!(
        running.forwarder.status().backlog_events >= 80_000,
        "the spool holds what the stopped console could not take"
    );
    console.restart().await;
    drained(&seen, &running, &produced).await;

    let status = running.forwarder.status();
    assert_eq!(status.acknowledged, 100_000);
    assert_eq!(status.refused, 0);
    assert!(status.retries > 0, "the outage was noticed");
    assert!(status.last_success_ms.is_some() && status.last_error.is_none());
    drop(publisher);
    writer.await.expect("spool writer drains and stops");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trouble_on_the_wire_loses_nothing_and_stores_nothing_twice() {
    let dir = temp_dir("trouble");
    let seen = Seen::new(Faults {
        fail: 0.1,
        fail_after_store: 0.15,
        drop_connection: 0.1,
        refuse_token_times: 3,
        ..Faults::default()
    });
    let console = TestConsole::start(free_addr().await, seen.clone(), None).await;
    let (spool, publisher, _writer) = sensor(&dir);
    let running = forward(
        &spool,
        ForwardConfig {
            batch_bytes: 64 << 10,
            ..config(&console.url())
        },
    );
    let produced = produce(&publisher, 20_000).await;
    drained(&seen, &running, &produced).await;
    assert!(running.forwarder.status().retries >= 3);
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Publishes until stopped, remembering only the alerts whose receipt came back: those are
/// the ones the sensor promised to keep.
fn produce_until_killed(
    publisher: Publisher,
    receipted: Arc<Mutex<HashSet<Ulid>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        for n in 0.. {
            let chunk: Vec<_> = (0..50).map(|i| alert(n * 50 + i)).collect();
            let ids: Vec<_> = chunk.iter().map(|a| a.id).collect();
            if publisher.publish_and_wait(chunk).await.is_err() {
                return;
            }
            receipted.lock().expect("ids").extend(ids);
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_killed_mid_flight_loses_no_receipted_alert() {
    let dir = temp_dir("kill");
    let seen = Seen::new(Faults {
        fail_after_store: 0.2,
        ..Faults::default()
    });
    let console = TestConsole::start(free_addr().await, seen.clone(), None).await;
    let receipted = Arc::new(Mutex::new(HashSet::new()));

    {
        let (spool, publisher, writer) = sensor(&dir);
        let running = forward(
            &spool,
            ForwardConfig {
                batch_bytes: 32 << 10,
                ..config(&console.url())
            },
        );
        let producer = produce_until_killed(publisher, receipted.clone());
        wait_until(DRAIN_LIMIT, "some alerts delivered and more queued", || {
            seen.stored() > 3_000 && receipted.lock().expect("ids").len() > 8_000
        })
        .await;
        // kill -9: nothing gets to finish or flush.
        for task in [producer, writer, running.task] {
            task.abort();
            let _ = task.await;
        }
    }
    // A write torn by the kill, as the disk would have it.
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .expect("spool dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    segments.sort();
    let last = segments.pop().expect("a segment");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .expect("segment")
        .write_all(br#"{"id":"01J9Z","time":"2025-01-0"#)
        .expect("torn write");

    // The killed process's spool thread lets go of the directory lock once it has finished.
    let mut reopened = None;
    for _ in 0..100 {
        match Spool::open(&dir, SpoolConfig::default()) {
            Ok(s) => {
                reopened = Some(s);
                break;
            }
            Err(Error::Locked(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("reopening the spool: {e}"),
        }
    }
    let spool = reopened.expect("the spool reopens");
    let (publisher, sub) = bus::channel(20_000);
    let _writer = tokio::spawn(spool_writer(sub, spool.clone()));
    let running = forward(&spool, config(&console.url()));
    let after = produce(&publisher, 5_000).await;

    let must_arrive: HashSet<Ulid> = receipted
        .lock()
        .expect("ids")
        .union(&after)
        .copied()
        .collect();
    wait_until(DRAIN_LIMIT, "the spool drains after the restart", || {
        running.forwarder.status().backlog_events == 0
    })
    .await;
    let ids = seen.ids.lock().expect("ids").clone();
    let missing = must_arrive.difference(&ids).count();
    assert_eq!(
        missing, 0,
        "{missing} receipted alerts never reached the console"
    );
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_works_with_a_self_signed_certificate_the_sensor_trusts() {
    let dir = temp_dir("tls");
    let (tls, cert) = self_signed(&dir);
    let seen = Seen::new(Faults::default());
    let console = TestConsole::start(free_addr().await, seen.clone(), Some(tls)).await;
    assert!(console.url().starts_with("https://127.0.0.1:"));

    // Without the certificate the sensor refuses the console and keeps the alerts.
    let untrusting = dir.join("untrusting");
    let (spool, publisher, _writer) = sensor(&untrusting);
    let running = forward(&spool, config(&console.url()));
    produce(&publisher, 200).await;
    wait_until(Duration::from_secs(20), "a certificate error", || {
        running.forwarder.status().last_error.is_some()
    })
    .await;
    let status = running.forwarder.status();
    let error = status.last_error.unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(seen.stored(), 0);
    assert_eq!(status.backlog_events, 200);
    running.shutdown().await;

    // With `ca_file` it delivers, and tells the console who it is and how far behind.
    let trusting = dir.join("trusting");
    let (spool, publisher, _writer) = sensor(&trusting);
    let first = alert(0);
    let first_ms = mamori_core::unix_ms(first.time);
    publisher
        .publish_and_wait(vec![first.clone()])
        .await
        .expect("spooled");
    let mut produced = produce(&publisher, 1_000).await;
    produced.insert(first.id);
    let running = forward(
        &spool,
        ForwardConfig {
            ca_file: Some(cert),
            ..config(&console.url())
        },
    );
    drained(&seen, &running, &produced).await;
    assert_eq!(seen.header("x-mamori-sensor").as_deref(), Some("gw-01"));
    let backlog: u64 = seen
        .header("x-mamori-backlog")
        .and_then(|v| v.parse().ok())
        .expect("backlog header");
    assert!(backlog <= 1_001);
    // The last request may be the heartbeat sent once the spool drained: backlog 0, no lag.
    match seen
        .header("x-mamori-oldest-ms")
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(oldest) => assert!(oldest >= first_ms, "the lag is measured from unsent alerts"),
        None => assert_eq!(backlog, 0, "only an empty spool has no oldest alert"),
    }
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_lines_are_counted_and_acknowledged_not_resent() {
    let dir = temp_dir("refused");
    let seen = Seen::new(Faults {
        refuse_rule: Some("bad.rule".into()),
        ..Faults::default()
    });
    let console = TestConsole::start(free_addr().await, seen.clone(), None).await;
    let (spool, publisher, _writer) = sensor(&dir);
    let mut good = HashSet::new();
    let mut batch = Vec::new();
    for n in 0..120 {
        let mut a = alert(n);
        if n % 6 == 0 {
            a.rule_id = "bad.rule".into();
        } else {
            good.insert(a.id);
        }
        batch.push(a);
    }
    // A batch of refused lines only gets a 400 with the per-line errors.
    let only_bad: Vec<_> = (0..3)
        .map(|n| {
            let mut a = alert(1000 + n);
            a.rule_id = "bad.rule".into();
            a
        })
        .collect();
    publisher.publish_and_wait(only_bad).await.expect("spooled");
    publisher.publish_and_wait(batch).await.expect("spooled");
    let running = forward(
        &spool,
        ForwardConfig {
            batch_bytes: 2048,
            ..config(&console.url())
        },
    );
    drained(&seen, &running, &good).await;
    let status = running.forwarder.status();
    assert_eq!(status.refused, 23);
    assert_eq!(status.acknowledged, 123);
    assert_eq!(
        seen.refused.load(Ordering::Relaxed),
        23,
        "each refused line was sent once"
    );
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_too_large_for_the_console_are_split() {
    let dir = temp_dir("split");
    let seen = Seen::new(Faults {
        max_body: Some(4096),
        ..Faults::default()
    });
    let console = TestConsole::start(free_addr().await, seen.clone(), None).await;
    let (spool, publisher, _writer) = sensor(&dir);
    let produced = produce(&publisher, 400).await;
    let running = forward(&spool, config(&console.url()));
    drained(&seen, &running, &produced).await;
    assert!(seen.too_large.load(Ordering::Relaxed) > 0);
    assert_eq!(running.forwarder.status().refused, 0);
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_while_the_console_is_down_and_keeps_the_backlog() {
    let dir = temp_dir("shutdown");
    let addr = free_addr().await;
    let (spool, publisher, _writer) = sensor(&dir);
    produce(&publisher, 500).await;
    let running = forward(&spool, config(&format!("http://{addr}")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = tokio::time::Instant::now();
    running.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(spool.stats().backlog_events, 500);
    let _ = std::fs::remove_dir_all(dir);
}
