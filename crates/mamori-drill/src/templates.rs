//! The built-in training mails: six attacks Japanese offices actually receive, each in
//! Japanese (`*-ja`) and English (`*-en`).
//!
//! A template carries its subject, sender, text and HTML bodies with placeholders
//! (`{{name}}`, `{{email}}`, `{{department}}`, `{{link}}`), whether it leads to a landing
//! form or carries a tracked attachment, and the signs a careful reader would have noticed:
//! the education page lists exactly those.

use serde::Serialize;

/// The language of a template and of the pages shown after a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Ja,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Language> {
        match s {
            "ja" => Some(Language::Ja),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

/// A document attached to the mail; opening it loads `{base}/t/a/{token}`.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub filename: String,
    /// The heading shown inside the document.
    pub title: String,
}

/// One training mail.
#[derive(Debug, Clone, Serialize)]
pub struct Template {
    /// Stable id, `{kind}-{language}`, e.g. `invoice-ja`.
    pub id: String,
    pub language: Language,
    /// What the console shows in lists.
    pub title: String,
    pub subject: String,
    /// The display name of the sender (a campaign may override it).
    pub sender_name: String,
    pub text: String,
    pub html: String,
    pub attachment: Option<Attachment>,
    /// A click leads to a fake login form before the education page.
    pub landing: bool,
    /// Encode headers as ISO-2022-JP instead of UTF-8 (older Japanese mailers).
    pub iso_2022_jp: bool,
    /// The signs of an attack in this mail, shown on the education page.
    pub signs: Vec<String>,
}

/// The built-in templates, Japanese first then English for each kind.
pub fn builtin() -> Vec<Template> {
    let mut all = Vec::new();
    for (kind, ja, en) in KINDS {
        all.push(ja.build(kind, Language::Ja));
        all.push(en.build(kind, Language::En));
    }
    all
}

/// The built-in template with this id.
pub fn find(id: &str) -> Option<Template> {
    builtin().into_iter().find(|t| t.id == id)
}

struct Source {
    title: &'static str,
    subject: &'static str,
    sender: &'static str,
    /// Paragraphs; the line `{{link}}` becomes the link (a button in HTML).
    body: &'static [&'static str],
    link_label: &'static str,
    attachment: Option<(&'static str, &'static str)>,
    landing: bool,
    iso_2022_jp: bool,
    signs: &'static [&'static str],
}

impl Source {
    fn build(&self, kind: &str, language: Language) -> Template {
        let mut text = String::new();
        let mut html = String::from(
            "<!DOCTYPE html><html><body style=\"font-family:sans-serif;font-size:14px\">\n",
        );
        for paragraph in self.body {
            if *paragraph == "{{link}}" {
                text.push_str("{{link}}\n\n");
                html.push_str(&format!(
                    "<p><a href=\"{{{{link}}}}\" style=\"background:#1a73e8;color:#fff;\
                     padding:8px 16px;text-decoration:none\">{}</a></p>\n",
                    self.link_label
                ));
            } else {
                text.push_str(paragraph);
                text.push_str("\n\n");
                html.push_str("<p>");
                html.push_str(&crate::pages::escape(paragraph).replace('\n', "<br>"));
                html.push_str("</p>\n");
            }
        }
        html.push_str("</body></html>\n");
        Template {
            id: format!("{kind}-{}", language.as_str()),
            language,
            title: self.title.into(),
            subject: self.subject.into(),
            sender_name: self.sender.into(),
            text,
            html,
            attachment: self.attachment.map(|(filename, title)| Attachment {
                filename: filename.into(),
                title: title.into(),
            }),
            landing: self.landing,
            iso_2022_jp: self.iso_2022_jp,
            signs: self.signs.iter().map(|s| s.to_string()).collect(),
        }
    }
}

