//! Zero-copy packet decoding: from a link type and captured bytes to a [`Packet`] view.
//!
//! [`decode`] walks the link layer (Ethernet, raw IP, Linux cooked SLL/SLL2, BSD null and
//! loopback), up to two VLAN tags (802.1Q, 802.1ad QinQ), IPv4 (options skipped, header
//! checksum not verified — IDSes must see packets the host may drop), IPv6 with its
//! extension headers (hop-by-hop, routing, fragment, destination options, AH; at most 16
//! followed), and TCP, UDP, ICMP and ICMPv6 headers. Every field is read straight from the
//! captured bytes: a [`Packet`] borrows them and allocates nothing.
//!
//! Malformed input never panics and never fails the call: decoding stops at the broken
//! layer and the packet carries an [`Anomaly`] named like Suricata's decoder events
//! (`decoder.ipv4.trunc_pkt`), with the layers decoded so far still usable.
//!
//! IP fragments are not decoded past the IP header: [`defrag::Defragmenter`] collects them
//! and hands back the reassembled IP packet, which [`decode_ip`] decodes like any other.
//!
//! Input comes from [`crate::capture`] (files) or live capture; the decoded packet goes to
//! [`crate::flow`] (flow lookup), [`crate::stream`] (TCP payload) and detection.

mod anomaly;
pub mod defrag;

pub use anomaly::{Anomalies, Anomaly, Layer};
pub use defrag::{Defrag, DefragConfig, DefragCounters, Defragmenter};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::{BitOr, BitOrAssign};

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
/// OpenBSD's DLT_RAW number, seen in some old captures.
pub const LINKTYPE_RAW_OPENBSD: u32 = 12;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

const MAX_VLAN_TAGS: usize = 2;
const MAX_IPV6_EXT_HEADERS: usize = 16;

/// TCP header flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// True when every flag of `other` is set.
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any flag of `other` is set.
    pub fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

/// Suricata's letter notation, e.g. `SA` for SYN/ACK, as in EVE's `tcp_flags_ts`.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LETTERS: [(u8, char); 8] = [
            (0x01, 'F'),
            (0x02, 'S'),
            (0x04, 'R'),
            (0x08, 'P'),
            (0x10, 'A'),
            (0x20, 'U'),
            (0x40, 'E'),
            (0x80, 'C'),
        ];
        for (bit, c) in LETTERS {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub id: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub fragment_offset: u16,
    pub header_len: u8,
    pub total_len: u16,
}

