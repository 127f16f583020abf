//! The NFQUEUE netlink protocol (`nfnetlink_queue`) as bytes: encoding the requests a queue
//! client sends and decoding what the kernel sends back.
//!
//! Pure: no sockets, no system calls. [`crate::live::nfqueue`] owns the socket and hands
//! every datagram it receives to [`Messages`], then each message to [`decode`].
//!
//! Layout on the wire (`linux/netlink.h`, `linux/netfilter/nfnetlink_queue.h`): a datagram
//! holds one or more messages, each a 16-byte `nlmsghdr` (length, type, flags, sequence,
//! port id — host byte order) followed by a 4-byte `nfgenmsg` (family, version, queue number
//! in network byte order) and 4-byte aligned attributes (`nlattr`: length and type in host
//! byte order, then the value, whose numbers are big-endian as the protocol requires).
//!
//! Kernel input is still input: every length is checked against the bytes at hand before
//! it is used, a bad message ends the walk over its datagram with a [`NetlinkError`] naming
//! the byte offset, and nothing here panics or allocates on the decoding side.

/// `nlmsghdr` size.
pub const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const NFGENMSG_LEN: usize = 4;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;

/// `nfnetlink` subsystem id of the queue; a message type is `subsystem << 8 | message`.
const NFNL_SUBSYS_QUEUE: u16 = 3;
pub const NFQNL_MSG_PACKET: u16 = NFNL_SUBSYS_QUEUE << 8;
pub const NFQNL_MSG_VERDICT: u16 = NFNL_SUBSYS_QUEUE << 8 | 1;
pub const NFQNL_MSG_CONFIG: u16 = NFNL_SUBSYS_QUEUE << 8 | 2;
pub const NFQNL_MSG_VERDICT_BATCH: u16 = NFNL_SUBSYS_QUEUE << 8 | 3;

const NFNETLINK_V0: u8 = 0;

// Attributes of packet and verdict messages (`enum nfqnl_attr_type`).
const NFQA_PACKET_HDR: u16 = 1;
const NFQA_VERDICT_HDR: u16 = 2;
const NFQA_MARK: u16 = 3;
const NFQA_TIMESTAMP: u16 = 4;
const NFQA_IFINDEX_INDEV: u16 = 5;
const NFQA_IFINDEX_OUTDEV: u16 = 6;
const NFQA_PAYLOAD: u16 = 10;
const NFQA_CAP_LEN: u16 = 13;

// Attributes of config messages (`enum nfqnl_attr_config`).
const NFQA_CFG_CMD: u16 = 1;
const NFQA_CFG_PARAMS: u16 = 2;
const NFQA_CFG_QUEUE_MAXLEN: u16 = 3;
const NFQA_CFG_MASK: u16 = 4;
const NFQA_CFG_FLAGS: u16 = 5;

/// Attribute type bits that are flags, not part of the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// Config commands (`enum nfqnl_msg_config_cmds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConfigCommand {
    Bind = 1,
    Unbind = 2,
    /// Obsolete since Linux 3.8 (a no-op there); older kernels need it once per family.
    PfBind = 3,
    PfUnbind = 4,
}

/// How much of each packet the kernel copies into the packet message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CopyMode {
    None = 0,
    Meta = 1,
    Packet = 2,
}

/// Queue flag: accept packets instead of dropping them when the queue is full.
pub const NFQA_CFG_F_FAIL_OPEN: u32 = 0x1;

/// Netfilter verdict numbers (`NF_DROP`, `NF_ACCEPT`).
pub const NF_DROP: u32 = 0;
pub const NF_ACCEPT: u32 = 1;

