//! The flow table, flow keys and the per-flow TCP state machine.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use super::hash::{FxBuildHasher, FxHasher};
use crate::decode::{self, TcpFlags, Transport};

/// Which way a packet travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    pub fn is_to_server(self) -> bool {
        self == Direction::ToServer
    }

    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// The normalised 5-tuple plus VLAN ids: both directions of a flow map to the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    lo: [u8; 16],
    hi: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    proto: u8,
    vlans: [u16; 2],
}

impl Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for a in [&self.lo, &self.hi] {
            let mut w = [0u8; 8];
            w.copy_from_slice(&a[..8]);
            state.write_u64(u64::from_le_bytes(w));
            w.copy_from_slice(&a[8..]);
            state.write_u64(u64::from_le_bytes(w));
        }
        state.write_u64(
            u64::from(self.lo_port)
                | u64::from(self.hi_port) << 16
                | u64::from(self.proto) << 32
                | u64::from(self.vlans[0]) << 40
                | u64::from(self.vlans[1]) << 52,
        );
    }
}

fn octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

impl FlowKey {
    pub fn new(
        src: IpAddr,
        src_port: u16,
        dst: IpAddr,
        dst_port: u16,
        proto: u8,
        vlans: [u16; 2],
    ) -> Self {
        let (s, d) = (octets(src), octets(dst));
        let ((lo, lo_port), (hi, hi_port)) = if (s, src_port) <= (d, dst_port) {
            ((s, src_port), (d, dst_port))
        } else {
            ((d, dst_port), (s, src_port))
        };
        Self {
            lo,
            hi,
            lo_port,
            hi_port,
            proto,
            vlans,
        }
    }

    pub fn protocol(&self) -> u8 {
        self.proto
    }
}

/// What the flow table needs from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPacket {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub vlans: [u16; 2],
    pub tcp_flags: Option<TcpFlags>,
    /// Bytes counted for the flow (the captured frame length, as Suricata counts).
    pub len: u32,
    pub ts_us: u64,
}

impl FlowPacket {
    /// From a decoded packet; `None` without an IP header. ICMP echo messages use the
    /// identifier as both ports so request and reply share a flow; other ICMP uses 0/0.
    pub fn from_decoded(p: &decode::Packet<'_>, ts_us: u64) -> Option<Self> {
        let ip = p.ip?;
        let (src_port, dst_port, tcp_flags) = match p.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port, Some(t.flags)),
            Transport::Udp(u) => (u.src_port, u.dst_port, None),
            Transport::Icmpv4(i) if matches!(i.kind, 0 | 8) => (i.id, i.id, None),
            Transport::Icmpv6(i) if matches!(i.kind, 128 | 129) => (i.id, i.id, None),
            _ => (0, 0, None),
        };
        let mut vlans = [0u16; 2];
        for (v, id) in vlans.iter_mut().zip(p.vlans()) {
            *v = *id;
        }
        Some(Self {
            src: ip.src(),
            dst: ip.dst(),
            src_port,
            dst_port,
            proto: ip.protocol(),
            vlans,
            tcp_flags,
            len: p.data.len() as u32,
            ts_us,
        })
    }

    pub fn key(&self) -> FlowKey {
        FlowKey::new(
            self.src,
            self.src_port,
            self.dst,
            self.dst_port,
            self.proto,
            self.vlans,
        )
    }
}

/// TCP connection state as seen from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    /// No SYN seen (midstream pickup disabled) — or not TCP.
    None,
    SynSent,
    SynRecv,
    Established,
    /// One side sent FIN.
    FinWait,
    /// Both sides sent FIN.
    Closing,
    /// RST, or the last ACK after both FINs.
    Closed,
}

/// The coarse state that selects a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowState {
    New,
    Established,
    Closed,
}

/// Why a flow left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowEnd {
    /// Idle longer than its state's timeout.
    Timeout,
    /// Evicted early with emergency timeouts because the memcap was reached.
    Emergency,
    /// End of input ([`FlowTable::drain`]).
    Shutdown,
}

impl FlowEnd {
    /// The `flow.reason` value of an EVE flow record.
    pub fn eve_reason(self) -> &'static str {
        match self {
            FlowEnd::Timeout | FlowEnd::Emergency => "timeout",
            FlowEnd::Shutdown => "shutdown",
        }
    }
}

/// One flow, oriented client (`src`) to server (`dst`).
#[derive(Debug, Clone)]
pub struct Flow<V> {
    /// Stable id for EVE's `flow_id` (below 2^51 so JSON consumers keep every digit).
    pub id: u64,
    pub key: FlowKey,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub vlans: [u16; 2],
    pub first_ts_us: u64,
    pub last_ts_us: u64,
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    pub tcp_state: TcpState,
    /// Union of TCP flags seen per direction (EVE `tcp_flags_ts` / `tcp_flags_tc`).
    pub tcp_flags_toserver: TcpFlags,
    pub tcp_flags_toclient: TcpFlags,
    was_established: bool,
    fin_toserver: bool,
    fin_toclient: bool,
    /// The pipeline's per-flow state.
    pub user: V,
}

