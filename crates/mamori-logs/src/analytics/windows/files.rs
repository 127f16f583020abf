//! File server activity from object access auditing: ransomware-like mass deletion or renaming
//! (4663 on files, 5145 on shares, with the DELETE right — a rename needs it too — on many
//! distinct files by one account within minutes), and the insider copying data to a phone or
//! USB drive: a device connected (Security 6416; DriverFrameworks-UserMode/Operational 2003 and
//! 2100) followed on the same host by one account reading many distinct files (4663 with
//! ReadData).
//!
//! Needs "Audit File System"/"Audit Detailed File Share" with SACLs on the shares: without
//! them there are no 4663/5145 and nothing to see. Encryption in place without renaming
//! (WriteData only) is not counted: saving files is what users do all day.

use super::{account, field, hex, host};
use crate::analytics::episode::{fmt_duration, fmt_time, Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig};
use crate::detection::{Detection, Level};
use crate::event::Event;
use std::collections::HashMap;

pub const MASS_FILE_DELETE: Rule = Rule {
    id: "logs.win.mass_file_delete",
    title: "Mass file deletion or renaming (ransomware-like)",
};
pub const DEVICE_COPY: Rule = Rule {
    id: "logs.win.device_copy",
    title: "Phone or USB storage connected, then many files read",
};

const DELETE: u64 = 0x10000;
const READ_DATA: u64 = 0x1;

pub struct Files {
    deletes: Episodes<(String, String)>,
    reads: Episodes<(String, String)>,
    /// Last device connection per host: (time, description); bounded like the episodes.
    devices: HashMap<String, (i64, String)>,
    max_keys: usize,
    delete_n: usize,
    delete_window: i64,
    read_n: usize,
    read_window: i64,
    device_window: i64,
}

fn ms(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl Files {
    pub fn new(c: &AnalyticsConfig) -> Files {
        let w = &c.windows;
        Files {
            deletes: Episodes::new(c.max_keys, ms(w.file_burst_window), 86_400_000),
            reads: Episodes::new(c.max_keys, ms(w.device_read_window), 86_400_000),
            devices: HashMap::new(),
            max_keys: c.max_keys,
            delete_n: w.file_burst_files,
            delete_window: ms(w.file_burst_window),
            read_n: w.device_read_files,
            read_window: ms(w.device_read_window),
            device_window: ms(w.device_window),
        }
    }

    fn device(&mut self, ev: &Event, ts: i64) {
        let desc = field(ev, "DeviceDescription")
            .or_else(|| field(ev, "FriendlyName"))
            .or_else(|| field(ev, "InstanceId"))
            .or_else(|| field(ev, "DeviceId"))
            .unwrap_or("a device");
        let class = field(ev, "ClassName").unwrap_or("");
        // 6416 fires for every device (keyboards, monitors); only storage and phones matter.
        if ev.event_id == Some(6416) {
            let c = class.to_ascii_lowercase();
            let d = desc.to_ascii_lowercase();
            let storage = ["wpd", "diskdrive", "volume", "usb", "cdrom"]
                .iter()
                .any(|k| c == *k)
                || [
                    "phone",
                    "iphone",
                    "android",
                    "mass storage",
                    "usb",
                    "disk",
                    "mtp",
                ]
                .iter()
                .any(|k| d.contains(k));
            if !storage {
                return;
            }
        }
        let key = host(ev).to_lowercase();
        if !self.devices.contains_key(&key) && self.devices.len() >= self.max_keys {
            // Forget the oldest connection: it is the one least likely to matter.
            if let Some(old) = self
                .devices
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                self.devices.remove(&old);
            }
        }
        let shown = if class.is_empty() {
            crate::analytics::episode::cut(desc, 200).to_string()
        } else {
            format!("{} ({class})", crate::analytics::episode::cut(desc, 200))
        };
        self.devices.insert(key, (ts, shown));
    }

    fn access(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        let Some(mask) = field(ev, "AccessMask").and_then(hex) else {
            return;
        };
        if field(ev, "ObjectType").is_some_and(|t| !t.eq_ignore_ascii_case("file")) {
            return;
        }
        let Some(user) = account(ev, "SubjectUserName", "SubjectDomainName") else {
            return;
        };
        let object = match ev.event_id {
            Some(5145) => {
                let share = field(ev, "ShareName").unwrap_or("");
                let rel = field(ev, "RelativeTargetName").unwrap_or("");
                if rel.is_empty() {
                    return;
                }
                format!("{share}\\{rel}")
            }
            _ => match field(ev, "ObjectName") {
                Some(o) => o.to_string(),
                None => return,
            },
        };
        let key = (host(ev).to_lowercase(), user.to_lowercase());
        let mut closed = Vec::new();
        if mask & DELETE != 0 {
            let ep = self.deletes.at(key.clone(), ts, &mut closed);
            ep.add(ev, ts);
            ep.note = user.clone();
            if let Some(ip) = field(ev, "IpAddress") {
                ep.sources.add(ip, ts);
            }
            ep.distinct_targets(
                &object.to_lowercase(),
                ts,
                self.delete_n,
                self.delete_window,
            );
            closed.drain(..).for_each(|(_, ep)| emit_delete(ep, out));
        }
        if mask & READ_DATA != 0 && ev.event_id == Some(4663) {
            let ep = self.reads.at(key.clone(), ts, &mut closed);
            ep.add(ev, ts);
            ep.note = user;
            let was_hot = ep.hot;
            ep.distinct_targets(&object.to_lowercase(), ts, self.read_n, self.read_window);
            if ep.hot && !was_hot {
                // The device must have come before the burst, within the window.
                if let Some((t, desc)) = self.devices.get(&key.0) {
                    if *t <= ts && ep.first.saturating_sub(*t) <= self.device_window {
                        ep.extra = 1;
                        ep.sources.add(desc, *t);
                        ep.extra2 = u64::try_from(*t).unwrap_or(0);
                    }
                }
            }
            closed.drain(..).for_each(|(_, ep)| emit_copy(ep, out));
        }
    }
}

