//! The spool on disk: one file per message (envelope and bytes together), later state in a
//! separate file that supersedes it, the older two-file layout still read and delivered, and
//! many concurrent writers sharing directory fsyncs — every one acknowledged, every one
//! found again after a crash, none twice.

use mamori_mail::queue::spool::{Entry, Hold, RcptState, Recipient, Spool};
use mamori_mail::queue::{NextHop, Queue, QueueConfig};
use mamori_smtp::{async_trait, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn spool_dir() -> PathBuf {
    std::env::temp_dir().join(format!("mamori-spool-{}", ulid::Ulid::new()))
}

fn entry(subject: &str) -> (Entry, Vec<u8>) {
    let data = format!(
        "From: suzuki@partner.example\r\nTo: sato@acme.example\r\nSubject: {subject}\r\n\r\n本文 {subject}\r\n"
    )
    .into_bytes();
    let entry = Entry {
        id: ulid::Ulid::new().to_string(),
        tenant: "acme".into(),
        direction: "inbound".into(),
        mail_from: "suzuki@partner.example".into(),
        recipients: vec![Recipient {
            address: "sato@acme.example".into(),
            state: RcptState::Pending,
            last_reply: String::new(),
        }],
        received_ms: mamori_core::now_ms(),
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        hold: None,
        auth_user: None,
        size: data.len() as u64,
        report: Some(serde_json::json!({"verdict": "deliver", "score": 0, "reasons": []})),
    };
    (entry, data)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn subject(message: &[u8]) -> String {
    String::from_utf8_lossy(message)
        .lines()
        .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn an_accepted_message_is_one_file_with_its_envelope() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (e, data) = entry("one file");
    spool.put(&e, &data).unwrap();
    assert_eq!(names(&dir.join("msg")), [format!("{}.mail", e.id)]);
    assert!(names(&dir.join("tmp")).is_empty());
    assert_eq!(spool.entry(&e.id).unwrap(), e);
    assert_eq!(spool.data(&e.id).unwrap(), data);
    assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&e));
    // Another process (the CLI, the console) reads the same.
    let other = Spool::attach(&dir).unwrap();
    assert_eq!(other.entry(&e.id).unwrap(), e);
    assert_eq!(other.data(&e.id).unwrap(), data);
    spool.remove(&e.id).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
}

#[test]
fn later_state_supersedes_the_envelope_in_the_message_file() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (mut e, data) = entry("deferred");
    spool.put(&e, &data).unwrap();
    e.attempts = 3;
    e.last_error = "connection refused".into();
    e.hold = Some(Hold::Quarantined {
        reasons: vec!["mail.display_name_spoof".into()],
    });
    spool.update(&e).unwrap();
    drop(spool);
    let spool = Spool::open(&dir).unwrap();
    assert_eq!(spool.entries().unwrap(), [e.clone()]);
    assert_eq!(spool.data(&e.id).unwrap(), data);
    let released = spool.release(&e.id).unwrap();
    assert_eq!(released.hold, None);
    assert_eq!(spool.entry(&e.id).unwrap().hold, None);
    spool.remove(&e.id).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
    assert!(spool.entries().unwrap().is_empty());
}

#[test]
fn a_damaged_message_file_is_reported_and_left_in_place() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (good, data) = entry("good");
    spool.put(&good, &data).unwrap();
    let (bad, _) = entry("bad");
    let path = dir.join("msg").join(format!("{}.mail", bad.id));
    for junk in [
        &b"MAMORI-SPOOL 1 99999999999 5\n{"[..],
        b"MAMORI-SPOOL 1 2 5\n{}\nab",
        b"not a spool file",
        b"",
    ] {
        std::fs::write(&path, junk).unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&good));
        assert!(spool.entry(&bad.id).is_err());
        assert!(spool.data(&bad.id).is_err());
        assert!(
            path.exists(),
            "a damaged file is kept for a person to look at"
        );
    }
}

/// The layout written before one-file messages: `ID.eml` and `ID.json` (pretty JSON), the
/// `.json` being the commit point. Spools like this exist in users' data directories.
fn write_old_layout(dir: &Path, e: &Entry, data: &[u8]) {
    let msg = dir.join("msg");
    std::fs::create_dir_all(&msg).unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    std::fs::write(msg.join(format!("{}.eml", e.id)), data).unwrap();
    std::fs::write(
        msg.join(format!("{}.json", e.id)),
        serde_json::to_vec_pretty(e).unwrap(),
    )
    .unwrap();
}