/// The IPv6 fragment header, with where it sits so the defragmenter can remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Fragment {
    /// Offset in bytes.
    pub offset: u16,
    pub more: bool,
    pub id: u32,
    /// The header following the fragment header (of the fragmentable part).
    pub next_header: u8,
    /// Offset of the fragment header in the IP packet (= length of the unfragmentable part).
    pub header_at: usize,
    /// Offset in the IP packet of the next-header byte that names the fragment header.
    pub prev_next_header_at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Header {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after all extension headers.
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    /// Fixed header plus extension headers.
    pub header_len: usize,
    pub ext_headers: u8,
    pub fragment: Option<Ipv6Fragment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpHeader {
    V4(Ipv4Header),
    V6(Ipv6Header),
}

impl IpHeader {
    pub fn src(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.src),
            IpHeader::V6(h) => IpAddr::V6(h.src),
        }
    }

    pub fn dst(&self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::V4(h.dst),
            IpHeader::V6(h) => IpAddr::V6(h.dst),
        }
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.protocol,
            IpHeader::V6(h) => h.next_header,
        }
    }

    pub fn ttl(&self) -> u8 {
        match self {
            IpHeader::V4(h) => h.ttl,
            IpHeader::V6(h) => h.hop_limit,
        }
    }

    /// True for any fragment (including the first) of a fragmented datagram.
    pub fn is_fragment(&self) -> bool {
        match self {
            IpHeader::V4(h) => h.more_fragments || h.fragment_offset != 0,
            IpHeader::V6(h) => h.fragment.is_some(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub urgent: u16,
    pub header_len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub length: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpHeader {
    pub kind: u8,
    pub code: u8,
    /// Identifier and sequence number (bytes 4–7; meaningful for echo messages).
    pub id: u16,
    pub seq: u16,
}

/// The transport header, if one was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No IP, a fragment, or the transport header was broken.
    None,
    Tcp(TcpHeader),
    Udp(UdpHeader),
    Icmpv4(IcmpHeader),
    Icmpv6(IcmpHeader),
    /// Another protocol; `payload` holds the IP payload.
    Other(u8),
}

/// A decoded packet: views into the captured bytes.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub linktype: u32,
    /// The whole captured frame.
    pub data: &'a [u8],
    vlans: [u16; MAX_VLAN_TAGS],
    vlan_count: u8,
    /// Offset of the IP header in `data` (when `ip` is set).
    pub l3_offset: usize,
    pub ip: Option<IpHeader>,
    /// The IP packet as long as its header says (link-layer padding cut off).
    pub ip_packet: &'a [u8],
    pub transport: Transport,
    /// Transport payload; the IP payload for fragments and unknown protocols.
    pub payload: &'a [u8],
    pub anomalies: Anomalies,
}

impl<'a> Packet<'a> {
    fn new(linktype: u32, data: &'a [u8]) -> Self {
        Self {
            linktype,
            data,
            vlans: [0; MAX_VLAN_TAGS],
            vlan_count: 0,
            l3_offset: 0,
            ip: None,
            ip_packet: &[],
            transport: Transport::None,
            payload: &[],
            anomalies: Anomalies::default(),
        }
    }

    /// VLAN ids, outermost first.
    pub fn vlans(&self) -> &[u16] {
        &self.vlans[..usize::from(self.vlan_count)]
    }

    pub fn src_ip(&self) -> Option<IpAddr> {
        self.ip.map(|h| h.src())
    }

    pub fn dst_ip(&self) -> Option<IpAddr> {
        self.ip.map(|h| h.dst())
    }

    /// Upper-layer protocol number.
    pub fn protocol(&self) -> Option<u8> {
        self.ip.map(|h| h.protocol())
    }

    /// Source and destination port for TCP and UDP; for ICMP Suricata's convention of
    /// type and code.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            Transport::Icmpv4(i) | Transport::Icmpv6(i) => {
                Some((u16::from(i.kind), u16::from(i.code)))
            }
            _ => None,
        }
    }

    pub fn tcp(&self) -> Option<&TcpHeader> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        }
    }

    pub fn udp(&self) -> Option<&UdpHeader> {
        match &self.transport {
            Transport::Udp(u) => Some(u),
            _ => None,
        }
    }

    pub fn is_fragment(&self) -> bool {
        self.ip.is_some_and(|h| h.is_fragment())
    }

    fn anomaly(&mut self, a: Anomaly) {
        self.anomalies.push(a);
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes a captured frame of the given link type. Never fails; see [`Packet::anomalies`].
pub fn decode(linktype: u32, data: &[u8]) -> Packet<'_> {
    let mut p = Packet::new(linktype, data);
    match linktype {
        LINKTYPE_ETHERNET => {
            if data.len() < 14 {
                p.anomaly(Anomaly::EthernetPktTooSmall);
            } else {
                ethertype(&mut p, be16(data, 12), 14);
            }
        }
        LINKTYPE_RAW | LINKTYPE_RAW_OPENBSD => match data.first().map(|b| b >> 4) {
            Some(4) => ipv4(&mut p, 0),
            Some(6) => ipv6(&mut p, 0),
            _ => p.anomaly(Anomaly::IpRawInvalidIpVersion),
        },
        LINKTYPE_IPV4 => ipv4(&mut p, 0),
        LINKTYPE_IPV6 => ipv6(&mut p, 0),
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            if data.len() < 4 {
                p.anomaly(Anomaly::NullPktTooSmall);
            } else {
                // The family is in the capturing host's byte order (network order for LOOP).
                let raw = [data[0], data[1], data[2], data[3]];
                let family = if linktype == LINKTYPE_LOOP {
                    u32::from_be_bytes(raw)
                } else if u32::from_le_bytes(raw) < 256 {
                    u32::from_le_bytes(raw)
                } else {
                    u32::from_be_bytes(raw)
                };
                match family {
                    2 => ipv4(&mut p, 4),
                    10 | 24 | 28 | 30 => ipv6(&mut p, 4),
                    _ => p.anomaly(Anomaly::NullUnsupportedType),
                }
            }
        }
        LINKTYPE_LINUX_SLL => {
            if data.len() < 16 {
                p.anomaly(Anomaly::SllPktTooSmall);
            } else {
                ethertype(&mut p, be16(data, 14), 16);
            }
        }
        LINKTYPE_LINUX_SLL2 => {
            if data.len() < 20 {
                p.anomaly(Anomaly::Sll2PktTooSmall);
            } else {
                ethertype(&mut p, be16(data, 0), 20);
            }
        }
        _ => p.anomaly(Anomaly::UnsupportedLinktype),
    }
    p
}

