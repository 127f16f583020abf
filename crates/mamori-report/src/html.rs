//! The report as one self-contained HTML document laid out for A4.
//!
//! Inline CSS and inline SVG only: no scripts, no fonts, images or styles from elsewhere
//! (a Content-Security-Policy in the page forbids them, so a browser opening the file
//! fetches nothing). Every value from the data goes through maud, which escapes it.
//!
//! Six sections, each starting on a new page, each bounded (long lists are cut with a note
//! that says how many more there are, long texts are clipped) so that the PDF has six
//! pages for any month:
//!
//! 1. the summary for management: verdict, what happened, the five public counts with the
//!    change from last month, the top three recommendations;
//! 2. charts: alerts per day by severity, blocks per day, blocks by kind, alerts by engine,
//!    top sources and targets;
//! 3. incidents with their outcome;
//! 4. the website diagnosis: findings and their trend;
//! 5. training: a funnel per campaign and results per department;
//! 6. all recommendations, and the provider's notes.

use crate::chart::{self, HBar, Segment, BLOCK_COLOR, GOOD_COLOR};
use crate::data::{Counts, IncidentLine, ReportData, ScanFinding, ScanSection, TrainingSection};
use crate::i18n::{self, clip, count, number, percent, Lang};
use crate::recommend::{recommendations, Recommendation, Verdict, CLICK_RATE_LIMIT};
use mamori_core::Severity;
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// Rows shown at most per table; the rest are counted in a note under the table.
const MAX_INCIDENTS: usize = 12;
const MAX_FINDINGS: usize = 12;
const MAX_CAMPAIGNS: usize = 4;
const MAX_DEPARTMENTS: usize = 14;
const MAX_TOP: usize = 8;
const MAX_NOTES: usize = 5;
/// Recommendations on the summary page.
const SUMMARY_RECOMMENDATIONS: usize = 3;

/// Severities from the bottom of a stacked bar to its top.
const STACK_ORDER: [Severity; 5] = [
    Severity::Info,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// The whole report as an HTML document.
pub fn render_html(data: &ReportData, lang: Lang) -> String {
    let t = lang.text();
    let recs = recommendations(data, lang);
    let month = i18n::month(lang, data.month);
    let running = format!(
        "{} · {} {}",
        clip(&data.tenant_display, 50),
        month,
        t.report_title
    );
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (data.tenant_display) " — " (month) " " (t.report_title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                (summary_page(data, lang, &recs))
                (details_page(data, lang, &running))
                (incidents_page(data, lang, &running))
                (scan_page(data.scan.as_ref(), lang, &running))
                (training_page(data.training.as_ref(), lang, &running))
                (recommendations_page(data, lang, &recs, &running))
            }
        }
    }
    .into_string()
}

fn summary_page(data: &ReportData, lang: Lang, recs: &[Recommendation]) -> Markup {
    let t = lang.text();
    let verdict = Verdict::of(data);
    let c = &data.counts;
    let prev = data.previous.as_ref();
    html! {
        section.page #summary {
            header.cover {
                div.title-row {
                    h1 { (t.report_title) }
                    div.month { (i18n::month(lang, data.month)) }
                }
                div.for-whom { (addressee(lang, &clip(&data.tenant_display, 50))) }
                div.meta {
                    span { (t.generated) ": " (i18n::date_time(lang, data.generated_at)) }
                    @if let Some(p) = &data.provider {
                        span { (t.provided_by) ": " (clip(p, 50)) }
                    }
                }
            }
            h2 { (t.summary) }
            div class={"verdict " (verdict.class())} {
                p.headline { (verdict.headline(lang)) }
                p { (verdict_detail(lang, verdict, data)) }
            }
            h3 { (t.what_happened) }
            ul.happened {
                @for s in happened(lang, data) { li { (s) } }
            }
            h3 { (t.what_was_stopped) }
            div.cards {
                (card(lang, t.suspicious_access_blocked, c.suspicious_access_blocked, prev.map(|p| p.suspicious_access_blocked), None))
                (card(lang, t.malware_neutralized, c.malware_neutralized, prev.map(|p| p.malware_neutralized), None))
                (card(lang, t.c2_stopped, c.c2_stopped, prev.map(|p| p.c2_stopped), None))
                (card(lang, t.mails_held, c.mails_held, prev.map(|p| p.mails_held), Some(misdelivery_line(lang, c.misdelivery_prevented))))
                (card(lang, t.phishing_quarantined, c.phishing_quarantined, prev.map(|p| p.phishing_quarantined), None))
                (card(lang, t.login_attacks_blocked, c.login_attacks_blocked, prev.map(|p| p.login_attacks_blocked), Some(login_note(lang))))
            }
            h3 { (t.what_to_do_next) }
            ol.next {
                @for r in recs.iter().take(SUMMARY_RECOMMENDATIONS) {
                    li {
                        span class={"prio " (r.priority.class())} { (r.priority.label(lang)) }
                        " " strong { (r.title) }
                        div.why { (r.why) }
                    }
                }
            }
        }
    }
}

