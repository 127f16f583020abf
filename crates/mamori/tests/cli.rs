//! The command line as a user types it: init, tenants, users, tokens, config errors, and
//! events sent with `mamori send` to a running `mamori up`.

mod common;

use common::*;

#[test]
fn init_writes_a_config_that_up_accepts_and_refuses_to_overwrite() {
    let data = temp_dir("init");
    let (ok, _, _) = mamori(&data, &["init"], "");
    assert!(ok);
    let text = std::fs::read_to_string(data.join("mamori.toml")).unwrap();
    assert!(text.contains("retention_days = 400") && text.contains("# "));
    let (ok, _, err) = mamori(&data, &["init"], "");
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn a_config_error_names_file_line_and_key() {
    let data = temp_dir("badconfig");
    let path = data.join("bad.toml");
    std::fs::write(
        &path,
        "[console]\nlisten = \"127.0.0.1:9\"\nsession_hours = 0\n",
    )
    .unwrap();
    let (ok, _, err) = mamori(
        &data,
        &["--config", path.to_str().unwrap(), "tenant", "list"],
        "",
    );
    assert!(!ok);
    assert!(
        err.contains("bad.toml:3: console.session_hours: must be at least 1"),
        "{err}"
    );
}

#[test]
fn a_new_data_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let data = temp_dir("private").join("mamori-data");
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "mode {mode:o}");
}

#[test]
fn tenants_users_and_tokens_are_managed_from_the_cli() {
    let data = temp_dir("admin");
    assert!(
        mamori(
            &data,
            &["tenant", "add", "acme", "--display-name", "株式会社アクメ"],
            ""
        )
        .0
    );
    assert!(mamori(&data, &["tenant", "add", "beta"], "").0);
    let (ok, _, err) = mamori(&data, &["tenant", "add", "Bad Name"], "");
    assert!(!ok && err.contains("Bad Name"), "{err}");
    let (_, out, _) = mamori(&data, &["tenant", "list"], "");
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["acme", "beta"]);

    let (ok, _, err) = mamori(
        &data,
        &[
            "user",
            "add",
            "--email",
            "a@acme.example",
            "--role",
            "tenant_admin",
            "--tenant",
            "acme",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = mamori(
        &data,
        &[
            "user",
            "add",
            "--email",
            "v@acme.example",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        "a long password\n",
    );
    assert!(!ok && err.contains("--tenant is required"), "{err}");
    let (_, out, _) = mamori(&data, &["user", "list"], "");
    assert!(out.contains("a@acme.example\ttenant_admin\tacme"), "{out}");

    let (ok, out, _) = mamori(
        &data,
        &["token", "create", "--tenant", "acme", "--name", "gw1"],
        "",
    );
    assert!(ok);
    let token = out.lines().last().unwrap();
    assert!(token.starts_with("mmr_") && token.len() == 68, "{out}");
    let (ok, _, err) = mamori(&data, &["token", "create", "--tenant", "nope"], "");
    assert!(!ok && err.contains("no tenant nope"), "{err}");
    assert!(
        mamori(
            &data,
            &["token", "revoke", "--tenant", "acme", "--name", "gw1"],
            ""
        )
        .0
    );
    let (_, out, _) = mamori(&data, &["token", "list"], "");
    assert!(out.contains("acme\tgw1\trevoked"), "{out}");
}

#[test]
fn events_sent_with_mamori_send_reach_the_console() {
    let data = temp_dir("send");
    let server = up(&data, &[]);
    assert!(
        server.password.len() >= 16,
        "the first admin's password is printed once"
    );
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let (_, out, _) = mamori(&data, &["token", "create", "--tenant", "acme"], "");
    let token = out.lines().last().unwrap().to_string();

    let file = data.join("events.ndjson");
    let mut lines = Vec::new();
    for i in 0..25 {
        lines.push(format!(
            r#"{{"engine":"waf","rule_id":"waf.942100","rule_name":"SQLi","severity":"critical","summary":"SQL injection {i}","src":{{"ip":"198.51.100.{i}"}},"dst":{{"url":"https://shop.acme.example/cart"}}}}"#
        ));
    }
    lines.insert(10, "not json".into());
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, out, err) = mamori(
        &data,
        &[
            "send",
            file.to_str().unwrap(),
            "--url",
            &server.base,
            "--token",
            &token,
            "--batch",
            "7",
        ],
        "",
    );
    assert!(!ok, "a refused line makes send fail");
    assert!(
        out.contains("stored 25") && out.contains("refused 1"),
        "{out}"
    );
    assert!(
        err.contains("line 11:"),
        "the refused line is named by its line in the file: {err}"
    );

    let body = reqwest::blocking_get(&format!("{}/api/v1/alerts?limit=100", server.base), &token);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 25);
}

/// A tiny blocking GET with a bearer token, so this test needs no async runtime.
mod reqwest {
    pub fn blocking_get(url: &str, token: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            ::reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    }
}
