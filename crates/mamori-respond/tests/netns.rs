//! Response actions against real traffic. Each test builds three network namespaces,
//!
//! ```text
//!   lan 10.231.1.2 ── 10.231.1.1 gw 10.231.2.1 ── 10.231.2.2 inet
//!   ("infected" PC)    (gateway: the firewall,      (the internet: TCP :8000,
//!                       console stand-in :8080)       echo :7, DNS on UDP and TCP :53)
//! ```
//!
//! applies actions with a `Firewall` in the gateway's namespace and proves with TCP
//! connects, ICMP echo and DNS queries from lan that traffic stops and resumes. Nothing
//! leaves these namespaces. Needs root, `ip` (iproute2) and `nft` (nftables); without them
//! the tests print why and pass, except under `CI`, where they fail.

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mamori_respond::{Action, Firewall, FirewallConfig, RespondError};

const LAN: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 2);
const GW_LAN: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 1);
const GW_INET: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 1);
const INET: Ipv4Addr = Ipv4Addr::new(10, 231, 2, 2);
const WEB_PORT: u16 = 8000;
const CONSOLE_PORT: u16 = 8080;
const ECHO_PORT: u16 = 7;
/// How long a probe that should fail waits before calling it failed.
const PROBE: Duration = Duration::from_millis(500);

// ---- actions, proved with traffic -------------------------------------------------------

#[test]
fn block_net_stops_tcp_and_ping_until_revoked() {
    let Some(lab) = Lab::new() else { return };
    let elsewhere = Firewall::new(FirewallConfig {
        netns: Some(format!("mr-missing-{}", std::process::id())),
        ..FirewallConfig::default()
    })
    .expect("config");
    assert!(
        matches!(elsewhere.list(), Err(RespondError::NoNamespace { .. })),
        "a missing namespace must not read as an empty table"
    );
    lab.fw
        .available()
        .expect("nft usable in the gateway namespace");
    lab.fw.ensure().expect("ensure");
    lab.expect_open("before any action");

    let host = Action::BlockNet {
        net: IpAddr::V4(INET).into(),
        ttl: None,
    };
    lab.fw.apply(&host).expect("block inet host");
    lab.expect_closed("after blocking 10.231.2.2");
    lab.fw.revoke(&host).expect("revoke");
    lab.expect_open("after revoking the host block");
    lab.fw.revoke(&host).expect("revoking twice is fine");

    let net = Action::BlockNet {
        net: "10.231.2.0/24".parse().unwrap(),
        ttl: None,
    };
    lab.fw.apply(&net).expect("block inet network");
    lab.expect_closed("after blocking 10.231.2.0/24");
    // A host inside it has a set of its own; a nested network is refused.
    lab.fw.apply(&host).expect("host inside a blocked network");
    let nested = Action::BlockNet {
        net: "10.231.2.0/25".parse().unwrap(),
        ttl: None,
    };
    assert!(matches!(
        lab.fw.apply(&nested),
        Err(RespondError::Overlap { .. })
    ));
    lab.fw.revoke(&net).expect("revoke network");
    lab.expect_closed("with the host block still in place");
    lab.fw.revoke(&host).expect("revoke host");
    lab.expect_open("after revoking both");
}

#[test]
fn isolate_keeps_only_the_console_and_dns() {
    let Some(lab) = Lab::new() else { return };
    let isolate = Action::Isolate {
        host: IpAddr::V4(LAN),
        ttl: None,
    };
    let mut session = lab.echo_session();
    assert!(echo(&mut session, b"before"), "echo session not working");
    lab.fw.apply(&isolate).expect("isolate lan host");
    assert!(
        !echo(&mut session, b"after"),
        "isolation left an established connection open"
    );
    assert!(
        !lab.tcp(INET, WEB_PORT),
        "isolated host still reaches the internet over TCP"
    );
    assert!(!lab.ping(INET), "isolated host still pings the internet");
    assert!(
        lab.tcp(GW_LAN, CONSOLE_PORT),
        "isolated host cannot reach the console"
    );
    assert!(
        lab.ping(GW_LAN),
        "isolated host cannot ping the console address"
    );
    assert!(
        lab.dns_udp("allowed.example"),
        "isolated host lost DNS although allow_dns is on"
    );
    assert_eq!(
        lab.fw.list().expect("list"),
        vec![Action::Isolate {
            host: IpAddr::V4(LAN),
            ttl: None
        }]
    );
    lab.fw.revoke(&isolate).expect("release");
    lab.expect_open("after releasing the host");
}

