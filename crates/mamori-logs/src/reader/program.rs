//! Program-specific parsing on top of a syslog event: sshd, sudo and PAM (`Auth`), Postfix
//! and Dovecot authentication (`MailAuth`), iptables/nftables/UFW kernel lines (`Firewall`).
//!
//! A recognised message changes the event's `source` and adds `user`, `src_ip`, `src_port`,
//! `action` (`failure`, `success`, `invalid_user`, `disconnect`, ...), `auth_method` and the
//! like; an unrecognised one stays a plain `Syslog` event. Messages are matched by what the
//! program logs, so other programs' lines that merely mention "Failed password" do not count.

use crate::event::{Event, SourceKind};
use regex::Regex;
use std::sync::LazyLock;

fn re(pattern: &str) -> Regex {
    // The patterns are literals of this file, checked by the tests; an invalid one would be a
    // bug caught there, never an input-dependent failure.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

static SSH_FAILED: LazyLock<Regex> =
    LazyLock::new(|| re(r"^Failed (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)"));
static SSH_ACCEPTED: LazyLock<Regex> =
    LazyLock::new(|| re(r"^Accepted (\S+) for (.*?) from (\S+) port (\d+)"));
static SSH_INVALID: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[Ii]nvalid user (.*?) from (\S+)(?: port (\d+))?"));
static SSH_CLOSED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^(?:Connection (?:closed|reset) by|Disconnected from|Received disconnect from) (?:(?:authenticating |invalid )?user (.*?) )?(\S+) port (\d+)",
    )
});
static SSH_MAX: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^error: maximum authentication attempts exceeded for (invalid user )?(.*?) from (\S+) port (\d+)",
    )
});
static PAM_FAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"pam_unix\(([^:)]+):auth\): authentication failure;(.*)$"));
static PAM_SESSION: LazyLock<Regex> = LazyLock::new(|| {
    re(r"pam_unix\(([^:)]+):session\): session (opened|closed) for user ([^\s(]+)")
});
static POSTFIX_SASL_FAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"warning: ([^\[\s]*)\[([^\]]+)\]: SASL (\S+) authentication failed"));
static POSTFIX_SASL_OK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"client=([^\[\s]*)\[([^\]]+)\].*?sasl_method=([^,\s]+), sasl_username=([^,\s]+)")
});
static SASL_USER: LazyLock<Regex> = LazyLock::new(|| re(r"sasl_username=([^,\s]+)"));
static DOVECOT_LOGIN: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(?:(\w+)-login: )?(?:Info: )?(Aborted login|Disconnected|Login)(?: \(([^)]*)\))?: (.*)$")
});
static DOVECOT_AUTH: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^auth(?:-worker\(\d+\))?: (?:Info: |Debug: )?([\w-]+)\(([^,()]*),([^,()]*)[^)]*\): (.*)$")
});
static ATTEMPTS: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) attempts"));

/// Recognises the event's program and message; leaves it alone if nothing matches.
pub(crate) fn refine(ev: &mut Event) {
    let program = ev.get("program").unwrap_or_default().to_string();
    let Some(message) = ev.get("message").map(str::to_string) else {
        return;
    };
    let base = program.rsplit('/').next().unwrap_or(&program);
    let done = match base {
        "sshd" | "sshd-session" => sshd(ev, &message),
        "sudo" => sudo(ev, &message),
        _ => false,
    };
    if done {
        return;
    }
    if pam(ev, &message) {
        return;
    }
    if program.starts_with("postfix") && postfix(ev, &message) {
        return;
    }
    if program.starts_with("dovecot") || program.ends_with("-login") || program == "auth" {
        // `dovecot: imap-login: …` (syslog) and `imap-login: …` (dovecot.log) read the same.
        let msg = if program.starts_with("dovecot") {
            message.clone()
        } else {
            format!("{program}: {message}")
        };
        if dovecot(ev, &msg) {
            return;
        }
    }
    firewall(ev, &message);
}

fn set(ev: &mut Event, name: &str, value: &str) {
    if !value.is_empty() {
        ev.fields.push(name, value);
    }
}

