//! What the month's figures mean for the company: the headline verdict and the
//! recommended actions.
//!
//! Each rule looks at one part of [`ReportData`] and, when it fires, says in plain language
//! what to do, why (with the figure that made it fire) and how urgent it is. The thresholds
//! are constants here so that a reader can see where "many" begins. When no rule fires the
//! report still says something useful: keep going.

use crate::data::{ReportData, ScanFinding};
use crate::i18n::{clip, count, en_plural, number, percent, Lang};
use mamori_core::{IncidentState, Severity};
use serde::Serialize;

/// Blocked login attempts in a month from which enforcing MFA and lockout is recommended.
pub const LOGIN_ATTACKS_THRESHOLD: u64 = 100;
/// Share of training recipients clicking the link above which more training is recommended
/// (10 %, the figure commonly given as a target for staff training).
pub const CLICK_RATE_LIMIT: f64 = 0.10;
/// Phishing mails quarantined in a month from which sharing examples with staff is worth it.
pub const PHISHING_SHARE_THRESHOLD: u64 = 10;

/// How soon a recommendation should be acted on. Ordered: most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Urgent,
    High,
    Medium,
    Low,
}

impl Priority {
    pub fn label(self, lang: Lang) -> &'static str {
        match (lang, self) {
            (Lang::Ja, Priority::Urgent) => "至急",
            (Lang::Ja, Priority::High) => "優先度 高",
            (Lang::Ja, Priority::Medium) => "優先度 中",
            (Lang::Ja, Priority::Low) => "優先度 低",
            (Lang::En, Priority::Urgent) => "Urgent",
            (Lang::En, Priority::High) => "High priority",
            (Lang::En, Priority::Medium) => "Medium priority",
            (Lang::En, Priority::Low) => "Low priority",
        }
    }

    /// The CSS class the report colours it with.
    pub fn class(self) -> &'static str {
        match self {
            Priority::Urgent => "urgent",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }
}

/// One recommended action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// The rule's stable id (`rec.c2_isolate`), the same in both languages.
    pub id: &'static str,
    pub priority: Priority,
    pub title: String,
    /// Why, with the figure from this month's data.
    pub why: String,
    /// What to do, in steps a manager can hand on.
    pub action: String,
}

/// The month's recommendations, most urgent first; never empty.
pub fn recommendations(data: &ReportData, lang: Lang) -> Vec<Recommendation> {
    let rules: [fn(&ReportData, Lang) -> Option<Recommendation>; 8] = [
        open_incidents,
        c2_isolate,
        login_mfa,
        scan_fix,
        training_more,
        mail_recipients,
        phishing_share,
        malware_updates,
    ];
    let mut out: Vec<Recommendation> = rules.iter().filter_map(|rule| rule(data, lang)).collect();
    if out.is_empty() {
        out.push(keep_going(lang));
    }
    // Stable: equal priorities keep the rule order above.
    out.sort_by_key(|r| r.priority);
    out
}

/// The one-sentence answer to "are we all right?" at the top of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A high or critical incident is still open (new, investigating or only contained) at
    /// the end of the month.
    ActionNeeded,
    /// High or critical incidents happened and all are closed.
    Handled,
    /// Nothing high or critical.
    Calm,
}

impl Verdict {
    pub fn of(data: &ReportData) -> Verdict {
        let serious = data
            .incidents
            .iter()
            .filter(|i| i.severity >= Severity::High && i.state != IncidentState::FalsePositive);
        let mut any = false;
        for i in serious {
            if i.state.is_open() {
                return Verdict::ActionNeeded;
            }
            any = true;
        }
        if any {
            Verdict::Handled
        } else {
            Verdict::Calm
        }
    }

    pub fn headline(self, lang: Lang) -> &'static str {
        match (lang, self) {
            (Lang::Ja, Verdict::ActionNeeded) => "対応が必要なインシデントがあります",
            (Lang::Ja, Verdict::Handled) => "重大な脅威を検知しましたが、すべて対処済みです",
            (Lang::Ja, Verdict::Calm) => "重大な被害は確認されませんでした",
            (Lang::En, Verdict::ActionNeeded) => "Some incidents need your action",
            (Lang::En, Verdict::Handled) => {
                "Serious threats were detected, and all have been dealt with"
            }
            (Lang::En, Verdict::Calm) => "No serious damage was found",
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Verdict::ActionNeeded => "action",
            Verdict::Handled => "handled",
            Verdict::Calm => "calm",
        }
    }
}

