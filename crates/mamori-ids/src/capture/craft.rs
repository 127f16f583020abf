//! Building well-formed packets for tests, generators and benchmarks.
//!
//! [`PacketBuilder`] makes one frame: Ethernet (with optional 802.1Q tags) or raw IP,
//! IPv4 (header checksum, id, DF/MF, fragment offset) or IPv6 (with extension headers),
//! TCP, UDP or ICMP/ICMPv6 — all checksums correct. The IP version follows the addresses.
//!
//! ```
//! use mamori_ids::capture::PacketBuilder;
//! use mamori_ids::decode::TcpFlags;
//! let syn = PacketBuilder::tcp(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80))
//!     .flags(TcpFlags::SYN)
//!     .seq(1000)
//!     .build();
//! ```
//!
//! [`TcpSession`] writes a whole conversation (handshake, data both ways with correct
//! sequence and acknowledgement numbers, FIN or RST teardown) with timestamps, ready for a
//! [`crate::capture::PcapWriter`]. [`fragment_ipv4`] and [`fragment_ipv6`] split a frame into
//! IP fragments.
//!
//! Nothing here reads input; lengths beyond the protocol fields' range are truncated, so keep
//! payloads under 64 KiB.

use std::net::{IpAddr, SocketAddr};

use crate::capture::write::PcapWriter;
use crate::decode::TcpFlags;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;

#[derive(Debug, Clone)]
enum Transport {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        window: u16,
    },
    Udp {
        sport: u16,
        dport: u16,
    },
    Icmp {
        kind: u8,
        code: u8,
        rest: [u8; 4],
    },
    Other(u8),
}

/// Builds one frame. See the module documentation.
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    ethernet: Option<([u8; 6], [u8; 6])>,
    vlans: Vec<u16>,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    tos: u8,
    ip_id: u16,
    dont_fragment: bool,
    more_fragments: bool,
    fragment_offset: u16,
    ipv6_ext: Vec<(u8, Vec<u8>)>,
    transport: Transport,
    payload: Vec<u8>,
}

const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const SERVER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

impl PacketBuilder {
    fn new(src: IpAddr, dst: IpAddr, transport: Transport) -> Self {
        Self {
            ethernet: Some((CLIENT_MAC, SERVER_MAC)),
            vlans: Vec::new(),
            src,
            dst,
            ttl: 64,
            tos: 0,
            ip_id: 1,
            dont_fragment: false,
            more_fragments: false,
            fragment_offset: 0,
            ipv6_ext: Vec::new(),
            transport,
            payload: Vec::new(),
        }
    }

    /// A TCP segment (flags ACK, seq 0, ack 0, window 65535 until changed).
    pub fn tcp(src: impl Into<SocketAddr>, dst: impl Into<SocketAddr>) -> Self {
        let (src, dst) = (src.into(), dst.into());
        Self::new(
            src.ip(),
            dst.ip(),
            Transport::Tcp {
                sport: src.port(),
                dport: dst.port(),
                seq: 0,
                ack: 0,
                flags: TcpFlags::ACK,
                window: 65535,
            },
        )
    }

    /// A UDP datagram.
    pub fn udp(src: impl Into<SocketAddr>, dst: impl Into<SocketAddr>) -> Self {
        let (src, dst) = (src.into(), dst.into());
        Self::new(
            src.ip(),
            dst.ip(),
            Transport::Udp {
                sport: src.port(),
                dport: dst.port(),
            },
        )
    }

    /// An ICMP (IPv4) or ICMPv6 (IPv6) message; `rest` is the 4 bytes after the checksum.
    pub fn icmp(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        kind: u8,
        code: u8,
        rest: [u8; 4],
    ) -> Self {
        Self::new(src.into(), dst.into(), Transport::Icmp { kind, code, rest })
    }