fn sshd(ev: &mut Event, msg: &str) -> bool {
    let (action, method, invalid, user, ip, port) = if let Some(c) = SSH_FAILED.captures(msg) {
        let invalid = c.get(2).is_some();
        ("failure", c.get(1), invalid, c.get(3), c.get(4), c.get(5))
    } else if let Some(c) = SSH_ACCEPTED.captures(msg) {
        ("success", c.get(1), false, c.get(2), c.get(3), c.get(4))
    } else if let Some(c) = SSH_INVALID.captures(msg) {
        ("invalid_user", None, true, c.get(1), c.get(2), c.get(3))
    } else if let Some(c) = SSH_MAX.captures(msg) {
        let invalid = c.get(1).is_some();
        ("max_attempts", None, invalid, c.get(2), c.get(3), c.get(4))
    } else if let Some(c) = SSH_CLOSED.captures(msg) {
        ("disconnect", None, false, c.get(1), c.get(2), c.get(3))
    } else {
        return false;
    };
    ev.source = SourceKind::Auth;
    set(ev, "user", user.map_or("", |m| m.as_str()));
    set(ev, "src_ip", ip.map_or("", |m| m.as_str()));
    set(ev, "src_port", port.map_or("", |m| m.as_str()));
    set(ev, "action", action);
    set(ev, "auth_method", method.map_or("", |m| m.as_str()));
    if invalid {
        set(ev, "invalid_user", "true");
    }
    if msg.ends_with("[preauth]") {
        set(ev, "preauth", "true");
    }
    true
}

/// `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls`, with an optional
/// reason segment before `TTY=` (`3 incorrect password attempts`, `user NOT in sudoers`).
fn sudo(ev: &mut Event, msg: &str) -> bool {
    let Some((user, rest)) = msg.trim_start().split_once(" : ") else {
        return false;
    };
    if user.contains(' ') || !rest.contains("COMMAND=") {
        return false;
    }
    let mut reason = None;
    let mut kv = Vec::new();
    // COMMAND is last and may itself contain ` ; `.
    let (head, command) = match rest.split_once("COMMAND=") {
        Some((h, c)) => (h, Some(c)),
        None => (rest, None),
    };
    for seg in head.split(" ; ").map(str::trim).filter(|s| !s.is_empty()) {
        match seg.split_once('=') {
            Some((k, v)) if k.chars().all(|c| c.is_ascii_uppercase()) => kv.push((k, v)),
            _ => reason = Some(seg.trim_end_matches(" ;").trim_end_matches(';')),
        }
    }
    ev.source = SourceKind::Auth;
    set(ev, "user", user);
    for (k, v) in kv {
        let name = match k {
            "TTY" => "tty",
            "PWD" => "pwd",
            "USER" => "target_user",
            "GROUP" => "target_group",
            _ => continue,
        };
        set(ev, name, v);
    }
    if let Some(c) = command {
        set(ev, "command", c);
    }
    set(ev, "auth_method", "sudo");
    match reason {
        Some(r) => {
            set(ev, "action", "failure");
            set(ev, "reason", r);
        }
        None => set(ev, "action", "success"),
    }
    true
}

/// `pam_unix(sshd:auth): authentication failure; logname= uid=0 … rhost=1.2.3.4  user=root`
/// and session open/close lines, whatever program logs them.
fn pam(ev: &mut Event, msg: &str) -> bool {
    if let Some(c) = PAM_FAIL.captures(msg) {
        let service = c.get(1).map_or("", |m| m.as_str()).to_string();
        let kv = c.get(2).map_or("", |m| m.as_str()).to_string();
        ev.source = if matches!(service.as_str(), "dovecot" | "smtp" | "postfix") {
            SourceKind::MailAuth
        } else {
            SourceKind::Auth
        };
        let value = |key: &str| -> String {
            kv.split_whitespace()
                .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_default()
                .to_string()
        };
        set(ev, "user", &value("user"));
        set(ev, "src_ip", &value("rhost"));
        set(ev, "action", "failure");
        set(ev, "auth_method", "password");
        set(ev, "service", &service);
        set(ev, "tty", &value("tty"));
        return true;
    }
    if let Some(c) = PAM_SESSION.captures(msg) {
        let service = c.get(1).map_or("", |m| m.as_str()).to_string();
        let action = match c.get(2).map(|m| m.as_str()) {
            Some("opened") => "session_opened",
            _ => "session_closed",
        };
        let user = c.get(3).map_or("", |m| m.as_str()).to_string();
        ev.source = SourceKind::Auth;
        set(ev, "user", &user);
        set(ev, "action", action);
        set(ev, "service", &service);
        return true;
    }
    false
}