fn open_incidents(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let open: Vec<_> = data
        .incidents
        .iter()
        .filter(|i| i.severity >= Severity::High && i.state.is_open())
        .collect();
    let first = open.first()?;
    let n = open.len() as u64;
    let title = clip(&first.title, 40);
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.open_incidents",
            priority: Priority::Urgent,
            title: "未解決のインシデントに対応してください".into(),
            why: format!(
                "重要度「高」以上のインシデントが{}、月末時点でまだ解決していません（例:「{title}」）。",
                count(lang, n)
            ),
            action: "インシデントごとに社内の担当者を決め、対応が終わるまで状況を確認してください。判断に迷う場合は、サービス提供事業者にご相談ください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.open_incidents",
            priority: Priority::Urgent,
            title: "Deal with the open incidents".into(),
            why: format!(
                "{} of high or critical severity {} still open at the end of the month (for example \"{title}\").",
                en_plural(n, "incident", "incidents"),
                if n == 1 { "is" } else { "are" }
            ),
            action: "Name a person in charge for each incident and follow it until it is closed. If you are unsure what to do, ask your service provider.".into(),
        },
    })
}

fn c2_isolate(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let n = data.counts.c2_stopped;
    if n == 0 {
        return None;
    }
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.c2_isolate",
            priority: Priority::Urgent,
            title: "ウイルスに感染した可能性のあるPCを隔離・駆除してください".into(),
            why: format!(
                "社内のPCから攻撃者のサーバー（C2サーバー）への通信を{}遮断しました。そのPCは攻撃者に操られている可能性があります。",
                count(lang, n)
            ),
            action: "該当するPCをネットワークから外し、ウイルス対策ソフトで全体を検査してください。駆除できない場合は初期化し、そのPCで使っていたパスワードをすべて変更してください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.c2_isolate",
            priority: Priority::Urgent,
            title: "Isolate and clean the infected PC".into(),
            why: format!(
                "Mamori stopped {} from a company PC to an attacker's command server (C2). The PC may be under the attacker's control.",
                en_plural(n, "connection", "connections")
            ),
            action: "Unplug the PC from the network and run a full antivirus scan. If it cannot be cleaned, reinstall it, and change every password that was used on it.".into(),
        },
    })
}

fn login_mfa(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let n = data.counts.login_attacks_blocked;
    if n < LOGIN_ATTACKS_THRESHOLD {
        return None;
    }
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.login_mfa",
            priority: Priority::High,
            title: "ログインに多要素認証とアカウントロックを設定してください".into(),
            why: format!(
                "ログイン画面を狙ったパスワードの総当たりや不正ログインの試みを{}遮断しました。",
                count(lang, n)
            ),
            action: "管理画面や社外から使うサービスで多要素認証（MFA）を有効にし、一定回数失敗したらロックする設定にしてください。他のサービスと同じパスワードを使っている場合は変更してください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.login_mfa",
            priority: Priority::High,
            title: "Turn on multi-factor login and account lockout".into(),
            why: format!(
                "Mamori blocked {} to guess passwords or log in with stolen ones.",
                en_plural(n, "attempt", "attempts")
            ),
            action: "Enable multi-factor authentication (MFA) on admin pages and on services used from outside the office, lock accounts after repeated failures, and change any password that is also used elsewhere.".into(),
        },
    })
}

fn scan_fix(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let scan = data.scan.as_ref()?;
    let mut open: Vec<&ScanFinding> = scan
        .findings
        .iter()
        .filter(|f| f.status.is_open() && f.severity >= Severity::Medium)
        .collect();
    if open.is_empty() {
        return None;
    }
    open.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let n = open.len() as u64;
    let serious = open.iter().filter(|f| f.severity >= Severity::High).count() as u64;
    let sep = if lang == Lang::Ja { "、" } else { "; " };
    let worst = open
        .iter()
        .take(3)
        .map(|f| clip(&f.title, 40))
        .collect::<Vec<_>>()
        .join(sep);
    let priority = if serious > 0 {
        Priority::High
    } else {
        Priority::Medium
    };
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.scan_fix",
            priority,
            title: "Webサイト診断の指摘事項を修正してください".into(),
            why: format!(
                "Webサイト診断で、重要度「中」以上の未対応の指摘が{}あります（うち「高」以上が{}）。",
                count(lang, n),
                count(lang, serious)
            ),
            action: format!(
                "このレポートの指摘一覧をWebサイトの制作・保守会社に渡し、重要度の高いものから修正を依頼してください。まず対応すべきもの: {worst}"
            ),
        },
        Lang::En => Recommendation {
            id: "rec.scan_fix",
            priority,
            title: "Fix the issues found on the website".into(),
            why: format!(
                "The website diagnosis found {} of medium or higher severity that {} not fixed ({} high or critical).",
                en_plural(n, "issue", "issues"),
                if n == 1 { "is" } else { "are" },
                number(serious)
            ),
            action: format!(
                "Give the list in this report to the company that builds or maintains your website and ask for fixes, most serious first. Start with: {worst}"
            ),
        },
    })
}