fn addressee(lang: Lang, name: &str) -> String {
    match lang {
        Lang::Ja => format!("{name} 御中"),
        Lang::En => format!("Prepared for {name}"),
    }
}

fn login_note(lang: Lang) -> String {
    match lang {
        Lang::Ja => "不審なアクセスの内数".to_string(),
        Lang::En => "included in suspicious accesses".to_string(),
    }
}

fn misdelivery_line(lang: Lang, n: u64) -> String {
    match lang {
        Lang::Ja => format!("うち誤送信を防止 {}", count(lang, n)),
        Lang::En => format!("misdeliveries prevented: {}", number(n)),
    }
}

fn card(lang: Lang, label: &str, now: u64, before: Option<u64>, extra: Option<String>) -> Markup {
    html! {
        div.card {
            div.label { (label) }
            div.big { (number(now)) span.unit { (lang.text().unit) } }
            @if let Some(e) = extra { div.extra { (e) } }
            div.change { (i18n::change(lang, now, before)) }
        }
    }
}

fn serious_open(data: &ReportData) -> u64 {
    data.incidents
        .iter()
        .filter(|i| i.severity >= Severity::High && i.state.is_open())
        .count() as u64
}

fn verdict_detail(lang: Lang, verdict: Verdict, data: &ReportData) -> String {
    let serious = data
        .incidents
        .iter()
        .filter(|i| i.severity >= Severity::High)
        .count() as u64;
    let open = serious_open(data);
    match (lang, verdict) {
        (Lang::Ja, Verdict::ActionNeeded) => format!(
            "月末時点で、重要度「高」以上の未解決のインシデントが{}あります。下の「次にすべきこと」をご確認ください。",
            count(lang, open)
        ),
        (Lang::Ja, Verdict::Handled) => format!(
            "重要度「高」以上のインシデントが{}ありましたが、いずれも対応を終えています。",
            count(lang, serious)
        ),
        (Lang::Ja, Verdict::Calm) => {
            "攻撃は自動的に防がれ、重要度「高」以上のインシデントはありませんでした。".to_string()
        }
        (Lang::En, Verdict::ActionNeeded) => format!(
            "{} of high or critical severity {} still open at the end of the month. Please read \"What to do next\" below.",
            i18n::en_plural(open, "incident", "incidents"),
            if open == 1 { "is" } else { "are" }
        ),
        (Lang::En, Verdict::Handled) => format!(
            "There {} {} of high or critical severity; all of them have been closed.",
            if serious == 1 { "was" } else { "were" },
            i18n::en_plural(serious, "incident", "incidents")
        ),
        (Lang::En, Verdict::Calm) => {
            "Attacks were stopped automatically and there were no high or critical incidents."
                .to_string()
        }
    }
}

/// "What happened" in a few plain sentences.
fn happened(lang: Lang, data: &ReportData) -> Vec<String> {
    let c = &data.counts;
    let month = i18n::month(lang, data.month);
    let serious = c.alerts_by_severity.serious();
    let still_open = data.incidents.iter().filter(|i| i.state.is_open()).count() as u64;
    let mut out = Vec::new();
    match lang {
        Lang::Ja => {
            out.push(format!(
                "{month}の検知は合計{}で、そのうち重要度「高」以上は{}でした。",
                count(lang, c.alerts_total),
                count(lang, serious)
            ));
            if c.incidents_opened == 0 {
                out.push("新たなインシデントはありませんでした。".to_string());
            } else {
                out.push(format!(
                    "インシデントは{}発生し、{}を解決しました。",
                    count(lang, c.incidents_opened),
                    count(lang, c.incidents_resolved)
                ));
            }
            if c.login_attacks_blocked > 0 {
                out.push(format!(
                    "ログイン画面への不正ログインの試みを{}遮断しました。",
                    count(lang, c.login_attacks_blocked)
                ));
            }
            if still_open > 0 {
                out.push(format!(
                    "月末時点で対応中のインシデントが{}あります。",
                    count(lang, still_open)
                ));
            }
        }
        Lang::En => {
            out.push(format!(
                "In {month} Mamori raised {}, {} of them high or critical.",
                i18n::en_plural(c.alerts_total, "alert", "alerts"),
                number(serious)
            ));
            if c.incidents_opened == 0 {
                out.push("No new incidents were opened.".to_string());
            } else {
                out.push(format!(
                    "{} opened and {} resolved.",
                    i18n::en_plural(c.incidents_opened, "incident was", "incidents were"),
                    number(c.incidents_resolved)
                ));
            }
            if c.login_attacks_blocked > 0 {
                out.push(format!(
                    "{} on login pages {} blocked.",
                    i18n::en_plural(c.login_attacks_blocked, "attack", "attacks"),
                    if c.login_attacks_blocked == 1 {
                        "was"
                    } else {
                        "were"
                    }
                ));
            }
            if still_open > 0 {
                out.push(format!(
                    "{} still being handled at the end of the month.",
                    i18n::en_plural(still_open, "incident is", "incidents are")
                ));
            }
        }
    }
    out
}

