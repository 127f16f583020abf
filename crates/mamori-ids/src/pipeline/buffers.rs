//! From app-layer transactions to the rule engine's sticky buffers.
//!
//! Suricata's HTTP buffers depend on the direction inspected: in a request (`to_server`)
//! `http.header` is the request's headers; in a response (`to_client`) it is the
//! response's, and so are `http.cookie` (Set-Cookie), `http.content_type`, `http.start` and
//! `http.header_names`. Request-line buffers (`http.uri`, `http.method`, `http.host` …)
//! stay available in the response so that rules combining both still match.

use crate::app::http::HttpTransaction;
use crate::app::ssh::SshSession;
use crate::app::tls::TlsSession;
use mamori_ids_rules::{Buffer, Buffers};

/// The buffers of an HTTP transaction inspected in `to_server` (request complete) or
/// `to_client` (response complete) direction.
pub fn http(tx: &HttpTransaction, to_server: bool) -> Buffers<'_> {
    let b = tx.buffers();
    let mut out = Buffers::new();
    // Request line and request-only headers: both directions.
    set(&mut out, Buffer::HttpUri, b.uri);
    set(&mut out, Buffer::HttpRawUri, b.uri_raw);
    set(&mut out, Buffer::HttpMethod, b.method);
    set(&mut out, Buffer::HttpRequestLine, b.request_line);
    set(&mut out, Buffer::HttpUserAgent, b.user_agent);
    set(&mut out, Buffer::HttpHost, b.host);
    set(&mut out, Buffer::HttpRawHost, b.host_raw);
    set(&mut out, Buffer::HttpAccept, b.accept);
    set(&mut out, Buffer::HttpAcceptEnc, b.accept_enc);
    set(&mut out, Buffer::HttpAcceptLang, b.accept_lang);
    set(&mut out, Buffer::HttpReferer, b.referer);
    set(&mut out, Buffer::HttpRequestBody, b.request_body);
    if to_server {
        set(&mut out, Buffer::HttpProtocol, b.protocol);
        set(&mut out, Buffer::HttpHeader, b.header);
        set(&mut out, Buffer::HttpRawHeader, b.header_raw);
        set(&mut out, Buffer::HttpCookie, b.cookie);
        set(&mut out, Buffer::HttpContentType, b.content_type);
        set(&mut out, Buffer::HttpContentLen, b.content_len);
        set(&mut out, Buffer::HttpConnection, b.connection);
        set(&mut out, Buffer::HttpHeaderNames, b.header_names);
        set(&mut out, Buffer::HttpStart, b.start);
    } else {
        set(&mut out, Buffer::HttpProtocol, b.response_protocol);
        set(&mut out, Buffer::HttpStatCode, b.stat_code);
        set(&mut out, Buffer::HttpStatMsg, b.stat_msg);
        set(&mut out, Buffer::HttpResponseLine, b.response_line);
        set(&mut out, Buffer::HttpHeader, b.response_header);
        set(&mut out, Buffer::HttpRawHeader, b.response_header_raw);
        set(&mut out, Buffer::HttpCookie, b.response_cookie);
        set(&mut out, Buffer::HttpResponseBody, b.file_data);
        set(&mut out, Buffer::FileData, b.file_data);
        set(&mut out, Buffer::HttpContentType, b.response_content_type);
        set(&mut out, Buffer::HttpContentLen, b.response_content_len);
        set(&mut out, Buffer::HttpConnection, b.response_connection);
        set(&mut out, Buffer::HttpServer, b.server);
        set(&mut out, Buffer::HttpLocation, b.location);
        set(&mut out, Buffer::HttpHeaderNames, b.response_header_names);
        set(&mut out, Buffer::HttpStart, b.response_start);
    }
    out
}

/// TLS buffers: the client's (SNI, JA3, JA4) towards the server, the server's
/// (certificate, JA3S) towards the client.
pub fn tls(session: &TlsSession, to_server: bool) -> Buffers<'_> {
    let b = session.buffers();
    let mut out = Buffers::new();
    set(&mut out, Buffer::TlsSni, b.sni);
    if to_server {
        set(&mut out, Buffer::Ja3Hash, b.ja3_hash);
        set(&mut out, Buffer::Ja3String, b.ja3_string);
        set(&mut out, Buffer::Ja4Hash, b.ja4_hash);
    } else {
        set(&mut out, Buffer::TlsCertSubject, b.cert_subject);
        set(&mut out, Buffer::TlsCertIssuer, b.cert_issuer);
        set(&mut out, Buffer::TlsCertSerial, b.cert_serial);
        set(&mut out, Buffer::TlsCertFingerprint, b.cert_fingerprint);
        set(&mut out, Buffer::Ja3sHash, b.ja3s_hash);
        set(&mut out, Buffer::Ja3sString, b.ja3s_string);
    }
    out
}

/// SSH banner buffers of one side.
pub fn ssh(session: &SshSession, to_server: bool) -> Buffers<'_> {
    let b = session.buffers();
    let mut out = Buffers::new();
    let (proto, software) = if to_server {
        (b.client_proto, b.client_software)
    } else {
        (b.server_proto, b.server_software)
    };
    if let Some(p) = proto {
        out.set(Buffer::SshProto, p);
    }
    if let Some(s) = software {
        out.set(Buffer::SshSoftware, s);
    }
    out
}

fn set<'a>(out: &mut Buffers<'a>, buffer: Buffer, value: Option<&'a [u8]>) {
    if let Some(v) = value {
        out.set(buffer, v);
    }
}