fn training_more(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let training = data.training.as_ref()?;
    let (sent, clicked) = training.sent_and_clicked();
    if sent == 0 || (clicked as f64 / sent as f64) <= CLICK_RATE_LIMIT {
        return None;
    }
    let rate = percent(clicked, sent);
    let worst = training
        .departments
        .iter()
        .filter(|d| d.sent > 0)
        .max_by(|a, b| {
            let ra = a.clicked as f64 / a.sent as f64;
            let rb = b.clicked as f64 / b.sent as f64;
            ra.total_cmp(&rb)
        });
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.training_more",
            priority: Priority::Medium,
            title: "標的型メール訓練と社内研修を追加で行ってください".into(),
            why: match worst {
                Some(d) => format!(
                    "訓練メールのリンクをクリックした人の割合は{rate}でした（目安は10%以下）。最も高かったのは{}で{}です。",
                    clip(&d.name, 30),
                    percent(d.clicked, d.sent)
                ),
                None => format!(
                    "訓練メールのリンクをクリックした人の割合は{rate}でした（目安は10%以下）。"
                ),
            },
            action: "クリックの多かった部署を中心に短い研修を行い、来月もう一度訓練してください。不審なメールを受け取ったときの報告先も改めて周知しましょう。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.training_more",
            priority: Priority::Medium,
            title: "Run more phishing training".into(),
            why: match worst {
                Some(d) => format!(
                    "{rate} of the recipients clicked the link in the training mail (the target is 10% or less). The highest was {} at {}.",
                    clip(&d.name, 30),
                    percent(d.clicked, d.sent)
                ),
                None => format!(
                    "{rate} of the recipients clicked the link in the training mail (the target is 10% or less)."
                ),
            },
            action: "Hold a short session for the departments that clicked most and run another test next month. Remind everyone whom to tell when a suspicious mail arrives.".into(),
        },
    })
}

fn mail_recipients(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let n = data.counts.misdelivery_prevented;
    if n == 0 {
        return None;
    }
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.mail_recipients",
            priority: Priority::Medium,
            title: "メール送信前の宛先確認を社内に呼びかけてください".into(),
            why: format!(
                "宛先の誤りや個人情報を含むメールを送信前に保留し、{}の誤送信を防ぎました。",
                count(lang, n)
            ),
            action: "送信前に宛先と添付ファイルを確認するよう、朝礼や社内連絡で呼びかけてください。社外の複数の相手に一斉に送るときはBCCを使いましょう。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.mail_recipients",
            priority: Priority::Medium,
            title: "Remind staff to check recipients before sending".into(),
            why: format!(
                "Mamori held outgoing mail with a wrong recipient or personal data and prevented {}.",
                en_plural(n, "misdelivery", "misdeliveries")
            ),
            action: "Remind staff to check the recipients and attachments before sending, and to use Bcc when writing to several outside addresses at once.".into(),
        },
    })
}

fn phishing_share(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let n = data.counts.phishing_quarantined;
    if n < PHISHING_SHARE_THRESHOLD {
        return None;
    }
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.phishing_share",
            priority: Priority::Low,
            title: "届いたフィッシングメールの手口を社内で共有してください".into(),
            why: format!(
                "フィッシングメールを{}隔離しました。同じ手口のメールが今後も届くおそれがあります。",
                count(lang, n)
            ),
            action: "隔離したメールの件名や差出人の例を社内で共有し、リンクや添付ファイルを開く前に差出人を確かめるよう伝えてください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.phishing_share",
            priority: Priority::Low,
            title: "Show staff the phishing mails that arrived".into(),
            why: format!(
                "Mamori quarantined {}. More mails of the same kind are likely to follow.",
                en_plural(n, "phishing mail", "phishing mails")
            ),
            action: "Share examples of the quarantined mails (subject and sender) with staff, and ask them to check the sender before opening links or attachments.".into(),
        },
    })
}

