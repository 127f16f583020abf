//! The audit record of a request the rules matched (or login protection acted on): one JSON
//! line per request, with ModSecurity-like fields (rule ids, messages, matched data, anomaly
//! score), and its conversion into an [`Alert`] for the store.

use mamori_core::alert::{Alert, Endpoint, Engine, Severity};
use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    pub id: u32,
    pub msg: String,
    /// `logdata`, macro-expanded.
    pub data: String,
    /// CRS severity (`CRITICAL`, `ERROR`, `WARNING`, `NOTICE`) when the rule sets one.
    pub severity: String,
    pub tags: Vec<String>,
    pub matched_var: String,
    pub matched_value: String,
}

/// What happened to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refused by the rules.
    Blocked,
    /// Rules matched, but the site is in DetectionOnly or the score stayed under the threshold.
    Detected,
    /// Refused or slowed by login protection.
    LoginRefused,
}

/// One audit-log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// RFC 3339.
    pub time: String,
    /// Unique id, also shown on the block page as the reference.
    pub id: String,
    pub site: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub method: String,
    pub uri: String,
    pub host: String,
    pub protocol: String,
    /// Status sent to the client.
    pub status: u16,
    pub action: Action,
    /// `On`, `DetectionOnly`.
    pub mode: String,
    pub inbound_anomaly_score: i64,
    pub outbound_anomaly_score: i64,
    pub rules: Vec<RuleHit>,
    /// Login protection's signal, when it acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_signal: Option<String>,
}

impl AuditRecord {
    /// The rule that best names the attack: the first non-scoring rule (the 949/959
    /// blocking-evaluation rules only add up the others).
    pub fn headline(&self) -> Option<&RuleHit> {
        self.rules
            .iter()
            .find(|r| {
                !(949_000..950_000).contains(&r.id)
                    && !(959_000..960_000).contains(&r.id)
                    && !(980_000..981_000).contains(&r.id)
            })
            .or_else(|| self.rules.first())
    }

    /// The alert for the store.
    pub fn to_alert(&self, tenant: &str, sensor: &str) -> Alert {
        let head = self.headline();
        let severity = match (self.action, head.map(|h| h.severity.as_str())) {
            (Action::Blocked, Some("CRITICAL")) => Severity::High,
            (Action::Blocked, _) => Severity::Medium,
            (Action::LoginRefused, _) => Severity::Medium,
            (Action::Detected, Some("CRITICAL")) => Severity::Medium,
            (Action::Detected, _) => Severity::Low,
        };
        let (rule_id, rule_name) = match (head, &self.login_signal) {
            (_, Some(sig)) => (sig.clone(), "Login protection".to_string()),
            (Some(h), None) => (format!("waf.crs.{}", h.id), h.msg.clone()),
            (None, None) => ("waf.request".to_string(), "WAF".to_string()),
        };
        let verb = match self.action {
            Action::Blocked => "blocked",
            Action::Detected => "detected",
            Action::LoginRefused => "refused",
        };
        let summary = format!(
            "{verb}: {} {} {} from {} — {} (score {})",
            self.method,
            self.host,
            truncate(&self.uri, 200),
            self.client_ip,
            head.map(|h| h.msg.as_str()).unwrap_or("login protection"),
            self.inbound_anomaly_score
        );
        let mut alert = Alert::new(Engine::Waf, rule_id, rule_name, severity, summary);
        alert.tenant = tenant.to_string();
        alert.sensor = sensor.to_string();
        alert.category = Some("initial-access".into());
        alert.src = Endpoint {
            ip: Some(self.client_ip),
            port: Some(self.client_port),
            ..Endpoint::default()
        };
        alert.dst = Endpoint {
            host: Some(self.host.clone()),
            url: Some(truncate(&self.uri, 900).to_string()),
            ..Endpoint::default()
        };
        alert.evidence = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        alert
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The JSON-lines audit log file, appended to and rotated by size ([`Rotation`]).
///
/// Lines are gathered in memory and written together: when [`FLUSH_BYTES`] have gathered, or
/// every [`FLUSH_EVERY`] from a thread of the log's own, or on [`AuditLog::flush`] and drop,
/// rather than with a system call and a file-system append for every request a rule matched
/// (on some sites nearly every request matches a warning rule: a numeric `Host`, a missing
/// `Accept`). A line waits at most [`FLUSH_EVERY`]: that much is lost if the process is
/// killed, as with nginx's buffered `access_log`.
pub struct AuditLog {
    shared: Arc<Shared>,
    flusher: Option<std::thread::JoinHandle<()>>,
}

/// Gathered lines are written once this many bytes have gathered.
pub const FLUSH_BYTES: usize = 64 * 1024;
/// The longest a line waits in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Lines kept while the file cannot be written (disk full); beyond this they are dropped,
/// and the log says how many.
const KEEP_BYTES: usize = 16 * 1024 * 1024;

/// When the audit log is rotated: once the file reaches `max_bytes` it becomes `FILE.1` (the
/// older `FILE.1`… move up one, and what would become `FILE.<keep + 1>` is deleted) and a new
/// file is started. Every request a rule matched takes a line, so without a bound the log
/// would fill a gateway's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// 0: never rotated.
    pub max_bytes: u64,
    /// Rotated files kept; 0: the full file is deleted.
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 100 * 1024 * 1024,
            keep: 5,
        }
    }
}