fn postfix(ev: &mut Event, msg: &str) -> bool {
    if let Some(c) = POSTFIX_SASL_FAIL.captures(msg) {
        let (host, ip, method) = (
            c.get(1).map_or("", |m| m.as_str()).to_string(),
            c.get(2).map_or("", |m| m.as_str()).to_string(),
            c.get(3).map_or("", |m| m.as_str()).to_string(),
        );
        ev.source = SourceKind::MailAuth;
        if let Some(u) = SASL_USER.captures(msg).and_then(|c| c.get(1)) {
            set(ev, "user", u.as_str());
        }
        set(ev, "src_ip", &ip);
        if host != "unknown" {
            set(ev, "src_host", &host);
        }
        set(ev, "action", "failure");
        set(ev, "auth_method", &method);
        return true;
    }
    if let Some(c) = POSTFIX_SASL_OK.captures(msg) {
        let get = |i| c.get(i).map_or("", |m| m.as_str()).to_string();
        let (host, ip, method, user) = (get(1), get(2), get(3), get(4));
        ev.source = SourceKind::MailAuth;
        set(ev, "user", &user);
        set(ev, "src_ip", &ip);
        if host != "unknown" {
            set(ev, "src_host", &host);
        }
        set(ev, "action", "success");
        set(ev, "auth_method", &method);
        return true;
    }
    false
}

/// Dovecot's `key=value, key=<value>` list after a login line.
fn dovecot_kv<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.split(", ").find_map(|part| {
        let v = part.trim().strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim_start_matches('<').trim_end_matches('>'))
    })
}

fn dovecot(ev: &mut Event, msg: &str) -> bool {
    if let Some(c) = DOVECOT_LOGIN.captures(msg) {
        let get = |i| c.get(i).map_or("", |m| m.as_str()).to_string();
        let (service, kind, reason, kv) = (get(1), get(2), get(3), get(4));
        let action = if kind == "Login" {
            "success"
        } else if reason.contains("auth failed") {
            "failure"
        } else {
            // A disconnect without a failed authentication says nothing about credentials.
            return false;
        };
        ev.source = SourceKind::MailAuth;
        set(ev, "user", dovecot_kv(&kv, "user").unwrap_or_default());
        set(ev, "src_ip", dovecot_kv(&kv, "rip").unwrap_or_default());
        set(ev, "dst_ip", dovecot_kv(&kv, "lip").unwrap_or_default());
        set(ev, "action", action);
        set(
            ev,
            "auth_method",
            dovecot_kv(&kv, "method").unwrap_or_default(),
        );
        set(ev, "service", &service);
        if let Some(n) = ATTEMPTS.captures(&reason).and_then(|c| c.get(1)) {
            set(ev, "attempts", n.as_str());
        }
        return true;
    }
    if let Some(c) = DOVECOT_AUTH.captures(msg) {
        let get = |i| c.get(i).map_or("", |m| m.as_str()).to_string();
        let (mech, user, ip, what) = (get(1), get(2), get(3), get(4).to_ascii_lowercase());
        let failed = what.contains("mismatch")
            || what.contains("unknown user")
            || what.contains("failed")
            || what.contains("authentication failure");
        if !failed {
            return false;
        }
        ev.source = SourceKind::MailAuth;
        set(ev, "user", &user);
        set(ev, "src_ip", &ip);
        set(ev, "action", "failure");
        set(ev, "auth_method", &mech);
        return true;
    }
    false
}

