//! Following files like `tail -F`: appended lines, partial lines, rotation, truncation and
//! restarts — every line delivered once, none lost.

use mamori_logs::follow::{FollowOptions, Follower, StartAt};
use mamori_logs::reader::{Format, ReadOptions};
use mamori_logs::Event;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("mamori-follow-{}-{}", std::process::id(), name));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn line(n: u32) -> String {
    format!("May  3 10:00:00 h sshd[1]: Failed password for user{n} from 192.0.2.1 port {n} ssh2\n")
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn opts(start_at: StartAt) -> FollowOptions {
    FollowOptions {
        start_at,
        read: ReadOptions {
            utc_offset: time::UtcOffset::UTC,
            now_ms: Some(1_717_200_000_000),
            ..ReadOptions::default()
        },
        ..FollowOptions::default()
    }
}

fn follower(path: &Path, state: Option<PathBuf>, start_at: StartAt) -> Follower {
    Follower::with_options(
        vec![path.to_path_buf()],
        state,
        Some(Format::Syslog),
        opts(start_at),
    )
    .unwrap()
}

/// The users of the events one poll delivers (errors fail the test).
fn poll(f: &mut Follower) -> Vec<String> {
    let mut users = Vec::new();
    f.poll_once(&mut |r: Result<Event, _>| {
        let ev = r.unwrap();
        users.push(ev.get("user").unwrap().to_string());
    })
    .unwrap();
    users
}

fn users(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|n| format!("user{n}")).collect()
}

#[test]
fn appended_lines_arrive_and_a_partial_line_waits_for_its_newline() {
    let dir = TempDir::new("append");
    let path = dir.0.join("auth.log");
    append(&path, &(line(0) + &line(1)));
    let mut f = follower(&path, None, StartAt::Beginning);
    assert_eq!(poll(&mut f), users(0..2));
    assert!(poll(&mut f).is_empty());
    let l2 = line(2);
    let (head, tail) = l2.split_at(20);
    append(&path, head);
    assert!(poll(&mut f).is_empty(), "half a line is not a record");
    append(&path, tail);
    append(&path, &line(3));
    assert_eq!(poll(&mut f), users(2..4));
}

#[test]
fn record_ids_are_line_numbers_and_offsets_byte_offsets() {
    let dir = TempDir::new("ids");
    let path = dir.0.join("auth.log");
    append(&path, &(line(0) + &line(1)));
    let mut f = follower(&path, None, StartAt::Beginning);
    let mut got = Vec::new();
    f.poll_once(&mut |r| got.push(r.unwrap())).unwrap();
    append(&path, &line(2));
    f.poll_once(&mut |r| got.push(r.unwrap())).unwrap();
    let ids: Vec<_> = got.iter().map(|e| e.record_id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3)]);
    let l0 = line(0).len() as u64;
    assert_eq!(got[2].origin.offset, l0 + line(1).len() as u64);
    assert_eq!(got[2].origin.file.as_deref(), Some(&path));
}

#[test]
fn starting_at_end_skips_the_backlog_but_reads_new_files_whole() {
    let dir = TempDir::new("end");
    let old = dir.0.join("auth.log");
    let later = dir.0.join("secure");
    append(&old, &line(0));
    let mut f = Follower::with_options(
        vec![old.clone(), later.clone()],
        None,
        Some(Format::Syslog),
        opts(StartAt::End),
    )
    .unwrap();
    assert!(poll(&mut f).is_empty());
    append(&old, &line(1));
    append(&later, &line(2));
    let mut got = poll(&mut f);
    got.sort();
    assert_eq!(got, users(1..3));
}

#[cfg(unix)]
#[test]
fn rotation_finishes_the_old_file_then_reads_the_new_one_from_its_start() {
    let dir = TempDir::new("rotate");
    let path = dir.0.join("auth.log");
    append(&path, &line(0));
    let mut f = follower(&path, None, StartAt::Beginning);
    assert_eq!(poll(&mut f), users(0..1));
    // Written to the old file just before rotation, then rename + recreate.
    append(&path, &line(1));
    fs::rename(&path, dir.0.join("auth.log.1")).unwrap();
    append(&dir.0.join("auth.log.1"), &line(2));
    append(&path, &(line(3) + &line(4)));
    assert_eq!(poll(&mut f), users(1..5));
    append(&path, &line(5));
    assert_eq!(poll(&mut f), users(5..6));
}

#[cfg(unix)]
#[test]
fn a_removed_file_is_finished_and_its_successor_picked_up_when_it_appears() {
    let dir = TempDir::new("gap");
    let path = dir.0.join("auth.log");
    append(&path, &line(0));
    let mut f = follower(&path, None, StartAt::Beginning);
    assert_eq!(poll(&mut f), users(0..1));
    append(&path, &line(1));
    fs::rename(&path, dir.0.join("auth.log.1")).unwrap();
    assert_eq!(poll(&mut f), users(1..2));
    assert!(poll(&mut f).is_empty());
    append(&path, &line(2));
    assert_eq!(poll(&mut f), users(2..3));
}

#[test]
fn truncation_starts_again_from_zero() {
    let dir = TempDir::new("trunc");
    let path = dir.0.join("auth.log");
    append(&path, &(line(0) + &line(1) + &line(2)));
    let mut f = follower(&path, None, StartAt::Beginning);
    assert_eq!(poll(&mut f), users(0..3));
    // copytruncate: emptied in place, then written again.
    fs::write(&path, line(3)).unwrap();
    assert_eq!(poll(&mut f), users(3..4));
}