fn emit_delete(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot {
        return;
    }
    let details = format!(
        "{} deleted or renamed {} distinct files on {}{} in {} events over {}, {} (e.g. {})",
        ep.note,
        ep.targets.count_text(),
        ep.last_host(),
        if ep.sources.is_empty() {
            String::new()
        } else {
            format!(" from {}", ep.sources.summary(3))
        },
        ep.count,
        fmt_duration(ep.last - ep.first),
        ep.span_text(),
        ep.targets.summary(3)
    );
    out.push(ep.detection(
        &MASS_FILE_DELETE,
        Level::Critical,
        details,
        &["attack.impact", "attack.t1486", "attack.t1485"],
    ));
}

fn emit_copy(ep: Episode, out: &mut Vec<Detection>) {
    if !ep.hot || ep.extra == 0 {
        return;
    }
    let device_at = i64::try_from(ep.extra2).unwrap_or(0);
    let details = format!(
        "{} connected to {} at {}, then {} read {} distinct files, {} (e.g. {})",
        ep.sources.summary(2),
        ep.last_host(),
        fmt_time(device_at),
        ep.note,
        ep.targets.count_text(),
        ep.span_text(),
        ep.targets.summary(3)
    );
    out.push(ep.detection(
        &DEVICE_COPY,
        Level::High,
        details,
        &[
            "attack.exfiltration",
            "attack.t1052.001",
            "attack.collection",
            "attack.t1005",
        ],
    ));
}