impl<V> Flow<V> {
    /// `flow:established`: TCP after the handshake completed (including the closing states),
    /// other protocols once both directions have been seen.
    pub fn is_established(&self) -> bool {
        if self.proto == decode::IPPROTO_TCP {
            self.was_established
        } else {
            self.pkts_toserver > 0 && self.pkts_toclient > 0
        }
    }

    pub fn state(&self) -> FlowState {
        if self.proto == decode::IPPROTO_TCP {
            match self.tcp_state {
                TcpState::None | TcpState::SynSent | TcpState::SynRecv => FlowState::New,
                TcpState::Established | TcpState::FinWait | TcpState::Closing => {
                    FlowState::Established
                }
                TcpState::Closed => FlowState::Closed,
            }
        } else if self.is_established() {
            FlowState::Established
        } else {
            FlowState::New
        }
    }

    /// The direction of a packet going from `src:src_port`.
    pub fn direction_of(&self, src: IpAddr, src_port: u16) -> Direction {
        if octets(src) == octets(self.src) && src_port == self.src_port {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    fn update_tcp(&mut self, dir: Direction, flags: TcpFlags, midstream: bool) {
        use TcpState::*;
        if flags.contains(TcpFlags::RST) {
            self.tcp_state = Closed;
            return;
        }
        let syn = flags.contains(TcpFlags::SYN);
        let ack = flags.contains(TcpFlags::ACK);
        let fin = flags.contains(TcpFlags::FIN);
        self.tcp_state = match self.tcp_state {
            None if syn && !ack && dir.is_to_server() => SynSent,
            None if syn && ack && !dir.is_to_server() => SynRecv,
            None if !syn && midstream => Established,
            SynSent if syn && ack && !dir.is_to_server() => SynRecv,
            SynRecv if ack && !syn && dir.is_to_server() => Established,
            s => s,
        };
        if matches!(self.tcp_state, Established | FinWait | Closing) {
            self.was_established = true;
            if fin {
                match dir {
                    Direction::ToServer => self.fin_toserver = true,
                    Direction::ToClient => self.fin_toclient = true,
                }
                self.tcp_state = if self.fin_toserver && self.fin_toclient {
                    Closing
                } else {
                    FinWait
                };
            } else if self.tcp_state == Closing && ack {
                self.tcp_state = Closed;
            }
        }
    }
}

/// Idle timeouts of one protocol, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub new_s: u32,
    pub established_s: u32,
    pub closed_s: u32,
    pub emergency_new_s: u32,
    pub emergency_established_s: u32,
    pub emergency_closed_s: u32,
}

impl Timeouts {
    /// suricata.yaml `flow-timeouts.tcp`.
    pub const TCP: Timeouts = Timeouts {
        new_s: 60,
        established_s: 600,
        closed_s: 60,
        emergency_new_s: 5,
        emergency_established_s: 100,
        emergency_closed_s: 10,
    };
    /// suricata.yaml `flow-timeouts.udp` (and `icmp`, `default`).
    pub const UDP: Timeouts = Timeouts {
        new_s: 30,
        established_s: 300,
        closed_s: 0,
        emergency_new_s: 10,
        emergency_established_s: 100,
        emergency_closed_s: 0,
    };

    fn for_state(&self, state: FlowState, emergency: bool) -> u64 {
        let s = match (state, emergency) {
            (FlowState::New, false) => self.new_s,
            (FlowState::Established, false) => self.established_s,
            (FlowState::Closed, false) => self.closed_s,
            (FlowState::New, true) => self.emergency_new_s,
            (FlowState::Established, true) => self.emergency_established_s,
            (FlowState::Closed, true) => self.emergency_closed_s,
        };
        u64::from(s) * 1_000_000
    }
}

#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// Bytes the table may use (Suricata's `flow.memcap`, 128 MiB).
    pub memcap: usize,
    /// Estimated heap bytes of one user value, charged per flow.
    pub user_size_hint: usize,
    /// Percent of the cap to free before emergency mode ends (30).
    pub emergency_recovery_pct: u8,
    /// Treat a TCP flow first seen without SYN as established (Suricata's
    /// `stream.midstream`, default false).
    pub midstream: bool,
    pub tcp: Timeouts,
    pub udp: Timeouts,
    pub icmp: Timeouts,
    pub other: Timeouts,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            memcap: 128 * 1024 * 1024,
            user_size_hint: 0,
            emergency_recovery_pct: 30,
            midstream: false,
            tcp: Timeouts::TCP,
            udp: Timeouts::UDP,
            icmp: Timeouts::UDP,
            other: Timeouts::UDP,
        }
    }
}

