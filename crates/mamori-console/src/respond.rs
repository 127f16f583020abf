//! Taking and releasing response actions, shared by the console's pages, the API and the
//! `mamori respond` command: targets are checked here, the action is recorded in the store
//! (who, when, why, until when), and an action on an incident is also written into that
//! incident's timeline. The firewall is changed by the applier `mamori up` runs (and by the
//! CLI directly), which keeps nftables equal to the store's actions in force.

use crate::ConsoleError;
use mamori_core::incident::IncidentChange;
use mamori_core::Scope;
use mamori_store::{ActionKind, DynStore, NewAction, ResponseAction};
use time::OffsetDateTime;

/// Checks a target for its kind and answers its canonical text (`203.0.113.9/32`,
/// `c2.example`, `192.168.1.23`).
pub fn check_target(kind: ActionKind, target: &str) -> Result<String, ConsoleError> {
    let target = target.trim();
    let bad = |e: String| ConsoleError::BadRequest(format!("{} {target:?}: {e}", kind.as_str()));
    match kind {
        ActionKind::BlockIp => {
            let net = target
                .parse::<mamori_respond::IpNet>()
                .map_err(|e| bad(e.to_string()))?;
            // The gateway must keep talking to itself, and a block of a whole address space
            // is a typo, not a response.
            let own: [std::net::IpAddr; 4] = [
                std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::Ipv6Addr::LOCALHOST.into(),
                std::net::Ipv4Addr::UNSPECIFIED.into(),
                std::net::Ipv6Addr::UNSPECIFIED.into(),
            ];
            if own.iter().any(|a| net.contains(*a)) {
                return Err(bad("covers the gateway's own loopback addresses".into()));
            }
            let min = if net.is_ipv4() { 8 } else { 16 };
            if net.prefix_len() < min {
                return Err(bad(format!("wider than /{min}; block smaller networks")));
            }
            Ok(net.to_string())
        }
        ActionKind::BlockDomain => {
            mamori_respond::validate_domain(target).map_err(|e| bad(e.to_string()))
        }
        ActionKind::Isolate => target
            .parse::<std::net::IpAddr>()
            .map(|a| a.to_string())
            .map_err(|_| bad("not an IP address".into())),
    }
}

/// `90s`, `30m`, `12h`, `7d`, or seconds; empty for "until released".
pub fn parse_ttl(text: &str) -> Result<Option<time::Duration>, ConsoleError> {
    let text = text.trim();
    if text.is_empty() || text == "0" || text == "forever" {
        return Ok(None);
    }
    let bad = || {
        ConsoleError::BadRequest(format!(
            "ttl {text:?}: use e.g. 90s, 30m, 12h or 7d (at most 3650d)"
        ))
    };
    let (num, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs <= 0 || secs > 3650 * 86_400 {
        return Err(bad());
    }
    Ok(Some(time::Duration::seconds(secs)))
}

/// What a user asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub tenant: Option<String>,
    pub kind: ActionKind,
    pub target: String,
    pub ttl: Option<time::Duration>,
    pub reason: String,
    pub incident: Option<mamori_core::Ulid>,
}

/// Records the action for `actor` within `scope` and notes it on its incident.
///
/// A tenant's user acts for their own tenant only; the gateway-wide action (no tenant) is
/// the provider's.
pub async fn take(
    store: &DynStore,
    scope: &Scope,
    actor: &str,
    req: Request,
) -> Result<ResponseAction, ConsoleError> {
    let target = check_target(req.kind, &req.target)?;
    let tenant = match (scope, req.tenant) {
        (Scope::Tenant(t), Some(asked)) if *t != asked => return Err(ConsoleError::NotFound),
        (Scope::Tenant(t), _) => Some(t.clone()),
        (Scope::All, t) => t.filter(|t| !t.is_empty()),
    };
    if let Some(id) = req.incident {
        // The incident must be visible to the actor (and it fixes the tenant).
        if store.incident(scope, id).await?.is_none() {
            return Err(ConsoleError::NotFound);
        }
    }
    let action = store
        .create_action(NewAction {
            tenant,
            kind: req.kind,
            target,
            incident: req.incident,
            actor: actor.to_string(),
            reason: req.reason.trim().to_string(),
            expires_at: req.ttl.map(|t| OffsetDateTime::now_utc() + t),
        })
        .await?;
    if let Some(id) = action.incident {
        let note = format!("{}: {}", describe(&action), action.reason);
        store
            .update_incident(scope, id, IncidentChange::Note(note), actor)
            .await?;
    }
    tracing::info!(id = %action.id, kind = action.kind.as_str(), target = %action.target, %actor, "response action taken");
    Ok(action)
}