/// Why a datagram from the kernel could not be decoded. Offsets are in bytes from the start
/// of the datagram (messages) or of the message (attributes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetlinkError {
    #[error("netlink message at byte {offset}: header truncated ({available} of 16 bytes)")]
    ShortHeader { offset: usize, available: usize },
    #[error("netlink message at byte {offset}: length {len} outside 16..={available}")]
    BadMessageLength {
        offset: usize,
        len: u32,
        available: usize,
    },
    #[error("netlink message at byte {offset}: {len} byte body too short for {what}")]
    ShortBody {
        offset: usize,
        len: usize,
        what: &'static str,
    },
    #[error("attribute at byte {offset}: length {len} outside 4..={available}")]
    BadAttributeLength {
        offset: usize,
        len: u16,
        available: usize,
    },
    #[error("attribute {what} at byte {offset}: {len} bytes, expected {expected}")]
    BadAttributeSize {
        what: &'static str,
        offset: usize,
        len: usize,
        expected: usize,
    },
    #[error("packet message without NFQA_PACKET_HDR")]
    MissingPacketHeader,
}

fn ne16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn ne32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Rounds up to netlink's 4-byte alignment.
const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// One netlink message: its header fields and the bytes after the header.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// Offset of the message in its datagram.
    pub offset: usize,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub portid: u32,
    pub body: &'a [u8],
}

/// The messages of one datagram, in order. Stops after the first error.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Messages<'a> {
    pub fn new(datagram: &'a [u8]) -> Self {
        Self {
            buf: datagram,
            pos: 0,
        }
    }

    /// Byte offset of the next message; equals the datagram length when the walk is over.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let offset = self.pos;
        if rest.len() < NLMSG_HDRLEN {
            self.pos = self.buf.len();
            return Some(Err(NetlinkError::ShortHeader {
                offset,
                available: rest.len(),
            }));
        }
        let len = ne32(rest, 0);
        let ulen = usize::try_from(len).unwrap_or(usize::MAX);
        if ulen < NLMSG_HDRLEN || ulen > rest.len() {
            self.pos = self.buf.len();
            return Some(Err(NetlinkError::BadMessageLength {
                offset,
                len,
                available: rest.len(),
            }));
        }
        // The last message of a datagram may lack its padding.
        self.pos = offset.saturating_add(align(ulen)).min(self.buf.len());
        Some(Ok(Message {
            offset,
            kind: ne16(rest, 4),
            flags: ne16(rest, 6),
            seq: ne32(rest, 8),
            portid: ne32(rest, 12),
            body: &rest[NLMSG_HDRLEN..ulen],
        }))
    }
}

/// The attributes in `buf` as (type without flag bits, value). `base` is the offset of
/// `buf` in its message, for error reports. Stops after the first error.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Attributes<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }
}

impl<'a> Iterator for Attributes<'a> {
    /// (type, value, offset of the attribute in the message)
    type Item = Result<(u16, &'a [u8], usize), NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let offset = self.base.saturating_add(self.pos);
        let len = if rest.len() >= NLA_HDRLEN {
            ne16(rest, 0)
        } else {
            0
        };
        let ulen = usize::from(len);
        if rest.len() < NLA_HDRLEN || ulen < NLA_HDRLEN || ulen > rest.len() {
            self.pos = self.buf.len();
            return Some(Err(NetlinkError::BadAttributeLength {
                offset,
                len,
                available: rest.len(),
            }));
        }
        self.pos = self.pos.saturating_add(align(ulen)).min(self.buf.len());
        Some(Ok((
            ne16(rest, 2) & NLA_TYPE_MASK,
            &rest[NLA_HDRLEN..ulen],
            offset,
        )))
    }
}

