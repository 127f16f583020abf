//! The ET Open 2020 rule set, when the shared test data is present: at least 95% loads,
//! nothing panics, and every loaded rule can be inspected against sample traffic.

use std::net::IpAddr;

use mamori_ids_rules::{
    parse_rules, AppProto, Buffer, Buffers, Coverage, Engine, FlowState, Input, Thresholds, Vars,
};

const ET_OPEN: &str = "/work/shared/testdata/ids/et-open-2020.rules";

fn et_text() -> Option<String> {
    match std::fs::read(ET_OPEN) {
        Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Err(_) => {
            eprintln!("{ET_OPEN} not present: skipping");
            None
        }
    }
}

#[test]
fn et_open_2020_loads_at_least_95_percent() {
    let Some(text) = et_text() else { return };
    let parsed = parse_rules(&text, ET_OPEN, &Vars::default());
    let cov = Coverage::of(&parsed);
    println!("{cov}");
    assert!(cov.percent_loaded() >= 95.0, "{cov}");
    for s in &parsed.skipped {
        assert!(s.line > 0 && !s.reason.is_empty(), "{s}");
        assert!(s.to_string().starts_with(&format!("{ET_OPEN}:{}:", s.line)));
    }

    let engine = Engine::build(parsed.rules);
    let client: IpAddr = "192.168.1.10".parse().expect("ip");
    let server: IpAddr = "203.0.113.5".parse().expect("ip");
    let request = b"GET /index.php?id=1%27%20UNION%20SELECT HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/7.1\r\n\r\n";
    let mut th = Thresholds::default();
    let mut flow = FlowState::default();
    let mut out = Vec::new();
    let mut i = Input::tcp(client, 40000, server, 80, request);
    i.app_proto = Some(AppProto::Http);
    i.stream = Some(request);
    i.buffers = Buffers::new()
        .with(Buffer::HttpMethod, b"GET")
        .with(Buffer::HttpUri, b"/index.php?id=1' UNION SELECT")
        .with(Buffer::HttpRawUri, b"/index.php?id=1%27%20UNION%20SELECT")
        .with(Buffer::HttpHost, b"example.com")
        .with(Buffer::HttpUserAgent, b"curl/7.1");
    engine.inspect(&i, &mut flow, &mut th, &mut out);
    let sids: Vec<u32> = out.iter().map(|m| m.sid).collect();
    println!("alerts on sample request: {sids:?}");
    assert!(
        sids.contains(&2013028),
        "curl User-Agent rule fires: {sids:?}"
    );
}

/// Deterministic xorshift so the mutation run is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SAMPLE_RULES: &[&str] = &[
    r#"alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"x"; flow:established,to_server; content:"POST"; http_method; content:"/a.php"; http_uri; fast_pattern; pcre:"/\/a\.php\?id=\d+$/U"; sid:1; rev:1;)"#,
    r#"alert tcp any any -> any [80,443,8000:8100] (content:"|de ad be ef|"; offset:2; depth:10; content:!"ok"; distance:0; within:20; isdataat:!1,relative; sid:2;)"#,
    r#"alert udp any any -> any 53 (byte_extract:2,0,n,relative; byte_test:2,>,n,2; byte_jump:1,4,relative,align,post_offset -1; dsize:<512; threshold:type both, track by_dst, count 3, seconds 10; sid:3;)"#,
    r#"alert dns any any -> any any (dns.query; content:"evil"; nocase; endswith; flowbits:set,a&b; flowbits:noalert; sid:4;)"#,
    r#"alert tcp any any <> ![10.0.0.0/8,!10.1.0.0/16] !$HTTP_PORTS (flags:S+,12; window:!1024; ttl:<5; flowbits:isset,a|b; detection_filter:track by_src, count 2, seconds 3; sid:5;)"#,
];