#[test]
fn ttl_expires_by_itself() {
    let Some(lab) = Lab::new() else { return };
    let block = Action::BlockNet {
        net: IpAddr::V4(INET).into(),
        ttl: Some(Duration::from_secs(2)),
    };
    let start = Instant::now();
    lab.fw.apply(&block).expect("block for 2 s");
    assert!(
        !lab.tcp(INET, WEB_PORT),
        "block with a TTL did not take effect"
    );
    let listed = lab.fw.list().expect("list");
    assert!(
        matches!(listed.as_slice(), [Action::BlockNet { ttl: Some(t), .. }] if *t <= Duration::from_secs(2)),
        "{listed:?}"
    );
    let open_after = wait_until(Duration::from_secs(6), || lab.tcp(INET, WEB_PORT));
    let took = start.elapsed();
    assert!(open_after, "block with a 2 s TTL still in place after 6 s");
    assert!(
        took >= Duration::from_millis(1500),
        "expired too soon: {took:?}"
    );
    assert!(lab.ping(INET));
    assert!(lab.fw.list().expect("list").is_empty());
}

#[test]
fn blocked_domain_gets_no_answer_while_others_do() {
    let Some(lab) = Lab::new() else { return };
    assert!(
        lab.dns_udp("blocked.example"),
        "DNS responder not answering"
    );
    let block = Action::BlockDomain {
        domain: "Blocked.Example.".into(),
        ttl: None,
    };
    lab.fw.apply(&block).expect("block domain");
    assert!(
        !lab.dns_udp("blocked.example"),
        "blocked name answered over UDP"
    );
    assert!(
        !lab.dns_udp("BLOCKED.example"),
        "blocked name answered in other case"
    );
    assert!(
        !lab.dns_tcp("blocked.example"),
        "blocked name answered over TCP"
    );
    assert!(lab.dns_udp("allowed.example"), "other name not answered");
    assert!(
        lab.dns_udp("blocked.example.com"),
        "longer name was blocked"
    );
    assert!(
        lab.dns_tcp("allowed.example"),
        "other name not answered over TCP"
    );
    assert!(
        lab.tcp(INET, WEB_PORT),
        "domain block stopped other traffic"
    );
    assert_eq!(
        lab.fw.list().expect("list"),
        vec![Action::BlockDomain {
            domain: "blocked.example".into(),
            ttl: None
        }]
    );
    lab.fw
        .apply(&block)
        .expect("applying again replaces, not duplicates");
    assert_eq!(lab.fw.list().expect("list").len(), 1);
    lab.fw.revoke(&block).expect("revoke domain");
    assert!(
        lab.dns_udp("blocked.example"),
        "name still blocked after revoke"
    );
    assert!(
        lab.dns_tcp("blocked.example"),
        "name still blocked over TCP after revoke"
    );

    // A domain block with a TTL ends by itself too.
    let brief = Action::BlockDomain {
        domain: "brief.example".into(),
        ttl: Some(Duration::from_secs(2)),
    };
    lab.fw.apply(&brief).expect("block domain for 2 s");
    assert!(
        !lab.dns_udp("brief.example"),
        "domain block with a TTL did not take effect"
    );
    assert!(
        wait_until(Duration::from_secs(6), || lab.dns_udp("brief.example")),
        "domain block with a 2 s TTL still in place after 6 s"
    );
    assert!(lab.fw.list().expect("list").is_empty());
}