#[test]
fn a_spool_in_the_old_two_file_layout_is_still_read() {
    let dir = spool_dir();
    let (old, old_data) = entry("old layout");
    write_old_layout(&dir, &old, &old_data);
    // An old-layout message without its entry was never acknowledged.
    let (unacked, _) = entry("never acknowledged");
    let stray = dir.join("msg").join(format!("{}.eml", unacked.id));
    std::fs::write(&stray, b"Subject: x\r\n\r\n").unwrap();
    let spool = Spool::open(&dir).unwrap();
    assert!(!stray.exists());
    let (new, new_data) = entry("new layout");
    spool.put(&new, &new_data).unwrap();
    let entries = spool.entries().unwrap();
    assert_eq!(entries, [old.clone(), new.clone()]);
    assert_eq!(spool.data(&old.id).unwrap(), old_data);
    assert_eq!(spool.data(&new.id).unwrap(), new_data);
    let mut deferred = old.clone();
    deferred.attempts = 1;
    spool.update(&deferred).unwrap();
    assert_eq!(spool.entry(&old.id).unwrap(), deferred);
    assert_eq!(spool.data(&old.id).unwrap(), old_data);
    spool.remove(&old.id).unwrap();
    spool.remove(&new.id).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
}

#[test]
fn a_removal_cut_short_by_a_crash_leaves_nothing_behind() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (e, data) = entry("removed");
    spool.put(&e, &data).unwrap();
    spool.update(&e).unwrap();
    // The message went first, then the crash: its state file is alone.
    std::fs::remove_file(dir.join("msg").join(format!("{}.mail", e.id))).unwrap();
    assert!(spool.entries().unwrap().is_empty());
    assert!(spool.entry(&e.id).is_err());
    drop(spool);
    let spool = Spool::open(&dir).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
    assert!(spool.entries().unwrap().is_empty());
}

/// A next hop that counts what it receives, by subject.
#[derive(Default)]
struct Sink {
    got: Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl Handler for Sink {
    async fn data(&self, _: &SessionInfo, _: &Envelope, message: Vec<u8>) -> Reply {
        *self
            .got
            .lock()
            .unwrap()
            .entry(subject(&message))
            .or_default() += 1;
        Reply::queued("sink")
    }
}

async fn sink() -> (Arc<Sink>, u16) {
    let sink = Arc::new(Sink::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(mamori_smtp::listen(
        listener,
        Arc::new(ServerConfig::new("sink.test")),
        sink.clone(),
        std::future::pending(),
    ));
    (sink, port)
}

/// Delivers everything in the spool at `dir` to a fresh sink; answers what arrived.
async fn deliver_all(dir: &Path, expected: usize) -> HashMap<String, usize> {
    let (sink, port) = sink().await;
    let queue = Queue::open(
        QueueConfig::new(
            dir.to_path_buf(),
            NextHop::Relay {
                host: "127.0.0.1".into(),
                port,
            },
            "mamori.test",
        ),
        None,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !queue.spool().entries().unwrap().is_empty() && Instant::now() < deadline {
        queue.deliver_due().await.unwrap();
    }
    let settle = Instant::now() + Duration::from_millis(300);
    while sink.got.lock().unwrap().values().sum::<usize>() < expected && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = sink.got.lock().unwrap().clone();
    got
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_layout_spool_is_delivered_after_an_upgrade() {
    let dir = spool_dir();
    let (old, data) = entry("left by the previous version");
    write_old_layout(&dir, &old, &data);
    let got = deliver_all(&dir, 1).await;
    assert_eq!(got.get("left by the previous version"), Some(&1));
    assert!(names(&dir.join("msg")).is_empty());
}

/// Many sessions at once, as under load: every write is acknowledged, they share directory
/// fsyncs, and after a crash (the process gone, half-written files left in `tmp/`) a new
/// process finds every acknowledged message exactly once and delivers each once.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writers_are_all_acknowledged_and_recovered_once_after_a_crash() {
    const WRITERS: usize = 24;
    const EACH: usize = 40;
    let dir = spool_dir();
    let spool = Arc::new(Spool::open(&dir).unwrap());
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let spool = spool.clone();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let (e, data) = entry(&format!("w{w}-m{i}"));
                        spool.put(&e, &data).map(|()| (e.id, data))
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked = HashMap::new();
    for t in threads {
        for r in t.join().unwrap() {
            let (id, data) = r.unwrap();
            acked.insert(id, data);
        }
    }
    assert_eq!(acked.len(), WRITERS * EACH);
    // The crash: nothing is closed or cleaned; a session was half-way through a write.
    std::mem::forget(spool);
    let (half, _) = entry("half written");
    std::fs::write(
        dir.join("tmp").join(format!("{}.mail", half.id)),
        b"MAMORI-SPOOL 1 100 5\n{\"id\"",
    )
    .unwrap();

    let spool = Spool::open(&dir).unwrap();
    assert!(names(&dir.join("tmp")).is_empty());
    let entries = spool.entries().unwrap();
    assert_eq!(entries.len(), acked.len());
    let mut seen = std::collections::HashSet::new();
    for e in &entries {
        assert!(seen.insert(e.id.clone()), "{} listed twice", e.id);
        assert_eq!(Some(&spool.data(&e.id).unwrap()), acked.get(&e.id));
    }
    drop(spool);

    let got = deliver_all(&dir, acked.len()).await;
    assert_eq!(got.len(), acked.len(), "every acknowledged message arrives");
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert!(names(&dir.join("msg")).is_empty());
}
