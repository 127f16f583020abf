//! `mamori drill` as the interface promises: import staff, create and start a campaign that
//! `mamori up` sends over real SMTP to a sink, follow a tracking link served by `mamori up`,
//! and read the results as JSON.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn a_campaign_goes_out_and_its_results_count_people() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink, smtp_port) = rt.block_on(Sink::start());
    let data = temp_dir("drill");

    let (ok, out, _) = mamori(&data, &["drill", "templates"], "");
    assert!(ok);
    let ids: Vec<&str> = out.lines().filter_map(|l| l.split('\t').next()).collect();
    assert!(
        ids.len() >= 12 && ids.contains(&"invoice-ja") && ids.contains(&"invoice-en"),
        "{out}"
    );

    assert!(mamori(&data, &["tenant", "add", "acme"], "").0);
    let csv = data.join("staff.csv");
    std::fs::write(
        &csv,
        "氏名,メールアドレス,部署,役職\n山田 太郎,yamada@acme.example,営業部,課長\n佐藤 花子,sato@acme.example,経理部,一般\n鈴木 一郎,suzuki@acme.example,営業部,一般\n",
    )
    .unwrap();
    let (ok, out, err) = mamori(
        &data,
        &["drill", "import", "--tenant", "acme", csv.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    let group = out.trim().to_string();
    assert!(!group.is_empty());

    let server = up(&data, &[]);
    let smtp = format!("127.0.0.1:{smtp_port}");
    let (ok, out, err) = mamori(
        &data,
        &[
            "drill",
            "campaign",
            "create",
            "--tenant",
            "acme",
            "--name",
            "10月 請求書訓練",
            "--template",
            "invoice-ja",
            "--group",
            &group,
            "--smtp",
            &smtp,
            "--from",
            "billing@invoice-notice.example",
            "--base-url",
            &server.base,
        ],
        "",
    );
    assert!(ok, "{err}");
    let campaign = out.trim().to_string();
    let (ok, _, err) = mamori(&data, &["drill", "campaign", "start", &campaign], "");
    assert!(ok, "{err}");
    wait_until("the three training mails", 60, || sink.len() == 3);

    // A person clicks (after the first seconds, when mail scanners click), a scanner probes.
    let mail = sink.0.lock().unwrap()[0].clone();
    let parsed = mail_parser::MessageParser::default().parse(&mail).unwrap();
    let html = parsed.body_html(0).unwrap().into_owned();
    let at = html.find("/t/c/").expect("a tracking link");
    let token: String = html[at + 5..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let link = format!("{}/t/c/{token}", server.base);
    std::thread::sleep(Duration::from_secs(11));
    rt.block_on(async {
        let c = reqwest::Client::new();
        let r = c
            .get(&link)
            .header("user-agent", "Mozilla/5.0 (Windows NT 10.0) Chrome/130")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.text().await.unwrap().contains("訓練"),
            "the education page"
        );
        c.head(&link).send().await.unwrap();
    });

    let (ok, out, err) = mamori(&data, &["drill", "results", &campaign, "--json"], "");
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sent"], 3, "{v}");
    assert_eq!(v["clicked"], 1, "{v}");
    assert_eq!(v["reported"], 0, "{v}");
    for key in ["opened", "submitted", "bot_clicks"] {
        assert!(v.get(key).is_some(), "{key}: {v}");
    }
    let sales = v["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["department"] == "営業部")
        .unwrap()
        .clone();
    assert_eq!(sales["sent"], 2, "{v}");
    for key in [
        "department",
        "sent",
        "opened",
        "clicked",
        "submitted",
        "reported",
    ] {
        assert!(sales.get(key).is_some(), "{key}: {sales}");
    }
}
