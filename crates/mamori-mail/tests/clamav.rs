//! The clamd client against a stand-in clamd on 127.0.0.1 that speaks INSTREAM and flags
//! the EICAR test string, and the resulting `mail.virus` reason through `check()`.

mod common;

use common::*;
use mamori_mail::inbound::clamav::scan;
use mamori_mail::{check, Direction, Verdict};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// Serves `connections` INSTREAM requests and returns the address.
fn fake_clamd(connections: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(mut s) = stream else { continue };
            let mut command = [0u8; 10];
            if s.read_exact(&mut command).is_err() || &command != b"zINSTREAM\0" {
                let _ = s.write_all(b"UNKNOWN COMMAND\0");
                continue;
            }
            let mut data = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).is_err() {
                    break;
                }
                let n = u32::from_be_bytes(len) as usize;
                if n == 0 {
                    break;
                }
                let mut chunk = vec![0u8; n];
                if s.read_exact(&mut chunk).is_err() {
                    break;
                }
                data.extend_from_slice(&chunk);
            }
            let found = String::from_utf8_lossy(&data).contains(EICAR);
            let reply: &[u8] = if found {
                b"stream: Win.Test.EICAR_HDB-1 FOUND\0"
            } else {
                b"stream: OK\0"
            };
            let _ = s.write_all(reply);
        }
    });
    addr
}

#[test]
fn clamd_finding_quarantines_the_mail() {
    let addr = fake_clamd(2);
    let infected = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("test")
        .header("X-Test", EICAR)
        .text("see header")
        .build();
    let clean = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("test")
        .text(&"x".repeat(200_000))
        .build();
    let timeout = Duration::from_secs(5);
    assert_eq!(scan(&addr, &clean, timeout).expect("scan"), None);
    let found = scan(&addr, &infected, timeout).expect("scan");
    assert_eq!(found.as_deref(), Some("Win.Test.EICAR_HDB-1"));

    let mut ctx = company();
    ctx.virus = found;
    let r = check(&infected, Direction::Inbound, &policy(), &ctx).expect("report");
    assert_eq!(r.verdict, Verdict::Quarantine);
    assert_eq!(r.reasons[0].code, "mail.virus");
}

#[test]
fn unreachable_clamd_is_a_clean_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let err = scan(&addr, b"From: a@b\r\n\r\nx", Duration::from_secs(2)).expect_err("refused");
    assert!(err.to_string().contains(&addr), "{err}");
    assert!(scan("not-an-address", b"x", Duration::from_secs(1)).is_err());
}
