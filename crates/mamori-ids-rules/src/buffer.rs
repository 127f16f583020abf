//! Inspection buffers: the named byte strings that app-layer parsers extract and that
//! sticky-buffer keywords (`http.uri;`) and content modifiers (`http_uri;`) point at.
//!
//! The caller fills a [`Buffers`] with whatever its parsers produced for the current packet
//! or transaction; a rule that inspects a buffer only matches when that buffer is set.

/// A named inspection buffer. The names follow Suricata's sticky-buffer keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Buffer {
    /// Normalized request URI (`http.uri`, `http_uri`, `uricontent`, pcre `U`).
    HttpUri,
    /// Raw request URI (`http.uri.raw`, `http_raw_uri`, pcre `I`).
    HttpRawUri,
    /// Request method (`http.method`, pcre `M`).
    HttpMethod,
    /// Normalized request or response headers, without the Cookie header (`http.header`, pcre `H`).
    HttpHeader,
    /// Raw headers (`http.header.raw`, pcre `D`).
    HttpRawHeader,
    /// Cookie / Set-Cookie value (`http.cookie`, pcre `C`).
    HttpCookie,
    /// User-Agent value (`http.user_agent`, pcre `V`).
    HttpUserAgent,
    /// Normalized (lower-case) Host value (`http.host`, pcre `W`).
    HttpHost,
    /// Raw Host value (`http.host.raw`, pcre `Z`).
    HttpRawHost,
    /// Request body (`http.request_body`, `http_client_body`, pcre `P`).
    HttpRequestBody,
    /// Response body (`http.response_body`, `http_server_body`).
    HttpResponseBody,
    /// Response status code (`http.stat_code`, pcre `S`).
    HttpStatCode,
    /// Response status message (`http.stat_msg`, pcre `Y`).
    HttpStatMsg,
    /// Full request line (`http.request_line`).
    HttpRequestLine,
    /// Full response line (`http.response_line`).
    HttpResponseLine,
    /// Protocol version string, e.g. `HTTP/1.1` (`http.protocol`).
    HttpProtocol,
    /// Content-Type value (`http.content_type`).
    HttpContentType,
    /// Content-Length value (`http.content_len`).
    HttpContentLen,
    /// Accept value (`http.accept`).
    HttpAccept,
    /// Accept-Encoding value (`http.accept_enc`).
    HttpAcceptEnc,
    /// Accept-Language value (`http.accept_lang`).
    HttpAcceptLang,
    /// Referer value (`http.referer`).
    HttpReferer,
    /// Connection value (`http.connection`).
    HttpConnection,
    /// Request or response line plus headers (`http.start`).
    HttpStart,
    /// Header names, each preceded by CRLF, ending with CRLF CRLF (`http.header_names`).
    HttpHeaderNames,
    /// Server value (`http.server`).
    HttpServer,
    /// Location value (`http.location`).
    HttpLocation,
    /// File content: the HTTP response body (and request body), SMTP attachments
    /// (`file_data`, `file.data`, pcre `Q`). For HTTP set it alongside `HttpResponseBody`.
    FileData,
    /// DNS query name (`dns.query`, `dns_query`).
    DnsQuery,
    /// TLS SNI (`tls.sni`, `tls_sni`).
    TlsSni,
    /// Certificate subject (`tls.cert_subject`).
    TlsCertSubject,
    /// Certificate issuer (`tls.cert_issuer`).
    TlsCertIssuer,
    /// Certificate serial (`tls.cert_serial`), `XX:XX:..` upper-case hex.
    TlsCertSerial,
    /// Certificate SHA-1 fingerprint (`tls.cert_fingerprint`), `xx:xx:..` lower-case hex.
    TlsCertFingerprint,
    /// JA3 hash (`ja3.hash`).
    Ja3Hash,
    /// JA3 string (`ja3.string`).
    Ja3String,
    /// JA3S hash (`ja3s.hash`).
    Ja3sHash,
    /// JA3S string (`ja3s.string`).
    Ja3sString,
    /// JA4 fingerprint (`ja4.hash`).
    Ja4Hash,
    /// SSH protocol version, e.g. `2.0` (`ssh.proto`).
    SshProto,
    /// SSH software version, e.g. `OpenSSH_8.4` (`ssh.software`).
    SshSoftware,
}

impl Buffer {
    /// How many buffers there are; [`Buffers`] is an array of this size.
    pub const COUNT: usize = Buffer::SshSoftware as usize + 1;

