//! The Suricata rule language (as used by ET Open): parse, compile, match. No I/O.
//!
//! # What it does
//!
//! - [`parse_rules`] turns the text of a `.rules` file into [`Rule`]s, resolving header
//!   variables from [`Vars`] (Suricata's `suricata.yaml` defaults unless set). Rules it
//!   cannot load are reported as [`Skipped`] with file, line, sid, keyword and reason;
//!   [`Coverage`] summarises a load for `mamori ids rules check FILE`.
//! - [`Engine::build`] groups rules by transport, app-layer protocol and direction and
//!   builds Aho-Corasick prefilters over each rule's fast pattern per buffer.
//! - [`Engine::inspect`] evaluates one [`Input`] — a packet with its flow's view, or an
//!   app-layer transaction's [`Buffers`] — and reports [`Match`]es, keeping flowbits and the
//!   pass flag in the caller's [`FlowState`] and rate counters in [`Thresholds`].
//!
//! Matching follows Suricata's semantics where alert sets could differ: content
//! modifiers, relative matching with retry of earlier matches, negation, `isdataat`,
//! `byte_test`/`byte_jump`/`byte_extract`, pcre `R` and buffer flags, sticky buffers,
//! bidirectional headers, flow direction and state, flowbits, thresholds and pass rules.
//!
//! # What it does not
//!
//! No capture, decoding, flow tracking, stream reassembly or app-layer parsing: those live
//! in `mamori-ids`, which fills [`Input`]. No file reading: the caller reads rule files.
//! PCRE features that need backtracking (look-around, backreferences, atomic groups,
//! possessive quantifiers) are not supported — regexes run on the linear-time `regex`
//! crate, so hostile payloads cannot cause catastrophic backtracking — and rules using
//! them are skipped with a reason. DCE/RPC-aware byte options (`dce`), `asn1`, `xbits`,
//! `ssl_state`/`ssl_version`, `stream_size`, `ipopts` and other rarely used keywords
//! are skipped likewise.
//!
//! # Where input comes from
//!
//! Rule text from the operator's rule files (ET Open and local rules); packets, stream
//! data and buffers from the IDS pipeline. Both are untrusted: parsing and matching never
//! panic, and rule-driven and payload-driven work is bounded (keyword counts per buffer,
//! regex size limits, Suricata's inspection recursion limit, bounded threshold tables).

mod buffer;
mod bytes;
mod content;
mod engine;
mod error;
mod flowbits;
mod header;
mod input;
mod matcher;
mod options;
mod parse;
mod pcre;
mod prefilter;
mod rule;
mod threshold;
mod vars;

pub use buffer::{Buffer, Buffers};
pub use engine::{Engine, Match};
pub use error::Error;
pub use flowbits::FlowState;
pub use header::{Action, IpSet, PortSet, RuleProto};
pub use input::{AppProto, IcmpFields, Input, IpFields, Proto, TcpFields};
pub use parse::{parse_rule, parse_rules, Coverage, Parsed, Skipped};
pub use rule::{Reference, Rule, Target};
pub use threshold::{ThresholdKind, ThresholdSpec, Thresholds, Track};
pub use vars::Vars;