struct Shared {
    pending: Mutex<Pending>,
    stop: Mutex<bool>,
    wake: Condvar,
}

struct Pending {
    lines: Vec<u8>,
    file: std::fs::File,
    path: PathBuf,
    /// Bytes in the file.
    size: u64,
    rotation: Rotation,
    /// Lines dropped since the last successful write.
    dropped: u64,
    /// The last write failed: the serving threads leave the retries to the flusher, and
    /// the failure is logged once, not on every round.
    failing: bool,
}

impl Pending {
    /// Writes the gathered lines. What a failed write did write is not written again; what
    /// it did not stays gathered (up to [`KEEP_BYTES`]) for the next try.
    fn write_out(&mut self) -> std::io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == self.lines.len() {
                break Ok(());
            }
            match self.file.write(&self.lines[done..]) {
                Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.size += done as u64;
        self.lines.drain(..done);
        match result {
            Ok(()) => {
                if self.failing || self.dropped > 0 {
                    tracing::warn!(path = %self.path.display(), dropped_lines = self.dropped, "audit log writable again");
                    self.failing = false;
                    self.dropped = 0;
                }
                if self.rotation.max_bytes > 0 && self.size >= self.rotation.max_bytes {
                    if let Err(e) = self.rotate() {
                        tracing::warn!(path = %self.path.display(), error = %e, "audit log rotation failed; writing on");
                    }
                }
            }
            Err(ref e) => {
                if !self.failing {
                    tracing::warn!(path = %self.path.display(), error = %e, "audit log write failed; lines are kept and written when it can be written again");
                    self.failing = true;
                }
                if self.lines.len() > KEEP_BYTES {
                    self.dropped += self.lines.iter().filter(|&&b| b == b'\n').count() as u64;
                    self.lines.clear();
                }
            }
        }
        result
    }