    /// Every buffer, in declaration order.
    pub const ALL: [Buffer; Buffer::COUNT] = [
        Buffer::HttpUri,
        Buffer::HttpRawUri,
        Buffer::HttpMethod,
        Buffer::HttpHeader,
        Buffer::HttpRawHeader,
        Buffer::HttpCookie,
        Buffer::HttpUserAgent,
        Buffer::HttpHost,
        Buffer::HttpRawHost,
        Buffer::HttpRequestBody,
        Buffer::HttpResponseBody,
        Buffer::HttpStatCode,
        Buffer::HttpStatMsg,
        Buffer::HttpRequestLine,
        Buffer::HttpResponseLine,
        Buffer::HttpProtocol,
        Buffer::HttpContentType,
        Buffer::HttpContentLen,
        Buffer::HttpAccept,
        Buffer::HttpAcceptEnc,
        Buffer::HttpAcceptLang,
        Buffer::HttpReferer,
        Buffer::HttpConnection,
        Buffer::HttpStart,
        Buffer::HttpHeaderNames,
        Buffer::HttpServer,
        Buffer::HttpLocation,
        Buffer::FileData,
        Buffer::DnsQuery,
        Buffer::TlsSni,
        Buffer::TlsCertSubject,
        Buffer::TlsCertIssuer,
        Buffer::TlsCertSerial,
        Buffer::TlsCertFingerprint,
        Buffer::Ja3Hash,
        Buffer::Ja3String,
        Buffer::Ja3sHash,
        Buffer::Ja3sString,
        Buffer::Ja4Hash,
        Buffer::SshProto,
        Buffer::SshSoftware,
    ];

    /// The sticky-buffer keyword (Suricata 5+ dotted name or its legacy alias) naming a buffer.
    pub fn from_sticky_keyword(kw: &str) -> Option<Buffer> {
        Some(match kw {
            "http.uri" => Buffer::HttpUri,
            "http.uri.raw" => Buffer::HttpRawUri,
            "http.method" => Buffer::HttpMethod,
            "http.header" => Buffer::HttpHeader,
            "http.header.raw" => Buffer::HttpRawHeader,
            "http.cookie" => Buffer::HttpCookie,
            "http.user_agent" => Buffer::HttpUserAgent,
            "http.host" => Buffer::HttpHost,
            "http.host.raw" => Buffer::HttpRawHost,
            "http.request_body" | "http_request_body" => Buffer::HttpRequestBody,
            "http.response_body" | "http_response_body" => Buffer::HttpResponseBody,
            "http.stat_code" => Buffer::HttpStatCode,
            "http.stat_msg" => Buffer::HttpStatMsg,
            "http.request_line" | "http_request_line" => Buffer::HttpRequestLine,
            "http.response_line" | "http_response_line" => Buffer::HttpResponseLine,
            "http.protocol" | "http_protocol" => Buffer::HttpProtocol,
            "http.content_type" | "http_content_type" => Buffer::HttpContentType,
            "http.content_len" | "http_content_len" => Buffer::HttpContentLen,
            "http.accept" | "http_accept" => Buffer::HttpAccept,
            "http.accept_enc" | "http_accept_enc" => Buffer::HttpAcceptEnc,
            "http.accept_lang" | "http_accept_lang" => Buffer::HttpAcceptLang,
            "http.referer" | "http_referer" => Buffer::HttpReferer,
            "http.connection" | "http_connection" => Buffer::HttpConnection,
            "http.start" | "http_start" => Buffer::HttpStart,
            "http.header_names" | "http_header_names" => Buffer::HttpHeaderNames,
            "http.server" | "http_server" => Buffer::HttpServer,
            "http.location" | "http_location" => Buffer::HttpLocation,
            "file_data" | "file.data" => Buffer::FileData,
            "dns.query" | "dns_query" => Buffer::DnsQuery,
            "tls.sni" | "tls_sni" => Buffer::TlsSni,
            "tls.cert_subject" | "tls_cert_subject" => Buffer::TlsCertSubject,
            "tls.cert_issuer" | "tls_cert_issuer" => Buffer::TlsCertIssuer,
            "tls.cert_serial" | "tls_cert_serial" => Buffer::TlsCertSerial,
            "tls.cert_fingerprint" | "tls_cert_fingerprint" => Buffer::TlsCertFingerprint,
            "ja3.hash" | "ja3_hash" => Buffer::Ja3Hash,
            "ja3.string" | "ja3_string" => Buffer::Ja3String,
            "ja3s.hash" => Buffer::Ja3sHash,
            "ja3s.string" => Buffer::Ja3sString,
            "ja4.hash" => Buffer::Ja4Hash,
            "ssh.proto" | "ssh_proto" => Buffer::SshProto,
            "ssh.software" | "ssh_software" => Buffer::SshSoftware,
            _ => return None,
        })
    }

