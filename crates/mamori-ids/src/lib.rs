//! Mamori's network IDS/IPS.
//!
//! Packets come from pcap/pcapng files, live capture (AF_PACKET) or inline (NFQUEUE); they
//! are decoded, grouped into flows, reassembled into streams, parsed by application-layer
//! parsers, matched against Suricata-language rules (`mamori-ids-rules`) and behavioural
//! detectors, and written out as Suricata-compatible EVE JSON and Mamori alerts.

pub mod app;
pub mod capture;
pub mod decode;
pub mod detect;
pub mod eve;
pub mod flow;
pub mod live;
pub mod pipeline;
pub mod stream;
