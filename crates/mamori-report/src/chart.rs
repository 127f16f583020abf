//! The report's charts as inline SVG: bars per day, labelled horizontal bars and a trend line.
//!
//! No scripts and no external fonts, so a chart looks the same in a browser and in the PDF.
//! Every chart writes its numbers as text (axis ticks, values, labels), so the figures are in
//! the PDF's text layer too, not only in the shapes. Text comes from the tenant's data
//! (department names, campaign names), so the SVG is built with maud, which escapes it.

use mamori_core::Severity;
use maud::{html, Markup};

/// Severity colours, the same as the console's, so a manager sees one palette.
pub fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#b42318",
        Severity::High => "#e8590c",
        Severity::Medium => "#c99400",
        Severity::Low => "#2f7d4f",
        Severity::Info => "#9aa5b1",
    }
}

pub const BLOCK_COLOR: &str = "#1d5fa8";
pub const GOOD_COLOR: &str = "#2f7d4f";
const GRID: &str = "#e1e6ed";
const INK: &str = "#5f6b7a";

/// One coloured part of a day's bar; `title` is the hover text.
pub struct Segment {
    pub value: u64,
    pub color: &'static str,
    pub title: String,
}

/// Bars per day, each a stack of segments drawn bottom up, with the day number under
/// each bar, the total above it and a round-numbered axis on the left.
pub fn day_bars(days: &[Vec<Segment>], height: f64, aria_label: &str, axis_title: &str) -> Markup {
    let (w, left, right, top, bottom) = (720.0_f64, 46.0, 6.0, 14.0, 30.0);
    let totals: Vec<u64> = days
        .iter()
        .map(|d| d.iter().map(|s| s.value).fold(0, u64::saturating_add))
        .collect();
    let (step, steps) = axis(totals.iter().copied().max().unwrap_or(0));
    let max = step.saturating_mul(steps);
    let plot_h = height - top - bottom;
    let slot = (w - left - right) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let ticks: Vec<(f64, u64)> = (0..=steps)
        .map(|i| {
            (
                top + plot_h - plot_h * i as f64 / steps as f64,
                step.saturating_mul(i),
            )
        })
        .collect();
    html! {
        svg class="chart" viewBox=(format!("0 0 {w} {height}")) role="img" aria-label=(aria_label) xmlns="http://www.w3.org/2000/svg" font-size="10" {
            @for (y, v) in &ticks {
                line x1=(px(left)) x2=(px(w - right)) y1=(px(*y)) y2=(px(*y)) stroke=(GRID) {}
                text x=(px(left - 4.0)) y=(px(y + 3.5)) text-anchor="end" fill=(INK) { (crate::i18n::number(*v)) }
            }
            @for (i, (segments, total)) in days.iter().zip(&totals).enumerate() {
                @let x = left + slot * i as f64 + (slot - bar) / 2.0;
                @let stacks = stack(segments, top + plot_h, plot_h, max);
                @for (seg, y, h) in stacks {
                    rect x=(px(x)) y=(px(y)) width=(px(bar)) height=(px(h)) fill=(seg.color) {
                        title { (seg.title) }
                    }
                }
                @if *total > 0 {
                    text x=(px(x + bar / 2.0)) y=(px(top + plot_h - plot_h * *total as f64 / max as f64 - 3.0)) text-anchor="middle" font-size="7.5" fill="#1f2933" { (compact(*total)) }
                }
                text x=(px(x + bar / 2.0)) y=(px(height - bottom + 12.0)) text-anchor="middle" font-size="8.5" fill=(INK) { (i + 1) }
            }
            text x=(px(left + (w - left - right) / 2.0)) y=(px(height - 3.0)) text-anchor="middle" fill=(INK) { (axis_title) }
        }
    }
}

fn stack(segments: &[Segment], base: f64, plot_h: f64, max: u64) -> Vec<(&Segment, f64, f64)> {
    let mut y = base;
    let mut out = Vec::new();
    for seg in segments.iter().filter(|s| s.value > 0) {
        let h = plot_h * seg.value as f64 / max as f64;
        y -= h;
        out.push((seg, y, h));
    }
    out
}

/// One labelled horizontal bar.
pub struct HBar {
    pub label: String,
    pub value: u64,
    /// What is written after the bar: the value, perhaps with a rate.
    pub text: String,
    pub color: &'static str,
}