    /// The legacy content modifier (`content:"x"; http_uri;`) naming a buffer.
    pub fn from_modifier_keyword(kw: &str) -> Option<Buffer> {
        Some(match kw {
            "http_uri" => Buffer::HttpUri,
            "http_raw_uri" => Buffer::HttpRawUri,
            "http_method" => Buffer::HttpMethod,
            "http_header" => Buffer::HttpHeader,
            "http_raw_header" => Buffer::HttpRawHeader,
            "http_cookie" => Buffer::HttpCookie,
            "http_user_agent" => Buffer::HttpUserAgent,
            "http_host" => Buffer::HttpHost,
            "http_raw_host" => Buffer::HttpRawHost,
            "http_client_body" => Buffer::HttpRequestBody,
            "http_server_body" => Buffer::HttpResponseBody,
            "http_stat_code" => Buffer::HttpStatCode,
            "http_stat_msg" => Buffer::HttpStatMsg,
            _ => return None,
        })
    }

    /// The buffer a pcre modifier letter (`/x/U`) selects.
    pub fn from_pcre_flag(flag: char) -> Option<Buffer> {
        Some(match flag {
            'U' => Buffer::HttpUri,
            'I' => Buffer::HttpRawUri,
            'P' => Buffer::HttpRequestBody,
            'Q' => Buffer::FileData,
            'H' => Buffer::HttpHeader,
            'D' => Buffer::HttpRawHeader,
            'M' => Buffer::HttpMethod,
            'C' => Buffer::HttpCookie,
            'S' => Buffer::HttpStatCode,
            'Y' => Buffer::HttpStatMsg,
            'V' => Buffer::HttpUserAgent,
            'W' => Buffer::HttpHost,
            'Z' => Buffer::HttpRawHost,
            _ => return None,
        })
    }
}

/// The buffers present for one inspection: a fixed array indexed by [`Buffer`].
#[derive(Debug, Clone, Copy)]
pub struct Buffers<'a> {
    slots: [Option<&'a [u8]>; Buffer::COUNT],
}

impl Default for Buffers<'_> {
    fn default() -> Self {
        Buffers {
            slots: [None; Buffer::COUNT],
        }
    }
}

impl<'a> Buffers<'a> {
    /// No buffers set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a buffer (an empty slice is "present but empty", which `bsize:0` can match).
    pub fn set(&mut self, buffer: Buffer, data: &'a [u8]) {
        self.slots[buffer as usize] = Some(data);
    }

    /// Builder form of [`Buffers::set`].
    pub fn with(mut self, buffer: Buffer, data: &'a [u8]) -> Self {
        self.set(buffer, data);
        self
    }

    /// Remove a buffer.
    pub fn clear(&mut self, buffer: Buffer) {
        self.slots[buffer as usize] = None;
    }

    /// The data of a buffer, if set.
    pub fn get(&self, buffer: Buffer) -> Option<&'a [u8]> {
        self.slots[buffer as usize]
    }

    /// Whether any buffer is set.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_buffer_in_order() {
        for (i, b) in Buffer::ALL.iter().enumerate() {
            assert_eq!(*b as usize, i);
        }
    }

    #[test]
    fn buffers_set_get_clear() {
        let mut b = Buffers::new();
        assert!(b.is_empty());
        b.set(Buffer::HttpUri, b"/x");
        assert_eq!(b.get(Buffer::HttpUri), Some(&b"/x"[..]));
        assert_eq!(b.get(Buffer::HttpHost), None);
        b.clear(Buffer::HttpUri);
        assert!(b.is_empty());
    }

    #[test]
    fn keyword_aliases_resolve() {
        assert_eq!(
            Buffer::from_sticky_keyword("http.uri"),
            Some(Buffer::HttpUri)
        );
        assert_eq!(
            Buffer::from_sticky_keyword("dns_query"),
            Some(Buffer::DnsQuery)
        );
        assert_eq!(
            Buffer::from_modifier_keyword("http_client_body"),
            Some(Buffer::HttpRequestBody)
        );
        assert_eq!(Buffer::from_pcre_flag('U'), Some(Buffer::HttpUri));
        assert_eq!(Buffer::from_pcre_flag('i'), None);
    }
}
