//! Domain names as the mail checks compare them: which part of an address is the domain,
//! which part of a domain is the organisation (`example.co.jp`, not `co.jp`), and whether
//! one domain is made to look like another.
//!
//! Lookalikes are found three ways: by edit distance between the organisation parts
//! (`examp1e.co.jp`, `exampel.co.jp`), by a *skeleton* that maps characters people confuse
//! onto one (`rn`→`m`, `0`→`o`, `1`/`l`/`i`→`l`, Cyrillic `а`→`a`), and by the same name
//! under another suffix or with the real domain embedded (`example-co.jp`,
//! `example.co.jp.mail-login.com`). The same comparison serves the inbound sender check
//! and the outbound recipient check.

/// Second-level suffixes under which organisations register (the public-suffix list in
/// miniature: enough for Japan and the usual trading partners).
const SECOND_LEVEL: &[&str] = &[
    "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "ed.jp", "lg.jp", "gr.jp", "ad.jp", "co.uk",
    "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "com.cn", "net.cn",
    "com.tw", "co.kr", "or.kr", "com.hk", "com.sg", "co.th", "co.in", "com.br", "com.vn", "co.id",
    "com.my", "com.ph",
];

/// The domain of an address, lower-cased, without a trailing dot or angle bracket.
pub fn of_address(address: &str) -> Option<String> {
    let (_, domain) = address.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches(['>', '.', ' ']).to_lowercase();
    if domain.is_empty() {
        None
    } else {
        Some(domain)
    }
}

/// Whether `domain` is `parent` or a subdomain of it (case-insensitive).
pub fn within(domain: &str, parent: &str) -> bool {
    let d = domain.trim_end_matches('.').to_lowercase();
    let p = parent.trim_end_matches('.').to_lowercase();
    !p.is_empty() && (d == p || d.ends_with(&format!(".{p}")))
}

/// The registrable part of a domain: `mail.example.co.jp` → `example.co.jp`.
pub fn organisation(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    if n <= 2 {
        return domain;
    }
    let last_two = format!("{}.{}", labels[n - 2], labels[n - 1]);
    let keep = if SECOND_LEVEL.contains(&last_two.as_str()) {
        3
    } else {
        2
    };
    labels[n - keep..].join(".")
}

/// The organisation's name without its suffix: `example.co.jp` → `example`.
fn name_part(org: &str) -> &str {
    org.split('.').next().unwrap_or(org)
}

/// Levenshtein distance over characters, giving up (returning `limit + 1`) once it is clear
/// the distance exceeds `limit`; inputs are short domain names.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().take(256).collect();
    let b: Vec<char> = b.chars().take(256).collect();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Maps characters that look alike onto one representative, so that two domains with the
/// same skeleton read the same to a hurried eye.
pub fn skeleton(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.to_lowercase().chars() {
        let mapped = match c {
            '0' | 'о' | 'ο' | 'ｏ' | '〇' => 'o',
            '1' | 'i' | 'l' | '|' | 'і' | 'ı' | 'ӏ' | 'ｌ' | 'ｉ' | '１' => 'l',
            '5' | 'ѕ' => 's',
            '3' => 'e',
            'а' | 'ɑ' | 'α' => 'a',
            'е' | 'ё' => 'e',
            'р' | 'ρ' => 'p',
            'с' | 'ϲ' => 'c',
            'х' | 'χ' => 'x',
            'у' => 'y',
            'ј' => 'j',
            'ԁ' => 'd',
            'ɡ' => 'g',
            'ν' => 'v',
            '_' => '-',
            c => c,
        };
        out.push(mapped);
    }
    // Multi-character look-alikes, applied after the single characters.
    out.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// How a domain resembles a protected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resemblance {
    /// Reads the same once confusable characters are mapped (`examp1e`, `exarnple`).
    Confusable,
    /// A few letters added, dropped or changed (`exampel`, `exampple`).
    EditDistance(usize),
    /// The same name under another suffix (`example.co.jp` → `example-co.jp`, `example.jp`).
    OtherSuffix,
    /// The real domain written at the start of another one (`example.co.jp.login-check.com`).
    Embedded,
}

impl Resemblance {
    /// Japanese and English words for the trick, used inside reason sentences.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Resemblance::Confusable => (
                "形の似た文字（0とo、1とl、rnとm など）を使っています",
                "it swaps in characters that look alike (0/o, 1/l, rn/m)",
            ),
            Resemblance::EditDistance(_) => {
                ("数文字だけ違います", "it differs by only a few letters")
            }
            Resemblance::OtherSuffix => (
                "同じ名前で末尾（.co.jp など）が違います",
                "it uses the same name with a different ending",
            ),
            Resemblance::Embedded => (
                "本物のドメイン名を先頭に含む別のドメインです",
                "it is another domain that starts with the real name",
            ),
        }
    }
}