/// iptables/nftables LOG lines: `[prefix] IN=eth0 OUT= MAC=… SRC=… DST=… PROTO=TCP SPT=… DPT=…`.
fn firewall(ev: &mut Event, msg: &str) {
    let Some(in_at) = msg.find("IN=") else {
        return;
    };
    // `IN=` must start a word, and a firewall line always has SRC=.
    let before = msg.get(..in_at).unwrap_or_default();
    if in_at > 0 && !before.ends_with(' ') && !before.ends_with(']') {
        return;
    }
    if !msg.contains(" SRC=") {
        return;
    }
    let mut prefix = msg.get(..in_at).unwrap_or_default().trim();
    // Kernel uptime stamp `[12345.678901]` is not part of the rule's prefix.
    if let Some(rest) = prefix.strip_prefix('[') {
        if let Some((stamp, after)) = rest.split_once(']') {
            if stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                prefix = after.trim();
            }
        }
    }
    let body = msg.get(in_at..).unwrap_or_default();
    ev.source = SourceKind::Firewall;
    let mut flags = Vec::new();
    let mut out = Vec::new();
    for tok in body.split_whitespace() {
        match tok.split_once('=') {
            Some((k, v)) => {
                let name = match k {
                    "SRC" => "src_ip",
                    "DST" => "dst_ip",
                    "SPT" => "src_port",
                    "DPT" => "dst_port",
                    "PROTO" => "proto",
                    "IN" => "in_iface",
                    "OUT" => "out_iface",
                    "MAC" => "mac",
                    "LEN" => "len",
                    "TTL" => "ttl",
                    "ID" => "ip_id",
                    "WINDOW" => "window",
                    "TYPE" => "icmp_type",
                    "CODE" => "icmp_code",
                    _ => continue,
                };
                // The first of a key wins: ICMP errors quote the offending packet's header.
                if !v.is_empty() && !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, v.to_string()));
                }
            }
            None if tok.chars().all(|c| c.is_ascii_uppercase()) => flags.push(tok),
            None => {}
        }
    }
    for (k, v) in out {
        ev.fields.push(k, v);
    }
    if !flags.is_empty() {
        ev.fields.push("tcp_flags", flags.join(" "));
    }
    if let Some(action) = firewall_action(prefix) {
        ev.fields.push("action", action);
    }
    if !prefix.is_empty() {
        ev.fields.push("prefix", prefix);
    }
}

/// `[UFW BLOCK]`, `nft drop:`, `DROP-IN`, `iptables-accept` … → `drop`/`reject`/`accept`.
fn firewall_action(prefix: &str) -> Option<&'static str> {
    let p = prefix.to_ascii_lowercase();
    if ["block", "drop", "deny", "denied"]
        .iter()
        .any(|w| p.contains(w))
    {
        Some("drop")
    } else if p.contains("reject") {
        Some("reject")
    } else if ["allow", "accept", "pass"].iter().any(|w| p.contains(w)) {
        Some("accept")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Fields, Origin};

    fn ev(program: &str, message: &str) -> Event {
        let mut fields = Fields::default();
        fields.push("program", program);
        fields.push("message", message);
        let mut e = Event {
            timestamp: None,
            host: None,
            source: SourceKind::Syslog,
            channel: None,
            event_id: None,
            record_id: None,
            fields,
            raw: String::new(),
            origin: Origin::default(),
        };
        refine(&mut e);
        e
    }

    #[test]
    fn sshd_failed_password_for_invalid_user() {
        let e = ev(
            "sshd",
            "Failed password for invalid user admin from 203.0.113.9 port 52311 ssh2",
        );
        assert_eq!(e.source, SourceKind::Auth);
        assert_eq!(e.get("user"), Some("admin"));
        assert_eq!(e.get("src_ip"), Some("203.0.113.9"));
        assert_eq!(e.get("src_port"), Some("52311"));
        assert_eq!(e.get("action"), Some("failure"));
        assert_eq!(e.get("auth_method"), Some("password"));
        assert_eq!(e.get("invalid_user"), Some("true"));
    }

    #[test]
    fn sudo_failure_has_reason() {
        let e = ev(
            "sudo",
            "   alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow",
        );
        assert_eq!(e.get("user"), Some("alice"));
        assert_eq!(e.get("target_user"), Some("root"));
        assert_eq!(e.get("command"), Some("/bin/cat /etc/shadow"));
        assert_eq!(e.get("action"), Some("failure"));
        assert_eq!(e.get("reason"), Some("3 incorrect password attempts"));
    }

    #[test]
    fn other_programs_are_not_sshd() {
        let e = ev("myapp", "Failed password for root from 1.2.3.4 port 1 ssh2");
        assert_eq!(e.source, SourceKind::Syslog);
        assert_eq!(e.get("user"), None);
    }

    #[test]
    fn kernel_uptime_stamp_is_not_the_prefix() {
        let e = ev(
            "kernel",
            "[ 1234.567890] [UFW BLOCK] IN=eth0 OUT= MAC=aa SRC=198.51.100.7 DST=10.0.0.1 LEN=60 PROTO=TCP SPT=4444 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
        );
        assert_eq!(e.source, SourceKind::Firewall);
        assert_eq!(e.get("prefix"), Some("[UFW BLOCK]"));
        assert_eq!(e.get("action"), Some("drop"));
        assert_eq!(e.get("tcp_flags"), Some("SYN"));
        assert_eq!(e.get("dst_port"), Some("22"));
    }
}
