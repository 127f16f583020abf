//! Response actions as an audit trail: who blocked or isolated what, when, why, until when,
//! and who released it. The firewall itself is applied elsewhere (`mamori-respond`, run by
//! the binary); the store is the list of record both the console and the CLI write, and the
//! applier keeps nftables equal to its active rows.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use ulid::Ulid;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Drop traffic from and to an address or network (`target` is a CIDR or an address).
    BlockIp,
    /// Stop DNS lookups of a domain (`target` is the domain).
    BlockDomain,
    /// Cut a host off from everything but the console and DNS (`target` is its address).
    Isolate,
}

impl ActionKind {
    pub const ALL: [ActionKind; 3] = [
        ActionKind::BlockIp,
        ActionKind::BlockDomain,
        ActionKind::Isolate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::BlockIp => "block_ip",
            ActionKind::BlockDomain => "block_domain",
            ActionKind::Isolate => "isolate",
        }
    }
}

impl std::str::FromStr for ActionKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<ActionKind> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "action {s:?}: use block_ip, block_domain or isolate"
                ))
            })
    }
}

/// A new action as the console or the CLI asks for it.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// The tenant it is taken for; `None` for the gateway itself (provider only).
    pub tenant: Option<String>,
    pub kind: ActionKind,
    /// Already validated by the caller (CIDR, domain or address).
    pub target: String,
    pub incident: Option<Ulid>,
    pub actor: String,
    pub reason: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// An action as recorded (and as the console's API sends it to sensors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseAction {
    pub id: Ulid,
    pub tenant: Option<String>,
    pub kind: ActionKind,
    pub target: String,
    pub incident: Option<Ulid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub created_by: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub released_at: Option<OffsetDateTime>,
    pub released_by: Option<String>,
    pub release_reason: Option<String>,
    /// The applier's last word: `pending`, `applied`, or `error: …`.
    pub status: String,
}

impl ResponseAction {
    /// In force: not released and not expired at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.released_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Filters for [`Store::actions`](crate::Store::actions).
#[derive(Debug, Clone, Default)]
pub struct ActionQuery {
    pub tenant: Option<String>,
    /// Only actions in force now.
    pub active_only: bool,
    pub incident: Option<Ulid>,
    /// At most this many, newest first (capped at [`crate::MAX_PAGE`]).
    pub limit: usize,
}

/// Bounds on what a user types.
pub const MAX_REASON: usize = 2000;
pub const MAX_TARGET: usize = 255;

pub(crate) fn check_new(a: &NewAction) -> Result<()> {
    if a.target.is_empty() || a.target.len() > MAX_TARGET {
        return Err(Error::Invalid(format!("action target {:?}", a.target)));
    }
    if a.reason.chars().count() > MAX_REASON {
        return Err(Error::Invalid(format!(
            "the reason is longer than {MAX_REASON} characters"
        )));
    }
    if a.actor.is_empty() {
        return Err(Error::Invalid(
            "an action needs the name of who takes it".into(),
        ));
    }
    Ok(())
}

/// Columns of an action row, in [`ResponseAction`]'s order.
pub(crate) const ACTION_COLUMNS: &str = "id, tenant, kind, target, incident_id, created_at_ms, \
     created_by, reason, expires_at_ms, released_at_ms, released_by, release_reason, status";

/// Builds an action from its row values (in [`ACTION_COLUMNS`] order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn from_row(
    id: String,
    tenant: Option<String>,
    kind: String,
    target: String,
    incident: Option<String>,
    created_at_ms: i64,
    created_by: String,
    reason: String,
    expires_at_ms: Option<i64>,
    released_at_ms: Option<i64>,
    released_by: Option<String>,
    release_reason: Option<String>,
    status: String,
) -> Result<ResponseAction> {
    Ok(ResponseAction {
        id: crate::records::parse_ulid(&id, "action")?,
        tenant,
        kind: kind
            .parse()
            .map_err(|_| Error::Corrupt(format!("action {id} kind {kind:?}")))?,
        target,
        incident: incident
            .map(|i| crate::records::parse_ulid(&i, "incident"))
            .transpose()?,
        created_at: mamori_core::from_unix_ms(created_at_ms),
        created_by,
        reason,
        expires_at: expires_at_ms.map(mamori_core::from_unix_ms),
        released_at: released_at_ms.map(mamori_core::from_unix_ms),
        released_by,
        release_reason,
        status,
    })
}

/// The list query for [`ActionQuery`] at `now_ms`.
pub(crate) fn action_list(
    dialect: crate::query::Dialect,
    tenant: Option<&str>,
    q: &ActionQuery,
    now_ms: i64,
) -> crate::query::Sql {
    use crate::query::{Builder, Param};
    let mut b = Builder::new(
        dialect,
        &format!("SELECT {ACTION_COLUMNS} FROM response_actions"),
    );
    if let Some(t) = tenant {
        b.and_eq("tenant", Param::Text(t.to_string()));
    }
    if q.active_only {
        let p = b.bind(Param::Int(now_ms));
        b.and(&format!(
            "released_at_ms IS NULL AND (expires_at_ms IS NULL OR expires_at_ms > {p})"
        ));
    }
    if let Some(i) = q.incident {
        b.and_eq("incident_id", Param::Text(i.to_string()));
    }
    b.finish("created_at_ms DESC, id DESC", crate::page_limit(q.limit))
}
