//! `mamori up --role sensor` forwarding to a console that goes away and comes back, and a
//! sensor killed with SIGKILL and restarted: every event arrives, once.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// `n` events starting at `from`, one NDJSON line each, with their own ids.
fn events(path: &std::path::Path, from: usize, n: usize) {
    let mut text = String::with_capacity(n * 160);
    for i in from..from + n {
        text.push_str(&format!(
            "{{\"id\":\"{}\",\"engine\":\"ids\",\"rule_id\":\"ids.test\",\"rule_name\":\"test\",\"severity\":\"info\",\"summary\":\"event {i}\",\"src\":{{\"ip\":\"192.168.{}.{}\"}}}}\n",
            ulid::Ulid::from_parts(1_790_000_000_000 + i as u64, i as u128),
            i / 250 % 250,
            i % 250 + 1
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn send(data: &std::path::Path, file: &std::path::Path, url: &str, token: &str) {
    let (ok, out, err) = mamori(
        data,
        &[
            "send",
            file.to_str().unwrap(),
            "--url",
            url,
            "--token",
            token,
            "--batch",
            "5000",
        ],
        "",
    );
    assert!(ok, "{out}{err}");
}

fn get(url: &str, token: &str) -> serde_json::Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    })
}

/// Alerts the console holds for the tenant (every test event is `info` and recent).
fn stored(base: &str, token: &str) -> i64 {
    get(&format!("{base}/api/v1/overview"), token)["total"]
        .as_i64()
        .unwrap_or(-1)
}

fn wait_for(base: &str, token: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let now = stored(base, token);
        if now == n {
            return;
        }
        assert!(
            now <= n,
            "the console holds {now} alerts, more than the {n} sent"
        );
        assert!(
            Instant::now() < deadline,
            "only {now} of {n} alerts arrived"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn events_survive_a_console_outage_and_a_killed_sensor_and_arrive_once() {
    let console_data = temp_dir("sensor-console");
    let sensor_data = temp_dir("sensor-gw");
    let listen = format!("127.0.0.1:{}", free_port());
    let console = up_at(&console_data, &listen, &[]);
    assert!(mamori(&console_data, &["tenant", "add", "acme"], "").0);
    let (_, out, _) = mamori(&console_data, &["token", "create", "--tenant", "acme"], "");
    let token = out.lines().last().unwrap().to_string();
    let base = console.base.clone();
    let local = format!("127.0.0.1:{}", free_port());
    let local_url = format!("http://{local}");
    let gw = sensor_at(&sensor_data, &base, &token, &local);

    // The console goes away; 100,000 events are spooled on the sensor meanwhile.
    drop(console);
    let file = sensor_data.join("events.ndjson");
    events(&file, 0, 100_000);
    send(&sensor_data, &file, &local_url, &token);
    let status = get(&format!("{local_url}/api/v1/sensor"), &token);
    assert!(
        status["backlog_events"].as_u64().unwrap_or(0) > 90_000,
        "{status}"
    );
    assert!(status["last_error"].is_string(), "{status}");

    // The console comes back where it was: everything arrives, once.
    let console = up_at(&console_data, &listen, &[]);
    wait_for(&base, &token, 100_000);
    let sensors = get(&format!("{base}/api/v1/sensors"), &token);
    assert_eq!(sensors["items"][0]["name"], "gw1", "{sensors}");

    // More events, and the sensor killed with SIGKILL while it forwards them.
    events(&file, 100_000, 20_000);
    send(&sensor_data, &file, &local_url, &token);
    drop(gw);
    let _gw = sensor_at(&sensor_data, &base, &token, &local);
    wait_for(&base, &token, 120_000);
    // Nothing more trickles in later.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored(&base, &token), 120_000);
    let sensors = get(&format!("{base}/api/v1/sensors"), &token);
    assert_eq!(sensors["items"][0]["backlog"], 0, "{sensors}");
    drop(console);
}
