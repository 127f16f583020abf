//! Behaviour of the Sigma engine on generated events: rule loading, logsource routing,
//! conditions, keyword search, the prefilter, correlations and aggregations.

use super::*;
use crate::event::{Fields, Origin, SourceKind};

fn event(channel: &str, eid: u32, ts: i64, fields: &[(&str, &str)]) -> Event {
    let mut f = Fields::default();
    f.push("EventID", eid.to_string());
    f.push("Channel", channel);
    for (k, v) in fields {
        f.push(*k, *v);
    }
    Event {
        timestamp: Some(ts),
        host: Some("WS01".into()),
        source: SourceKind::Evtx,
        channel: Some(channel.into()),
        event_id: Some(eid),
        record_id: Some(ts as u64),
        fields: f,
        raw: String::new(),
        origin: Origin::default(),
    }
}

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

fn set(yaml: &str) -> RuleSet {
    let (s, errs) = RuleSet::from_sources(&[(PathBuf::from("t.yml"), yaml.to_string())]);
    assert!(errs.is_empty(), "{errs:?}");
    s
}

fn ids(s: &RuleSet, ev: &Event) -> Vec<String> {
    let mut out = Vec::new();
    s.matches(ev, &mut out);
    out.iter().map(|m| s.rule_id(m).to_string()).collect()
}

const PROC_RULE: &str = r#"
title: Encoded PowerShell
id: pc-1
level: high
tags: [attack.execution, attack.t1059.001]
logsource: {product: windows, category: process_creation}
detection:
  selection_img:
    - Image|endswith: '\powershell.exe'
    - OriginalFileName: PowerShell.EXE
  selection_cli:
    CommandLine|windash|contains: ' -enc '
  filter:
    ParentImage|startswith: 'C:\Program Files\Trusted\'
  condition: all of selection_* and not filter
"#;

#[test]
fn process_creation_rules_match_sysmon_1_and_security_4688() {
    let s = set(PROC_RULE);
    let sysmon = event(
        SYSMON,
        1,
        1,
        &[
            (
                "Image",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\PowerShell.exe",
            ),
            ("CommandLine", "powershell.exe /ENC aGVsbG8="),
            ("ParentImage", "C:\\Windows\\explorer.exe"),
        ],
    );
    assert_eq!(ids(&s, &sysmon), vec!["pc-1"]);
    let security = event(
        "Security",
        4688,
        2,
        &[
            (
                "NewProcessName",
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            ),
            ("CommandLine", "powershell -enc aGVsbG8="),
            ("ParentProcessName", "C:\\Program Files\\Trusted\\agent.exe"),
        ],
    );
    // Filtered by the 4688 parent, aliased to ParentImage.
    assert!(ids(&s, &security).is_empty());
    // Same fields on the wrong channel or event id: not a process creation.
    let other = event(
        SYSMON,
        3,
        3,
        &[("Image", "x\\powershell.exe"), ("CommandLine", "a -enc b")],
    );
    assert!(ids(&s, &other).is_empty());
    let d = s.detection(&RuleMatch { rule: 0 }, &sysmon);
    assert_eq!(d.rule_id, "pc-1");
    assert_eq!(d.level, Level::High);
    assert!(
        d.details.contains("CommandLine: powershell.exe /ENC"),
        "{}",
        d.details
    );
    assert_eq!(d.tags.len(), 2);
}

#[test]
fn near_misses_do_not_match() {
    let s = set(PROC_RULE);
    let ev = event(
        SYSMON,
        1,
        1,
        &[
            ("Image", "C:\\Windows\\System32\\powershell.exe.bak"),
            ("CommandLine", "powershell.exe -enc aGVsbG8="),
        ],
    );
    assert!(ids(&s, &ev).is_empty());
}

#[test]
fn service_rules_use_the_channel_and_event_id_from_the_detection() {
    let s = set(
        "title: Failed logon\nid: sec-1\nlogsource: {product: windows, service: security}\n\
         detection:\n  sel:\n    EventID: 4625\n    LogonType: [3, 10]\n  condition: sel\n",
    );
    assert_eq!(
        ids(&s, &event("Security", 4625, 1, &[("LogonType", "3")])),
        vec!["sec-1"]
    );
    assert!(ids(&s, &event("Security", 4624, 1, &[("LogonType", "3")])).is_empty());
    assert!(ids(&s, &event("System", 4625, 1, &[("LogonType", "3")])).is_empty());
}

