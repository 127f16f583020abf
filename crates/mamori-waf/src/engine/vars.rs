//! Rule targets: the variables a rule names, compiled once.

use crate::seclang::TargetSpec;
use regex::bytes::{Regex, RegexBuilder};

/// The variables (collections and scalars) a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
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
    FullRequest,
    FullRequestLength,
    Files,
    FilesNames,
    FilesSizes,
    FilesCombinedSize,
    FilesTmpNames,
    FilesTmpContent,
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
    RemoteUser,
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
    StatusLine,
    ReqbodyError,
    ReqbodyErrorMsg,
    ReqbodyProcessor,
    ReqbodyProcessorError,
    ReqbodyProcessorErrorMsg,
    UrlencodedError,
    InboundDataError,
    OutboundDataError,
    /// `MULTIPART_*` flags: the bit in [`crate::body::MULTIPART_FLAGS`].
    MultipartFlag(u8),
    MultipartPartHeaders,
    MultipartFilename,
    MultipartName,
    UniqueId,
    Duration,
    HighestSeverity,
    Time,
    TimeDay,
    TimeEpoch,
    TimeHour,
    TimeMin,
    TimeMon,
    TimeSec,
    TimeWday,
    TimeYear,
    AuthType,
    PathInfo,
    WebserverErrorLog,
    Rule,
    ArgsPath,
}

const NAMES: &[(&str, Var)] = &[
    ("ARGS", Var::Args),
    ("ARGS_NAMES", Var::ArgsNames),
    ("ARGS_GET", Var::ArgsGet),
    ("ARGS_GET_NAMES", Var::ArgsGetNames),
    ("ARGS_POST", Var::ArgsPost),
    ("ARGS_POST_NAMES", Var::ArgsPostNames),
    ("ARGS_COMBINED_SIZE", Var::ArgsCombinedSize),
    ("REQUEST_HEADERS", Var::RequestHeaders),
    ("REQUEST_HEADERS_NAMES", Var::RequestHeadersNames),
    ("REQUEST_COOKIES", Var::RequestCookies),
    ("REQUEST_COOKIES_NAMES", Var::RequestCookiesNames),
    ("REQUEST_URI", Var::RequestUri),
    ("REQUEST_URI_RAW", Var::RequestUriRaw),
    ("REQUEST_FILENAME", Var::RequestFilename),
    ("REQUEST_BASENAME", Var::RequestBasename),
    ("REQUEST_LINE", Var::RequestLine),
    ("REQUEST_METHOD", Var::RequestMethod),
    ("REQUEST_PROTOCOL", Var::RequestProtocol),
    ("QUERY_STRING", Var::QueryString),
    ("REQUEST_BODY", Var::RequestBody),
    ("REQUEST_BODY_LENGTH", Var::RequestBodyLength),
    ("FULL_REQUEST", Var::FullRequest),
    ("FULL_REQUEST_LENGTH", Var::FullRequestLength),
    ("FILES", Var::Files),
    ("FILES_NAMES", Var::FilesNames),
    ("FILES_SIZES", Var::FilesSizes),
    ("FILES_COMBINED_SIZE", Var::FilesCombinedSize),
    ("FILES_TMPNAMES", Var::FilesTmpNames),
    ("FILES_TMP_CONTENT", Var::FilesTmpContent),
    ("XML", Var::Xml),
    ("TX", Var::Tx),
    ("IP", Var::Ip),
    ("GLOBAL", Var::Global),
    ("SESSION", Var::Session),
    ("USER", Var::User),
    ("RESOURCE", Var::Resource),
    ("ENV", Var::Env),
    ("GEO", Var::Geo),
    ("MATCHED_VAR", Var::MatchedVar),
    ("MATCHED_VARS", Var::MatchedVars),
    ("MATCHED_VAR_NAME", Var::MatchedVarName),
    ("MATCHED_VARS_NAMES", Var::MatchedVarsNames),
    ("REMOTE_ADDR", Var::RemoteAddr),
    ("REMOTE_PORT", Var::RemotePort),
    ("REMOTE_HOST", Var::RemoteHost),
    ("REMOTE_USER", Var::RemoteUser),
    ("SERVER_NAME", Var::ServerName),
    ("SERVER_PORT", Var::ServerPort),
    ("SERVER_ADDR", Var::ServerAddr),
    ("RESPONSE_STATUS", Var::ResponseStatus),
    ("RESPONSE_HEADERS", Var::ResponseHeaders),
    ("RESPONSE_HEADERS_NAMES", Var::ResponseHeadersNames),
    ("RESPONSE_BODY", Var::ResponseBody),
    ("RESPONSE_CONTENT_TYPE", Var::ResponseContentType),
    ("RESPONSE_CONTENT_LENGTH", Var::ResponseContentLength),
    ("RESPONSE_PROTOCOL", Var::ResponseProtocol),
    ("STATUS_LINE", Var::StatusLine),
    ("REQBODY_ERROR", Var::ReqbodyError),
    ("REQBODY_ERROR_MSG", Var::ReqbodyErrorMsg),
    ("REQBODY_PROCESSOR", Var::ReqbodyProcessor),
    ("REQBODY_PROCESSOR_ERROR", Var::ReqbodyProcessorError),
    ("REQBODY_PROCESSOR_ERROR_MSG", Var::ReqbodyProcessorErrorMsg),
    ("URLENCODED_ERROR", Var::UrlencodedError),
    ("INBOUND_DATA_ERROR", Var::InboundDataError),
    ("OUTBOUND_DATA_ERROR", Var::OutboundDataError),
    ("MULTIPART_PART_HEADERS", Var::MultipartPartHeaders),
    ("MULTIPART_FILENAME", Var::MultipartFilename),
    ("MULTIPART_NAME", Var::MultipartName),
    ("UNIQUE_ID", Var::UniqueId),
    ("DURATION", Var::Duration),
    ("HIGHEST_SEVERITY", Var::HighestSeverity),
    ("TIME", Var::Time),
    ("TIME_DAY", Var::TimeDay),
    ("TIME_EPOCH", Var::TimeEpoch),
    ("TIME_HOUR", Var::TimeHour),
    ("TIME_MIN", Var::TimeMin),
    ("TIME_MON", Var::TimeMon),
    ("TIME_SEC", Var::TimeSec),
    ("TIME_WDAY", Var::TimeWday),
    ("TIME_YEAR", Var::TimeYear),
    ("AUTH_TYPE", Var::AuthType),
    ("PATH_INFO", Var::PathInfo),
    ("WEBSERVER_ERROR_LOG", Var::WebserverErrorLog),
    ("RULE", Var::Rule),
    ("ARGS_PATH", Var::ArgsPath),
];

