//! Account takeover: a mail account whose password was guessed is soon used as a spam relay.
//! Per authenticated account, the gateway counts recipients and distinct recipient domains
//! over the last hour; past the policy's limits the account's mail is held (and an alert
//! raised) until a person looks. The account's own history sets the bar higher for accounts
//! that legitimately send a lot: the limit is the larger of the policy's and four times the
//! busiest hour the account had in the last week.
//!
//! State is in memory: a restart forgets the last hour (and the week's history), which only
//! makes the gateway more lenient for an hour, never lose mail.

use crate::report::Reason;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

const HOUR_MS: i64 = 3_600_000;
const WEEK_HOURS: usize = 7 * 24;

#[derive(Default)]
struct Account {
    /// (time, recipient domains) of each message in the last hour.
    recent: VecDeque<(i64, Vec<String>)>,
    /// Recipients per past hour (hour number, count), newest last, up to a week.
    hours: VecDeque<(i64, usize)>,
}

#[derive(Default)]
pub struct Tracker {
    accounts: Mutex<HashMap<String, Account>>,
}

impl Tracker {
    /// Records a message of `account` to `recipients` at `now_ms`; answers a reason when the
    /// account is over its limits.
    pub fn record(
        &self,
        account: &str,
        recipients: &[String],
        now_ms: i64,
        max_rcpt: usize,
        max_domains: usize,
    ) -> Option<Reason> {
        let mut all = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let a = all.entry(account.to_ascii_lowercase()).or_default();
        let domains: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        let hour = now_ms / HOUR_MS;
        match a.hours.back_mut() {
            Some((h, n)) if *h == hour => *n += recipients.len(),
            _ => a.hours.push_back((hour, recipients.len())),
        }
        while a
            .hours
            .front()
            .is_some_and(|(h, _)| *h <= hour - WEEK_HOURS as i64)
        {
            a.hours.pop_front();
        }
        a.recent.push_back((now_ms, domains));
        while a
            .recent
            .front()
            .is_some_and(|(t, _)| *t <= now_ms - HOUR_MS)
        {
            a.recent.pop_front();
        }
        let sent: usize = a.recent.iter().map(|(_, d)| d.len()).sum();
        let distinct: BTreeSet<&String> = a.recent.iter().flat_map(|(_, d)| d).collect();
        let busiest = a
            .hours
            .iter()
            .filter(|(h, _)| *h != hour)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        let rcpt_limit = max_rcpt.max(busiest * 4);
        let domain_limit = max_domains.max(busiest * 2);
        if sent > rcpt_limit || distinct.len() > domain_limit {
            return Some(Reason::new(
                "mail.account_takeover",
                20.0,
                format!(
                    "アカウント {account} は直近1時間に {sent} 件（{} ドメイン）に送信しています（上限 {rcpt_limit} 件）。\
                     乗っ取られてスパムの踏み台にされている可能性があるため、このアカウントのメールを保留しました。パスワードを変更してください。",
                    distinct.len()
                ),
                format!(
                    "The account {account} sent to {sent} recipients ({} domains) in the last hour, over its limit of {rcpt_limit}. \
                     It may have been taken over and used to send spam, so its mail is held. Change its password.",
                    distinct.len()
                ),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rcpts(n: usize, tag: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("u{i}@d{}-{tag}.example", i % 5))
            .collect()
    }

    #[test]
    fn a_burst_over_the_hourly_limit_is_flagged() {
        let t = Tracker::default();
        let now = 1_000 * HOUR_MS;
        for i in 0..5 {
            assert!(t
                .record("sato@acme.jp", &rcpts(50, i), now + i as i64, 300, 100)
                .is_none());
        }
        let r = t
            .record("sato@acme.jp", &rcpts(60, 9), now + 10, 300, 100)
            .expect("over 300 in an hour");
        assert_eq!(r.code, "mail.account_takeover");
        assert!(r.message_en.contains("310 recipients"), "{}", r.message_en);
        // Another account is not affected, and an hour later the count starts over.
        assert!(t
            .record("tanaka@acme.jp", &rcpts(10, 1), now, 300, 100)
            .is_none());
        assert!(t
            .record("sato@acme.jp", &rcpts(10, 1), now + HOUR_MS + 20, 300, 100)
            .is_none());
    }

    #[test]
    fn an_account_that_always_sends_a_lot_has_a_higher_bar() {
        let t = Tracker::default();
        let base = 2_000 * HOUR_MS;
        // Yesterday's newsletter hour: 200 recipients.
        assert!(t
            .record("news@acme.jp", &rcpts(200, 1), base, 100, 1000)
            .is_some());
        let today = base + 24 * HOUR_MS;
        assert!(
            t.record("news@acme.jp", &rcpts(500, 2), today, 100, 1000)
                .is_none(),
            "within 4× its busiest hour"
        );
        assert!(
            t.record("news@acme.jp", &rcpts(400, 3), today + 1, 100, 1000)
                .is_some(),
            "900 is past 800"
        );
    }
}
