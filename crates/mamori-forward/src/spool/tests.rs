use super::*;
use mamori_core::{Engine, Severity, Ulid};
use std::io::Write;
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    mamori_core::scratch::dir(&format!("forward-{name}"))
}

fn alert(n: usize) -> Alert {
    let mut a = Alert::new(
        Engine::Ids,
        "ids.test",
        "test rule",
        Severity::Low,
        format!("event {n}"),
    );
    a.src.ip = Some(std::net::Ipv4Addr::new(10, 0, 0, 5).into());
    a
}

fn alerts(n: usize) -> Vec<Alert> {
    (0..n).map(alert).collect()
}

fn ids_in(lines: &[u8]) -> Vec<Ulid> {
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice::<Alert>(l).expect("alert line").id)
        .collect()
}

/// Reads everything from the ack position on, without acknowledging.
async fn read_all(spool: &Spool) -> Vec<Ulid> {
    let mut at = spool.ack_position();
    let mut ids = Vec::new();
    while let Some(b) = spool.read(at, 1 << 20).await.expect("read") {
        ids.extend(ids_in(&b.lines));
        at = b.end;
    }
    ids
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn appended_alerts_are_read_back_and_acknowledged() {
    let dir = temp_dir("roundtrip");
    let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let sent = alerts(3);
    assert_eq!(spool.append(&sent).await.expect("append"), 3);
    let stats = spool.stats();
    assert_eq!(stats.backlog_events, 3);
    assert!(stats.backlog_bytes > 0);

    let batch = spool
        .read(spool.ack_position(), 1 << 20)
        .await
        .expect("read")
        .expect("a batch");
    assert_eq!(batch.events, 3);
    assert_eq!(
        ids_in(&batch.lines),
        sent.iter().map(|a| a.id).collect::<Vec<_>>()
    );
    assert!(spool
        .read(batch.end, 1 << 20)
        .await
        .expect("read")
        .is_none());

    spool.ack(batch.end, batch.events).await.expect("ack");
    let stats = spool.stats();
    assert_eq!((stats.backlog_events, stats.backlog_bytes), (0, 0));
    assert_eq!(stats.oldest_unsent_ms, None);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn segments_rotate_at_the_size_limit_and_go_once_acknowledged() {
    let dir = temp_dir("rotate");
    let config = SpoolConfig {
        segment_bytes: 2000,
        ..SpoolConfig::default()
    };
    let spool = Spool::open(&dir, config).expect("open");
    let sent = alerts(40);
    for a in &sent {
        spool.append(std::slice::from_ref(a)).await.expect("append");
    }
    let files = segment_files(&dir);
    assert!(files.len() > 3, "expected several segments, got {files:?}");
    assert_eq!(spool.stats().segments, files.len());

    let mut at = spool.ack_position();
    let mut got = Vec::new();
    while let Some(b) = spool.read(at, 700).await.expect("read") {
        assert!(b.lines.len() <= 2000, "a batch stays inside one segment");
        got.extend(ids_in(&b.lines));
        spool.ack(b.end, b.events).await.expect("ack");
        at = b.end;
    }
    assert_eq!(got, sent.iter().map(|a| a.id).collect::<Vec<_>>());
    assert_eq!(
        segment_files(&dir).len(),
        1,
        "only the head segment is left"
    );
    assert_eq!(spool.stats().backlog_events, 0);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_torn_last_line_is_truncated_on_open_and_the_rest_kept() {
    let dir = temp_dir("torn");
    let sent = alerts(5);
    {
        let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
        spool.append(&sent).await.expect("append");
    }
    let file = segment_files(&dir).pop().expect("a segment");
    let good_len = fs::metadata(&file).expect("meta").len();
    let mut f = File::options().append(true).open(&file).expect("open");
    f.write_all(br#"{"id":"01J0000000000000000000000","time":"2024-"#)
        .expect("write");
    drop(f);

    let spool = Spool::open(&dir, SpoolConfig::default()).expect("reopen");
    assert_eq!(fs::metadata(&file).expect("meta").len(), good_len);
    assert_eq!(spool.stats().backlog_events, 5);
    let more = alerts(2);
    spool.append(&more).await.expect("append after recovery");
    let expected: Vec<_> = sent.iter().chain(&more).map(|a| a.id).collect();
    assert_eq!(read_all(&spool).await, expected);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_last_line_that_is_not_json_is_truncated_on_open() {
    let dir = temp_dir("notjson");
    let sent = alerts(4);
    {
        let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
        spool.append(&sent).await.expect("append");
    }
    let file = segment_files(&dir).pop().expect("a segment");
    let mut f = File::options().append(true).open(&file).expect("open");
    f.write_all(b"\0\0\0\0{\"id\":\n").expect("write");
    drop(f);

    let spool = Spool::open(&dir, SpoolConfig::default()).expect("reopen");
    assert_eq!(
        read_all(&spool).await,
        sent.iter().map(|a| a.id).collect::<Vec<_>>()
    );
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_ack_position_survives_a_reopen() {
    let dir = temp_dir("ack");
    let sent = alerts(10);
    let acked_end;
    {
        let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
        for a in &sent {
            spool.append(std::slice::from_ref(a)).await.expect("append");
        }
        let line = spool
            .read(spool.ack_position(), 1)
            .await
            .expect("read")
            .expect("batch");
        assert_eq!(line.events, 1, "a batch holds at least one line");
        let three = spool
            .read(spool.ack_position(), line.lines.len() * 7 / 2)
            .await
            .expect("read")
            .expect("batch");
        assert_eq!(three.events, 3);
        spool.ack(three.end, three.events).await.expect("ack");
        acked_end = three.end;
    }
    let spool = Spool::open(&dir, SpoolConfig::default()).expect("reopen");
    assert_eq!(spool.ack_position(), acked_end);
    assert_eq!(spool.stats().backlog_events, 7);
    assert_eq!(
        read_all(&spool).await,
        sent[3..].iter().map(|a| a.id).collect::<Vec<_>>()
    );
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_full_spool_makes_appends_wait_until_the_console_takes_events() {
    let dir = temp_dir("full");
    let config = SpoolConfig {
        max_bytes: 1500,
        ..SpoolConfig::default()
    };
    let spool = Spool::open(&dir, config).expect("open");
    let line = serde_json::to_vec(&alert(0)).expect("json").len() as u64 + 1;
    while spool.stats().backlog_bytes + line <= 1500 {
        spool.append(&alerts(1)).await.expect("append");
    }
    let held = spool.stats().backlog_events;
    let waiting = {
        let spool = spool.clone();
        tokio::spawn(async move { spool.append(&alerts(1)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "append must wait while the spool is full"
    );
    assert!(spool.stats().full);
    assert_eq!(spool.stats().backlog_events, held);

    let batch = spool
        .read(spool.ack_position(), 1 << 20)
        .await
        .expect("read")
        .expect("batch");
    spool.ack(batch.end, batch.events).await.expect("ack");
    let appended = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("append resumes once room is freed")
        .expect("task")
        .expect("append");
    assert_eq!(appended, 1);
    assert!(!spool.stats().full);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn concurrent_appends_all_land_once() {
    let dir = temp_dir("group");
    let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let mut tasks = Vec::new();
    let mut expected = std::collections::HashSet::new();
    for t in 0..16 {
        let batch = alerts(50 + t);
        expected.extend(batch.iter().map(|a| a.id));
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            for chunk in batch.chunks(7) {
                spool.append(chunk).await.expect("append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let got = read_all(&spool).await;
    assert_eq!(got.len(), expected.len());
    assert_eq!(
        got.into_iter().collect::<std::collections::HashSet<_>>(),
        expected
    );
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_spool() {
    let dir = temp_dir("lock");
    let first = Spool::open(&dir, SpoolConfig::default()).expect("open");
    assert!(matches!(
        Spool::open(&dir, SpoolConfig::default()),
        Err(Error::Locked(_))
    ));
    drop(first);
    Spool::open(&dir, SpoolConfig::default()).expect("free once the last handle is dropped");
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn lines_that_are_not_json_are_refused_before_writing() {
    let dir = temp_dir("lines");
    let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let good = serde_json::to_vec(&alert(1)).expect("json");
    let mut body = good.clone();
    body.extend_from_slice(b"\nnot json\n");
    assert!(matches!(
        spool.append_lines(body).await,
        Err(Error::InvalidLine { line: 2, .. })
    ));
    assert_eq!(spool.stats().backlog_events, 0);
    assert_eq!(spool.append_lines(good).await.expect("append"), 1);
    assert_eq!(spool.stats().backlog_events, 1);
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_oldest_unsent_time_follows_the_ack_position() {
    let dir = temp_dir("oldest");
    let spool = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let mut first = alert(1);
    first.time = time::macros::datetime!(2024-05-01 00:00:00 UTC);
    let mut second = alert(2);
    second.time = time::macros::datetime!(2024-05-02 00:00:00 UTC);
    spool.append(&[first.clone()]).await.expect("append");
    spool.append(&[second.clone()]).await.expect("append");
    assert_eq!(
        spool.stats().oldest_unsent_ms,
        Some(mamori_core::unix_ms(first.time))
    );
    let one = spool
        .read(spool.ack_position(), 1)
        .await
        .expect("read")
        .expect("batch");
    spool.ack(one.end, one.events).await.expect("ack");
    assert_eq!(
        spool.stats().oldest_unsent_ms,
        Some(mamori_core::unix_ms(second.time))
    );
    let _ = fs::remove_dir_all(dir);
}
