//! `bench/mail`: the latency the mail gateway adds to an SMTP transaction, and a realistic
//! message for the throughput runs.
//!
//! `latency` sends the same messages over a few persistent connections, first straight to a
//! sink (`smtp-sink`), then through `mamori mail serve`, and times each transaction from
//! `MAIL FROM` to the `250` after the message's final dot. The gateway's transaction includes
//! the analysis and the fsync into its spool; delivery to the next hop happens afterwards
//! from its queue, so this tool also runs the gateway's next hop itself (`--own-sink`) and
//! reports when each message arrived there (end-to-end delay).
//!
//! Usage:
//!   mamori-bench-mail message [--size BYTES] > msg.eml
//!   mamori-bench-mail latency --direct HOST:PORT --via HOST:PORT --own-sink HOST:PORT
//!       --message FILE [--messages 2000] [--connections 2] [--from A] [--to A]
//!
//! `latency` prints a readable table and one `RESULT key=value …` line for scripts.

use anyhow::{bail, Context, Result};
use mamori_smtp::{async_trait, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "message" => {
            let size = flag(&rest, "--size")?.map_or(Ok(10_240), |s| s.parse())?;
            print!("{}", message(size));
            Ok(())
        }
        "latency" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(latency(&rest))
        }
        _ => bail!("usage: mamori-bench-mail message [--size BYTES] | latency --direct HOST:PORT --via HOST:PORT --own-sink HOST:PORT --message FILE [--messages N] [--connections C]"),
    }
}

fn flag(args: &[String], name: &str) -> Result<Option<String>> {
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(Some(
            args.get(i + 1)
                .with_context(|| format!("{name} needs a value"))?
                .clone(),
        )),
        None => Ok(None),
    }
}

fn required(args: &[String], name: &str) -> Result<String> {
    flag(args, name)?.with_context(|| format!("{name} is required"))
}

/// An ordinary business mail from a partner: Japanese and English text, a quoted thread and
/// an HTML alternative, about `size` bytes. Inbound checks find nothing to object to, so it
/// is delivered (and every check still runs over it). Lines end in LF, as `smtp-source -F`
/// expects.
fn message(size: usize) -> String {
    let head = "From: Suzuki Ichiro <suzuki@partner.example>\n\
To: Sato Hanako <sato@acme.example>\n\
Subject: =?UTF-8?B?44GK6KaL56mN44KK44Gu44GU6YCj57Wh?=\n\
Date: Tue, 05 Mar 2024 10:15:00 +0900\n\
Message-ID: <20240305101500.4711@partner.example>\n\
MIME-Version: 1.0\n\
Content-Type: multipart/alternative; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=UTF-8\n\
Content-Transfer-Encoding: 8bit\n\
\n";
    let para = "佐藤様\nいつもお世話になっております。先日ご依頼いただいた件につきまして、お見積りをお送りいたします。\n\
ご不明な点がございましたら、お気軽にお問い合わせください。\n\
Dear Ms Sato, thank you for your inquiry about the maintenance contract for next year.\n\
We have revised the schedule as discussed at the meeting on Friday.\n";
    let mut text = String::new();
    while head.len() + 2 * text.len() < size.saturating_sub(400) {
        text.push_str(para);
    }
    let html: String = text
        .lines()
        .map(|l| format!("<p>{l}</p>\n"))
        .collect::<String>();
    format!(
        "{head}{text}\n--b1\nContent-Type: text/html; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n<html><body>\n{html}</body></html>\n--b1--\n"
    )
}