/// Decodes a bare IP packet (IPv4 or IPv6 by its version nibble), e.g. a reassembled one.
pub fn decode_ip(data: &[u8]) -> Packet<'_> {
    decode(LINKTYPE_RAW, data)
}

fn ethertype(p: &mut Packet<'_>, mut et: u16, mut at: usize) {
    loop {
        match et {
            0x0800 => return ipv4(p, at),
            0x86dd => return ipv6(p, at),
            0x8100 | 0x88a8 | 0x9100 => {
                if usize::from(p.vlan_count) >= MAX_VLAN_TAGS {
                    p.anomaly(Anomaly::VlanTooManyLayers);
                    return;
                }
                if p.data.len() < at + 4 {
                    p.anomaly(Anomaly::VlanHeaderTooSmall);
                    return;
                }
                p.vlans[usize::from(p.vlan_count)] = be16(p.data, at) & 0x0fff;
                p.vlan_count += 1;
                et = be16(p.data, at + 2);
                at += 4;
            }
            // ARP, LLDP and the rest: nothing for an IDS to decode.
            _ => return,
        }
    }
}

fn ipv4(p: &mut Packet<'_>, at: usize) {
    let b = &p.data[at.min(p.data.len())..];
    if b.len() < 20 {
        p.anomaly(Anomaly::Ipv4PktTooSmall);
        return;
    }
    if b[0] >> 4 != 4 {
        p.anomaly(Anomaly::Ipv4WrongIpVersion);
        return;
    }
    let hlen = usize::from(b[0] & 0x0f) * 4;
    if hlen < 20 {
        p.anomaly(Anomaly::Ipv4HlenTooSmall);
        return;
    }
    let total = usize::from(be16(b, 2));
    if total < hlen {
        p.anomaly(Anomaly::Ipv4IplenSmallerThanHlen);
        return;
    }
    if total > b.len() {
        p.anomaly(Anomaly::Ipv4TruncPkt);
        return;
    }
    let frag = be16(b, 6);
    let h = Ipv4Header {
        src: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
        dst: Ipv4Addr::new(b[16], b[17], b[18], b[19]),
        protocol: b[9],
        ttl: b[8],
        tos: b[1],
        id: be16(b, 4),
        dont_fragment: frag & 0x4000 != 0,
        more_fragments: frag & 0x2000 != 0,
        fragment_offset: (frag & 0x1fff) << 3,
        header_len: hlen as u8,
        total_len: total as u16,
    };
    let data = p.data;
    let ip = &data[at..at + total];
    p.l3_offset = at;
    p.ip = Some(IpHeader::V4(h));
    p.ip_packet = ip;
    p.payload = &ip[hlen..];
    if h.more_fragments || h.fragment_offset != 0 {
        return;
    }
    transport(p, h.protocol, &ip[hlen..], false);
}