fn running_head(running: &str) -> Markup {
    html! { div.running { (running) } }
}

fn details_page(data: &ReportData, lang: Lang, running: &str) -> Markup {
    let t = lang.text();
    let days = usize::from(data.month.days());
    let mut alerts: Vec<Vec<Segment>> = (0..days).map(|_| Vec::new()).collect();
    let mut blocked: Vec<Vec<Segment>> = (0..days).map(|_| Vec::new()).collect();
    let mut totals = crate::data::BySeverity::default();
    for d in &data.daily {
        let Some(i) = usize::from(d.day).checked_sub(1).filter(|i| *i < days) else {
            tracing::warn!(day = d.day, month = %data.month, "daily count outside the month, left out of the chart");
            continue;
        };
        for s in STACK_ORDER {
            let v = d.alerts.get(s);
            totals.add(s, v);
            alerts[i].push(Segment {
                value: v,
                color: chart::severity_color(s),
                title: format!("{}: {} {}", d.day, i18n::severity(lang, s), number(v)),
            });
        }
        blocked[i].push(Segment {
            value: d.blocked,
            color: BLOCK_COLOR,
            title: format!("{}: {}", d.day, number(d.blocked)),
        });
    }
    let c = &data.counts;
    let kinds = [
        (t.suspicious_access_blocked, c.suspicious_access_blocked),
        (t.malware_neutralized, c.malware_neutralized),
        (t.c2_stopped, c.c2_stopped),
        (t.mails_held, c.mails_held),
        (t.phishing_quarantined, c.phishing_quarantined),
    ];
    let kind_bars: Vec<HBar> = kinds
        .iter()
        .map(|(label, v)| HBar {
            label: label.to_string(),
            value: *v,
            text: count(lang, *v),
            color: BLOCK_COLOR,
        })
        .collect();
    let engine_bars: Vec<HBar> = data
        .by_engine
        .iter()
        .map(|(e, v)| HBar {
            label: i18n::engine(lang, *e).to_string(),
            value: *v,
            text: count(lang, *v),
            color: "#5b6b82",
        })
        .collect();
    html! {
        section.page #details {
            (running_head(running))
            h2 { (t.details) }
            h3 { (t.daily_alerts) }
            (chart::day_bars(&alerts, 200.0, t.daily_alerts, t.day_axis))
            div.legend {
                @for s in STACK_ORDER.iter().rev() {
                    span {
                        i style={"background:" (chart::severity_color(*s))} {}
                        (i18n::severity(lang, *s)) " " (number(totals.get(*s)))
                    }
                }
            }
            h3 { (t.daily_blocked) }
            (chart::day_bars(&blocked, 120.0, t.daily_blocked, t.day_axis))
            div.cols {
                div {
                    h3 { (t.blocked_by_kind) }
                    (chart::hbars(&kind_bars, None, t.blocked_by_kind))
                }
                div {
                    h3 { (t.alerts_by_engine) }
                    @if engine_bars.is_empty() {
                        p.none { (t.no_data) }
                    } @else {
                        (chart::hbars(&engine_bars, None, t.alerts_by_engine))
                    }
                }
            }
            div.cols {
                div { h3 { (t.top_sources) } (top_table(lang, &data.top_sources)) }
                div { h3 { (t.top_targets) } (top_table(lang, &data.top_targets)) }
            }
        }
    }
}