/// Flow table statistics (Suricata's `flow.*` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    pub active: u64,
    pub created: u64,
    pub created_tcp: u64,
    pub created_udp: u64,
    pub created_icmp: u64,
    pub timed_out: u64,
    /// Flows evicted early in emergency mode.
    pub emergency_evicted: u64,
    /// Times emergency mode was entered.
    pub emergency_entered: u64,
    /// New flows refused because the memcap was reached (`flow.memcap`).
    pub memcap_drops: u64,
    pub memuse: u64,
}

/// The result of [`FlowTable::track`] for one packet.
pub struct Tracked<'t, V> {
    pub flow: &'t mut Flow<V>,
    pub direction: Direction,
    /// The packet created the flow.
    pub is_new: bool,
}

impl<V> Tracked<'_, V> {
    /// `flow:established` for this packet (after the packet's own state change).
    pub fn established(&self) -> bool {
        self.flow.is_established()
    }
}

/// How often (in refused flows or packet time) emergency expiry may rescan the table.
const EMERGENCY_SCAN_EVERY: u32 = 1024;
const EMERGENCY_SCAN_US: u64 = 1_000_000;

/// The flow table. See the module documentation.
pub struct FlowTable<V> {
    config: FlowConfig,
    flows: HashMap<FlowKey, Flow<V>, FxBuildHasher>,
    per_flow: usize,
    mem: usize,
    counters: FlowCounters,
    emergency: bool,
    serial: u64,
    last_scan_us: u64,
    refused_since_scan: u32,
    /// Flows evicted inside `track`, handed out by the next `expire`.
    evicted: Vec<Flow<V>>,
    scratch: Vec<FlowKey>,
}