#[test]
fn keywords_search_every_value_and_null_means_absent_or_empty() {
    let s = set(
        "title: kw\nid: kw-1\nlogsource: {product: windows, service: system}\n\
         detection:\n  keywords: ['mimikatz', 'sekurlsa::']\n  sel: {ServiceName: null}\n  condition: keywords and sel\n",
    );
    assert_eq!(
        ids(
            &s,
            &event("System", 7045, 1, &[("ImagePath", "C:\\x\\MimiKatz.exe")])
        ),
        vec!["kw-1"]
    );
    assert!(ids(
        &s,
        &event(
            "System",
            7045,
            1,
            &[("ImagePath", "C:\\x\\mimikatz.exe"), ("ServiceName", "m")]
        )
    )
    .is_empty());
}

#[test]
fn field_names_are_case_insensitive_and_fieldref_compares_fields() {
    let s = set(
        "title: fr\nid: fr-1\nlogsource: {product: windows, service: security}\n\
         detection:\n  sel:\n    targetusername|fieldref: SubjectUserName\n  condition: sel\n",
    );
    assert_eq!(
        ids(
            &s,
            &event(
                "Security",
                4738,
                1,
                &[("TargetUserName", "Bob"), ("SubjectUserName", "bob")]
            )
        ),
        vec!["fr-1"]
    );
    assert!(ids(
        &s,
        &event(
            "Security",
            4738,
            1,
            &[("TargetUserName", "bob"), ("SubjectUserName", "eve")]
        )
    )
    .is_empty());
}

#[test]
fn the_prefilter_never_hides_a_match() {
    // Many rules so the Aho-Corasick pass is used; each needs its own literal.
    let mut yaml = String::new();
    for i in 0..60 {
        yaml.push_str(&format!(
            "title: r{i}\nid: r-{i}\nlogsource: {{product: windows, category: process_creation}}\n\
             detection:\n  sel:\n    CommandLine|contains: 'token{i:03}x'\n  filter:\n    Image|endswith: '\\ok.exe'\n  condition: sel and not filter\n---\n"
        ));
    }
    yaml.push_str(
        "title: neg\nid: neg\nlogsource: {product: windows, category: process_creation}\n\
         detection:\n  sel:\n    Image|endswith: '\\ok.exe'\n  condition: not sel\n",
    );
    let s = set(&yaml);
    let ev = event(
        SYSMON,
        1,
        1,
        &[
            ("Image", "C:\\a.exe"),
            ("CommandLine", "run TOKEN017X and token042x"),
        ],
    );
    let mut got = ids(&s, &ev);
    got.sort();
    assert_eq!(got, vec!["neg", "r-17", "r-42"]);
}

#[test]
fn rules_that_cannot_load_are_reported_and_skipped() {
    let (s, errs) = RuleSet::from_sources(&[
        (PathBuf::from("good.yml"), PROC_RULE.into()),
        (
            PathBuf::from("bad.yml"),
            "title: b\nid: b\nlogsource: {product: windows}\ndetection:\n  s: {A|re: '(?<=x)y'}\n  condition: s\n"
                .into(),
        ),
        (PathBuf::from("notyaml.yml"), "a: [b\n".into()),
    ]);
    assert_eq!(s.len(), 1);
    assert_eq!(errs.len(), 2);
    assert!(errs
        .iter()
        .any(|e| e.file == Path::new("bad.yml") && e.reason.contains("regex")));
    let c = s.coverage();
    assert_eq!(c.rules_loaded, 1);
    assert_eq!(c.rules_failed, 2);
    assert_eq!(c.by_logsource.get("windows/process_creation/"), Some(&1));
}

const CORR: &str = r#"
title: Failed logon
id: base-1
name: failed_logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625}
  condition: sel
---
title: Brute force
id: corr-1
level: high
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 3}
---
title: Spraying
id: corr-2
correlation:
  type: value_count
  rules: [base-1]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 3, field: TargetUserName}
"#;

fn run(s: &RuleSet, events: &[Event]) -> Vec<Detection> {
    let mut c = Correlator::new(s);
    let mut dets = Vec::new();
    for ev in events {
        let mut hits = Vec::new();
        s.matches(ev, &mut hits);
        for m in &hits {
            if s.emits(m) {
                dets.push(s.detection(m, ev));
            }
            c.feed(m, ev, &mut dets);
        }
    }
    c.finish(&mut dets);
    dets
}

