//! The pages the proxy answers with itself: blocked, upstream down, too large, the login
//! challenge. Short, bilingual (Japanese first), no external resources, and each names a
//! reference the site's owner can look up in the console.

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title_ja: &str, title_en: &str, body: &str) -> Response<Bytes> {
    let html = format!(
        "<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{status} {title_en}</title>\
<style>body{{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em;color:#222}}h1{{font-size:1.3em}}small{{color:#666}}</style></head>\
<body><h1>{title_ja}</h1><p><small>{title_en}</small></p>{body}<hr><small>Mamori WAF</small></body></html>",
        status = status.as_u16(),
    );
    let mut resp = Response::new(Bytes::from(html));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A request the rules blocked; `reference` identifies it in the audit log.
pub fn blocked(status: u16, reference: &str) -> Response<Bytes> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::FORBIDDEN);
    page(
        status,
        "このリクエストはセキュリティ上の理由でブロックされました",
        "This request was blocked for security reasons.",
        &format!(
            "<p>心当たりがない場合は、サイトの管理者に次の参照番号をお知らせください。</p>\
<p>If you believe this is a mistake, give the site's owner this reference: <code>{}</code></p>",
            escape(reference)
        ),
    )
}

/// No upstream answered.
pub fn bad_gateway(detail: &str) -> Response<Bytes> {
    page(
        StatusCode::BAD_GATEWAY,
        "ただいまサイトに接続できません",
        "The website is not reachable right now. Please try again in a few minutes.",
        &format!("<p><small>{}</small></p>", escape(detail)),
    )
}

/// The upstream did not answer in time.
pub fn gateway_timeout() -> Response<Bytes> {
    page(
        StatusCode::GATEWAY_TIMEOUT,
        "サイトの応答がありません",
        "The website did not answer in time. Please try again.",
        "",
    )
}

pub fn too_large(limit: u64) -> Response<Bytes> {
    page(
        StatusCode::PAYLOAD_TOO_LARGE,
        "送信データが大きすぎます",
        "The request body is too large.",
        &format!("<p>Limit: {limit} bytes</p>"),
    )
}

/// The client's address is banned by a response action.
pub fn banned() -> Response<Bytes> {
    page(
        StatusCode::FORBIDDEN,
        "このアドレスからのアクセスは遮断されています",
        "Access from this address is blocked.",
        "",
    )
}

pub fn unknown_site(host: &str) -> Response<Bytes> {
    page(
        StatusCode::MISDIRECTED_REQUEST,
        "このサイトはここでは提供されていません",
        "This site is not served here.",
        &format!("<p><code>{}</code></p>", escape(host)),
    )
}

/// Too many login attempts (429) or a blocked address (403), with when to retry.
pub fn login_refused(status: StatusCode, retry_after: u64) -> Response<Bytes> {
    let minutes = retry_after.div_ceil(60).max(1);
    let mut resp = page(
        status,
        "ログインの試行が多すぎます",
        "Too many login attempts from your address.",
        &format!(
            "<p>{minutes} 分後にもう一度お試しください。</p><p>Please try again in {minutes} minute(s).</p>"
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert(RETRY_AFTER, v);
    }
    resp
}

/// The challenge: one button that posts to the proxy, which sets the pass cookie and sends
/// the browser back to `next`.
pub fn challenge(next: &str) -> Response<Bytes> {
    page(
        StatusCode::TOO_MANY_REQUESTS,
        "確認のため、ボタンを押してください",
        "This site is under a login attack. Press the button to continue.",
        &format!(
            "<form method=\"post\" action=\"{path}\"><input type=\"hidden\" name=\"next\" value=\"{next}\">\
<button type=\"submit\">続ける / Continue</button></form>",
            path = super::CHALLENGE_PATH,
            next = escape(next)
        ),
    )
}