fn top_table(lang: Lang, rows: &[(String, u64)]) -> Markup {
    let t = lang.text();
    html! {
        @if rows.is_empty() {
            p.none { (t.no_data) }
        } @else {
            table.compact {
                tbody {
                    @for (name, n) in rows.iter().take(MAX_TOP) {
                        tr { td.mono { (clip(name, 48)) } td.num { (count(lang, *n)) } }
                    }
                }
            }
        }
    }
}

fn incidents_page(data: &ReportData, lang: Lang, running: &str) -> Markup {
    let t = lang.text();
    let mut list: Vec<&IncidentLine> = data.incidents.iter().collect();
    // Open ones first, the worst first, then in the order they happened.
    list.sort_by(|a, b| {
        b.state
            .is_open()
            .cmp(&a.state.is_open())
            .then(b.severity.cmp(&a.severity))
            .then(a.opened_at.cmp(&b.opened_at))
    });
    let open = list.iter().filter(|i| i.state.is_open()).count() as u64;
    html! {
        section.page #incidents {
            (running_head(running))
            h2 { (t.incidents) }
            @if list.is_empty() {
                p.none { (t.no_incidents) }
            } @else {
                p { (incident_tally(lang, &data.counts, open)) }
                table.fixed {
                    colgroup {
                        col style="width:16mm"; col style="width:16mm"; col style="width:44mm";
                        col style="width:32mm"; col style="width:24mm"; col;
                    }
                    thead { tr {
                        th { (t.opened_at) } th { (t.severity) } th { (t.what) }
                        th { (t.asset) } th { (t.state) } th { (t.outcome) }
                    } }
                    tbody {
                        @for i in list.iter().take(MAX_INCIDENTS) {
                            tr {
                                td { (i18n::short_date_time(lang, i.opened_at)) }
                                td { (severity_badge(lang, i.severity)) }
                                td { (clip(&i.title, 40)) }
                                td.mono { (clip(i.asset.as_deref().unwrap_or("—"), 40)) }
                                td { (i18n::state(lang, i.state)) }
                                td { @if i.outcome.trim().is_empty() { "—" } @else { (clip(&i.outcome, 48)) } }
                            }
                        }
                    }
                }
                (more_note(lang, list.len(), MAX_INCIDENTS))
            }
        }
    }
}

fn incident_tally(lang: Lang, c: &Counts, open: u64) -> String {
    match lang {
        Lang::Ja => format!(
            "今月発生 {} ／ 今月解決 {} ／ 月末時点で対応中 {}",
            count(lang, c.incidents_opened),
            count(lang, c.incidents_resolved),
            count(lang, open)
        ),
        Lang::En => format!(
            "Opened this month: {} · resolved this month: {} · still open at month end: {}",
            number(c.incidents_opened),
            number(c.incidents_resolved),
            number(open)
        ),
    }
}

/// "N more in the console" under a cut table.
fn more_note(lang: Lang, total: usize, shown: usize) -> Markup {
    let more = total.saturating_sub(shown) as u64;
    html! {
        @if more > 0 {
            p.more {
                @match lang {
                    Lang::Ja => { "ほか" (count(lang, more)) "はコンソールでご確認ください。" }
                    Lang::En => { (number(more)) " more in the console." }
                }
            }
        }
    }
}

fn severity_badge(lang: Lang, s: Severity) -> Markup {
    html! { span class={"sev " (s.as_str())} { (i18n::severity(lang, s)) } }
}

fn scan_page(scan: Option<&ScanSection>, lang: Lang, running: &str) -> Markup {
    let t = lang.text();
    html! {
        section.page #website {
            (running_head(running))
            h2 { (t.website) }
            @match scan {
                None => { p.none { (t.not_scanned) } }
                Some(scan) => { (scan_body(scan, lang)) }
            }
        }
    }
}