#[test]
fn event_and_value_count_correlations_fire_once_per_burst_with_their_records() {
    let s = set(CORR);
    let fail = |ts: i64, ip: &str, user: &str| {
        event(
            "Security",
            4625,
            ts,
            &[("IpAddress", ip), ("TargetUserName", user)],
        )
    };
    let events = vec![
        fail(1_000, "203.0.113.5", "admin"),
        fail(2_000, "203.0.113.5", "admin"),
        fail(3_000, "198.51.100.1", "bob"),
        fail(4_000, "203.0.113.5", "admin"),
        // Outside the 5-minute window of the first three.
        fail(900_000, "203.0.113.5", "a"),
        fail(901_000, "203.0.113.5", "b"),
        fail(902_000, "203.0.113.5", "c"),
    ];
    let dets = run(&s, &events);
    // The base rule is referenced without `generate`, so it is not reported alone.
    assert!(dets.iter().all(|d| d.rule_id != "base-1"));
    let brute: Vec<&Detection> = dets.iter().filter(|d| d.rule_id == "corr-1").collect();
    assert_eq!(brute.len(), 2, "{dets:#?}");
    assert_eq!(
        brute[0]
            .records
            .iter()
            .map(|r| r.record_id)
            .collect::<Vec<_>>(),
        vec![Some(1000), Some(2000), Some(4000)]
    );
    assert!(
        brute[0].details.contains("IpAddress=203.0.113.5"),
        "{}",
        brute[0].details
    );
    let spray: Vec<&Detection> = dets.iter().filter(|d| d.rule_id == "corr-2").collect();
    assert_eq!(spray.len(), 1);
    assert_eq!(spray[0].records.len(), 3);
}

#[test]
fn temporal_ordered_needs_the_rules_in_order_within_the_timespan() {
    let s = set(
        "title: a\nid: a\nname: a\nlogsource: {product: windows, service: security}\ndetection:\n  s: {EventID: 4720}\n  condition: s\n---\n\
         title: b\nid: b\nname: b\nlogsource: {product: windows, service: security}\ndetection:\n  s: {EventID: 4732}\n  condition: s\n---\n\
         title: seq\nid: seq\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [TargetUserName]\n  timespan: 1h\n",
    );
    let ev = |eid, ts| event("Security", eid, ts, &[("TargetUserName", "x")]);
    assert!(run(&s, &[ev(4732, 1), ev(4720, 2)])
        .iter()
        .all(|d| d.rule_id != "seq"));
    let dets = run(&s, &[ev(4720, 1), ev(4732, 2)]);
    assert_eq!(dets.iter().filter(|d| d.rule_id == "seq").count(), 1);
}

#[test]
fn old_count_aggregation_runs_as_a_correlation() {
    let s = set(
        "title: many\nid: agg-1\nlogsource: {product: windows, service: security}\ndetection:\n  s: {EventID: 4625}\n  timeframe: 1m\n  condition: s | count(TargetUserName) by IpAddress > 2\n",
    );
    let ev = |ts, u| {
        event(
            "Security",
            4625,
            ts,
            &[("IpAddress", "1.2.3.4"), ("TargetUserName", u)],
        )
    };
    let dets = run(&s, &[ev(1, "a"), ev(2, "b"), ev(3, "b"), ev(4, "c")]);
    assert_eq!(dets.len(), 1, "{dets:#?}");
    assert_eq!(dets[0].rule_id, "agg-1");
}

#[test]
fn matching_is_usable_from_several_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    let s = set(PROC_RULE);
    let ev = event(
        SYSMON,
        1,
        1,
        &[("Image", "C:\\powershell.exe"), ("CommandLine", "x -enc y")],
    );
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| assert_eq!(ids(&s, &ev), vec!["pc-1"]));
        }
    });
}

#[test]
fn webserver_rules_read_access_logs_through_taxonomy_aliases() {
    let s = set(
        "title: traversal\nid: web-1\nlogsource: {category: webserver}\n\
         detection:\n  sel:\n    cs-method: GET\n    cs-uri-query|contains: '/../../'\n    sc-status: 200\n  condition: sel\n",
    );
    let mut f = Fields::default();
    f.push("method", "GET");
    f.push("uri", "/static/../../etc/passwd");
    f.push("status", "200");
    let mut ev = Event {
        timestamp: Some(1),
        host: Some("web01".into()),
        source: SourceKind::WebAccess,
        channel: None,
        event_id: None,
        record_id: Some(1),
        fields: f,
        raw: String::new(),
        origin: Origin::default(),
    };
    assert_eq!(ids(&s, &ev), vec!["web-1"]);
    // The same fields from a firewall log are not a web request.
    ev.source = SourceKind::Firewall;
    assert!(ids(&s, &ev).is_empty());
}

#[test]
fn hostile_rule_files_are_errors_not_panics_or_memory_blowups() {
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..30 {
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = if i == 1 {
                String::new()
            } else {
                (i - 1).to_string()
            }
        ));
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_cond = format!(
        "title: d\nid: d\nlogsource: {{product: windows}}\ndetection:\n  s: {{A: 1}}\n  condition: {}s{}\n",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let sources: Vec<(PathBuf, String)> = [
        laughs,
        deep,
        deep_cond,
        "\u{0}\u{1}\u{2}".to_string(),
        "detection: 5".to_string(),
        "title: x\ndetection:\n  s: [[a]]\n  condition: s\n".to_string(),
        "title: x\ndetection:\n  s: {A|base64offset|contains: ''}\n  condition: s\n".to_string(),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, t)| (PathBuf::from(format!("h{i}.yml")), t))
    .collect();
    let (s, errs) = RuleSet::from_sources(&sources);
    assert_eq!(s.len(), 0);
    assert!(errs.len() >= 6, "{errs:?}");
    assert!(errs.iter().any(|e| e.reason.contains("aliases")));
}