impl Var {
    pub fn parse(name: &str) -> Option<Var> {
        if let Some(i) = crate::body::MULTIPART_FLAGS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
        {
            return Some(Var::MultipartFlag(i as u8));
        }
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The name shown in `MATCHED_VAR_NAME` (`ARGS`, `REQUEST_HEADERS`...).
    pub fn name(self) -> &'static str {
        if let Var::MultipartFlag(i) = self {
            return crate::body::MULTIPART_FLAGS[i as usize];
        }
        NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }

    /// Whether the variable is a collection (has keys) rather than a scalar.
    pub fn is_collection(self) -> bool {
        use Var::*;
        matches!(
            self,
            Args | ArgsNames
                | ArgsGet
                | ArgsGetNames
                | ArgsPost
                | ArgsPostNames
                | RequestHeaders
                | RequestHeadersNames
                | RequestCookies
                | RequestCookiesNames
                | Files
                | FilesNames
                | FilesSizes
                | FilesTmpNames
                | FilesTmpContent
                | Xml
                | Tx
                | Ip
                | Global
                | Session
                | User
                | Resource
                | Env
                | Geo
                | MatchedVars
                | MatchedVarsNames
                | ResponseHeaders
                | ResponseHeadersNames
                | MultipartPartHeaders
                | MultipartFilename
                | MultipartName
                | Rule
                | ArgsPath
        )
    }