fn malware_updates(data: &ReportData, lang: Lang) -> Option<Recommendation> {
    let n = data.counts.malware_neutralized;
    if n == 0 {
        return None;
    }
    Some(match lang {
        Lang::Ja => Recommendation {
            id: "rec.malware_updates",
            priority: Priority::Low,
            title: "PCとソフトウェアを最新の状態に保ってください".into(),
            why: format!(
                "マルウェア（ウイルス）を{}無害化しました。社内に届く前に止めていますが、狙われていることに変わりはありません。",
                count(lang, n)
            ),
            action: "Windows Updateやウイルス対策ソフトの更新が止まっているPCがないか確認し、古いソフトウェアは更新または削除してください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.malware_updates",
            priority: Priority::Low,
            title: "Keep PCs and software up to date".into(),
            why: format!(
                "Mamori neutralized {}. It was stopped before reaching anyone, but the company is being targeted.",
                en_plural(n, "piece of malware", "pieces of malware")
            ),
            action: "Check that Windows Update and the antivirus updates run on every PC, and update or remove old software.".into(),
        },
    })
}

fn keep_going(lang: Lang) -> Recommendation {
    match lang {
        Lang::Ja => Recommendation {
            id: "rec.keep_going",
            priority: Priority::Low,
            title: "現在の対策を続けてください".into(),
            why: "今月は、特に対応が必要な事象はありませんでした。".into(),
            action: "引き続き、OSやソフトウェアの更新と、データのバックアップを定期的に行ってください。".into(),
        },
        Lang::En => Recommendation {
            id: "rec.keep_going",
            priority: Priority::Low,
            title: "Keep up the current measures".into(),
            why: "Nothing this month needed your action.".into(),
            action: "Keep installing updates for Windows and your software, and keep taking regular backups.".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::*;
    use time::macros::datetime;

    fn quiet() -> ReportData {
        ReportData {
            tenant: "t".into(),
            tenant_display: "T".into(),
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

    fn ids(data: &ReportData) -> Vec<&'static str> {
        recommendations(data, Lang::Ja)
            .iter()
            .map(|r| r.id)
            .collect()
    }

    fn incident(severity: Severity, state: IncidentState) -> IncidentLine {
        IncidentLine {
            title: "C2 beacon from PC-12".into(),
            severity,
            state,
            opened_at: datetime!(2026-10-03 10:00 +09:00),
            asset: Some("PC-12".into()),
            outcome: String::new(),
        }
    }

    fn finding(severity: Severity, status: FindingStatus) -> ScanFinding {
        ScanFinding {
            id: "scan.exposed_git".into(),
            severity,
            title: ".git directory is public".into(),
            url: "https://example.jp/.git/".into(),
            status,
        }
    }

    fn campaign(sent: u64, clicked: u64) -> TrainingSection {
        TrainingSection {
            campaigns: vec![CampaignResult {
                name: "Invoice".into(),
                sent,
                opened: sent / 2,
                clicked,
                submitted: 0,
                reported: 1,
            }],
            departments: vec![DepartmentResult {
                name: "営業部".into(),
                sent,
                clicked,
                ..Default::default()
            }],
        }
    }

    #[test]
    fn a_quiet_month_says_keep_going_and_nothing_else() {
        let d = quiet();
        assert_eq!(ids(&d), ["rec.keep_going"]);
        assert_eq!(Verdict::of(&d), Verdict::Calm);
    }

    #[test]
    fn open_serious_incidents_come_first_and_closed_or_minor_ones_do_not_count() {
        let mut d = quiet();
        d.incidents = vec![incident(Severity::High, IncidentState::Investigating)];
        d.counts.phishing_quarantined = 50;
        assert_eq!(ids(&d), ["rec.open_incidents", "rec.phishing_share"]);
        assert_eq!(Verdict::of(&d), Verdict::ActionNeeded);
        let r = &recommendations(&d, Lang::En)[0];
        assert!(
            r.why.contains("1 incident of high") && r.why.contains(" is "),
            "{}",
            r.why
        );

        d.counts.phishing_quarantined = 0;
        d.incidents = vec![
            incident(Severity::Medium, IncidentState::New),
            incident(Severity::Critical, IncidentState::Resolved),
        ];
        assert_eq!(ids(&d), ["rec.keep_going"]);
        assert_eq!(Verdict::of(&d), Verdict::Handled);

        d.incidents = vec![incident(Severity::Critical, IncidentState::Contained)];
        assert_eq!(ids(&d), ["rec.open_incidents"]);
    }

    #[test]
    fn stopped_c2_traffic_asks_to_isolate_the_pc() {
        let mut d = quiet();
        d.counts.c2_stopped = 4126;
        let recs = recommendations(&d, Lang::Ja);
        assert_eq!(recs[0].id, "rec.c2_isolate");
        assert_eq!(recs[0].priority, Priority::Urgent);
        assert!(recs[0].why.contains("4,126件"), "{}", recs[0].why);
    }

    #[test]
    fn many_blocked_logins_ask_for_mfa_from_the_threshold_on() {
        let mut d = quiet();
        d.counts.login_attacks_blocked = LOGIN_ATTACKS_THRESHOLD - 1;
        assert_eq!(ids(&d), ["rec.keep_going"]);
        d.counts.login_attacks_blocked = 30_000;
        assert_eq!(ids(&d), ["rec.login_mfa"]);
        let r = &recommendations(&d, Lang::En)[0];
        assert!(r.why.contains("30,000 attempts"), "{}", r.why);
        assert!(r.action.contains("MFA"));
    }

    #[test]
    fn open_medium_or_worse_findings_ask_for_fixes_and_fixed_or_low_ones_do_not() {
        let mut d = quiet();
        d.scan = Some(ScanSection {
            sites: vec!["https://example.jp/".into()],
            findings: vec![
                finding(Severity::High, FindingStatus::Fixed),
                finding(Severity::Low, FindingStatus::Open),
            ],
            trend: vec![],
        });
        assert_eq!(ids(&d), ["rec.keep_going"]);
        if let Some(s) = d.scan.as_mut() {
            s.findings
                .push(finding(Severity::Medium, FindingStatus::New));
        }
        let recs = recommendations(&d, Lang::Ja);
        assert_eq!(recs[0].id, "rec.scan_fix");
        assert_eq!(recs[0].priority, Priority::Medium);
        if let Some(s) = d.scan.as_mut() {
            s.findings
                .push(finding(Severity::Critical, FindingStatus::Open));
        }
        let recs = recommendations(&d, Lang::En);
        assert_eq!(recs[0].priority, Priority::High);
        assert!(
            recs[0].why.contains("2 issues") && recs[0].why.contains("1 high"),
            "{}",
            recs[0].why
        );
        assert!(recs[0].action.contains(".git directory is public"));
    }

    #[test]
    fn click_rate_above_ten_percent_asks_for_training_and_exactly_ten_does_not() {
        let mut d = quiet();
        d.training = Some(campaign(50, 5));
        assert_eq!(ids(&d), ["rec.keep_going"]);
        d.training = Some(campaign(50, 6));
        let recs = recommendations(&d, Lang::Ja);
        assert_eq!(recs[0].id, "rec.training_more");
        assert!(
            recs[0].why.contains("12.0%") && recs[0].why.contains("営業部"),
            "{}",
            recs[0].why
        );
        d.training = Some(campaign(0, 0));
        assert_eq!(ids(&d), ["rec.keep_going"]);
    }

    #[test]
    fn prevented_misdeliveries_ask_for_recipient_checks_but_held_alone_does_not() {
        let mut d = quiet();
        d.counts.mails_held = 12;
        assert_eq!(ids(&d), ["rec.keep_going"]);
        d.counts.misdelivery_prevented = 3;
        assert_eq!(ids(&d), ["rec.mail_recipients"]);
        assert!(recommendations(&d, Lang::En)[0]
            .why
            .contains("3 misdeliveries"));
    }

    #[test]
    fn phishing_and_malware_rules_fire_on_their_counts() {
        let mut d = quiet();
        d.counts.phishing_quarantined = PHISHING_SHARE_THRESHOLD - 1;
        assert_eq!(ids(&d), ["rec.keep_going"]);
        d.counts.phishing_quarantined = PHISHING_SHARE_THRESHOLD;
        d.counts.malware_neutralized = 1;
        assert_eq!(ids(&d), ["rec.phishing_share", "rec.malware_updates"]);
        assert!(recommendations(&d, Lang::En)[1]
            .why
            .contains("1 piece of malware"));
    }

    #[test]
    fn recommendations_sort_by_priority_and_exist_in_both_languages() {
        let mut d = quiet();
        d.counts.malware_neutralized = 2;
        d.counts.misdelivery_prevented = 1;
        d.counts.c2_stopped = 10;
        d.counts.login_attacks_blocked = 500;
        let ja = recommendations(&d, Lang::Ja);
        let en = recommendations(&d, Lang::En);
        let ja_ids: Vec<_> = ja.iter().map(|r| r.id).collect();
        let en_ids: Vec<_> = en.iter().map(|r| r.id).collect();
        assert_eq!(ja_ids, en_ids);
        assert_eq!(
            ja_ids,
            [
                "rec.c2_isolate",
                "rec.login_mfa",
                "rec.mail_recipients",
                "rec.malware_updates"
            ]
        );
        assert!(ja.windows(2).all(|w| w[0].priority <= w[1].priority));
    }
}
