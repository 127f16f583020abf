//! Sensors as the console last heard from them: each forwarding request of `mamori up --role
//! sensor` names the sensor and says how much it still holds, so the provider sees which
//! gateways are online and how far behind they are.

use serde::Serialize;
use time::OffsetDateTime;

/// One sensor's last contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensorContact {
    pub tenant: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub last_contact: OffsetDateTime,
    /// Events still in the sensor's spool after this request.
    pub backlog: i64,
    /// Time of the oldest event not yet delivered (the lag is now minus this).
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_unsent: Option<OffsetDateTime>,
    /// The address the request came from.
    pub address: String,
}

impl SensorContact {
    /// How far behind the sensor was at its last contact (zero with nothing waiting).
    pub fn lag(&self) -> time::Duration {
        match self.oldest_unsent {
            Some(t) if self.backlog > 0 => (self.last_contact - t).max(time::Duration::ZERO),
            _ => time::Duration::ZERO,
        }
    }
}

/// Longest sensor name kept.
pub const MAX_SENSOR_NAME: usize = 128;

/// One tenant at a glance, for the provider's tenant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantHealth {
    pub tenant: String,
    pub display_name: String,
    /// Time of the newest alert stored for the tenant.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_event: Option<OffsetDateTime>,
    pub open_incidents: i64,
    pub sensors: i64,
    /// Sensors heard from since the `online_since` the caller gave.
    pub sensors_online: i64,
}

/// The health query, the same text on both backends (`$1`/`?1` is `online_since`, `$2`/`?2`
/// the one tenant or NULL). `alerts_collate` names the collation of `alerts.tenant` where it
/// differs from `tenants.name` (PostgreSQL: ` COLLATE "C"`), so the two can be compared and
/// the alerts' index used.
pub(crate) fn health_sql(p1: &str, p2: &str, alerts_collate: &str) -> String {
    format!(
        "SELECT t.name, t.display_name,
            (SELECT a.time_ms FROM alerts a WHERE a.tenant = t.name{alerts_collate}
                ORDER BY a.time_ms DESC LIMIT 1),
            COALESCE((SELECT o.count FROM open_incidents o WHERE o.tenant = t.name), 0),
            (SELECT COUNT(*) FROM sensors s WHERE s.tenant = t.name),
            (SELECT COUNT(*) FROM sensors s WHERE s.tenant = t.name AND s.last_contact_ms >= {p1})
         FROM tenants t WHERE ({p2} IS NULL OR t.name = {p2}) ORDER BY t.name LIMIT 10000"
    )
}
