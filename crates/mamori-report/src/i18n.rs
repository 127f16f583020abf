//! The report's words in Japanese (the default) and English, and how numbers and dates read.
//!
//! Fixed words are one struct with a field per phrase and one constant per language, so a
//! phrase missing in one language does not compile. Sentences that carry figures are small
//! functions with one arm per language, next to each other, so both are read and changed
//! together. The Japanese is the original: plain business Japanese for a company's
//! management, not a translation of the English.

use crate::data::{FindingStatus, Month};
use crate::error::ReportError;
use mamori_core::{Engine, IncidentState, Severity};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The report's language. Japanese unless asked otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The code used on the command line and in `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }
}

impl FromStr for Lang {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Lang, ReportError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ja" => Ok(Lang::Ja),
            "en" => Ok(Lang::En),
            _ => Err(ReportError::UnknownLanguage(s.to_string())),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

pub struct Text {
    pub report_title: &'static str,
    pub generated: &'static str,
    pub provided_by: &'static str,
    pub summary: &'static str,
    pub what_happened: &'static str,
    pub what_was_stopped: &'static str,
    pub what_to_do_next: &'static str,
    pub suspicious_access_blocked: &'static str,
    pub malware_neutralized: &'static str,
    pub c2_stopped: &'static str,
    pub mails_held: &'static str,
    pub phishing_quarantined: &'static str,
    pub login_attacks_blocked: &'static str,
    pub vs_last_month: &'static str,
    pub no_previous: &'static str,
    pub unit: &'static str,
    pub details: &'static str,
    pub daily_alerts: &'static str,
    pub daily_blocked: &'static str,
    pub blocked_by_kind: &'static str,
    pub alerts_by_engine: &'static str,
    pub top_sources: &'static str,
    pub top_targets: &'static str,
    pub count: &'static str,
    pub day_axis: &'static str,
    pub no_data: &'static str,
    pub incidents: &'static str,
    pub no_incidents: &'static str,
    pub opened_at: &'static str,
    pub severity: &'static str,
    pub what: &'static str,
    pub asset: &'static str,
    pub state: &'static str,
    pub outcome: &'static str,
    pub website: &'static str,
    pub not_scanned: &'static str,
    pub sites_scanned: &'static str,
    pub open_findings_by_severity: &'static str,
    pub findings_trend: &'static str,
    pub findings: &'static str,
    pub no_findings: &'static str,
    pub check_id: &'static str,
    pub url: &'static str,
    pub status: &'static str,
    pub training: &'static str,
    pub not_trained: &'static str,
    pub campaigns: &'static str,
    pub department: &'static str,
    pub sent: &'static str,
    pub opened: &'static str,
    pub clicked: &'static str,
    pub submitted: &'static str,
    pub reported: &'static str,
    pub open_rate: &'static str,
    pub click_rate: &'static str,
    pub submit_rate: &'static str,
    pub report_rate: &'static str,
    pub by_department: &'static str,
    pub recommendations: &'static str,
    pub why: &'static str,
    pub action: &'static str,
    pub notes: &'static str,
}

pub const JA: Text = Text {
    report_title: "月次セキュリティレポート",
    generated: "作成日時",
    provided_by: "提供",
    summary: "今月のまとめ",
    what_happened: "今月の出来事",
    what_was_stopped: "防いだ攻撃・事故",
    what_to_do_next: "次にすべきこと",
    suspicious_access_blocked: "不審なアクセスを遮断",
    malware_neutralized: "マルウェアを無害化",
    c2_stopped: "C2通信を遮断",
    mails_held: "保留したメール・誤送信を防止",
    phishing_quarantined: "フィッシングメールを隔離",
    login_attacks_blocked: "不正ログインの試みを遮断",
    vs_last_month: "前月比",
    no_previous: "前月のデータなし",
    unit: "件",
    details: "検知の推移と内訳",
    daily_alerts: "日別の検知件数（重要度別）",
    daily_blocked: "日別の遮断・防止件数",
    blocked_by_kind: "遮断・防止した件数（種類別）",
    alerts_by_engine: "機能別の検知件数",
    top_sources: "攻撃元の上位",
    top_targets: "狙われた対象の上位",
    count: "件数",
    day_axis: "日",
    no_data: "データはありません。",
    incidents: "インシデントと対応結果",
    no_incidents: "今月のインシデントはありませんでした（なし）。",
    opened_at: "発生日時",
    severity: "重要度",
    what: "内容",
    asset: "対象",
    state: "状態",
    outcome: "対応結果",
    website: "Webサイト診断",
    not_scanned: "今月はWebサイト診断を実施していません。",
    sites_scanned: "診断したサイト",
    open_findings_by_severity: "未対応の指摘（重要度別）",
    findings_trend: "未対応の指摘件数の推移",
    findings: "指摘事項",
    no_findings: "指摘事項はありませんでした。",
    check_id: "検査ID",
    url: "URL",
    status: "状況",
    training: "標的型メール訓練",
    not_trained: "今月は標的型メール訓練を実施していません。",
    campaigns: "訓練ごとの結果",
    department: "部署",
    sent: "送信",
    opened: "開封",
    clicked: "リンクをクリック",
    submitted: "情報を入力",
    reported: "不審メールとして報告",
    open_rate: "開封率",
    click_rate: "クリック率",
    submit_rate: "入力率",
    report_rate: "報告率",
    by_department: "部署別の結果",
    recommendations: "推奨する対策",
    why: "理由",
    action: "対応内容",
    notes: "備考",
};

pub const EN: Text = Text {
    report_title: "Monthly security report",
    generated: "Generated",
    provided_by: "Provided by",
    summary: "This month at a glance",
    what_happened: "What happened",
    what_was_stopped: "What was stopped",
    what_to_do_next: "What to do next",
    suspicious_access_blocked: "Suspicious accesses blocked",
    malware_neutralized: "Malware neutralized",
    c2_stopped: "C2 communications stopped",
    mails_held: "Mails held / misdeliveries prevented",
    phishing_quarantined: "Phishing mails quarantined",
    login_attacks_blocked: "Login attacks blocked",
    vs_last_month: "vs last month",
    no_previous: "no data for last month",
    unit: "",
    details: "Alerts and blocks in detail",
    daily_alerts: "Alerts per day by severity",
    daily_blocked: "Blocked or prevented per day",
    blocked_by_kind: "Blocked or prevented, by kind",
    alerts_by_engine: "Alerts by function",
    top_sources: "Top attack sources",
    top_targets: "Most targeted",
    count: "Count",
    day_axis: "Day",
    no_data: "No data.",
    incidents: "Incidents and outcomes",
    no_incidents: "There were no incidents this month (none).",
    opened_at: "Opened",
    severity: "Severity",
    what: "What happened",
    asset: "Affected",
    state: "State",
    outcome: "Outcome",
    website: "Website diagnosis",
    not_scanned: "The website was not scanned this month.",
    sites_scanned: "Sites scanned",
    open_findings_by_severity: "Open findings by severity",
    findings_trend: "Open findings over time",
    findings: "Findings",
    no_findings: "No findings.",
    check_id: "Check",
    url: "URL",
    status: "Status",
    training: "Phishing training",
    not_trained: "No phishing training was run this month.",
    campaigns: "Results per campaign",
    department: "Department",
    sent: "Sent",
    opened: "Opened",
    clicked: "Clicked the link",
    submitted: "Entered data",
    reported: "Reported as suspicious",
    open_rate: "Opened",
    click_rate: "Clicked",
    submit_rate: "Entered data",
    report_rate: "Reported",
    by_department: "Results by department",
    recommendations: "Recommended actions",
    why: "Why",
    action: "What to do",
    notes: "Notes",
};

pub fn severity(lang: Lang, s: Severity) -> &'static str {
    s.label(lang == Lang::Ja)
}