    /// An echo request (type 8, or 128 for ICMPv6) with identifier and sequence number.
    pub fn icmp_echo(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, id: u16, seq: u16) -> Self {
        let src = src.into();
        let kind = if src.is_ipv4() { 8 } else { 128 };
        let mut rest = [0u8; 4];
        rest[..2].copy_from_slice(&id.to_be_bytes());
        rest[2..].copy_from_slice(&seq.to_be_bytes());
        Self::icmp(src, dst, kind, 0, rest)
    }

    /// An IP packet of any protocol number carrying only the payload.
    pub fn ip(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, protocol: u8) -> Self {
        Self::new(src.into(), dst.into(), Transport::Other(protocol))
    }

    /// Adds an 802.1Q tag (call twice for QinQ; the first call is the outer tag).
    pub fn vlan(mut self, id: u16) -> Self {
        self.vlans.push(id & 0x0fff);
        self
    }

    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.ethernet = Some((src, dst));
        self
    }

    /// No link header: `build` returns the IP packet (link type raw, 101).
    pub fn raw_ip(mut self) -> Self {
        self.ethernet = None;
        self
    }

    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// IPv4 identification.
    pub fn ip_id(mut self, id: u16) -> Self {
        self.ip_id = id;
        self
    }

    pub fn dont_fragment(mut self, df: bool) -> Self {
        self.dont_fragment = df;
        self
    }

    /// Marks an IPv4 fragment: `offset` in bytes (a multiple of 8) and the MF flag.
    pub fn fragment(mut self, offset: u16, more: bool) -> Self {
        self.fragment_offset = offset;
        self.more_fragments = more;
        self
    }

    /// Adds an IPv6 extension header (0 hop-by-hop, 43 routing, 60 destination options, …)
    /// with `body` after its two first bytes, zero-padded to a multiple of 8 bytes in all.
    pub fn ipv6_ext(mut self, kind: u8, body: &[u8]) -> Self {
        self.ipv6_ext.push((kind, body.to_vec()));
        self
    }

    pub fn flags(mut self, f: TcpFlags) -> Self {
        if let Transport::Tcp { flags, .. } = &mut self.transport {
            *flags = f;
        }
        self
    }

    pub fn seq(mut self, s: u32) -> Self {
        if let Transport::Tcp { seq, .. } = &mut self.transport {
            *seq = s;
        }
        self
    }

    pub fn ack(mut self, a: u32) -> Self {
        if let Transport::Tcp { ack, .. } = &mut self.transport {
            *ack = a;
        }
        self
    }

    pub fn window(mut self, w: u16) -> Self {
        if let Transport::Tcp { window, .. } = &mut self.transport {
            *window = w;
        }
        self
    }

    pub fn payload(mut self, data: impl AsRef<[u8]>) -> Self {
        self.payload = data.as_ref().to_vec();
        self
    }

    /// The link type of what `build` returns (1 Ethernet or 101 raw IP).
    pub fn linktype(&self) -> u32 {
        if self.ethernet.is_some() {
            crate::decode::LINKTYPE_ETHERNET
        } else {
            crate::decode::LINKTYPE_RAW
        }
    }

    /// The whole frame.
    pub fn build(&self) -> Vec<u8> {
        let ip = self.build_ip();
        let Some((src, dst)) = self.ethernet else {
            return ip;
        };
        let mut f = Vec::with_capacity(14 + 4 * self.vlans.len() + ip.len());
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        for v in &self.vlans {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        let et = if self.src.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        };
        f.extend_from_slice(&et.to_be_bytes());
        f.extend_from_slice(&ip);
        f
    }

    /// Only the IP packet.
    pub fn build_ip(&self) -> Vec<u8> {
        let (proto, l4) = self.build_l4();
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut h = Vec::with_capacity(20 + l4.len());
                h.push(0x45);
                h.push(self.tos);
                h.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                h.extend_from_slice(&self.ip_id.to_be_bytes());
                let mut frag = (self.fragment_offset / 8) & 0x1fff;
                if self.dont_fragment {
                    frag |= 0x4000;
                }
                if self.more_fragments {
                    frag |= 0x2000;
                }
                h.extend_from_slice(&frag.to_be_bytes());
                h.push(self.ttl);
                h.push(proto);
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&s.octets());
                h.extend_from_slice(&d.octets());
                let c = checksum(&[&h]);
                h[10..12].copy_from_slice(&c.to_be_bytes());
                h.extend_from_slice(&l4);
                h
            }
            (s, d) => {
                let (s, d) = (v6(s), v6(d));
                let mut ext = Vec::new();
                let kinds: Vec<u8> = self
                    .ipv6_ext
                    .iter()
                    .map(|(k, _)| *k)
                    .chain([proto])
                    .collect();
                for (i, (_, body)) in self.ipv6_ext.iter().enumerate() {
                    let mut e = vec![kinds[i + 1], 0];
                    e.extend_from_slice(body);
                    while e.len() < 8 || e.len() % 8 != 0 {
                        e.push(0);
                    }
                    e[1] = (e.len() / 8 - 1) as u8;
                    ext.extend_from_slice(&e);
                }
                let mut h = Vec::with_capacity(40 + ext.len() + l4.len());
                h.extend_from_slice(&[0x60 | (self.tos >> 4), self.tos << 4, 0, 0]);
                h.extend_from_slice(&((ext.len() + l4.len()) as u16).to_be_bytes());
                h.push(kinds[0]);
                h.push(self.ttl);
                h.extend_from_slice(&s);
                h.extend_from_slice(&d);
                h.extend_from_slice(&ext);
                h.extend_from_slice(&l4);
                h
            }
        }
    }

    fn pseudo_header(&self, proto: u8, len: usize) -> Vec<u8> {
        let mut p = Vec::with_capacity(40);
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                p.extend_from_slice(&s.octets());
                p.extend_from_slice(&d.octets());
                p.extend_from_slice(&[0, proto]);
                p.extend_from_slice(&(len as u16).to_be_bytes());
            }
            (s, d) => {
                p.extend_from_slice(&v6(s));
                p.extend_from_slice(&v6(d));
                p.extend_from_slice(&(len as u32).to_be_bytes());
                p.extend_from_slice(&[0, 0, 0, proto]);
            }
        }
        p
    }

    fn build_l4(&self) -> (u8, Vec<u8>) {
        let v4 = self.src.is_ipv4();
        match &self.transport {
            Transport::Tcp {
                sport,
                dport,
                seq,
                ack,
                flags,
                window,
            } => {
                let mut t = Vec::with_capacity(20 + self.payload.len());
                t.extend_from_slice(&sport.to_be_bytes());
                t.extend_from_slice(&dport.to_be_bytes());
                t.extend_from_slice(&seq.to_be_bytes());
                t.extend_from_slice(&ack.to_be_bytes());
                t.push(5 << 4);
                t.push(flags.0);
                t.extend_from_slice(&window.to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0]);
                t.extend_from_slice(&self.payload);
                let c = checksum(&[&self.pseudo_header(6, t.len()), &t]);
                t[16..18].copy_from_slice(&c.to_be_bytes());
                (6, t)
            }
            Transport::Udp { sport, dport } => {
                let mut u = Vec::with_capacity(8 + self.payload.len());
                u.extend_from_slice(&sport.to_be_bytes());
                u.extend_from_slice(&dport.to_be_bytes());
                u.extend_from_slice(&((8 + self.payload.len()) as u16).to_be_bytes());
                u.extend_from_slice(&[0, 0]);
                u.extend_from_slice(&self.payload);
                let mut c = checksum(&[&self.pseudo_header(17, u.len()), &u]);
                if c == 0 {
                    c = 0xffff;
                }
                u[6..8].copy_from_slice(&c.to_be_bytes());
                (17, u)
            }
            Transport::Icmp { kind, code, rest } => {
                let mut m = vec![*kind, *code, 0, 0];
                m.extend_from_slice(rest);
                m.extend_from_slice(&self.payload);
                let (proto, c) = if v4 {
                    (1, checksum(&[&m]))
                } else {
                    (58, checksum(&[&self.pseudo_header(58, m.len()), &m]))
                };
                m[2..4].copy_from_slice(&c.to_be_bytes());
                (proto, m)
            }
            Transport::Other(p) => (*p, self.payload.clone()),
        }
    }
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        let mut bytes = *part;
        if let Some(hi) = odd.take() {
            if let Some((&lo, rest)) = bytes.split_first() {
                sum += u64::from(u16::from_be_bytes([hi, lo]));
                bytes = rest;
            } else {
                odd = Some(hi);
                continue;
            }
        }
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            odd = Some(*last);
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Which end of a [`TcpSession`] sends a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// A TCP conversation as a list of timestamped Ethernet frames.
///
/// ```
/// use mamori_ids::capture::TcpSession;
/// let mut s = TcpSession::new(([10, 0, 0, 1], 40000), ([10, 0, 0, 2], 80));
/// s.handshake()
///     .client_sends(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
///     .server_sends(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
///     .close();
/// assert_eq!(s.packets().len(), 3 + 2 + 2 + 3);
/// ```
#[derive(Debug, Clone)]
pub struct TcpSession {
    client: SocketAddr,
    server: SocketAddr,
    client_seq: u32,
    server_seq: u32,
    ts_us: u64,
    step_us: u64,
    mss: usize,
    vlan: Option<u16>,
    ip_id: u16,
    auto_ack: bool,
    packets: Vec<(u64, Vec<u8>)>,
}