fn mutate(rng: &mut Rng, line: &str) -> String {
    let mut b = line.as_bytes().to_vec();
    const TOKENS: &[&[u8]] = &[
        b";",
        b"\"",
        b"|",
        b"\\",
        b"(",
        b")",
        b"[",
        b"]",
        b"!",
        b",",
        b":",
        b"$",
        b"-1",
        b"99999999999",
        b"relative",
        b"/",
        b"{",
        b"(?=",
        b"\\1",
    ];
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            break;
        }
        let at = rng.below(b.len());
        match rng.below(4) {
            0 => {
                b.remove(at);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                b.splice(at..at, t.iter().copied());
            }
            2 => b[at] = rng.next() as u8,
            _ => {
                let end = (at + rng.below(20)).min(b.len());
                let chunk: Vec<u8> = b[at..end].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, chunk);
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn mutated_rules_never_panic_and_errors_are_well_formed() {
    let et = et_text();
    let mut lines: Vec<&str> = SAMPLE_RULES.to_vec();
    if let Some(t) = et.as_deref() {
        lines.extend(t.lines().step_by(97));
    }
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let vars = Vars::default();
    let payloads: [&[u8]; 3] = [
        b"",
        b"GET /a.php?id=1 HTTP/1.1\r\n\r\n\xde\xad\xbe\xef",
        &[0xff; 300],
    ];
    let mut loaded = 0;
    for round in 0..4000 {
        let base = lines[rng.below(lines.len())];
        let text = mutate(&mut rng, base);
        let parsed = parse_rules(&text, "mutated.rules", &vars);
        for s in &parsed.skipped {
            assert_eq!(s.file, "mutated.rules");
            assert!(s.line >= 1 && !s.reason.is_empty(), "round {round}: {s}");
        }
        if parsed.rules.is_empty() {
            continue;
        }
        loaded += parsed.rules.len();
        let engine = Engine::build(parsed.rules);
        for p in payloads {
            let mut i = Input::tcp(
                "10.0.0.1".parse().expect("ip"),
                1,
                "8.8.8.8".parse().expect("ip"),
                80,
                p,
            );
            i.app_proto = Some(AppProto::Http);
            i.buffers = Buffers::new()
                .with(Buffer::HttpUri, p)
                .with(Buffer::DnsQuery, p)
                .with(Buffer::HttpMethod, b"POST");
            engine.inspect(
                &i,
                &mut FlowState::default(),
                &mut Thresholds::default(),
                &mut Vec::new(),
            );
        }
    }
    assert!(loaded > 0, "some mutants still load");
}

/// Inputs that make ET rules work: browsing, empty ACKs, DNS, and payloads and buffers
/// assembled from the fast patterns of randomly chosen rules, in both directions, on ports
/// the rules name and others.
fn generated_inputs<'a>(engine: &'a Engine, rng: &mut Rng, store: &'a [Vec<u8>]) -> Vec<Input<'a>> {
    let client: IpAddr = "192.168.1.10".parse().expect("ip");
    let server: IpAddr = "203.0.113.5".parse().expect("ip");
    let ports = [80u16, 443, 53, 8080, 25, 445, 4444, 6667, 40000];
    let mut inputs = Vec::new();
    for (k, data) in store.iter().enumerate() {
        let to_server = rng.below(3) != 0;
        let (src, dst) = if to_server {
            (client, server)
        } else {
            (server, client)
        };
        let port = ports[rng.below(ports.len())];
        let (sport, dport) = if to_server {
            (40000 + k as u16, port)
        } else {
            (port, 40000 + k as u16)
        };
        let udp = port == 53 && rng.below(2) == 0;
        let mut i = if udp {
            Input::udp(src, sport, dst, dport, data)
        } else {
            Input::tcp(src, sport, dst, dport, data)
        };
        i.to_server = to_server;
        i.established = rng.below(8) != 0;
        i.time_us = k as u64 * 50_000;
        i.app_proto = [
            None,
            Some(AppProto::Http),
            Some(AppProto::Dns),
            Some(AppProto::Tls),
        ][rng.below(4)];
        match rng.below(4) {
            // Empty ACK.
            0 => i.packet = b"",
            // Stream data alongside the packet.
            1 => i.stream = Some(data),
            // A transaction: the data as the buffers its rules look at.
            2 => {
                i.packet = b"";
                for _ in 0..4 {
                    let r = engine.rule(rng.below(engine.len()));
                    if let Some((Some(b), _)) = r.fast_pattern() {
                        i.buffers.set(b, data);
                    }
                }
                i.buffers.set(Buffer::HttpUri, data);
                i.buffers.set(Buffer::DnsQuery, data);
            }
            _ => {}
        }
        if let Some(t) = i.tcp.as_mut() {
            t.flags = [0x02, 0x10, 0x18, 0x12][rng.below(4)];
        }
        inputs.push(i);
    }
    inputs
}

/// Data made of a few rules' prefilter patterns (a content, or one of a `pcre`'s prefix
/// literals), with text around, or plain browsing traffic.
fn generated_data(engine: &Engine, rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    let browse: &[&[u8]] = &[
        b"GET /index.php?id=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (Windows NT 6.1)\r\nAccept: */*\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nServer: Apache\r\n\r\n<html><body>hello</body></html>",
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01",
    ];
    (0..n)
        .map(|_| {
            let mut d = browse[rng.below(browse.len())].to_vec();
            if rng.below(4) != 0 {
                d.clear();
                for _ in 0..1 + rng.below(4) {
                    let r = engine.rule(rng.below(engine.len()));
                    let patterns = r.prefilter_patterns();
                    if !patterns.is_empty() {
                        d.extend_from_slice(&patterns[rng.below(patterns.len())]);
                    }
                    d.extend_from_slice([&b" "[..], b"\r\n", b"/", b"\x00\x01"][rng.below(4)]);
                    if rng.below(3) == 0 {
                        d.extend_from_slice(browse[rng.below(browse.len())]);
                    }
                }
            }
            d
        })
        .collect()
}

#[test]
fn prefilters_and_indexes_find_what_evaluating_every_rule_finds() {
    let Some(text) = et_text() else { return };
    let parsed = parse_rules(&text, ET_OPEN, &Vars::default());
    let engine = Engine::build(parsed.rules);
    let mut rng = Rng(0x0dd5_eed5_1234_5678);
    let store = generated_data(&engine, &mut rng, 400);
    let inputs = generated_inputs(&engine, &mut rng, &store);
    let (mut th_fast, mut th_ref) = (Thresholds::default(), Thresholds::default());
    let mut flows_fast = vec![FlowState::default(); 16];
    let mut flows_ref = vec![FlowState::default(); 16];
    let mut total = 0;
    for (k, i) in inputs.iter().enumerate() {
        let f = k % 16;
        let (mut fast, mut reference) = (Vec::new(), Vec::new());
        engine.inspect(i, &mut flows_fast[f], &mut th_fast, &mut fast);
        engine.inspect_unfiltered(i, &mut flows_ref[f], &mut th_ref, &mut reference);
        assert_eq!(fast, reference, "input {k}: {i:?}");
        total += fast.len();
    }
    println!("{} inputs, {total} matches", inputs.len());
    assert!(total > 20, "the workload makes rules match: {total}");
}