/// Horizontal bars, each with its label above it and its figure after it. Bars scale to
/// `scale_max` when given (a funnel scales to its first bar), else to the largest value.
pub fn hbars(bars: &[HBar], scale_max: Option<u64>, aria_label: &str) -> Markup {
    let (w, row, label_h, bar_h, value_w) = (340.0_f64, 30.0_f64, 12.0, 11.0, 92.0);
    let h = row * bars.len().max(1) as f64 + 2.0;
    let max = scale_max
        .unwrap_or_else(|| bars.iter().map(|b| b.value).max().unwrap_or(0))
        .max(1);
    let full = w - value_w;
    html! {
        svg class="chart" viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(aria_label) xmlns="http://www.w3.org/2000/svg" font-size="10" {
            @for (i, b) in bars.iter().enumerate() {
                @let y = row * i as f64;
                @let len = if b.value == 0 { 0.0 } else { (full * b.value.min(max) as f64 / max as f64).max(1.5) };
                text x="0" y=(px(y + label_h - 2.0)) fill="#1f2933" { (b.label) }
                rect x="0" y=(px(y + label_h)) width=(px(full)) height=(px(bar_h)) fill="#f1f4f8" {}
                rect x="0" y=(px(y + label_h)) width=(px(len)) height=(px(bar_h)) fill=(b.color) {}
                text x=(px(full + 6.0)) y=(px(y + label_h + bar_h - 1.5)) fill="#1f2933" font-weight="bold" { (b.text) }
            }
        }
    }
}

/// A line over labelled points (oldest left) with each value written above its point.
pub fn trend_line(points: &[(String, u64)], aria_label: &str) -> Markup {
    let (w, h, left, right, top, bottom) = (720.0_f64, 170.0_f64, 46.0, 20.0, 18.0, 22.0);
    let (tick, steps) = axis(points.iter().map(|p| p.1).max().unwrap_or(0));
    let max = tick.saturating_mul(steps);
    let plot_h = h - top - bottom;
    let n = points.len().max(1);
    // Points keep clear of the axis labels on the left.
    let (x0, x1) = (left + 24.0, w - right);
    let step = if n > 1 {
        (x1 - x0) / (n - 1) as f64
    } else {
        0.0
    };
    let at = |i: usize, v: u64| {
        let x = if n > 1 {
            x0 + step * i as f64
        } else {
            (x0 + x1) / 2.0
        };
        (x, top + plot_h - plot_h * v as f64 / max as f64)
    };
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = at(i, p.1);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    html! {
        svg class="chart" viewBox=(format!("0 0 {w} {h}")) role="img" aria-label=(aria_label) xmlns="http://www.w3.org/2000/svg" font-size="10" {
            @for i in 0..=steps {
                @let y = top + plot_h - plot_h * i as f64 / steps as f64;
                line x1=(px(left)) x2=(px(w - right)) y1=(px(y)) y2=(px(y)) stroke=(GRID) {}
                text x=(px(left - 4.0)) y=(px(y + 3.5)) text-anchor="end" fill=(INK) { (crate::i18n::number(tick.saturating_mul(i))) }
            }
            polyline points=(line.join(" ")) fill="none" stroke=(BLOCK_COLOR) stroke-width="2" {}
            @for (i, (label, v)) in points.iter().enumerate() {
                @let (x, y) = at(i, *v);
                circle cx=(px(x)) cy=(px(y)) r="3.5" fill=(BLOCK_COLOR) {}
                text x=(px(x)) y=(px(y - 7.0)) text-anchor="middle" font-weight="bold" fill="#1f2933" { (crate::i18n::number(*v)) }
                text x=(px(x)) y=(px(h - 6.0)) text-anchor="middle" fill=(INK) { (label) }
            }
        }
    }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// `950` → `950`, `12345` → `12k`: a bar's total must fit over a bar a finger wide.
fn compact(v: u64) -> String {
    if v < 10_000 {
        v.to_string()
    } else if v < 1_000_000 {
        format!("{}k", v / 1000)
    } else {
        format!("{}M", v / 1_000_000)
    }
}

/// The axis for values up to `max`: a step of 1, 2 or 5 × 10^k and the number of steps
/// (at most four) that reach `max`, so every tick is a round number.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut base: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = base.saturating_mul(m);
            let steps = max.div_ceil(step);
            if steps <= 4 {
                return (step, steps.max(1));
            }
        }
        base = base.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_use_round_numbers() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(4), (1, 4));
        assert_eq!(axis(7), (2, 4));
        assert_eq!(axis(47), (20, 3));
        assert_eq!(axis(1070), (500, 3));
        assert_eq!(axis(u64::MAX).1, 4);
        assert_eq!(compact(9_999), "9999");
        assert_eq!(compact(12_345), "12k");
    }

    #[test]
    fn day_bars_write_day_numbers_totals_and_escape_titles() {
        let days = vec![
            vec![Segment {
                value: 3,
                color: "#000",
                title: "<b>x</b>".into(),
            }],
            vec![],
        ];
        let svg = day_bars(&days, 200.0, "alerts", "day").into_string();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains(">3</text>"));
        assert!(svg.contains(">2</text>"));
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn hbars_and_trend_write_their_labels_and_values() {
        let svg = hbars(
            &[HBar {
                label: "営業部".into(),
                value: 5,
                text: "5 (10.0%)".into(),
                color: BLOCK_COLOR,
            }],
            Some(50),
            "x",
        )
        .into_string();
        assert!(svg.contains("営業部") && svg.contains("5 (10.0%)"));
        let svg = trend_line(&[("5月".into(), 7), ("6月".into(), 1234)], "t").into_string();
        assert!(svg.contains(">1,234</text>") && svg.contains("5月") && svg.contains("polyline"));
    }
}
