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
