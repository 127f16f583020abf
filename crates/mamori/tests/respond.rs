//! Response actions end to end: `mamori respond` and the console's API put blocks and
//! isolations into a real nftables table (inside a network namespace the test creates) and
//! take them out again; `mamori up`'s applier follows the store within seconds. That the
//! table then stops and lets through real traffic is proved in crates/mamori-respond's
//! namespace tests. A sensor (`up --role sensor`) applies its tenant's actions taken at the
//! provider's console on its own gateway and reports back.

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// A network namespace deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// The namespace, or `None` (with the reason printed) where nft or root is missing outside CI.
fn netns(tag: &str) -> Option<Netns> {
    let name = format!("mr-{tag}-{}", std::process::id());
    // A namespace left by a killed earlier run of this test is removed first.
    let _ = Command::new("ip")
        .args(["netns", "delete", &name])
        .stderr(std::process::Stdio::null())
        .status();
    let ok = Command::new("ip")
        .args(["netns", "add", &name])
        .status()
        .is_ok_and(|s| s.success())
        && Command::new("ip")
            .args(["netns", "exec", &name, "nft", "list", "tables"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(Netns(name));
    }
    let _ = Command::new("ip").args(["netns", "delete", &name]).status();
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI must run the response tests: needs root, iproute2 and nftables");
    }
    eprintln!("skipped: needs root, iproute2 and nftables");
    None
}

/// The elements of one set of the `mamori` table, as nft prints them.
fn set(ns: &Netns, name: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "nft", "list", "set", "inet", "mamori", name,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn actions_from_the_cli_and_the_api_reach_nftables_and_are_released() {
    let Some(ns) = netns("resp") else { return };
    let data = temp_dir("respond");
    std::fs::write(
        data.join("mamori.toml"),
        format!(
            "[respond]\nnetns = \"{}\"\nallow = [\"192.168.1.1\"]\n",
            ns.0
        ),
    )
    .unwrap();
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);

    // The CLI records and applies at once.
    let (ok, out, err) = mamori(
        &data,
        &[
            "respond",
            "block",
            "--ip",
            "203.0.113.9",
            "--ttl",
            "1h",
            "--tenant",
            "acme",
            "--reason",
            "C2 beacon",
        ],
        "",
    );
    assert!(ok, "{err}");
    let block_id = out.trim().to_string();
    assert!(set(&ns, "block_host_v4").contains("203.0.113.9"));
    let (ok, _, err) = mamori(
        &data,
        &[
            "respond",
            "isolate",
            "--host",
            "192.168.1.23",
            "--reason",
            "Emotet",
        ],
        "",
    );
    assert!(ok, "{err}");
    assert!(set(&ns, "isolated_v4").contains("192.168.1.23"));
    // Bad targets are refused with the reason, and nothing is recorded.
    let (ok, _, err) = mamori(
        &data,
        &["respond", "block", "--ip", "1.2.3.4; flush ruleset"],
        "",
    );
    assert!(!ok && err.contains("block_ip"), "{err}");
    let (ok, _, err) = mamori(
        &data,
        &["respond", "isolate", "--host", "192.168.1.5", "--ttl", "1w"],
        "",
    );
    assert!(!ok && err.contains("ttl"), "{err}");
    let (_, list, _) = mamori(&data, &["respond", "list"], "");
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains("by=cli:") && list.contains("C2 beacon") && list.contains("[applied]"),
        "{list}"
    );

    let (ok, _, err) = mamori(
        &data,
        &["respond", "release", &block_id, "--reason", "cleaned"],
        "",
    );
    assert!(ok, "{err}");
    assert!(!set(&ns, "block_host_v4").contains("203.0.113.9"));
    let (_, all, _) = mamori(&data, &["respond", "list", "--all", "--json"], "");
    let released: serde_json::Value = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["id"] == block_id.as_str())
        .unwrap();
    assert_eq!(released["release_reason"], "cleaned");

    // The console's API takes an action; the applier of `mamori up` puts it in nftables.
    let server = up(&data, &[]);
    let (_, out, _) = mamori(&data, &["token", "create", "--tenant", "acme"], "");
    let token = out.lines().last().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| -> (u16, serde_json::Value) {
        rt.block_on(async {
            let r = client
                .post(format!("{}{path}", server.base))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json().await.unwrap_or_default())
        })
    };
    let (status, action) = post(
        "/api/v1/actions",
        serde_json::json!({"kind": "block_ip", "target": "198.51.100.0/24", "ttl": "12h", "reason": "scanner"}),
    );
    assert_eq!(status, 201, "{action}");
    assert_eq!(action["tenant"], "acme", "a token acts for its own tenant");
    wait_until("the applier to block 198.51.100.0/24", || {
        set(&ns, "block_net_v4").contains("198.51.100.0/24")
    });
    let id = action["id"].as_str().unwrap().to_string();
    let (status, _) = post(
        "/api/v1/actions",
        serde_json::json!({"tenant": "other", "kind": "block_ip", "target": "192.0.2.1"}),
    );
    assert_eq!(status, 404, "a token cannot act for another tenant");
    let (status, released) = post(
        &format!("/api/v1/actions/{id}/release"),
        serde_json::json!({"reason": "done"}),
    );
    assert_eq!(status, 200, "{released}");
    wait_until("the applier to lift the block", || {
        !set(&ns, "block_net_v4").contains("198.51.100.0/24")
    });
    // The isolation taken from the CLI is still in force under `mamori up`.
    assert!(set(&ns, "isolated_v4").contains("192.168.1.23"));
}

