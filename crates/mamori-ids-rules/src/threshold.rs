//! `threshold` and `detection_filter`: rate rules on alerts, counted per source, destination,
//! both, or rule, in windows of packet time.
//!
//! Semantics follow Suricata's `detect-engine-threshold.c`:
//! - `limit`: alert on the first `count` matches of each window;
//! - `threshold`: alert on every `count`-th match within a window;
//! - `both`: alert once per window, at the `count`-th match;
//! - `detection_filter`: alert on every match after the first `count` within a window.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::error::{bail, RResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdKind {
    Limit,
    Threshold,
    Both,
    DetectionFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    BySrc,
    ByDst,
    ByBoth,
    ByRule,
}

/// A parsed `threshold` or `detection_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThresholdSpec {
    pub kind: ThresholdKind,
    pub track: Track,
    pub count: u32,
    pub seconds: u32,
}

impl ThresholdSpec {
    /// Parse `type limit, track by_src, count 1, seconds 60` (detection_filter has no type).
    pub(crate) fn parse(kw: &str, v: &str) -> RResult<ThresholdSpec> {
        let detection_filter = kw == "detection_filter";
        let mut kind = detection_filter.then_some(ThresholdKind::DetectionFilter);
        let (mut track, mut count, mut seconds) = (None, None, None);
        for part in v.split(',') {
            let mut it = part.split_whitespace();
            let (Some(k), Some(val), None) = (it.next(), it.next(), it.next()) else {
                bail!(kw, "expected 'name value' pairs, got {:?}", part.trim());
            };
            match k {
                "type" if !detection_filter => {
                    kind = Some(match val {
                        "limit" => ThresholdKind::Limit,
                        "threshold" => ThresholdKind::Threshold,
                        "both" => ThresholdKind::Both,
                        other => bail!(kw, "unknown type {other:?}"),
                    })
                }
                "track" => {
                    track = Some(match val {
                        "by_src" => Track::BySrc,
                        "by_dst" => Track::ByDst,
                        "by_both" => Track::ByBoth,
                        "by_rule" => Track::ByRule,
                        other => bail!(kw, "unknown track {other:?}"),
                    })
                }
                "count" | "seconds" => {
                    let Ok(n) = val.parse::<u32>() else {
                        bail!(kw, "invalid {k} {val:?}");
                    };
                    if k == "count" {
                        count = Some(n);
                    } else {
                        seconds = Some(n);
                    }
                }
                other => bail!(kw, "unknown setting {other:?}"),
            }
        }
        match (kind, track, count, seconds) {
            (Some(kind), Some(track), Some(count), Some(seconds)) => {
                if count == 0 && kind != ThresholdKind::DetectionFilter {
                    bail!(kw, "count must be at least 1");
                }
                Ok(ThresholdSpec {
                    kind,
                    track,
                    count,
                    seconds,
                })
            }
            _ => bail!(kw, "needs type, track, count and seconds"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    rule: u32,
    a: Option<IpAddr>,
    b: Option<IpAddr>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start_us: u64,
    count: u32,
    seconds: u32,
}

/// Threshold counters, shared by every worker of an engine (Suricata keeps one table per
/// engine too, so `limit 3 per 60 s` means three alerts, not three per thread). Each
/// `Thresholds` value also holds the working memory [`crate::Engine::inspect`] reuses from
/// call to call, so a worker's inspections allocate nothing once warm: give each worker
/// its own value made with [`Thresholds::sharing`].
///
/// Bounded: when `capacity` entries exist, expired windows are dropped first, then the
/// oldest windows, so a flood of sources cannot grow memory without limit.
#[derive(Debug)]
pub struct Thresholds {
    counts: std::sync::Arc<std::sync::Mutex<Counts>>,
    pub(crate) scratch: crate::engine::Scratch,
}

#[derive(Debug)]
struct Counts {
    map: HashMap<Key, Entry>,
    capacity: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::with_capacity(100_000)
    }
}

impl Thresholds {
    /// At most `capacity` tracked (rule, address) entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Thresholds {
            counts: std::sync::Arc::new(std::sync::Mutex::new(Counts {
                map: HashMap::new(),
                capacity: capacity.max(1),
            })),
            scratch: crate::engine::Scratch::default(),
        }
    }