impl TcpSession {
    /// Client ISN 1000, server ISN 5000, first packet at 2023-11-14T22:13:20Z, 100 µs apart,
    /// segments of at most 1460 bytes, every data burst acknowledged by the receiver.
    pub fn new(client: impl Into<SocketAddr>, server: impl Into<SocketAddr>) -> Self {
        Self {
            client: client.into(),
            server: server.into(),
            client_seq: 1000,
            server_seq: 5000,
            ts_us: 1_700_000_000_000_000,
            step_us: 100,
            mss: 1460,
            vlan: None,
            ip_id: 1,
            auto_ack: true,
            packets: Vec::new(),
        }
    }

    /// Initial sequence numbers of client and server.
    pub fn with_isn(mut self, client: u32, server: u32) -> Self {
        self.client_seq = client;
        self.server_seq = server;
        self
    }

    pub fn starting_at(mut self, ts_us: u64) -> Self {
        self.ts_us = ts_us;
        self
    }

    /// Time between consecutive packets.
    pub fn step_us(mut self, step: u64) -> Self {
        self.step_us = step;
        self
    }

    /// Largest payload per segment.
    pub fn mss(mut self, mss: usize) -> Self {
        self.mss = mss.max(1);
        self
    }

    pub fn vlan(mut self, id: u16) -> Self {
        self.vlan = Some(id);
        self
    }

