//! Account takeover: a mail account whose password was guessed is soon used as a spam relay.
//! Per authenticated account the gateway watches three things over the last hour, each
//! against the policy and against the account's own week of history:
//!
//! - **volume**: recipients and distinct recipient domains. The limit is the larger of the
//!   policy's and four times the busiest hour the account had in the last week, so an
//!   account that legitimately sends a newsletter is not held for it;
//! - **refusals**: the share of its recipients that the next hop refused permanently
//!   (reported by the queue after each delivery) — a spammer's list is full of dead
//!   addresses, a person's address book is not;
//! - **time of day**: sending many recipients at an hour (Japan time) the account never sent
//!   at during the week, once there is a week's history to compare with.
//!
//! Past a limit the account's mail is held (the gateway raises the alert) until a person
//! looks. State is in memory: a restart forgets the history, which only makes the gateway
//! more lenient for a while; it never loses mail.

use crate::report::Reason;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

const HOUR_MS: i64 = 3_600_000;
const WEEK_HOURS: i64 = 7 * 24;
/// Japan Standard Time, the time of day staff keep.
const LOCAL_OFFSET_HOURS: i64 = 9;
/// History needed before an hour of day can be called unusual: messages on this many days.
const MIN_HISTORY_DAYS: usize = 3;

/// The limits a tracker applies, from the tenant's [`crate::Policy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_recipients_per_hour: usize,
    pub max_domains_per_hour: usize,
    pub max_failure_rate: f64,
    pub min_failures: usize,
    pub unusual_hour_recipients: usize,
}

impl From<&crate::Policy> for Limits {
    fn from(p: &crate::Policy) -> Limits {
        Limits {
            max_recipients_per_hour: p.account_max_recipients_per_hour,
            max_domains_per_hour: p.account_max_domains_per_hour,
            max_failure_rate: p.account_max_failure_rate,
            min_failures: p.account_min_failures,
            unusual_hour_recipients: p.account_unusual_hour_recipients,
        }
    }
}

#[derive(Default)]
struct Account {
    /// (time, recipient domains) of each message in the last hour.
    recent: VecDeque<(i64, Vec<String>)>,
    /// Recipients per past hour (hour number, count), newest last, up to a week.
    hours: VecDeque<(i64, usize)>,
    /// (time, delivered, refused) per finished delivery in the last hour.
    outcomes: VecDeque<(i64, usize, usize)>,
}

impl Account {
    fn forget_before(&mut self, now_ms: i64) {
        let hour = now_ms.div_euclid(HOUR_MS);
        while self
            .hours
            .front()
            .is_some_and(|(h, _)| *h <= hour - WEEK_HOURS)
        {
            self.hours.pop_front();
        }
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| *t <= now_ms - HOUR_MS)
        {
            self.recent.pop_front();
        }
        while self
            .outcomes
            .front()
            .is_some_and(|(t, ..)| *t <= now_ms - HOUR_MS)
        {
            self.outcomes.pop_front();
        }
    }

    /// Whether the account has a week-like history and never sent at this hour of day.
    fn unusual_hour(&self, hour: i64) -> bool {
        let local = |h: i64| (h + LOCAL_OFFSET_HOURS).rem_euclid(24);
        let past = self.hours.iter().filter(|(h, _)| *h != hour);
        let days: BTreeSet<i64> = past
            .clone()
            .map(|(h, _)| (h + LOCAL_OFFSET_HOURS).div_euclid(24))
            .collect();
        days.len() >= MIN_HISTORY_DAYS && !past.clone().any(|(h, _)| local(*h) == local(hour))
    }
}

#[derive(Default)]
pub struct Tracker {
    accounts: Mutex<HashMap<String, Account>>,
}