#[test]
fn less_than_conditions_are_decided_when_the_window_closes() {
    let s = set(
        "title: beat\nid: hb\nname: hb\nlogsource: {product: windows, service: system}\ndetection:\n  s: {EventID: 1}\n  condition: s\n---\n\
         title: quiet\nid: quiet\ncorrelation:\n  type: event_count\n  rules: [hb]\n  group-by: [Computer]\n  timespan: 1m\n  condition: {lt: 3}\n",
    );
    let ev = |ts| event("System", 1, ts, &[("Computer", "WS01")]);
    // 3 in the first minute (not fewer than 3), then 1 in the next (fewer: fires at finish).
    let dets = run(&s, &[ev(0), ev(10_000), ev(20_000), ev(200_000)]);
    let quiet: Vec<&Detection> = dets.iter().filter(|d| d.rule_id == "quiet").collect();
    assert_eq!(quiet.len(), 1, "{dets:#?}");
    assert_eq!(quiet[0].records.len(), 1);
}

#[test]
fn a_long_burst_in_one_group_stays_cheap_and_bounded() {
    let s = set(CORR);
    let mut c = Correlator::new(&s);
    let mut dets = Vec::new();
    let m = RuleMatch { rule: 0 };
    // 60,000 failures from one address, every user distinct, one per 10 ms: each burst of
    // 3 fires and empties its window, so windows never grow.
    for i in 0..60_000i64 {
        let ev = event(
            "Security",
            4625,
            i * 10,
            &[
                ("IpAddress", "203.0.113.5"),
                ("TargetUserName", &format!("u{i}")),
            ],
        );
        c.feed(&m, &ev, &mut dets);
    }
    c.finish(&mut dets);
    assert_eq!(
        dets.iter().filter(|d| d.rule_id == "corr-1").count(),
        20_000
    );
    assert!(dets
        .iter()
        .all(|d| d.records.len() <= correlation::MAX_RECORDS));
}

#[test]
fn contains_all_needs_every_value_and_exists_checks_presence() {
    let s = set(
        "title: all\nid: all-1\nlogsource: {product: windows, category: process_creation}\n\
         detection:\n  sel:\n    CommandLine|contains|all: [' -nop', ' -w hidden']\n    ParentCommandLine|exists: false\n  condition: sel\n",
    );
    let ev = |cli: &str| event(SYSMON, 1, 1, &[("CommandLine", cli)]);
    assert_eq!(
        ids(&s, &ev("powershell -NoP -nop -W Hidden -w hidden")),
        vec!["all-1"]
    );
    assert!(ids(&s, &ev("powershell -nop")).is_empty());
    let with_parent = event(
        SYSMON,
        1,
        1,
        &[
            ("CommandLine", "x -nop -w hidden"),
            ("ParentCommandLine", "cmd"),
        ],
    );
    assert!(ids(&s, &with_parent).is_empty());
}

#[test]
fn temporal_correlation_groups_through_aliases() {
    // A failed logon (TargetUserName) then a lockout (TargetUserName in 4740 too) for the same
    // account, and a new process by that account (SubjectUserName): aliased to one key.
    let s = set(
        "title: fail\nid: f\nname: fail\nlogsource: {product: windows, service: security}\ndetection:\n  s: {EventID: 4625}\n  condition: s\n---\n\
         title: proc\nid: p\nname: proc\nlogsource: {product: windows, service: security}\ndetection:\n  s: {EventID: 4688}\n  condition: s\n---\n\
         title: fail then run\nid: t\ncorrelation:\n  type: temporal\n  rules: [fail, proc]\n  group-by: [account]\n  timespan: 10m\n  \
         aliases:\n    account:\n      fail: TargetUserName\n      proc: SubjectUserName\n",
    );
    let fail = event("Security", 4625, 1_000, &[("TargetUserName", "bob")]);
    let other = event("Security", 4688, 2_000, &[("SubjectUserName", "eve")]);
    let same = event("Security", 4688, 3_000, &[("SubjectUserName", "bob")]);
    let dets = run(&s, &[fail, other, same]);
    let t: Vec<&Detection> = dets.iter().filter(|d| d.rule_id == "t").collect();
    assert_eq!(t.len(), 1, "{dets:#?}");
    assert_eq!(
        t[0].records.iter().map(|r| r.record_id).collect::<Vec<_>>(),
        vec![Some(1000), Some(3000)]
    );
    assert!(t[0].details.contains("account=bob"), "{}", t[0].details);
}
