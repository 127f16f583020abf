use super::*;
use crate::request::RequestHead;

fn rules(text: &str) -> RuleSet {
    RuleSet::parse_str(text, Path::new("/tmp"), "test.conf").unwrap()
}

fn get(target: &str, headers: &[(&str, &str)]) -> RequestHead {
    RequestHead::new(
        "GET",
        target,
        "HTTP/1.1",
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    )
}

fn run(rs: &RuleSet, head: RequestHead, body: &[u8]) -> (Option<Intervention>, Audit) {
    let mut tx = rs.transaction(head);
    let mut i = tx.process_request_headers();
    if i.is_none() {
        tx.append_request_body(body);
        i = tx.process_request_body();
    }
    (i, tx.finish())
}

#[test]
fn deny_on_match_and_anomaly_scoring() {
    let rs = rules(
        r#"
SecRuleEngine On
SecDefaultAction "phase:2,log,auditlog,pass"
SecRule ARGS "@streq attack" "id:1,phase:2,block,msg:'bad %{MATCHED_VAR_NAME}',logdata:'%{MATCHED_VAR}',setvar:tx.score=+5,severity:CRITICAL,tag:t1"
SecRule TX:SCORE "@ge 5" "id:2,phase:2,deny,status:403,msg:'score %{tx.score}'"
"#,
    );
    assert_eq!(rs.rule_count(), 2);
    let (i, a) = run(&rs, get("/x?a=attack&b=ok", &[("Host", "h")]), b"");
    let i = i.expect("denied");
    assert_eq!(i.status, 403);
    assert_eq!(i.rule_id, Some(2));
    assert_eq!(i.msg, "score 5");
    assert_eq!(a.ids(), vec![1, 2]);
    assert_eq!(a.matched[0].msg, "bad ARGS:a");
    assert_eq!(a.matched[0].logdata, "attack");
    assert_eq!(a.matched[0].severity_name(), "CRITICAL");
    assert!(a.intervened);
    let (i, a) = run(&rs, get("/x?a=fine", &[]), b"");
    assert!(i.is_none());
    assert!(a.matched.is_empty());
}

/// CRS 3 scores into `anomaly_score` and sets `inbound_anomaly_score` only when it blocks; CRS
/// v4 keeps the inbound total in `blocking_inbound_anomaly_score` and sets `anomaly_score` to
/// inbound plus outbound in phase 5. The audit's inbound score is the inbound total in both.
#[test]
fn the_inbound_score_is_the_rule_sets_inbound_total_under_the_threshold_too() {
    let crs3 = rules(
        r#"
SecRuleEngine On
SecAction "id:901200,phase:1,pass,nolog,setvar:tx.anomaly_score=0,setvar:tx.inbound_anomaly_score=0,setvar:tx.anomaly_score_pl1=0"
SecRule REQUEST_HEADERS:Host "@rx ^[\d.:]+$" "id:920350,phase:2,pass,setvar:tx.anomaly_score_pl1=+3"
SecAction "id:949060,phase:2,pass,nolog,setvar:tx.anomaly_score=+%{tx.anomaly_score_pl1}"
SecRule TX:ANOMALY_SCORE "@ge 5" "id:949110,phase:2,deny,setvar:tx.inbound_anomaly_score=%{tx.anomaly_score}"
"#,
    );
    let (i, a) = run(&crs3, get("/", &[("Host", "127.0.0.1:80")]), b"");
    assert!(i.is_none());
    assert_eq!(a.ids(), vec![920350]);
    assert_eq!(a.inbound_score, 3);
    let (_, a) = run(&crs3, get("/", &[("Host", "shop.example")]), b"");
    assert_eq!(a.inbound_score, 0);

    let v4 = rules(
        r#"
SecRuleEngine On
SecAction "id:901200,phase:1,pass,nolog,setvar:tx.blocking_inbound_anomaly_score=0,setvar:tx.inbound_anomaly_score_pl1=0,setvar:tx.anomaly_score=0,setvar:tx.blocking_outbound_anomaly_score=0"
SecRule REQUEST_HEADERS:Host "@rx ^[\d.:]+$" "id:920350,phase:1,pass,setvar:tx.inbound_anomaly_score_pl1=+3"
SecAction "id:949052,phase:2,pass,nolog,setvar:tx.blocking_inbound_anomaly_score=+%{tx.inbound_anomaly_score_pl1}"
SecAction "id:959052,phase:4,pass,nolog,setvar:tx.blocking_outbound_anomaly_score=+4"
SecAction "id:980099,phase:5,pass,nolog,setvar:tx.anomaly_score=%{tx.blocking_inbound_anomaly_score},setvar:tx.anomaly_score=+%{tx.blocking_outbound_anomaly_score}"
"#,
    );
    let mut tx = v4.transaction(get("/", &[("Host", "127.0.0.1")]));
    assert!(tx.process_request_headers().is_none());
    assert!(tx.process_request_body().is_none());
    assert!(tx.process_response_headers(200, &[]).is_none());
    assert!(tx.process_response_body().is_none());
    let a = tx.finish();
    assert_eq!((a.inbound_score, a.outbound_score), (3, 4));
}

