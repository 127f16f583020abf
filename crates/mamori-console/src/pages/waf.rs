//! The website (WAF) page: per-site attack overview for the last 7 days, top rules, top
//! sources, login protection's actions, and the two switches a site owner needs — exclude a
//! rule for a path or parameter (a false positive) and DetectionOnly per site.
//!
//! The WAF belongs to one tenant (`waf.tenant`); only users whose scope covers it may change
//! its exclusions or modes. Both are files in the data directory that the running proxy
//! re-reads within seconds (`waf-exclusions.conf`, `waf-modes.json`).

use super::{empty, fmt_time, layout, tr, Ctx, Nav};
use crate::auth::{CsrfForm, Posted};
use crate::{AppState, ConsoleError};
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::Engine;
use mamori_store::AlertQuery;
use maud::html;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// First id of the exclusion rules the console writes (CRS leaves 1–99,999 and
/// 1,000,000–1,999,999 to local rules).
const FIRST_EXCLUSION_ID: u64 = 1_900_000;

fn waf_tenant(state: &AppState) -> String {
    state
        .config
        .waf
        .get("tenant")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// The exclusions file and the modes file the proxy reads.
fn files(state: &AppState) -> Option<(PathBuf, PathBuf)> {
    let configured = state
        .config
        .waf
        .get("exclusions")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    let exclusions = configured.or_else(|| {
        state
            .data_dir
            .as_ref()
            .map(|d| d.join("waf-exclusions.conf"))
    })?;
    let modes = exclusions.with_file_name("waf-modes.json");
    Some((exclusions, modes))
}

fn site_names(state: &AppState) -> Vec<String> {
    state
        .config
        .waf
        .get("site")
        .and_then(|v| v.as_array())
        .map(|sites| {
            sites
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.get("hosts")
                        .and_then(|h| h.as_array())
                        .and_then(|h| h.first())
                        .and_then(|h| h.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("site{i}"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn modes(state: &AppState) -> HashMap<String, String> {
    files(state)
        .and_then(|(_, m)| std::fs::read(m).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[derive(Default)]
struct SiteStats {
    blocked: u64,
    detected: u64,
    logins: u64,
}

pub async fn overview(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    let lang = ctx.lang;
    let scope = ctx.user.scope();
    let query = AlertQuery {
        engine: Some(Engine::Waf),
        from: Some(time::OffsetDateTime::now_utc() - time::Duration::days(7)),
        limit: 5_000,
        ..AlertQuery::default()
    };
    let alerts = state.store.alerts(&scope, &query).await?.items;
    let mut sites: BTreeMap<String, SiteStats> = BTreeMap::new();
    let mut rules: HashMap<String, (String, u64, String, String)> = HashMap::new();
    let mut sources: HashMap<String, u64> = HashMap::new();
    let mut logins = Vec::new();
    for a in &alerts {
        let ev = &a.alert.evidence;
        let site = ev
            .get("site")
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_string();
        let st = sites.entry(site).or_default();
        if a.alert.rule_id.starts_with("waf.login.") {
            st.logins += 1;
            if logins.len() < 20 {
                logins.push(a);
            }
        } else if ev.get("action").and_then(|v| v.as_str()) == Some("blocked") {
            st.blocked += 1;
        } else {
            st.detected += 1;
        }
        if let Some(ip) = a.alert.src.ip {
            *sources.entry(ip.to_string()).or_default() += 1;
        }
        if let Some(id) = a.alert.rule_id.strip_prefix("waf.crs.") {
            let path = ev
                .get("uri")
                .and_then(|u| u.as_str())
                .map(|u| u.split('?').next().unwrap_or("/").to_string())
                .unwrap_or_else(|| "/".into());
            let var = ev
                .get("rules")
                .and_then(|r| r.as_array())
                .and_then(|r| {
                    r.iter().find(|h| {
                        h.get("id")
                            .and_then(|i| i.as_u64())
                            .map(|i| i.to_string())
                            .as_deref()
                            == Some(id)
                    })
                })
                .and_then(|h| h.get("matched_var"))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let e = rules
                .entry(id.to_string())
                .or_insert_with(|| (a.alert.rule_name.clone(), 0, path, var));
            e.1 += 1;
        }
    }
    let mut top_rules: Vec<_> = rules.into_iter().collect();
    top_rules.sort_by_key(|r| std::cmp::Reverse(r.1 .1));
    top_rules.truncate(15);
    let mut top_sources: Vec<_> = sources.into_iter().collect();
    top_sources.sort_by_key(|s| std::cmp::Reverse(s.1));
    top_sources.truncate(15);
    let tenant = waf_tenant(&state);
    let can_change = ctx.user.is_admin() && !tenant.is_empty() && scope.allows(&tenant);
    let modes = modes(&state);
    let configured_sites = site_names(&state);
    let title = tr(lang, "ウェブサイトの防御 (WAF)", "Website protection (WAF)");
    let body = html! {
        h1 { (title) }
        p.muted { (tr(lang, "過去7日間", "Last 7 days")) }
        @if can_change && !configured_sites.is_empty() {
            div.card {
                h2 { (tr(lang, "サイトと動作モード", "Sites and mode")) }
                table { tbody { @for name in &configured_sites {
                    tr {
                        td { (name) }
                        td { (modes.get(name).map(String::as_str).unwrap_or(tr(lang, "設定ファイルのとおり", "as configured"))) }
                        td { form.inline method="post" action="/waf/mode" {
                            input type="hidden" name="csrf" value=(ctx.user.csrf);
                            input type="hidden" name="site" value=(name);
                            select name="mode" {
                                option value="On" { (tr(lang, "ブロックする (On)", "Block (On)")) }
                                option value="DetectionOnly" { (tr(lang, "検知のみ (DetectionOnly)", "Detect only (DetectionOnly)")) }
                                option value="Off" { "Off" }
                            }
                            button type="submit" { (tr(lang, "変更", "Change")) }
                        } }
                    }
                } } }
            }
        }
        div.card {
            h2 { (tr(lang, "サイト別", "By site")) }
            @if sites.is_empty() { (empty(tr(lang, "この期間に WAF のアラートはありません。", "No WAF alerts in this period."))) } @else {
                table {
                    thead { tr { th { (tr(lang, "サイト", "Site")) } th { (tr(lang, "ブロック", "Blocked")) } th { (tr(lang, "検知のみ", "Detected")) } th { (tr(lang, "ログイン防御", "Login protection")) } } }
                    tbody { @for (name, s) in &sites { tr { td { (name) } td { (s.blocked) } td { (s.detected) } td { (s.logins) } } } }
                }
            }
        }
        div.card {
            h2 { (tr(lang, "多く反応したルール", "Top rules")) }
            @if top_rules.is_empty() { (empty("—")) } @else {
                div.table-wrap { table {
                    thead { tr { th { "ID" } th { (tr(lang, "内容", "Rule")) } th { (tr(lang, "件数", "Count")) } @if can_change { th { (tr(lang, "誤検知として除外", "Exclude (false positive)")) } } } }
                    tbody { @for (id, (name, count, path, var)) in &top_rules { tr {
                        td { a href={ "/alerts?engine=waf&q=" (id) } { (id) } }
                        td { (name) }
                        td { (count) }
                        @if can_change { td { form.inline method="post" action="/waf/exclusions" {
                            input type="hidden" name="csrf" value=(ctx.user.csrf);
                            input type="hidden" name="rule" value=(id);
                            input type="text" name="path" value=(path) size="16" title=(tr(lang, "このパスで始まるURLだけ", "Only URLs starting with this path"));
                            input type="text" name="target" value=(var) size="14" placeholder="ARGS:q" title=(tr(lang, "この変数だけ (空欄: ルール全体)", "Only this variable (empty: the whole rule)"));
                            button type="submit" { (tr(lang, "除外", "Exclude")) }
                        } } }
                    } } }
                } }
            }
        }
        div.card {
            h2 { (tr(lang, "多かった送信元", "Top sources")) }
            @if top_sources.is_empty() { (empty("—")) } @else {
                table { tbody { @for (ip, n) in &top_sources { tr { td { a href={ "/alerts?engine=waf&q=" (ip) } { (ip) } } td { (n) } } } } }
            }
        }
        div.card {
            h2 { (tr(lang, "ログイン防御の対応", "Login protection")) }
            @if logins.is_empty() { (empty(tr(lang, "ログインへの攻撃は見つかっていません。", "No attacks on logins found."))) } @else {
                table { tbody { @for a in &logins { tr {
                    td.nowrap { (fmt_time(a.alert.time)) }
                    td { a href={ "/alerts/" (a.alert.id) } { (a.alert.summary) } }
                } } } }
            }
        }
    };
    Ok(layout(&ctx, title, Nav::Waf, body))
}

#[derive(Deserialize)]
pub struct ExclusionForm {
    csrf: String,
    rule: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    target: String,
}

impl CsrfForm for ExclusionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Whether a posted value is safe inside a SecLang rule (no quotes, no line breaks, no
/// separators that would end the action list).
fn plain(s: &str, extra: &[char]) -> bool {
    s.len() <= 200
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-~%".contains(c) || extra.contains(&c))
}

/// The rule the exclusion form writes.
pub fn exclusion_rule(id: u64, rule: &str, path: &str, target: &str) -> Result<String, String> {
    if rule.is_empty() || rule.len() > 9 || !rule.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("rule id {rule:?} is not a number"));
    }
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') || !plain(path, &[]) {
        return Err(format!("path {path:?}: use a plain path such as /search"));
    }
    if !target.is_empty() && !plain(target, &[':', '[', ']']) {
        return Err(format!("variable {target:?}: use a name such as ARGS:q"));
    }
    let ctl = if target.is_empty() {
        format!("ctl:ruleRemoveById={rule}")
    } else {
        format!("ctl:ruleRemoveTargetById={rule};{target}")
    };
    Ok(format!(
        "SecRule REQUEST_FILENAME \"@beginsWith {path}\" \"id:{id},phase:1,pass,nolog,{ctl}\"\n"
    ))
}

fn require_waf_admin(
    state: &AppState,
    user: &crate::auth::SessionUser,
) -> Result<(), ConsoleError> {
    user.require_admin()?;
    let tenant = waf_tenant(state);
    if tenant.is_empty() || !user.scope().allows(&tenant) {
        return Err(ConsoleError::Forbidden);
    }
    Ok(())
}

pub async fn add_exclusion(
    State(state): State<AppState>,
    Posted { user, form }: Posted<ExclusionForm>,
) -> Result<Response, ConsoleError> {
    require_waf_admin(&state, &user)?;
    let (path, _) = files(&state).ok_or(ConsoleError::NotFound)?;
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let id = FIRST_EXCLUSION_ID
        + existing
            .lines()
            .filter(|l| l.starts_with("SecRule"))
            .count() as u64;
    let rule = exclusion_rule(id, form.rule.trim(), form.path.trim(), form.target.trim())
        .map_err(ConsoleError::BadRequest)?;
    let stamp = format!(
        "# {} by {}: rule {} on {} {}\n",
        fmt_time(time::OffsetDateTime::now_utc()),
        user.user.email,
        form.rule.trim(),
        form.path.trim(),
        form.target.trim()
    );
    let text = format!("{existing}{stamp}{rule}");
    write_atomically(&path, text.as_bytes())?;
    tracing::info!(by = %user.user.email, rule = %form.rule, path = %form.path, target = %form.target, "WAF exclusion added");
    Ok(Redirect::to("/waf").into_response())
}

#[derive(Deserialize)]
pub struct ModeForm {
    csrf: String,
    site: String,
    mode: String,
}

impl CsrfForm for ModeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_mode(
    State(state): State<AppState>,
    Posted { user, form }: Posted<ModeForm>,
) -> Result<Response, ConsoleError> {
    require_waf_admin(&state, &user)?;
    if !matches!(form.mode.as_str(), "On" | "DetectionOnly" | "Off") {
        return Err(ConsoleError::BadRequest(format!("mode {:?}", form.mode)));
    }
    if !site_names(&state).contains(&form.site) {
        return Err(ConsoleError::NotFound);
    }
    let (_, path) = files(&state).ok_or(ConsoleError::NotFound)?;
    let mut modes = modes(&state);
    modes.insert(form.site.clone(), form.mode.clone());
    let json =
        serde_json::to_vec_pretty(&modes).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    write_atomically(&path, &json)?;
    tracing::info!(by = %user.user.email, site = %form.site, mode = %form.mode, "WAF mode changed");
    Ok(Redirect::to("/waf").into_response())
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), ConsoleError> {
    let tmp = path.with_extension("tmp");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    }
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ConsoleError::Internal(format!("writing {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_become_ctl_rules_and_refuse_injection() {
        assert_eq!(
            exclusion_rule(1_900_000, "942100", "/search", "ARGS:q").unwrap(),
            "SecRule REQUEST_FILENAME \"@beginsWith /search\" \"id:1900000,phase:1,pass,nolog,ctl:ruleRemoveTargetById=942100;ARGS:q\"\n"
        );
        assert!(exclusion_rule(1, "942100", "/", "")
            .unwrap()
            .contains("ctl:ruleRemoveById=942100"));
        assert!(exclusion_rule(1, "942100\"", "/", "").is_err());
        assert!(exclusion_rule(1, "1", "/a\"b", "").is_err());
        assert!(exclusion_rule(1, "1", "/a", "ARGS:q\",deny").is_err());
        assert!(exclusion_rule(1, "1", "/a\nSecRuleEngine Off", "").is_err());
    }
}
