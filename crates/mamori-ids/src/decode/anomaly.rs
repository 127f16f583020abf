//! Decoder anomalies: what was wrong with a packet and at which layer.
//!
//! Names follow Suricata's decoder events (`decoder.ipv4.trunc_pkt`, …) so that rules with
//! `decode-event:` keywords and EVE consumers see the names they know. A few events Suricata
//! has no name for carry a Mamori name in the same style (marked below).

use std::fmt;

/// The protocol layer an anomaly was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Vlan,
    Ipv4,
    Ipv6,
    Tcp,
    Udp,
    Icmpv4,
    Icmpv6,
}

macro_rules! anomalies {
    ($($variant:ident => $layer:ident, $name:literal;)*) => {
        /// One decoder event. [`Anomaly::name`] gives Suricata's event name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Anomaly {
            $($variant,)*
        }

        impl Anomaly {
            /// All anomalies, e.g. for stats counters.
            pub const ALL: &'static [Anomaly] = &[$(Anomaly::$variant,)*];

            /// Suricata's event name, e.g. `decoder.ipv4.trunc_pkt`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Anomaly::$variant => $name,)*
                }
            }

            pub fn layer(self) -> Layer {
                match self {
                    $(Anomaly::$variant => Layer::$layer,)*
                }
            }
        }
    };
}

anomalies! {
    EthernetPktTooSmall => Link, "decoder.ethernet.pkt_too_small";
    SllPktTooSmall => Link, "decoder.sll.pkt_too_small";
    // Mamori name: Suricata reports SLL2 under the SLL event.
    Sll2PktTooSmall => Link, "decoder.sll2.pkt_too_small";
    NullPktTooSmall => Link, "decoder.null.pkt_too_small";
    NullUnsupportedType => Link, "decoder.null.unsupported_type";
    IpRawInvalidIpVersion => Link, "decoder.ipraw.invalid_ip_version";
    // Mamori name: a link type the decoder does not know.
    UnsupportedLinktype => Link, "decoder.unsupported_linktype";
    VlanHeaderTooSmall => Vlan, "decoder.vlan.header_too_small";
    VlanTooManyLayers => Vlan, "decoder.vlan.too_many_layers";
    Ipv4PktTooSmall => Ipv4, "decoder.ipv4.pkt_too_small";
    Ipv4HlenTooSmall => Ipv4, "decoder.ipv4.hlen_too_small";
    Ipv4IplenSmallerThanHlen => Ipv4, "decoder.ipv4.iplen_smaller_than_hlen";
    Ipv4TruncPkt => Ipv4, "decoder.ipv4.trunc_pkt";
    Ipv4WrongIpVersion => Ipv4, "decoder.ipv4.wrong_ip_version";
    Ipv4FragPktTooLarge => Ipv4, "decoder.ipv4.frag_pkt_too_large";
    Ipv4FragOverlap => Ipv4, "decoder.ipv4.frag_overlap";
    Ipv4FragIgnored => Ipv4, "decoder.ipv4.frag_ignored";
    Ipv6PktTooSmall => Ipv6, "decoder.ipv6.pkt_too_small";
    Ipv6TruncPkt => Ipv6, "decoder.ipv6.trunc_pkt";
    Ipv6TruncExthdr => Ipv6, "decoder.ipv6.trunc_exthdr";
    Ipv6ExthdrDuplFh => Ipv6, "decoder.ipv6.exthdr_dupl_fh";
    Ipv6ExthdrDuplHh => Ipv6, "decoder.ipv6.exthdr_dupl_hh";
    Ipv6FhNonZeroReservedField => Ipv6, "decoder.ipv6.fh_non_zero_reserved_field";
    // Mamori name: more extension headers than the decoder follows (16).
    Ipv6ExthdrTooMany => Ipv6, "decoder.ipv6.exthdr_too_many";
    Ipv6WrongIpVersion => Ipv6, "decoder.ipv6.wrong_ip_version";
    Ipv6FragPktTooLarge => Ipv6, "decoder.ipv6.frag_pkt_too_large";
    Ipv6FragOverlap => Ipv6, "decoder.ipv6.frag_overlap";
    Ipv6FragInvalidLength => Ipv6, "decoder.ipv6.frag_invalid_length";
    Ipv6FragIgnored => Ipv6, "decoder.ipv6.frag_ignored";
    TcpPktTooSmall => Tcp, "decoder.tcp.pkt_too_small";
    TcpHlenTooSmall => Tcp, "decoder.tcp.hlen_too_small";
    TcpInvalidOptlen => Tcp, "decoder.tcp.invalid_optlen";
    UdpPktTooSmall => Udp, "decoder.udp.pkt_too_small";
    UdpHlenTooSmall => Udp, "decoder.udp.hlen_too_small";
    UdpHlenInvalid => Udp, "decoder.udp.hlen_invalid";
    Icmpv4PktTooSmall => Icmpv4, "decoder.icmpv4.pkt_too_small";
    Icmpv6PktTooSmall => Icmpv6, "decoder.icmpv6.pkt_too_small";
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The anomalies of one packet: at most [`Anomalies::CAPACITY`] are kept, in the order found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Anomalies {
    items: [Option<Anomaly>; Anomalies::CAPACITY],
    len: u8,
}

impl Anomalies {
    pub const CAPACITY: usize = 4;

    pub fn push(&mut self, a: Anomaly) {
        if usize::from(self.len) < Self::CAPACITY {
            self.items[usize::from(self.len)] = Some(a);
            self.len += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn contains(&self, a: Anomaly) -> bool {
        self.iter().any(|x| x == a)
    }

    pub fn iter(&self) -> impl Iterator<Item = Anomaly> + '_ {
        self.items[..usize::from(self.len)]
            .iter()
            .flatten()
            .copied()
    }
}