#[test]
fn a_file_rewritten_past_the_old_size_between_polls_is_read_from_zero() {
    let dir = TempDir::new("rewrite");
    let path = dir.0.join("auth.log");
    append(&path, &line(0));
    let mut f = follower(&path, None, StartAt::Beginning);
    assert_eq!(poll(&mut f), users(0..1));
    // Truncated and refilled beyond the old offset before the next poll: the size alone
    // would hide it, the first bytes do not.
    let mut f2 = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f2.write_all((line(10) + &line(11)).as_bytes()).unwrap();
    drop(f2);
    assert_eq!(poll(&mut f), users(10..12));
}

#[test]
fn restart_resumes_where_it_stopped_without_repeating_or_losing_lines() {
    let dir = TempDir::new("restart");
    let path = dir.0.join("auth.log");
    let state = dir.0.join("follow.state");
    append(&path, &(line(0) + &line(1)));
    {
        let mut f = follower(&path, Some(state.clone()), StartAt::Beginning);
        assert_eq!(poll(&mut f), users(0..2));
        // A partial line at stop time must be read whole after the restart.
        append(&path, &line(2)[..15]);
        assert!(poll(&mut f).is_empty());
    }
    append(&path, &line(2)[15..]);
    append(&path, &line(3));
    // StartAt::End must not apply to a file with a saved position.
    let mut f = follower(&path, Some(state.clone()), StartAt::End);
    let mut got = Vec::new();
    f.poll_once(&mut |r| got.push(r.unwrap())).unwrap();
    let names: Vec<_> = got.iter().map(|e| e.get("user").unwrap()).collect();
    assert_eq!(names, ["user2", "user3"]);
    assert_eq!(
        got[0].record_id,
        Some(3),
        "line numbers continue across restarts"
    );
}

#[cfg(unix)]
#[test]
fn restart_after_a_rotation_while_stopped_finishes_the_rotated_file_first() {
    let dir = TempDir::new("restart-rotate");
    let path = dir.0.join("auth.log");
    let state = dir.0.join("follow.state");
    append(&path, &line(0));
    {
        let mut f = follower(&path, Some(state.clone()), StartAt::Beginning);
        assert_eq!(poll(&mut f), users(0..1));
    }
    append(&path, &line(1));
    fs::rename(&path, dir.0.join("auth.log.1")).unwrap();
    append(&path, &line(2));
    let mut f = follower(&path, Some(state.clone()), StartAt::End);
    assert_eq!(poll(&mut f), users(1..3));
}

#[test]
fn a_replaced_file_with_the_same_name_is_read_from_zero_after_restart() {
    let dir = TempDir::new("restart-replaced");
    let path = dir.0.join("auth.log");
    let state = dir.0.join("follow.state");
    append(&path, &(line(0) + &line(1)));
    {
        let mut f = follower(&path, Some(state.clone()), StartAt::Beginning);
        assert_eq!(poll(&mut f), users(0..2));
    }
    fs::remove_file(&path).unwrap();
    append(&path, &(line(5) + &line(6) + &line(7)));
    let mut f = follower(&path, Some(state), StartAt::End);
    assert_eq!(poll(&mut f), users(5..8));
}

#[test]
fn malformed_lines_are_reported_with_offset_and_following_goes_on() {
    let dir = TempDir::new("bad");
    let path = dir.0.join("auth.log");
    let text = line(0) + "not syslog\n" + &line(1);
    append(&path, &text);
    let mut f = follower(&path, None, StartAt::Beginning);
    let mut ok = 0;
    let mut errs = Vec::new();
    f.poll_once(&mut |r| match r {
        Ok(_) => ok += 1,
        Err(e) => errs.push(e),
    })
    .unwrap();
    assert_eq!(ok, 2);
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, line(0).len() as u64);
}

#[test]
fn run_delivers_lines_until_shutdown() {
    let dir = TempDir::new("run");
    let path = dir.0.join("auth.log");
    append(&path, &line(0));
    let mut o = opts(StartAt::Beginning);
    o.poll_interval = Duration::from_millis(20);
    let f = Follower::with_options(vec![path.clone()], None, Some(Format::Syslog), o).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(f.run(
            move |r| {
                let _ = tx.send(r);
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first.get("user"), Some("user0"));
        append(&path, &line(1));
        let second = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(second.get("user"), Some("user1"));
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    });
}

#[test]
fn a_line_longer_than_one_poll_reads_is_reported_and_following_goes_on() {
    let dir = TempDir::new("huge");
    let path = dir.0.join("auth.log");
    let mut o = opts(StartAt::Beginning);
    o.max_bytes_per_poll = 1000;
    o.read.max_line = 500;
    append(&path, &("z".repeat(5000) + "\n" + &line(0)));
    let mut f = Follower::with_options(vec![path.clone()], None, Some(Format::Syslog), o).unwrap();
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for _ in 0..3 {
        f.poll_once(&mut |r| match r {
            Ok(e) => ok.push(e),
            Err(e) => errs.push(e),
        })
        .unwrap();
    }
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].offset, 0);
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].record_id, Some(2));
}
