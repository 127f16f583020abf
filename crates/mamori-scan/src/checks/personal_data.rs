//! Personal data on public, indexable pages: lists of mail addresses, Japanese phone
//! numbers, postal codes, street addresses, and My Number (individual number) values with
//! a valid check digit. Only pages a search engine may index count (robots.txt, the robots
//! meta tag and X-Robots-Tag are honoured), and only lists count: a contact page with one
//! address and one phone number is normal, so each kind needs several distinct items.

use crate::finding::Finding;
use crate::http::Response;
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Distinct items of one kind needed before a page counts as a list of personal data.
pub const LIST_THRESHOLD: usize = 5;

const PREFECTURES: &str = "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|東京都|神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|滋賀県|京都府|大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|広島県|山口県|徳島県|香川県|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県";

static MAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}",
    )
    .expect("static regex")
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^0-9])(0\d{1,4}-\d{1,4}-\d{3,4})(?:[^0-9]|$)").expect("static regex")
});
static POSTAL_MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"〒\s?(\d{3}-\d{4})").expect("static regex"));
static POSTAL_NEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(\d{{3}}-\d{{4}})[^0-9]{{0,12}}(?:{PREFECTURES})"
    ))
    .expect("static regex")
});
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?:{PREFECTURES})[^\s<>、,]{{1,12}}?[市区町村郡][^\s<>、,]{{0,20}}\d"
    ))
    .expect("static regex")
});
/// A full name with an honorific (山田 太郎様, 佐藤 花子 さん).
static NAME_HONORIFIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(\p{Han}{1,4}[ 　]\p{Han}[\p{Han}\p{Hiragana}\p{Katakana}]{0,3})\s?(?:様|さま|さん|殿)",
    )
    .expect("static regex")
});
static MY_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^0-9-])(\d{4}[ -]?\d{4}[ -]?\d{4})(?:[^0-9-]|$)").expect("static regex")
});
static TAGS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<(script|style)\b.*?</(script|style)\s*>|<[^>]{0,2000}>")
        .expect("static regex")
});

/// The official My Number check digit (weights 2..7, 2..6 from the lowest digit, mod 11).
pub fn my_number_valid(digits: &str) -> bool {
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 12 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let sum: u32 = (1..=11)
        .map(|n| {
            let p = d[11 - n];
            let q = if n <= 6 { n as u32 + 1 } else { n as u32 - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    let check = if r <= 1 { 0 } else { 11 - r };
    check == d[11]
}

/// Visible text of a page: tags, scripts and styles removed, full-width digits and
/// hyphens folded to ASCII, a few entities decoded.
pub fn visible_text(html: &str) -> String {
    let t = TAGS.replace_all(html, " ");
    let t = t
        .replace("&amp;", "&")
        .replace("&#64;", "@")
        .replace("&nbsp;", " ");
    t.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '－' | 'ー' | '‐' | '−' | '―' => '-',
            '＠' => '@',
            _ => c,
        })
        .collect()
}

/// Counts of each kind of personal data on a page.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub mails: BTreeSet<String>,
    pub phones: BTreeSet<String>,
    pub postal: BTreeSet<String>,
    pub addresses: BTreeSet<String>,
    pub my_numbers: BTreeSet<String>,
    pub names: BTreeSet<String>,
}

pub fn scan_text(text: &str) -> Found {
    let mut f = Found::default();
    for m in MAIL.find_iter(text).take(10_000) {
        f.mails.insert(m.as_str().to_ascii_lowercase());
    }
    for c in PHONE.captures_iter(text).take(10_000) {
        let digits = c[1].bytes().filter(u8::is_ascii_digit).count();
        if digits == 10 || digits == 11 {
            f.phones.insert(c[1].to_string());
        }
    }
    for c in POSTAL_MARK
        .captures_iter(text)
        .chain(POSTAL_NEAR.captures_iter(text))
        .take(10_000)
    {
        f.postal.insert(c[1].to_string());
    }
    for m in ADDRESS.find_iter(text).take(10_000) {
        f.addresses.insert(m.as_str().to_string());
    }
    for c in NAME_HONORIFIC.captures_iter(text).take(10_000) {
        f.names.insert(c[1].to_string());
    }
    if text.contains("氏名") {
        plain_names(text, &mut f.names);
    }
    for c in MY_NUMBER.captures_iter(text).take(10_000) {
        if my_number_valid(&c[1]) {
            f.my_numbers
                .insert(c[1].chars().filter(char::is_ascii_digit).collect());
        }
    }
    f
}

