//! IP fragment reassembly (IPv4 and the IPv6 fragment header).
//!
//! A [`Defragmenter`] collects fragments of a datagram keyed by (source, destination,
//! identification, protocol, VLAN ids) and, once every byte from offset 0 to the end given
//! by the last fragment (MF clear) is present, writes the whole IP packet into a buffer it
//! owns and returns it ([`Defrag::Complete`]); decode it with [`crate::decode::decode_ip`].
//! The IPv4 header comes from the offset-0 fragment with length, flags and checksum fixed;
//! for IPv6 the fragment header is removed and the previous header's next-header points to
//! what followed it.
//!
//! Overlaps: the first data received for a byte wins (later copies of the same range are
//! ignored and reported as `decoder.ipv4.frag_overlap` / `decoder.ipv6.frag_overlap`).
//! That is the "first" policy; Suricata's default BSD policy differs only for a later
//! fragment that starts before an earlier one — documented here and tested so a later
//! change is deliberate.
//!
//! Bounds: datagrams older than `timeout_us` (packet time) are dropped; the buffered bytes of
//! all datagrams are capped by `memcap` (a fragment that does not fit after expiring old
//! datagrams is dropped and counted); each datagram holds at most `max_fragments` pieces and
//! at most 65535 bytes.

use std::collections::HashMap;

use super::{Anomaly, IpHeader, Packet};
use crate::flow::hash::FxBuildHasher;

/// Limits of the defragmenter (defaults after Suricata's `defrag` section).
#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    /// A datagram not completed within this time is dropped (60 s).
    pub timeout_us: u64,
    /// Bytes of fragment data and bookkeeping held at most (32 MiB).
    pub memcap: usize,
    /// Pieces one datagram may hold (256).
    pub max_fragments: usize,
}

impl Default for DefragConfig {
    fn default() -> Self {
        Self {
            timeout_us: 60_000_000,
            memcap: 32 * 1024 * 1024,
            max_fragments: 256,
        }
    }
}

/// What the defragmenter did, for stats (`defrag.*` in Suricata's stats.log).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefragCounters {
    pub fragments: u64,
    pub reassembled: u64,
    pub timeouts: u64,
    pub memcap_drops: u64,
    pub max_fragments_drops: u64,
    pub overlaps: u64,
    pub too_large: u64,
    /// Datagrams being collected now.
    pub active: u64,
    /// Bytes held now.
    pub memuse: u64,
}

/// Outcome of [`Defragmenter::insert`].
#[derive(Debug)]
pub enum Defrag<'d> {
    /// The packet is not a fragment; process it as it is.
    NotFragment,
    /// Kept until the rest arrives; `anomaly` reports an overlap.
    Held { anomaly: Option<Anomaly> },
    /// The datagram is complete: the whole IP packet.
    Complete {
        packet: &'d [u8],
        anomaly: Option<Anomaly>,
    },
    /// The fragment was dropped (memcap, too large, too many pieces).
    Dropped { anomaly: Option<Anomaly> },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FragKey {
    src: [u8; 16],
    dst: [u8; 16],
    id: u32,
    proto: u8,
    v6: bool,
    vlans: [u16; 2],
}

struct Datagram {
    first_seen_us: u64,
    /// The unfragmentable part from the offset-0 fragment (IPv4 header; IPv6 headers before
    /// the fragment header, with the previous next-header byte already rewritten).
    header: Option<Vec<u8>>,
    /// Disjoint pieces sorted by offset.
    pieces: Vec<(u32, Vec<u8>)>,
    /// End of the data, from the fragment with MF clear.
    end: Option<u32>,
    mem: usize,
}

const DATAGRAM_OVERHEAD: usize = 128;
const PIECE_OVERHEAD: usize = 32;

/// Reassembles IP fragments. See the module documentation.
pub struct Defragmenter {
    config: DefragConfig,
    datagrams: HashMap<FragKey, Datagram, FxBuildHasher>,
    counters: DefragCounters,
    mem: usize,
    last_sweep_us: u64,
    out: Vec<u8>,
}

impl Default for Defragmenter {
    fn default() -> Self {
        Self::new(DefragConfig::default())
    }
}

