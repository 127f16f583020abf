//! Packet capture files: reading, writing and crafting.
//!
//! - [`pcap`] reads classic pcap (both byte orders, micro- and nanosecond timestamps) and
//!   pcapng (sections of either byte order, several interfaces with their own link types and
//!   timestamp resolutions, enhanced/simple/obsolete packet blocks) through one
//!   [`CaptureReader`]. Packets are borrowed from the reader's buffer: no per-packet
//!   allocation. A damaged file yields every complete packet before the damage and then an
//!   error naming the packet index and byte offset.
//! - [`write`] writes classic pcap and pcapng ([`PcapWriter`], [`PcapNgWriter`]) for tests,
//!   benchmarks and tools that export packets.
//! - [`craft`] builds well-formed frames (Ethernet/VLAN/IPv4/IPv6/TCP/UDP/ICMP with correct
//!   checksums), whole TCP conversations ([`TcpSession`]) and IP fragments, so tests generate
//!   their captures instead of committing opaque blobs.
//!
//! What this module does not do: live capture (AF_PACKET, NFQUEUE) and decoding. Bytes of a
//! packet go to [`crate::decode`] together with the packet's link type.

pub mod craft;
pub mod pcap;
pub mod write;

pub use craft::{fragment_ipv4, fragment_ipv6, PacketBuilder, Side, TcpSession};
pub use pcap::{CaptureError, CaptureFormat, CaptureReader, Packet, MAX_RECORD_LEN};
pub use write::{PcapNgWriter, PcapWriter};