impl Tracker {
    /// Records a message of `account` to `recipients` at `now_ms`; answers a reason when the
    /// account is over one of its limits.
    pub fn record(
        &self,
        account: &str,
        recipients: &[String],
        now_ms: i64,
        limits: &Limits,
    ) -> Option<Reason> {
        let mut all = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let a = all.entry(account.to_ascii_lowercase()).or_default();
        a.forget_before(now_ms);
        let hour = now_ms.div_euclid(HOUR_MS);
        let unusual = a.unusual_hour(hour);
        match a.hours.back_mut() {
            Some((h, n)) if *h == hour => *n += recipients.len(),
            _ => a.hours.push_back((hour, recipients.len())),
        }
        let domains: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        a.recent.push_back((now_ms, domains));
        let sent: usize = a.recent.iter().map(|(_, d)| d.len()).sum();
        let distinct = a
            .recent
            .iter()
            .flat_map(|(_, d)| d)
            .collect::<BTreeSet<_>>()
            .len();
        let busiest = a
            .hours
            .iter()
            .filter(|(h, _)| *h != hour)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0);
        let rcpt_limit = limits.max_recipients_per_hour.max(busiest * 4);
        let domain_limit = limits.max_domains_per_hour.max(busiest * 2);
        if sent > rcpt_limit || distinct > domain_limit {
            return Some(volume_reason(account, sent, distinct, rcpt_limit));
        }
        let (delivered, refused) = a
            .outcomes
            .iter()
            .fold((0, 0), |(d, f), (_, d1, f1)| (d + d1, f + f1));
        let rate = refused as f64 / (delivered + refused).max(1) as f64;
        if refused >= limits.min_failures && rate > limits.max_failure_rate {
            return Some(refusal_reason(account, refused, delivered + refused));
        }
        if unusual && sent >= limits.unusual_hour_recipients {
            let local_hour = (hour + LOCAL_OFFSET_HOURS).rem_euclid(24);
            return Some(unusual_hour_reason(account, sent, local_hour));
        }
        None
    }

    /// Records how a delivery of the account's message ended: recipients the next hop
    /// accepted and recipients it refused permanently.
    pub fn record_outcome(&self, account: &str, delivered: usize, refused: usize, now_ms: i64) {
        let mut all = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let a = all.entry(account.to_ascii_lowercase()).or_default();
        a.forget_before(now_ms);
        a.outcomes.push_back((now_ms, delivered, refused));
    }
}

const HOLD_JA: &str = "乗っ取られてスパムの踏み台にされている可能性があるため、このアカウントのメールを保留しました。パスワードを変更してください。";
const HOLD_EN: &str =
    "It may have been taken over and used to send spam, so its mail is held. Change its password.";

fn volume_reason(account: &str, sent: usize, domains: usize, limit: usize) -> Reason {
    Reason::new(
        "mail.account_takeover",
        20.0,
        format!(
            "アカウント {account} は直近1時間に {sent} 件（{domains} ドメイン）に送信しています（上限 {limit} 件）。{HOLD_JA}"
        ),
        format!(
            "The account {account} sent to {sent} recipients ({domains} domains) in the last hour, over its limit of {limit}. {HOLD_EN}"
        ),
    )
}

fn refusal_reason(account: &str, refused: usize, total: usize) -> Reason {
    Reason::new(
        "mail.account_takeover",
        20.0,
        format!(
            "アカウント {account} が直近1時間に送ったメールの宛先 {total} 件のうち {refused} 件が、存在しない宛先などの理由で相手のサーバーに拒否されました。{HOLD_JA}"
        ),
        format!(
            "Of the {total} recipients the account {account} sent to in the last hour, the receiving servers refused {refused} (unknown addresses and the like). {HOLD_EN}"
        ),
    )
}