#[test]
fn sync_after_remove_restores_the_state() {
    let Some(lab) = Lab::new() else { return };
    let actions = vec![
        Action::BlockNet {
            net: IpAddr::V4(INET).into(),
            ttl: Some(Duration::from_secs(600)),
        },
        Action::BlockDomain {
            domain: "blocked.example".into(),
            ttl: None,
        },
    ];
    for a in &actions {
        lab.fw.apply(a).expect("apply");
    }
    // ensure() on a populated table keeps what it holds.
    lab.fw.ensure().expect("ensure again");
    let before = lab.fw.list().expect("list");
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(!lab.tcp(INET, WEB_PORT));

    lab.fw.remove().expect("remove table");
    lab.fw.remove().expect("removing a missing table is fine");
    assert!(lab.fw.list().expect("list without a table").is_empty());
    lab.fw.revoke(&actions[0]).expect("revoke without a table");
    lab.expect_open("after removing the table");

    let skipped = lab.fw.sync(&before).expect("sync");
    assert!(skipped.is_empty(), "{skipped:?}");
    lab.expect_closed("after sync");
    assert!(!lab.dns_tcp("blocked.example") && lab.fw.list().expect("list").len() == 2);

    // sync replaces, it does not add: an empty list clears everything.
    lab.fw.sync(&[]).expect("sync to nothing");
    lab.expect_open("after syncing to no actions");
    assert!(lab.dns_udp("blocked.example"));
}

// ---- the lab ---------------------------------------------------------------------------

/// The three namespaces, their servers, and a firewall in the gateway. Dropping it stops
/// the servers and deletes the namespaces (veths go with them).
struct Lab {
    fw: Firewall,
    servers: Vec<Server>,
    // Declared last: dropped after the servers.
    lan: Netns,
    _gw: Netns,
    _inet: Netns,
}

impl Lab {
    /// The lab, or `None` (after saying why) where it cannot be built.
    fn new() -> Option<Lab> {
        if let Some(why) = unusable() {
            if ci() {
                panic!("CI is set, so this test must run: {why}");
            }
            eprintln!("skipped: {why}");
            return None;
        }
        Some(Lab::build().unwrap_or_else(|e| panic!("building the namespaces: {e}")))
    }

    fn build() -> Result<Lab, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lan = Netns::add(format!("mr-lan-{pid}-{n}"))?;
        let gw = Netns::add(format!("mr-gw-{pid}-{n}"))?;
        let inet = Netns::add(format!("mr-inet-{pid}-{n}"))?;
        #[rustfmt::skip]
        run(&["ip", "link", "add", "eth0", "netns", &lan.name, "type", "veth",
              "peer", "name", "lan0", "netns", &gw.name])?;
        #[rustfmt::skip]
        run(&["ip", "link", "add", "inet0", "netns", &gw.name, "type", "veth",
              "peer", "name", "eth0", "netns", &inet.name])?;
        for (ns, dev, addr) in [
            (&lan, "eth0", LAN),
            (&gw, "lan0", GW_LAN),
            (&gw, "inet0", GW_INET),
            (&inet, "eth0", INET),
        ] {
            ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        lan.ip(&["route", "add", "default", "via", &GW_LAN.to_string()])?;
        inet.ip(&["route", "add", "default", "via", &GW_INET.to_string()])?;
        // /proc/sys/net shows the namespace of the thread that opens it.
        gw.enter(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1"))
            .map_err(|e| format!("enabling forwarding in {}: {e}", gw.name))?;

        let servers = vec![
            Server::tcp(&inet, INET, WEB_PORT, |mut s| {
                let _ = s.write_all(b"ok");
            })?,
            Server::tcp(&gw, GW_LAN, CONSOLE_PORT, |mut s| {
                let _ = s.write_all(b"ok");
            })?,
            Server::tcp(&inet, INET, ECHO_PORT, |mut s| {
                let mut buf = [0u8; 64];
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let _ = s.write_all(&buf[..n]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
            })?,
            Server::dns_udp(&inet, INET)?,
            Server::tcp(&inet, INET, 53, answer_tcp_dns)?,
        ];
        let fw = Firewall::new(FirewallConfig {
            table: "mamori".into(),
            netns: Some(gw.name.clone()),
            isolate_allow: vec![IpAddr::V4(GW_LAN).into()],
            allow_dns: true,
        })
        .map_err(|e| e.to_string())?;
        Ok(Lab {
            fw,
            servers,
            lan,
            _gw: gw,
            _inet: inet,
        })
    }

    /// TCP connect from lan and read the server's "ok".
    fn tcp(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.lan.enter(|| {
            let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from((ip, port)), PROBE) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(PROBE));
            let mut buf = [0u8; 2];
            s.read_exact(&mut buf).is_ok() && &buf == b"ok"
        })
    }

