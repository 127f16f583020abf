//! Rule targets: `ARGS`, `REQUEST_HEADERS:User-Agent`, `!ARGS:foo`, `&ARGS`, `ARGS:/^id_/`,
//! `TX:score`, `XML:/*`… parsed once at load.

use regex::bytes::Regex;

/// The collections and scalars a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coll {
    Args,
    ArgsNames,
    ArgsGet,
    ArgsGetNames,
    ArgsPost,
    ArgsPostNames,
    ArgsCombinedSize,
    RequestHeaders,
    RequestHeadersNames,
    RequestCookies,
    RequestCookiesNames,
    RequestUri,
    RequestUriRaw,
    RequestFilename,
    RequestBasename,
    RequestLine,
    RequestMethod,
    RequestProtocol,
    QueryString,
    RequestBody,
    RequestBodyLength,
    Files,
    FilesNames,
    FilesSizes,
    FilesCombinedSize,
    Xml,
    Tx,
    Ip,
    Global,
    Session,
    User,
    Resource,
    Env,
    Geo,
    MatchedVar,
    MatchedVars,
    MatchedVarName,
    MatchedVarsNames,
    RemoteAddr,
    RemotePort,
    RemoteHost,
    ServerName,
    ServerPort,
    ServerAddr,
    ResponseStatus,
    ResponseHeaders,
    ResponseHeadersNames,
    ResponseBody,
    ResponseContentType,
    ResponseContentLength,
    ResponseProtocol,
    ReqbodyError,
    ReqbodyErrorMsg,
    ReqbodyProcessor,
    ReqbodyProcessorError,
    MultipartFlag(&'static str),
    MultipartPartHeaders,
    MultipartFilename,
    MultipartName,
    UniqueId,
    Duration,
    Time,
    AuthType,
    PathInfo,
    FullRequest,
    FullRequestLength,
    WebserverErrorLog,
    StatusLine,
    HighestSeverity,
    InboundDataError,
    OutboundDataError,
    Rule,
    UrlencodedError,
}

const MULTIPART_FLAGS: &[&str] = &[
    "MULTIPART_STRICT_ERROR",
    "MULTIPART_UNMATCHED_BOUNDARY",
    "MULTIPART_BOUNDARY_QUOTED",
    "MULTIPART_BOUNDARY_WHITESPACE",
    "MULTIPART_DATA_BEFORE",
    "MULTIPART_DATA_AFTER",
    "MULTIPART_HEADER_FOLDING",
    "MULTIPART_LF_LINE",
    "MULTIPART_CRLF_LF_LINES",
    "MULTIPART_MISSING_SEMICOLON",
    "MULTIPART_INVALID_QUOTING",
    "MULTIPART_INVALID_PART",
    "MULTIPART_INVALID_HEADER_FOLDING",
    "MULTIPART_FILE_LIMIT_EXCEEDED",
];