/// A packet the kernel queued, waiting for a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuedPacket<'a> {
    /// Protocol family of the hook (`NFPROTO_IPV4` = 2, `NFPROTO_IPV6` = 10, ...).
    pub family: u8,
    /// Queue number the packet was sent to.
    pub queue: u16,
    /// The id the verdict must name.
    pub id: u32,
    /// Ethertype of the packet (0x0800, 0x86dd), as the kernel reports it.
    pub hw_protocol: u16,
    /// Netfilter hook (0 prerouting, 1 input, 2 forward, 3 output, 4 postrouting).
    pub hook: u8,
    /// The packet from its network header on (at most the copy range).
    pub payload: &'a [u8],
    /// Length of the whole packet when the kernel cut the payload to the copy range.
    pub cap_len: Option<u32>,
    /// Receive time in microseconds since the Unix epoch, when the packet carries one.
    pub timestamp_us: Option<u64>,
    pub indev: Option<u32>,
    pub outdev: Option<u32>,
    pub mark: Option<u32>,
}

/// What one message from the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    Packet(QueuedPacket<'a>),
    /// `NLMSG_ERROR`: `errno` 0 acknowledges request `seq`, anything else refuses it.
    Status {
        seq: u32,
        errno: i32,
    },
    /// `NLMSG_DONE`, `NLMSG_NOOP`, `NLMSG_OVERRUN` or a type this client does not use.
    Other {
        kind: u16,
    },
}

/// Decodes one message of a datagram (see [`Messages`]).
pub fn decode<'a>(msg: &Message<'a>) -> Result<Reply<'a>, NetlinkError> {
    match msg.kind {
        NLMSG_ERROR => {
            if msg.body.len() < 4 {
                return Err(NetlinkError::ShortBody {
                    offset: msg.offset,
                    len: msg.body.len(),
                    what: "nlmsgerr",
                });
            }
            let error = i32::from_ne_bytes([msg.body[0], msg.body[1], msg.body[2], msg.body[3]]);
            Ok(Reply::Status {
                seq: msg.seq,
                errno: error.checked_neg().unwrap_or(i32::MAX),
            })
        }
        NFQNL_MSG_PACKET => decode_packet(msg).map(Reply::Packet),
        kind => Ok(Reply::Other { kind }),
    }
}

fn decode_packet<'a>(msg: &Message<'a>) -> Result<QueuedPacket<'a>, NetlinkError> {
    let body = msg.body;
    if body.len() < NFGENMSG_LEN {
        return Err(NetlinkError::ShortBody {
            offset: msg.offset,
            len: body.len(),
            what: "nfgenmsg",
        });
    }
    let mut p = QueuedPacket {
        family: body[0],
        queue: be16(body, 2),
        id: 0,
        hw_protocol: 0,
        hook: 0,
        payload: &[],
        cap_len: None,
        timestamp_us: None,
        indev: None,
        outdev: None,
        mark: None,
    };
    let mut have_header = false;
    let base = NLMSG_HDRLEN + NFGENMSG_LEN;
    for attr in Attributes::new(&body[NFGENMSG_LEN..], base) {
        let (kind, value, offset) = attr?;
        let sized = |what: &'static str, expected: usize, exact: bool| {
            let ok = if exact {
                value.len() == expected
            } else {
                value.len() >= expected
            };
            if ok {
                Ok(value)
            } else {
                Err(NetlinkError::BadAttributeSize {
                    what,
                    offset,
                    len: value.len(),
                    expected,
                })
            }
        };
        match kind {
            NFQA_PACKET_HDR => {
                // struct nfqnl_msg_packet_hdr { __be32 packet_id; __be16 hw_protocol; __u8 hook; } __packed
                let v = sized("NFQA_PACKET_HDR", 7, false)?;
                p.id = be32(v, 0);
                p.hw_protocol = be16(v, 4);
                p.hook = v[6];
                have_header = true;
            }
            NFQA_PAYLOAD => p.payload = value,
            NFQA_TIMESTAMP => {
                let v = sized("NFQA_TIMESTAMP", 16, true)?;
                let (sec, usec) = (be64(v, 0), be64(v, 8));
                p.timestamp_us = Some(sec.saturating_mul(1_000_000).saturating_add(usec));
            }
            NFQA_IFINDEX_INDEV => p.indev = Some(be32(sized("NFQA_IFINDEX_INDEV", 4, true)?, 0)),
            NFQA_IFINDEX_OUTDEV => p.outdev = Some(be32(sized("NFQA_IFINDEX_OUTDEV", 4, true)?, 0)),
            NFQA_MARK => p.mark = Some(be32(sized("NFQA_MARK", 4, true)?, 0)),
            NFQA_CAP_LEN => p.cap_len = Some(be32(sized("NFQA_CAP_LEN", 4, true)?, 0)),
            _ => {}
        }
    }
    if !have_header {
        return Err(NetlinkError::MissingPacketHeader);
    }
    Ok(p)
}

