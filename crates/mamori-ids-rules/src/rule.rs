//! A loaded rule: what the alert says about it (sid, msg, classtype, ...) and the compiled
//! detection it carries (header, flow options, packet checks, per-buffer keyword lists).

use std::net::IpAddr;

use crate::buffer::Buffer;
use crate::flowbits::FlowbitOp;
use crate::header::{Action, Header, RuleProto};
use crate::input::{AppProto, Input};
use crate::matcher::Op;
use crate::options::Cmp;
use crate::threshold::ThresholdSpec;

/// `reference:system,id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub system: String,
    pub id: String,
}

/// `target:src_ip|dest_ip`: which side of the alert is the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Source,
    Destination,
}

/// One loaded rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub action: Action,
    pub gid: u32,
    pub sid: u32,
    pub rev: u32,
    pub msg: String,
    pub classtype: Option<String>,
    /// `priority:`, else the classtype's priority from Suricata's `classification.config`, else 3.
    pub priority: u8,
    /// `metadata:` entries, each `key value`.
    pub metadata: Vec<String>,
    pub references: Vec<Reference>,
    pub target: Option<Target>,
    /// Where the rule came from.
    pub file: String,
    pub line: usize,
    pub(crate) header: Header,
    pub(crate) detect: Detect,
}

impl Rule {
    /// The protocol in the rule header.
    pub fn proto(&self) -> RuleProto {
        self.header.proto
    }

    /// The pattern the prefilter uses for this rule when it uses one, and the buffer it is
    /// searched in (`None` = packet payload / stream).
    pub fn fast_pattern(&self) -> Option<(Option<Buffer>, &[u8])> {
        let fast = self.detect.fast.as_ref()?;
        match fast.patterns.as_slice() {
            [one] => Some((fast.source.buffer(), one.as_slice())),
            _ => None,
        }
    }

    /// Everything the prefilter looks for on this rule's behalf (lower-cased; one of them
    /// must occur for the rule to match); empty when the rule is evaluated without one.
    pub fn prefilter_patterns(&self) -> &[Vec<u8>] {
        self.detect
            .fast
            .as_ref()
            .map_or(&[], |f| f.patterns.as_slice())
    }

    /// Whether the rule never alerts (`noalert`, `flowbits:noalert`).
    pub fn is_noalert(&self) -> bool {
        self.detect.noalert
    }
}

/// Where a keyword list looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The packet payload and/or reassembled stream.
    Payload,
    Buffer(Buffer),
}

impl Source {
    pub fn buffer(self) -> Option<Buffer> {
        match self {
            Source::Payload => None,
            Source::Buffer(b) => Some(b),
        }
    }

    /// Dense index: payload is 0, buffers follow.
    pub fn index(self) -> usize {
        match self {
            Source::Payload => 0,
            Source::Buffer(b) => 1 + b as usize,
        }
    }

    pub const COUNT: usize = 1 + Buffer::COUNT;
}

/// Which payload data a rule inspects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamMode {
    /// Packet payload or stream, whichever matches.
    #[default]
    Both,
    /// `flow:only_stream`, `tcp-stream`: reassembled stream only.
    OnlyStream,
    /// `flow:no_stream`, `tcp-pkt`, `dsize`: packet payload only.
    NoStream,
}

/// `flow:` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowOpts {
    pub to_server: Option<bool>,
    pub established: Option<bool>,
    pub stream: StreamMode,
}

/// `flags:` as written: `[modifier]flags[,mask]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlagsSpec {
    pub flags: u8,
    /// `+` all of these and any others; `*` any of these; `!` none of these; `=` exactly these.
    pub modifier: u8,
    pub ignore: u8,
}

impl TcpFlagsSpec {
    pub fn test(&self, actual: u8) -> bool {
        let a = actual & !self.ignore;
        match self.modifier {
            b'+' => a & self.flags == self.flags,
            b'*' => a & self.flags != 0,
            b'!' => a & self.flags == 0,
            _ => a == self.flags,
        }
    }
}

/// A check on packet headers or flow properties (no payload search).
#[derive(Debug, Clone)]
pub enum Check {
    Dsize(Cmp),
    Ttl(Cmp),
    IpId(u16),
    IpProto(Cmp),
    Fragbits { bits: u8, modifier: u8 },
    FragOffset { negated: bool, cmp: Cmp },
    SameIp,
    Flags(TcpFlagsSpec),
    Seq(u32),
    Ack(u32),
    Window { negated: bool, value: u16 },
    Itype(Cmp),
    Icode(Cmp),
    IcmpId(u16),
    IcmpSeq(u16),
    AppProto { negated: bool, proto: AppProto },
}