impl Coll {
    pub fn parse(name: &str) -> Option<Coll> {
        use Coll::*;
        let upper = name.to_ascii_uppercase();
        if let Some(f) = MULTIPART_FLAGS.iter().find(|f| **f == upper) {
            return Some(MultipartFlag(f));
        }
        Some(match upper.as_str() {
            "ARGS" => Args,
            "ARGS_NAMES" => ArgsNames,
            "ARGS_GET" => ArgsGet,
            "ARGS_GET_NAMES" => ArgsGetNames,
            "ARGS_POST" => ArgsPost,
            "ARGS_POST_NAMES" => ArgsPostNames,
            "ARGS_COMBINED_SIZE" => ArgsCombinedSize,
            "REQUEST_HEADERS" => RequestHeaders,
            "REQUEST_HEADERS_NAMES" => RequestHeadersNames,
            "REQUEST_COOKIES" => RequestCookies,
            "REQUEST_COOKIES_NAMES" => RequestCookiesNames,
            "REQUEST_URI" => RequestUri,
            "REQUEST_URI_RAW" => RequestUriRaw,
            "REQUEST_FILENAME" => RequestFilename,
            "REQUEST_BASENAME" => RequestBasename,
            "REQUEST_LINE" => RequestLine,
            "REQUEST_METHOD" => RequestMethod,
            "REQUEST_PROTOCOL" => RequestProtocol,
            "QUERY_STRING" => QueryString,
            "REQUEST_BODY" => RequestBody,
            "REQUEST_BODY_LENGTH" => RequestBodyLength,
            "FILES" | "FILES_TMPNAMES" | "FILES_TMP_CONTENT" => Files,
            "FILES_NAMES" => FilesNames,
            "FILES_SIZES" => FilesSizes,
            "FILES_COMBINED_SIZE" => FilesCombinedSize,
            "XML" => Xml,
            "TX" => Tx,
            "IP" => Ip,
            "GLOBAL" => Global,
            "SESSION" => Session,
            "USER" => User,
            "RESOURCE" => Resource,
            "ENV" => Env,
            "GEO" => Geo,
            "MATCHED_VAR" => MatchedVar,
            "MATCHED_VARS" => MatchedVars,
            "MATCHED_VAR_NAME" => MatchedVarName,
            "MATCHED_VARS_NAMES" => MatchedVarsNames,
            "REMOTE_ADDR" => RemoteAddr,
            "REMOTE_PORT" => RemotePort,
            "REMOTE_HOST" => RemoteHost,
            "SERVER_NAME" => ServerName,
            "SERVER_PORT" => ServerPort,
            "SERVER_ADDR" => ServerAddr,
            "RESPONSE_STATUS" => ResponseStatus,
            "RESPONSE_HEADERS" => ResponseHeaders,
            "RESPONSE_HEADERS_NAMES" => ResponseHeadersNames,
            "RESPONSE_BODY" => ResponseBody,
            "RESPONSE_CONTENT_TYPE" => ResponseContentType,
            "RESPONSE_CONTENT_LENGTH" => ResponseContentLength,
            "RESPONSE_PROTOCOL" => ResponseProtocol,
            "REQBODY_ERROR" => ReqbodyError,
            "REQBODY_ERROR_MSG" => ReqbodyErrorMsg,
            "REQBODY_PROCESSOR" => ReqbodyProcessor,
            "REQBODY_PROCESSOR_ERROR" => ReqbodyProcessorError,
            "MULTIPART_PART_HEADERS" => MultipartPartHeaders,
            "MULTIPART_FILENAME" => MultipartFilename,
            "MULTIPART_NAME" => MultipartName,
            "UNIQUE_ID" => UniqueId,
            "DURATION" => Duration,
            "TIME" | "TIME_DAY" | "TIME_EPOCH" | "TIME_HOUR" | "TIME_MIN" | "TIME_MON"
            | "TIME_SEC" | "TIME_WDAY" | "TIME_YEAR" => Time,
            "AUTH_TYPE" => AuthType,
            "PATH_INFO" => PathInfo,
            "FULL_REQUEST" => FullRequest,
            "FULL_REQUEST_LENGTH" => FullRequestLength,
            "WEBSERVER_ERROR_LOG" => WebserverErrorLog,
            "STATUS_LINE" => StatusLine,
            "HIGHEST_SEVERITY" => HighestSeverity,
            "INBOUND_DATA_ERROR" => InboundDataError,
            "OUTBOUND_DATA_ERROR" => OutboundDataError,
            "RULE" => Rule,
            "URLENCODED_ERROR" => UrlencodedError,
            _ => return None,
        })
    }

    /// The name shown in `MATCHED_VAR_NAME` (`ARGS`, `REQUEST_HEADERS`…).
    pub fn name(self) -> &'static str {
        use Coll::*;
        match self {
            Args => "ARGS",
            ArgsNames => "ARGS_NAMES",
            ArgsGet => "ARGS_GET",
            ArgsGetNames => "ARGS_GET_NAMES",
            ArgsPost => "ARGS_POST",
            ArgsPostNames => "ARGS_POST_NAMES",
            ArgsCombinedSize => "ARGS_COMBINED_SIZE",
            RequestHeaders => "REQUEST_HEADERS",
            RequestHeadersNames => "REQUEST_HEADERS_NAMES",
            RequestCookies => "REQUEST_COOKIES",
            RequestCookiesNames => "REQUEST_COOKIES_NAMES",
            RequestUri => "REQUEST_URI",
            RequestUriRaw => "REQUEST_URI_RAW",
            RequestFilename => "REQUEST_FILENAME",
            RequestBasename => "REQUEST_BASENAME",
            RequestLine => "REQUEST_LINE",
            RequestMethod => "REQUEST_METHOD",
            RequestProtocol => "REQUEST_PROTOCOL",
            QueryString => "QUERY_STRING",
            RequestBody => "REQUEST_BODY",
            RequestBodyLength => "REQUEST_BODY_LENGTH",
            Files => "FILES",
            FilesNames => "FILES_NAMES",
            FilesSizes => "FILES_SIZES",
            FilesCombinedSize => "FILES_COMBINED_SIZE",
            Xml => "XML",
            Tx => "TX",
            Ip => "IP",
            Global => "GLOBAL",
            Session => "SESSION",
            User => "USER",
            Resource => "RESOURCE",
            Env => "ENV",
            Geo => "GEO",
            MatchedVar => "MATCHED_VAR",
            MatchedVars => "MATCHED_VARS",
            MatchedVarName => "MATCHED_VAR_NAME",
            MatchedVarsNames => "MATCHED_VARS_NAMES",
            RemoteAddr => "REMOTE_ADDR",
            RemotePort => "REMOTE_PORT",
            RemoteHost => "REMOTE_HOST",
            ServerName => "SERVER_NAME",
            ServerPort => "SERVER_PORT",
            ServerAddr => "SERVER_ADDR",
            ResponseStatus => "RESPONSE_STATUS",
            ResponseHeaders => "RESPONSE_HEADERS",
            ResponseHeadersNames => "RESPONSE_HEADERS_NAMES",
            ResponseBody => "RESPONSE_BODY",
            ResponseContentType => "RESPONSE_CONTENT_TYPE",
            ResponseContentLength => "RESPONSE_CONTENT_LENGTH",
            ResponseProtocol => "RESPONSE_PROTOCOL",
            ReqbodyError => "REQBODY_ERROR",
            ReqbodyErrorMsg => "REQBODY_ERROR_MSG",
            ReqbodyProcessor => "REQBODY_PROCESSOR",
            ReqbodyProcessorError => "REQBODY_PROCESSOR_ERROR",
            MultipartFlag(f) => f,
            MultipartPartHeaders => "MULTIPART_PART_HEADERS",
            MultipartFilename => "MULTIPART_FILENAME",
            MultipartName => "MULTIPART_NAME",
            UniqueId => "UNIQUE_ID",
            Duration => "DURATION",
            Time => "TIME",
            AuthType => "AUTH_TYPE",
            PathInfo => "PATH_INFO",
            FullRequest => "FULL_REQUEST",
            FullRequestLength => "FULL_REQUEST_LENGTH",
            WebserverErrorLog => "WEBSERVER_ERROR_LOG",
            StatusLine => "STATUS_LINE",
            HighestSeverity => "HIGHEST_SEVERITY",
            InboundDataError => "INBOUND_DATA_ERROR",
            OutboundDataError => "OUTBOUND_DATA_ERROR",
            Rule => "RULE",
            UrlencodedError => "URLENCODED_ERROR",
        }
    }
}