    /// Whether the receiver sends a bare ACK after each `*_sends` burst (default true).
    pub fn auto_ack(mut self, on: bool) -> Self {
        self.auto_ack = on;
        self
    }

    /// SYN, SYN/ACK, ACK.
    pub fn handshake(&mut self) -> &mut Self {
        let (c, s) = (self.client_seq, self.server_seq);
        self.send(Side::Client, c, 0, TcpFlags::SYN, b"");
        self.client_seq = c.wrapping_add(1);
        self.send(
            Side::Server,
            s,
            self.client_seq,
            TcpFlags::SYN | TcpFlags::ACK,
            b"",
        );
        self.server_seq = s.wrapping_add(1);
        self.send(
            Side::Client,
            self.client_seq,
            self.server_seq,
            TcpFlags::ACK,
            b"",
        );
        self
    }

    pub fn client_sends(&mut self, data: &[u8]) -> &mut Self {
        self.sends(Side::Client, data)
    }

    pub fn server_sends(&mut self, data: &[u8]) -> &mut Self {
        self.sends(Side::Server, data)
    }

    /// Data in segments of at most `mss` bytes (PSH on the last), then the peer's ACK.
    pub fn sends(&mut self, side: Side, data: &[u8]) -> &mut Self {
        let chunks: Vec<&[u8]> = data.chunks(self.mss).collect();
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let flags = if i + 1 == n {
                TcpFlags::PSH | TcpFlags::ACK
            } else {
                TcpFlags::ACK
            };
            let (seq, ack) = self.numbers(side);
            self.send(side, seq, ack, flags, chunk);
            self.advance(side, chunk.len() as u32);
        }
        if self.auto_ack && n > 0 {
            let peer = other(side);
            let (seq, ack) = self.numbers(peer);
            self.send(peer, seq, ack, TcpFlags::ACK, b"");
        }
        self
    }

    /// Client FIN, server FIN/ACK, client ACK.
    pub fn close(&mut self) -> &mut Self {
        self.fin(Side::Client);
        self.fin(Side::Server);
        let (seq, ack) = self.numbers(Side::Client);
        self.send(Side::Client, seq, ack, TcpFlags::ACK, b"");
        self
    }

    /// One FIN/ACK from `side` (consumes one sequence number).
    pub fn fin(&mut self, side: Side) -> &mut Self {
        let (seq, ack) = self.numbers(side);
        self.send(side, seq, ack, TcpFlags::FIN | TcpFlags::ACK, b"");
        self.advance(side, 1);
        self
    }

    /// An RST/ACK from `side`.
    pub fn reset(&mut self, side: Side) -> &mut Self {
        let (seq, ack) = self.numbers(side);
        self.send(side, seq, ack, TcpFlags::RST | TcpFlags::ACK, b"");
        self
    }

    /// Lets time pass before the next packet.
    pub fn wait_us(&mut self, us: u64) -> &mut Self {
        self.ts_us += us;
        self
    }

    /// Records an arbitrary segment (sequence numbers are not advanced): for
    /// retransmissions, overlaps and out-of-order delivery.
    pub fn send(
        &mut self,
        side: Side,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> &mut Self {
        let frame = self.segment(side, seq, ack, flags, payload);
        self.packets.push((self.ts_us, frame));
        self.ts_us += self.step_us;
        self.ip_id = self.ip_id.wrapping_add(1);
        self
    }

    /// Builds (without recording) a segment from `side`.
    pub fn segment(
        &self,
        side: Side,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        payload: &[u8],
    ) -> Vec<u8> {
        let (src, dst) = match side {
            Side::Client => (self.client, self.server),
            Side::Server => (self.server, self.client),
        };
        let mut b = PacketBuilder::tcp(src, dst)
            .seq(seq)
            .ack(if flags.contains(TcpFlags::ACK) {
                ack
            } else {
                0
            })
            .flags(flags)
            .ip_id(self.ip_id)
            .dont_fragment(true)
            .payload(payload);
        if side == Side::Server {
            b = b.macs(SERVER_MAC, CLIENT_MAC);
        }
        if let Some(v) = self.vlan {
            b = b.vlan(v);
        }
        b.build()
    }

    /// Next sequence number `side` will send and the acknowledgement it carries.
    pub fn numbers(&self, side: Side) -> (u32, u32) {
        match side {
            Side::Client => (self.client_seq, self.server_seq),
            Side::Server => (self.server_seq, self.client_seq),
        }
    }

    /// Moves `side`'s next sequence number on (after hand-made `send`s).
    pub fn advance(&mut self, side: Side, n: u32) -> &mut Self {
        match side {
            Side::Client => self.client_seq = self.client_seq.wrapping_add(n),
            Side::Server => self.server_seq = self.server_seq.wrapping_add(n),
        }
        self
    }

    pub fn client(&self) -> SocketAddr {
        self.client
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Time the next packet will get.
    pub fn now_us(&self) -> u64 {
        self.ts_us
    }

    /// `(ts_us, frame)` pairs recorded so far.
    pub fn packets(&self) -> &[(u64, Vec<u8>)] {
        &self.packets
    }

    pub fn take_packets(&mut self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.packets)
    }

    /// Writes the recorded packets.
    pub fn write_to<W: std::io::Write>(&self, w: &mut PcapWriter<W>) -> std::io::Result<()> {
        w.write_all(&self.packets)
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// Offset of the IP header in an Ethernet frame (after any 802.1Q/802.1ad tags) and its
/// ethertype.
fn ip_offset(frame: &[u8]) -> Option<(usize, u16)> {
    let mut at = 12;
    loop {
        let et = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        if et == 0x8100 || et == 0x88a8 {
            at += 4;
            continue;
        }
        return Some((at + 2, et));
    }
}

/// Splits an Ethernet frame carrying IPv4 into fragments whose IP packets are at most `mtu`
/// bytes. Frames that are not IPv4 or already fit are returned unchanged (one element).
pub fn fragment_ipv4(frame: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    let Some((l3, ETHERTYPE_IPV4)) = ip_offset(frame) else {
        return vec![frame.to_vec()];
    };
    let Some(ip) = frame.get(l3..) else {
        return vec![frame.to_vec()];
    };
    let ihl = usize::from(ip.first().map_or(0, |b| b & 0x0f)) * 4;
    if ihl < 20 || ip.len() < ihl || ip.len() <= mtu {
        return vec![frame.to_vec()];
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]])).clamp(ihl, ip.len());
    let data = &ip[ihl..total];
    let per = (mtu.saturating_sub(ihl) & !7).max(8);
    let field = u16::from_be_bytes([ip[6], ip[7]]);
    let base = usize::from(field & 0x1fff) * 8;
    let orig_more = field & 0x2000 != 0;
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let end = (at + per).min(data.len());
        let more = end < data.len() || orig_more;
        let mut f = frame[..l3].to_vec();
        let mut h = ip[..ihl].to_vec();
        h[2..4].copy_from_slice(&((ihl + end - at) as u16).to_be_bytes());
        let off =
            (((base + at) / 8) as u16 & 0x1fff) | (field & 0x4000) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&off.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&[&h]);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(&data[at..end]);
        out.push(f);
        at = end;
    }
    out
}