impl<V> FlowTable<V> {
    pub fn new(config: FlowConfig) -> Self {
        let per_flow = std::mem::size_of::<(FlowKey, Flow<V>)>() + 16 + config.user_size_hint;
        Self {
            config,
            flows: HashMap::default(),
            per_flow,
            mem: 0,
            counters: FlowCounters::default(),
            emergency: false,
            serial: 0,
            last_scan_us: 0,
            refused_since_scan: 0,
            evicted: Vec::new(),
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    pub fn counters(&self) -> FlowCounters {
        FlowCounters {
            active: self.flows.len() as u64,
            memuse: self.mem as u64,
            ..self.counters
        }
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn is_emergency(&self) -> bool {
        self.emergency
    }

    pub fn get(&self, key: &FlowKey) -> Option<&Flow<V>> {
        self.flows.get(key)
    }

    pub fn get_mut(&mut self, key: &FlowKey) -> Option<&mut Flow<V>> {
        self.flows.get_mut(key)
    }

    /// Finds or creates the packet's flow and updates it. `None` when the flow is new and
    /// the memcap refuses it (counted in `memcap_drops`). `init` makes the user value of a
    /// new flow.
    pub fn track(&mut self, p: &FlowPacket, init: impl FnOnce() -> V) -> Option<Tracked<'_, V>> {
        let key = p.key();
        let mut is_new = false;
        if !self.flows.contains_key(&key) {
            if self.mem + self.per_flow > self.config.memcap && !self.make_room(p.ts_us) {
                self.counters.memcap_drops += 1;
                return None;
            }
            is_new = true;
            self.create(key, p, init());
        }
        let midstream = self.config.midstream;
        let flow = self.flows.get_mut(&key)?;
        let direction = flow.direction_of(p.src, p.src_port);
        flow.last_ts_us = flow.last_ts_us.max(p.ts_us);
        match direction {
            Direction::ToServer => {
                flow.pkts_toserver += 1;
                flow.bytes_toserver += u64::from(p.len);
            }
            Direction::ToClient => {
                flow.pkts_toclient += 1;
                flow.bytes_toclient += u64::from(p.len);
            }
        }
        if let Some(flags) = p.tcp_flags {
            match direction {
                Direction::ToServer => flow.tcp_flags_toserver |= flags,
                Direction::ToClient => flow.tcp_flags_toclient |= flags,
            }
            flow.update_tcp(direction, flags, midstream);
        }
        Some(Tracked {
            flow,
            direction,
            is_new,
        })
    }

    fn create(&mut self, key: FlowKey, p: &FlowPacket, user: V) {
        // A first packet that is a SYN/ACK comes from the server.
        let from_server = p
            .tcp_flags
            .is_some_and(|f| f.contains(TcpFlags::SYN | TcpFlags::ACK));
        let (src, src_port, dst, dst_port) = if from_server {
            (p.dst, p.dst_port, p.src, p.src_port)
        } else {
            (p.src, p.src_port, p.dst, p.dst_port)
        };
        self.serial += 1;
        let mut h = FxHasher::default();
        key.hash(&mut h);
        let id = (splitmix(self.serial ^ h.finish()) & ((1 << 51) - 1)).max(1);
        self.counters.created += 1;
        match p.proto {
            decode::IPPROTO_TCP => self.counters.created_tcp += 1,
            decode::IPPROTO_UDP => self.counters.created_udp += 1,
            decode::IPPROTO_ICMP | decode::IPPROTO_ICMPV6 => self.counters.created_icmp += 1,
            _ => {}
        }
        self.mem += self.per_flow;
        self.flows.insert(
            key,
            Flow {
                id,
                key,
                src,
                dst,
                src_port,
                dst_port,
                proto: p.proto,
                vlans: p.vlans,
                first_ts_us: p.ts_us,
                last_ts_us: p.ts_us,
                pkts_toserver: 0,
                pkts_toclient: 0,
                bytes_toserver: 0,
                bytes_toclient: 0,
                tcp_state: TcpState::None,
                tcp_flags_toserver: TcpFlags::default(),
                tcp_flags_toclient: TcpFlags::default(),
                was_established: false,
                fin_toserver: false,
                fin_toclient: false,
                user,
            },
        );
    }

    /// Emergency expiry; true if a flow now fits.
    fn make_room(&mut self, now_us: u64) -> bool {
        if !self.emergency {
            self.emergency = true;
            self.counters.emergency_entered += 1;
            tracing::warn!(
                memcap = self.config.memcap,
                flows = self.flows.len(),
                "flow table full, emergency mode"
            );
        }
        self.refused_since_scan += 1;
        let due = self.refused_since_scan >= EMERGENCY_SCAN_EVERY
            || now_us.saturating_sub(self.last_scan_us) >= EMERGENCY_SCAN_US
            || self.refused_since_scan == 1;
        if due {
            self.refused_since_scan = 0;
            self.last_scan_us = now_us;
            self.collect_expired(now_us);
            let n = self.scratch.len() as u64;
            self.counters.emergency_evicted += n;
            let keys = std::mem::take(&mut self.scratch);
            for k in &keys {
                if let Some(f) = self.remove(k) {
                    self.evicted.push(f);
                }
            }
            self.scratch = keys;
        }
        self.mem + self.per_flow <= self.config.memcap
    }

    fn timeout_of(&self, f: &Flow<V>) -> u64 {
        let t = match f.proto {
            decode::IPPROTO_TCP => &self.config.tcp,
            decode::IPPROTO_UDP => &self.config.udp,
            decode::IPPROTO_ICMP | decode::IPPROTO_ICMPV6 => &self.config.icmp,
            _ => &self.config.other,
        };
        t.for_state(f.state(), self.emergency)
    }

    fn collect_expired(&mut self, now_us: u64) {
        self.scratch.clear();
        for (k, f) in &self.flows {
            if now_us.saturating_sub(f.last_ts_us) > self.timeout_of(f) {
                self.scratch.push(*k);
            }
        }
    }

    fn remove(&mut self, key: &FlowKey) -> Option<Flow<V>> {
        let f = self.flows.remove(key)?;
        self.mem -= self.per_flow;
        Some(f)
    }

    /// Removes flows idle past their timeout at packet time `now_us` and hands each to
    /// `ended` (first any evicted in emergency mode since the last call).
    pub fn expire(&mut self, now_us: u64, mut ended: impl FnMut(Flow<V>, FlowEnd)) {
        for f in self.evicted.drain(..) {
            ended(f, FlowEnd::Emergency);
        }
        self.collect_expired(now_us);
        let keys = std::mem::take(&mut self.scratch);
        for k in &keys {
            if let Some(f) = self.remove(k) {
                self.counters.timed_out += 1;
                ended(f, FlowEnd::Timeout);
            }
        }
        self.scratch = keys;
        if self.emergency {
            let limit = self.config.memcap / 100
                * usize::from(100 - self.config.emergency_recovery_pct.min(100));
            if self.mem <= limit {
                self.emergency = false;
                tracing::info!(flows = self.flows.len(), "flow table out of emergency mode");
            }
        }
    }

    /// Removes every flow (end of input), handing each to `ended`.
    pub fn drain(&mut self, mut ended: impl FnMut(Flow<V>, FlowEnd)) {
        for f in self.evicted.drain(..) {
            ended(f, FlowEnd::Emergency);
        }
        let mut all: Vec<Flow<V>> = self.flows.drain().map(|(_, f)| f).collect();
        all.sort_by_key(|f| (f.first_ts_us, f.id));
        self.mem = 0;
        self.emergency = false;
        for f in all {
            ended(f, FlowEnd::Shutdown);
        }
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
