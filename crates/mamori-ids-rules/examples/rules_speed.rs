//! Load a rule file, report coverage, parse/build time and the engine's memory, then time
//! inspection of synthetic traffic shaped like the IDS benchmark capture: HTTP request and
//! response payload packets (~500 bytes), empty ACKs, DNS query packets, and the HTTP and
//! DNS transactions the app layer produces from them.
//!
//! cargo run --release -p mamori-ids-rules --example rules_speed -- /path/to/et-open.rules [iterations]

use std::net::IpAddr;
use std::time::Instant;

use mamori_ids_rules::{
    parse_rules, AppProto, Buffer, Buffers, Coverage, Engine, FlowState, Input, Match, TcpFields,
    Thresholds, Vars,
};

struct Tx {
    request: Vec<u8>,
    method: &'static [u8],
    uri: Vec<u8>,
    host: Vec<u8>,
    ua: Vec<u8>,
    headers: Vec<u8>,
    cookie: Vec<u8>,
    response: Vec<u8>,
    response_headers: Vec<u8>,
    content_type: &'static [u8],
    body: Vec<u8>,
    dns_name: Vec<u8>,
    dns_packet: Vec<u8>,
}

/// Deterministic xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// A DNS query message for `name` (type A, recursion desired).
fn dns_query(id: u16, name: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(name.len() + 18);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split(|&b| b == b'.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label);
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// Deterministic pseudo-random traffic: benign browsing and name lookups.
fn traffic(n: usize) -> Vec<Tx> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let paths = [
        "/index.html",
        "/images/logo.png",
        "/api/v1/items",
        "/search",
        "/static/app.js",
        "/login.php",
        "/wp-content/themes/x/style.css",
        "/download/file.zip",
        "/news/2020/05/article-title-goes-here",
        "/cart/checkout",
    ];
    let hosts = [
        "www.example.com",
        "cdn.example.net",
        "shop.example.org",
        "news.example.jp",
        "static.cloudprovider.com",
        "api.weather.example",
    ];
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 13_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Safari/605.1.15",
        "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/119.0",
        "curl/8.4.0",
    ];
    let types: [(&'static [u8], &str); 4] = [
        (b"text/html; charset=utf-8", "html"),
        (b"application/json", "json"),
        (b"image/png", "png"),
        (b"application/javascript", "js"),
    ];
    let words = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
        "sed",
        "do",
        "eiusmod",
        "tempor",
        "incididunt",
        "ut",
        "labore",
        "et",
        "dolore",
        "magna",
    ];
    (0..n)
        .map(|k| {
            let r = rng.next();
            let method: &'static [u8] = if r.is_multiple_of(5) { b"POST" } else { b"GET" };
            let uri = format!(
                "{}?id={}&q=term{}",
                rng.pick(&paths),
                r % 100_000,
                (r >> 20) % 1000
            )
            .into_bytes();
            let host = rng.pick(&hosts).as_bytes().to_vec();
            let ua = rng.pick(&uas).as_bytes().to_vec();
            let cookie = format!(
                "session={:016x}; theme=dark; _ga=GA1.2.{}.{}",
                rng.next(),
                rng.next() % 1_000_000_000,
                rng.next() % 1_000_000_000
            )
            .into_bytes();
            let mut headers = Vec::new();
            headers.extend_from_slice(b"Host: ");
            headers.extend_from_slice(&host);
            headers.extend_from_slice(b"\r\nUser-Agent: ");
            headers.extend_from_slice(&ua);
            headers.extend_from_slice(b"\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nReferer: https://www.example.com/\r\nCookie: ");
            headers.extend_from_slice(&cookie);
            headers.extend_from_slice(b"\r\nConnection: keep-alive\r\n\r\n");
            let mut request = Vec::new();
            request.extend_from_slice(method);
            request.push(b' ');
            request.extend_from_slice(&uri);
            request.extend_from_slice(b" HTTP/1.1\r\n");
            request.extend_from_slice(&headers);
            let (content_type, kind) = *rng.pick(&types);
            let mut text = format!("<html><head><title>Page {r} ({kind})</title></head><body>");
            while text.len() < 260 {
                text.push_str(words[(rng.next() % words.len() as u64) as usize]);
                text.push(' ');
            }
            text.push_str("</body></html>");
            let body = text.into_bytes();
            let response_headers = format!(
                "HTTP/1.1 200 OK\r\nDate: Tue, 12 May 2020 10:{:02}:{:02} GMT\r\nContent-Type: {}\r\nContent-Length: {}\r\nServer: nginx\r\nCache-Control: max-age=600\r\n\r\n",
                k % 60,
                (k / 60) % 60,
                String::from_utf8_lossy(content_type),
                body.len()
            )
            .into_bytes();
            let mut response = response_headers.clone();
            response.extend_from_slice(&body);
            let dns_name = format!("{}.{}", rng.pick(&["www", "mail", "api", "img", "cdn"]), String::from_utf8_lossy(&host)).into_bytes();
            let dns_packet = dns_query(r as u16, &dns_name);
            Tx {
                request,
                method,
                uri,
                host,
                ua,
                headers,
                cookie,
                response,
                response_headers,
                content_type,
                body,
                dns_name,
                dns_packet,
            }
        })
        .collect()
}

