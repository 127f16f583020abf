//! # mamori-drill
//!
//! Targeted-mail training. A tenant imports its staff ([`targets`]), picks one of the
//! built-in attack mails ([`templates`]), and runs a [`campaign`]: the sender mails every
//! member of the chosen groups through the tenant's SMTP server, each with links unique to
//! them; the tracking [`router`](Drill::router) records who opens, clicks, types into the
//! fake login form (only *that* they did, never what) and reports the mail, and teaches on
//! the spot with an education page listing the signs they missed. [`Results`] count people,
//! not hits, per department and position; scanner hits are kept apart ([`bot`]).
//!
//! Inputs from outside: CSV uploads, HTTP requests to `/t/…` from anyone who has (or
//! guesses) a link, and report mails forwarded by staff. All are size-bounded and parsed
//! without panics; tokens are 192 random bits.
//!
//! Not here: the console pages and the `mamori drill` CLI (the binary), the SMTP listener
//! for the report mailbox (it calls [`Drill::handle_report_mail`]), and the monthly report
//! (it calls [`Drill::summary`]).
//!
//! The API is synchronous and short (SQLite through one mutex'd connection): call it from
//! async code with `spawn_blocking`. The router and the sender do so themselves.

pub mod bot;
pub mod campaign;
mod db;
mod error;
pub mod message;
mod pages;
mod report;
pub mod results;
mod sender;
pub mod targets;
pub mod templates;
mod tracking;

pub use bot::{BotRules, Cidr};
pub use campaign::{Action, Campaign, NewCampaign, SmtpProfile, State};
pub use error::DrillError;
pub use mamori_core::Scope;
pub use report::Reported;
pub use results::{CampaignSummary, Group, RepeatClicker, Results};
pub use targets::Target;
pub use templates::{Language, Template};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

pub(crate) fn to_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// How the drill behaves beyond each campaign's own settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What counts as a scanner rather than a person.
    pub bot: BotRules,
    /// The report mailbox, shown on the education page.
    pub report_address: Option<String>,
    /// The name the sender gives in EHLO.
    pub helo_name: String,
    /// Most mails one campaign sends per sender round.
    pub batch: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How often the sender looks for due mails.
    pub tick: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bot: BotRules::default(),
            report_address: None,
            helo_name: "mamori-drill.localhost".into(),
            batch: 200,
            trust_forwarded_for: false,
            tick: std::time::Duration::from_millis(500),
        }
    }
}

/// What [`Drill::import_csv`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub group_id: String,
    /// Distinct people added to or updated in the group.
    pub imported: usize,
    /// Refused rows: line number and why.
    pub errors: Vec<(usize, String)>,
}

/// The training engine over `DATA/drill.db`; cheap to clone.
#[derive(Clone)]
pub struct Drill {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    settings: RwLock<Settings>,
    wake: tokio::sync::Notify,
}

/// A recipient found by their token, with what the pages need.
#[derive(Debug, Clone)]
pub(crate) struct TokenOwner {
    pub recipient_id: i64,
    pub tenant: String,
    pub campaign_id: String,
    pub template_id: String,
    pub sent_at_ms: Option<i64>,
    pub email: String,
}

/// The kinds of tracked events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Open,
    Click,
    Submit,
    Report,
    AttachmentOpen,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Click => "click",
            Kind::Submit => "submit",
            Kind::Report => "report",
            Kind::AttachmentOpen => "attachment_open",
        }
    }
}

/// Where a tracked request came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
    pub method: String,
}

impl Drill {
    /// Opens `data_dir/drill.db` with default [`Settings`].
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Drill, DrillError> {
        Drill::open_with(data_dir, Settings::default())
    }