    /// Counters shared with `self`, with working memory of their own (for another worker).
    pub fn sharing(&self) -> Self {
        Thresholds {
            counts: self.counts.clone(),
            scratch: crate::engine::Scratch::default(),
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many entries are tracked.
    pub fn len(&self) -> usize {
        self.counts().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts().map.is_empty()
    }

    /// Record a match of rule `rule` and say whether it may alert.
    pub fn allow(
        &mut self,
        rule: u32,
        spec: &ThresholdSpec,
        src: IpAddr,
        dst: IpAddr,
        now_us: u64,
    ) -> bool {
        self.counts().allow(rule, spec, src, dst, now_us)
    }
}

impl Counts {
    fn allow(
        &mut self,
        rule: u32,
        spec: &ThresholdSpec,
        src: IpAddr,
        dst: IpAddr,
        now_us: u64,
    ) -> bool {
        let key = match spec.track {
            Track::BySrc => Key {
                rule,
                a: Some(src),
                b: None,
            },
            Track::ByDst => Key {
                rule,
                a: Some(dst),
                b: None,
            },
            Track::ByBoth => Key {
                rule,
                a: Some(src),
                b: Some(dst),
            },
            Track::ByRule => Key {
                rule,
                a: None,
                b: None,
            },
        };
        let window = u64::from(spec.seconds) * 1_000_000;
        if let Some(e) = self.map.get_mut(&key) {
            let inside = now_us.saturating_sub(e.window_start_us) < window;
            return match spec.kind {
                ThresholdKind::Limit => {
                    if inside {
                        e.count = e.count.saturating_add(1);
                        e.count <= spec.count
                    } else {
                        *e = Entry {
                            window_start_us: now_us,
                            count: 1,
                            seconds: spec.seconds,
                        };
                        true
                    }
                }
                ThresholdKind::Threshold => {
                    if inside {
                        e.count = e.count.saturating_add(1);
                        if e.count >= spec.count {
                            e.count = 0;
                            true
                        } else {
                            false
                        }
                    } else {
                        *e = Entry {
                            window_start_us: now_us,
                            count: 1,
                            seconds: spec.seconds,
                        };
                        spec.count == 1
                    }
                }
                ThresholdKind::Both => {
                    if inside {
                        e.count = e.count.saturating_add(1);
                        e.count == spec.count
                    } else {
                        *e = Entry {
                            window_start_us: now_us,
                            count: 1,
                            seconds: spec.seconds,
                        };
                        spec.count == 1
                    }
                }
                ThresholdKind::DetectionFilter => {
                    if inside {
                        e.count = e.count.saturating_add(1);
                        e.count > spec.count
                    } else {
                        *e = Entry {
                            window_start_us: now_us,
                            count: 1,
                            seconds: spec.seconds,
                        };
                        spec.count == 0
                    }
                }
            };
        }
        self.make_room(now_us);
        self.map.insert(
            key,
            Entry {
                window_start_us: now_us,
                count: 1,
                seconds: spec.seconds,
            },
        );
        match spec.kind {
            ThresholdKind::Limit => true,
            ThresholdKind::Threshold | ThresholdKind::Both => spec.count == 1,
            ThresholdKind::DetectionFilter => spec.count == 0,
        }
    }

    fn make_room(&mut self, now_us: u64) {
        if self.map.len() < self.capacity {
            return;
        }
        self.map.retain(|_, e| {
            now_us.saturating_sub(e.window_start_us) < u64::from(e.seconds) * 1_000_000
        });
        if self.map.len() >= self.capacity {
            // Still full of live windows: drop the older half.
            let mut starts: Vec<u64> = self.map.values().map(|e| e.window_start_us).collect();
            let mid = starts.len() / 2;
            let (_, &mut cut, _) = starts.select_nth_unstable(mid);
            self.map.retain(|_, e| e.window_start_us > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn run(spec: &str, kw: &str, times_s: &[u64]) -> Vec<bool> {
        let spec = ThresholdSpec::parse(kw, spec).unwrap();
        let mut t = Thresholds::default();
        times_s
            .iter()
            .map(|&s| t.allow(0, &spec, ip("1.1.1.1"), ip("2.2.2.2"), s * 1_000_000))
            .collect()
    }

    #[test]
    fn limit_alerts_first_n_per_window() {
        assert_eq!(
            run(
                "type limit, track by_src, count 2, seconds 60",
                "threshold",
                &[0, 1, 2, 3, 61, 62, 63]
            ),
            [true, true, false, false, true, true, false]
        );
    }

    #[test]
    fn threshold_alerts_every_nth() {
        assert_eq!(
            run(
                "type threshold, track by_dst, count 3, seconds 60",
                "threshold",
                &[0, 1, 2, 3, 4, 5]
            ),
            [false, false, true, false, false, true]
        );
    }

    #[test]
    fn both_alerts_once_per_window_at_count() {
        assert_eq!(
            run(
                "type both, track by_src, count 2, seconds 10",
                "threshold",
                &[0, 1, 2, 3, 20, 21]
            ),
            [false, true, false, false, false, true]
        );
    }

    #[test]
    fn detection_filter_alerts_after_count() {
        assert_eq!(
            run(
                "track by_src, count 2, seconds 10",
                "detection_filter",
                &[0, 1, 2, 3, 11]
            ),
            [false, false, true, true, false]
        );
    }

    #[test]
    fn tracking_separates_sources() {
        let spec =
            ThresholdSpec::parse("threshold", "type limit, track by_src, count 1, seconds 60")
                .unwrap();
        let mut t = Thresholds::default();
        assert!(t.allow(0, &spec, ip("1.1.1.1"), ip("9.9.9.9"), 0));
        assert!(!t.allow(0, &spec, ip("1.1.1.1"), ip("9.9.9.9"), 1));
        assert!(t.allow(0, &spec, ip("1.1.1.2"), ip("9.9.9.9"), 1));
        assert!(
            t.allow(1, &spec, ip("1.1.1.1"), ip("9.9.9.9"), 1),
            "other rule, own counter"
        );
    }

    #[test]
    fn capacity_is_bounded() {
        let spec =
            ThresholdSpec::parse("threshold", "type limit, track by_src, count 1, seconds 60")
                .unwrap();
        let mut t = Thresholds::with_capacity(100);
        for i in 0..10_000u32 {
            t.allow(
                0,
                &spec,
                IpAddr::from(i.to_be_bytes()),
                ip("9.9.9.9"),
                u64::from(i),
            );
        }
        assert!(t.len() <= 100);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert!(ThresholdSpec::parse(
            "threshold",
            "type sometimes, track by_src, count 1, seconds 1"
        )
        .unwrap_err()
        .reason
        .contains("type"));
        assert!(ThresholdSpec::parse("threshold", "type limit, count 1, seconds 1").is_err());
        assert!(
            ThresholdSpec::parse("threshold", "type limit, track by_src, count x, seconds 1")
                .is_err()
        );
    }
}