/// `latency`: see the module doc.
async fn latency(args: &[String]) -> Result<()> {
    let direct = required(args, "--direct")?;
    let via = required(args, "--via")?;
    let own_sink = required(args, "--own-sink")?;
    let file = required(args, "--message")?;
    let n: usize = flag(args, "--messages")?.map_or(Ok(2000), |s| s.parse())?;
    let conns: usize = flag(args, "--connections")?.map_or(Ok(2), |s| s.parse())?;
    let from = flag(args, "--from")?.unwrap_or_else(|| "suzuki@partner.example".into());
    let to = flag(args, "--to")?.unwrap_or_else(|| "sato@acme.example".into());
    let raw = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;

    // The gateway's next hop: records when each message arrives.
    let sink = Arc::new(Sink::default());
    let listener = tokio::net::TcpListener::bind(&own_sink)
        .await
        .with_context(|| format!("listening on {own_sink}"))?;
    let mut config = ServerConfig::new("bench-sink.test");
    config.max_connections = 1024;
    tokio::spawn(mamori_smtp::listen(
        listener,
        Arc::new(config),
        sink.clone(),
        std::future::pending(),
    ));

    let warmup = (n / 10).min(50);
    let run = Run {
        raw: Arc::new(raw),
        from,
        to,
        n,
        warmup,
        conns: conns.max(1),
    };
    let d = run.send(&direct).await?;
    let v = run.send(&via).await?;

    // Wait (bounded) for everything the gateway accepted to reach its next hop.
    let deadline = Instant::now() + Duration::from_secs(120);
    while sink.arrived.lock().unwrap().len() < v.accepted.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let arrived = sink.arrived.lock().unwrap().clone();
    let e2e: Vec<Duration> = v
        .accepted
        .iter()
        .filter_map(|(id, started)| {
            arrived
                .get(id)
                .map(|at| at.saturating_duration_since(*started))
        })
        .collect();
    let delivered = e2e.len();

    let (dp50, dp99) = (pct(&d.times, 0.50), pct(&d.times, 0.99));
    let (vp50, vp99) = (pct(&v.times, 0.50), pct(&v.times, 0.99));
    let (ep50, ep99) = (pct(&e2e, 0.50), pct(&e2e, 0.99));
    println!(
        "latency: {} messages of {} bytes over {} connection(s), {} warm-up not counted",
        n,
        run.raw.len(),
        run.conns,
        warmup
    );
    println!("  {:<34} {:>9} {:>9}", "", "p50 ms", "p99 ms");
    let row = |name: &str, a: f64, b: f64| println!("  {name:<34} {a:>9.2} {b:>9.2}");
    row("transaction, straight to the sink", dp50, dp99);
    row("transaction, through mamori", vp50, vp99);
    row("added by mamori", vp50 - dp50, vp99 - dp99);
    row("accepted → at next hop (mamori)", ep50, ep99);
    println!(
        "  refused or failed: direct {}, mamori {}; delivered {delivered}/{}",
        d.failed,
        v.failed,
        v.accepted.len()
    );
    println!(
        "RESULT direct_p50_ms={dp50:.3} direct_p99_ms={dp99:.3} via_p50_ms={vp50:.3} via_p99_ms={vp99:.3} added_p50_ms={:.3} added_p99_ms={:.3} e2e_p50_ms={ep50:.3} e2e_p99_ms={ep99:.3} delivered={delivered} accepted={} failed={}",
        vp50 - dp50,
        vp99 - dp99,
        v.accepted.len(),
        v.failed
    );
    Ok(())
}

