//! The spool on disk: messages on their way appended to the journal, held ones one file per
//! message (envelope and bytes together), later state in a file that supersedes it, the
//! older two-file layout still read and delivered, and many concurrent writers sharing
//! syncs — every one acknowledged, every one found again after a crash, none twice.

use mamori_mail::queue::spool::{Entry, Hold, RcptState, Recipient, Spool};
use mamori_mail::queue::{NextHop, Queue, QueueConfig};
use mamori_smtp::{async_trait, Envelope, Handler, Reply, ServerConfig, SessionInfo};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn spool_dir() -> PathBuf {
    mamori_core::scratch::dir("spool")
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

/// The journal's files: segments (`.log`) and their tombstones (`.done`).
fn journal(dir: &Path) -> Vec<String> {
    names(&dir.join("journal"))
}

#[test]
fn a_message_on_its_way_is_appended_to_the_journal_and_a_held_one_gets_a_file() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (e, data) = entry("journal");
    spool.put(&e, &data).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
    assert_eq!(journal(&dir), ["0000000000000000.log"]);
    assert!(spool.in_journal(&e.id));
    assert_eq!(spool.entry(&e.id).unwrap(), e);
    assert_eq!(spool.data(&e.id).unwrap(), data);
    assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&e));

    let (mut held, held_data) = entry("held");
    // Listed after the first (entries are in the order received).
    held.received_ms = e.received_ms + 1;
    held.hold = Some(Hold::Held {
        reasons: vec!["mail.personal_data".into()],
    });
    spool.put(&held, &held_data).unwrap();
    assert_eq!(names(&dir.join("msg")), [format!("{}.mail", held.id)]);
    assert!(!spool.in_journal(&held.id));
    assert_eq!(spool.entries().unwrap(), [e.clone(), held.clone()]);

    // Another process (the CLI, the console) reads the same from disk.
    let other = Spool::attach(&dir).unwrap();
    assert_eq!(other.entry(&e.id).unwrap(), e);
    assert_eq!(other.data(&e.id).unwrap(), data);
    assert_eq!(other.entries().unwrap(), [e.clone(), held.clone()]);

    // Delivered: a tombstone, and the message is gone for both.
    spool.remove(&e.id).unwrap();
    assert!(!spool.in_journal(&e.id));
    assert!(spool.entry(&e.id).is_err());
    assert_eq!(other.entries().unwrap(), std::slice::from_ref(&held));
    spool.remove(&held.id).unwrap();
    assert!(names(&dir.join("msg")).is_empty());
    assert!(spool.entries().unwrap().is_empty());
    drop(spool);
    // A restart removes the segment with nothing left in it.
    let spool = Spool::open(&dir).unwrap();
    assert!(journal(&dir).is_empty());
    assert!(spool.entries().unwrap().is_empty());
}

#[test]
fn a_journal_message_whose_state_changes_moves_to_a_file_of_its_own() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (mut e, data) = entry("deferred from the journal");
    spool.put(&e, &data).unwrap();
    e.attempts = 1;
    e.last_error = "421 try later".into();
    spool.update(&e).unwrap();
    assert!(!spool.in_journal(&e.id));
    assert_eq!(names(&dir.join("msg")), [format!("{}.mail", e.id)]);
    assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&e));
    assert_eq!(spool.data(&e.id).unwrap(), data);
    drop(spool);
    let spool = Spool::open(&dir).unwrap();
    assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&e));
    assert!(journal(&dir).is_empty(), "its segment had nothing else");

    // The same from another process while the gateway runs: the gateway stops listing
    // the journal copy.
    let (mut f, f_data) = entry("retried from the CLI");
    f.received_ms = e.received_ms + 1;
    spool.put(&f, &f_data).unwrap();
    let other = Spool::attach(&dir).unwrap();
    f.next_attempt_ms = 1;
    other.update(&f).unwrap();
    assert_eq!(spool.entries().unwrap(), [e.clone(), f.clone()]);
    assert_eq!(spool.data(&f.id).unwrap(), f_data);
    // And a delete from another process is seen too, between this process's own
    // tombstones in the same file.
    let (x, x_data) = entry("delivered before");
    let (g, g_data) = entry("deleted from the CLI");
    let (z, z_data) = entry("delivered after");
    for (m, data) in [(&x, &x_data), (&g, &g_data), (&z, &z_data)] {
        spool.put(m, data).unwrap();
    }
    spool.remove(&x.id).unwrap();
    other.remove(&g.id).unwrap();
    spool.remove(&z.id).unwrap();
    assert_eq!(spool.entries().unwrap(), [e, f]);
    assert!(!spool.in_journal(&g.id));
}

/// A crash part-way through an append leaves the end of a segment cut short: everything
/// before it is recovered, the torn record (never acknowledged) is not, and appends go on
/// in a new segment.
#[test]
fn a_torn_record_at_the_end_of_the_journal_is_dropped_and_the_rest_recovered() {
    let dir = spool_dir();
    let spool = Spool::open(&dir).unwrap();
    let (a, a_data) = entry("before the crash");
    let (b, b_data) = entry("delivered before the crash");
    spool.put(&a, &a_data).unwrap();
    spool.put(&b, &b_data).unwrap();
    spool.remove(&b.id).unwrap();
    std::mem::forget(spool);
    let segment = dir.join("journal").join("0000000000000000.log");
    for torn in [
        &b"MAMORI-SPOOL 1 10 5\n{\"id\""[..],
        b"MAMORI-SP",
        b"\0\0\0\0",
    ] {
        let mut bytes = std::fs::read(&segment).unwrap();
        let keep = bytes.len();
        bytes.extend_from_slice(torn);
        std::fs::write(&segment, &bytes).unwrap();
        let spool = Spool::open(&dir).unwrap();
        assert_eq!(spool.entries().unwrap(), std::slice::from_ref(&a));
        assert_eq!(spool.data(&a.id).unwrap(), a_data);
        drop(spool);
        bytes.truncate(keep);
        std::fs::write(&segment, &bytes).unwrap();
    }
    let spool = Spool::open(&dir).unwrap();
    let (mut c, c_data) = entry("after the restart");
    c.received_ms = a.received_ms + 1;
    spool.put(&c, &c_data).unwrap();
    assert_eq!(
        journal(&dir),
        [
            "0000000000000000.done",
            "0000000000000000.log",
            "0000000000000001.log"
        ]
    );
    assert_eq!(spool.entries().unwrap(), [a.clone(), c.clone()]);
    // The old segment goes once its last message is delivered.
    spool.remove(&a.id).unwrap();
    assert_eq!(journal(&dir), ["0000000000000001.log"]);
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
    let (mut new, new_data) = entry("new layout");
    // Listed after the old one (entries are in the order received).
    new.received_ms = old.received_ms + 1;
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
