//! Forwarding throughput: a spool full of alerts drained to a stand-in console over HTTPS on
//! loopback. Prints events/s; the target is at least 50,000.
//!
//! ```text
//! cargo run --release -p mamori-forward --example forward_speed [events] [in_flight] [batch_kib]
//! ```
//!
//! The stand-in console parses every line (id and rule) and keeps the ids in a set, so the
//! number includes the console's parsing but not a database.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{alert, free_addr, self_signed, temp_dir, Faults, Seen, TestConsole, TOKEN};
use mamori_forward::{ForwardConfig, Forwarder, Spool, SpoolConfig};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let in_flight: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let batch_kib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);

    let dir = temp_dir("speed");
    let spool = Spool::open(dir.join("spool"), SpoolConfig::default()).expect("spool");
    let started = Instant::now();
    let alerts: Vec<_> = (0..events).map(alert).collect();
    for chunk in alerts.chunks(5_000) {
        spool.append(chunk).await.expect("append");
    }
    let stats = spool.stats();
    let fill = started.elapsed();
    drop(alerts);

    let (tls, cert) = self_signed(&dir);
    let seen = Seen::new(Faults::default());
    let console = TestConsole::start(free_addr().await, seen.clone(), Some(tls)).await;
    let forwarder = Forwarder::new(
        spool.clone(),
        ForwardConfig {
            ca_file: Some(cert),
            in_flight,
            batch_bytes: batch_kib << 10,
            ..ForwardConfig::new(console.url(), TOKEN, "speed")
        },
    )
    .expect("forwarder");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let run = forwarder.run(async {
        let _ = stopped.await;
    });
    let watch = async {
        while forwarder.status().backlog_events > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = stop.send(());
    };
    tokio::join!(run, watch);
    let elapsed = started.elapsed();

    let status = forwarder.status();
    assert_eq!(seen.stored(), events, "every alert arrived");
    let rate = events as f64 / elapsed.as_secs_f64();
    println!(
        "spool filled: {events} alerts, {:.1} MiB in {:.2?} ({:.0} events/s with fsync)",
        stats.backlog_bytes as f64 / (1 << 20) as f64,
        fill,
        events as f64 / fill.as_secs_f64()
    );
    println!(
        "forwarded over HTTPS on loopback: {events} alerts in {elapsed:.2?}: {rate:.0} events/s \
         ({in_flight} in flight, {batch_kib} KiB batches, {} requests, {} retries)",
        seen.requests.load(std::sync::atomic::Ordering::Relaxed),
        status.retries
    );
    let _ = std::fs::remove_dir_all(dir);
}