fn ipv6(p: &mut Packet<'_>, at: usize) {
    let data = p.data;
    let b = &data[at.min(data.len())..];
    if b.len() < 40 {
        p.anomaly(Anomaly::Ipv6PktTooSmall);
        return;
    }
    if b[0] >> 4 != 6 {
        p.anomaly(Anomaly::Ipv6WrongIpVersion);
        return;
    }
    let plen = usize::from(be16(b, 4));
    if 40 + plen > b.len() {
        p.anomaly(Anomaly::Ipv6TruncPkt);
        return;
    }
    let ip = &b[..40 + plen];
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    let mut h = Ipv6Header {
        src: Ipv6Addr::from(src),
        dst: Ipv6Addr::from(dst),
        next_header: ip[6],
        hop_limit: ip[7],
        traffic_class: (ip[0] << 4) | (ip[1] >> 4),
        flow_label: be32(ip, 0) & 0x000f_ffff,
        payload_len: plen as u16,
        header_len: 40,
        ext_headers: 0,
        fragment: None,
    };
    p.l3_offset = at;
    p.ip_packet = ip;
    let mut nh_at = 6;
    let mut off = 40;
    let mut seen_hbh = false;
    let mut stop = false;
    let mut count = 0;
    loop {
        let nh = ip[nh_at];
        let len = match nh {
            0 | 43 | 60 | 51 | 44 | 135 | 139 | 140 => {
                if count >= MAX_IPV6_EXT_HEADERS {
                    p.anomaly(Anomaly::Ipv6ExthdrTooMany);
                    stop = true;
                    break;
                }
                if ip.len() < off + 8 {
                    p.anomaly(Anomaly::Ipv6TruncExthdr);
                    stop = true;
                    break;
                }
                match nh {
                    44 => 8,
                    51 => (usize::from(ip[off + 1]) + 2) * 4,
                    _ => (usize::from(ip[off + 1]) + 1) * 8,
                }
            }
            _ => break,
        };
        if off + len > ip.len() {
            p.anomaly(Anomaly::Ipv6TruncExthdr);
            stop = true;
            break;
        }
        count += 1;
        match nh {
            0 => {
                if seen_hbh {
                    p.anomaly(Anomaly::Ipv6ExthdrDuplHh);
                }
                seen_hbh = true;
            }
            44 => {
                if h.fragment.is_some() {
                    p.anomaly(Anomaly::Ipv6ExthdrDuplFh);
                    stop = true;
                    break;
                }
                let field = be16(ip, off + 2);
                if ip[off + 1] != 0 || field & 0x0006 != 0 {
                    p.anomaly(Anomaly::Ipv6FhNonZeroReservedField);
                }
                h.fragment = Some(Ipv6Fragment {
                    offset: field & 0xfff8,
                    more: field & 1 != 0,
                    id: be32(ip, off + 4),
                    next_header: ip[off],
                    header_at: off,
                    prev_next_header_at: nh_at,
                });
            }
            _ => {}
        }
        nh_at = off;
        off += len;
    }
    h.next_header = ip[nh_at];
    h.header_len = off;
    h.ext_headers = count as u8;
    p.ip = Some(IpHeader::V6(h));
    p.payload = &ip[off.min(ip.len())..];
    if stop || h.fragment.is_some() {
        return;
    }
    transport(p, h.next_header, &ip[off..], true);
}