pub fn state(lang: Lang, s: IncidentState) -> &'static str {
    match (lang, s) {
        (Lang::Ja, IncidentState::New) => "未着手",
        (Lang::Ja, IncidentState::Investigating) => "調査中",
        (Lang::Ja, IncidentState::Contained) => "封じ込め済み",
        (Lang::Ja, IncidentState::Resolved) => "解決済み",
        (Lang::Ja, IncidentState::FalsePositive) => "誤検知",
        (Lang::En, IncidentState::New) => "Not started",
        (Lang::En, IncidentState::Investigating) => "Investigating",
        (Lang::En, IncidentState::Contained) => "Contained",
        (Lang::En, IncidentState::Resolved) => "Resolved",
        (Lang::En, IncidentState::FalsePositive) => "False positive",
    }
}

pub fn engine(lang: Lang, e: Engine) -> &'static str {
    match (lang, e) {
        (Lang::Ja, Engine::Ids) => "ネットワーク監視",
        (Lang::Ja, Engine::Waf) => "Webサイト防御",
        (Lang::Ja, Engine::Mail) => "メール",
        (Lang::Ja, Engine::Logs) => "ログ分析",
        (Lang::Ja, Engine::Scan) => "Webサイト診断",
        (Lang::Ja, Engine::Drill) => "メール訓練",
        (Lang::Ja, Engine::Console) => "コンソール",
        (Lang::En, Engine::Ids) => "Network (IDS)",
        (Lang::En, Engine::Waf) => "Website (WAF)",
        (Lang::En, Engine::Mail) => "Mail",
        (Lang::En, Engine::Logs) => "Logs",
        (Lang::En, Engine::Scan) => "Website scan",
        (Lang::En, Engine::Drill) => "Mail training",
        (Lang::En, Engine::Console) => "Console",
    }
}