/// The `q` quantile in milliseconds (0 for no samples).
fn pct(samples: &[Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v: Vec<Duration> = samples.to_vec();
    v.sort();
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

#[derive(Default)]
struct Sink {
    arrived: Mutex<HashMap<u64, Instant>>,
}

#[async_trait]
impl Handler for Sink {
    async fn data(&self, _: &SessionInfo, _: &Envelope, message: Vec<u8>) -> Reply {
        let at = Instant::now();
        if let Some(id) = bench_id(&message) {
            self.arrived.lock().unwrap().insert(id, at);
        }
        Reply::queued("bench-sink")
    }
}

const ID_HEADER: &str = "X-Bench-Id: ";

fn bench_id(message: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(&message[..message.len().min(8192)]);
    let at = text.find(ID_HEADER)? + ID_HEADER.len();
    let rest = &text[at..];
    rest[..rest.find('\r').unwrap_or(rest.len())]
        .trim()
        .parse()
        .ok()
}

struct Run {
    raw: Arc<String>,
    from: String,
    to: String,
    n: usize,
    warmup: usize,
    conns: usize,
}

/// What one side of the comparison measured.
struct Sent {
    /// Transaction times after the warm-up.
    times: Vec<Duration>,
    /// Message id → when its transaction started, for every `250`.
    accepted: Vec<(u64, Instant)>,
    failed: usize,
}

impl Run {
    /// Sends `warmup + n` messages to `addr` over `conns` connections.
    async fn send(&self, addr: &str) -> Result<Sent> {
        let total = self.warmup + self.n;
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..self.conns {
            let (next, raw, from, to, addr) = (
                next.clone(),
                self.raw.clone(),
                self.from.clone(),
                self.to.clone(),
                addr.to_string(),
            );
            let warmup = self.warmup;
            tasks.push(tokio::spawn(async move {
                let mut out = Sent {
                    times: Vec::new(),
                    accepted: Vec::new(),
                    failed: 0,
                };
                let mut conn = Conn::open(&addr).await?;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    // Only the gateway's run reaches the own sink, so ids need only be
                    // unique within a run.
                    let id = i as u64;
                    let data = wire(&raw, id);
                    let started = Instant::now();
                    let ok = conn.transaction(&from, &to, &data).await?;
                    let took = started.elapsed();
                    if ok {
                        out.accepted.push((id, started));
                        if i >= warmup {
                            out.times.push(took);
                        }
                    } else {
                        out.failed += 1;
                    }
                }
                conn.quit().await;
                anyhow::Ok(out)
            }));
        }
        let mut all = Sent {
            times: Vec::new(),
            accepted: Vec::new(),
            failed: 0,
        };
        for t in tasks {
            let s = t.await??;
            all.times.extend(s.times);
            all.accepted.extend(s.accepted);
            all.failed += s.failed;
        }
        Ok(all)
    }
}

/// The message as sent in DATA: an id header first, CRLF line ends, dot-stuffed, with the
/// final dot.
fn wire(raw: &str, id: u64) -> Vec<u8> {
    let mut out = format!("{ID_HEADER}{id}\r\n").into_bytes();
    for line in raw.lines() {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One SMTP connection, one command at a time (no pipelining), as `smtp-source` speaks.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut c = Conn {
            reader: BufReader::new(r),
            writer: w,
        };
        expect(c.reply().await?, 220, "greeting")?;
        let code = c.command("EHLO bench.test").await?;
        expect(code, 250, "EHLO")?;
        Ok(c)
    }

    async fn reply(&mut self) -> Result<u16> {
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).await? == 0 {
                bail!("connection closed");
            }
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(code);
            }
        }
    }

    async fn command(&mut self, line: &str) -> Result<u16> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.reply().await
    }

    /// One mail transaction; true when the message got `250`.
    async fn transaction(&mut self, from: &str, to: &str, data: &[u8]) -> Result<bool> {
        expect(
            self.command(&format!("MAIL FROM:<{from}>")).await?,
            250,
            "MAIL",
        )?;
        expect(self.command(&format!("RCPT TO:<{to}>")).await?, 250, "RCPT")?;
        expect(self.command("DATA").await?, 354, "DATA")?;
        self.writer.write_all(data).await?;
        Ok(self.reply().await? == 250)
    }

    async fn quit(mut self) {
        let _ = self.command("QUIT").await;
    }
}

fn expect(code: u16, want: u16, what: &str) -> Result<()> {
    if code != want {
        bail!("{what}: got {code}, expected {want}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_carries_the_id_and_dot_stuffs() {
        let w = wire("Subject: x\n\n.hidden\nbody\n", 42);
        let text = String::from_utf8(w.clone()).unwrap();
        assert!(text.starts_with("X-Bench-Id: 42\r\n"));
        assert!(text.contains("\r\n..hidden\r\n"));
        assert!(text.ends_with("body\r\n.\r\n"));
        assert_eq!(bench_id(&w), Some(42));
    }

    #[test]
    fn message_has_about_the_size_asked_for() {
        let m = message(10_240);
        assert!((8_000..12_500).contains(&m.len()), "{}", m.len());
    }
}
