//! `mamori logs hunt --tenant T --events` keeps the events it reads, once, and the console
//! of `mamori up` finds them by field.

mod common;

use common::*;

fn auth_log(path: &std::path::Path) {
    let mut lines = Vec::new();
    for i in 0..30 {
        lines.push(format!(
            "Nov 23 10:{i:02}:01 web01 sshd[{}]: Failed password for root from 203.0.113.{} port {} ssh2",
            1230 + i,
            i % 3,
            50000 + i
        ));
    }
    lines.push(
        "Nov 23 11:00:00 web01 sshd[999]: Accepted password for yamada from 192.0.2.10 port 50000 ssh2"
            .into(),
    );
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn stored(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("stored ")?
                .strip_suffix(" new events for search")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event count in: {stderr}"))
}

#[test]
fn hunted_events_are_stored_once_and_searched_by_field_from_the_console() {
    let data = temp_dir("logs-events");
    let log = data.join("auth.log");
    auth_log(&log);
    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let hunt = [
        "logs",
        "hunt",
        log.to_str().unwrap(),
        "--tenant",
        "acme",
        "--events",
        "--quiet",
    ];
    let (ok, _, err) = mamori(&data, &hunt, "");
    assert!(ok, "{err}");
    assert_eq!(stored(&err), 31);
    // The same file again stores nothing new.
    let (ok, _, err) = mamori(&data, &hunt, "");
    assert!(ok, "{err}");
    assert_eq!(stored(&err), 0);
    // --events needs a tenant, and the tenant must exist.
    let (ok, _, _) = mamori(
        &data,
        &["logs", "hunt", log.to_str().unwrap(), "--events"],
        "",
    );
    assert!(!ok);
    let (ok, _, err) = mamori(
        &data,
        &[
            "logs",
            "hunt",
            log.to_str().unwrap(),
            "--tenant",
            "nobody",
            "--events",
        ],
        "",
    );
    assert!(!ok && err.contains("nobody"), "{err}");

    let server = up(&data, &[]);
    let (_, out, _) = mamori(&data, &["token", "create", "--tenant", "acme"], "");
    let token = out.lines().last().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let search = |q: &str| -> serde_json::Value {
        rt.block_on(async {
            reqwest::Client::new()
                .get(format!("{}/api/v1/log-events", server.base))
                .query(&[("q", q), ("limit", "100")])
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        })
    };
    let v = search("program=sshd action=failure src_ip=203.0.113.1");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 10, "{v}");
    assert!(items.iter().all(|e| e["host"] == "web01"), "{v}");
    let v = search("user=YAMADA Accepted");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["items"][0]["raw"]
        .as_str()
        .unwrap()
        .contains("192.0.2.10"));
}
