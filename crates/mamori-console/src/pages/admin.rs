//! Administration: tenants (provider admins), users and API tokens (provider and tenant
//! admins, each within their own scope).

use super::{empty, fmt_time, layout, tr, Ctx, Nav};
use crate::auth::{self, CsrfForm, Posted};
use crate::i18n;
use crate::{AppState, ConsoleError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use mamori_core::{Role, Scope};
use mamori_store::NewUser;
use maud::{html, Markup};
use serde::Deserialize;

fn flash(message: Option<(bool, Markup)>) -> Markup {
    html! {
        @if let Some((ok, m)) = message {
            div class={ "flash" @if !ok { " error" } } { (m) }
        }
    }
}

async fn tenants_page(
    state: &AppState,
    ctx: &Ctx,
    message: Option<(bool, Markup)>,
) -> Result<Response, ConsoleError> {
    if !ctx.user.is_provider() {
        return Err(ConsoleError::Forbidden);
    }
    let t = ctx.t();
    let lang = ctx.lang;
    let now = time::OffsetDateTime::now_utc();
    let tenants = state
        .store
        .tenant_health(&Scope::All, now - time::Duration::minutes(5))
        .await?;
    let body = html! {
        h1 { (t.tenants) }
        (flash(message))
        div.card {
            @if tenants.is_empty() { (empty(t.no_data)) } @else {
                div.table-wrap { table {
                    thead { tr {
                        th { (t.name) } th { (t.display_name) }
                        th { (tr(lang, "最新のイベント", "Last event")) }
                        th { (tr(lang, "未解決", "Open incidents")) }
                        th { (tr(lang, "センサー", "Sensors")) } th {}
                    } }
                    tbody { @for tn in &tenants {
                        tr {
                            td { code { (tn.tenant) } }
                            td { (tn.display_name) }
                            td.nowrap { (tn.last_event.map(fmt_time).unwrap_or_else(|| "—".into())) }
                            td { a href={ "/queue?tenant=" (tn.tenant) } { (tn.open_incidents) } }
                            td {
                                @if tn.sensors == 0 { "—" }
                                @else if tn.sensors_online == tn.sensors { span class="state state-resolved" { (tn.sensors_online) " / " (tn.sensors) } }
                                @else { span class="state state-new" { (tn.sensors_online) " / " (tn.sensors) } }
                            }
                            td { a href={ "/?tenant=" (tn.tenant) } { (t.overview) } " · " a href={ "/incidents?tenant=" (tn.tenant) } { (t.incidents) } }
                        }
                    } }
                } }
            }
        }
        div.card {
            h2 { (tr(lang, "新しいお客さまを登録", "Onboard a customer")) }
            p.hint { (tr(lang,
                "テナント、その管理者、センサー用トークンを一度に作ります。パスワードとトークンはこの後に一度だけ表示されます。",
                "Creates the tenant, its admin and a sensor token at once. The password and the token are shown once, next.")) }
            form.filters method="post" action="/tenants" {
                input type="hidden" name="csrf" value=(ctx.user.csrf);
                label { (t.name) input type="text" name="name" required pattern="[a-z0-9][a-z0-9-]{0,62}" placeholder="acme-trading"; }
                label { (t.display_name) input type="text" name="display_name" placeholder="株式会社アクメ商事"; }
                label { (tr(lang, "管理者のメール", "Admin's mail")) input type="email" name="admin_email" placeholder="it@acme.example.jp"; }
                label { input type="checkbox" name="sensor_token" value="on" checked; " " (tr(lang, "センサー用トークンを作る", "Create a sensor token")) }
                button type="submit" { (t.create) }
            }
        }
    };
    Ok(layout(ctx, t.tenants, Nav::Tenants, body))
}

pub async fn tenants(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    tenants_page(&state, &ctx, None).await
}

#[derive(Deserialize)]
pub struct TenantForm {
    csrf: String,
    name: String,
    #[serde(default)]
    display_name: String,
    /// Also create this tenant admin (with a generated password, shown once).
    #[serde(default)]
    admin_email: String,
    /// `on`: also create a token for the tenant's sensor (shown once).
    #[serde(default)]
    sensor_token: String,
}

impl CsrfForm for TenantForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn create_tenant(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { user, form }: Posted<TenantForm>,
) -> Result<Response, ConsoleError> {
    if !user.is_provider() {
        return Err(ConsoleError::Forbidden);
    }
    let name = form.name.trim().to_lowercase();
    let display = if form.display_name.trim().is_empty() {
        name.clone()
    } else {
        form.display_name.trim().to_string()
    };
    let admin = form.admin_email.trim().to_lowercase();
    if !admin.is_empty() && (!admin.contains('@') || admin.len() > 254) {
        return refused(&state, &ctx, format!("{admin:?} is not a mail address")).await;
    }
    if !admin.is_empty() && state.store.user_by_email(&admin).await?.is_some() {
        return refused(&state, &ctx, format!("user {admin} already exists")).await;
    }
    match state.store.create_tenant(&name, &display).await {
        Ok(_) => {}
        Err(e @ (mamori_store::Error::Invalid(_) | mamori_store::Error::Conflict(_))) => {
            return refused(&state, &ctx, e.to_string()).await;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(by = %user.user.email, tenant = %name, "tenant onboarded");
    let lang = ctx.lang;
    let mut shown = Vec::new();
    if !admin.is_empty() {
        let password = auth::random_hex(10);
        let pw = password.clone();
        let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw))
            .await
            .map_err(|e| ConsoleError::Internal(e.to_string()))??;
        state
            .store
            .create_user(NewUser {
                email: admin.clone(),
                password_hash: hash,
                role: Role::TenantAdmin,
                tenant: Some(name.clone()),
            })
            .await?;
        shown.push(html! { (tr(lang, "管理者", "Admin")) ": " code { (admin) } " / " (tr(lang, "パスワード", "password")) ": " code { (password) } });
    }
    if form.sensor_token == "on" {
        let secret = auth::new_token();
        state
            .store
            .create_token(&name, "sensor", &auth::sha256_hex(&secret))
            .await?;
        let console = state.config.mail_gateway.console_url.clone();
        shown.push(html! {
            (tr(lang, "センサー用トークン", "Sensor token")) ": " code { (secret) } br;
            (tr(lang, "お客さまのゲートウェイで:", "On the customer's gateway:")) " "
            code { "mamori up --role sensor --console " (console) " --token " (secret) }
        });
    }
    let message = html! {
        (tr(lang, "登録しました: ", "Onboarded: ")) code { (name) } " "
        @if !shown.is_empty() { "(" (tr(lang, "以下は一度だけ表示されます", "shown only this once")) ")" }
        @for m in shown { br; (m) }
    };
    tenants_page(&state, &ctx, Some((true, message))).await
}

/// The tenants page again with the reason a form was refused.
async fn refused(state: &AppState, ctx: &Ctx, reason: String) -> Result<Response, ConsoleError> {
    let page = tenants_page(state, ctx, Some((false, html! { (reason) }))).await?;
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

async fn users_page(
    state: &AppState,
    ctx: &Ctx,
    message: Option<(bool, Markup)>,
) -> Result<Response, ConsoleError> {
    ctx.user.require_admin()?;
    let t = ctx.t();
    let lang = ctx.lang;
    let scope = ctx.user.scope();
    let users = state.store.users(&scope).await?;
    let tenants = state.store.tenants(&scope).await?;
    let roles: Vec<Role> = if ctx.user.is_provider() {
        Role::ALL.to_vec()
    } else {
        vec![Role::TenantAdmin, Role::Viewer]
    };
    let body = html! {
        h1 { (t.users) }
        (flash(message))
        div.card {
            div.table-wrap { table {
                thead { tr { th { (t.email) } th { (t.role) } th { (t.tenant) } th.opt { (t.created) } } }
                tbody { @for u in &users {
                    tr {
                        td { (u.email) }
                        td { (i18n::role(lang, u.role)) }
                        td { (u.tenant.as_deref().unwrap_or("—")) }
                        td.opt.nowrap { (fmt_time(u.created_at)) }
                    }
                } }
            } }
        }
        div.card {
            h2 { (t.add_user) }
            form.filters method="post" action="/users" {
                input type="hidden" name="csrf" value=(ctx.user.csrf);
                label { (t.email) input type="email" name="email" required; }
                label { (t.role) select name="role" {
                    @for r in &roles { option value=(r.as_str()) selected[*r == Role::Viewer] { (i18n::role(lang, *r)) } }
                } }
                label { (t.tenant) select name="tenant" {
                    @if ctx.user.is_provider() { option value="" { "—" } }
                    @for tn in &tenants { option value=(tn.name) { (tn.display_name) } }
                } }
                label { (t.password) input type="password" name="password" required minlength="10" autocomplete="new-password"; }
                button type="submit" { (t.create) }
            }
        }
    };
    Ok(layout(ctx, t.users, Nav::Users, body))
}

pub async fn users(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    users_page(&state, &ctx, None).await
}

#[derive(Deserialize)]
pub struct UserForm {
    csrf: String,
    email: String,
    role: String,
    #[serde(default)]
    tenant: String,
    password: String,
}

impl CsrfForm for UserForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Checks that `creator` may create a user with this role in this tenant.
pub fn may_create(
    creator: &mamori_core::User,
    role: Role,
    tenant: Option<&str>,
) -> Result<(), String> {
    match creator.role {
        Role::ProviderAdmin => match (role, tenant) {
            (Role::ProviderAdmin, Some(_)) => Err("a provider admin belongs to no tenant".into()),
            (Role::ProviderAdmin, None) => Ok(()),
            (_, None) => Err("choose the user's tenant".into()),
            (_, Some(_)) => Ok(()),
        },
        Role::TenantAdmin => match (role, tenant) {
            (Role::ProviderAdmin, _) => {
                Err("only a provider admin can create provider admins".into())
            }
            (_, Some(t)) if Some(t) == creator.tenant.as_deref() => Ok(()),
            _ => Err("you can only add users to your own tenant".into()),
        },
        Role::Viewer => Err("viewers cannot add users".into()),
    }
}

pub async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { user, form }: Posted<UserForm>,
) -> Result<Response, ConsoleError> {
    user.require_admin()?;
    let role = form
        .role
        .parse::<Role>()
        .map_err(ConsoleError::BadRequest)?;
    let tenant = (!form.tenant.is_empty()).then(|| form.tenant.clone());
    let problem = if let Err(p) = may_create(&user.user, role, tenant.as_deref()) {
        Some(p)
    } else if form.password.chars().count() < 10 {
        Some("the password must have at least 10 characters".to_string())
    } else if !form.email.contains('@') && form.email.trim().len() < 3 {
        Some("the email address is not valid".to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        let page = users_page(&state, &ctx, Some((false, html! { (p) }))).await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let password = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))??;
    let created = state
        .store
        .create_user(NewUser {
            email: form.email.trim().to_lowercase(),
            password_hash: hash,
            role,
            tenant,
        })
        .await;
    match created {
        Ok(u) => {
            tracing::info!(by = %user.user.email, user = %u.email, role = %u.role, "user created");
            Ok(Redirect::to("/users").into_response())
        }
        Err(e @ (mamori_store::Error::Invalid(_) | mamori_store::Error::Conflict(_))) => {
            let page = users_page(&state, &ctx, Some((false, html! { (e.to_string()) }))).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn tokens_page(
    state: &AppState,
    ctx: &Ctx,
    message: Option<(bool, Markup)>,
) -> Result<Response, ConsoleError> {
    ctx.user.require_admin()?;
    let t = ctx.t();
    let scope = ctx.user.scope();
    let tokens = state.store.tokens(&scope).await?;
    let tenants = state.store.tenants(&scope).await?;
    let body = html! {
        h1 { (t.tokens) }
        (flash(message))
        div.card {
            @if tokens.is_empty() { (empty(t.no_data)) } @else {
                div.table-wrap { table {
                    thead { tr { th { (t.tenant) } th { (t.token_name) } th { (t.created) } th { (t.state) } th {} } }
                    tbody { @for tk in &tokens {
                        tr {
                            td { (tk.tenant) }
                            td { code { (tk.name) } }
                            td.nowrap { (fmt_time(tk.created_at)) }
                            td { @if tk.revoked_at.is_some() { (t.revoked) } @else { (t.active) } }
                            td {
                                @if tk.revoked_at.is_none() {
                                    form.inline method="post" action="/tokens/revoke" {
                                        input type="hidden" name="csrf" value=(ctx.user.csrf);
                                        input type="hidden" name="tenant" value=(tk.tenant);
                                        input type="hidden" name="name" value=(tk.name);
                                        button.danger type="submit" { (t.revoke) }
                                    }
                                }
                            }
                        }
                    } }
                } }
            }
        }
        div.card {
            h2 { (t.create_token) }
            form.filters method="post" action="/tokens" {
                input type="hidden" name="csrf" value=(ctx.user.csrf);
                label { (t.tenant) select name="tenant" { @for tn in &tenants { option value=(tn.name) { (tn.display_name) } } } }
                label { (t.token_name) input type="text" name="name" required placeholder="suricata-gw1"; }
                button type="submit" { (t.create) }
            }
        }
    };
    Ok(layout(ctx, t.tokens, Nav::Tokens, body))
}

pub async fn tokens(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ConsoleError> {
    tokens_page(&state, &ctx, None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    tenant: String,
    name: String,
}

impl CsrfForm for TokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    ctx: Ctx,
    Posted { user, form }: Posted<TokenForm>,
) -> Result<Response, ConsoleError> {
    user.require_admin()?;
    if !user.scope().allows(&form.tenant)
        || state
            .store
            .tenant(&user.scope(), &form.tenant)
            .await?
            .is_none()
    {
        return Err(ConsoleError::NotFound);
    }
    let name = form.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ConsoleError::BadRequest(
            "the token name must have 1 to 100 characters".into(),
        ));
    }
    let secret = auth::new_token();
    match state
        .store
        .create_token(&form.tenant, name, &auth::sha256_hex(&secret))
        .await
    {
        Ok(_) => {
            tracing::info!(by = %user.user.email, tenant = %form.tenant, token = %name, "token created");
            let t = ctx.t();
            tokens_page(
                &state,
                &ctx,
                Some((true, html! { (t.token_shown_once) br; code { (secret) } })),
            )
            .await
        }
        Err(e @ mamori_store::Error::Conflict(_)) => {
            let page = tokens_page(&state, &ctx, Some((false, html! { (e.to_string()) }))).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    tenant: String,
    name: String,
}

impl CsrfForm for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn revoke_token(
    State(state): State<AppState>,
    Posted { user, form }: Posted<RevokeForm>,
) -> Result<Response, ConsoleError> {
    user.require_admin()?;
    if !user.scope().allows(&form.tenant) {
        return Err(ConsoleError::NotFound);
    }
    if !state.store.revoke_token(&form.tenant, &form.name).await? {
        return Err(ConsoleError::NotFound);
    }
    tracing::info!(by = %user.user.email, tenant = %form.tenant, token = %form.name, "token revoked");
    Ok(Redirect::to("/tokens").into_response())
}