    /// Opens `data_dir/drill.db`, creating and migrating it as needed.
    pub fn open_with(data_dir: impl AsRef<Path>, settings: Settings) -> Result<Drill, DrillError> {
        let conn = db::open(data_dir.as_ref())?;
        Ok(Drill {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                settings: RwLock::new(settings),
                wake: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        match self.inner.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the settings (bot rules, report address…) for what follows.
    pub fn set_settings(&self, settings: Settings) {
        match self.inner.settings.write() {
            Ok(mut s) => *s = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.inner
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The built-in templates.
    pub fn templates() -> Vec<Template> {
        templates::builtin()
    }

    /// Imports a staff CSV into the tenant's group `group_name` (created if new; an
    /// existing group gains the people). People already known by address are updated.
    pub fn import_csv(
        &self,
        tenant: &str,
        bytes: &[u8],
        group_name: &str,
    ) -> Result<ImportOutcome, DrillError> {
        let parsed = targets::parse_csv(bytes)?;
        let group_name = group_name.trim();
        if group_name.is_empty() || tenant.is_empty() {
            return Err(DrillError::Invalid("empty tenant or group name".into()));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let group_id: String = match tx
            .query_row(
                "SELECT id FROM groups WHERE tenant = ?1 AND name = ?2",
                params![tenant, group_name],
                |r| r.get(0),
            )
            .optional()?
        {
            Some(id) => id,
            None => {
                let id = ulid::Ulid::new().to_string();
                tx.execute(
                    "INSERT INTO groups (id, tenant, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![id, tenant, group_name, now_ms()],
                )?;
                id
            }
        };
        for t in &parsed.targets {
            let target_id: i64 = tx.query_row(
                "INSERT INTO targets (tenant, email, name, department, position)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, email) DO UPDATE SET
                   name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END,
                   department = CASE WHEN excluded.department = '' THEN department ELSE excluded.department END,
                   position = CASE WHEN excluded.position = '' THEN position ELSE excluded.position END
                 RETURNING id",
                params![tenant, t.email, t.name, t.department, t.position],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO group_members (group_id, target_id) VALUES (?1, ?2)",
                params![group_id, target_id],
            )?;
        }
        tx.commit()?;
        tracing::info!(tenant, group = %group_id, imported = parsed.targets.len(), refused = parsed.errors.len(), "drill targets imported");
        Ok(ImportOutcome {
            group_id,
            imported: parsed.targets.len(),
            errors: parsed.errors,
        })
    }

    /// The tenant's groups with their sizes.
    pub fn groups(&self, tenant: &str) -> Result<Vec<Group>, DrillError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT g.id, g.name, COUNT(m.target_id) FROM groups g
             LEFT JOIN group_members m ON m.group_id = g.id
             WHERE g.tenant = ?1 GROUP BY g.id ORDER BY g.name",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(Group {
                id: r.get(0)?,
                name: r.get(1)?,
                members: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The members of one of the tenant's groups.
    pub fn members(&self, tenant: &str, group_id: &str) -> Result<Vec<Target>, DrillError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT t.name, t.email, t.department, t.position FROM targets t
             JOIN group_members m ON m.target_id = t.id JOIN groups g ON g.id = m.group_id
             WHERE g.id = ?1 AND g.tenant = ?2 AND t.tenant = ?2 ORDER BY t.email",
        )?;
        let rows = stmt.query_map([group_id, tenant], |r| {
            Ok(Target {
                name: r.get(0)?,
                email: r.get(1)?,
                department: r.get(2)?,
                position: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Creates a draft campaign with one recipient (and one token) per distinct member of
    /// the groups. Answers the campaign id.
    pub fn create_campaign(&self, tenant: &str, new: NewCampaign) -> Result<String, DrillError> {
        if templates::find(&new.template_id).is_none() {
            return Err(DrillError::NoTemplate(new.template_id));
        }
        if new.name.trim().is_empty() {
            return Err(DrillError::Invalid("empty name".into()));
        }
        targets::check_email(&new.from_addr)
            .map_err(|m| DrillError::Invalid(format!("from address: {m}")))?;
        let base = new.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://"))
            || base
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        {
            return Err(DrillError::Invalid(format!(
                "base URL {:?} must be http(s)://host[:port][/path]",
                new.base_url
            )));
        }
        if new.smtp.host.is_empty() || new.smtp.port == 0 {
            return Err(DrillError::Invalid("no SMTP host and port".into()));
        }
        if new.group_ids.is_empty() {
            return Err(DrillError::Invalid("no group".into()));
        }
        let smtp_json =
            serde_json::to_string(&new.smtp).map_err(|e| DrillError::Invalid(e.to_string()))?;
        let id = ulid::Ulid::new().to_string();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO campaigns (id, tenant, name, template_id, state, smtp_json, from_addr,
               from_name, base_url, start_at_ms, spread_hours, per_minute, complete_after_hours,
               created_at_ms)
             VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                id,
                tenant,
                new.name.trim(),
                new.template_id,
                smtp_json,
                new.from_addr,
                new.from_name,
                base,
                new.start_at.map(to_ms),
                new.spread_hours,
                new.per_minute,
                new.complete_after_hours,
                now_ms()
            ],
        )?;
        for group in &new.group_ids {
            let known: Option<String> = tx
                .query_row(
                    "SELECT id FROM groups WHERE id = ?1 AND tenant = ?2",
                    params![group, tenant],
                    |r| r.get(0),
                )
                .optional()?;
            if known.is_none() {
                return Err(DrillError::NoGroup(group.clone()));
            }
            tx.execute(
                "INSERT OR IGNORE INTO campaign_groups (campaign_id, group_id) VALUES (?1, ?2)",
                params![id, group],
            )?;
        }
        let members: Vec<(i64, String, String, String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT t.id, t.email, t.name, t.department, t.position FROM targets t
                 JOIN group_members m ON m.target_id = t.id
                 JOIN campaign_groups cg ON cg.group_id = m.group_id
                 WHERE cg.campaign_id = ?1 AND t.tenant = ?2",
            )?;
            let rows = stmt.query_map(params![id, tenant], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        if members.is_empty() {
            return Err(DrillError::Invalid("the groups have no members".into()));
        }
        {
            let mut insert = tx.prepare(
                "INSERT INTO recipients (tenant, campaign_id, target_id, email, name, department,
                   position, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (target_id, email, name, department, position) in &members {
                insert.execute(params![
                    tenant,
                    id,
                    target_id,
                    email,
                    name,
                    department,
                    position,
                    new_token()
                ])?;
            }
        }
        tx.commit()?;
        tracing::info!(tenant, campaign = %id, recipients = members.len(), "drill campaign created");
        Ok(id)
    }

    /// One campaign in the scope.
    pub fn campaign(&self, scope: &Scope, id: &str) -> Result<Campaign, DrillError> {
        let conn = self.conn();
        load_campaign(&conn, scope, id)
    }

    /// The campaigns in the scope, newest first.
    pub fn campaigns(&self, scope: &Scope) -> Result<Vec<Campaign>, DrillError> {
        let conn = self.conn();
        let ids: Vec<String> = {
            let mut stmt = conn.prepare(
                "SELECT id FROM campaigns WHERE (?1 IS NULL OR tenant = ?1)
                 ORDER BY created_at_ms DESC, id DESC",
            )?;
            let rows = stmt.query_map([scope.tenant()], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        ids.iter()
            .map(|id| load_campaign(&conn, scope, id))
            .collect()
    }

    /// Starts a draft: sets each mail's due time (shuffled, spread over the campaign's
    /// hours from its start time) and schedules it.
    pub fn start(&self, scope: &Scope, id: &str) -> Result<State, DrillError> {
        let state = self.act(scope, id, Action::Start, |tx, campaign| {
            let start = campaign.start_at.map_or_else(now_ms, to_ms);
            let mut ids: Vec<i64> = {
                let mut stmt = tx.prepare("SELECT id FROM recipients WHERE campaign_id = ?1")?;
                let rows = stmt.query_map([id], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            // A random order, so a department does not all get the mail at once and warn
            // each other.
            use rand::seq::SliceRandom;
            ids.shuffle(&mut rand::rng());
            let due = campaign::due_times(start, campaign.spread_hours, ids.len());
            let mut update = tx.prepare("UPDATE recipients SET due_at_ms = ?1 WHERE id = ?2")?;
            for (rid, at) in ids.iter().zip(due) {
                update.execute(params![at, rid])?;
            }
            tx.execute(
                "UPDATE campaigns SET started_at_ms = ?1 WHERE id = ?2",
                params![now_ms(), id],
            )?;
            Ok(())
        })?;
        self.inner.wake.notify_one();
        Ok(state)
    }

    /// Pauses sending (tracking goes on).
    pub fn pause(&self, scope: &Scope, id: &str) -> Result<State, DrillError> {
        self.act(scope, id, Action::Pause, |_, _| Ok(()))
    }

    /// Resumes a paused campaign.
    pub fn resume(&self, scope: &Scope, id: &str) -> Result<State, DrillError> {
        let state = self.act(scope, id, Action::Resume, |_, _| Ok(()))?;
        self.inner.wake.notify_one();
        Ok(state)
    }

    /// Ends a campaign: nothing more is sent; late clicks are still recorded.
    pub fn complete(&self, scope: &Scope, id: &str) -> Result<State, DrillError> {
        self.act(scope, id, Action::Complete, |tx, _| {
            tx.execute(
                "UPDATE campaigns SET completed_at_ms = ?1 WHERE id = ?2",
                params![now_ms(), id],
            )?;
            Ok(())
        })
    }

    fn act(
        &self,
        scope: &Scope,
        id: &str,
        action: Action,
        then: impl FnOnce(&rusqlite::Transaction<'_>, &Campaign) -> Result<(), DrillError>,
    ) -> Result<State, DrillError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let campaign = load_campaign(&tx, scope, id)?;
        let to = campaign::transition(campaign.state, action).ok_or(DrillError::Transition {
            id: id.to_string(),
            from: campaign.state.as_str(),
            action: action.as_str(),
        })?;
        tx.execute(
            "UPDATE campaigns SET state = ?1 WHERE id = ?2",
            params![to.as_str(), id],
        )?;
        then(&tx, &campaign)?;
        tx.commit()?;
        tracing::info!(
            campaign = id,
            action = action.as_str(),
            state = to.as_str(),
            "drill campaign state changed"
        );
        Ok(to)
    }

    /// Sets the tenant's own introduction on the education page (`None`: the default).
    pub fn set_education(
        &self,
        tenant: &str,
        language: Language,
        intro: Option<&str>,
    ) -> Result<(), DrillError> {
        let conn = self.conn();
        match intro {
            Some(text) => conn.execute(
                "INSERT INTO education (tenant, language, intro) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, language) DO UPDATE SET intro = excluded.intro",
                params![tenant, language.as_str(), text],
            )?,
            None => conn.execute(
                "DELETE FROM education WHERE tenant = ?1 AND language = ?2",
                params![tenant, language.as_str()],
            )?,
        };
        Ok(())
    }

    pub(crate) fn education_intro(
        &self,
        tenant: &str,
        language: Language,
    ) -> Result<Option<String>, DrillError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT intro FROM education WHERE tenant = ?1 AND language = ?2",
                params![tenant, language.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The recipient a token belongs to.
    pub(crate) fn owner(&self, token: &str) -> Result<Option<TokenOwner>, DrillError> {
        if !valid_token(token) {
            return Ok(None);
        }
        let conn = self.conn();
        owner(&conn, token)
    }

    /// Records one tracked event for `token`; `None` when the token is unknown.
    pub(crate) fn record(
        &self,
        token: &str,
        kind: Kind,
        origin: &Origin,
    ) -> Result<Option<TokenOwner>, DrillError> {
        if !valid_token(token) {
            return Ok(None);
        }
        let rules = self.settings().bot;
        let conn = self.conn();
        let Some(owner) = owner(&conn, token)? else {
            return Ok(None);
        };
        let now = now_ms();
        let bot = match kind {
            Kind::Report => None,
            _ => rules.classify(&bot::Hit {
                head: origin.method.eq_ignore_ascii_case("HEAD"),
                user_agent: origin.user_agent.as_deref(),
                ip: origin.ip,
                since_sent: owner
                    .sent_at_ms
                    .map(|s| std::time::Duration::from_millis(u64::try_from(now - s).unwrap_or(0))),
                timed: kind == Kind::Click,
            }),
        };
        let ua: Option<String> = origin
            .user_agent
            .as_deref()
            .map(|u| u.chars().take(512).collect());
        conn.prepare_cached(
            "INSERT INTO events (tenant, campaign_id, recipient_id, kind, at_ms, ip, user_agent,
               method, bot, bot_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            owner.tenant,
            owner.campaign_id,
            owner.recipient_id,
            kind.as_str(),
            now,
            origin.ip.map(|i| i.to_string()),
            ua,
            origin.method.chars().take(16).collect::<String>(),
            bot.is_some(),
            bot
        ])?;
        tracing::debug!(campaign = %owner.campaign_id, recipient = owner.recipient_id, kind = kind.as_str(), bot = ?bot, "drill event");
        Ok(Some(owner))
    }
}

fn owner(conn: &Connection, token: &str) -> Result<Option<TokenOwner>, DrillError> {
    Ok(conn
        .prepare_cached(
            "SELECT r.id, r.tenant, r.campaign_id, c.template_id, r.sent_at_ms, r.email
             FROM recipients r JOIN campaigns c ON c.id = r.campaign_id WHERE r.token = ?1",
        )?
        .query_row([token], |r| {
            Ok(TokenOwner {
                recipient_id: r.get(0)?,
                tenant: r.get(1)?,
                campaign_id: r.get(2)?,
                template_id: r.get(3)?,
                sent_at_ms: r.get(4)?,
                email: r.get(5)?,
            })
        })
        .optional()?)
}

pub(crate) fn load_campaign(
    conn: &Connection,
    scope: &Scope,
    id: &str,
) -> Result<Campaign, DrillError> {
    let row = conn
        .query_row(
            "SELECT id, tenant, name, template_id, state, smtp_json, from_addr, from_name,
               base_url, start_at_ms, spread_hours, per_minute, complete_after_hours,
               created_at_ms, started_at_ms, completed_at_ms,
               (SELECT COUNT(*) FROM recipients r WHERE r.campaign_id = c.id)
             FROM campaigns c WHERE id = ?1 AND (?2 IS NULL OR tenant = ?2)",
            params![id, scope.tenant()],
            |r| {
                let smtp: String = r.get(5)?;
                let state: String = r.get(4)?;
                Ok((
                    Campaign {
                        id: r.get(0)?,
                        tenant: r.get(1)?,
                        name: r.get(2)?,
                        template_id: r.get(3)?,
                        state: State::parse(&state).unwrap_or(State::Draft),
                        group_ids: Vec::new(),
                        from_addr: r.get(6)?,
                        from_name: r.get(7)?,
                        base_url: r.get(8)?,
                        smtp_host: String::new(),
                        smtp_port: 0,
                        start_at: r.get::<_, Option<i64>>(9)?.map(from_ms),
                        spread_hours: r.get(10)?,
                        per_minute: r.get(11)?,
                        complete_after_hours: r.get(12)?,
                        created_at: from_ms(r.get(13)?),
                        started_at: r.get::<_, Option<i64>>(14)?.map(from_ms),
                        completed_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
                        recipients: r.get(16)?,
                    },
                    smtp,
                ))
            },
        )
        .optional()?;
    let Some((mut campaign, smtp)) = row else {
        return Err(DrillError::NoCampaign(id.to_string()));
    };
    if let Ok(profile) = serde_json::from_str::<SmtpProfile>(&smtp) {
        campaign.smtp_host = profile.host;
        campaign.smtp_port = profile.port;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT group_id FROM campaign_groups WHERE campaign_id = ?1 ORDER BY group_id",
    )?;
    let groups = stmt.query_map([id], |r| r.get(0))?;
    campaign.group_ids = groups.collect::<Result<_, _>>()?;
    Ok(campaign)
}

/// 192 random bits from the thread's CSPRNG, base64url without padding (32 characters).
fn new_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The shape of a token, checked before any query.
pub(crate) fn valid_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(valid_token(&a) && valid_token(&b));
        assert!(!valid_token("../../etc/passwd"));
        assert!(!valid_token(""));
    }
}