    /// Moves the full file to `FILE.1` (and the older ones up) and starts a new one. Counts
    /// the file as empty even when this fails, so a failure is tried again only after
    /// another `max_bytes`. The file at `FILE` is opened again whether or not the move
    /// worked, so a log moved or deleted by someone else is not written on unseen.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.size = 0;
        let moved = self.move_out();
        self.file = append(&self.path)?;
        moved
    }

    fn move_out(&self) -> std::io::Result<()> {
        let numbered = |i: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{i}"));
            PathBuf::from(name)
        };
        if self.rotation.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        for i in (1..self.rotation.keep).rev() {
            match std::fs::rename(numbered(i), numbered(i + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl AuditLog {
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<AuditLog> {
        AuditLog::open_flushing_every(path, rotation, FLUSH_EVERY)
    }

    /// [`AuditLog::open`] with the flusher's round every `every` instead of [`FLUSH_EVERY`].
    fn open_flushing_every(
        path: &Path,
        rotation: Rotation,
        every: Duration,
    ) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(path)?;
        let size = file.metadata()?.len();
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::with_capacity(FLUSH_BYTES * 2),
                file,
                path: path.to_path_buf(),
                size,
                rotation,
                dropped: 0,
                failing: false,
            }),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let flusher = std::thread::Builder::new()
            .name("mamori-audit-log".into())
            .spawn(move || s.flush_until_stopped(every))?;
        Ok(AuditLog {
            shared,
            flusher: Some(flusher),
        })
    }

    /// Adds the record's line; written with the others gathered (see [`AuditLog`]).
    pub fn write(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut p = self.shared.lock();
        p.lines.extend_from_slice(&line);
        if p.lines.len() >= FLUSH_BYTES && !p.failing {
            // Failures are logged by `write_out`, once.
            let _ = p.write_out();
        }
        Ok(())
    }

    /// Writes every gathered line now.
    pub fn flush(&self) -> std::io::Result<()> {
        self.shared.lock().write_out()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flush_until_stopped(&self, every: Duration) {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        while !*stop {
            stop = self
                .wake
                .wait_timeout(stop, every)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            // Failures are logged by `write_out`, once.
            let _ = self.lock().write_out();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
        // Failures are logged by `write_out`.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            time: "2026-11-23T00:00:00Z".into(),
            id: "x".into(),
            site: "shop".into(),
            client_ip: "203.0.113.9".parse().unwrap(),
            client_port: 5555,
            method: "GET".into(),
            uri: "/?id=1' or 1=1--".into(),
            host: "shop.example".into(),
            protocol: "HTTP/1.1".into(),
            status: 403,
            action: Action::Blocked,
            mode: "On".into(),
            inbound_anomaly_score: 10,
            outbound_anomaly_score: 0,
            rules: vec![
                RuleHit {
                    id: 949110,
                    msg: "Inbound Anomaly Score Exceeded".into(),
                    data: String::new(),
                    severity: "CRITICAL".into(),
                    tags: vec![],
                    matched_var: String::new(),
                    matched_value: String::new(),
                },
                RuleHit {
                    id: 942100,
                    msg: "SQL Injection Attack Detected via libinjection".into(),
                    data: "Matched Data: s&1c".into(),
                    severity: "CRITICAL".into(),
                    tags: vec!["attack-sqli".into()],
                    matched_var: "ARGS:id".into(),
                    matched_value: "1' or 1=1--".into(),
                },
            ],
            login_signal: None,
        }
    }

    #[test]
    fn the_alert_names_the_attack_rule_not_the_score_rule() {
        let a = record().to_alert("acme", "waf");
        assert_eq!(a.rule_id, "waf.crs.942100");
        assert_eq!(a.severity, Severity::High);
        assert!(a.summary.contains("SQL Injection"), "{}", a.summary);
        assert_eq!(a.src.ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn audit_lines_are_json_with_rule_ids() {
        let dir = mamori_core::scratch::dir("audit");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path, Rotation::default()).unwrap();
        log.write(&record()).unwrap();
        log.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["rules"][1]["id"], 942100);
        assert_eq!(v["inbound_anomaly_score"], 10);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn lines(path: &Path) -> usize {
        std::fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn gathered_lines_reach_the_file_in_time_when_full_and_when_the_log_is_dropped() {
        let dir = mamori_core::scratch::dir("audit-flush");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path, Rotation::default()).unwrap();
        // On its own, within a few of the flusher's rounds.
        log.write(&record()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while lines(&path) < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the line never reached the file"
            );
            std::thread::sleep(FLUSH_EVERY / 4);
        }
        drop(log);
        assert_eq!(lines(&path), 1);

        // Once FLUSH_BYTES have gathered, the write that filled them writes them all (this
        // log's flusher waits an hour).
        let log =
            AuditLog::open_flushing_every(&path, Rotation::default(), Duration::from_secs(3600))
                .unwrap();
        let line = serde_json::to_vec(&record()).unwrap().len() + 1;
        let full = FLUSH_BYTES.div_ceil(line);
        for _ in 0..full - 1 {
            log.write(&record()).unwrap();
        }
        assert_eq!(lines(&path), 1);
        log.write(&record()).unwrap();
        assert!(log.shared.lock().lines.is_empty());
        assert_eq!(lines(&path), 1 + full);
        // What is still gathered when the log is dropped is written.
        log.write(&record()).unwrap();
        drop(log);
        assert_eq!(lines(&path), 2 + full);
        for l in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["id"], "x");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Opens the log, writes records with ids `n` (two digits), each flushed, and closes it.
    fn write_numbered(path: &Path, rotation: Rotation, ns: std::ops::RangeInclusive<u32>) {
        let log = AuditLog::open(path, rotation).unwrap();
        for n in ns {
            let mut r = record();
            r.id = format!("{n:02}");
            log.write(&r).unwrap();
            log.flush().unwrap();
        }
    }

    #[test]
    fn a_full_log_is_rotated_keeping_the_newest_files() {
        let dir = mamori_core::scratch::dir("audit-rotate");
        let path = dir.join("audit.jsonl");
        let numbered = |i: u32| dir.join(format!("audit.jsonl.{i}"));
        let ids = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
                .collect()
        };
        let mut two = record();
        two.id = "00".into();
        let line = serde_json::to_vec(&two).unwrap().len() as u64 + 1;
        for keep in [2, 0] {
            let rotation = Rotation {
                max_bytes: 2 * line + 1,
                keep,
            };
            write_numbered(&path, rotation, 1..=10);
            // Three lines fill a file: 1–3, 4–6 and 7–9 were rotated out.
            assert_eq!(ids(&path), ["\"10\""]);
            if keep == 2 {
                assert_eq!(ids(&numbered(1)), ["\"07\"", "\"08\"", "\"09\""]);
                assert_eq!(ids(&numbered(2)), ["\"04\"", "\"05\"", "\"06\""]);
                assert!(!numbered(3).exists());
                // A log opened on a file that is nearly full counts what is in it.
                write_numbered(&path, rotation, 11..=12);
                assert_eq!(ids(&numbered(1)), ["\"10\"", "\"11\"", "\"12\""]);
                assert_eq!(ids(&numbered(2)), ["\"07\"", "\"08\"", "\"09\""]);
                assert!(!path.exists() || ids(&path).is_empty());
                for i in 1..=2 {
                    std::fs::remove_file(numbered(i)).unwrap();
                }
                std::fs::remove_file(&path).unwrap();
            } else {
                assert!(!numbered(1).exists());
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn lines_that_cannot_be_written_are_kept_within_a_bound_and_written_when_they_can() {
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let no_rotation = Rotation {
            max_bytes: 0,
            keep: 0,
        };
        let log =
            AuditLog::open_flushing_every(full, no_rotation, Duration::from_secs(3600)).unwrap();
        log.write(&record()).unwrap();
        assert!(log.flush().is_err());
        {
            let p = log.shared.lock();
            assert!(p.failing);
            assert_eq!(p.lines.iter().filter(|&&b| b == b'\n').count(), 1);
        }
        // The serving path neither fails nor retries while the file fails; what is gathered
        // stays under the bound.
        let line = serde_json::to_vec(&record()).unwrap().len() + 1;
        for _ in 0..KEEP_BYTES / line + 10 {
            log.write(&record()).unwrap();
        }
        assert!(log.shared.lock().lines.len() > FLUSH_BYTES);
        assert!(log.flush().is_err());
        let kept = {
            let p = log.shared.lock();
            assert!(p.lines.len() <= KEEP_BYTES, "{}", p.lines.len());
            assert!(p.dropped > 0);
            p.lines.len()
        };
        // Once the file can be written (here: another file), the lines gathered since are.
        let dir = mamori_core::scratch::dir("audit-full");
        let path = dir.join("audit.jsonl");
        log.shared.lock().file = append(&path).unwrap();
        log.write(&record()).unwrap();
        log.flush().unwrap();
        assert!(!log.shared.lock().failing);
        assert_eq!(lines(&path), kept / line + 1);
        drop(log);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_log_deleted_by_someone_else_is_started_again_at_the_next_rotation() {
        let dir = mamori_core::scratch::dir("audit-gone");
        let path = dir.join("audit.jsonl");
        let mut two = record();
        two.id = "00".into();
        let line = serde_json::to_vec(&two).unwrap().len() as u64 + 1;
        let rotation = Rotation {
            max_bytes: 2 * line + 1,
            keep: 1,
        };
        let log = AuditLog::open(&path, rotation).unwrap();
        std::fs::remove_file(&path).unwrap();
        for n in 1..=4 {
            let mut r = record();
            r.id = format!("{n:02}");
            log.write(&r).unwrap();
            log.flush().unwrap();
        }
        drop(log);
        // Lines 1–3 went to the deleted file; the rotation after them found nothing to move
        // and started the file again.
        assert_eq!(lines(&path), 1);
        assert!(!dir.join("audit.jsonl.1").exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
