//! Live packet sources: passive capture from an interface ([`afpacket`]) and inline
//! IPS mode from a netfilter queue ([`nfqueue`]), both Linux only and both talking to the
//! kernel directly through `libc` (no libpcap, no libnetfilter_queue).
//!
//! The pipeline reads either through [`Source`]: each [`SourcePacket`] carries its link
//! type, receive time and bytes, ready for [`crate::decode::decode`], and — for inline
//! sources — a [`VerdictTicket`] that must be answered with [`Source::verdict`] (or a
//! [`VerdictSender`] on another thread).
//!
//! # Threading
//!
//! One reader thread per source: `next_packet` takes `&mut self` and returns a packet
//! borrowed from the source's buffer until the next call. Reads wait at most the configured
//! read timeout and then return `Ok(None)`, so the reader can check a stop flag. Opening a
//! source binds it to the network namespace of the opening thread; the socket stays there
//! whichever thread reads it later.
//!
//! # Inline obligations
//!
//! Every packet read from an NFQUEUE source must get exactly one verdict, or the kernel
//! keeps it until the queue is full. The queue is fail-open by default (full queue: the
//! kernel accepts), dropping the source accepts what it has read and not judged, and the
//! netfilter rule should carry `bypass` (`queue num 5 bypass`) so that traffic flows while
//! no Mamori process listens — after a crash, say. Without `bypass` the kernel drops
//! packets matching the rule whenever the queue has no reader.
//!
//! What this module does not do: decoding (see [`crate::decode`]), reading pcap files (see
//! [`crate::capture`]), or installing firewall rules.

pub mod afpacket;
pub mod netlink;
pub mod nfqueue;

pub use afpacket::{AfPacket, AfPacketConfig, AfPacketCounters, Direction, LivePacket, PacketType};
pub use nfqueue::{NfPacket, NfQueue, NfQueueConfig, NfQueueCounters, Verdict, VerdictSender};

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::decode::LINKTYPE_RAW;

/// Errors of live sources; each names the interface or queue and the failing call.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("interface {iface}: {call} failed: {source}")]
    Interface {
        iface: String,
        call: &'static str,
        source: io::Error,
    },
    #[error("NFQUEUE {queue}: {call} failed: {source}")]
    Queue {
        queue: u16,
        call: &'static str,
        source: io::Error,
    },
    #[error("NFQUEUE {queue}: the kernel refused {request}: {source}")]
    QueueRefused {
        queue: u16,
        request: &'static str,
        source: io::Error,
    },
    #[error("NFQUEUE {queue}: no answer from the kernel to {request} within {timeout:?}")]
    QueueTimeout {
        queue: u16,
        request: &'static str,
        timeout: Duration,
    },
}

impl LiveError {
    pub(crate) fn interface(iface: &str, call: &'static str, source: io::Error) -> Self {
        LiveError::Interface {
            iface: iface.to_owned(),
            call,
            source,
        }
    }

    pub(crate) fn queue(queue: u16, call: &'static str, source: io::Error) -> Self {
        LiveError::Queue {
            queue,
            call,
            source,
        }
    }
}

/// Proof that an inline packet waits for a verdict; give it back to [`Source::verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "an NFQUEUE packet waits in the kernel until it gets a verdict"]
pub struct VerdictTicket {
    pub queue: u16,
    pub id: u32,
}

/// A packet from any live source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePacket<'a> {
    /// Receive time, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// `LINKTYPE_*` of `data`.
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length on the wire (more than `data.len()` when cut).
    pub orig_len: u32,
    /// Set for inline sources: the packet is held until [`Source::verdict`].
    pub ticket: Option<VerdictTicket>,
}

/// Counters common to all sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounters {
    pub packets: u64,
    pub bytes: u64,
    /// Packets the kernel could not hand over (capture buffer full, netlink overrun).
    pub kernel_drops: u64,
    /// Kernel messages that did not decode.
    pub malformed: u64,
    /// Inline verdicts sent.
    pub accepted: u64,
    pub dropped: u64,
}

/// A live packet source, passive or inline.
#[derive(Debug)]
pub enum Source {
    AfPacket(AfPacket),
    NfQueue(NfQueue),
}

impl Source {
    /// `af-packet:eth0` or `nfqueue:5`, for logs and EVE `capture` fields.
    pub fn name(&self) -> String {
        match self {
            Source::AfPacket(c) => format!("af-packet:{}", c.interface()),
            Source::NfQueue(q) => format!("nfqueue:{}", q.queue()),
        }
    }

    /// Whether packets wait for a verdict.
    pub fn is_inline(&self) -> bool {
        matches!(self, Source::NfQueue(_))
    }

    /// The next packet, or `Ok(None)` after the read timeout.
    pub fn next_packet(&mut self) -> Result<Option<SourcePacket<'_>>, LiveError> {
        Ok(match self {
            Source::AfPacket(c) => c.next_packet()?.map(|p| SourcePacket {
                ts_us: p.ts_us,
                linktype: p.linktype,
                data: p.data,
                orig_len: p.orig_len,
                ticket: None,
            }),
            Source::NfQueue(q) => q.next_packet()?.map(|p| SourcePacket {
                ts_us: p.ts_us,
                linktype: LINKTYPE_RAW,
                data: p.data,
                orig_len: p.orig_len,
                ticket: Some(VerdictTicket {
                    queue: p.queue,
                    id: p.id,
                }),
            }),
        })
    }

    /// Answers an inline packet. Passive sources have no tickets; for them this does nothing.
    pub fn verdict(&self, ticket: VerdictTicket, verdict: Verdict) -> Result<(), LiveError> {
        match self {
            Source::AfPacket(_) => Ok(()),
            Source::NfQueue(q) => q.verdict(ticket.id, verdict),
        }
    }

    /// A verdict handle for worker threads (inline sources only).
    pub fn verdict_sender(&self) -> Option<VerdictSender> {
        match self {
            Source::AfPacket(_) => None,
            Source::NfQueue(q) => Some(q.verdict_sender()),
        }
    }

    pub fn counters(&mut self) -> Result<LiveCounters, LiveError> {
        Ok(match self {
            Source::AfPacket(c) => {
                let k = c.counters()?;
                LiveCounters {
                    packets: k.packets,
                    bytes: k.bytes,
                    kernel_drops: k.kernel_drops,
                    ..LiveCounters::default()
                }
            }
            Source::NfQueue(q) => {
                let k = q.counters();
                LiveCounters {
                    packets: k.packets,
                    bytes: k.bytes,
                    kernel_drops: k.overruns,
                    malformed: k.malformed,
                    accepted: k.accepted,
                    dropped: k.dropped,
                }
            }
        })
    }
}

impl From<AfPacket> for Source {
    fn from(c: AfPacket) -> Self {
        Source::AfPacket(c)
    }
}

impl From<NfQueue> for Source {
    fn from(q: NfQueue) -> Self {
        Source::NfQueue(q)
    }
}

/// `setsockopt` with a typed value.
pub(crate) fn setsockopt<T>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: value points at a T of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A socket timeout; zero would mean "wait forever", so it is at least a millisecond.
pub(crate) fn timeval(d: Duration) -> libc::timeval {
    let d = d.max(Duration::from_millis(1));
    libc::timeval {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below a million: fits every suseconds_t.
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    }
}

/// Wall-clock time for packets the kernel did not timestamp.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