impl Defragmenter {
    pub fn new(config: DefragConfig) -> Self {
        Self {
            config,
            datagrams: HashMap::default(),
            counters: DefragCounters::default(),
            mem: 0,
            last_sweep_us: 0,
            out: Vec::new(),
        }
    }

    pub fn counters(&self) -> DefragCounters {
        DefragCounters {
            active: self.datagrams.len() as u64,
            memuse: self.mem as u64,
            ..self.counters
        }
    }

    /// Offers a decoded packet at packet time `now_us`.
    pub fn insert(&mut self, pkt: &Packet<'_>, now_us: u64) -> Defrag<'_> {
        let Some(ip) = pkt.ip else {
            return Defrag::NotFragment;
        };
        if !ip.is_fragment() {
            return Defrag::NotFragment;
        }
        self.counters.fragments += 1;
        if now_us.saturating_sub(self.last_sweep_us) >= 1_000_000 {
            self.expire(now_us);
        }
        let mut vlans = [0u16; 2];
        for (v, id) in vlans.iter_mut().zip(pkt.vlans()) {
            *v = *id;
        }
        let bytes = pkt.ip_packet;
        let (key, offset, more, data, header, overlap_event, large_event) = match ip {
            IpHeader::V4(h) => {
                let hl = usize::from(h.header_len);
                (
                    FragKey {
                        src: h.src.to_ipv6_mapped().octets(),
                        dst: h.dst.to_ipv6_mapped().octets(),
                        id: u32::from(h.id),
                        proto: h.protocol,
                        v6: false,
                        vlans,
                    },
                    u32::from(h.fragment_offset),
                    h.more_fragments,
                    &bytes[hl..],
                    (h.fragment_offset == 0).then(|| bytes[..hl].to_vec()),
                    Anomaly::Ipv4FragOverlap,
                    Anomaly::Ipv4FragPktTooLarge,
                )
            }
            IpHeader::V6(h) => {
                let Some(f) = h.fragment else {
                    return Defrag::NotFragment;
                };
                let data_at = f.header_at + 8;
                if f.more && (bytes.len() - data_at) & 7 != 0 {
                    return Defrag::Dropped {
                        anomaly: Some(Anomaly::Ipv6FragInvalidLength),
                    };
                }
                let header = (f.offset == 0).then(|| {
                    let mut v = bytes[..f.header_at].to_vec();
                    v[f.prev_next_header_at] = f.next_header;
                    v
                });
                (
                    FragKey {
                        src: h.src.octets(),
                        dst: h.dst.octets(),
                        id: f.id,
                        proto: f.next_header,
                        v6: true,
                        vlans,
                    },
                    u32::from(f.offset),
                    f.more,
                    &bytes[data_at..],
                    header,
                    Anomaly::Ipv6FragOverlap,
                    Anomaly::Ipv6FragPktTooLarge,
                )
            }
        };
        let end = offset + data.len() as u32;
        let min_header = if matches!(ip, IpHeader::V4(_)) {
            20
        } else {
            40
        };
        if end + min_header > 65535 {
            self.counters.too_large += 1;
            return Defrag::Dropped {
                anomaly: Some(large_event),
            };
        }

        // Expired datagram under the same key: start afresh.
        if let Some(d) = self.datagrams.get(&key) {
            if now_us.saturating_sub(d.first_seen_us) > self.config.timeout_us {
                self.remove(&key);
                self.counters.timeouts += 1;
            }
        }

        let need = data.len()
            + PIECE_OVERHEAD
            + header.as_ref().map_or(0, Vec::len)
            + if self.datagrams.contains_key(&key) {
                0
            } else {
                DATAGRAM_OVERHEAD
            };
        if self.mem + need > self.config.memcap {
            self.expire(now_us);
            if self.mem + need > self.config.memcap {
                self.counters.memcap_drops += 1;
                return Defrag::Dropped { anomaly: None };
            }
        }

        let is_new = !self.datagrams.contains_key(&key);
        let d = self
            .datagrams
            .entry(key.clone())
            .or_insert_with(|| Datagram {
                first_seen_us: now_us,
                header: None,
                pieces: Vec::new(),
                end: None,
                mem: DATAGRAM_OVERHEAD,
            });
        if is_new {
            self.mem += DATAGRAM_OVERHEAD;
        }
        let mut overlap = false;
        if let Some(h) = header {
            if d.header.is_none() {
                d.mem += h.len();
                self.mem += h.len();
                d.header = Some(h);
            }
        }
        if !more {
            match d.end {
                Some(e) if e != end => overlap = true,
                Some(_) => {}
                None => d.end = Some(end),
            }
        }
        // Insert only the bytes no earlier fragment supplied (first wins).
        let mut cur = offset;
        let mut new_pieces: Vec<(u32, Vec<u8>)> = Vec::new();
        for (s, v) in &d.pieces {
            let e = *s + v.len() as u32;
            if e <= cur || *s >= end {
                continue;
            }
            overlap = true;
            if *s > cur {
                new_pieces.push((
                    cur,
                    data[(cur - offset) as usize..(*s - offset) as usize].to_vec(),
                ));
            }
            cur = cur.max(e);
            if cur >= end {
                break;
            }
        }
        if cur < end {
            new_pieces.push((cur, data[(cur - offset) as usize..].to_vec()));
        }
        if d.pieces.len() + new_pieces.len() > self.config.max_fragments {
            self.counters.max_fragments_drops += 1;
            self.remove(&key);
            return Defrag::Dropped { anomaly: None };
        }
        for (s, v) in new_pieces {
            let add = v.len() + PIECE_OVERHEAD;
            d.mem += add;
            self.mem += add;
            let at = d.pieces.partition_point(|(ps, _)| *ps < s);
            d.pieces.insert(at, (s, v));
        }
        let anomaly = if overlap {
            self.counters.overlaps += 1;
            Some(overlap_event)
        } else {
            None
        };

        let complete = match (&d.header, d.end) {
            (Some(_), Some(total)) => {
                let mut at = 0u32;
                for (s, v) in &d.pieces {
                    if *s > at {
                        break;
                    }
                    at = at.max(*s + v.len() as u32);
                }
                at >= total
            }
            _ => false,
        };
        if !complete {
            return Defrag::Held { anomaly };
        }
        let Some(d) = self.remove(&key) else {
            return Defrag::Held { anomaly };
        };
        let total = d.end.unwrap_or(0) as usize;
        let header = d.header.unwrap_or_default();
        self.out.clear();
        self.out.extend_from_slice(&header);
        for (s, v) in &d.pieces {
            let s = *s as usize;
            let have = self.out.len() - header.len();
            if s + v.len() <= have || have >= total {
                continue;
            }
            if s > have {
                break;
            }
            let from = have - s;
            let to = v.len().min(total - s);
            if from < to {
                self.out.extend_from_slice(&v[from..to]);
            }
        }
        let hl = header.len();
        if key.v6 {
            let plen = (self.out.len() - 40) as u16;
            self.out[4..6].copy_from_slice(&plen.to_be_bytes());
        } else {
            let tl = self.out.len() as u16;
            self.out[2..4].copy_from_slice(&tl.to_be_bytes());
            let df = self.out[6] & 0x40;
            self.out[6] = df;
            self.out[7] = 0;
            self.out[10] = 0;
            self.out[11] = 0;
            let c = crate::capture::craft::checksum(&[&self.out[..hl]]);
            self.out[10..12].copy_from_slice(&c.to_be_bytes());
        }
        self.counters.reassembled += 1;
        Defrag::Complete {
            packet: &self.out,
            anomaly,
        }
    }

    /// Drops datagrams older than the timeout at packet time `now_us`.
    pub fn expire(&mut self, now_us: u64) {
        self.last_sweep_us = now_us;
        let timeout = self.config.timeout_us;
        let before = self.datagrams.len();
        let mut freed = 0;
        self.datagrams.retain(|_, d| {
            let keep = now_us.saturating_sub(d.first_seen_us) <= timeout;
            if !keep {
                freed += d.mem;
            }
            keep
        });
        self.mem -= freed;
        self.counters.timeouts += (before - self.datagrams.len()) as u64;
    }

    fn remove(&mut self, key: &FragKey) -> Option<Datagram> {
        let d = self.datagrams.remove(key)?;
        self.mem -= d.mem;
        Some(d)
    }
}