    /// One ICMP echo from lan, answered within the probe time.
    fn ping(&self, ip: Ipv4Addr) -> bool {
        static SEQ: AtomicU16 = AtomicU16::new(1);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        self.lan
            .enter(|| ping(ip, seq).unwrap_or_else(|e| panic!("ping socket: {e}")))
    }

    /// A DNS query for `name` from lan to the inet responder over UDP, answered in time.
    fn dns_udp(&self, name: &str) -> bool {
        self.lan.enter(|| {
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("udp socket");
            let _ = sock.set_read_timeout(Some(PROBE));
            let query = dns_query(name, 0x4d52);
            if sock.send_to(&query, (INET, 53)).is_err() {
                return false;
            }
            let mut buf = [0u8; 512];
            match sock.recv(&mut buf) {
                Ok(n) => is_answer(&buf[..n], &query),
                Err(_) => false,
            }
        })
    }

    /// The same over TCP, the query sent as one segment.
    fn dns_tcp(&self, name: &str) -> bool {
        self.lan.enter(|| {
            let Ok(mut s) = TcpStream::connect_timeout(&SocketAddr::from((INET, 53)), PROBE) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(PROBE));
            let _ = s.set_nodelay(true);
            let query = dns_query(name, 0x4d53);
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            if s.write_all(&framed).is_err() {
                return false;
            }
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).is_err() {
                return false;
            }
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut answer).is_ok() && is_answer(&answer, &query)
        })
    }

    /// A TCP connection from lan to the inet echo server, kept open by the caller.
    fn echo_session(&self) -> TcpStream {
        self.lan.enter(|| {
            let s = TcpStream::connect_timeout(&SocketAddr::from((INET, ECHO_PORT)), PROBE)
                .expect("connect to echo server");
            s.set_read_timeout(Some(PROBE)).expect("read timeout");
            s
        })
    }

    fn expect_open(&self, when: &str) {
        assert!(self.tcp(INET, WEB_PORT), "TCP lan → inet fails {when}");
        assert!(self.ping(INET), "ping lan → inet fails {when}");
    }

    fn expect_closed(&self, when: &str) {
        assert!(
            !self.tcp(INET, WEB_PORT),
            "TCP lan → inet still works {when}"
        );
        assert!(!self.ping(INET), "ping lan → inet still works {when}");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &self.servers {
            s.stop.store(true, Ordering::Relaxed);
        }
        for s in self.servers.drain(..) {
            let _ = s.thread.join();
        }
    }
}

/// Sends `msg` on an open connection and reads it back within the probe time.
fn echo(s: &mut TcpStream, msg: &[u8]) -> bool {
    let mut back = vec![0u8; msg.len()];
    s.write_all(msg).is_ok() && s.read_exact(&mut back).is_ok() && back == msg
}

/// Polls `ok` every 200 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