#[test]
fn a_sensor_applies_its_tenants_actions_from_the_console_and_reports_back() {
    let Some(ns) = netns("sens") else { return };
    // The provider's console applies nothing itself; the SME's gateway is the sensor.
    let console_data = temp_dir("respond-console");
    std::fs::write(
        console_data.join("mamori.toml"),
        "[respond]\nenabled = false\n",
    )
    .unwrap();
    assert!(mamori(&console_data, &["tenant", "add", "acme"], "").0);
    assert!(mamori(&console_data, &["tenant", "add", "other"], "").0);
    let console = up(&console_data, &[]);
    let sensor_token = token(&console_data, "acme");
    let other_token = token(&console_data, "other");
    let sensor_data = temp_dir("respond-sensor");
    std::fs::write(
        sensor_data.join("mamori.toml"),
        format!("[respond]\nnetns = \"{}\"\n", ns.0),
    )
    .unwrap();
    let _sensor = sensor_at(
        &sensor_data,
        &console.base,
        &sensor_token,
        &format!("127.0.0.1:{}", free_port()),
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let call =
        |token: &str, path: &str, body: Option<serde_json::Value>| -> (u16, serde_json::Value) {
            rt.block_on(async {
                let url = format!("{}{path}", console.base);
                let req = match body {
                    Some(b) => client.post(url).json(&b),
                    None => client.get(url),
                };
                let r = req.bearer_auth(token).send().await.unwrap();
                (r.status().as_u16(), r.json().await.unwrap_or_default())
            })
        };
    let status_of = |id: &str| -> String {
        let (_, list) = call(&sensor_token, "/api/v1/actions?show=all", None);
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .map(|a| a["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };

    let (code, block) = call(
        &sensor_token,
        "/api/v1/actions",
        Some(
            serde_json::json!({"kind": "block_ip", "target": "203.0.113.77", "ttl": "1h", "reason": "C2"}),
        ),
    );
    assert_eq!(code, 201, "{block}");
    let block_id = block["id"].as_str().unwrap().to_string();
    let (code, iso) = call(
        &sensor_token,
        "/api/v1/actions",
        Some(serde_json::json!({"kind": "isolate", "target": "192.168.1.50", "reason": "Emotet"})),
    );
    assert_eq!(code, 201, "{iso}");
    // Another tenant's action stays off this tenant's gateway.
    let (code, _) = call(
        &other_token,
        "/api/v1/actions",
        Some(serde_json::json!({"kind": "block_ip", "target": "198.51.100.99"})),
    );
    assert_eq!(code, 201);

    wait_until("the sensor to apply the console's block", || {
        set(&ns, "block_host_v4").contains("203.0.113.77")
    });
    wait_until("the sensor to apply the isolation", || {
        set(&ns, "isolated_v4").contains("192.168.1.50")
    });
    assert!(
        set(&ns, "allow_v4").contains("127.0.0.1"),
        "an isolated host may still reach the console"
    );
    assert!(!set(&ns, "block_host_v4").contains("198.51.100.99"));
    wait_until("the sensor to report the block applied", || {
        status_of(&block_id) == "applied"
    });

    // A status report is scoped like any change, and checked.
    let path = format!("/api/v1/actions/{block_id}/status");
    let (code, _) = call(
        &other_token,
        &path,
        Some(serde_json::json!({"status": "applied"})),
    );
    assert_eq!(
        code, 404,
        "another tenant's token cannot report on this action"
    );
    let (code, _) = call(
        &sensor_token,
        &path,
        Some(serde_json::json!({"status": "done\n"})),
    );
    assert_eq!(code, 400);

    let (code, _) = call(
        &sensor_token,
        &format!("/api/v1/actions/{block_id}/release"),
        Some(serde_json::json!({"reason": "cleaned"})),
    );
    assert_eq!(code, 200);
    wait_until("the sensor to lift the block", || {
        !set(&ns, "block_host_v4").contains("203.0.113.77")
    });
    assert!(set(&ns, "isolated_v4").contains("192.168.1.50"));
}
