//! SPF, DKIM and DMARC against a local zone: the partner signs with an Ed25519 key made in
//! the test, publishes SPF, DKIM and DMARC records in a [`LocalZone`], and the gateway's
//! verdict changes when the mail comes from the wrong server or was altered. No DNS query
//! leaves the process.

mod common;

use common::*;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use mamori_mail::{authenticate, check, AuthStatus, Direction, LocalZone, Resolver, Verdict};
use std::net::IpAddr;
use std::time::Duration;

const SELECTOR: &str = "mamori2024";
const PARTNER: &str = "tokyo-buhin.co.jp";

/// A mail from the partner, DKIM-signed with a fresh key, and the key's DNS record.
fn signed_mail() -> (Vec<u8>, String) {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("key generation");
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).expect("key");
    let record = format!("v=DKIM1; k=ed25519; p={}", base64_line(&key.public_key()));
    let raw = MailBuilder::new()
        .from("Yamada <yamada@tokyo-buhin.co.jp>")
        .to("sato@mamori-shoji.co.jp")
        .subject("Quotation 2024-07")
        .header("Message-ID", "<q1@tokyo-buhin.co.jp>")
        .text("お世話になっております。見積書をお送りします。")
        .build();
    let signature = DkimSigner::from_key(key)
        .domain(PARTNER)
        .selector(SELECTOR)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(&raw)
        .expect("signing");
    let mut signed = signature.to_header().into_bytes();
    signed.extend_from_slice(&raw);
    (signed, record)
}

