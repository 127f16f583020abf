//! Speed of `detect::sqli` and `detect::xss` per value, on the kinds of values the WAF
//! checks on every request: short benign values (the common case), longer benign text, and
//! attacks. Run: `cargo run --release -p mamori-waf --example detect_speed`.

use std::hint::black_box;
use std::time::Instant;

use mamori_waf::detect;

fn per_call(values: &[&[u8]], f: impl Fn(&[u8]) -> bool) -> f64 {
    let rounds = 200_000 / values.len().max(1) + 1;
    let start = Instant::now();
    let mut hits = 0usize;
    for _ in 0..rounds {
        for v in values {
            hits += f(black_box(v)) as usize;
        }
    }
    black_box(hits);
    start.elapsed().as_nanos() as f64 / (rounds * values.len()) as f64
}

fn main() {
    let short: &[&[u8]] = &[
        b"12345",
        b"taro",
        b"ja",
        b"2026-11-23",
        b"abc123def456",
        b"taro@example.co.jp",
        b"red shoes",
        b"O'Reilly",
        "田中太郎".as_bytes(),
        b"gzip, deflate, br",
    ];
    let long_text =
        "お問い合わせありがとうございます。I'll select a car from the shop and go home; \
        see https://example.com/path?x=1&y=2 -- Taro. "
            .repeat(8);
    let ua = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
        Chrome/120.0 Safari/537.36";
    let long: &[&[u8]] = &[long_text.as_bytes(), ua];
    let attacks: &[&[u8]] = &[
        b"1' or '1'='1",
        b"-1 union select 1,2,group_concat(table_name) from information_schema.tables--",
        b"<script>alert(1)</script>",
        b"\" onmouseover=\"alert(1)",
    ];
    let sqli = |v: &[u8]| detect::sqli(v).is_some();
    println!("value set            sqli ns/value   xss ns/value");
    for (name, set) in [
        ("short benign", short),
        ("long benign", long),
        ("attacks", attacks),
    ] {
        println!(
            "{name:<20} {:>14.0} {:>14.0}",
            per_call(set, sqli),
            per_call(set, detect::xss)
        );
    }
    let huge = "a ' b ".repeat(4096);
    println!(
        "24 KiB value (capped at {} bytes): sqli {:.0} ns, xss {:.0} ns",
        detect::MAX_SCAN,
        per_call(&[huge.as_bytes()], sqli),
        per_call(&[huge.as_bytes()], detect::xss)
    );
}