impl Check {
    pub fn test(&self, i: &Input<'_>) -> bool {
        match self {
            Check::Dsize(c) => c.test(i.packet.len() as u64),
            Check::Ttl(c) => c.test(u64::from(i.ip.ttl)),
            Check::IpId(v) => i.ip.id == *v,
            Check::IpProto(c) => c.test(u64::from(i.proto.number())),
            Check::Fragbits { bits, modifier } => {
                let a = u8::from(i.ip.reserved) << 2
                    | u8::from(i.ip.dont_fragment) << 1
                    | u8::from(i.ip.more_fragments);
                TcpFlagsSpec {
                    flags: *bits,
                    modifier: *modifier,
                    ignore: 0,
                }
                .test(a)
            }
            Check::FragOffset { negated, cmp } => cmp.test(u64::from(i.ip.frag_offset)) != *negated,
            Check::SameIp => same_ip(i.src, i.dst),
            Check::Flags(f) => i.tcp.is_some_and(|t| f.test(t.flags)),
            Check::Seq(v) => i.tcp.is_some_and(|t| t.seq == *v),
            Check::Ack(v) => i.tcp.is_some_and(|t| t.ack == *v),
            Check::Window { negated, value } => {
                i.tcp.is_some_and(|t| (t.window == *value) != *negated)
            }
            Check::Itype(c) => i.icmp.is_some_and(|x| c.test(u64::from(x.itype))),
            Check::Icode(c) => i.icmp.is_some_and(|x| c.test(u64::from(x.icode))),
            Check::IcmpId(v) => i.icmp.is_some_and(|x| x.id == Some(*v)),
            Check::IcmpSeq(v) => i.icmp.is_some_and(|x| x.seq == Some(*v)),
            Check::AppProto { negated, proto } => (i.app_proto == Some(*proto)) != *negated,
        }
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    a == b
}

/// The keywords for one buffer, in rule order.
#[derive(Debug, Clone)]
pub struct List {
    pub source: Source,
    pub ops: Vec<Op>,
    /// Some content is `nocase`: the matcher needs the lower-cased buffer.
    pub needs_lower: bool,
}

/// What the prefilter looks for on a rule's behalf: the rule can only match where one of
/// `patterns` (lower-cased) occurs in `source`. One content's pattern, or the prefix
/// literals of a `pcre` when the rule has no content to use.
#[derive(Debug, Clone)]
pub struct Fast {
    pub source: Source,
    pub patterns: Vec<Vec<u8>>,
}

/// Compiled detection of a rule.
#[derive(Debug, Clone, Default)]
pub struct Detect {
    pub flow: FlowOpts,
    pub checks: Vec<Check>,
    pub lists: Vec<List>,
    pub flowbits: Vec<FlowbitOp>,
    pub noalert: bool,
    pub threshold: Option<ThresholdSpec>,
    pub fast: Option<Fast>,
}

/// Priority of a classtype in Suricata's shipped `classification.config`.
pub fn classtype_priority(name: &str) -> Option<u8> {
    Some(match name {
        "not-suspicious"
        | "unknown"
        | "string-detect"
        | "network-scan"
        | "protocol-command-decode"
        | "misc-activity"
        | "icmp-event" => 3,
        "tcp-connection" => 4,
        "bad-unknown"
        | "attempted-recon"
        | "successful-recon-limited"
        | "successful-recon-largescale"
        | "attempted-dos"
        | "successful-dos"
        | "rpc-portmap-decode"
        | "suspicious-filename-detect"
        | "suspicious-login"
        | "system-call-detect"
        | "unusual-client-port-connection"
        | "denial-of-service"
        | "non-standard-protocol"
        | "web-application-activity"
        | "misc-attack"
        | "default-login-attempt"
        | "external-ip-check"
        | "pup-activity"
        | "social-engineering"
        | "coin-mining" => 2,
        "attempted-user"
        | "unsuccessful-user"
        | "successful-user"
        | "attempted-admin"
        | "successful-admin"
        | "shellcode-detect"
        | "trojan-activity"
        | "web-application-attack"
        | "inappropriate-content"
        | "policy-violation"
        | "sdf"
        | "file-format"
        | "malware-cnc"
        | "client-side-exploit"
        | "targeted-activity"
        | "exploit-kit"
        | "domain-c2"
        | "credential-theft"
        | "command-and-control" => 1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_flag_modifiers() {
        let syn = TcpFlagsSpec {
            flags: 0x02,
            modifier: 0,
            ignore: 0xc0,
        };
        assert!(syn.test(0x02) && syn.test(0xc2) && !syn.test(0x12));
        let plus = TcpFlagsSpec {
            flags: 0x02,
            modifier: b'+',
            ignore: 0,
        };
        assert!(plus.test(0x12) && !plus.test(0x10));
        let any = TcpFlagsSpec {
            flags: 0x03,
            modifier: b'*',
            ignore: 0,
        };
        assert!(any.test(0x01) && !any.test(0x10));
        let none = TcpFlagsSpec {
            flags: 0x04,
            modifier: b'!',
            ignore: 0,
        };
        assert!(none.test(0x10) && !none.test(0x14));
    }

    #[test]
    fn classtype_priorities() {
        assert_eq!(classtype_priority("trojan-activity"), Some(1));
        assert_eq!(classtype_priority("misc-activity"), Some(3));
        assert_eq!(classtype_priority("made-up"), None);
    }
}
