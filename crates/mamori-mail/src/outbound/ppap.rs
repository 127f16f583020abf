//! `mail.ppap_outbound`: sending a password-protected ZIP ("PPAP": password ZIP, password
//! sent separately). It protects nothing against interception, stops the recipient's virus
//! scanner, trains people to open password ZIPs — exactly what Emotet exploits — and many
//! companies now refuse such mail.

use crate::content::Files;
use crate::inbound::encrypted_zip::encrypted_archives;
use crate::inbound::quote_paths;
use crate::policy::Policy;
use crate::report::Reason;

pub const CODE: &str = "mail.ppap_outbound";
const SCORE: f64 = 2.0;

pub fn check(files: &Files, policy: &Policy) -> Option<Reason> {
    let archives = encrypted_archives(files);
    if archives.is_empty() {
        return None;
    }
    let (ja, en) = quote_paths(archives);
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("パスワード付き ZIP{ja}を送ろうとしています（いわゆる PPAP）。相手先でウイルス検査ができず、Emotet にも悪用される方法のため、受信を拒否する企業が増えています。共有リンクなど別の方法をご検討ください。"),
        format!("You are sending a password-protected ZIP {en} (\"PPAP\"). The recipient cannot scan it, Emotet abuses the habit, and many companies now refuse such mail; consider a sharing link instead."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::zip::tests::build;
    use crate::inbound::test_support::files;

    #[test]
    fn encrypted_zip_outbound_warns() {
        let z = build(&[("見積書.xlsx", b"x", 1, 8)]);
        assert!(check(&files(&[("見積書.zip", z)]), &Policy::default()).is_some());
        let z = build(&[("見積書.xlsx", b"x", 0, 0)]);
        assert!(check(&files(&[("見積書.zip", z)]), &Policy::default()).is_none());
    }
}