pub fn finding_status(lang: Lang, s: FindingStatus) -> &'static str {
    match (lang, s) {
        (Lang::Ja, FindingStatus::New) => "新規",
        (Lang::Ja, FindingStatus::Open) => "未対応",
        (Lang::Ja, FindingStatus::Fixed) => "対応済み",
        (Lang::En, FindingStatus::New) => "New",
        (Lang::En, FindingStatus::Open) => "Open",
        (Lang::En, FindingStatus::Fixed) => "Fixed",
    }
}

/// `1234567` → `1,234,567` (Japanese business documents group the same way).
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let head = match digits.len() % 3 {
        0 => 3,
        short => short,
    };
    let (first, mut rest) = digits.split_at(head.min(digits.len()));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    out.push_str(first);
    while rest.len() >= 3 {
        let (group, tail) = rest.split_at(3);
        out.push(',');
        out.push_str(group);
        rest = tail;
    }
    out
}

/// A count with its unit: `1,234件` / `1,234`.
pub fn count(lang: Lang, n: u64) -> String {
    format!("{}{}", number(n), lang.text().unit)
}

/// `part` of `whole` as a percentage with one decimal; `-` when `whole` is zero.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn en_month(m: u8) -> &'static str {
    EN_MONTHS
        .get(usize::from(m).wrapping_sub(1))
        .copied()
        .unwrap_or("?")
}

/// `2026年10月` / `October 2026`.
pub fn month(lang: Lang, m: Month) -> String {
    match lang {
        Lang::Ja => format!("{}年{}月", m.year(), m.month()),
        Lang::En => format!("{} {}", en_month(m.month()), m.year()),
    }
}

/// A trend label as the caller gives it (`2026-05`) in the report's language when it is a
/// month, as given otherwise.
pub fn month_label(lang: Lang, label: &str) -> String {
    match label.parse::<Month>() {
        Ok(m) => match lang {
            Lang::Ja => format!("{}/{}", m.year() % 100, m.month()),
            Lang::En => format!("{} {}", &en_month(m.month())[..3], m.year() % 100),
        },
        Err(_) => label.to_string(),
    }
}

/// `2026年11月1日 09:00` / `1 November 2026 09:00`.
pub fn date_time(lang: Lang, t: OffsetDateTime) -> String {
    let m = u8::from(t.month());
    match lang {
        Lang::Ja => format!(
            "{}年{}月{}日 {:02}:{:02}",
            t.year(),
            m,
            t.day(),
            t.hour(),
            t.minute()
        ),
        Lang::En => format!(
            "{} {} {} {:02}:{:02}",
            t.day(),
            en_month(m),
            t.year(),
            t.hour(),
            t.minute()
        ),
    }
}