    /// The persistent-style collections `setvar` may write (`TX`, `IP`, ...).
    pub fn is_store(self) -> bool {
        matches!(
            self,
            Var::Tx | Var::Ip | Var::Global | Var::Session | Var::User | Var::Resource | Var::Env
        )
    }
}

/// Which members of a collection a target names.
#[derive(Debug, Clone)]
pub enum Sel {
    All,
    /// Exact key, compared ASCII-case-insensitively (stored lowercase).
    Name(Vec<u8>),
    Regex(Regex),
    /// A `/^literal/` selector: keys starting with it (stored lowercase, compared
    /// ASCII-case-insensitively, as the regex would).
    Prefix(Vec<u8>),
    /// A `/literal/` selector: keys containing it (stored lowercase).
    Contains(Vec<u8>),
    /// `XML:/*`-style text nodes.
    XmlText,
    /// `XML://@*`-style attribute values.
    XmlAttrs,
}

impl Sel {
    #[inline]
    pub fn matches(&self, key: &[u8]) -> bool {
        match self {
            Sel::All => true,
            Sel::Name(n) => n.eq_ignore_ascii_case(key),
            Sel::Regex(r) => r.is_match(key),
            Sel::Prefix(p) => key.len() >= p.len() && key[..p.len()].eq_ignore_ascii_case(p),
            Sel::Contains(c) => {
                c.is_empty() || key.windows(c.len()).any(|w| w.eq_ignore_ascii_case(c))
            }
            Sel::XmlText | Sel::XmlAttrs => true,
        }
    }

    /// Whether an exclusion with this selector covers a value with key `key`.
    pub fn covers(&self, key: &[u8]) -> bool {
        self.matches(key)
    }
}

/// One target of a rule.
#[derive(Debug, Clone)]
pub struct Target {
    pub var: Var,
    pub sel: Sel,
    /// `&ARGS`: the number of values instead of the values.
    pub count: bool,
}

impl Target {
    /// Whether this target, used as an exclusion, removes the value `(var, key)`.
    pub fn excludes(&self, var: Var, key: &[u8]) -> bool {
        self.var == var && self.sel.covers(key)
    }
}

/// A regex selector that is a plain word, `^word`, `^word$` (letters, digits, `_`, `-`):
/// (anchored at the start, the word lowercase, anchored at the end). Such selectors
/// (`TX:/^header_name_/`, `!REQUEST_COOKIES:/__utm/`) are compared without running a regex
/// for every key of every rule. `word$` alone is left to the regex.
fn literal_selector(s: &str) -> Option<(bool, Vec<u8>, bool)> {
    let (start, rest) = match s.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (word, end) = match rest.strip_suffix('$') {
        Some(w) => (w, true),
        None => (rest, false),
    };
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (plain && (start || !end)).then(|| (start, word.to_ascii_lowercase().into_bytes(), end))
}

/// Compiles one parsed target.
pub fn compile_target(t: &TargetSpec) -> Result<Target, String> {
    let var = Var::parse(&t.name).ok_or_else(|| format!("unknown variable {}", t.name))?;
    let sel = match &t.selector {
        None => Sel::All,
        Some(s) if var == Var::Xml => {
            if s.contains('@') {
                Sel::XmlAttrs
            } else {
                Sel::XmlText
            }
        }
        Some(s) if t.regex => match literal_selector(s) {
            Some((true, word, true)) => Sel::Name(word),
            Some((true, word, false)) => Sel::Prefix(word),
            Some((false, word, _)) => Sel::Contains(word),
            None => Sel::Regex(
                RegexBuilder::new(s)
                    .case_insensitive(true)
                    .unicode(false)
                    .build()
                    .map_err(|e| format!("selector /{s}/: {e}"))?,
            ),
        },
        Some(s) => Sel::Name(s.to_ascii_lowercase().into_bytes()),
    };
    if !var.is_collection() && !matches!(sel, Sel::All) && var != Var::Xml {
        // ModSecurity accepts `REQUEST_URI:foo` and ignores the key: so do we.
        return Ok(Target {
            var,
            sel: Sel::All,
            count: t.count,
        });
    }
    Ok(Target {
        var,
        sel,
        count: t.count,
    })
}
