//! Operator behaviour as ModSecurity v3 defines it (cases re-expressed from its reference
//! manual and regression tests).

use super::*;

fn op(name: &str, arg: &str) -> Operator {
    Operator::compile(name, arg, Path::new(".")).unwrap_or_else(|e| panic!("@{name} {arg}: {e}"))
}

fn m(o: &Operator, input: &str) -> bool {
    o.eval(input.as_bytes(), false).is_some()
}

fn caps(o: &Operator, input: &str) -> Vec<String> {
    o.eval(input.as_bytes(), true)
        .map(|m| {
            m.captures
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rx_matches_with_modsecurity_flags_and_captures_groups() {
    let o = op("rx", "(?i)union\\s+(select)");
    assert!(m(&o, "1 UNION  select"));
    assert_eq!(
        caps(&o, "1 UNION  select x"),
        vec!["UNION  select", "select"]
    );
    assert!(m(&op("rx", "a.b"), "a\nb"));
    assert!(!m(&op("rx", "^a$"), "a\n"));
    assert!(Operator::compile("rx", "(", Path::new(".")).is_err());
    assert!(op("rx", "x").is_linear());
}

#[test]
fn pm_is_case_insensitive_and_captures_the_phrase() {
    let o = op("pm", "select union");
    assert!(m(&o, "xUnIoNx"));
    assert_eq!(caps(&o, "a SELECT b"), vec!["select"]);
    assert!(!m(&o, "selec"));
}

#[test]
fn string_comparisons_are_case_sensitive() {
    assert!(m(&op("streq", "POST"), "POST"));
    assert!(!m(&op("streq", "POST"), "post"));
    assert!(!m(&op("streq", "POST"), "POSTX"));
    assert!(m(&op("streq", ""), ""));
    assert!(m(&op("contains", "php"), "index.php?x"));
    assert!(!m(&op("contains", "PHP"), "index.php"));
    assert!(m(&op("contains", ""), "anything"));
    assert!(m(&op("beginsWith", "/admin"), "/admin/x"));
    assert!(!m(&op("beginsWith", "/admin"), "/adm"));
    assert!(m(&op("endsWith", ".php"), "a.php"));
    assert!(!m(&op("endsWith", ".php"), "a.php5"));
    assert!(m(&op("strmatch", "WebZIP"), "Mozilla WebZIP/1.0"));
}

#[test]
fn within_looks_for_the_input_inside_the_argument() {
    let methods = op("within", "GET HEAD POST OPTIONS");
    assert!(m(&methods, "GET"));
    assert!(m(&methods, "POST"));
    assert!(!m(&methods, "PUT"));
    // Substring semantics: a piece of a listed word is within the list too.
    assert!(m(&methods, "EAD"));
    // CRS v3 wraps the values in bars to avoid that.
    let barred = op("within", "|GET| |POST|");
    assert!(m(&barred, "|GET|"));
    assert!(!m(&barred, "|GE|"));
    // The empty string always matches.
    assert!(m(&methods, ""));
    assert!(!m(&op("within", "get"), "GET"));
}

#[test]
fn contains_word_needs_non_letters_around_the_word() {
    let o = op("containsWord", "select");
    assert!(m(&o, "select"));
    assert!(m(&o, "a select b"));
    assert!(m(&o, "1select2"));
    assert!(m(&o, "(select)"));
    assert!(!m(&o, "selection"));
    assert!(!m(&o, "unselect"));
    assert!(m(&o, "selection, select"));
    assert!(!m(&o, ""));
    assert!(m(&op("containsWord", ""), "x"));
}

#[test]
fn numbers_are_parsed_like_modsecurity() {
    // Leading digits count, anything else is 0.
    assert!(m(&op("eq", "0"), "abc"));
    assert!(m(&op("eq", "12"), "12abc"));
    assert!(m(&op("eq", "-3"), " -3"));
    assert!(m(&op("eq", "5"), "+5"));
    // @eq uses a C int: out of range is 0.
    assert!(m(&op("eq", "0"), "99999999999"));
    // The others use 64-bit atoll.
    assert!(m(&op("gt", "2147483647"), "99999999999"));
    assert!(m(&op("ge", "5"), "5"));
    assert!(!m(&op("gt", "5"), "5"));
    assert!(m(&op("lt", "5"), "4"));
    assert!(m(&op("le", "5"), "5"));
    assert!(m(&op("lt", "1"), "x"));
    assert!(m(&op("ge", "abc"), "0"));
    assert!(m(&op("gt", "-1"), "0"));
}

#[test]
fn ip_match_accepts_addresses_and_networks() {
    let o = op("ipMatch", "127.0.0.1,10.0.0.0/8,::1");
    assert!(m(&o, "10.2.3.4"));
    assert!(m(&o, "::1"));
    assert!(!m(&o, "11.0.0.1"));
    assert!(Operator::compile("ipMatch", "nope", Path::new(".")).is_err());
}

#[test]
fn ip_match_from_file_resolves_against_the_rule_directory() {
    let dir = mamori_core::scratch::dir("ipf");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ips.txt"),
        "# office\n192.168.0.0/16\n\n2001:db8::1\n",
    )
    .unwrap();
    let o = Operator::compile("ipMatchFromFile", "ips.txt", &dir).unwrap();
    assert!(o.eval(b"192.168.4.4", false).is_some());
    assert!(o.eval(b"2001:db8::1", false).is_some());
    assert!(o.eval(b"8.8.8.8", false).is_none());
    let pm = {
        std::fs::write(dir.join("ua.data"), "# agents\nsqlmap\nNikto\n").unwrap();
        Operator::compile("pmFromFile", "ua.data", &dir).unwrap()
    };
    assert_eq!(
        pm.eval(b"Mozilla nikto/2", true).unwrap().captures,
        vec![b"Nikto".to_vec()]
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validators_match_invalid_input() {
    assert!(m(&op("validateByteRange", "32-126"), "a\u{1}"));
    assert!(!m(&op("validateByteRange", "9,10,13,32-126"), "a b\n"));
    assert!(m(&op("validateUrlEncoding", ""), "%zz"));
    assert!(!m(&op("validateUrlEncoding", ""), "%41"));
    assert!(op("validateUtf8Encoding", "")
        .eval(b"\xc0\xaf", false)
        .is_some());
    assert!(!m(&op("validateUtf8Encoding", ""), "héllo"));
}

#[test]
fn detect_operators_call_our_detectors() {
    let sqli = op("detectSQLi", "");
    let hit = sqli.eval(b"1' or '1'='1", true);
    assert!(
        hit.as_ref()
            .is_some_and(|h| h.captures.len() == 1 && !h.captures[0].is_empty()),
        "{hit:?}"
    );
    assert!(!m(&sqli, "hello world"));
    assert!(m(&op("detectXSS", ""), "<script>alert(1)</script>"));
    assert!(!m(&op("detectXSS", ""), "hello world"));
}

#[test]
fn verify_cc_checks_luhn_on_regex_matches() {
    let o = op("verifyCC", r"\d{13,16}");
    assert_eq!(
        caps(&o, "card 4111111111111111 end"),
        vec!["4111111111111111"]
    );
    assert!(!m(&o, "card 4111111111111112 end"));
    assert!(luhn(b"4111-1111-1111-1111"));
    assert!(!luhn(b"----"));
}

#[test]
fn unconditional_and_no_match() {
    assert!(m(&op("unconditionalMatch", ""), ""));
    assert!(!m(&op("noMatch", ""), "x"));
}

#[test]
fn captures_only_where_modsecurity_sets_tx() {
    assert_eq!(op("streq", "a").eval(b"a", true), Some(OpMatch::default()));
    assert_eq!(op("eq", "1").eval(b"1", true), Some(OpMatch::default()));
}

#[test]
fn operators_needing_outside_services_are_load_errors() {
    for name in ["rbl", "geoLookup", "inspectFile", "gsbLookup"] {
        let e = Operator::compile(name, "x", Path::new(".")).unwrap_err();
        assert!(e.0.contains("not supported"), "{e}");
    }
    assert!(Operator::compile("nope", "", Path::new(".")).is_err());
}

#[test]
fn names_are_case_insensitive() {
    assert!(m(&op("BEGINSWITH", "a"), "ab"));
    assert!(m(&op("StrEq", "a"), "a"));
}

#[test]
fn required_literals_cover_string_operators() {
    assert_eq!(
        op("contains", "PHP").required_literals(),
        Some(vec![b"php".to_vec()])
    );
    assert_eq!(op("contains", "").required_literals(), None);
    assert_eq!(
        op("pm", "A b").required_literals(),
        Some(vec![b"a".to_vec(), b"b".to_vec()])
    );
    assert_eq!(op("lt", "1").required_literals(), None);
}

#[test]
fn substring_search_agrees_with_memmem_on_short_and_long_haystacks() {
    let long = "x".repeat(300) + "GET HEAD POST";
    let cases: &[(&[u8], &[u8])] = &[
        (b"GET HEAD POST OPTIONS", b"POST"),
        (b"GET HEAD POST OPTIONS", b"PUT"),
        (b"GET HEAD POST OPTIONS", b""),
        (b"", b"GET"),
        (b"GE", b"GET"),
        (b"aaaaaaab", b"aab"),
        (b"/proxy/ /lock-token/", b"/lock-token/"),
        (b"/proxy/ /lock-token/", b"/lock-token//"),
        (long.as_bytes(), b"POST"),
        (long.as_bytes(), b"PATCH"),
    ];
    for (hay, needle) in cases {
        assert_eq!(
            super::find(hay, needle),
            memchr::memmem::find(hay, needle).is_some(),
            "{:?} in {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(hay)
        );
    }
}
