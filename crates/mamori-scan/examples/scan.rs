//! A small stand-in for `mamori scan` used by the benchmark: scans one URL and prints the
//! CLI's JSON, with timing on stderr.
//!
//! `scan URL [--json] [--lang ja] [--rate N] [--max-requests N] [--templates DIR]
//!  [--http-port P] [--https-port P] [--ports 6379:redis,22:ssh] [--dns ADDR]
//!  [--mail-domain D] [--ca PEM] [--vulndb FILE]`

use mamori_scan::{Lang, ScanConfig, Scanner, Service};
use std::io::IsTerminal;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = ScanConfig::default();
    let mut url = None;
    let mut json = false;
    let mut lang = Lang::En;
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--json" => json = true,
            "--lang" => lang = if val() == "ja" { Lang::Ja } else { Lang::En },
            "--rate" => config.rate_per_second = val().parse().expect("--rate N"),
            "--max-requests" => config.max_requests = val().parse().expect("--max-requests N"),
            "--templates" => config.templates_dir = Some(val().into()),
            "--http-port" => config.http_port = val().parse().expect("port"),
            "--https-port" => config.https_port = val().parse().expect("port"),
            "--dns" => config.dns_server = Some(val().parse().expect("--dns IP:PORT")),
            "--mail-domain" => config.mail_domain = Some(val()),
            "--ca" => config.trust_anchors.push(val().into()),
            "--vulndb" => config.vulndb_path = Some(val().into()),
            "--ports" => {
                config.ports = val()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|p| {
                        let (port, svc) = p.split_once(':').expect("PORT:SERVICE");
                        (
                            port.parse().expect("port"),
                            svc.parse::<Service>().expect("service"),
                        )
                    })
                    .collect()
            }
            other => url = Some(other.to_string()),
        }
    }
    let url = url.expect("usage: scan URL [options]");
    let scanner = match Scanner::new(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let report = scanner
        .scan(&url, |p| {
            if tty {
                let done = p.phase.index() * 30 / (mamori_scan::Phase::COUNT - 1);
                eprint!(
                    "\r[{:<30}] {:<18} {} requests",
                    "#".repeat(done),
                    p.phase.name(),
                    p.requests_sent
                );
            }
        })
        .await;
    if tty {
        eprintln!();
    }
    let took = start.elapsed();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json(lang)).unwrap_or_default()
        );
    } else {
        for f in &report.findings {
            println!(
                "[{}] {} — {}\n    {}",
                f.severity,
                f.id,
                f.title(lang),
                f.url
            );
        }
        for e in &report.errors {
            println!("error: {e}");
        }
    }
    eprintln!(
        "scan of {} took {:.2}s, {} requests, {} findings",
        report.target,
        took.as_secs_f64(),
        report.requests_sent,
        report.findings.len()
    );
}
