//! End-to-end inbound cases through `check()`: each mail is built here, the way the
//! attacker's would look on the wire, and the verdict and reason codes are what an admin
//! would see.

mod common;

use common::*;
use mamori_mail::{check, Direction, Report, Verdict};

fn inbound(raw: &[u8]) -> Report {
    check(raw, Direction::Inbound, &policy(), &company()).expect("report")
}

fn codes(r: &Report) -> Vec<&str> {
    r.reasons.iter().map(|x| x.code.as_str()).collect()
}

#[test]
fn emotet_style_spoof_with_re_subject_and_encrypted_zip_is_quarantined() {
    // A colleague's name in ISO-2022-JP on a free-mail address, "RE:" with no thread, and a
    // password ZIP whose password is in the body.
    let raw = MailBuilder::new()
        .from(&format!(
            "{} <yamada.taro.0412@freemail-example.com>",
            iso2022jp_word("山田 太郎")
        ))
        .to("sato@mamori-shoji.co.jp")
        .subject(&format!("RE: {}", iso2022jp_word("ご請求書の件")))
        .header("Message-ID", "<x1@freemail-example.com>")
        .text("佐藤様\r\n添付をご確認ください。パスワード: 1234\r\n")
        .attach(
            "請求書_0701.zip",
            "application/zip",
            zip(&[("請求書_0701.doc", b"encrypted-bytes", 1, 8)]),
        )
        .build();
    let r = inbound(&raw);
    assert_eq!(r.verdict, Verdict::Quarantine, "{:#?}", r.reasons);
    let c = codes(&r);
    for code in [
        "mail.display_name_spoof",
        "mail.thread_hijack",
        "mail.encrypted_zip",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    let spoof = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.display_name_spoof")
        .expect("spoof");
    assert!(
        spoof.message_ja.contains("山田 太郎"),
        "{}",
        spoof.message_ja
    );
    assert!(spoof.message_ja.contains("freemail-example.com"));
    assert_eq!(r.subject, "RE: ご請求書の件");
    let json = r.to_json();
    assert_eq!(json["verdict"], "quarantine");
    assert!(json["reasons"].as_array().is_some_and(|a| a.len() >= 3));
    let alerts = r.alerts("mamori-shoji");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].rule_id, "mail.encrypted_zip");
}

#[test]
fn aes_encrypted_zip_is_flagged() {
    let raw = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("資料")
        .attach(
            "data.zip",
            "application/zip",
            zip(&[("data.xlsx", b"aes-bytes", 1, 99)]),
        )
        .build();
    assert!(codes(&inbound(&raw)).contains(&"mail.encrypted_zip"));
}