#[test]
fn detection_only_records_but_never_intervenes() {
    let rs = rules(r#"SecRule REQUEST_METHOD "@streq GET" "id:1,phase:1,deny,status:403""#);
    let mut tx = rs.transaction(get("/", &[]));
    tx.force_detection_only();
    assert!(tx.process_request_headers().is_none());
    let a = tx.finish();
    assert_eq!(a.ids(), vec![1]);
    assert_eq!(a.intervention.map(|i| i.status), Some(403));
    assert!(!a.intervened);
    assert_eq!(a.mode, EngineMode::DetectionOnly);
}

#[test]
fn chains_exclusions_counts_and_skip_after() {
    let rs = rules(
        r#"
SecRule &ARGS "@eq 2" "id:10,phase:1,pass,log,chain"
    SecRule ARGS:b "@streq two" "setvar:tx.chained=1"
SecRule ARGS|!ARGS:a "@streq one" "id:11,phase:1,pass,log"
SecRule REQUEST_HEADERS:X-Skip "@streq yes" "id:12,phase:1,pass,nolog,skipAfter:END"
SecRule ARGS_NAMES "@streq a" "id:13,phase:1,pass,log"
SecMarker END
SecRule TX:chained "@streq 1" "id:14,phase:1,pass,log"
SecRule ARGS:/^B$/ "@streq two" "id:15,phase:1,pass,log"
"#,
    );
    let (_, a) = run(&rs, get("/?a=one&b=two", &[("X-Skip", "yes")]), b"");
    assert_eq!(a.ids(), vec![10, 14, 15]);
    let (_, a) = run(&rs, get("/?a=one&b=one", &[]), b"");
    assert_eq!(a.ids(), vec![11, 13]);
}

#[test]
fn ctl_removes_rules_and_targets_at_run_time() {
    let rs = rules(
        r#"
SecAction "id:1,phase:1,pass,nolog,ctl:ruleRemoveById=3-4,ctl:ruleRemoveTargetById=5;ARGS:a"
SecRule ARGS "@streq x" "id:3,phase:1,pass,log"
SecRule ARGS "@streq x" "id:4,phase:1,pass,log"
SecRule ARGS "@streq x" "id:5,phase:1,pass,log"
SecRule ARGS "@streq x" "id:6,phase:1,pass,log"
"#,
    );
    let (_, a) = run(&rs, get("/?a=x", &[]), b"");
    assert_eq!(a.ids(), vec![6]);
    let (_, a) = run(&rs, get("/?b=x", &[]), b"");
    assert_eq!(a.ids(), vec![5, 6]);
}

#[test]
fn config_time_removals_and_updates() {
    let rs = rules(
        r#"
SecRule ARGS "@streq x" "id:3,phase:1,pass,log,tag:'drop-me'"
SecRule ARGS "@streq x" "id:4,phase:1,pass,log"
SecRule ARGS "@streq x" "id:5,phase:1,pass,log"
SecRuleRemoveByTag drop-me
SecRuleRemoveById 4
SecRuleUpdateTargetById 5 "!ARGS:a"
"#,
    );
    assert_eq!(rs.rule_count(), 1);
    let (_, a) = run(&rs, get("/?a=x", &[]), b"");
    assert!(a.ids().is_empty());
    let (_, a) = run(&rs, get("/?b=x", &[]), b"");
    assert_eq!(a.ids(), vec![5]);
}

#[test]
fn bodies_become_args_post() {
    let rs = rules(
        r#"
SecRequestBodyAccess On
SecRule ARGS_POST:q "@streq hello world" "id:1,phase:2,pass,log"
SecRule ARGS:json.a.b "@streq x" "id:2,phase:2,pass,log"
SecRule REQUEST_BODY "@contains hello" "id:3,phase:2,pass,log"
"#,
    );
    let mut head = get(
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    head.method = "POST".into();
    let (_, a) = run(&rs, head.clone(), b"q=hello+world");
    assert_eq!(a.ids(), vec![1, 3]);
    head.headers = vec![("Content-Type".into(), b"application/json".to_vec())];
    let (_, a) = run(&rs, head, br#"{"a":{"b":"x"}}"#);
    assert_eq!(a.ids(), vec![2]);
}

#[test]
fn body_limit_rejects_with_413() {
    let rs = rules("SecRequestBodyLimit 10\nSecRequestBodyLimitAction Reject\n");
    let mut tx = rs.transaction(get("/", &[]));
    assert!(tx.process_request_headers().is_none());
    tx.append_request_body(&[b'a'; 20]);
    assert_eq!(tx.process_request_body().map(|i| i.status), Some(413));
}

#[test]
fn transforms_and_captures() {
    let rs = rules(
        r#"
SecRule REQUEST_HEADERS:User-Agent "@streq curl" "id:1,phase:1,pass,log,t:none,t:lowercase,capture"
SecRule ARGS "@unconditionalMatch" "id:2,phase:1,pass,nolog,setvar:'tx.seen_%{MATCHED_VAR_NAME}=%{MATCHED_VAR}'"
SecRule TX:seen_ARGS:k "@streq v" "id:3,phase:1,pass,log"
"#,
    );
    let (_, a) = run(&rs, get("/?k=v", &[("user-agent", "CURL")]), b"");
    assert_eq!(a.ids(), vec![1, 3]);
    assert_eq!(a.matched[0].matched_var, "REQUEST_HEADERS:user-agent");
}

#[test]
fn errors_name_file_line_and_word() {
    let e = RuleSet::parse_str(
        "\n\nSecRule ARGS \"@nope x\" \"id:1\"",
        Path::new("/r"),
        "a.conf",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("/r/a.conf:3: @nope:"), "{e}");
    let e = RuleSet::parse_str("SecFoo On", Path::new("/r"), "a.conf").unwrap_err();
    assert!(e.to_string().starts_with("/r/a.conf:1: SecFoo:"), "{e}");
    let e = RuleSet::parse_str(
        "SecRule NOPE \"@streq x\" \"id:1\"",
        Path::new("/r"),
        "a.conf",
    )
    .unwrap_err();
    assert!(e.to_string().contains("NOPE"), "{e}");
    let e = RuleSet::parse_str(
        "SecRule ARGS \"@streq x\" \"id:1,t:bogus\"",
        Path::new("/r"),
        "a.conf",
    )
    .unwrap_err();
    assert!(e.to_string().contains("t:bogus"), "{e}");
}

#[test]
fn modsecurity_recommended_conf_parses() {
    let text = r#"
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" \
     "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" \
     "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecRequestBodyJsonDepthLimit 512
SecArgumentsLimit 1000
SecRule &ARGS "@ge 1000" \
"id:'200007', phase:2,t:none,log,deny,status:400,msg:'Failed to fully parse request body due to large argument count',severity:2"
SecRule REQBODY_ERROR "!@eq 0" \
"id:'200002', phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \
"id:'200003',phase:2,t:none,log,deny,status:400, \
msg:'Multipart request body failed strict validation: \
PE %{REQBODY_PROCESSOR_ERROR}, \
BQ %{MULTIPART_BOUNDARY_QUOTED}, \
BW %{MULTIPART_BOUNDARY_WHITESPACE}, \
DB %{MULTIPART_DATA_BEFORE}, \
DA %{MULTIPART_DATA_AFTER}, \
HF %{MULTIPART_HEADER_FOLDING}, \
LF %{MULTIPART_LF_LINE}, \
SM %{MULTIPART_MISSING_SEMICOLON}, \
IQ %{MULTIPART_INVALID_QUOTING}, \
IP %{MULTIPART_INVALID_PART}, \
IH %{MULTIPART_INVALID_HEADER_FOLDING}, \
FL %{MULTIPART_FILE_LIMIT_EXCEEDED}'"
SecRule MULTIPART_UNMATCHED_BOUNDARY "@eq 1" \
    "id:'200004',phase:2,t:none,log,deny,msg:'Multipart parser detected a possible unmatched boundary.'"
SecPcreMatchLimit 1000
SecPcreMatchLimitRecursion 1000
SecRule TX:/^MSC_/ "!@streq 0" \
        "id:'200005',phase:2,t:none,deny,msg:'ModSecurity internal error flagged: %{MATCHED_VAR_NAME}'"
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html text/xml
SecResponseBodyLimit 524288
SecResponseBodyLimitAction ProcessPartial
SecTmpDir /tmp/
SecDataDir /tmp/
SecAuditEngine RelevantOnly
SecAuditLogRelevantStatus "^(?:5|4(?!04))"
SecAuditLogParts ABIJDEFHZ
SecAuditLogType Serial
SecAuditLog /var/log/modsec_audit.log
SecArgumentSeparator &
SecCookieFormat 0
SecUnicodeMapFile unicode.mapping 20127
SecStatusEngine On
"#;
    let rs = RuleSet::parse_str(text, Path::new("/tmp"), "modsecurity.conf").unwrap();
    assert_eq!(rs.rule_count(), 7);
    assert_eq!(rs.config().engine, EngineMode::DetectionOnly);
    assert_eq!(rs.config().response_mime.len(), 3);
}

#[test]
fn rule_set_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<RuleSet>();
}

#[test]
fn the_constant_start_of_phase_1_is_run_once_and_every_request_starts_from_it() {
    // Rules 1-4 read only TX and constants: their effect is computed at load. Rule 5 would
    // deny if it matched, so the constant start ends before it; it is evaluated per request.
    let rs = rules(
        r#"
SecRuleEngine On
SecRule &TX:limit "@eq 0" "id:1,phase:1,pass,nolog,setvar:tx.limit=3"
SecAction "id:2,phase:1,pass,nolog,setvar:tx.score=0,setvar:tx.seen=%{tx.limit}"
SecRule TX:limit "@gt 10" "id:3,phase:1,pass,nolog,skipAfter:END"
SecRule TX:/^lim/ "@eq 3" "id:4,phase:1,pass,nolog,setvar:tx.matched=%{MATCHED_VAR_NAME}"
SecMarker END
SecRule TX:limit "@eq 3" "id:5,phase:1,deny,status:403,log,chain"
    SecRule REQUEST_HEADERS:X-Deny "@streq yes" "t:none"
SecRule ARGS "@streq attack" "id:6,phase:1,pass,log,setvar:tx.score=+%{tx.limit}"
SecRule TX:score "@ge 3" "id:7,phase:1,deny,status:403,msg:'score %{tx.score} %{tx.seen} %{tx.matched}'"
"#,
    );
    assert_eq!(rs.prelude.as_ref().map(|p| p.resume), Some(5));
    let (i, a) = run(&rs, get("/?a=attack", &[]), b"");
    assert_eq!(i.map(|i| i.msg), Some("score 3 3 TX:limit".to_string()));
    assert_eq!(a.ids(), vec![6, 7]);
    let (i, _) = run(&rs, get("/?a=fine", &[("X-Deny", "yes")]), b"");
    assert_eq!(i.and_then(|i| i.rule_id), Some(5));
    for _ in 0..2 {
        let (i, a) = run(&rs, get("/?a=fine", &[]), b"");
        assert!(i.is_none() && a.matched.is_empty());
    }
    // A constant rule that logs when it matches ends the constant start: it is logged on
    // every request.
    let rs = rules(
        r#"
SecAction "id:1,phase:1,pass,nolog,setvar:tx.a=1"
SecRule TX:a "@eq 1" "id:2,phase:1,pass,log,msg:'a is %{tx.a}'"
"#,
    );
    for _ in 0..2 {
        let (_, a) = run(&rs, get("/", &[]), b"");
        assert_eq!(a.ids(), vec![2]);
        assert_eq!(a.matched[0].msg, "a is 1");
    }
    // With the engine off nothing runs, the constant start included.
    let rs = rules("SecRuleEngine Off\nSecAction \"id:1,phase:1,pass,nolog,setvar:tx.a=1\"");
    let mut tx = rs.transaction(get("/", &[]));
    assert!(tx.process_request_headers().is_none());
    assert_eq!(tx.tx("a"), None);
}

#[test]
fn plain_word_selectors_match_as_their_regexes_do() {
    let rs = rules(
        r#"
SecRule REQUEST_COOKIES|!REQUEST_COOKIES:/__UTM/ "@contains x" "id:1,phase:1,pass,log"
SecRule REQUEST_HEADERS:/^X-Sel$/ "@streq on" "id:2,phase:1,pass,log"
SecRule ARGS:/^ITEM_/ "@streq on" "id:3,phase:1,pass,log"
SecRule ARGS:/id-/ "@streq on" "id:4,phase:1,pass,log"
"#,
    );
    let ids = |target: &str, headers: &[(&str, &str)]| run(&rs, get(target, headers), b"").1.ids();
    assert_eq!(
        ids("/", &[("Cookie", "__utma=x; a__UtMz=x")]),
        Vec::<u32>::new()
    );
    assert_eq!(ids("/", &[("Cookie", "__utma=x; s=x")]), vec![1]);
    assert_eq!(ids("/", &[("x-sel", "on"), ("X-Sel-2", "on")]), vec![2]);
    assert_eq!(ids("/?item_1=on", &[]), vec![3]);
    assert_eq!(ids("/?an_item_1=on&ITEM=on", &[]), Vec::<u32>::new());
    assert_eq!(ids("/?user-ID-2=on", &[]), vec![4]);
}

#[test]
fn whole_link_prefilters_skip_only_links_that_cannot_match() {
    // Each rule has required literals, so its link is skipped when no value of its
    // targets (through its transformations) holds one: XML text and attributes are
    // separate collections, @pm phrases are literals, and multiMatch checks every step.
    let rs = rules(
        r#"
SecRequestBodyAccess On
SecRule XML://@* "@rx \.\./" "id:1,phase:2,pass,log"
SecRule XML:/* "@rx \.\./" "id:2,phase:2,pass,log"
SecRule XML:/* "@pm secret passwd" "id:3,phase:2,pass,log,t:lowercase"
SecRule ARGS "@rx <SCRIPT" "id:4,phase:2,pass,log,t:none,t:lowercase,multiMatch"
SecRule ARGS "@rx <SCRIPT" "id:5,phase:2,pass,log,t:none,t:lowercase"
SecRule ARGS "@pm evil" "id:6,phase:2,pass,log,t:none,t:base64Decode"
"#,
    );
    let mut head = get("/?a=%3CSCRIPT&b=ZXZpbA==", &[("Content-Type", "text/xml")]);
    head.method = "POST".into();
    let (_, a) = run(&rs, head.clone(), br#"<r p="../x"><t>PassWD</t></r>"#);
    assert_eq!(a.ids(), vec![1, 3, 4, 6]);
    let (_, a) = run(&rs, head, br#"<r p="x"><t>../x</t></r>"#);
    assert_eq!(a.ids(), vec![2, 4, 6]);
}

#[test]
fn rules_after_the_first_on_a_collection_are_passed_over_only_when_its_union_rules_them_out() {
    // Rule 1 computes the union of ARGS; rules 2-4 are then decided from it without being
    // read, rule 3's literal being in it.
    let rs = rules(
        r#"
SecRule ARGS "@rx foo\d" "id:1,phase:1,pass,log"
SecRule ARGS|REQUEST_HEADERS "@rx ba[rz]" "id:2,phase:1,pass,log"
SecRule ARGS "@rx qu+x" "id:3,phase:1,pass,log"
SecRule ARGS "@pm quux zap" "id:4,phase:1,pass,log"
"#,
    );
    let ids = |target: &str| run(&rs, get(target, &[("X-A", "bar")]), b"").1.ids();
    assert_eq!(ids("/?a=quux"), vec![2, 3, 4]);
    assert_eq!(ids("/?a=foo1"), vec![1, 2]);
    assert_eq!(ids("/?a=nothing"), vec![2]);
}

#[test]
fn rules_reading_only_tx_the_prelude_fixed_are_settled_at_load() {
    // `pl` and `ex` are set by the prelude and never written again: rules 10, 13, 15, 18 and
    // the chain 20 (not 21, whose chain reads `score`) are settled at load. `score` is
    // written per request (rule 12) and `app` by a macro key that may spell it (rule 14), so
    // rules 16 and 17 read them on each request.
    let rs = rules(
        r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.ex=0"
SecRule REQUEST_HEADERS:X-Stop "@streq yes" "id:2,phase:1,pass,nolog,setvar:tx.stopped=1"
SecRule TX:PL "@lt 2" "id:10,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@streq pl2" "id:11,phase:2,deny,status:403"
SecMarker END-PL2
SecRule ARGS "@streq score" "id:12,phase:2,pass,nolog,setvar:tx.score=+5"
SecRule &TX:missing|TX:ex "@eq 1" "id:13,phase:2,pass,nolog,severity:2,skipAfter:END-EX"
SecRule ARGS:k "@rx ^$" "id:14,phase:2,pass,nolog,setvar:'tx.%{MATCHED_VAR}app=1'"
SecRule TX:ex "@eq 0" "id:15,phase:2,pass,nolog"
SecRule TX:MATCHED "@eq 1" "id:18,phase:2,pass,nolog"
SecRule MATCHED_VAR_NAME "@streq TX:ex" "id:19,phase:2,deny,status:409,chain"
    SecRule ARGS:show "@streq 1" "t:none"
SecMarker END-EX
SecRule &TX:pl "@eq 1" "id:20,phase:2,pass,nolog,chain"
    SecRule TX:ex "@eq 0" "chain"
        SecRule &TX:nothing "@eq 0"
SecRule &TX:pl "@eq 1" "id:21,phase:2,pass,nolog,chain"
    SecRule TX:score "@eq 0"
SecRule TX:score "@ge 5" "id:16,phase:2,deny,status:401"
SecRule TX:app "@eq 1" "id:17,phase:2,deny,status:402"
"#,
    );
    let fixed: Vec<_> = rs.fixed.phases[1]
        .iter()
        .zip(&rs.phases[1])
        .filter_map(|(f, e)| match (f, e) {
            (fixed::Fixed::No | fixed::Fixed::Replay(_) | fixed::Fixed::Memo, _)
            | (_, Entry::Marker(_)) => None,
            (f, Entry::Rule(r)) => Some((r.id, matches!(f, fixed::Fixed::Always(_)))),
        })
        .collect();
    assert_eq!(
        fixed,
        vec![(10, true), (13, false), (15, true), (18, false), (20, true)]
    );
    // Rule 10 always skips rule 11; rule 15's match leaves MATCHED_VAR_NAME for rule 19.
    let status = |target: &str| run(&rs, get(target, &[]), b"").0.map(|i| i.status);
    assert_eq!(status("/?a=pl2"), None);
    assert_eq!(status("/?show=1"), Some(409));
    assert_eq!(status("/?a=score"), Some(401));
    assert_eq!(status("/?k="), Some(402));
    assert_eq!(status("/?a=fine"), None);
    // A ctl that removes rules makes every rule run as written: without rule 10, rule 11 runs.
    let rs = rules(
        r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1"
SecRule ARGS:off "@streq 1" "id:2,phase:1,pass,nolog,ctl:ruleRemoveById=10"
SecRule TX:PL "@lt 2" "id:10,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@streq pl2" "id:11,phase:2,deny,status:403"
SecMarker END-PL2
"#,
    );
    assert_eq!(run(&rs, get("/?a=pl2", &[]), b"").0.map(|i| i.status), None);
    assert_eq!(
        run(&rs, get("/?a=pl2&off=1", &[]), b"").0.map(|i| i.status),
        Some(403)
    );
}

/// Phase 2's rules whose fixed entry `is`.
fn phase2_rules(rs: &RuleSet, is: impl Fn(&fixed::Fixed) -> bool) -> Vec<u32> {
    rs.fixed.phases[1]
        .iter()
        .zip(&rs.phases[1])
        .filter_map(|(f, e)| match e {
            Entry::Rule(r) if is(f) => Some(r.id),
            _ => None,
        })
        .collect()
}

/// A request through phases 1 and 2: the intervention, what happened, the `TX` values of
/// `keys` after phase 2, and how many rules were replayed.
fn run_keeping_tx(
    rs: &RuleSet,
    head: RequestHead,
    keys: &[&str],
) -> (Option<Intervention>, Audit, Vec<Option<Vec<u8>>>, usize) {
    let mut tx = rs.transaction(head);
    let mut stop = tx.process_request_headers();
    if stop.is_none() {
        stop = tx.process_request_body();
    }
    let values = keys.iter().map(|k| tx.tx(k).map(<[u8]>::to_vec)).collect();
    let n = tx.replayed;
    (stop, tx.finish(), values, n)
}

#[test]
fn rules_reading_only_tx_are_replayed_while_the_request_leaves_their_keys_alone() {
    // Rules 4-7 and 9's first link read only TX: recorded at load. Rule 8 reads the request
    // once its TX link matches (it does at load): it always runs.
    let text = r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score=0,setvar:tx.limit=5,setvar:tx.sum=0,setvar:tx.flag=0"
SecRule ARGS "@streq attack" "id:2,phase:2,pass,nolog,setvar:tx.score=+5"
SecRule ARGS:flag "@streq on" "id:3,phase:2,pass,nolog,setvar:tx.flag=1"
SecRule TX:FLAG "@eq 1" "id:4,phase:2,pass,nolog,setvar:tx.score=+1,skipAfter:END"
SecAction "id:5,phase:2,pass,nolog,setvar:tx.sum=%{tx.score},setvar:tx.sum=+%{tx.pl}"
SecRule TX:SUM "@ge %{tx.limit}" "id:6,phase:2,deny,status:403,msg:'sum %{tx.sum}'"
SecMarker END
SecRule TX:SCORE "@eq 0" "id:7,phase:2,pass,nolog,capture,setvar:tx.clean=%{MATCHED_VAR}"
SecRule TX:PL "@eq 1" "id:8,phase:2,pass,nolog,chain"
    SecRule ARGS:x "@streq y" "setvar:tx.x=1"
SecRule TX:CLEAN "@streq 1" "id:9,phase:2,deny,status:406,chain"
    SecRule ARGS:deny "@streq 1"
SecRule MATCHED_VAR "@streq 0" "id:10,phase:2,deny,status:410"
"#;
    let replayed = rules(text);
    let ids = phase2_rules(&replayed, |f| matches!(f, fixed::Fixed::Replay(_)));
    assert_eq!(ids, vec![4, 5, 6, 7, 9]);
    let plain = rules(text).without_replays();
    // Each request through both: the same outcome, matches and TX.
    let outcome = |rs: &RuleSet, target: &str| {
        let keys = ["score", "sum", "flag", "clean", "x", "0"];
        let (stop, audit, values, n) = run_keeping_tx(rs, get(target, &[]), &keys);
        ((stop.map(|i| (i.status, i.msg)), audit.ids(), values), n)
    };
    for target in [
        "/?a=fine",
        "/?a=attack",
        "/?flag=on",
        "/?a=attack&flag=on",
        "/?x=y",
        "/?deny=1",
        "/?a=attack&deny=1",
        "/?a=attack&a=attack",
    ] {
        let (with, n) = outcome(&replayed, target);
        let (without, none) = outcome(&plain, target);
        assert_eq!(with, without, "{target}");
        assert_eq!(none, 0);
        // A plain request replays rules 4, 5 and 7; rule 6 reads the sum rule 5 changed,
        // rule 9 the key rule 7 set: they run.
        if target == "/?a=fine" {
            assert_eq!(n, 3, "{target}");
            assert_eq!(with.0, None);
        }
    }
    // An attack changed the score: rules 5 and 7 run, and rule 6 blocks.
    assert_eq!(
        outcome(&replayed, "/?a=attack").0 .0,
        Some((403, "sum 6".to_string()))
    );
}

#[test]
fn rules_reading_tx_by_pattern_are_replayed_while_no_key_they_select_changes() {
    // Rule 3 reads TX members by pattern, as CRS's 922110 reads the multipart content types
    // rule 2 collects: recorded at load, where no key matches, and replayed while the request
    // writes none that does.
    let text = r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.mp_count=0,setvar:tx.other=0"
SecRule ARGS:ct "@rx ^([a-z]+/[a-z]+)$" "id:2,phase:2,pass,nolog,capture,setvar:'tx.mp_ct_%{tx.mp_count}=%{tx.1}',setvar:tx.mp_count=+1"
SecRule ARGS:other "@streq 1" "id:4,phase:2,pass,nolog,setvar:tx.other=1"
SecRule TX:/^mp_ct_/ "!@rx ^text/" "id:3,phase:2,deny,status:403"
"#;
    let fast = rules(text);
    assert_eq!(
        phase2_rules(&fast, |f| matches!(f, fixed::Fixed::Replay(_))),
        vec![3]
    );
    let plain = rules(text).without_replays();
    let outcome = |rs: &RuleSet, target: &str| {
        let keys = ["mp_ct_0", "mp_count"];
        let (stop, audit, values, n) = run_keeping_tx(rs, get(target, &[]), &keys);
        ((stop.map(|i| i.status), audit.ids(), values), n)
    };
    for (target, status, replayed) in [
        ("/", None, 1),
        ("/?other=1", None, 1),
        ("/?ct=text/plain", None, 0),
        ("/?ct=image/png", Some(403), 0),
    ] {
        let (with, n) = outcome(&fast, target);
        let (without, _) = outcome(&plain, target);
        assert_eq!(with, without, "{target}");
        assert_eq!(with.0, status, "{target}");
        assert_eq!(n, replayed, "{target}");
    }
}

#[test]
fn a_ctl_that_removes_targets_changes_only_the_rules_it_names() {
    // Rule 2 removes REQUEST_FILENAME from the rules tagged xss, as CRS v4's 941010 does on
    // nearly every request. Rule 10 is settled at load and rule 13 replayed: neither is
    // tagged, so both keep their fast path; rule 12 runs without the removed target.
    let text = r#"
SecRuleEngine On
SecAction "id:1,phase:1,pass,nolog,setvar:tx.pl=1,setvar:tx.score=0"
SecRule ARGS:quiet "@streq 1" "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=xss;REQUEST_FILENAME"
SecRule TX:PL "@lt 2" "id:10,phase:2,pass,nolog,skipAfter:END-PL2"
SecRule ARGS "@streq pl2" "id:11,phase:2,deny,status:403"
SecMarker END-PL2
SecRule REQUEST_FILENAME|ARGS "@contains <x>" "id:12,phase:2,pass,log,tag:xss,setvar:tx.score=+5"
SecRule TX:SCORE "@ge 5" "id:13,phase:2,deny,status:406"
"#;
    let fast = rules(text);
    assert_eq!(
        phase2_rules(&fast, |f| matches!(f, fixed::Fixed::Replay(_))),
        vec![13]
    );
    let plain = rules(text).without_replays();
    let outcome = |rs: &RuleSet, target: &str| {
        let (stop, audit, values, n) = run_keeping_tx(rs, get(target, &[]), &["score"]);
        ((stop.map(|i| i.status), audit.ids(), values), n)
    };
    for (target, status) in [
        ("/%3Cx%3E", Some(406)),
        ("/%3Cx%3E?quiet=1", None),
        ("/?quiet=1&a=%3Cx%3E", Some(406)),
        ("/?quiet=1&a=pl2", None),
        ("/?a=pl2", None),
    ] {
        let (with, n) = outcome(&fast, target);
        let (without, _) = outcome(&plain, target);
        assert_eq!(with, without, "{target}");
        assert_eq!(with.0, status, "{target}");
        // Where the score stayed 0, rule 13 was replayed despite rule 2's removal.
        if status.is_none() {
            assert_eq!(n, 1, "{target}");
        }
    }
}

#[test]
fn rules_over_request_values_are_remembered_by_their_inputs() {
    // Rule 3 captures each header name into TX and checks them against a setup list, as
    // CRS's 920450 does; rule 6 hashes the User-Agent, as 901318. Rule 2 writes a key rule
    // 3's chain selects, and rule 4 changes the list it reads: either makes it run.
    let text = r#"
SecRuleEngine On
SecDefaultAction "phase:2,log,pass"
SecAction "id:1,phase:1,pass,nolog,setvar:'tx.restricted=/proxy/ /lock-token/',setvar:tx.score=0"
SecRule ARGS:restrict "@streq more" "id:4,phase:1,pass,nolog,setvar:'tx.restricted=/lock-token/ /x-pre/'"
SecRule ARGS:pre "@streq 1" "id:2,phase:2,pass,nolog,setvar:tx.hn_x-pre=/x-pre/"
SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:3,phase:2,block,capture,t:none,t:lowercase,msg:'restricted %{MATCHED_VAR}',setvar:'tx.hn_%{tx.0}=/%{tx.0}/',chain"
    SecRule TX:/^hn_/ "@within %{tx.restricted}" "setvar:tx.score=+5"
SecRule TX:score "@ge 5" "id:5,phase:2,deny,status:403"
SecRule REQUEST_HEADERS:User-Agent "@rx ^.*$" "id:6,phase:2,pass,nolog,t:none,t:sha1,t:hexEncode,setvar:tx.ua=%{MATCHED_VAR}"
"#;
    let remembered = rules(text);
    let memo = phase2_rules(&remembered, |f| *f == fixed::Fixed::Memo);
    assert_eq!(memo, vec![2, 3, 6]);
    let plain = rules(text).without_replays();
    let outcome = |rs: &RuleSet, target: &str, headers: &[(&str, &str)]| {
        let keys = ["score", "ua", "0", "hn_host", "hn_x-pre", "hn_lock-token"];
        let (stop, audit, values, n) = run_keeping_tx(rs, get(target, headers), &keys);
        let msgs: Vec<_> = audit.matched.iter().map(|m| m.msg.clone()).collect();
        ((stop.map(|i| i.status), audit.ids(), msgs, values), n)
    };
    let requests: &[(&str, &[(&str, &str)])] = &[
        ("/", &[("Host", "h"), ("User-Agent", "Mozilla/5.0 (test)")]),
        ("/", &[("Host", "h"), ("Lock-Token", "x")]),
        ("/?pre=1", &[("Host", "h"), ("X-Pre", "1")]),
        ("/?pre=1&restrict=more", &[("Host", "h"), ("X-Pre", "1")]),
        ("/?restrict=more", &[("Host", "h"), ("X-Pre", "1")]),
        ("/", &[("Host", "h"), ("X-Pre", "1")]),
    ];
    let mut replayed = 0;
    // Three rounds: a run is remembered on its inputs' second sight, replayed from the third.
    for round in 0..3 {
        for (target, headers) in requests {
            let (with, n) = outcome(&remembered, target, headers);
            let (without, none) = outcome(&plain, target, headers);
            assert_eq!(with, without, "round {round}: {target} {headers:?}");
            assert_eq!(none, 0);
            if round == 2 {
                replayed += n;
            }
        }
    }
    // The plain requests' runs of rules 3 and 6 are replayed; the restricted ones, which
    // log, always run.
    assert!(replayed >= 3, "{replayed} replays");
    let (blocked, _) = outcome(
        &remembered,
        "/?restrict=more",
        &[("Host", "h"), ("X-Pre", "1")],
    );
    assert_eq!(blocked.0, Some(403));
    let (clean, _) = outcome(&remembered, "/", &[("Host", "h"), ("X-Pre", "1")]);
    assert_eq!(clean.0, None);
}

#[test]
fn repeated_values_reuse_their_scan_only_within_one_automaton() {
    use super::prefilter::{LiteralIndex, Scan};
    // Two automata, as two rule sets would have (ids far from the ones loads hand out).
    let build = |lits: &[&str], id: u64| {
        let mut ix = LiteralIndex::default();
        let want = ix.add(
            &lits
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect::<Vec<_>>(),
        );
        (ix.build(id).expect("automaton"), want)
    };
    let (a, want_a) = build(&["union", "select"], u64::MAX - 1);
    let (b, want_b) = build(&["select", "drop"], u64::MAX - 2);
    let scan = |lits: &super::prefilter::Literals, hay: &[u8]| {
        let mut out = Scan::default();
        lits.scan_memo(hay, &mut out);
        let mut plain = Scan::default();
        lits.scan(hay, &mut plain);
        assert_eq!((out.bytes, &out.ids), (plain.bytes, &plain.ids));
        out
    };
    let hay = b"id=1 UNION SELECT password FROM users";
    // The first sight is remembered, the second kept, the third served from the memo; the
    // other automaton gives its own ids for the same bytes.
    for _ in 0..3 {
        assert!(scan(&a, hay).satisfies(&want_a));
        let s = scan(&b, hay);
        assert!(s.satisfies(&want_b));
        assert_eq!(s.ids, want_b.ids[..1].to_vec());
    }
    for _ in 0..3 {
        assert!(!scan(&a, b"nothing to see in this value").satisfies(&want_a));
    }
}

#[test]
fn operators_answer_repeated_values_from_the_memo_with_the_same_result() {
    // Values of 16 bytes or more, sent three times (first sight, kept, answered from the
    // memo): a match still captures, a value that does not match still does not.
    let rs = rules(
        r#"
SecRuleEngine On
SecRule REQUEST_HEADERS:User-Agent "@rx (scanner|sqlmap)/([0-9.]+)" "id:1,phase:1,deny,status:403,capture,msg:'%{TX.1} %{TX.2}'"
SecRule REQUEST_HEADERS:Referer "@pm evil.example attacker.example" "id:2,phase:1,deny,status:406"
"#,
    );
    let answer = |header: &str, value: &str| {
        run(&rs, get("/", &[(header, value)]), b"")
            .0
            .map(|i| (i.status, i.msg))
    };
    for _ in 0..3 {
        assert_eq!(
            answer(
                "User-Agent",
                "Mozilla/5.0 sqlmap/1.7.2 (https://sqlmap.org)"
            ),
            Some((403, "sqlmap 1.7.2".into()))
        );
        assert_eq!(
            answer(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
            ),
            None
        );
        assert_eq!(
            answer("Referer", "https://attacker.example/x").map(|a| a.0),
            Some(406)
        );
        assert_eq!(answer("Referer", "https://shop.example/cart"), None);
    }
    // A rule set loaded again (another owner) does not take the first one's answers.
    let other = rules(
        r#"SecRule REQUEST_HEADERS:Referer "@pm shop.example" "id:3,phase:1,deny,status:407""#,
    );
    let (i, _) = run(
        &other,
        get("/", &[("Referer", "https://shop.example/cart")]),
        b"",
    );
    assert_eq!(i.map(|i| i.status), Some(407));
}

#[test]
fn links_known_not_to_match_a_value_are_passed_over_with_the_same_outcome() {
    // Negation, multiMatch over a transformation chain, an exclusion, a ctl that removes a
    // target for one request only, a chain and a count: every request is sent four times
    // (first sight, kept, then answered from the verdicts) and must give the first answer.
    let rs = rules(
        r#"
SecRuleEngine DetectionOnly
SecRule REQUEST_HEADERS:X-Off "@streq yes" "id:1,phase:1,pass,nolog,ctl:ruleRemoveTargetById=13;ARGS:q"
SecRule REQUEST_METHOD "!@within GET HEAD" "id:10,phase:1,pass,log"
SecRule ARGS "@rx <script" "id:11,phase:2,pass,log,multiMatch,t:none,t:urlDecodeUni,t:lowercase"
SecRule ARGS|!ARGS:safe "@contains union select" "id:12,phase:2,pass,log,t:lowercase,t:compressWhitespace"
SecRule ARGS "@contains drop table" "id:13,phase:2,pass,log,t:lowercase"
SecRule REQUEST_HEADERS:User-Agent "@pm sqlmap nikto" "id:14,phase:1,pass,log,chain"
    SecRule ARGS_NAMES "@streq q" "t:lowercase"
SecRule &ARGS "@gt 2" "id:15,phase:2,pass,log"
SecRule REQUEST_FILENAME "!@rx ^/[a-z/]*$" "id:16,phase:1,pass,log"
"#,
    );
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let cases: Vec<(RequestHead, Vec<u32>)> = vec![
        (
            get("/shop/item?q=running+shoes&page=2", &[("User-Agent", ua)]),
            vec![],
        ),
        (
            get("/shop/item?q=%3CSCRIPT%3Ealert(1)", &[("User-Agent", ua)]),
            vec![11],
        ),
        (
            get(
                "/shop/item?q=1+UNION++SELECT+x&safe=union+select",
                &[("User-Agent", ua)],
            ),
            vec![12],
        ),
        (
            get(
                "/shop/item?safe=union+select&a=1&b=2",
                &[("User-Agent", ua)],
            ),
            vec![15],
        ),
        (
            get("/shop/item?q=DROP+TABLE+users", &[("User-Agent", ua)]),
            vec![13],
        ),
        (
            get(
                "/shop/item?q=DROP+TABLE+users",
                &[("User-Agent", ua), ("X-Off", "yes")],
            ),
            vec![],
        ),
        (
            get("/shop/item?Q=x", &[("User-Agent", "sqlmap/1.7")]),
            vec![14],
        ),
        (get("/shop/item.php?q=x", &[("User-Agent", ua)]), vec![16]),
        (
            RequestHead::new(
                "POST",
                "/shop/item",
                "HTTP/1.1",
                vec![("User-Agent".into(), ua.as_bytes().to_vec())],
            ),
            vec![10],
        ),
    ];
    let mut passed_over = 0;
    for round in 0..4 {
        for (head, want) in &cases {
            let mut tx = rs.transaction(head.clone());
            tx.process_request_headers();
            tx.process_request_body();
            if round == 3 {
                passed_over += tx.passed_by_verdict;
            }
            assert_eq!(&tx.finish().ids(), want, "round {round}: {}", head.target);
        }
    }
    // By the last round, links were passed over on what earlier rounds found.
    assert!(passed_over > 10, "{passed_over}");
}

#[test]
fn new_values_alone_are_scanned_beside_values_known_not_to_match() {
    // A visit: the same headers and cookie on every request, one query value that changes.
    // Once the repeated values have verdicts, a link is passed over on the scan of the new
    // value alone, and runs only on the values it might match; the outcome is that of a
    // rule set meeting every value for the first time.
    let text = r#"
SecRuleEngine DetectionOnly
SecRule ARGS|REQUEST_COOKIES "@rx (?i)union\s+select" "id:21,phase:2,pass,log,t:none,t:urlDecodeUni"
SecRule ARGS|REQUEST_HEADERS "@contains <script" "id:22,phase:2,pass,log,t:lowercase"
SecRule ARGS "@rx drop\s+table" "id:23,phase:2,pass,log,multiMatch,t:none,t:lowercase"
SecRule REQUEST_HEADERS:Referer "@contains evil.example" "id:24,phase:2,pass,log"
"#;
    let warm = rules(text);
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let visit = |q: &str, referer: &str| {
        get(
            &format!("/search?page=2&q={q}"),
            &[
                ("User-Agent", ua),
                ("Referer", referer),
                (
                    "Cookie",
                    "session=3f1c9a7be2d04c55a1f0e9d2b7c6a581; theme=dark",
                ),
            ],
        )
    };
    let home = "https://shop.example/home";
    // Three sights of the repeated values: the third request knows their verdicts.
    for _ in 0..3 {
        run(&warm, visit("running+shoes", home), b"");
    }
    let cases = [
        (visit("red+shoes", home), vec![]),
        (visit("1%20UNION%20SELECT%20x", home), vec![21]),
        (visit("%253Cscript%253E", home), vec![]),
        (visit("<SCRIPT>", home), vec![22]),
        (visit("DROP%20TABLE%20t", home), vec![23]),
        (visit("blue+shoes", "https://evil.example/"), vec![24]),
        (visit("green+shoes", home), vec![]),
    ];
    let (mut by_new, mut known) = (0, 0);
    for (head, want) in &cases {
        let cold = rules(text);
        let mut tx = warm.transaction(head.clone());
        tx.process_request_headers();
        tx.process_request_body();
        by_new += tx.passed_by_new_values;
        known += tx.values_known_to_miss;
        assert_eq!(&tx.finish().ids(), want, "{}", head.target);
        assert_eq!(
            run(&cold, head.clone(), b"").1.ids(),
            *want,
            "{}",
            head.target
        );
    }
    assert!(by_new >= 6, "links passed over on new values: {by_new}");
    assert!(known >= 3, "values a link did not run on: {known}");
}
