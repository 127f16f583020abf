//! The administrative commands: `init`, `tenant`, `user`, `token`. They work on the store
//! directly, so they need no running console.

use crate::cli::{Global, TenantCommand, TokenCommand, UserCommand};
use anyhow::{bail, Context, Result};
use mamori_console::auth;
use mamori_core::config::COMMENTED_DEFAULT;
use mamori_core::{Role, Scope};
use mamori_store::NewUser;
use std::io::BufRead;
use std::path::Path;

pub fn init(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists (use --force to replace it)",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, COMMENTED_DEFAULT)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

async fn store(g: &Global) -> Result<mamori_store::DynStore> {
    let (config, _) = crate::load_config(g)?;
    crate::open_store(&g.data, &config).await
}

pub async fn tenant(g: &Global, cmd: TenantCommand) -> Result<()> {
    let store = store(g).await?;
    match cmd {
        TenantCommand::Add { name, display_name } => {
            let display = display_name.unwrap_or_else(|| name.clone());
            store
                .create_tenant(&name, &display)
                .await
                .with_context(|| format!("adding tenant {name}"))?;
            eprintln!("tenant {name} added");
        }
        TenantCommand::List => {
            for t in store.tenants(&Scope::All).await? {
                println!("{}", t.name);
            }
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.chars().count() < 10 {
            bail!("the password must have at least 10 characters");
        }
        Ok((pw, false))
    } else {
        Ok((auth::random_hex(12), true))
    }
}

pub async fn user(g: &Global, cmd: UserCommand) -> Result<()> {
    let store = store(g).await?;
    match cmd {
        UserCommand::Add {
            email,
            role,
            tenant,
            password_stdin,
        } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            match (role, &tenant) {
                (Role::ProviderAdmin, Some(_)) => {
                    bail!("a provider_admin belongs to no tenant; drop --tenant")
                }
                (Role::TenantAdmin | Role::Viewer, None) => {
                    bail!("--tenant is required for role {role}")
                }
                _ => {}
            }
            let (password, generated) = read_password(password_stdin)?;
            let hash = auth::hash_password(&password)?;
            let user = store
                .create_user(NewUser {
                    email: email.trim().to_lowercase(),
                    password_hash: hash,
                    role,
                    tenant,
                })
                .await
                .with_context(|| format!("adding user {email}"))?;
            eprintln!("user {} added ({})", user.email, user.role);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            for u in store.users(&Scope::All).await? {
                println!(
                    "{}\t{}\t{}",
                    u.email,
                    u.role,
                    u.tenant.as_deref().unwrap_or("-")
                );
            }
        }
        UserCommand::Passwd {
            email,
            password_stdin,
        } => {
            let user = store
                .user_by_email(&email.trim().to_lowercase())
                .await?
                .with_context(|| format!("no user {email}"))?;
            let (password, generated) = read_password(password_stdin)?;
            store
                .set_password(user.id, &auth::hash_password(&password)?)
                .await?;
            eprintln!("password of {} changed", user.email);
            if generated {
                println!("password: {password}");
            }
        }
    }
    Ok(())
}

pub async fn token(g: &Global, cmd: TokenCommand) -> Result<()> {
    let store = store(g).await?;
    match cmd {
        TokenCommand::Create { tenant, name } => {
            if store.tenant(&Scope::All, &tenant).await?.is_none() {
                bail!("no tenant {tenant} (mamori tenant add {tenant})");
            }
            let name = name.unwrap_or_else(|| {
                format!("token-{}", ulid::Ulid::new().to_string().to_lowercase())
            });
            let secret = auth::new_token();
            store
                .create_token(&tenant, &name, &auth::sha256_hex(&secret))
                .await
                .with_context(|| format!("creating token {name} for {tenant}"))?;
            eprintln!("token {name} created for tenant {tenant}; it is shown only this once:");
            println!("{secret}");
        }
        TokenCommand::Revoke { tenant, name } => {
            if !store.revoke_token(&tenant, &name).await? {
                bail!("tenant {tenant} has no active token named {name}");
            }
            eprintln!("token {name} of {tenant} revoked");
        }
        TokenCommand::List => {
            for t in store.tokens(&Scope::All).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}", t.tenant, t.name, state);
            }
        }
    }
    Ok(())
}
