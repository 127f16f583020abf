//! Lists of mail addresses in the body or attachments (customer lists, member rosters).
//! The recipients in the headers are not counted — that is the mass-recipient guard.

use regex::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.pii_mail_list";

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})+")
        .expect("valid regex")
});

pub fn find(text: &str) -> Vec<String> {
    ADDRESS
        .find_iter(text)
        .map(|m| m.as_str().to_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_found_case_insensitively() {
        assert_eq!(find("a@x.jp, B@X.JP\nnot an address: @x, c@d").len(), 2);
    }
}
