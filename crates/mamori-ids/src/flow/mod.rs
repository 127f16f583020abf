//! Flows: packets grouped by their 5-tuple (and VLAN ids), with direction and TCP state.
//!
//! A [`FlowTable`] looks up or creates the [`Flow`] of each packet ([`FlowTable::track`])
//! and says which way the packet goes: `to_server` is the direction of the flow's first
//! packet — or of the SYN, when the first packet seen is a SYN/ACK. It follows the TCP
//! connection state (SYN, SYN/ACK, established, FIN/RST closing, closed) that
//! `flow:established` and the stream engine need, counts packets and bytes per direction,
//! keeps first and last timestamps, and holds a user value `V` per flow where the pipeline
//! keeps its per-flow state (flowbits, app-layer parser, TCP reassemblers).
//!
//! Time is packet time: [`FlowTable::expire`] is called with the current packet timestamp
//! (every second of packet time is plenty) and hands back flows idle longer than their
//! state's timeout (Suricata's defaults: TCP new 60 s, established 600 s, closed 60 s; UDP,
//! ICMP and others new 30 s, established 300 s) for flow EVE records; [`FlowTable::drain`]
//! hands back the rest at the end of a capture.
//!
//! Memory: each flow is charged an estimate (the flow struct plus `user_size_hint`); when a
//! new flow would pass `memcap` the table enters emergency mode, expires flows with the
//! shorter emergency timeouts and, if still full, refuses the flow and counts it
//! (`memcap_drops`, Suricata's `flow.memcap`). Emergency mode ends when usage falls below
//! `100 - emergency_recovery` percent of the cap.
//!
//! What this module does not do: reassembly (see [`crate::stream`]), TCP sequence
//! validation, or flow bypass.

pub mod hash;
mod table;

pub use table::{
    Direction, Flow, FlowConfig, FlowCounters, FlowEnd, FlowKey, FlowPacket, FlowState, FlowTable,
    TcpState, Timeouts, Tracked,
};
