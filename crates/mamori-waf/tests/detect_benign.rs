//! Low false positives: `detect::sqli` and `detect::xss` stay quiet on Mamori's own corpus
//! of ordinary values (Japanese and English text, names with apostrophes, e-mail
//! addresses, numbers, dates, searches with "and"/"or", JSON, URLs, browser headers), in
//! `tests/fixtures/detect/benign.txt`.

use mamori_waf::detect;

const CORPUS: &str = include_str!("fixtures/detect/benign.txt");

fn corpus() -> impl Iterator<Item = &'static str> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

#[test]
fn ordinary_values_are_not_sql_injection() {
    let flagged: Vec<_> = corpus()
        .filter_map(|v| detect::sqli(v.as_bytes()).map(|fp| format!("{v} → {fp}")))
        .collect();
    println!(
        "sqli: {} of {} benign values flagged",
        flagged.len(),
        corpus().count()
    );
    assert!(flagged.is_empty(), "{flagged:#?}");
}

#[test]
fn ordinary_values_are_not_xss() {
    let flagged: Vec<_> = corpus().filter(|v| detect::xss(v.as_bytes())).collect();
    println!(
        "xss: {} of {} benign values flagged",
        flagged.len(),
        corpus().count()
    );
    assert!(flagged.is_empty(), "{flagged:#?}");
}