impl Analytic for Files {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        match ev.event_id {
            Some(4663) | Some(5145) => self.access(ev, ts, out),
            Some(6416) => self.device(ev, ts),
            Some(2003) | Some(2100)
                if ev
                    .channel
                    .as_deref()
                    .is_some_and(|c| c.contains("DriverFrameworks-UserMode")) =>
            {
                self.device(ev, ts)
            }
            _ => {}
        }
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.deletes.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_delete(ep, out));
        let mut closed = Vec::new();
        self.reads.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_copy(ep, out));
        let horizon = now.saturating_sub(self.device_window);
        self.devices.retain(|_, (t, _)| *t >= horizon);
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.deletes.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_delete(ep, out));
        let mut closed = Vec::new();
        self.reads.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit_copy(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::event::Event;

    fn access(ts: i64, user: &str, file: &str, mask: &str) -> Event {
        win(
            ts,
            "fs1",
            "Security",
            4663,
            &[
                ("SubjectUserName", user),
                ("SubjectDomainName", "CORP"),
                ("ObjectType", "File"),
                ("ObjectName", file),
                ("AccessMask", mask),
            ],
        )
    }

    fn share_delete(ts: i64, user: &str, file: &str) -> Event {
        win(
            ts,
            "fs1",
            "Security",
            5145,
            &[
                ("SubjectUserName", user),
                ("ObjectType", "File"),
                ("IpAddress", "10.0.0.23"),
                ("ShareName", "\\\\*\\Data"),
                ("RelativeTargetName", file),
                ("AccessMask", "0x110080"),
            ],
        )
    }

    #[test]
    fn ransomware_burst_is_one_critical_detection() {
        // 3,000 files renamed over 30 minutes through the share: one episode.
        let events: Vec<Event> = (0..3000)
            .map(|i| share_delete(T0 + i * 600, "bob", &format!("docs\\f{i}.xlsx")))
            .collect();
        let d = run(&events);
        let x = of(&d, "logs.win.mass_file_delete");
        assert_eq!(x.len(), 1, "{d:#?}");
        assert_eq!(x[0].level, crate::detection::Level::Critical);
        assert!(
            x[0].details.contains(
                "bob deleted or renamed 1000+ distinct files on fs1 from 10.0.0.23 in 3000 events"
            ),
            "{}",
            x[0].details
        );
        assert_eq!(x[0].records.len(), 1000);
    }

    #[test]
    fn same_file_saved_often_or_few_deletes_is_quiet() {
        // One file rewritten 500 times (DELETE on a temp-file swap): one distinct file.
        let same: Vec<Event> = (0..500)
            .map(|i| access(T0 + i * 100, "alice", "C:\\Data\\report.docx", "0x10000"))
            .collect();
        assert!(of(&run(&same), "logs.win.mass_file_delete").is_empty());
        // 50 distinct deletions: a cleanup, below the threshold.
        let few: Vec<Event> = (0..50)
            .map(|i| {
                access(
                    T0 + i * 100,
                    "alice",
                    &format!("C:\\Data\\old{i}.tmp"),
                    "0x10000",
                )
            })
            .collect();
        assert!(of(&run(&few), "logs.win.mass_file_delete").is_empty());
        // Many distinct reads are not deletions.
        let reads: Vec<Event> = (0..500)
            .map(|i| access(T0 + i * 100, "alice", &format!("C:\\Data\\r{i}.pdf"), "0x1"))
            .collect();
        assert!(run(&reads).is_empty());
    }

    fn phone(ts: i64) -> Event {
        win(
            ts,
            "fs1",
            "Security",
            6416,
            &[("DeviceDescription", "Apple iPhone"), ("ClassName", "WPD")],
        )
    }

    #[test]
    fn phone_then_mass_read_is_a_device_copy() {
        let mut events = vec![phone(T0)];
        events.extend((0..300).map(|i| {
            access(
                T0 + 5 * MIN + i * 500,
                "carol",
                &format!("C:\\Data\\c{i}.pdf"),
                "0x1",
            )
        }));
        let d = run(&events);
        let x = of(&d, "logs.win.device_copy");
        assert_eq!(x.len(), 1, "{d:#?}");
        assert!(
            x[0].details
                .starts_with("Apple iPhone (WPD) connected to fs1"),
            "{}",
            x[0].details
        );
        assert!(x[0].details.contains("CORP\\carol read 300 distinct files"));
    }

    #[test]
    fn mass_read_without_device_or_long_after_is_quiet() {
        let reads: Vec<Event> = (0..300)
            .map(|i| {
                access(
                    T0 + 3 * 60 * MIN + i * 500,
                    "carol",
                    &format!("C:\\Data\\c{i}.pdf"),
                    "0x1",
                )
            })
            .collect();
        assert!(run(&reads).is_empty());
        let mut late = vec![phone(T0)];
        late.extend(reads);
        assert!(of(&run(&late), "logs.win.device_copy").is_empty());
        // A keyboard is not a storage device.
        let mut kb = vec![win(
            T0,
            "fs1",
            "Security",
            6416,
            &[
                ("DeviceDescription", "HID Keyboard Device"),
                ("ClassName", "Keyboard"),
            ],
        )];
        kb.extend((0..300).map(|i| {
            access(
                T0 + MIN + i * 500,
                "carol",
                &format!("C:\\Data\\c{i}.pdf"),
                "0x1",
            )
        }));
        assert!(of(&run(&kb), "logs.win.device_copy").is_empty());
    }
}