const CLIENT: &str = "192.168.1.10";
const SERVER: &str = "93.184.216.34";
const RESOLVER: &str = "8.8.8.8";

/// The packets of one HTTP exchange and its DNS lookup, as the capture would show them.
fn packets(tx: &Tx, k: usize) -> [(Input<'_>, Kind); 6] {
    let client: IpAddr = CLIENT.parse().expect("ip");
    let server: IpAddr = SERVER.parse().expect("ip");
    let resolver: IpAddr = RESOLVER.parse().expect("ip");
    let sport = 40000 + (k % 20000) as u16;
    let time_us = k as u64 * 1000;
    let tcp = |flags| {
        Some(TcpFields {
            flags,
            seq: k as u32,
            ack: k as u32 ^ 0x5555,
            window: 502,
        })
    };
    let mut req = Input::tcp(client, sport, server, 80, &tx.request);
    req.app_proto = Some(AppProto::Http);
    req.time_us = time_us;
    req.tcp = tcp(0x18);
    let mut ack_s = req;
    ack_s.packet = b"";
    ack_s.tcp = tcp(0x10);
    let mut resp = Input::tcp(server, 80, client, sport, &tx.response);
    resp.to_server = false;
    resp.app_proto = Some(AppProto::Http);
    resp.time_us = time_us;
    resp.tcp = tcp(0x18);
    let mut ack_c = resp;
    ack_c.packet = b"";
    ack_c.tcp = tcp(0x10);
    let mut dns = Input::udp(
        client,
        50000 + (k % 10000) as u16,
        resolver,
        53,
        &tx.dns_packet,
    );
    dns.app_proto = Some(AppProto::Dns);
    dns.time_us = time_us;
    let mut ack2 = ack_s;
    ack2.tcp = tcp(0x11);
    [
        (dns, Kind::Dns),
        (req, Kind::Http),
        (ack_c, Kind::Ack),
        (resp, Kind::Http),
        (ack_s, Kind::Ack),
        (ack2, Kind::Ack),
    ]
}

/// The transactions the app layer reports for one exchange: HTTP request, HTTP response
/// (with the request's buffers), DNS query.
fn transactions(tx: &Tx, k: usize) -> [(Input<'_>, Kind); 3] {
    let client: IpAddr = CLIENT.parse().expect("ip");
    let server: IpAddr = SERVER.parse().expect("ip");
    let resolver: IpAddr = RESOLVER.parse().expect("ip");
    let sport = 40000 + (k % 20000) as u16;
    let req_bufs = Buffers::new()
        .with(Buffer::HttpMethod, tx.method)
        .with(Buffer::HttpUri, &tx.uri)
        .with(Buffer::HttpRawUri, &tx.uri)
        .with(Buffer::HttpHost, &tx.host)
        .with(Buffer::HttpRawHost, &tx.host)
        .with(Buffer::HttpUserAgent, &tx.ua)
        .with(Buffer::HttpCookie, &tx.cookie)
        .with(Buffer::HttpProtocol, b"HTTP/1.1")
        .with(Buffer::HttpHeader, &tx.headers)
        .with(Buffer::HttpRawHeader, &tx.headers);
    let mut req = Input::tcp(client, sport, server, 80, b"");
    req.app_proto = Some(AppProto::Http);
    req.buffers = req_bufs;
    req.tcp = None;
    req.time_us = k as u64 * 1000;
    let mut resp = Input::tcp(server, 80, client, sport, b"");
    resp.to_server = false;
    resp.app_proto = Some(AppProto::Http);
    resp.tcp = None;
    resp.buffers = req_bufs
        .with(Buffer::HttpStatCode, b"200")
        .with(Buffer::HttpStatMsg, b"OK")
        .with(Buffer::HttpContentType, tx.content_type)
        .with(Buffer::HttpServer, b"nginx")
        .with(Buffer::HttpResponseBody, &tx.body)
        .with(Buffer::FileData, &tx.body);
    resp.buffers
        .set(Buffer::HttpHeader, &tx.response_headers[17..]);
    resp.time_us = req.time_us;
    let mut dns = Input::udp(client, 50000 + (k % 10000) as u16, resolver, 53, b"");
    dns.app_proto = Some(AppProto::Dns);
    dns.buffers = Buffers::new().with(Buffer::DnsQuery, &tx.dns_name);
    dns.time_us = req.time_us;
    [(req, Kind::Http), (resp, Kind::Http), (dns, Kind::Dns)]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Ack,
    Dns,
}

/// Inspections per second of the inputs `make` yields for exchanges `0..iterations`,
/// counting only those of `only` (all kinds when `None`).
fn measure<'t, const N: usize>(
    engine: &Engine,
    txs: &'t [Tx],
    iterations: usize,
    only: Option<Kind>,
    make: impl Fn(&'t Tx, usize) -> [(Input<'t>, Kind); N],
) -> (f64, usize, usize, usize) {
    let mut thresholds = Thresholds::default();
    let mut out: Vec<Match> = Vec::new();
    let (mut count, mut bytes, mut alerts) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for k in 0..iterations {
        let tx = &txs[k % txs.len()];
        let mut flow = FlowState::default();
        for (input, kind) in make(tx, k) {
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            engine.inspect(&input, &mut flow, &mut thresholds, &mut out);
            count += 1;
            bytes += input.packet.len();
            alerts += out.len();
            out.clear();
        }
    }
    (t.elapsed().as_secs_f64(), count, bytes, alerts)
}

