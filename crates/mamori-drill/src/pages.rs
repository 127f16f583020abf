//! The pages a person sees after acting on a training mail: the fake login form, the
//! education page (the signs in *this* mail, in Japanese or English, with the tenant's own
//! introduction when set), the thank-you page after a report, and a plain 404.
//!
//! Server-rendered HTML without scripts; every value from the database is escaped.

use crate::templates::{Language, Template};

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn page(language: Language, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;\
         line-height:1.6;color:#222}}h1{{font-size:1.4em}}.box{{background:#fff4e5;\
         border-left:4px solid #f59e0b;padding:.5em 1em}}li{{margin:.4em 0}}\
         form label{{display:block;margin:.6em 0}}input{{width:100%;padding:.4em}}\
         button{{padding:.5em 1.5em}}</style></head><body>{}</body></html>",
        language.as_str(),
        escape(title),
        body
    )
}

/// What the person learns after clicking (or submitting, or opening the attachment).
pub fn education(
    language: Language,
    template: Option<&Template>,
    intro: Option<&str>,
    report_address: Option<&str>,
    token: &str,
) -> String {
    let (title, default_intro, signs_heading, next_heading, next, report_line, other) =
        match language {
            Language::Ja => (
                "これは標的型攻撃メールの訓練です",
                "あなたが開いたメールは、会社が実施している標的型攻撃メール訓練のメールでした。\
                 実際の被害はありません。本物の攻撃メールでも、同じ手口が使われます。",
                "このメールで気づけたポイント",
                "次に怪しいメールを受け取ったら",
                [
                    "リンクや添付ファイルを開く前に、差出人のメールアドレス（表示名ではなく）を確認する",
                    "急がせる・秘密にさせる内容は、電話など別の手段で本人に確認する",
                    "メールのリンク先でパスワードを入力しない",
                    "怪しいと思ったら、開かずに情報システム担当へ報告する",
                ],
                "報告先",
                ("English", "en"),
            ),
            Language::En => (
                "This was a phishing training mail",
                "The mail you opened was part of your company's targeted-attack training. \
                 Nothing has been harmed. Real attacks use the very same tricks.",
                "Signs you could have spotted in this mail",
                "Next time a mail looks suspicious",
                [
                    "Before opening a link or attachment, check the sender's address, not just the name",
                    "When a mail rushes you or asks for secrecy, confirm by phone or in person",
                    "Never type your password on a page reached from a mail link",
                    "If in doubt, do not open it: report it to your IT contact",
                ],
                "Report to",
                ("日本語", "ja"),
            ),
        };
    let mut body = format!("<h1>{}</h1><div class=\"box\"><p>", escape(title));
    body.push_str(&escape(intro.unwrap_or(default_intro)).replace('\n', "<br>"));
    body.push_str("</p></div>");
    if let Some(t) = template {
        body.push_str(&format!("<h2>{}</h2><ul>", escape(signs_heading)));
        for sign in &t.signs {
            body.push_str(&format!("<li>{}</li>", escape(sign)));
        }
        body.push_str("</ul>");
    }
    body.push_str(&format!("<h2>{}</h2><ul>", escape(next_heading)));
    for tip in next {
        body.push_str(&format!("<li>{}</li>", escape(tip)));
    }
    body.push_str("</ul>");
    if let Some(address) = report_address {
        body.push_str(&format!(
            "<p>{}: <a href=\"mailto:{a}\">{a}</a></p>",
            escape(report_line),
            a = escape(address)
        ));
    }
    body.push_str(&format!(
        "<p><a href=\"../e/{}?lang={}\">{}</a></p>",
        escape(token),
        other.1,
        other.0
    ));
    page(language, title, &body)
}

/// The fake sign-in form. It posts to `/t/s/{token}` (relative, so a base URL with a path works), which never reads what was typed.
pub fn landing(language: Language, token: &str) -> String {
    let (title, user, password, button) = match language {
        Language::Ja => ("サインイン", "メールアドレス", "パスワード", "サインイン"),
        Language::En => ("Sign in", "Email address", "Password", "Sign in"),
    };
    let body = format!(
        "<h1>{t}</h1><form method=\"post\" action=\"../s/{token}\" autocomplete=\"off\">\
         <label>{u}<input name=\"user\" type=\"text\"></label>\
         <label>{p}<input name=\"password\" type=\"password\"></label>\
         <button type=\"submit\">{b}</button></form>",
        t = escape(title),
        token = escape(token),
        u = escape(user),
        p = escape(password),
        b = escape(button),
    );
    page(language, title, &body)
}

/// After a report: thanks, and why it matters.
pub fn thanks(language: Language) -> String {
    let (title, text) = match language {
        Language::Ja => (
            "報告ありがとうございます",
            "怪しいメールを報告していただき、ありがとうございます。このメールは訓練メールでした。\
             早い報告は、本物の攻撃から会社を守るいちばんの方法です。",
        ),
        Language::En => (
            "Thank you for reporting",
            "Thank you for reporting a suspicious mail. This one was a training mail. \
             Reporting early is the best way to protect the company from a real attack.",
        ),
    };
    page(
        language,
        title,
        &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(text)),
    )
}

/// Unknown or malformed token.
pub fn not_found() -> String {
    page(
        Language::Ja,
        "Not found",
        "<h1>ページが見つかりません / Page not found</h1>",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn education_lists_the_templates_signs_escaped() {
        let mut t = crate::templates::find("password-ja").unwrap();
        t.signs.push("<script>x</script>".into());
        let html = education(
            Language::Ja,
            Some(&t),
            None,
            Some("report@example.jp"),
            "tok",
        );
        assert!(html.contains("パスワードの入力をメールのリンク先で求めている"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("mailto:report@example.jp"));
    }

    #[test]
    fn landing_form_posts_to_the_submit_endpoint() {
        let html = landing(Language::En, "abc");
        assert!(html.contains("action=\"../s/abc\""));
        assert!(html.contains("type=\"password\""));
    }
}
