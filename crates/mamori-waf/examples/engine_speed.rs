//! Engine time per request with CRS at PL1 (the default of `crs-setup.conf.example`):
//! a browser-like GET with a two-argument query and a POST form, each through phases 1-5.
//!
//! `cargo run --release -p mamori-waf --example engine_speed [CRS_DIR] [ITERATIONS]`
//! (CRS_DIR defaults to `../shared/testdata/waf/crs-v4`, else Debian's CRS.) With
//! `VARY=1`, every request's `User-Agent`, its first header's value and its query differ
//! from all before: the memos of repeated values never answer.

/// The allocator the `mamori` binary uses, so the figure is the proxy's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mamori_waf::engine::RuleSet;
use mamori_waf::request::RequestHead;
use std::path::PathBuf;
use std::time::Instant;

fn head(method: &str, target: &str, extra: &[(&str, &str)]) -> RequestHead {
    let mut headers: Vec<(String, Vec<u8>)> = [
        ("Host", "shop.example.com"),
        (
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("Accept-Language", "en-US,en;q=0.5"),
        ("Accept-Encoding", "gzip, deflate, br"),
        ("Referer", "https://shop.example.com/catalog/shoes"),
        (
            "Cookie",
            "session=3f1c9a7be2d04c55a1f0e9d2b7c6a581; theme=dark",
        ),
        ("Connection", "keep-alive"),
        ("Upgrade-Insecure-Requests", "1"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    headers.shrink_to_fit();
    RequestHead::new(method, target, "HTTP/1.1", headers)
}

/// The requests of `bench/waf/run.sh`, with their headers as wrk sends them (and `extra`).
fn bench_request(method: &str, target: &str, extra: &[(&str, &str)]) -> RequestHead {
    let headers: Vec<(String, Vec<u8>)> = [
        ("Host", "shop.example"),
        (
            "User-Agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        ),
        (
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("Accept-Language", "ja,en-US;q=0.7,en;q=0.3"),
        ("Accept-Encoding", "gzip, deflate"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    RequestHead::new(method, target, "HTTP/1.1", headers)
}

/// The form `bench/waf/run.sh` posts.
const BENCH_FORM: &[u8] =
    b"user=alice&comment=Hello+world%2C+see+you+at+the+meeting+tomorrow&page=2";

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`), so the
/// figure holds on a busy machine; `None` elsewhere.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let shared = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/waf/crs-v4"
        ));
        if shared.is_dir() {
            shared
        } else {
            PathBuf::from("/usr/share/modsecurity-crs")
        }
    });
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let t = Instant::now();
    let rs = RuleSet::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    println!(
        "{}: {} rules loaded in {:.1?}",
        dir.display(),
        rs.rule_count(),
        t.elapsed()
    );
    let body = b"username=alice&password=correct+horse&remember=on&csrf_token=8f14e45fceea167a5a36dedd4bea2543";
    let len = body.len().to_string();
    let bench_len = BENCH_FORM.len().to_string();
    let cases: Vec<(&str, RequestHead, &[u8])> = vec![
        (
            "GET",
            head("GET", "/catalog/search?q=running+shoes&page=2", &[]),
            b"",
        ),
        (
            "GET as bench/waf sends it",
            bench_request("GET", "/index.html?q=hello&page=2", &[]),
            b"",
        ),
        (
            "POST as bench/waf sends it",
            bench_request(
                "POST",
                "/index.html",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Content-Length", &bench_len),
                ],
            ),
            BENCH_FORM,
        ),
        (
            "POST form",
            head(
                "POST",
                "/account/login",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Content-Length", &len),
                ],
            ),
            body,
        ),
    ];
    let vary = std::env::var_os("VARY").is_some();
    let counter = std::cell::Cell::new(0u64);
    for (name, h, body) in &cases {
        let once = |h: &RequestHead| {
            let mut h = h.clone();
            if vary {
                let n = counter.get();
                counter.set(n + 1);
                for (k, v) in h.headers.iter_mut().take(2) {
                    if k == "Host" || k == "User-Agent" {
                        v.extend_from_slice(format!(" v{n}").as_bytes());
                    }
                }
                let sep = if h.target.contains('?') { '&' } else { '?' };
                h.target = format!("{}{sep}v={n}", h.target);
            }
            let mut tx = rs.transaction(h);
            let mut stop = tx.process_request_headers();
            if stop.is_none() {
                tx.append_request_body(body);
                stop = tx.process_request_body();
            }
            if stop.is_none() {
                stop = tx.process_response_headers(
                    200,
                    &[("Content-Type".into(), b"text/html".to_vec())],
                );
            }
            (stop, tx.finish())
        };
        let (stop, audit) = once(h);
        for _ in 0..n / 10 {
            std::hint::black_box(once(h));
        }
        let t = Instant::now();
        let c = cpu_ns();
        for _ in 0..n {
            std::hint::black_box(once(h));
        }
        let per = t.elapsed() / n as u32;
        let cpu = match (c, cpu_ns()) {
            (Some(a), Some(b)) => format!("{:.1}µs CPU", (b - a) as f64 / n as f64 / 1000.0),
            _ => "CPU time unknown".into(),
        };
        println!(
            "{name}: {cpu} per request ({per:.1?} wall, {n} runs); matched {:?}, intervention {:?}",
            audit.ids(),
            stop.map(|i| i.status)
        );
    }
}