/// Family and given names written apart (山田 太郎): two neighbouring words of one to three
/// kanji, the second possibly ending in hiragana. Only counted on pages with a 氏名 column or
/// label (a form's お名前 is not a list).
fn plain_names(text: &str, out: &mut BTreeSet<String>) {
    let is_han = |c: char| ('\u{4E00}'..='\u{9FFF}').contains(&c) || c == '々';
    let is_hira = |c: char| ('\u{3041}'..='\u{309F}').contains(&c);
    let family = |w: &str| (1..=3).contains(&w.chars().count()) && w.chars().all(is_han);
    let given = |w: &str| {
        let n = w.chars().count();
        (1..=3).contains(&n)
            && w.chars().next().is_some_and(is_han)
            && w.chars().all(|c| is_han(c) || is_hira(c))
    };
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '\u{3000}')
        .filter(|w| !w.is_empty())
        .take(100_000)
        .collect();
    let mut i = 0;
    while i + 1 < words.len() {
        if family(words[i]) && given(words[i + 1]) {
            out.insert(format!("{} {}", words[i], words[i + 1]));
            i += 2;
        } else {
            i += 1;
        }
    }
}

fn mask(s: &str) -> String {
    if let Some((local, domain)) = s.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let chars: Vec<char> = s.chars().collect();
    let keep = 3.min(chars.len() / 3);
    let tail = 2.min(chars.len().saturating_sub(keep));
    let mut out: String = chars[..keep].iter().collect();
    out.push_str("***");
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Findings for one indexable page. My Number needs two valid numbers, or one beside the
/// words マイナンバー / 個人番号 (a random 12-digit order number passes the check digit
/// one time in eleven).
pub fn page_findings(resp: &Response) -> Vec<Finding> {
    let text = visible_text(&resp.text());
    let f = scan_text(&text);
    let mut out = Vec::new();
    let keyword = text.contains("マイナンバー") || text.contains("個人番号");
    if f.my_numbers.len() >= 2 || (keyword && !f.my_numbers.is_empty()) {
        let shown: Vec<String> = f.my_numbers.iter().take(3).map(|s| mask(s)).collect();
        out.push(Finding::builtin(
            "my_number_exposed",
            &resp.url,
            format!(
                "{}\n→ HTTP {}\n{} numbers with a valid My Number check digit, e.g. {}",
                resp.request_line,
                resp.status,
                f.my_numbers.len(),
                shown.join(", ")
            ),
        ));
    }
    let kinds = [
        ("mail addresses", &f.mails),
        ("phone numbers", &f.phones),
        ("postal codes", &f.postal),
        ("street addresses", &f.addresses),
        ("personal names", &f.names),
    ];
    let listed: Vec<String> = kinds
        .iter()
        .filter(|(_, set)| set.len() >= LIST_THRESHOLD)
        .map(|(name, set)| {
            let shown: Vec<String> = set.iter().take(3).map(|s| mask(s)).collect();
            format!("{} {name} (e.g. {})", set.len(), shown.join(", "))
        })
        .collect();
    if !listed.is_empty() {
        out.push(Finding::builtin(
            "personal_data_exposed",
            &resp.url,
            format!(
                "{}\n→ HTTP {}, indexable\n{}",
                resp.request_line,
                resp.status,
                listed.join("\n")
            ),
        ));
    }
    out
}

/// robots.txt rules for all crawlers (`User-agent: *`), longest match wins.
#[derive(Debug, Default, Clone)]
pub struct Robots {
    rules: Vec<(bool, String)>,
}

impl Robots {
    pub fn parse(text: &str) -> Robots {
        let mut rules = Vec::new();
        let mut in_star = false;
        let mut last_was_agent = false;
        for line in text.lines().take(10_000) {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "user-agent" => {
                    if !last_was_agent {
                        in_star = false;
                    }
                    in_star |= v == "*";
                    last_was_agent = true;
                }
                "allow" | "disallow" => {
                    last_was_agent = false;
                    if in_star && !v.is_empty() {
                        rules.push((k == "allow", v.to_string()));
                    }
                }
                _ => last_was_agent = false,
            }
        }
        Robots { rules }
    }

    /// Whether crawlers may fetch `path` (path and query).
    pub fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if robots_match(pattern, path) {
                let len = pattern.len();
                if best.is_none_or(|(l, a)| len > l || (len == l && *allow && !a)) {
                    best = Some((len, *allow));
                }
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// robots.txt pattern match: prefix, with `*` wildcards and a trailing `$` anchor.
fn robots_match(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !path.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if let Some(at) = path[pos..].find(part) {
            pos += at + part.len();
        } else {
            return false;
        }
    }
    !anchored || pos == path.len() || (parts.len() > 1 && parts.last() == Some(&""))
}

/// Whether the page asks not to be indexed (robots meta tag or X-Robots-Tag).
pub fn noindex(resp: &Response) -> bool {
    static META_ROBOTS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)<meta\s[^>]{0,300}name\s*=\s*["']?(?:robots|googlebot)["']?[^>]{0,300}>"#,
        )
        .expect("static regex")
    });
    if resp.headers_named("x-robots-tag").any(|v| {
        v.to_ascii_lowercase().contains("noindex") || v.to_ascii_lowercase().contains("none")
    }) {
        return true;
    }
    let text = resp.text();
    META_ROBOTS.find_iter(&text).any(|m| {
        let t = m.as_str().to_ascii_lowercase();
        t.contains("noindex") || t.contains("\"none\"") || t.contains("'none'")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_number_check_digit() {
        // 12345678901 → weights from the lowest digit: sum = 1·2+0·3+9·4+8·5+7·6+6·7+5·2+4·3+3·4+2·5+1·6
        assert!(my_number_valid("123456789018"));
        assert!(!my_number_valid("123456789012"));
        assert!(!my_number_valid("111111111111"));
        assert!(!my_number_valid("12345"));
    }

    #[test]
    fn lists_of_names_are_found_but_not_a_single_contact() {
        let list = "会員名簿 氏名 山田 太郎 佐藤 花子 鈴木 一郎 高橋 美咲 田中 健太";
        assert_eq!(scan_text(list).names.len(), 5);
        let honorific = "山田 太郎様、佐藤 花子様、鈴木 一郎様、高橋 美咲様、田中 健太様";
        assert_eq!(scan_text(honorific).names.len(), 5);
        assert!(scan_text("お問い合わせ: 担当 山田 太郎").names.is_empty());
    }

    #[test]
    fn one_contact_line_is_not_a_list() {
        let page =
            "お問い合わせ: info@example.co.jp TEL 03-1234-5678 〒100-0001 東京都千代田区千代田1-1";
        let f = scan_text(&visible_text(page));
        assert_eq!(f.mails.len(), 1);
        assert_eq!(f.phones.len(), 1);
        assert_eq!(f.postal.len(), 1);
        assert!(f.mails.len() < LIST_THRESHOLD);
    }

    #[test]
    fn full_width_digits_are_folded() {
        let f = scan_text(&visible_text("ＴＥＬ：０３－１２３４－５６７８"));
        assert!(f.phones.contains("03-1234-5678"));
    }

    #[test]
    fn robots_longest_match_and_wildcards() {
        let r = Robots::parse(
            "User-agent: Googlebot\nDisallow: /\n\nUser-agent: *\nDisallow: /members\nAllow: /members/public\nDisallow: /*.pdf$\n",
        );
        assert!(!r.allows("/members.html"));
        assert!(r.allows("/members/public/x"));
        assert!(!r.allows("/docs/a.pdf"));
        assert!(r.allows("/docs/a.pdf?x"));
        assert!(r.allows("/"));
    }
}