/// The packet id of a packet message that could not be decoded whole (a datagram cut short
/// by a too-small receive buffer), so that the packet can still get a verdict instead of
/// waiting in the queue forever. The kernel writes `NFQA_PACKET_HDR` first.
pub fn salvage_packet_id(datagram: &[u8]) -> Option<(u16, u32)> {
    let first = NLMSG_HDRLEN + NFGENMSG_LEN;
    let hdr = datagram.get(first..first + NLA_HDRLEN + 7)?;
    if ne16(datagram, 4) != NFQNL_MSG_PACKET
        || ne16(hdr, 2) & NLA_TYPE_MASK != NFQA_PACKET_HDR
        || usize::from(ne16(hdr, 0)) < NLA_HDRLEN + 7
    {
        return None;
    }
    Some((be16(datagram, NLMSG_HDRLEN + 2), be32(hdr, NLA_HDRLEN)))
}

/// Builds one request message: header, `nfgenmsg`, attributes.
struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(kind: u16, flags: u16, seq: u32, family: u8, queue: u16) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&[family, NFNETLINK_V0]);
        buf.extend_from_slice(&queue.to_be_bytes());
        Self { buf }
    }

    fn attr(mut self, kind: u16, value: &[u8]) -> Self {
        let len = NLA_HDRLEN + value.len();
        // Values here are at most a few bytes long.
        self.buf
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

/// A config command (`NFQA_CFG_CMD`), acknowledged by the kernel. `pf` is the protocol
/// family for `PfBind`/`PfUnbind`, 0 otherwise.
pub fn config_command(seq: u32, queue: u16, command: ConfigCommand, pf: u16) -> Vec<u8> {
    // struct nfqnl_msg_config_cmd { __u8 command; __u8 _pad; __be16 pf; }
    let mut cmd = [command as u8, 0, 0, 0];
    cmd[2..].copy_from_slice(&pf.to_be_bytes());
    Request::new(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, 0, queue)
        .attr(NFQA_CFG_CMD, &cmd)
        .finish()
}

/// Queue parameters sent after binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueParams {
    pub copy_mode: CopyMode,
    pub copy_range: u32,
    /// Packets the kernel holds waiting for verdicts before the queue counts as full.
    pub max_len: Option<u32>,
    pub fail_open: bool,
}

/// Copy mode and range, queue length and the fail-open flag in one acknowledged message.
pub fn config_params(seq: u32, queue: u16, params: &QueueParams) -> Vec<u8> {
    // struct nfqnl_msg_config_params { __be32 copy_range; __u8 copy_mode; } __packed
    let mut p = [0u8; 5];
    p[..4].copy_from_slice(&params.copy_range.to_be_bytes());
    p[4] = params.copy_mode as u8;
    let mut req = Request::new(NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, 0, queue)
        .attr(NFQA_CFG_PARAMS, &p);
    if let Some(max) = params.max_len {
        req = req.attr(NFQA_CFG_QUEUE_MAXLEN, &max.to_be_bytes());
    }
    // The flag is set or cleared explicitly: the mask says which flags this message sets.
    let flags = if params.fail_open {
        NFQA_CFG_F_FAIL_OPEN
    } else {
        0
    };
    req.attr(NFQA_CFG_FLAGS, &flags.to_be_bytes())
        .attr(NFQA_CFG_MASK, &NFQA_CFG_F_FAIL_OPEN.to_be_bytes())
        .finish()
}