fn scan_body(scan: &ScanSection, lang: Lang) -> Markup {
    let t = lang.text();
    let by = scan.open_by_severity();
    let mut findings: Vec<&ScanFinding> = scan.findings.iter().collect();
    findings.sort_by(|a, b| {
        b.status
            .is_open()
            .cmp(&a.status.is_open())
            .then(b.severity.cmp(&a.severity))
    });
    let trend: Vec<(String, u64)> = scan
        .trend
        .iter()
        .rev()
        .take(12)
        .rev()
        .map(|(label, v)| (i18n::month_label(lang, label), *v))
        .collect();
    html! {
        p {
            strong { (t.sites_scanned) ": " }
            @if scan.sites.is_empty() { "—" }
            @for (i, s) in scan.sites.iter().take(6).enumerate() {
                @if i > 0 { ", " }
                span.mono { (clip(s, 60)) }
            }
        }
        h3 { (t.open_findings_by_severity) }
        div.sevrow {
            @for s in Severity::ALL {
                span { (severity_badge(lang, s)) " " strong { (count(lang, by.get(s))) } }
            }
        }
        @if !trend.is_empty() {
            h3 { (t.findings_trend) }
            (chart::trend_line(&trend, t.findings_trend))
        }
        h3 { (t.findings) }
        @if findings.is_empty() {
            p.none { (t.no_findings) }
        } @else {
            table.fixed {
                colgroup {
                    col style="width:16mm"; col style="width:50mm"; col; col style="width:16mm"; col style="width:34mm";
                }
                thead { tr {
                    th { (t.severity) } th { (t.what) } th { (t.url) } th { (t.status) } th { (t.check_id) }
                } }
                tbody {
                    @for f in findings.iter().take(MAX_FINDINGS) {
                        tr class=[(!f.status.is_open()).then_some("fixed")] {
                            td { (severity_badge(lang, f.severity)) }
                            td { (clip(&f.title, 40)) }
                            td.url { (clip(&f.url, 80)) }
                            td { (i18n::finding_status(lang, f.status)) }
                            td.mono { (clip(&f.id, 32)) }
                        }
                    }
                }
            }
            (more_note(lang, findings.len(), MAX_FINDINGS))
        }
    }
}

fn training_page(training: Option<&TrainingSection>, lang: Lang, running: &str) -> Markup {
    let t = lang.text();
    html! {
        section.page #training {
            (running_head(running))
            h2 { (t.training) }
            @match training {
                None => { p.none { (t.not_trained) } }
                Some(tr) => { (training_body(tr, lang)) }
            }
        }
    }
}

fn training_body(training: &TrainingSection, lang: Lang) -> Markup {
    let t = lang.text();
    let (sent, clicked) = training.sent_and_clicked();
    html! {
        p { (training_tally(lang, training.campaigns.len() as u64, sent, clicked)) }
        h3 { (t.campaigns) }
        @if training.campaigns.is_empty() {
            p.none { (t.no_data) }
        }
        div.cols {
            @for c in training.campaigns.iter().take(MAX_CAMPAIGNS) {
                div.campaign {
                    h4 { (clip(&c.name, 40)) }
                    (chart::hbars(&funnel(lang, c.sent, c.opened, c.clicked, c.submitted, c.reported), Some(c.sent), &c.name))
                }
            }
        }
        (more_note(lang, training.campaigns.len(), MAX_CAMPAIGNS))
        h3 { (t.by_department) }
        @if training.departments.is_empty() {
            p.none { (t.no_data) }
        } @else {
            table {
                thead { tr {
                    th { (t.department) } th.num { (t.sent) } th.num { (t.open_rate) }
                    th.num { (t.click_rate) } th.num { (t.submit_rate) } th.num { (t.report_rate) }
                } }
                tbody {
                    @for d in training.departments.iter().take(MAX_DEPARTMENTS) {
                        @let high = d.sent > 0 && d.clicked as f64 / d.sent as f64 > CLICK_RATE_LIMIT;
                        tr {
                            td { (clip(&d.name, 30)) }
                            td.num { (number(d.sent)) }
                            td.num { (percent(d.opened, d.sent)) }
                            td.num.alarm[high] { (percent(d.clicked, d.sent)) }
                            td.num { (percent(d.submitted, d.sent)) }
                            td.num { (percent(d.reported, d.sent)) }
                        }
                    }
                }
            }
            (more_note(lang, training.departments.len(), MAX_DEPARTMENTS))
        }
    }
}

fn training_tally(lang: Lang, campaigns: u64, sent: u64, clicked: u64) -> String {
    match lang {
        Lang::Ja => format!(
            "訓練 {}回、訓練メール {}通を送信し、リンクのクリック率は {} でした（目安は10%以下）。",
            number(campaigns),
            number(sent),
            percent(clicked, sent)
        ),
        Lang::En => format!(
            "{} sent {}; {} of the recipients clicked the link (the target is 10% or less).",
            i18n::en_plural(campaigns, "campaign", "campaigns"),
            i18n::en_plural(sent, "training mail", "training mails"),
            percent(clicked, sent)
        ),
    }
}

