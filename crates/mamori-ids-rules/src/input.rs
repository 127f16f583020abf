//! What the caller hands the engine for one inspection: a packet, its flow's view, and the
//! app-layer buffers its parsers produced. Nothing here is parsed by this crate; the
//! capture/decode/flow/reassembly code of `mamori-ids` fills it in.

use std::net::{IpAddr, Ipv4Addr};

use crate::buffer::Buffers;

/// Transport protocol of the packet (the IP header's protocol field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    /// ICMP or ICMPv6.
    Icmp,
    /// Any other IP protocol number.
    Other(u8),
}

impl Proto {
    /// The IP protocol number (ICMP reports 1).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
            Proto::Other(n) => n,
        }
    }
}

macro_rules! app_protos {
    ($($variant:ident => [$($name:literal),+]),* $(,)?) => {
        /// Application-layer protocol of a flow, as detected by the caller's app-layer parsers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AppProto { $($variant),* }

        impl AppProto {
            /// Every app protocol.
            pub const ALL: &'static [AppProto] = &[$(AppProto::$variant),*];

            /// The protocol named in a rule header or `app-layer-protocol` (Suricata's names).
            pub fn from_name(name: &str) -> Option<AppProto> {
                match name {
                    $($($name)|+ => Some(AppProto::$variant),)*
                    _ => None,
                }
            }

            /// Suricata's name of the protocol.
            pub fn name(self) -> &'static str {
                match self {
                    $(AppProto::$variant => app_protos!(@first $($name),+),)*
                }
            }
        }
    };
    (@first $first:literal $(, $rest:literal)*) => { $first };
}

app_protos! {
    Http => ["http", "http1"],
    Http2 => ["http2"],
    Ftp => ["ftp"],
    FtpData => ["ftp-data"],
    Smtp => ["smtp"],
    Imap => ["imap"],
    Pop3 => ["pop3"],
    Tls => ["tls", "ssl"],
    Ssh => ["ssh"],
    Dns => ["dns"],
    Smb => ["smb"],
    Dcerpc => ["dcerpc"],
    Nfs => ["nfs"],
    Ntp => ["ntp"],
    Tftp => ["tftp"],
    Ikev2 => ["ikev2", "ike"],
    Krb5 => ["krb5"],
    Dhcp => ["dhcp"],
    Snmp => ["snmp"],
    Sip => ["sip"],
    Rfb => ["rfb"],
    Mqtt => ["mqtt"],
    Rdp => ["rdp"],
    Modbus => ["modbus"],
    Dnp3 => ["dnp3"],
    Enip => ["enip"],
    Telnet => ["telnet"],
    Quic => ["quic"],
    Pgsql => ["pgsql"],
    Irc => ["irc"],
    Bittorrent => ["bittorrent-dht"],
}

/// TCP header fields for `flags`, `seq`, `ack`, `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFields {
    /// The flags byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    pub flags: u8,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
}

/// IP header fields for `ttl`, `id`, `fragbits`, `fragoffset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IpFields {
    pub ttl: u8,
    /// IPv4 identification (0 for IPv6).
    pub id: u16,
    /// Reserved bit set.
    pub reserved: bool,
    /// Don't Fragment set.
    pub dont_fragment: bool,
    /// More Fragments set.
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units.
    pub frag_offset: u16,
}

/// ICMP header fields for `itype`, `icode`, `icmp_id`, `icmp_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IcmpFields {
    pub itype: u8,
    pub icode: u8,
    /// Identifier and sequence, for the message types that carry them (echo, timestamp, ...).
    pub id: Option<u16>,
    pub seq: Option<u16>,
}

/// One inspection: a packet, or a completed app-layer transaction, of one flow.
///
/// The caller calls [`crate::Engine::inspect`] once per packet (with `packet` and, for TCP,
/// the `stream` data reassembly made available at this packet) and again when an app-layer
/// transaction completes (with `buffers` set). Payload keywords (content without a buffer,
/// `dsize`) look at `packet` and `stream`; buffer keywords look only at `buffers`.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Packet time in microseconds since the epoch; threshold windows use it.
    pub time_us: u64,
    pub proto: Proto,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// This packet travels from the flow's initiator (client) to the responder (server).
    pub to_server: bool,
    /// The flow is established (TCP: three-way handshake done; UDP: traffic seen both ways).
    pub established: bool,
    /// This packet's L4 payload.
    pub packet: &'a [u8],
    /// Reassembled stream data of this direction available at this packet (TCP only).
    pub stream: Option<&'a [u8]>,
    /// The flow's app-layer protocol once detected.
    pub app_proto: Option<AppProto>,
    /// App-layer buffers present for this inspection.
    pub buffers: Buffers<'a>,
    pub ip: IpFields,
    pub tcp: Option<TcpFields>,
    pub icmp: Option<IcmpFields>,
}

impl<'a> Input<'a> {
    /// A TCP packet from `src:sport` to `dst:dport` with the given payload, flow
    /// direction to-server, established, no stream data and no buffers: a starting
    /// point for tests and benchmarks, adjusted field by field.
    pub fn tcp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, packet: &'a [u8]) -> Self {
        Input {
            time_us: 0,
            proto: Proto::Tcp,
            src,
            dst,
            sport,
            dport,
            to_server: true,
            established: true,
            packet,
            stream: None,
            app_proto: None,
            buffers: Buffers::new(),
            ip: IpFields {
                ttl: 64,
                ..IpFields::default()
            },
            tcp: Some(TcpFields {
                flags: 0x18,
                ..TcpFields::default()
            }),
            icmp: None,
        }
    }

    /// Like [`Input::tcp`] for UDP.
    pub fn udp(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, packet: &'a [u8]) -> Self {
        Input {
            proto: Proto::Udp,
            tcp: None,
            ..Input::tcp(src, sport, dst, dport, packet)
        }
    }
}

impl Default for Input<'_> {
    fn default() -> Self {
        let z = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        Input::tcp(z, 0, z, 0, b"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_proto_names_round_trip() {
        for p in AppProto::ALL {
            assert_eq!(AppProto::from_name(p.name()), Some(*p));
        }
        assert_eq!(AppProto::from_name("ssl"), Some(AppProto::Tls));
        assert_eq!(AppProto::from_name("gopher"), None);
    }
}