fn transport<'a>(p: &mut Packet<'a>, proto: u8, b: &'a [u8], v6: bool) {
    match proto {
        IPPROTO_TCP => {
            if b.len() < 20 {
                p.anomaly(Anomaly::TcpPktTooSmall);
                return;
            }
            let hlen = usize::from(b[12] >> 4) * 4;
            if hlen < 20 {
                p.anomaly(Anomaly::TcpHlenTooSmall);
                return;
            }
            if hlen > b.len() {
                p.anomaly(Anomaly::TcpInvalidOptlen);
                return;
            }
            p.transport = Transport::Tcp(TcpHeader {
                src_port: be16(b, 0),
                dst_port: be16(b, 2),
                seq: be32(b, 4),
                ack: be32(b, 8),
                flags: TcpFlags(b[13]),
                window: be16(b, 14),
                urgent: be16(b, 18),
                header_len: hlen as u8,
            });
            p.payload = &b[hlen..];
        }
        IPPROTO_UDP => {
            if b.len() < 8 {
                p.anomaly(Anomaly::UdpPktTooSmall);
                return;
            }
            let ulen = usize::from(be16(b, 4));
            if ulen < 8 {
                p.anomaly(Anomaly::UdpHlenTooSmall);
                return;
            }
            if ulen > b.len() {
                p.anomaly(Anomaly::UdpHlenInvalid);
                return;
            }
            p.transport = Transport::Udp(UdpHeader {
                src_port: be16(b, 0),
                dst_port: be16(b, 2),
                length: ulen as u16,
            });
            p.payload = &b[8..ulen];
        }
        IPPROTO_ICMP | IPPROTO_ICMPV6 if (proto == IPPROTO_ICMPV6) == v6 => {
            if b.len() < 8 {
                p.anomaly(if v6 {
                    Anomaly::Icmpv6PktTooSmall
                } else {
                    Anomaly::Icmpv4PktTooSmall
                });
                return;
            }
            let h = IcmpHeader {
                kind: b[0],
                code: b[1],
                id: be16(b, 4),
                seq: be16(b, 6),
            };
            p.transport = if v6 {
                Transport::Icmpv6(h)
            } else {
                Transport::Icmpv4(h)
            };
            p.payload = &b[8..];
        }
        other => {
            p.transport = Transport::Other(other);
            p.payload = b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::PacketBuilder;

    #[test]
    fn decodes_tcp_over_ethernet() {
        let f = PacketBuilder::tcp(([10, 0, 0, 1], 1234), ([10, 0, 0, 2], 80))
            .flags(TcpFlags::SYN | TcpFlags::ACK)
            .seq(7)
            .ack(9)
            .payload(b"hello")
            .build();
        let p = decode(LINKTYPE_ETHERNET, &f);
        assert!(p.anomalies.is_empty(), "{:?}", p.anomalies);
        let t = p.tcp().copied().expect("tcp");
        assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (1234, 80, 7, 9));
        assert_eq!(t.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(format!("{:?}", t.flags), "SA");
        assert_eq!(p.payload, b"hello");
        assert_eq!(p.src_ip(), Some(IpAddr::from([10, 0, 0, 1])));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = PacketBuilder::udp(([10, 0, 0, 1], 53), ([10, 0, 0, 2], 53))
            .payload(b"ab")
            .build();
        f.extend_from_slice(&[0; 12]);
        let p = decode(LINKTYPE_ETHERNET, &f);
        assert_eq!(p.payload, b"ab");
        assert_eq!(p.ip_packet.len(), 20 + 8 + 2);
    }

    #[test]
    fn truncated_ipv4_is_named_like_suricata() {
        let f = PacketBuilder::tcp(([10, 0, 0, 1], 1), ([10, 0, 0, 2], 2))
            .payload(b"xyz")
            .build();
        let p = decode(LINKTYPE_ETHERNET, &f[..f.len() - 1]);
        assert!(p.anomalies.contains(Anomaly::Ipv4TruncPkt));
        assert_eq!(Anomaly::Ipv4TruncPkt.name(), "decoder.ipv4.trunc_pkt");
        assert_eq!(Anomaly::Ipv4TruncPkt.layer(), Layer::Ipv4);
    }
}