/// A short date and time for table cells: `10/3 14:05` / `3 Oct 14:05`.
pub fn short_date_time(lang: Lang, t: OffsetDateTime) -> String {
    let m = u8::from(t.month());
    match lang {
        Lang::Ja => format!("{}/{} {:02}:{:02}", m, t.day(), t.hour(), t.minute()),
        Lang::En => format!(
            "{} {} {:02}:{:02}",
            t.day(),
            &en_month(m)[..3],
            t.hour(),
            t.minute()
        ),
    }
}

/// `1 alert` / `3 alerts`; Japanese has no plural.
pub fn en_plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", number(n))
    }
}

/// The change from last month: `▲12 (+15.0%)`, `▼3`, `±0`.
pub fn change(lang: Lang, now: u64, before: Option<u64>) -> String {
    let t = lang.text();
    let Some(before) = before else {
        return t.no_previous.to_string();
    };
    let arrow = if now > before {
        format!("▲{}", number(now - before))
    } else if now < before {
        format!("▼{}", number(before - now))
    } else {
        "±0".to_string()
    };
    if before > 0 && now != before {
        let pct = (now as f64 - before as f64) * 100.0 / before as f64;
        format!("{} {arrow} ({pct:+.0}%)", t.vs_last_month)
    } else {
        format!("{} {arrow}", t.vs_last_month)
    }
}

/// Cuts `s` to at most `max` characters, ending with `…` when cut, so one long value cannot
/// push a table onto another page.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lang_parses_ja_and_en_and_rejects_others_clearly() {
        assert_eq!("ja".parse::<Lang>().unwrap(), Lang::Ja);
        assert_eq!("EN".parse::<Lang>().unwrap(), Lang::En);
        assert_eq!(Lang::default(), Lang::Ja);
        let err = "fr".parse::<Lang>().unwrap_err().to_string();
        assert!(err.contains("\"fr\"") && err.contains("ja or en"), "{err}");
        assert!("".parse::<Lang>().is_err());
        assert!("japanese".parse::<Lang>().is_err());
    }

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1000), "1,000");
        assert_eq!(number(181_536), "181,536");
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(count(Lang::Ja, 4126), "4,126件");
        assert_eq!(count(Lang::En, 4126), "4,126");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(3, 0), "-");
    }

    #[test]
    fn months_and_dates_read_naturally_in_each_language() {
        let m = Month::new(2026, 10).unwrap();
        assert_eq!(month(Lang::Ja, m), "2026年10月");
        assert_eq!(month(Lang::En, m), "October 2026");
        assert_eq!(month_label(Lang::Ja, "2026-05"), "26/5");
        assert_eq!(month_label(Lang::En, "2026-05"), "May 26");
        assert_eq!(month_label(Lang::En, "Q3"), "Q3");
        let t = datetime!(2026-11-01 09:05 +09:00);
        assert_eq!(date_time(Lang::Ja, t), "2026年11月1日 09:05");
        assert_eq!(date_time(Lang::En, t), "1 November 2026 09:05");
        assert_eq!(short_date_time(Lang::Ja, t), "11/1 09:05");
        assert_eq!(short_date_time(Lang::En, t), "1 Nov 09:05");
    }

    #[test]
    fn change_shows_direction_amount_and_missing_history() {
        assert_eq!(change(Lang::Ja, 120, Some(100)), "前月比 ▲20 (+20%)");
        assert_eq!(change(Lang::En, 90, Some(100)), "vs last month ▼10 (-10%)");
        assert_eq!(change(Lang::En, 5, Some(5)), "vs last month ±0");
        assert_eq!(change(Lang::En, 5, Some(0)), "vs last month ▲5");
        assert_eq!(change(Lang::Ja, 5, None), "前月のデータなし");
    }

    #[test]
    fn clip_cuts_on_characters_not_bytes() {
        assert_eq!(clip("あいうえお", 5), "あいうえお");
        assert_eq!(clip("あいうえおか", 5), "あいうえ…");
    }
}