fn funnel(
    lang: Lang,
    sent: u64,
    opened: u64,
    clicked: u64,
    submitted: u64,
    reported: u64,
) -> Vec<HBar> {
    let t = lang.text();
    let step = |label: &str, v: u64, color: &'static str| HBar {
        label: label.to_string(),
        value: v,
        text: format!("{} ({})", number(v), percent(v, sent)),
        color,
    };
    vec![
        step(t.sent, sent, "#5b6b82"),
        step(t.opened, opened, "#c99400"),
        step(t.clicked, clicked, "#e8590c"),
        step(t.submitted, submitted, "#b42318"),
        step(t.reported, reported, GOOD_COLOR),
    ]
}

fn recommendations_page(
    data: &ReportData,
    lang: Lang,
    recs: &[Recommendation],
    running: &str,
) -> Markup {
    let t = lang.text();
    html! {
        section.page #recommendations {
            (running_head(running))
            h2 { (t.recommendations) }
            @for (n, r) in recs.iter().enumerate() {
                div class={"rec " (r.priority.class())} {
                    h3 {
                        (n + 1) ". "
                        span class={"prio " (r.priority.class())} { (r.priority.label(lang)) }
                        " " (r.title)
                    }
                    dl {
                        dt { (t.why) } dd { (r.why) }
                        dt { (t.action) } dd { (r.action) }
                    }
                }
            }
            @if !data.notes.is_empty() {
                h3 { (t.notes) }
                ul.notes {
                    @for note in data.notes.iter().take(MAX_NOTES) { li { (clip(note, 120)) } }
                }
            }
            @if let Some(p) = &data.provider {
                p.contact { (contact(lang, &clip(p, 50))) }
            }
        }
    }
}

fn contact(lang: Lang, provider: &str) -> String {
    match lang {
        Lang::Ja => format!("このレポートについてのご質問は、{provider}までお問い合わせください。"),
        Lang::En => format!("For questions about this report, please contact {provider}."),
    }
}

/// A4 portrait; each section starts a page. Fonts: the Japanese fonts Debian ships
/// (Noto CJK, IPA), then those of Windows and macOS for viewing in a browser.
const CSS: &str = r#"
@page { size: A4; margin: 13mm 14mm 15mm 14mm;
  @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #5f6b7a; } }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: #1f2933; font-size: 9.5pt; line-height: 1.5;
  font-family: "Noto Sans CJK JP", "Noto Sans JP", "IPAexGothic", "IPAPGothic", "IPAGothic", "Hiragino Sans",
    "Yu Gothic", Meiryo, "DejaVu Sans", sans-serif; }