/// Which members of a collection a target names.
#[derive(Debug, Clone)]
pub enum Selector {
    All,
    /// Exact name, compared case-insensitively (stored lowercase).
    Name(String),
    Regex(Regex),
}

impl Selector {
    pub fn matches(&self, key: &str) -> bool {
        match self {
            Selector::All => true,
            Selector::Name(n) => n.eq_ignore_ascii_case(key),
            Selector::Regex(r) => r.is_match(key.as_bytes()),
        }
    }
}

/// One target of a rule.
#[derive(Debug, Clone)]
pub struct Target {
    pub coll: Coll,
    pub selector: Selector,
    /// `&ARGS`: the number of members instead of their values.
    pub count: bool,
}

impl Target {
    /// Whether an exclusion (`!ARGS:foo`) covers a value this target yields.
    pub fn excludes(&self, coll: Coll, key: &str) -> bool {
        self.coll == coll && self.selector.matches(key)
    }
}

/// Parses a target list: `ARGS|!ARGS:foo|&TX:x|REQUEST_HEADERS:/^x-/`.
/// Returns (targets, exclusions).
pub fn parse_targets(spec: &str) -> Result<(Vec<Target>, Vec<Target>), String> {
    let mut targets = Vec::new();
    let mut excludes = Vec::new();
    for part in split_targets(spec) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (negated, rest) = match part.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, part),
        };
        let (count, rest) = match rest.strip_prefix('&') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (name, sel) = match rest.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let coll = Coll::parse(name).ok_or_else(|| format!("unknown variable {name}"))?;
        let selector = match sel {
            None | Some("") => Selector::All,
            // XPath: attribute values (`//@*`) or text (`/*`), the two forms CRS uses.
            Some(s) if coll == Coll::Xml => Selector::Name(if s.contains('@') {
                "@".into()
            } else {
                "/*".into()
            }),
            Some(s) if s.len() >= 2 && s.starts_with('/') && s.ends_with('/') => Selector::Regex(
                regex::bytes::RegexBuilder::new(&s[1..s.len() - 1])
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("selector {s}: {e}"))?,
            ),
            Some(s) => Selector::Name(s.trim_matches('\'').to_ascii_lowercase()),
        };
        let t = Target {
            coll,
            selector,
            count,
        };
        if negated {
            excludes.push(t);
        } else {
            targets.push(t);
        }
    }
    Ok((targets, excludes))
}

/// Splits at `|` outside `/regex/` selectors.
fn split_targets(spec: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = spec.as_bytes();
    let mut start = 0;
    let mut in_re = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if i > 0
                && b[i - 1] == b':'
                && !spec[..i - 1].to_ascii_uppercase().ends_with("XML") =>
            {
                in_re = true
            }
            b'\\' if in_re => i += 1,
            b'/' if in_re => in_re = false,
            b'|' if !in_re => {
                out.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&spec[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lists_with_exclusions_counts_and_regexes() {
        let (t, x) =
            parse_targets("ARGS|!ARGS:foo|&TX:x|REQUEST_HEADERS:/^x-a|b/|REQUEST_COOKIES:/__utm/")
                .unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(x.len(), 1);
        assert!(t[1].count);
        assert!(t[2].selector.matches("X-B"));
        assert!(x[0].excludes(Coll::Args, "FOO"));
        assert!(parse_targets("NOPE").is_err());
    }
}