/// The fastest of three runs: the machine may be shared, and the best run is the one least
/// disturbed by others.
fn best(run: impl Fn() -> (f64, usize, usize, usize)) -> (f64, usize, usize, usize) {
    (0..3)
        .map(|_| run())
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or_default()
}

fn report(what: &str, (secs, count, bytes, alerts): (f64, usize, usize, usize)) {
    let mb = if bytes > 0 {
        format!(", {:.1} MB/s", bytes as f64 / secs / 1e6)
    } else {
        String::new()
    };
    println!(
        "{what}: {count} in {secs:.3}s = {:.0}/s{mb}, {alerts} alerts",
        count as f64 / secs
    );
}

/// Resident set size in kB, from /proc (Linux only; 0 elsewhere).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: rules_speed RULES_FILE [iterations]");
        std::process::exit(2);
    };
    let iterations: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let text = match std::fs::read(&path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            eprintln!("reading {path}: {e}");
            std::process::exit(1);
        }
    };

    let t = Instant::now();
    let parsed = parse_rules(&text, &path, &Vars::default());
    let parse_s = t.elapsed().as_secs_f64();
    drop(text);
    let cov = Coverage::of(&parsed);
    print!("{cov}");
    let n = parsed.rules.len();
    let rss_rules = rss_kb();
    let t = Instant::now();
    let engine = Engine::build(parsed.rules);
    let build_s = t.elapsed().as_secs_f64();
    let rss_engine = rss_kb();
    println!(
        "parse: {parse_s:.3}s ({:.0} rules/s); build: {build_s:.3}s; always-evaluated rules (max per group): {}",
        (n + cov.skipped) as f64 / parse_s,
        engine.max_always_evaluated()
    );
    println!(
        "memory: {} MB resident with the parsed rules, {} MB after building the engine (+{} MB; indexes {} MB)",
        rss_rules / 1024,
        rss_engine / 1024,
        rss_engine.saturating_sub(rss_rules) / 1024,
        engine.index_memory() >> 20
    );

    let txs = traffic(512);
    // Warm up caches and lazily built regex state.
    measure(&engine, &txs, 200, None, packets);
    measure(&engine, &txs, 200, None, transactions);

    report(
        "HTTP payload packets (~500 B)",
        best(|| measure(&engine, &txs, iterations, Some(Kind::Http), packets)),
    );
    report(
        "empty ACK packets",
        best(|| measure(&engine, &txs, iterations, Some(Kind::Ack), packets)),
    );
    report(
        "DNS query packets",
        best(|| measure(&engine, &txs, iterations, Some(Kind::Dns), packets)),
    );
    report(
        "packet mix (1 DNS : 2 HTTP : 3 ACK)",
        best(|| measure(&engine, &txs, iterations, None, packets)),
    );
    report(
        "HTTP transactions",
        best(|| measure(&engine, &txs, iterations, Some(Kind::Http), transactions)),
    );
    report(
        "DNS transactions",
        best(|| measure(&engine, &txs, iterations, Some(Kind::Dns), transactions)),
    );
    report(
        "transaction mix (2 HTTP : 1 DNS)",
        best(|| measure(&engine, &txs, iterations, None, transactions)),
    );
}
