//! Large uploads to a new, rare external destination: one internal host sending at least
//! `upload_bytes` within `upload_window` to a destination first seen in these logs less than a
//! day before and contacted by at most `upload_max_sources` internal hosts — data theft to a
//! file-sharing site or an attacker's server, not the office's daily cloud backup.
//!
//! Needs a request-size field (`bytes_out`): proxies log it only with a custom format
//! (Squid's `%>st`), JSON-lines mappings can provide it. Response sizes (`bytes`) are not
//! uploads and are not counted.

use super::{destination, field, is_flow, number};
use crate::analytics::addr::parse_ip;
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig, Shared};
use crate::detection::{Detection, Level};
use crate::event::Event;
use std::collections::HashMap;

pub const UPLOAD: Rule = Rule {
    id: "logs.net.new_destination_upload",
    title: "Large upload to a new, rare external destination",
};

const NEW_FOR: i64 = 86_400_000;

struct Destination {
    first_seen: i64,
    /// Internal sources seen, up to one more than the rarity limit.
    sources: Vec<String>,
}

pub struct Uploads {
    shared: Shared,
    dests: HashMap<String, Destination>,
    open: Episodes<(String, String)>,
    cap: usize,
    bytes: u64,
    max_sources: usize,
}

impl Uploads {
    pub fn new(c: &AnalyticsConfig, shared: &Shared) -> Uploads {
        let n = &c.network;
        Uploads {
            shared: shared.clone(),
            dests: HashMap::new(),
            open: Episodes::new(
                c.max_keys,
                i64::try_from(n.upload_window.saturating_mul(1000)).unwrap_or(i64::MAX),
                NEW_FOR,
            ),
            cap: c.max_keys.max(1),
            bytes: n.upload_bytes,
            max_sources: n.upload_max_sources,
        }
    }

    fn remember(&mut self, src: &str, dst: &str, ts: i64) {
        if !self.dests.contains_key(dst) && self.dests.len() >= self.cap {
            // Forget the destinations seen first: they are the least likely to be new.
            let mut ages: Vec<(i64, String)> = self
                .dests
                .iter()
                .map(|(k, d)| (d.first_seen, k.clone()))
                .collect();
            ages.sort();
            for (_, k) in ages.into_iter().take((self.cap / 8).max(1)) {
                self.dests.remove(&k);
            }
        }
        let d = self.dests.entry(dst.to_string()).or_insert(Destination {
            first_seen: ts,
            sources: Vec::new(),
        });
        if d.sources.len() <= self.max_sources && !d.sources.iter().any(|s| s == src) {
            d.sources.push(src.to_string());
        }
    }
}

fn emit(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} sent {:.1} MB to {} in {} requests, {} ({})",
        ep.sources.summary(1),
        ep.extra as f64 / 1e6,
        ep.targets.summary(1),
        ep.count,
        ep.span_text(),
        ep.note
    );
    out.push(ep.detection(
        &UPLOAD,
        Level::High,
        details,
        &["attack.exfiltration", "attack.t1048", "attack.t1567"],
    ));
}

impl Analytic for Uploads {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        if !is_flow(ev) {
            return;
        }
        let (Some(src), Some(dst)) = (field(ev, "src_ip"), destination(ev)) else {
            return;
        };
        if !parse_ip(src).is_some_and(|ip| self.shared.inside(ip)) {
            return;
        }
        if parse_ip(&dst).is_some_and(|ip| self.shared.inside(ip)) {
            return;
        }
        self.remember(src, &dst, ts);
        let Some(sent) = number(ev, "bytes_out") else {
            return;
        };
        let (rare, new) = match self.dests.get(&dst) {
            Some(d) => (
                d.sources.len() <= self.max_sources,
                ts.saturating_sub(d.first_seen) <= NEW_FOR,
            ),
            None => (false, false),
        };
        let mut closed = Vec::new();
        let ep = self
            .open
            .at((src.to_string(), dst.clone()), ts, &mut closed);
        ep.add(ev, ts);
        ep.extra = ep.extra.saturating_add(sent);
        ep.sources.add(src, ts);
        ep.targets.add(&dst, ts);
        if ep.extra >= self.bytes && rare && new && !ep.hot {
            ep.heat(ts);
            ep.note = format!(
                "destination first seen in these logs {} before, used by {} internal host(s)",
                crate::analytics::episode::fmt_duration(
                    ts.saturating_sub(self.dests.get(&dst).map_or(ts, |d| d.first_seen))
                ),
                self.dests.get(&dst).map_or(1, |d| d.sources.len())
            );
        }
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::{Event, SourceKind};

    fn put(ts: i64, src: &str, host: &str, out: u64) -> Event {
        line(
            ts,
            SourceKind::JsonLines,
            &[
                ("src_ip", src),
                ("dst_host", host),
                ("method", "PUT"),
                ("bytes_out", &out.to_string()),
            ],
        )
    }

    #[test]
    fn big_upload_to_new_site_is_reported_once() {
        let events: Vec<Event> = (0..40)
            .map(|i| {
                put(
                    T0 + i * 10_000,
                    "10.0.0.9",
                    "files.exfil.example",
                    5_000_000,
                )
            })
            .collect();
        let d = run(&events);
        let u = of(&d, "logs.net.new_destination_upload");
        assert_eq!(u.len(), 1, "{d:#?}");
        assert!(
            u[0].details
                .starts_with("10.0.0.9 sent 200.0 MB to files.exfil.example in 40 requests"),
            "{}",
            u[0].details
        );
    }

    #[test]
    fn popular_or_small_destinations_are_quiet() {
        let mut events = Vec::new();
        // Five office hosts use the backup service: not rare.
        for h in 0..5 {
            events.push(put(T0 + h, &format!("10.0.0.{h}"), "backup.example", 1000));
        }
        events.extend((0..40).map(|i| {
            put(
                T0 + 100 + i * 10_000,
                "10.0.0.9",
                "backup.example",
                5_000_000,
            )
        }));
        // A rare site but only 10 MB.
        events.extend((0..2).map(|i| put(T0 + i * 10_000, "10.0.0.9", "paste.example", 5_000_000)));
        assert!(of(&run(&events), "logs.net.new_destination_upload").is_empty());
    }
}
