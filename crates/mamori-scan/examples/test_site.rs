//! Serves the planted test site and its clean twin on loopback for the benchmark and for
//! trying the scanner by hand. Prints one JSON line with the ports, then serves until killed.
//!
//! `cargo run --release -p mamori-scan --example test_site [DIR]` (DIR holds the certificates).

#[path = "../tests/common/site.rs"]
mod site;

use mamori_scan::Service;
use site::Flavor;

#[tokio::main]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| site::temp_dir("site"));
    let certs = site::make_certs(&dir);
    let planted = site::serve(Flavor::Planted, &certs.self_signed).await;
    let clean = site::serve(Flavor::Clean, &certs.good).await;
    let redis = site::fake_service(b"", b"-NOAUTH Authentication required.\r\n").await;
    let ssh = site::fake_service(b"SSH-2.0-OpenSSH_7.4\r\n", b"").await;
    let dns = site::dns_responder(site::mail_zone()).await;
    let _ = Service::Redis;
    println!(
        "{}",
        serde_json::json!({
            "planted_http": planted.http.port(),
            "planted_https": planted.https.port(),
            "clean_http": clean.http.port(),
            "clean_https": clean.https.port(),
            "redis": redis.port(),
            "ssh": ssh.port(),
            "dns": dns.to_string(),
            "ca": certs.ca,
        })
    );
    let log = planted.log.clone();
    tokio::signal::ctrl_c().await.ok();
    eprintln!(
        "planted site served {} requests",
        log.requests.load(std::sync::atomic::Ordering::SeqCst)
    );
}