/// Releases an action and notes it on its incident.
pub async fn release(
    store: &DynStore,
    scope: &Scope,
    actor: &str,
    id: mamori_core::Ulid,
    reason: &str,
) -> Result<ResponseAction, ConsoleError> {
    let action = store
        .release_action(scope, id, actor, reason.trim())
        .await?;
    if let Some(incident) = action.incident {
        let note = format!("released {}: {}", describe(&action), reason.trim());
        store
            .update_incident(scope, incident, IncidentChange::Note(note), actor)
            .await?;
    }
    tracing::info!(id = %action.id, %actor, "response action released");
    Ok(action)
}

/// `block 203.0.113.9/32 until 2026-11-24T10:00:00Z` — for notes and the CLI.
pub fn describe(a: &ResponseAction) -> String {
    let verb = match a.kind {
        ActionKind::BlockIp => "block",
        ActionKind::BlockDomain => "block domain",
        ActionKind::Isolate => "isolate",
    };
    match a.expires_at {
        Some(e) => format!(
            "{verb} {} until {}",
            a.target,
            e.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        ),
        None => format!("{verb} {}", a.target),
    }
}

/// The firewall action for a stored one still in force at `now` (its TTL is what is left).
pub fn firewall_action(a: &ResponseAction, now: OffsetDateTime) -> Option<mamori_respond::Action> {
    let ttl = match a.expires_at {
        Some(e) if e <= now => return None,
        Some(e) => Some(std::time::Duration::from_secs(
            (e - now).whole_seconds().max(1) as u64,
        )),
        None => None,
    };
    Some(match a.kind {
        ActionKind::BlockIp => mamori_respond::Action::BlockNet {
            net: a.target.parse().ok()?,
            ttl,
        },
        ActionKind::BlockDomain => mamori_respond::Action::BlockDomain {
            domain: a.target.clone(),
            ttl,
        },
        ActionKind::Isolate => mamori_respond::Action::Isolate {
            host: a.target.parse().ok()?,
            ttl,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_and_made_canonical() {
        assert_eq!(
            check_target(ActionKind::BlockIp, " 203.0.113.9 ").unwrap(),
            "203.0.113.9"
        );
        assert_eq!(
            check_target(ActionKind::BlockIp, "198.51.100.0/24").unwrap(),
            "198.51.100.0/24"
        );
        assert!(check_target(ActionKind::BlockIp, "1.2.3.4; flush ruleset").is_err());
        assert!(check_target(ActionKind::BlockIp, "127.0.0.1").is_err());
        assert!(check_target(ActionKind::BlockIp, "0.0.0.0/0").is_err());
        assert!(check_target(ActionKind::BlockIp, "10.0.0.0/7").is_err());
        assert!(check_target(ActionKind::BlockIp, "::/0").is_err());
        assert_eq!(
            check_target(ActionKind::BlockDomain, "C2.Example.").unwrap(),
            "c2.example"
        );
        assert!(check_target(ActionKind::BlockDomain, "bad domain").is_err());
        assert_eq!(
            check_target(ActionKind::Isolate, "192.168.1.23").unwrap(),
            "192.168.1.23"
        );
        assert!(check_target(ActionKind::Isolate, "192.168.1.0/24").is_err());
    }

    #[test]
    fn ttls_read_as_people_write_them() {
        assert_eq!(parse_ttl("").unwrap(), None);
        assert_eq!(parse_ttl("90").unwrap(), Some(time::Duration::seconds(90)));
        assert_eq!(parse_ttl("30m").unwrap(), Some(time::Duration::minutes(30)));
        assert_eq!(parse_ttl("12h").unwrap(), Some(time::Duration::hours(12)));
        assert_eq!(parse_ttl("7d").unwrap(), Some(time::Duration::days(7)));
        for bad in ["-1", "1w", "h", "99999999999999999999d", "4000d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }
}
