//! End-to-end outbound cases through `check()`: the misdelivery incidents the guard exists
//! for, rebuilt in code.

mod common;

use common::*;
use mamori_mail::{check, Direction, OutboundAction, Policy, Report, Verdict};

fn outbound(raw: &[u8], policy: &Policy) -> Report {
    check(raw, Direction::Outbound, policy, &company()).expect("report")
}

fn codes(r: &Report) -> Vec<&str> {
    r.reasons.iter().map(|x| x.code.as_str()).collect()
}

fn citizens(n: usize) -> Vec<String> {
    let domains = [
        "docomo.ne.jp",
        "gmail.com",
        "yahoo.co.jp",
        "ezweb.ne.jp",
        "icloud.com",
        "city-kumin.example",
    ];
    (0..n)
        .map(|i| format!("citizen{i:03}@{}", domains[i % domains.len()]))
        .collect()
}

#[test]
fn four_hundred_eleven_addresses_in_cc_become_bcc() {
    let cc = citizens(411);
    let raw = MailBuilder::new()
        .from("kouhou@mamori-shoji.co.jp")
        .to("kouhou@mamori-shoji.co.jp")
        .header("Cc", &cc.join(",\r\n "))
        .subject("イベント開催のお知らせ")
        .text("皆様\r\nイベントを開催します。")
        .build();
    let r = outbound(&raw, &policy());
    assert_eq!(r.verdict, Verdict::Bcc, "{:#?}", r.reasons);
    assert!(codes(&r).contains(&"mail.mass_recipients"));
    assert_eq!(r.bcc.len(), 411);
    assert!(r.bcc.contains(&cc[410]));
    assert!(!r.bcc.contains(&"kouhou@mamori-shoji.co.jp".to_string()));
    let reason = &r.reasons[0];
    assert!(
        reason.message_ja.contains("411 件"),
        "{}",
        reason.message_ja
    );
    assert!(
        reason.message_ja.contains("Bcc に変換"),
        "{}",
        reason.message_ja
    );
    let json = r.to_json();
    assert_eq!(json["verdict"], "bcc");
    let alerts = r.alerts("mamori-shoji");
    assert_eq!(alerts[0].rule_id, "mail.mass_recipients");
    assert_eq!(
        alerts[0].asset().map(|a| a.key()).as_deref(),
        Some("mail_account:kouhou@mamori-shoji.co.jp")
    );
}

#[test]
fn mass_recipients_can_be_held_instead() {
    let raw = MailBuilder::new()
        .from("kouhou@mamori-shoji.co.jp")
        .to(&citizens(12).join(", "))
        .subject("お知らせ")
        .text("x")
        .build();
    let p = Policy {
        mass_recipients_action: OutboundAction::Hold,
        ..Policy::default()
    };
    let r = outbound(&raw, &p);
    assert_eq!(r.verdict, Verdict::Hold);
    assert!(r.bcc.is_empty());
}

#[test]
fn csv_of_7500_people_to_a_first_time_domain_is_held() {
    let mut csv = String::from("氏名,個人番号,電話番号,郵便番号,住所\r\n");
    let prefectures = [
        "東京都千代田区",
        "大阪府大阪市北区",
        "神奈川県横浜市中区",
        "北海道札幌市中央区",
    ];
    for i in 0..7500u64 {
        csv.push_str(&format!(
            "利用者{i},{},090-{:04}-{:04},〒{:03}-{:04},{}{}-{}\r\n",
            my_number(10_000_000_000 + i * 7919),
            i / 10000,
            i % 10000,
            100 + i % 800,
            i % 10000,
            prefectures[i as usize % 4],
            i % 50 + 1,
            i % 20 + 1,
        ));
    }
    // Japanese Excel writes CSV in Shift_JIS.
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&csv);
    let raw = MailBuilder::new()
        .from("tantou@mamori-shoji.co.jp")
        .to("soumu@wrong-recipient.example")
        .subject("名簿送付")
        .text("名簿を送付します。")
        .attach("名簿.csv", "text/csv", sjis.into_owned())
        .build();
    let r = outbound(&raw, &policy());
    assert_eq!(r.verdict, Verdict::Hold, "{:#?}", r.reasons);
    let c = codes(&r);
    for code in [
        "mail.pii_my_number",
        "mail.pii_phone",
        "mail.pii_address",
        "mail.first_time_domain",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    let my = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.pii_my_number")
        .expect("my number");
    assert!(my.message_ja.contains("7,500 件"), "{}", my.message_ja);
    assert!(my.message_ja.contains("名簿.csv"), "{}", my.message_ja);
    let phone = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.pii_phone")
        .expect("phone");
    assert!(phone.message_en.contains("7,500"), "{}", phone.message_en);
    let first = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.first_time_domain")
        .expect("first");
    assert!(first.message_ja.contains("wrong-recipient.example"));
}

