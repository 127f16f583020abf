//! `check()` is total: truncations and random corruption of real-looking mail, and plain
//! garbage, give a report or an error, never a panic or a hang.

mod common;

use common::*;
use mamori_mail::{check, Direction, Error, Limits, Policy};

fn sample() -> Vec<u8> {
    let inner = zip(&[
        ("a.exe", b"MZ\x90\x00", 1, 0),
        ("b.docm", &ooxml(&[("word/vbaProject.bin", b"x")]), 0, 0),
    ]);
    MailBuilder::new()
        .from(&format!("{} <a@example.net>", iso2022jp_word("山田 太郎")))
        .to("b@mamori-shoji.co.jp, c@example.org")
        .subject("RE: test")
        .html("<a href=\"https://evil.example/\">https://bank.example/</a>")
        .attach(
            "x.zip",
            "application/zip",
            zip(&[("inner.zip", &inner, 0, 0)]),
        )
        .attach(
            "d.doc",
            "application/msword",
            cfb(&[("Macros", 1), ("_VBA_PROJECT", 2)]),
        )
        .attach(
            "p.pdf",
            "application/pdf",
            pdf(&["4111 1111 1111 1111".into()]),
        )
        .build()
}

#[test]
fn truncated_messages_never_panic() {
    let raw = sample();
    let ctx = company();
    let policy = Policy::default();
    for cut in (0..raw.len()).step_by(7) {
        for direction in [Direction::Inbound, Direction::Outbound] {
            let _ = check(&raw[..cut], direction, &policy, &ctx);
        }
    }
}

#[test]
fn corrupted_messages_never_panic() {
    let raw = sample();
    let ctx = company();
    let policy = Policy::default();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..400 {
        let mut bytes = raw.clone();
        for _ in 0..16 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % bytes.len();
            bytes[at] = (seed >> 32) as u8;
        }
        let _ = check(&bytes, Direction::Inbound, &policy, &ctx);
    }
}

#[test]
fn garbage_gives_clean_errors() {
    let policy = Policy::default();
    let ctx = company();
    assert!(matches!(
        check(b"", Direction::Inbound, &policy, &ctx),
        Err(Error::Empty)
    ));
    let mut seed: u32 = 1;
    for len in [1usize, 2, 10, 100, 1000, 10_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        match check(&bytes, Direction::Inbound, &policy, &ctx) {
            Ok(_) => {}
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let small = Policy {
        limits: Limits {
            max_message_bytes: 100,
            ..Limits::default()
        },
        ..Policy::default()
    };
    let err = check(&sample(), Direction::Inbound, &small, &ctx).expect_err("too large");
    assert!(
        err.to_string().contains("over the limit of 100 bytes"),
        "{err}"
    );
}

#[test]
fn deeply_nested_attached_messages_stop_at_the_depth_limit() {
    let mut raw = MailBuilder::new()
        .from("a@x.example")
        .to("b@y.example")
        .subject("0")
        .text("x")
        .build();
    for i in 1..30 {
        raw = MailBuilder::new()
            .from("a@x.example")
            .to("b@y.example")
            .subject(&i.to_string())
            .attach("m.eml", "message/rfc822", raw)
            .build();
    }
    let r = check(&raw, Direction::Inbound, &Policy::default(), &company()).expect("report");
    assert!(r.attachments.len() <= 10, "{}", r.attachments.len());
}