/// Whether `candidate` is made to look like `protected` without belonging to it.
pub fn resembles(candidate: &str, protected: &str, max_distance: usize) -> Option<Resemblance> {
    let candidate = candidate.trim_end_matches('.').to_lowercase();
    let protected = protected.trim_end_matches('.').to_lowercase();
    if candidate.is_empty() || protected.is_empty() {
        return None;
    }
    if within(&candidate, &protected) || within(&protected, &candidate) {
        return None;
    }
    let c_org = organisation(&candidate);
    let p_org = organisation(&protected);
    if c_org == p_org {
        return None;
    }
    let p_name = name_part(&p_org);
    let c_name = name_part(&c_org);
    if skeleton(&c_org) == skeleton(&p_org) {
        return Some(Resemblance::Confusable);
    }
    let p_len = p_name.chars().count();
    if p_len >= 4 {
        if c_name == p_name {
            return Some(Resemblance::OtherSuffix);
        }
        // example-co.jp, example-jp.com, examplecojp.com
        let flat_c = c_org.replace(['-', '.'], "");
        let flat_p = p_org.replace(['-', '.'], "");
        if flat_c.starts_with(&flat_p) || c_name.replace('-', "") == p_org.replace('.', "") {
            return Some(Resemblance::OtherSuffix);
        }
        if candidate.starts_with(&format!("{p_org}.")) || candidate.contains(&format!(".{p_org}."))
        {
            return Some(Resemblance::Embedded);
        }
    }
    // Short names (`abc.jp`) are too close to too many real domains to judge by distance.
    let allowed = match p_len {
        0..=3 => 0,
        4..=5 => max_distance.min(1),
        _ => max_distance,
    };
    if allowed > 0 {
        let d = edit_distance(&c_org, &p_org, allowed);
        if d <= allowed {
            return Some(Resemblance::EditDistance(d));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_keeps_japanese_second_level_suffixes() {
        assert_eq!(organisation("mail.example.co.jp"), "example.co.jp");
        assert_eq!(organisation("a.b.example.com"), "example.com");
        assert_eq!(organisation("example.jp"), "example.jp");
        assert_eq!(
            of_address("Taro <taro@Mail.Example.CO.JP>").as_deref(),
            Some("mail.example.co.jp")
        );
        assert!(within("tokyo.example.co.jp", "example.co.jp"));
        assert!(!within("badexample.co.jp", "example.co.jp"));
    }

    #[test]
    fn confusable_characters_are_lookalikes() {
        let r = |c| resembles(c, "example.co.jp", 2);
        assert_eq!(r("examp1e.co.jp"), Some(Resemblance::Confusable));
        assert_eq!(r("exarnple.co.jp"), Some(Resemblance::Confusable));
        assert_eq!(r("ex4mple.co.jp"), Some(Resemblance::EditDistance(1)));
        assert_eq!(r("exampel.co.jp"), Some(Resemblance::EditDistance(2)));
        assert_eq!(
            resembles("rnamori.jp", "mamori.jp", 2),
            Some(Resemblance::Confusable)
        );
        assert_eq!(
            resembles("g00gle.com", "google.com", 2),
            Some(Resemblance::Confusable)
        );
    }

    #[test]
    fn other_suffix_and_embedded_names_are_lookalikes() {
        let r = |c| resembles(c, "example.co.jp", 2);
        assert_eq!(r("example-co.jp"), Some(Resemblance::OtherSuffix));
        assert_eq!(r("example.jp"), Some(Resemblance::OtherSuffix));
        assert_eq!(
            r("example.co.jp.login-check.com"),
            Some(Resemblance::Embedded)
        );
    }

    #[test]
    fn own_subdomains_and_unrelated_domains_are_not_lookalikes() {
        let r = |c| resembles(c, "example.co.jp", 2);
        assert_eq!(r("example.co.jp"), None);
        assert_eq!(r("mail.example.co.jp"), None);
        assert_eq!(r("another.co.jp"), None);
        assert_eq!(resembles("abd.jp", "abc.jp", 2), None);
    }

    #[test]
    fn edit_distance_stops_at_the_limit() {
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
        assert_eq!(edit_distance("", "", 2), 0);
    }
}