section.page { break-before: page; }
section.page:first-of-type { break-before: auto; }
.running { font-size: 7.5pt; color: #5f6b7a; border-bottom: 1px solid #d5dce5; margin-bottom: 4mm; padding-bottom: 1mm; }
h1 { font-size: 20pt; margin: 0; }
h2 { font-size: 14pt; margin: 0 0 3mm; padding-left: 3mm; border-left: 5px solid #1d5fa8; }
h3 { font-size: 10.5pt; margin: 4mm 0 1.5mm; }
h4 { font-size: 9.5pt; margin: 2mm 0 1mm; }
header.cover { border-bottom: 3px solid #1d5fa8; padding-bottom: 3mm; margin-bottom: 5mm; }
.title-row { display: flex; justify-content: space-between; align-items: baseline; }
.month { font-size: 16pt; font-weight: 700; color: #1d5fa8; }
.for-whom { font-size: 13pt; margin-top: 2mm; }
.meta { font-size: 8pt; color: #5f6b7a; display: flex; gap: 8mm; }
.verdict { border-left: 7px solid; border-radius: 4px; padding: 3mm 5mm; margin-bottom: 2mm; }
.verdict p { margin: 0; }
.verdict .headline { font-size: 15pt; font-weight: 700; }
.verdict.action { border-color: #b42318; background: #fdecea; }
.verdict.handled { border-color: #c99400; background: #fdf6e3; }
.verdict.calm { border-color: #2f7d4f; background: #eaf5ee; }
ul.happened { margin: 0; padding-left: 5mm; }
.cards { display: grid; grid-template-columns: repeat(3, 1fr); gap: 3mm; }
.card { border: 1px solid #d5dce5; border-radius: 5px; padding: 2.5mm 3.5mm; break-inside: avoid; }
.card .label { font-size: 8.5pt; font-weight: 700; color: #3e4c59; }
.card .big { font-size: 22pt; font-weight: 700; line-height: 1.2; color: #1d5fa8; }
.card .unit { font-size: 10pt; margin-left: 1mm; color: #3e4c59; }
.card .extra { font-size: 8.5pt; }
.card .change { font-size: 8pt; color: #5f6b7a; }
ol.next { margin: 0; padding-left: 5mm; }
ol.next li { margin-bottom: 2mm; break-inside: avoid; }
ol.next .why { font-size: 8.5pt; color: #3e4c59; }
.prio { display: inline-block; padding: 0 2mm; border-radius: 3px; color: #fff; font-size: 8pt; font-weight: 700; }
.prio.urgent { background: #b42318; } .prio.high { background: #e8590c; }
.prio.medium { background: #c99400; } .prio.low { background: #2f7d4f; }
.sev { display: inline-block; min-width: 9mm; text-align: center; padding: 0 1.5mm; border-radius: 3px; color: #fff; font-size: 7.5pt; white-space: nowrap; }
.sev.critical { background: #b42318; } .sev.high { background: #e8590c; } .sev.medium { background: #c99400; }
.sev.low { background: #2f7d4f; } .sev.info { background: #9aa5b1; }
.sevrow { display: flex; gap: 6mm; }
svg.chart { display: block; width: 100%; height: auto; }
svg.chart text { font-family: inherit; }
.legend { font-size: 8pt; display: flex; gap: 5mm; margin-top: 1mm; }
.legend i { display: inline-block; width: 3mm; height: 3mm; margin-right: 1mm; vertical-align: -0.3mm; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 8mm; }
table { width: 100%; border-collapse: collapse; font-size: 8.5pt; }
table.fixed { table-layout: fixed; }
td { overflow-wrap: anywhere; }
th { background: #eef2f7; text-align: left; font-weight: 700; }
th, td { border-bottom: 1px solid #e1e6ed; padding: 1.2mm 1.8mm; vertical-align: top; }
tr { break-inside: avoid; }
.num { text-align: right; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.mono { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 8pt; word-break: break-all; }
td.url { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 7.5pt; word-break: break-all; }
tr.fixed td { color: #7b8794; }
td.alarm { color: #b42318; font-weight: 700; }
table.compact td { padding: 0.8mm 1.5mm; }
p.none { color: #3e4c59; padding: 4mm; background: #f5f7fa; border-radius: 4px; }
p.more { font-size: 8pt; color: #5f6b7a; }
.rec { border: 1px solid #d5dce5; border-left-width: 5px; border-radius: 4px; padding: 0.5mm 3mm 1.5mm; margin-bottom: 2mm; break-inside: avoid; font-size: 8.5pt; line-height: 1.4; }
.rec.urgent { border-left-color: #b42318; } .rec.high { border-left-color: #e8590c; }
.rec.medium { border-left-color: #c99400; } .rec.low { border-left-color: #2f7d4f; }
.rec h3 { margin: 1mm 0; font-size: 9.5pt; }
.rec dl { margin: 0; display: grid; grid-template-columns: 16mm 1fr; row-gap: 0.5mm; }
.rec dt { font-weight: 700; color: #3e4c59; }
.rec dd { margin: 0; }
ul.notes { padding-left: 5mm; margin: 0; font-size: 8.5pt; }
p.contact { margin-top: 3mm; font-size: 8.5pt; color: #3e4c59; }
@media screen {
  body { background: #e9edf2; }
  section.page { background: #fff; width: 210mm; min-height: 297mm; margin: 6mm auto; padding: 13mm 14mm; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::*;
    use mamori_core::{Engine, IncidentState};
    use time::macros::datetime;

    fn empty_month() -> ReportData {
        ReportData {
            tenant: "t1".into(),
            tenant_display: "テスト株式会社".into(),
            month: Month::new(2026, 10).unwrap(),
            generated_at: datetime!(2026-11-01 09:00 +09:00),
            provider: None,
            counts: Counts::default(),
            previous: None,
            daily: vec![],
            by_engine: vec![],
            incidents: vec![],
            top_sources: vec![],
            top_targets: vec![],
            scan: None,
            training: None,
            notes: vec![],
        }
    }

    fn busy_month() -> ReportData {
        let mut d = empty_month();
        d.counts.suspicious_access_blocked = 181_536;
        d.counts.c2_stopped = 4_126;
        d.previous = Some(Counts::default());
        d.daily = vec![DailyCount {
            day: 3,
            alerts: BySeverity {
                high: 2,
                ..Default::default()
            },
            blocked: 40,
        }];
        d.by_engine = vec![(Engine::Ids, 12)];
        d.incidents = vec![IncidentLine {
            title: "<script>alert(1)</script>".into(),
            severity: Severity::High,
            state: IncidentState::New,
            opened_at: datetime!(2026-10-03 10:00 +09:00),
            asset: Some("\"><img src=x onerror=alert(2)>".into()),
            outcome: "<b>done</b> & dusted".into(),
        }];
        d.top_sources = vec![("<iframe>".into(), 3)];
        d.scan = Some(ScanSection {
            sites: vec!["https://example.jp/".into()],
            findings: vec![ScanFinding {
                id: "scan.exposed_git".into(),
                severity: Severity::High,
                title: "</td></tr></table><h1>x".into(),
                url: "https://example.jp/.git/".into(),
                status: FindingStatus::New,
            }],
            trend: vec![("2026-09".into(), 2), ("2026-10".into(), 1)],
        });
        d.training = Some(TrainingSection {
            campaigns: vec![CampaignResult {
                name: "<svg onload=alert(3)>".into(),
                sent: 10,
                opened: 5,
                clicked: 2,
                submitted: 1,
                reported: 1,
            }],
            departments: vec![DepartmentResult {
                name: "営業部".into(),
                sent: 10,
                clicked: 2,
                ..Default::default()
            }],
        });
        d.notes = vec!["<style>body{display:none}</style>".into()];
        d
    }

    #[test]
    fn hostile_strings_in_the_data_are_shown_as_text() {
        let html = render_html(&busy_month(), Lang::Ja);
        assert!(!html.contains("<script"), "script tag reached the page");
        assert!(!html.contains("<img"));
        assert!(!html.contains("<iframe"));
        assert!(!html.contains("<svg onload"));
        assert!(!html.contains("<h1>x"));
        assert!(!html.contains("<style>body"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;done&lt;/b&gt; &amp; dusted"));
    }

    #[test]
    fn the_page_is_self_contained() {
        let html = render_html(&busy_month(), Lang::En);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<svg"));
        assert!(html.contains("default-src 'none'"));
        for external in [
            "src=\"http",
            "href=\"http",
            "@import",
            "url(",
            "<link",
            "<script",
        ] {
            assert!(!html.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn both_languages_render_every_section() {
        for lang in [Lang::Ja, Lang::En] {
            let t = lang.text();
            let html = render_html(&busy_month(), lang);
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
            for id in [
                "summary",
                "details",
                "incidents",
                "website",
                "training",
                "recommendations",
            ] {
                assert!(
                    html.contains(&format!("id=\"{id}\"")),
                    "{lang}: section {id}"
                );
            }
            for heading in [
                t.summary,
                t.what_to_do_next,
                t.suspicious_access_blocked,
                t.malware_neutralized,
                t.c2_stopped,
                t.mails_held,
                t.phishing_quarantined,
                t.daily_alerts,
                t.incidents,
                t.website,
                t.findings_trend,
                t.training,
                t.by_department,
                t.recommendations,
                t.notes,
            ] {
                assert!(html.contains(heading), "{lang}: {heading}");
            }
            assert!(html.contains("181,536"));
            assert_eq!(html.matches("class=\"page\"").count(), 6);
        }
        let ja = render_html(&busy_month(), Lang::Ja);
        assert!(ja.contains("2026年10月") && ja.contains("テスト株式会社 御中"));
        assert!(ja.contains("対応が必要なインシデントがあります"));
        assert!(
            ja.contains("class=\"num alarm\""),
            "click rate over 10% not flagged"
        );
        let en = render_html(&busy_month(), Lang::En);
        assert!(en.contains("October 2026") && en.contains("Some incidents need your action"));
    }

    #[test]
    fn an_empty_month_says_none_in_each_section() {
        for lang in [Lang::Ja, Lang::En] {
            let t = lang.text();
            let html = render_html(&empty_month(), lang);
            for none in [t.no_incidents, t.not_scanned, t.not_trained, t.no_previous] {
                assert!(html.contains(none), "{lang}: {none}");
            }
            assert!(html.contains(Verdict::Calm.headline(lang)));
            let recs = recommendations(&empty_month(), lang);
            assert_eq!(recs.len(), 1);
            assert!(html.contains(&recs[0].title));
        }
        assert!(render_html(&empty_month(), Lang::Ja).contains("なし"));
    }

    #[test]
    fn days_outside_the_month_are_left_out_not_a_panic() {
        let mut d = empty_month();
        d.month = Month::new(2026, 2).unwrap();
        d.daily = vec![
            DailyCount {
                day: 0,
                ..Default::default()
            },
            DailyCount {
                day: 31,
                blocked: 5,
                ..Default::default()
            },
        ];
        let html = render_html(&d, Lang::En);
        assert!(html.contains(">28</text>") && !html.contains(">31</text>"));
    }
}