/// Splits an Ethernet frame carrying IPv6 into fragments (fragment header with
/// identification `id`) whose IP packets are at most `mtu` bytes. Hop-by-hop and routing
/// headers stay in every fragment (the unfragmentable part). Frames that are not IPv6 or
/// already fit are returned unchanged.
pub fn fragment_ipv6(frame: &[u8], mtu: usize, id: u32) -> Vec<Vec<u8>> {
    let Some((l3, ETHERTYPE_IPV6)) = ip_offset(frame) else {
        return vec![frame.to_vec()];
    };
    let Some(ip) = frame.get(l3..) else {
        return vec![frame.to_vec()];
    };
    if ip.len() < 40 || ip.len() <= mtu {
        return vec![frame.to_vec()];
    }
    // Walk hop-by-hop (0) and routing (43) headers: they form the unfragmentable part.
    let mut nh_at = 6;
    let mut at = 40;
    while matches!(ip[nh_at], 0 | 43) {
        let Some(&len) = ip.get(at + 1) else {
            return vec![frame.to_vec()];
        };
        nh_at = at;
        at += (usize::from(len) + 1) * 8;
        if at > ip.len() {
            return vec![frame.to_vec()];
        }
    }
    let next = ip[nh_at];
    let unfrag = &ip[..at];
    let data = &ip[at..];
    let per = (mtu.saturating_sub(at + 8) & !7).max(8);
    let mut out = Vec::new();
    let mut off = 0;
    while off < data.len() {
        let end = (off + per).min(data.len());
        let more = end < data.len();
        let mut f = frame[..l3].to_vec();
        let mut h = unfrag.to_vec();
        h[nh_at] = 44;
        let plen = (at - 40 + 8 + end - off) as u16;
        h[4..6].copy_from_slice(&plen.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(&[next, 0]);
        let field = ((off / 8) as u16) << 3 | u16::from(more);
        f.extend_from_slice(&field.to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&data[off..end]);
        out.push(f);
        off = end;
    }
    out
}