/// Length of a verdict message.
pub const VERDICT_LEN: usize = NLMSG_HDRLEN + NFGENMSG_LEN + NLA_HDRLEN + 8;

/// A verdict on packet `id` (`NFQNL_MSG_VERDICT`), or with `batch` on every queued packet
/// with an id up to and including `id` (`NFQNL_MSG_VERDICT_BATCH`). Not acknowledged: the
/// kernel answers only when it refuses the verdict. No allocation.
pub fn verdict_message(
    seq: u32,
    queue: u16,
    id: u32,
    verdict: u32,
    batch: bool,
) -> [u8; VERDICT_LEN] {
    let kind = if batch {
        NFQNL_MSG_VERDICT_BATCH
    } else {
        NFQNL_MSG_VERDICT
    };
    let mut m = [0u8; VERDICT_LEN];
    m[0..4].copy_from_slice(&(VERDICT_LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&kind.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[16] = 0; // AF_UNSPEC
    m[17] = NFNETLINK_V0;
    m[18..20].copy_from_slice(&queue.to_be_bytes());
    m[20..22].copy_from_slice(&((NLA_HDRLEN + 8) as u16).to_ne_bytes());
    m[22..24].copy_from_slice(&NFQA_VERDICT_HDR.to_ne_bytes());
    // struct nfqnl_msg_verdict_hdr { __be32 verdict; __be32 id; }
    m[24..28].copy_from_slice(&verdict.to_be_bytes());
    m[28..32].copy_from_slice(&id.to_be_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet message as the kernel writes it, built independently of [`Request`].
    fn kernel_packet(id: u32, payload: &[u8], extra: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut attrs = Vec::new();
        let mut push = |kind: u16, v: &[u8]| {
            attrs.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            attrs.extend_from_slice(&kind.to_ne_bytes());
            attrs.extend_from_slice(v);
            while attrs.len() % 4 != 0 {
                attrs.push(0);
            }
        };
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&0x0800u16.to_be_bytes());
        hdr.push(1);
        push(NFQA_PACKET_HDR, &hdr);
        for (k, v) in extra {
            push(*k, v);
        }
        push(NFQA_PAYLOAD, payload);
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + 4 + attrs.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&NFQNL_MSG_PACKET.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[2, 0]);
        m.extend_from_slice(&7u16.to_be_bytes());
        m.extend_from_slice(&attrs);
        m
    }

    fn only_reply(datagram: &[u8]) -> Result<Reply<'_>, NetlinkError> {
        let mut msgs = Messages::new(datagram);
        let msg = msgs.next().expect("one message")?;
        decode(&msg)
    }

    #[test]
    fn packet_message_yields_id_payload_and_metadata() {
        let mut ts = 1_700_000_000u64.to_be_bytes().to_vec();
        ts.extend_from_slice(&123_456u64.to_be_bytes());
        let m = kernel_packet(
            42,
            b"\x45ipv4 packet",
            &[
                (NFQA_TIMESTAMP, ts),
                (NFQA_IFINDEX_INDEV, 3u32.to_be_bytes().to_vec()),
                (NFQA_MARK, 0x10u32.to_be_bytes().to_vec()),
                (NFQA_CAP_LEN, 1500u32.to_be_bytes().to_vec()),
                (99, vec![1, 2, 3]),
            ],
        );
        let Reply::Packet(p) = only_reply(&m).unwrap() else {
            panic!("not a packet")
        };
        assert_eq!(p.id, 42);
        assert_eq!(p.queue, 7);
        assert_eq!(p.family, 2);
        assert_eq!(p.hw_protocol, 0x0800);
        assert_eq!(p.hook, 1);
        assert_eq!(p.payload, b"\x45ipv4 packet");
        assert_eq!(p.timestamp_us, Some(1_700_000_000_123_456));
        assert_eq!(p.indev, Some(3));
        assert_eq!(p.outdev, None);
        assert_eq!(p.mark, Some(0x10));
        assert_eq!(p.cap_len, Some(1500));
    }

    #[test]
    fn several_messages_in_one_datagram_are_walked_in_order() {
        let mut d = kernel_packet(1, b"a", &[]);
        d.extend_from_slice(&kernel_packet(2, b"bb", &[]));
        d.extend_from_slice(&kernel_packet(3, b"ccc", &[]));
        let ids: Vec<u32> = Messages::new(&d)
            .map(|m| match decode(&m.unwrap()).unwrap() {
                Reply::Packet(p) => p.id,
                r => panic!("unexpected {r:?}"),
            })
            .collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn error_and_ack_messages_carry_seq_and_positive_errno() {
        let mut m = Vec::new();
        m.extend_from_slice(&36u32.to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&77u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(-16i32).to_ne_bytes());
        m.extend_from_slice(&[0u8; 16]);
        assert_eq!(
            only_reply(&m).unwrap(),
            Reply::Status { seq: 77, errno: 16 }
        );
        m[16..20].copy_from_slice(&0i32.to_ne_bytes());
        assert_eq!(only_reply(&m).unwrap(), Reply::Status { seq: 77, errno: 0 });
        m[16..20].copy_from_slice(&i32::MIN.to_ne_bytes());
        assert!(matches!(only_reply(&m).unwrap(), Reply::Status { .. }));
    }

    #[test]
    fn every_truncation_of_a_packet_message_is_an_error_not_a_panic() {
        let m = kernel_packet(
            9,
            b"payload bytes",
            &[(NFQA_IFINDEX_INDEV, 1u32.to_be_bytes().to_vec())],
        );
        for cut in 0..m.len() {
            let d = &m[..cut];
            let results: Vec<_> = Messages::new(d).collect();
            if cut == 0 {
                assert!(results.is_empty());
            } else {
                assert!(results.iter().any(Result::is_err), "cut at {cut} accepted");
            }
        }
    }

    #[test]
    fn lengths_pointing_outside_the_datagram_are_rejected() {
        let mut m = kernel_packet(9, b"x", &[]);
        let len = m.len() as u32;
        m[0..4].copy_from_slice(&(len + 4).to_ne_bytes());
        assert!(matches!(
            Messages::new(&m).next(),
            Some(Err(NetlinkError::BadMessageLength { .. }))
        ));
        m[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(matches!(
            Messages::new(&m).next(),
            Some(Err(NetlinkError::BadMessageLength { .. }))
        ));

        // An attribute claiming more than its message holds.
        let mut m = kernel_packet(9, b"x", &[]);
        m[20..22].copy_from_slice(&0xfff0u16.to_ne_bytes());
        assert!(matches!(
            only_reply(&m),
            Err(NetlinkError::BadAttributeLength { offset: 20, .. })
        ));
        // An attribute shorter than its own header.
        m[20..22].copy_from_slice(&2u16.to_ne_bytes());
        assert!(matches!(
            only_reply(&m),
            Err(NetlinkError::BadAttributeLength { .. })
        ));
    }

    #[test]
    fn wrongly_sized_attributes_are_rejected() {
        let m = kernel_packet(1, b"x", &[(NFQA_TIMESTAMP, vec![0; 8])]);
        assert!(matches!(
            only_reply(&m),
            Err(NetlinkError::BadAttributeSize {
                what: "NFQA_TIMESTAMP",
                ..
            })
        ));
        let m = kernel_packet(1, b"x", &[(NFQA_IFINDEX_OUTDEV, vec![0; 2])]);
        assert!(matches!(
            only_reply(&m),
            Err(NetlinkError::BadAttributeSize { .. })
        ));
    }

    #[test]
    fn packet_without_header_attribute_is_rejected() {
        let mut m = kernel_packet(1, b"x", &[]);
        // Turn NFQA_PACKET_HDR into an unknown attribute.
        m[22..24].copy_from_slice(&200u16.to_ne_bytes());
        assert_eq!(only_reply(&m), Err(NetlinkError::MissingPacketHeader));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let template = kernel_packet(5, &[0xaa; 40], &[(NFQA_MARK, vec![0; 4])]);
        for _ in 0..20_000 {
            let mut d = template.clone();
            for _ in 0..(next() % 6) {
                let i = (next() as usize) % d.len();
                d[i] = next() as u8;
            }
            d.truncate((next() as usize) % (d.len() + 1));
            for m in Messages::new(&d).flatten() {
                let _ = decode(&m);
            }
            let _ = salvage_packet_id(&d);
        }
    }

    #[test]
    fn salvage_finds_the_id_of_a_cut_packet_message() {
        let m = kernel_packet(0xdead_beef, &[0; 100], &[]);
        assert_eq!(salvage_packet_id(&m[..40]), Some((7, 0xdead_beef)));
        assert_eq!(salvage_packet_id(&m[..30]), None);
    }

    #[test]
    fn verdict_message_matches_the_kernel_layout() {
        let m = verdict_message(5, 0x0102, 0x0a0b_0c0d, NF_DROP, false);
        let mut want = Vec::new();
        want.extend_from_slice(&32u32.to_ne_bytes());
        want.extend_from_slice(&0x0301u16.to_ne_bytes());
        want.extend_from_slice(&1u16.to_ne_bytes());
        want.extend_from_slice(&5u32.to_ne_bytes());
        want.extend_from_slice(&0u32.to_ne_bytes());
        want.extend_from_slice(&[0, 0, 0x01, 0x02]);
        want.extend_from_slice(&12u16.to_ne_bytes());
        want.extend_from_slice(&2u16.to_ne_bytes());
        want.extend_from_slice(&[0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(m.as_slice(), want.as_slice());
        let b = verdict_message(5, 1, 9, NF_ACCEPT, true);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 0x0303);
        assert_eq!(&b[24..28], &[0, 0, 0, 1]);
    }

    #[test]
    fn config_messages_match_the_kernel_layout() {
        let m = config_command(3, 9, ConfigCommand::Bind, 0);
        assert_eq!(m.len(), 28);
        assert_eq!(u32::from_ne_bytes([m[0], m[1], m[2], m[3]]), 28);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x0302);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&m[18..20], &[0, 9]);
        assert_eq!(u16::from_ne_bytes([m[20], m[21]]), 8);
        assert_eq!(u16::from_ne_bytes([m[22], m[23]]), NFQA_CFG_CMD);
        assert_eq!(&m[24..28], &[1, 0, 0, 0]);

        let pf = config_command(4, 0, ConfigCommand::PfBind, 10);
        assert_eq!(&pf[24..28], &[3, 0, 0, 10]);

        let params = QueueParams {
            copy_mode: CopyMode::Packet,
            copy_range: 0xffff,
            max_len: Some(512),
            fail_open: true,
        };
        let m = config_params(4, 9, &params);
        let attrs: Vec<(u16, Vec<u8>)> = Attributes::new(&m[20..], 20)
            .map(|a| a.map(|(k, v, _)| (k, v.to_vec())).unwrap())
            .collect();
        assert_eq!(
            attrs,
            [
                (NFQA_CFG_PARAMS, vec![0, 0, 0xff, 0xff, 2]),
                (NFQA_CFG_QUEUE_MAXLEN, vec![0, 0, 2, 0]),
                (NFQA_CFG_FLAGS, vec![0, 0, 0, 1]),
                (NFQA_CFG_MASK, vec![0, 0, 0, 1]),
            ]
        );
        assert_eq!(m.len() % 4, 0);
        assert_eq!(
            u32::from_ne_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
    }
}