const KINDS: &[(&str, Source, Source)] = &[
    (
        "invoice",
        Source {
            title: "請求書の送付（添付ファイル）",
            subject: "【ご確認】請求書送付のご案内（お支払期限：今月末）",
            sender: "経理部 請求書発行センター",
            body: &[
                "{{name}} 様",
                "いつもお世話になっております。\n今月分のご請求書を添付にてお送りいたします。",
                "お支払期限が迫っておりますため、お手数ですが内容をご確認のうえ、\n期日までにお手続きをお願いいたします。",
                "オンラインでの確認はこちら：",
                "{{link}}",
                "ご不明な点がございましたら、本メールにご返信ください。\n何卒よろしくお願い申し上げます。",
            ],
            link_label: "請求書を確認する",
            attachment: Some(("請求書_今月分.html", "ご請求書")),
            landing: false,
            iso_2022_jp: true,
            signs: &[
                "取引のない相手から、心当たりのない請求書が届いている",
                "「期限が迫っている」と急がせ、確認の時間を与えない",
                "送信者の表示名は経理部でも、メールアドレスは社外のもの",
                "添付ファイルやリンクを開かせようとしている（本物の請求書は取引先の担当者名で届くことが多い）",
            ],
        },
        Source {
            title: "Invoice (attachment)",
            subject: "Invoice attached - payment due by end of month",
            sender: "Accounts Receivable",
            body: &[
                "Dear {{name}},",
                "Please find attached this month's invoice.",
                "As the payment deadline is approaching, kindly review it and complete payment by the due date.",
                "You can also view the invoice online:",
                "{{link}}",
                "If you have any questions, simply reply to this email.\nBest regards,",
            ],
            link_label: "View invoice",
            attachment: Some(("Invoice.html", "Invoice")),
            landing: false,
            iso_2022_jp: false,
            signs: &[
                "An invoice you did not expect, from a sender you do not deal with",
                "Pressure to act quickly before a deadline",
                "The display name looks internal but the address is external",
                "It pushes you to open an attachment or a link",
            ],
        },
    ),
    (
        "parcel",
        Source {
            title: "宅配便の不在通知",
            subject: "【不在通知】お荷物のお届けにあがりましたが、ご不在でした",
            sender: "配送センター",
            body: &[
                "{{name}} 様",
                "お荷物をお届けにあがりましたが、ご不在のため持ち帰りました。",
                "保管期限は3日間です。期限を過ぎるとお荷物は差出人へ返送されます。\n下記より再配達のお手続きをお願いいたします。",
                "{{link}}",
                "※本メールは送信専用です。",
            ],
            link_label: "再配達を依頼する",
            attachment: None,
            landing: false,
            iso_2022_jp: false,
            signs: &[
                "会社のメールアドレスに個人の荷物の不在通知が届いている",
                "伝票番号や送り主が書かれていない",
                "「保管期限」「返送」で急がせている",
                "リンク先が運送会社の正規ドメインではない",
            ],
        },
        Source {
            title: "Parcel delivery failure",
            subject: "Delivery attempt failed - action required",
            sender: "Parcel Delivery Service",
            body: &[
                "Dear {{name}},",
                "We attempted to deliver your parcel today but nobody was available to receive it.",
                "Your parcel will be held for 3 days and then returned to the sender.\nPlease reschedule the delivery below.",
                "{{link}}",
                "This is an automated message; please do not reply.",
            ],
            link_label: "Reschedule delivery",
            attachment: None,
            landing: false,
            iso_2022_jp: false,
            signs: &[
                "A personal delivery notice sent to your work address",
                "No tracking number or sender is given",
                "A short deadline before the parcel is \"returned\"",
                "The link does not go to the carrier's real domain",
            ],
        },
    ),
    (
        "password",
        Source {
            title: "パスワード有効期限切れ",
            subject: "【重要】パスワードの有効期限が本日切れます",
            sender: "情報システム部",
            body: &[
                "{{name}} 様（{{email}}）",
                "ご利用中のアカウントのパスワードの有効期限が本日で切れます。",
                "引き続きメールをご利用いただくには、24時間以内に下記からパスワードを更新してください。\n更新されない場合、アカウントは一時的に停止されます。",
                "{{link}}",
                "情報システム部 ヘルプデスク",
            ],
            link_label: "パスワードを更新する",
            attachment: None,
            landing: true,
            iso_2022_jp: false,
            signs: &[
                "パスワードの入力をメールのリンク先で求めている（情報システム部はメールでパスワードを求めない）",
                "「本日」「24時間以内」「停止」と急がせ、不安にさせている",
                "差出人は社内の部署名でも、アドレスは社外ドメイン",
                "リンク先のログイン画面のURLが会社の正規のものではない",
            ],
        },
        Source {
            title: "Password expiry",
            subject: "Your password expires today",
            sender: "IT Helpdesk",
            body: &[
                "Dear {{name}} ({{email}}),",
                "The password of your account expires today.",
                "To keep using your mailbox, update your password within 24 hours using the link below.\nAccounts that are not updated will be suspended.",
                "{{link}}",
                "IT Helpdesk",
            ],
            link_label: "Update password",
            attachment: None,
            landing: true,
            iso_2022_jp: false,
            signs: &[
                "It asks for your password through a link in a mail (IT never does)",
                "Urgency and threats: \"today\", \"24 hours\", \"suspended\"",
                "An internal department's name on an outside address",
                "The login page is not on your company's real domain",
            ],
        },
    ),
    (
        "shared-file",
        Source {
            title: "ファイル共有の通知",
            subject: "{{department}}の資料が共有されました：「来期予算案_最終版.xlsx」",
            sender: "ファイル共有サービス",
            body: &[
                "{{name}} 様",
                "あなたとファイルが共有されました。",
                "「来期予算案_最終版.xlsx」\n閲覧するにはサインインが必要です。",
                "{{link}}",
                "このリンクの有効期限は7日間です。",
            ],
            link_label: "ファイルを開く",
            attachment: None,
            landing: true,
            iso_2022_jp: false,
            signs: &[
                "誰が共有したのかが書かれていない",
                "予算・人事など、つい開きたくなる件名で誘っている",
                "ファイルを見るためにパスワードの入力を求めている",
                "共有サービスの正規ドメインではないリンク",
            ],
        },
        Source {
            title: "Shared file notification",
            subject: "A file has been shared with you: \"Budget_next_year_FINAL.xlsx\"",
            sender: "File Sharing",
            body: &[
                "Hello {{name}},",
                "A file has been shared with you.",
                "\"Budget_next_year_FINAL.xlsx\"\nSign in to view it.",
                "{{link}}",
                "This link expires in 7 days.",
            ],
            link_label: "Open file",
            attachment: None,
            landing: true,
            iso_2022_jp: false,
            signs: &[
                "It does not say who shared the file",
                "A tempting subject (budgets, salaries) to make you click",
                "It asks you to sign in with your password to view a file",
                "The link is not on the sharing service's real domain",
            ],
        },
    ),
    (
        "executive",
        Source {
            title: "社長からの至急の指示",
            subject: "至急対応お願いします",
            sender: "代表取締役社長",
            body: &[
                "{{name}}さん",
                "お疲れ様です。\n今、会議中で電話に出られません。",
                "取引先への支払いを至急お願いしたい件があります。\n他の社員には内密に進めたいので、下記の内容を確認して今日中に対応してください。",
                "{{link}}",
                "よろしく頼みます。",
            ],
            link_label: "指示内容を確認する",
            attachment: None,
            landing: false,
            iso_2022_jp: true,
            signs: &[
                "社長の名前なのに、普段と違うアドレス（社外のフリーメールなど）から届いている",
                "「至急」「今日中」と急がせ、電話での確認をさせないようにしている",
                "「内密に」と、他の人への相談を止めている",
                "普段の手順を飛ばした支払いを求めている（別の手段で本人に確認すべき）",
            ],
        },
        Source {
            title: "Urgent instruction from the CEO",
            subject: "Urgent - need your help today",
            sender: "CEO",
            body: &[
                "{{name}},",
                "I'm in a meeting and can't take calls.",
                "I need you to handle a payment to a supplier urgently.\nPlease keep this confidential for now and take care of it today; the details are here:",
                "{{link}}",
                "Thanks.",
            ],
            link_label: "View instructions",
            attachment: None,
            landing: false,
            iso_2022_jp: false,
            signs: &[
                "The CEO's name on an address they do not normally use",
                "Urgency, and a reason why you cannot call to check",
                "A request for secrecy that stops you asking anyone",
                "A payment that skips the normal approval process (verify by phone)",
            ],
        },
    ),
    (
        "reply",
        Source {
            title: "過去のやり取りへの「RE:」返信（Emotet型）",
            subject: "RE: 先日のお打ち合わせの件",
            sender: "営業部",
            body: &[
                "{{name}} 様",
                "お世話になっております。\n先日はありがとうございました。",
                "お打ち合わせでお話しした資料を共有いたします。\nご確認のほど、よろしくお願いいたします。",
                "{{link}}",
                "-----Original Message-----\n件名: 先日のお打ち合わせの件\n\n{{name}} 様\n来週のお打ち合わせ、よろしくお願いいたします。",
            ],
            link_label: "資料をダウンロード",
            attachment: None,
            landing: false,
            iso_2022_jp: true,
            signs: &[
                "過去のやり取りを引用した「RE:」だが、本文が短く具体性がない（Emotet の手口）",
                "表示名は知っている相手でも、メールアドレスが普段と違う",
                "資料のダウンロードやマクロの有効化を求めている",
                "心当たりのない返信は、送信者に電話など別の手段で確認する",
            ],
        },
        Source {
            title: "\"RE:\" reply to a past thread (Emotet style)",
            subject: "RE: Follow-up on our meeting",
            sender: "Sales",
            body: &[
                "Dear {{name}},",
                "Thank you for your time the other day.",
                "As discussed, here are the documents from the meeting.\nPlease have a look.",
                "{{link}}",
                "-----Original Message-----\nSubject: Follow-up on our meeting\n\nDear {{name}},\nLooking forward to meeting next week.",
            ],
            link_label: "Download documents",
            attachment: None,
            landing: false,
            iso_2022_jp: false,
            signs: &[
                "A \"RE:\" reply quoting a real past thread, but vague and short (Emotet's trick)",
                "A known display name on an unusual address",
                "It asks you to download a document or enable macros",
                "When a reply is unexpected, confirm with the sender by phone",
            ],
        },
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn six_kinds_in_two_languages_each_with_link_and_signs() {
        let all = super::builtin();
        assert_eq!(all.len(), 12);
        for t in &all {
            assert!(
                t.text.contains("{{link}}") && t.html.contains("{{link}}"),
                "{}",
                t.id
            );
            assert!(t.text.contains("{{name}}"), "{}", t.id);
            assert!(t.signs.len() >= 3, "{}", t.id);
        }
        for id in [
            "invoice-ja",
            "parcel-en",
            "password-ja",
            "shared-file-en",
            "executive-ja",
            "reply-en",
        ] {
            assert!(super::find(id).is_some(), "{id}");
        }
        assert!(super::find("reply-ja").unwrap().subject.starts_with("RE:"));
    }
}