fn resolver(dkim_record: &str) -> Resolver {
    Resolver::local(
        LocalZone::new()
            .txt(PARTNER, "v=spf1 ip4:192.0.2.0/24 -all")
            .txt(&format!("{SELECTOR}._domainkey.{PARTNER}"), dkim_record)
            .txt(
                &format!("_dmarc.{PARTNER}"),
                "v=DMARC1; p=reject; rua=mailto:dmarc@tokyo-buhin.co.jp",
            ),
    )
    .expect("local resolver")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[tokio::test]
async fn signed_mail_from_the_listed_server_passes_spf_dkim_and_dmarc() {
    let (raw, record) = signed_mail();
    let dns = resolver(&record);
    let auth = authenticate(
        &raw,
        ip("192.0.2.25"),
        "mx.tokyo-buhin.co.jp",
        "yamada@tokyo-buhin.co.jp",
        &dns,
    )
    .await;
    assert_eq!(auth.spf, AuthStatus::Pass, "{auth:?}");
    assert_eq!(auth.dkim, AuthStatus::Pass, "{auth:?}");
    assert_eq!(auth.dkim_domains, vec![PARTNER.to_string()]);
    assert_eq!(auth.dmarc, AuthStatus::Pass, "{auth:?}");
    assert_eq!(auth.dmarc_policy.as_deref(), Some("reject"));
    assert_eq!(auth.from_domain, PARTNER);
    assert_eq!(auth.arc, AuthStatus::None);

    let mut ctx = company();
    ctx.auth = Some(auth);
    let report = check(&raw, Direction::Inbound, &policy(), &ctx).expect("report");
    assert_eq!(report.verdict, Verdict::Deliver, "{:#?}", report.reasons);
}

#[tokio::test]
async fn altered_mail_from_another_server_fails_spf_dkim_and_dmarc() {
    let (raw, record) = signed_mail();
    let forged = String::from_utf8_lossy(&raw)
        .replace("Subject: Quotation 2024-07", "Subject: Quotation 2024-08")
        .into_bytes();
    let dns = resolver(&record);
    let auth = authenticate(
        &forged,
        ip("203.0.113.7"),
        "mail.attacker.example",
        "yamada@tokyo-buhin.co.jp",
        &dns,
    )
    .await;
    assert_eq!(auth.spf, AuthStatus::Fail, "{auth:?}");
    assert_eq!(auth.dkim, AuthStatus::Fail, "{auth:?}");
    assert!(auth.dkim_domains.is_empty());
    assert_eq!(auth.dmarc, AuthStatus::Fail, "{auth:?}");

    let mut ctx = company();
    ctx.auth = Some(auth);
    let report = check(&forged, Direction::Inbound, &policy(), &ctx).expect("report");
    let codes: Vec<&str> = report.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(
        codes,
        vec!["mail.spf_fail", "mail.dkim_fail", "mail.dmarc_fail"]
    );
    assert_eq!(report.score, 14.0);
    assert_eq!(report.verdict, Verdict::Quarantine);
    let dmarc = &report.reasons[2];
    assert!(
        dmarc.message_ja.contains("tokyo-buhin.co.jp"),
        "{}",
        dmarc.message_ja
    );
}

#[tokio::test]
async fn wrong_key_in_dns_fails_dkim_only() {
    let (raw, _) = signed_mail();
    let (_, other_record) = signed_mail();
    let dns = resolver(&other_record);
    let auth = authenticate(
        &raw,
        ip("192.0.2.25"),
        "mx.tokyo-buhin.co.jp",
        "yamada@tokyo-buhin.co.jp",
        &dns,
    )
    .await;
    assert_eq!(auth.spf, AuthStatus::Pass);
    assert_eq!(auth.dkim, AuthStatus::Fail);
    // SPF aligns with the From domain, so DMARC still passes.
    assert_eq!(auth.dmarc, AuthStatus::Pass);
}

#[tokio::test]
async fn names_missing_from_the_local_zone_are_absent_and_answered_at_once() {
    let raw = MailBuilder::new()
        .from("someone@no-records.example")
        .to("sato@mamori-shoji.co.jp")
        .subject("hello")
        .text("x")
        .build();
    let dns = Resolver::local(LocalZone::new()).expect("resolver");
    let auth = tokio::time::timeout(
        Duration::from_secs(5),
        authenticate(
            &raw,
            ip("198.51.100.1"),
            "mx.no-records.example",
            "someone@no-records.example",
            &dns,
        ),
    )
    .await
    .expect("no network wait");
    assert_eq!(auth.spf, AuthStatus::None, "{auth:?}");
    assert_eq!(auth.dkim, AuthStatus::None);
    assert_eq!(auth.dmarc, AuthStatus::None);
}

/// The test's RSA key (most senders still sign with RSA-SHA256): its DKIM record and key.
fn rsa_key() -> (String, RsaKey<Sha256>) {
    use base64::Engine;
    let file = include_str!("fixtures/dkim-rsa-test-key.pem");
    let public = file
        .lines()
        .find_map(|l| l.strip_prefix("p="))
        .expect("p= line");
    let pem: String = file
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(pem)
        .expect("PEM body");
    let key = RsaKey::<Sha256>::from_key_der(rustls::pki_types::PrivateKeyDer::Pkcs1(der.into()))
        .expect("RSA key");
    (format!("v=DKIM1; k=rsa; p={public}"), key)
}

#[tokio::test]
async fn rsa_signed_mail_passes_dkim_and_fails_when_altered() {
    let (record, key) = rsa_key();
    let raw = MailBuilder::new()
        .from("Yamada <yamada@tokyo-buhin.co.jp>")
        .to("sato@mamori-shoji.co.jp")
        .subject("請求書送付のご案内")
        .header("Message-ID", "<r1@tokyo-buhin.co.jp>")
        .text("お世話になっております。請求書をお送りします。")
        .build();
    let signature = DkimSigner::from_key(key)
        .domain(PARTNER)
        .selector(SELECTOR)
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(&raw)
        .expect("signing");
    let mut signed = signature.to_header().into_bytes();
    signed.extend_from_slice(&raw);
    assert!(String::from_utf8_lossy(&signed).contains("a=rsa-sha256"));
    let dns = resolver(&record);
    let verify = |raw: Vec<u8>| {
        let dns = &dns;
        async move {
            authenticate(
                &raw,
                ip("198.51.100.7"),
                "relay.example.net",
                "yamada@tokyo-buhin.co.jp",
                dns,
            )
            .await
        }
    };
    let auth = verify(signed.clone()).await;
    assert_eq!(auth.dkim, AuthStatus::Pass, "{auth:?}");
    // SPF fails (a relay not in the record) but DKIM aligns: DMARC passes.
    assert_eq!(auth.spf, AuthStatus::Fail, "{auth:?}");
    assert_eq!(auth.dmarc, AuthStatus::Pass, "{auth:?}");
    let altered = String::from_utf8_lossy(&signed)
        .replace("sato@mamori-shoji.co.jp", "keiri@mamori-shoji.co.jp")
        .into_bytes();
    assert_ne!(altered, signed);
    let auth = verify(altered).await;
    assert_eq!(auth.dkim, AuthStatus::Fail, "{auth:?}");
    assert_eq!(auth.dmarc, AuthStatus::Fail, "{auth:?}");
}
