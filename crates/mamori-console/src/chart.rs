//! A stacked bar chart as inline SVG: alerts per time bucket, coloured by severity.
//! No JavaScript, so it renders the same in a browser, a PDF and a screenshot.

use crate::i18n::{self, Lang};
use mamori_core::Severity;
use mamori_store::Bucket;
use std::fmt::Write;

pub fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b42318",
        Severity::High => "#e8590c",
        Severity::Medium => "#c99400",
        Severity::Low => "#2f7d4f",
        Severity::Info => "#9aa5b1",
    }
}

/// Renders the buckets, oldest left. `label` names a bucket start (unix ms) on the x axis;
/// every `label_every`-th bucket is labelled.
pub fn stacked_bars(
    buckets: &[Bucket],
    lang: Lang,
    label: impl Fn(i64) -> String,
    label_every: usize,
) -> String {
    let (w, h, left, bottom, top) = (720.0_f64, 220.0_f64, 40.0_f64, 24.0_f64, 8.0_f64);
    let total = |b: &Bucket| b.by_severity.values().sum::<i64>();
    let max = buckets.iter().map(total).max().unwrap_or(0).max(1);
    let scale_max = nice_ceiling(max);
    let n = buckets.len().max(1) as f64;
    let slot = (w - left) / n;
    let bar = (slot * 0.72).max(1.0);
    let plot_h = h - bottom - top;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {w} {h}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="10">"#,
        lang.text().alerts_over_time
    );
    for i in 0..=4 {
        let v = scale_max as f64 * i as f64 / 4.0;
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{w}" y1="{y:.1}" y2="{y:.1}" stroke="#e1e6ed"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#5f6b7a">{}</text>"##,
            left - 4.0,
            y + 3.0,
            v.round() as i64
        );
    }
    for (i, b) in buckets.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        for s in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            let c = b.by_severity.get(s.as_str()).copied().unwrap_or(0);
            if c == 0 {
                continue;
            }
            let bh = plot_h * c as f64 / scale_max as f64;
            y -= bh;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="{}"><title>{} {}: {c}</title></rect>"#,
                color(s),
                label(b.start_ms),
                i18n::severity(lang, s)
            );
        }
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#5f6b7a">{}</text>"##,
                x + bar / 2.0,
                h - 8.0,
                label(b.start_ms)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// 1, 2, 5 × 10^k at or above `v`, so the axis reads in round numbers.
fn nice_ceiling(v: i64) -> i64 {
    let mut base = 1;
    loop {
        for m in [1, 2, 5] {
            if base * m >= v {
                return base * m;
            }
        }
        base *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn bars_scale_to_round_numbers_and_name_each_severity() {
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(130), 200);
        let mut by = BTreeMap::new();
        by.insert("critical".to_string(), 3);
        by.insert("low".to_string(), 4);
        let svg = stacked_bars(
            &[Bucket {
                start_ms: 0,
                by_severity: by,
            }],
            Lang::En,
            |_| "0h".into(),
            1,
        );
        assert!(svg.contains("Critical: 3"));
        assert!(svg.contains("Low: 4"));
        assert!(svg.starts_with("<svg"));
    }
}