fn unusual_hour_reason(account: &str, sent: usize, local_hour: i64) -> Reason {
    Reason::new(
        "mail.account_takeover",
        20.0,
        format!(
            "アカウント {account} は、この1週間一度も送信していない時間帯（{local_hour} 時台）に {sent} 件に送信しています。{HOLD_JA}"
        ),
        format!(
            "The account {account} sent to {sent} recipients at {local_hour}:00-{local_hour}:59 (Japan time), an hour it never sent at in the last week. {HOLD_EN}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_rcpt: usize, max_domains: usize) -> Limits {
        Limits {
            max_recipients_per_hour: max_rcpt,
            max_domains_per_hour: max_domains,
            ..Limits::from(&crate::Policy::default())
        }
    }

    fn rcpts(n: usize, tag: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("u{i}@d{}-{tag}.example", i % 5))
            .collect()
    }

    #[test]
    fn a_burst_over_the_hourly_limit_is_flagged() {
        let t = Tracker::default();
        let l = limits(300, 100);
        let now = 1_000 * HOUR_MS;
        for i in 0..5 {
            assert!(t
                .record("sato@acme.jp", &rcpts(50, i), now + i as i64, &l)
                .is_none());
        }
        let r = t
            .record("sato@acme.jp", &rcpts(60, 9), now + 10, &l)
            .expect("over 300 in an hour");
        assert_eq!(r.code, "mail.account_takeover");
        assert!(r.message_en.contains("310 recipients"), "{}", r.message_en);
        // Another account is not affected, and an hour later the count starts over.
        assert!(t.record("tanaka@acme.jp", &rcpts(10, 1), now, &l).is_none());
        assert!(t
            .record("sato@acme.jp", &rcpts(10, 1), now + HOUR_MS + 20, &l)
            .is_none());
    }

    #[test]
    fn an_account_that_always_sends_a_lot_has_a_higher_bar() {
        let t = Tracker::default();
        let l = limits(100, 1000);
        let base = 2_000 * HOUR_MS;
        // Yesterday's newsletter hour: 200 recipients.
        assert!(t.record("news@acme.jp", &rcpts(200, 1), base, &l).is_some());
        let today = base + 24 * HOUR_MS;
        assert!(
            t.record("news@acme.jp", &rcpts(500, 2), today, &l)
                .is_none(),
            "within 4× its busiest hour"
        );
        assert!(
            t.record("news@acme.jp", &rcpts(400, 3), today + 1, &l)
                .is_some(),
            "900 is past 800"
        );
    }

    #[test]
    fn many_refused_recipients_hold_the_account() {
        let t = Tracker::default();
        let l = limits(300, 100);
        let now = 3_000 * HOUR_MS;
        t.record_outcome("sato@acme.jp", 2, 9, now);
        assert!(
            t.record("sato@acme.jp", &rcpts(1, 1), now + 1, &l)
                .is_none(),
            "nine refusals are below the minimum of ten"
        );
        t.record_outcome("sato@acme.jp", 0, 3, now + 2);
        let r = t
            .record("sato@acme.jp", &rcpts(1, 2), now + 3, &l)
            .expect("12 of 14 refused");
        assert!(r.message_en.contains("refused 12"), "{}", r.message_en);
        // A person who mistypes now and then is not held: most recipients are accepted.
        t.record_outcome("tanaka@acme.jp", 90, 12, now);
        assert!(t
            .record("tanaka@acme.jp", &rcpts(1, 3), now + 4, &l)
            .is_none());
        // Refusals an hour old are forgotten.
        assert!(t
            .record("sato@acme.jp", &rcpts(1, 4), now + HOUR_MS + 10, &l)
            .is_none());
    }

    #[test]
    fn sending_at_an_hour_never_used_before_holds_the_account() {
        let t = Tracker::default();
        let l = limits(300, 100);
        // Hour numbers whose Japan time is 10:00: (h + 9) % 24 == 10.
        let day0 = 5_000 * 24;
        let ten_am = |day: i64| (day0 + day * 24 + 1) * HOUR_MS;
        for day in 0..4 {
            assert!(t
                .record("sato@acme.jp", &rcpts(5, day as usize), ten_am(day), &l)
                .is_none());
        }
        // 03:00 Japan time on day 4: never used before.
        let three_am = ten_am(4) - 7 * HOUR_MS;
        assert!(
            t.record("sato@acme.jp", &rcpts(20, 7), three_am, &l)
                .is_none(),
            "a few mails at night are fine"
        );
        let r = t
            .record("sato@acme.jp", &rcpts(20, 8), three_am + 1, &l)
            .expect("40 recipients at 3 a.m.");
        assert!(r.message_ja.contains("3 時台"), "{}", r.message_ja);
        // A new account without history is never held for the hour it sends at.
        assert!(t
            .record("new@acme.jp", &rcpts(50, 9), three_am, &l)
            .is_none());
    }
}