// ---- namespaces ------------------------------------------------------------------------

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Why the lab cannot be built here, if it cannot.
fn unusable() -> Option<String> {
    // SAFETY: a plain system call without arguments.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for network namespaces and nftables".into());
    }
    for (program, arg, package) in [("ip", "-V", "iproute2"), ("nft", "--version", "nftables")] {
        match Command::new(program).arg(arg).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Some(format!(
                    "`{program} {arg}` failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return Some(format!("`{program}` ({package}) not runnable: {e}")),
        }
    }
    None
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A named network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn add(name: String) -> Result<Netns, String> {
        run(&["ip", "netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip -n <ns> <args>`.
    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Runs `f` on a fresh thread inside the namespace.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.move_current_thread();
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// Moves the calling thread (one the test owns) into the namespace; sockets it opens
    /// afterwards belong to the namespace.
    fn move_current_thread(&self) {
        let path = CString::new(format!("/var/run/netns/{}", self.name)).expect("no NUL");
        // SAFETY: plain system calls on a descriptor owned here.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            assert!(
                fd >= 0,
                "open {}: {}",
                self.name,
                std::io::Error::last_os_error()
            );
            let rc = libc::setns(fd, libc::CLONE_NEWNET);
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            assert!(rc == 0, "setns {}: {err}", self.name);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

// ---- servers ---------------------------------------------------------------------------

/// A server thread inside a namespace, polling a stop flag so the lab can end it.
struct Server {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Server {
    /// Accepts TCP connections on `ip:port` and hands each to `serve`.
    fn tcp(ns: &Netns, ip: Ipv4Addr, port: u16, serve: fn(TcpStream)) -> Result<Server, String> {
        let listener = ns
            .enter(|| TcpListener::bind((ip, port)))
            .map_err(|e| format!("bind {ip}:{port} in {}: {e}", ns.name))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Server::spawn(move |stop| {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                        // A connection whose query was reset on the way would hold up the
                        // next one for the read timeout.
                        std::thread::spawn(move || serve(s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }))
    }

    /// Answers every DNS query on UDP `ip:53` (with no records, which is enough to prove
    /// the query got through).
    fn dns_udp(ns: &Netns, ip: Ipv4Addr) -> Result<Server, String> {
        let sock = ns
            .enter(|| UdpSocket::bind((ip, 53)))
            .map_err(|e| format!("bind {ip}:53/udp in {}: {e}", ns.name))?;
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        Ok(Server::spawn(move |stop| {
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if let Some(answer) = answer(&buf[..n]) {
                        let _ = sock.send_to(&answer, from);
                    }
                }
            }
        }))
    }

    fn spawn(body: impl FnOnce(&AtomicBool) + Send + 'static) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || body(&flag));
        Server { stop, thread }
    }
}

fn answer_tcp_dns(mut s: TcpStream) {
    let mut len = [0u8; 2];
    if s.read_exact(&mut len).is_err() {
        return;
    }
    let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if s.read_exact(&mut query).is_err() {
        return;
    }
    if let Some(answer) = answer(&query) {
        let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&answer);
        let _ = s.write_all(&framed);
    }
}

// ---- DNS and ICMP on the wire ----------------------------------------------------------

/// A standard query (recursion desired) for the A record of `name`.
fn dns_query(name: &str, id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The query turned into an empty answer: same id and question, QR bit set.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    let mut a = query.to_vec();
    a[2] |= 0x80;
    Some(a)
}

fn is_answer(reply: &[u8], query: &[u8]) -> bool {
    reply.len() == query.len() && reply[..2] == query[..2] && reply[2] & 0x80 != 0
}

/// Sends one ICMP echo request from the calling thread's namespace over a raw socket and
/// waits up to the probe time for its reply.
fn ping(to: Ipv4Addr, seq: u16) -> std::io::Result<bool> {
    let id = (std::process::id() & 0xffff) as u16;
    let mut msg = vec![8, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(b"mamori-respond");
    let sum = checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    // SAFETY: plain system calls with valid buffers and a descriptor closed on every path.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let result = (|| {
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            let mut addr: libc::sockaddr_in = std::mem::zeroed();
            addr.sin_family = libc::AF_INET as libc::sa_family_t;
            addr.sin_addr.s_addr = u32::from(to).to_be();
            let sent = libc::sendto(
                fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            if sent < 0 {
                // A dropped packet can surface as EPERM on a local send; that is "no reply".
                return Ok(false);
            }
            let deadline = Instant::now() + PROBE;
            let mut buf = [0u8; 1500];
            while Instant::now() < deadline {
                let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
                if n < 20 {
                    continue;
                }
                let ip_len = usize::from(buf[0] & 0x0f) * 4;
                let Some(icmp) = buf.get(ip_len..n as usize) else {
                    continue;
                };
                if icmp.len() >= 8
                    && icmp[0] == 0
                    && icmp[4..6] == id.to_be_bytes()
                    && icmp[6..8] == seq.to_be_bytes()
                {
                    return Ok(true);
                }
            }
            Ok(false)
        })();
        libc::close(fd);
        result
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
