//! Benchmark: a 2,000-target campaign sent to a local SMTP sink (mails/s), then `wrk`
//! against the tracking pixel and a click link (requests/s, p99 latency). Run through
//! `bench/drill/run.sh`.

use mamori_drill::{Drill, NewCampaign, Scope, Settings, SmtpProfile};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const TARGETS: usize = 2000;

#[derive(Default)]
struct Sink {
    count: AtomicUsize,
    first: Mutex<Option<Vec<u8>>>,
}

#[mamori_smtp::async_trait]
impl mamori_smtp::Handler for Sink {
    async fn data(
        &self,
        _: &mamori_smtp::SessionInfo,
        _: &mamori_smtp::Envelope,
        message: Vec<u8>,
    ) -> mamori_smtp::Reply {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            if let Ok(mut first) = self.first.lock() {
                *first = Some(message);
            }
        }
        mamori_smtp::Reply::new(250, None, "queued")
    }
}

/// Runs wrk and answers (requests/s, p99 latency as printed).
fn wrk(url: &str, seconds: u32) -> Result<(String, String), String> {
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c4", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or("?")
            .to_string()
    };
    Ok((field("Requests/sec:"), field("99%")))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u32 = std::env::var("DRILL_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("mamori-drill-bench-{}", ulid::Ulid::new()));
    let drill = Drill::open_with(
        &dir,
        Settings {
            batch: 500,
            ..Settings::default()
        },
    )?;

    let sink = Arc::new(Sink::default());
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let smtp_port = smtp.local_addr()?.port();
    let mut config = mamori_smtp::ServerConfig::new("sink.bench");
    config.max_connections = 1024;
    tokio::spawn(mamori_smtp::listen(
        smtp,
        Arc::new(config),
        sink.clone(),
        std::future::pending(),
    ));
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", http.local_addr()?);
    let app = drill
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(http, app).await });

    let mut csv = String::from("name,email,department,position\n");
    for i in 0..TARGETS {
        csv.push_str(&format!(
            "Person {i},p{i}@example.jp,Dept {},Staff\n",
            i % 10
        ));
    }
    let group = drill.import_csv("bench", csv.as_bytes(), "all")?.group_id;
    let id = drill.create_campaign(
        "bench",
        NewCampaign {
            name: "bench".into(),
            template_id: "password-ja".into(),
            group_ids: vec![group],
            smtp: SmtpProfile {
                host: "127.0.0.1".into(),
                port: smtp_port,
                ..SmtpProfile::default()
            },
            from_addr: "helpdesk@it-support.test".into(),
            base_url: base.clone(),
            ..NewCampaign::default()
        },
    )?;
    drill.start(&Scope::All, &id)?;
    let started = Instant::now();
    let mut sent = 0;
    while sent < TARGETS {
        let n = drill.send_due().await?;
        if n == 0 {
            return Err(format!("sender stalled at {sent} mails").into());
        }
        sent += n;
    }
    let send_secs = started.elapsed().as_secs_f64();

    let first = sink
        .first
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .ok_or("no mail captured")?;
    let msg = mail_parser::MessageParser::default()
        .parse(&first)
        .ok_or("captured mail does not parse")?;
    let html = msg.body_html(0).ok_or("no HTML part")?.into_owned();
    let link = |prefix: &str| -> Option<String> {
        let start = html.find(&format!("{base}{prefix}"))?;
        let rest = &html[start..];
        Some(rest[..rest.find('"')?].to_string())
    };
    let pixel = link("/t/o/").ok_or("no pixel")?;
    let click = link("/t/c/").ok_or("no click link")?;

    let (pixel_rps, pixel_p99) = tokio::task::spawn_blocking({
        let pixel = pixel.clone();
        move || wrk(&pixel, seconds)
    })
    .await??;
    let (click_rps, click_p99) =
        tokio::task::spawn_blocking(move || wrk(&click, seconds)).await??;
    let events = drill.results(&Scope::All, &id)?.timeline.len();

    println!("| drill benchmark ({TARGETS} targets, wrk -t2 -c4 -d{seconds}s) | value |");
    println!("| --- | --- |");
    println!(
        "| mails sent to local SMTP sink | {sent} in {send_secs:.2} s = {:.0} mails/s |",
        sent as f64 / send_secs
    );
    println!("| open pixel GET /t/o/…gif | {pixel_rps} req/s, p99 {pixel_p99} |");
    println!("| click GET /t/c/… (landing page) | {click_rps} req/s, p99 {click_p99} |");
    println!("| events recorded (timeline, capped at 10,000) | {events} |");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
