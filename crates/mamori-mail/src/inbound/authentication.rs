//! `mail.spf_fail`, `mail.dkim_fail`, `mail.dmarc_fail`: what SPF, DKIM and DMARC said.
//!
//! The results come from [`crate::authenticate`] through the context. A failed SPF means the
//! sending server is not one the domain lists; a failed DKIM signature means the mail was
//! changed or the signature forged; a failed DMARC means the From domain — the one people
//! read — is not backed by either, and weighs more when the domain owner asked receivers to
//! quarantine or reject such mail.

use crate::auth::{AuthResults, AuthStatus};
use crate::policy::Policy;
use crate::report::Reason;

pub const SPF_CODE: &str = "mail.spf_fail";
pub const DKIM_CODE: &str = "mail.dkim_fail";
pub const DMARC_CODE: &str = "mail.dmarc_fail";

pub fn check(auth: &AuthResults, policy: &Policy) -> Vec<Reason> {
    let mut out = Vec::new();
    let spf_domain = if auth.spf_domain.is_empty() {
        "(不明)"
    } else {
        &auth.spf_domain
    };
    match auth.spf {
        AuthStatus::Fail => out.push(Reason::new(
            SPF_CODE,
            policy.score(SPF_CODE, 3.0),
            format!("送信元サーバーは {spf_domain} の SPF に登録されていません（SPF fail）。ドメインを詐称したメールの可能性があります。"),
            format!("The sending server is not authorised by the SPF record of {spf_domain} (SPF fail); the domain may be forged."),
        )),
        AuthStatus::SoftFail => out.push(Reason::new(
            SPF_CODE,
            policy.score(SPF_CODE, 3.0) / 2.0,
            format!("送信元サーバーは {spf_domain} の SPF で「おそらく不正」とされています（SPF softfail）。"),
            format!("The SPF record of {spf_domain} marks the sending server as probably unauthorised (SPF softfail)."),
        )),
        _ => {}
    }
    if matches!(auth.dkim, AuthStatus::Fail | AuthStatus::PermError) {
        out.push(Reason::new(
            DKIM_CODE,
            policy.score(DKIM_CODE, 3.0),
            "DKIM 署名の検証に失敗しました。途中で改ざんされたか、署名が偽造されています。",
            "The DKIM signature does not verify: the mail was altered in transit or the signature is forged.",
        ));
    }
    if auth.dmarc == AuthStatus::Fail {
        let strict = matches!(auth.dmarc_policy.as_deref(), Some("reject" | "quarantine"));
        let base = policy.score(DMARC_CODE, 5.0);
        let domain = &auth.from_domain;
        out.push(Reason::new(
            DMARC_CODE,
            if strict { base * 1.6 } else { base },
            if strict {
                format!("差出人のドメイン {domain} の DMARC 認証に失敗しました。このドメインの所有者は、認証に失敗したメールを受け取らないよう求めています。なりすましの可能性が高いメールです。")
            } else {
                format!("差出人のドメイン {domain} の DMARC 認証に失敗しました。表示されている差出人は本物でない可能性があります。")
            },
            if strict {
                format!("DMARC fails for the From domain {domain}, whose owner asks receivers to refuse such mail; the sender is very likely forged.")
            } else {
                format!("DMARC fails for the From domain {domain}; the sender shown may not be genuine.")
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_gives_nothing_and_failures_give_reasons() {
        let p = Policy::default();
        let pass = AuthResults {
            spf: AuthStatus::Pass,
            dkim: AuthStatus::Pass,
            dmarc: AuthStatus::Pass,
            ..AuthResults::default()
        };
        assert!(check(&pass, &p).is_empty());
        let fail = AuthResults {
            spf: AuthStatus::Fail,
            spf_domain: "example.co.jp".into(),
            dkim: AuthStatus::Fail,
            dmarc: AuthStatus::Fail,
            dmarc_policy: Some("reject".into()),
            from_domain: "example.co.jp".into(),
            ..AuthResults::default()
        };
        let codes: Vec<(String, f64)> = check(&fail, &p)
            .into_iter()
            .map(|r| (r.code, r.score))
            .collect();
        assert_eq!(
            codes,
            vec![
                (SPF_CODE.to_string(), 3.0),
                (DKIM_CODE.to_string(), 3.0),
                (DMARC_CODE.to_string(), 8.0)
            ]
        );
    }
}