#[test]
fn docm_with_vba_project_is_flagged_as_macro() {
    let docm = ooxml(&[
        (
            "word/document.xml",
            b"<w:document><w:body><w:p><w:r><w:t>invoice</w:t></w:r></w:p></w:body></w:document>",
        ),
        (
            "word/vbaProject.bin",
            &cfb(&[("VBA", 1), ("_VBA_PROJECT", 2)]),
        ),
    ]);
    let raw = MailBuilder::new()
        .from("billing@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("Invoice")
        .attach(
            "invoice.docm",
            "application/vnd.ms-word.document.macroEnabled.12",
            docm,
        )
        .build();
    let r = inbound(&raw);
    assert!(codes(&r).contains(&"mail.office_macro"), "{:?}", codes(&r));
    assert!(r
        .attachments
        .iter()
        .any(|a| a.path == "invoice.docm" && a.macros && a.kind == "ooxml"));
    assert_eq!(r.verdict, Verdict::Tag);
}

#[test]
fn ole_doc_with_vba_project_stream_is_flagged_as_macro() {
    let doc = cfb(&[
        ("WordDocument", 2),
        ("1Table", 2),
        ("Macros", 1),
        ("VBA", 1),
        ("_VBA_PROJECT", 2),
        ("dir", 2),
        ("ThisDocument", 2),
    ]);
    let raw = MailBuilder::new()
        .from("billing@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("見積書")
        .attach("見積書.doc", "application/msword", doc)
        .build();
    let r = inbound(&raw);
    assert!(codes(&r).contains(&"mail.office_macro"), "{:?}", codes(&r));
    let clean = MailBuilder::new()
        .from("billing@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("見積書")
        .attach(
            "見積書.doc",
            "application/msword",
            cfb(&[("WordDocument", 2), ("1Table", 2)]),
        )
        .build();
    assert_eq!(inbound(&clean).verdict, Verdict::Deliver);
}

#[test]
fn lookalike_partner_domain_with_reply_to_elsewhere_is_flagged() {
    let raw = MailBuilder::new()
        .from("経理部 <keiri@tokyo-buhim.co.jp>")
        .header("Reply-To", "tokyo.buhin.keiri@gmail.com")
        .to("sato@mamori-shoji.co.jp")
        .subject("振込先変更のお願い")
        .text("振込先口座が変更になりました。")
        .build();
    let r = inbound(&raw);
    let c = codes(&r);
    assert!(c.contains(&"mail.lookalike_domain"), "{c:?}");
    assert!(c.contains(&"mail.reply_to_mismatch"), "{c:?}");
    assert_eq!(r.verdict, Verdict::Quarantine);
    let lookalike = r
        .reasons
        .iter()
        .find(|x| x.code == "mail.lookalike_domain")
        .expect("reason");
    assert!(lookalike.message_ja.contains("tokyo-buhin.co.jp"));
}

#[test]
fn program_in_zip_inside_zip_is_rejected() {
    let inner = zip(&[("document.pdf.exe", b"MZ\x90\x00\x03\x00\x00\x00", 0, 0)]);
    let raw = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("書類")
        .attach(
            "書類.zip",
            "application/zip",
            zip(&[("inner.zip", &inner, 0, 0)]),
        )
        .build();
    let r = inbound(&raw);
    let c = codes(&r);
    for code in [
        "mail.nested_archive",
        "mail.executable",
        "mail.double_extension",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
    assert_eq!(r.verdict, Verdict::Reject);
}

#[test]
fn shortcut_disk_image_script_and_renamed_files_are_flagged() {
    let mut iso = vec![0u8; 0x9000];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    let raw = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("files")
        .attach(
            "readme.lnk",
            "application/octet-stream",
            b"\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00".to_vec(),
        )
        .attach("scan.img", "application/octet-stream", iso)
        .attach("invoice.js", "text/javascript", b"WScript.Shell".to_vec())
        .attach(
            "photo.pdf",
            "application/pdf",
            b"Rar!\x1a\x07\x01\x00rest".to_vec(),
        )
        .build();
    let c_r = inbound(&raw);
    let c = codes(&c_r);
    for code in [
        "mail.lnk",
        "mail.disk_image",
        "mail.script",
        "mail.rar_7z",
        "mail.type_mismatch",
    ] {
        assert!(c.contains(&code), "{code} missing from {c:?}");
    }
}

#[test]
fn html_smuggling_attachment_and_deceptive_link_are_flagged() {
    let page = "<html><body><script>var d=atob('UEsDBBQ=');var b=new Blob([d]);\
                var a=document.createElement('a');a.href=URL.createObjectURL(b);a.download='x.zip';a.click();</script></body></html>";
    let raw = MailBuilder::new()
        .from("info@bank-notice.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("重要なお知らせ")
        .html(r#"<p>ログインしてください: <a href="https://login.bank-notice.example/">https://www.mufg.jp/</a></p>"#)
        .attach("notice.html", "text/html", page.as_bytes().to_vec())
        .build();
    let c_r = inbound(&raw);
    let c = codes(&c_r);
    assert!(c.contains(&"mail.html_smuggling"), "{c:?}");
    assert!(c.contains(&"mail.link_mismatch"), "{c:?}");
}

#[test]
fn ordinary_business_mail_is_delivered() {
    let xlsx = ooxml(&[(
        "xl/sharedStrings.xml",
        b"<sst><si><t>\xe5\x93\x81\xe7\x95\xaa</t></si></sst>",
    )]);
    let raw = MailBuilder::new()
        .from(&format!("{} <yamada@mamori-shoji.co.jp>", iso2022jp_word("山田 太郎")))
        .to("buyer@tokyo-buhin.co.jp")
        .subject(&format!("Re: {}", iso2022jp_word("お見積り")))
        .header("In-Reply-To", "<20240701.1@mamori-shoji.co.jp>")
        .header("References", "<20240701.1@mamori-shoji.co.jp>")
        .html(r#"<p>詳細は <a href="https://www.mamori-shoji.co.jp/catalog">www.mamori-shoji.co.jp</a> をご覧ください。</p>"#)
        .attach("見積書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx)
        .attach("catalog.pdf", "application/pdf", pdf(&["Catalog 2024".into()]))
        .build();
    let r = inbound(&raw);
    assert_eq!(r.verdict, Verdict::Deliver, "{:#?}", r.reasons);
    assert!(r.reasons.is_empty());
    assert!(r.alerts("mamori-shoji").is_empty());
    assert!(r.attachments.iter().any(|a| a.path == "見積書.xlsx"));
}

#[test]
fn attached_message_is_opened_and_its_attachments_checked() {
    let inner = MailBuilder::new()
        .from("x@evil.example")
        .to("y@example.net")
        .subject("inner")
        .attach(
            "run.scr",
            "application/octet-stream",
            b"MZ\x90\x00".to_vec(),
        )
        .build();
    let raw = MailBuilder::new()
        .from("a@client.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("FYI")
        .attach("forwarded.eml", "message/rfc822", inner)
        .build();
    let r = inbound(&raw);
    assert!(
        codes(&r).contains(&"mail.executable"),
        "{:?} {:?}",
        codes(&r),
        r.attachments
    );
}