#[test]
fn personal_data_inside_xlsx_docx_pdf_and_zip_is_found() {
    let numbers: Vec<String> = (0..5).map(|i| my_number(20_000_000_000 + i * 13)).collect();
    let cells: String = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "<row r=\"{}\"><c r=\"A{}\"><v>{n}</v></c></row>",
                i + 1,
                i + 1
            )
        })
        .collect();
    let xlsx = ooxml(&[(
        "xl/worksheets/sheet1.xml",
        format!("<worksheet><sheetData>{cells}</sheetData></worksheet>").as_bytes(),
    )]);
    let cards = ["4111 1111 1111 1111", "3530-1113-3330-0000"];
    let card_pdf = pdf(&cards
        .iter()
        .map(|c| format!("Card: {c}"))
        .collect::<Vec<_>>());
    let emails: String = (0..60)
        .map(|i| format!("<w:p><w:r><w:t>member{i}@club.example</w:t></w:r></w:p>"))
        .collect();
    let docx = ooxml(&[(
        "word/document.xml",
        format!("<w:document><w:body>{emails}</w:body></w:document>").as_bytes(),
    )]);
    let bundle = zip_deflated(&[("cards.pdf", &card_pdf), ("members.docx", &docx)]);
    let raw = MailBuilder::new()
        .from("tantou@mamori-shoji.co.jp")
        .to("keiri@kaikei-jimusho.jp")
        .subject("資料")
        .text("資料を送ります。")
        .attach(
            "一覧.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx,
        )
        .attach("bundle.zip", "application/zip", bundle)
        .build();
    let r = outbound(&raw, &policy());
    assert_eq!(r.verdict, Verdict::Hold, "{:#?}", r.reasons);
    let c = codes(&r);
    for code in ["mail.pii_my_number", "mail.pii_card", "mail.pii_mail_list"] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    assert!(!c.contains(&"mail.first_time_domain"), "{c:?}");
    let my = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.pii_my_number")
        .expect("my");
    assert!(
        my.message_ja.contains("一覧.xlsx") && my.message_ja.contains("5 件"),
        "{}",
        my.message_ja
    );
    let card = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.pii_card")
        .expect("card");
    assert!(
        card.message_en.contains("bundle.zip/cards.pdf") && card.message_en.contains("2 payment"),
        "{}",
        card.message_en
    );
}

#[test]
fn a_single_my_number_is_held_when_the_mail_names_it() {
    let n = my_number(31_415_926_535);
    let raw = MailBuilder::new()
        .from("jinji@mamori-shoji.co.jp")
        .to("keiri@kaikei-jimusho.jp")
        .subject("年末調整")
        .text(&format!(
            "山田さんのマイナンバーは {} {} {} です。",
            &n[..4],
            &n[4..8],
            &n[8..]
        ))
        .build();
    let r = outbound(&raw, &policy());
    assert_eq!(r.verdict, Verdict::Hold, "{:#?}", r.reasons);
    let plain = MailBuilder::new()
        .from("jinji@mamori-shoji.co.jp")
        .to("keiri@kaikei-jimusho.jp")
        .subject("お問い合わせ番号")
        .text(&format!("お問い合わせ番号 {n}"))
        .build();
    assert_eq!(outbound(&plain, &policy()).verdict, Verdict::Deliver);
}

#[test]
fn lookalike_recipient_is_held_and_ppap_warns() {
    let raw = MailBuilder::new()
        .from("eigyo@mamori-shoji.co.jp")
        .to("buyer@tokyo-buhim.co.jp")
        .subject("見積書")
        .attach(
            "見積書.zip",
            "application/zip",
            zip(&[("見積書.xlsx", b"secret", 1, 8)]),
        )
        .build();
    let r = outbound(&raw, &policy());
    assert_eq!(r.verdict, Verdict::Hold);
    let c = codes(&r);
    assert!(c.contains(&"mail.lookalike_recipient"), "{c:?}");
    assert!(c.contains(&"mail.ppap_outbound"), "{c:?}");

    let ppap_only = MailBuilder::new()
        .from("eigyo@mamori-shoji.co.jp")
        .to("buyer@tokyo-buhin.co.jp")
        .subject("見積書")
        .attach(
            "見積書.zip",
            "application/zip",
            zip(&[("見積書.xlsx", b"secret", 1, 8)]),
        )
        .build();
    let r = outbound(&ppap_only, &policy());
    assert_eq!(r.verdict, Verdict::Deliver);
    assert_eq!(codes(&r), vec!["mail.ppap_outbound"]);
}

#[test]
fn external_mail_is_delayed_when_configured() {
    let p = Policy {
        send_delay_minutes: 5,
        ..Policy::default()
    };
    let external = MailBuilder::new()
        .from("eigyo@mamori-shoji.co.jp")
        .to("buyer@tokyo-buhin.co.jp")
        .subject("ご連絡")
        .text("x")
        .build();
    let r = outbound(&external, &p);
    assert_eq!(r.verdict, Verdict::Delay);
    assert_eq!(r.delay_minutes, Some(5));
    assert_eq!(r.to_json()["verdict"], "delay");
    let internal = MailBuilder::new()
        .from("eigyo@mamori-shoji.co.jp")
        .to("sato@mamori-shoji.co.jp")
        .subject("社内連絡")
        .text("x")
        .build();
    assert_eq!(outbound(&internal, &p).verdict, Verdict::Deliver);
}

#[test]
fn envelope_recipients_include_bcc_for_first_time_domains() {
    let raw = MailBuilder::new()
        .from("eigyo@mamori-shoji.co.jp")
        .to("buyer@tokyo-buhin.co.jp")
        .subject("ご連絡")
        .text("x")
        .build();
    let mut ctx = company();
    ctx.envelope_recipients = vec![
        "buyer@tokyo-buhin.co.jp".into(),
        "hidden@new-domain.example".into(),
    ];
    let r = check(&raw, Direction::Outbound, &policy(), &ctx).expect("report");
    assert_eq!(codes(&r), vec!["mail.first_time_domain"]);
    assert_eq!(r.verdict, Verdict::Deliver);
}
