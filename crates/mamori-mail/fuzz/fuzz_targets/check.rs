//! Every check, both directions, over arbitrary bytes: a report or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mamori_mail::{check, CheckContext, Direction, Policy};

fuzz_target!(|data: &[u8]| {
    let policy = Policy::default();
    let ctx = CheckContext {
        company_domains: vec!["acme.example.jp".into()],
        partner_domains: vec!["partner.example.jp".into()],
        colleagues: vec![("山田 太郎".into(), "yamada@acme.example.jp".into())],
        ..CheckContext::default()
    };
    for direction in [Direction::Inbound, Direction::Outbound] {
        if let Ok(report) = check(data, direction, &policy, &ctx) {
            assert!(report.score.is_finite());
        }
    }
});
