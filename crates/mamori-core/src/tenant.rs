//! Tenants (the SMEs a provider serves), console users, their roles, and the [`Scope`]
//! that limits every query to the tenants a user or token may see.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Short stable name (`acme-trading`), used in URLs, the CLI and alerts.
    pub name: String,
    /// The company's name as people write it (`株式会社アクメ商事`).
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The service provider: sees and manages every tenant.
    ProviderAdmin,
    /// The SME's administrator: works incidents and manages users of their tenant.
    TenantAdmin,
    /// Reads everything of their tenant, changes nothing.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::ProviderAdmin, Role::TenantAdmin, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProviderAdmin => "provider_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn can_write(self) -> bool {
        !matches!(self, Role::Viewer)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?} (expected provider_admin, tenant_admin or viewer)")
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// `None` only for provider admins.
    pub tenant: Option<String>,
    #[serde(skip)]
    pub password_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn scope(&self) -> Scope {
        match (self.role, &self.tenant) {
            (Role::ProviderAdmin, _) => Scope::All,
            (_, Some(t)) => Scope::Tenant(t.clone()),
            (_, None) => Scope::Tenant(String::new()),
        }
    }
}

/// The tenants a query may touch. Every store query takes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Tenant(String),
}

impl Scope {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => t == tenant,
        }
    }

    /// The tenant to filter on, or `None` for all tenants.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t),
        }
    }
}

/// An ingest/API token as stored: only a hash of the secret is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: i64,
    pub tenant: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}
