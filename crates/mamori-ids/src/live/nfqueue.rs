//! Inline (IPS) packets from the kernel's NFQUEUE: a netfilter rule hands packets to a
//! queue, this client reads them and answers each with a [`Verdict`].
//!
//! The client speaks `nfnetlink_queue` over a `NETLINK_NETFILTER` socket itself (the message
//! encoding lives in [`super::netlink`]); no `libnetfilter_queue`. [`NfQueue::open`] binds
//! the queue number, asks for whole packets (up to the copy range), sets the queue length
//! and the fail-open flag, and waits for the kernel to acknowledge each step, so a queue
//! already taken by another process or a missing `CAP_NET_ADMIN` fails there with the
//! kernel's reason.
//!
//! Input: packets that match a rule such as
//! `nft add rule inet filter input tcp dport 8000 queue num 5 bypass`, from the network
//! namespace the socket was opened in. Payloads are IP packets (link type raw IP, 101).
//!
//! # Threading and obligations
//!
//! One thread reads ([`NfQueue::next_packet`] needs `&mut`). Verdicts may come from the
//! reader or from workers through [`VerdictSender`] clones; every packet read must get
//! exactly one verdict, or it waits in the kernel until the queue fills (then fail-open
//! accepts new packets, or without it they are dropped).
//!
//! # Failing open
//!
//! - Queue full: with [`NfQueueConfig::fail_open`] (the default) the kernel accepts packets
//!   it cannot queue, so a busy IDS slows nothing down rather than cutting the network.
//! - Socket buffer overrun (`ENOBUFS`): the kernel could not deliver a packet message; with
//!   fail-open it accepted that packet. The reader counts it ([`NfQueueCounters::overruns`])
//!   and carries on.
//! - Shutdown: dropping the [`NfQueue`] accepts every packet it has read and not yet
//!   judged (one batch verdict), then unbinds the queue. Packets the kernel queued after the
//!   last read are dropped by the kernel when the queue goes away, and once no process
//!   listens, packets matching the rule are dropped too — unless the rule says `bypass`,
//!   which makes netfilter accept them. Rules feeding Mamori should always use `bypass`;
//!   when the process dies without unbinding, `bypass` is the only thing that keeps traffic
//!   flowing.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::netlink::{self, ConfigCommand, CopyMode, Messages, QueueParams, Reply};
use super::{now_us, setsockopt, LiveError};

/// What to do with a queued packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
}

impl Verdict {
    fn number(self) -> u32 {
        match self {
            Verdict::Accept => netlink::NF_ACCEPT,
            Verdict::Drop => netlink::NF_DROP,
        }
    }
}

/// How to bind and read a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfQueueConfig {
    /// Queue number of the `queue num N` rule.
    pub queue: u16,
    /// Bytes of each packet copied to the reader (from the IP header on).
    pub copy_range: u32,
    /// Packets waiting for a verdict before the queue is full; `None` keeps the kernel's
    /// default (1024).
    pub max_len: Option<u32>,
    /// Accept packets when the queue is full instead of dropping them.
    pub fail_open: bool,
    /// Socket receive buffer in bytes (set with `SO_RCVBUFFORCE` when allowed).
    pub recv_buffer: usize,
    /// How long [`NfQueue::next_packet`] waits before returning `Ok(None)`.
    pub read_timeout: Duration,
    /// Datagrams fetched per `recvmmsg` call.
    pub batch: usize,
}

impl NfQueueConfig {
    pub fn new(queue: u16) -> Self {
        Self {
            queue,
            copy_range: 0xffff,
            max_len: None,
            fail_open: true,
            recv_buffer: 8 << 20,
            read_timeout: Duration::from_millis(100),
            batch: 16,
        }
    }
}

/// What the reader has seen so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NfQueueCounters {
    /// Packet messages handed to the caller.
    pub packets: u64,
    pub bytes: u64,
    pub accepted: u64,
    pub dropped: u64,
    /// `ENOBUFS`: packet messages the kernel could not deliver (accepted when fail-open).
    pub overruns: u64,
    /// Messages that did not decode; cut-short packet messages are accepted unread.
    pub malformed: u64,
    /// Requests the kernel refused after `open`, e.g. a verdict for an unknown id.
    pub kernel_errors: u64,
}

/// The socket and what verdict senders share with the reader.
#[derive(Debug)]
struct Shared {
    fd: OwnedFd,
    queue: u16,
    seq: AtomicU32,
    accepted: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    fn send(&self, msg: &[u8], call: &'static str) -> Result<(), LiveError> {
        let addr = kernel_addr();
        // SAFETY: msg and addr are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(LiveError::queue(
                self.queue,
                call,
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    fn verdict(&self, id: u32, verdict: Verdict, batch: bool) -> Result<(), LiveError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let msg = netlink::verdict_message(seq, self.queue, id, verdict.number(), batch);
        self.send(
            &msg,
            if batch {
                "send NFQNL_MSG_VERDICT_BATCH"
            } else {
                "send NFQNL_MSG_VERDICT"
            },
        )?;
        match verdict {
            Verdict::Accept => self.accepted.fetch_add(1, Ordering::Relaxed),
            Verdict::Drop => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
        Ok(())
    }
}

fn kernel_addr() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain data; all zeroes is the kernel's address.
    let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr
}

/// Sends verdicts for one queue from any thread.
#[derive(Debug, Clone)]
pub struct VerdictSender {
    shared: Arc<Shared>,
}

impl VerdictSender {
    /// Sends the verdict on packet `id`. A verdict for an id the kernel no longer holds is
    /// refused asynchronously and counted by the reader as a kernel error.
    pub fn verdict(&self, id: u32, verdict: Verdict) -> Result<(), LiveError> {
        self.shared.verdict(id, verdict, false)
    }

    pub fn queue(&self) -> u16 {
        self.shared.queue
    }
}

/// Where the reader stands in the datagrams of the last `recvmmsg`.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    /// Datagrams filled by the last receive.
    filled: usize,
    slot: usize,
    /// Offset of the next message in the current slot.
    offset: usize,
}

/// A bound NFQUEUE queue. See the module docs for threading and shutdown.
#[derive(Debug)]
pub struct NfQueue {
    shared: Arc<Shared>,
    slot_len: usize,
    /// `batch` receive buffers of `slot_len` bytes each, back to back.
    slots: Vec<u8>,
    lens: Vec<usize>,
    cursor: Cursor,
    /// Highest packet id handed out, for the shutdown batch verdict.
    last_id: Option<u32>,
    counters: NfQueueCounters,
}

/// Packet metadata and payload bytes beyond the copy range are never needed; packet
/// messages carry a few hundred bytes of attributes at most.
const SLOT_HEADROOM: usize = 8192;
/// How long `open` waits for each acknowledgement.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

impl NfQueue {
    /// Binds queue `config.queue` in the calling thread's network namespace.
    pub fn open(config: &NfQueueConfig) -> Result<NfQueue, LiveError> {
        let queue = config.queue;
        // SAFETY: plain system call.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(LiveError::queue(
                queue,
                "socket(AF_NETLINK)",
                io::Error::last_os_error(),
            ));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let addr = kernel_addr();
        // SAFETY: addr is a valid sockaddr_nl (port id 0: the kernel picks one).
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(LiveError::queue(
                queue,
                "bind(AF_NETLINK)",
                io::Error::last_os_error(),
            ));
        }
        let size = libc::c_int::try_from(config.recv_buffer).unwrap_or(libc::c_int::MAX);
        if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)
                .map_err(|e| LiveError::queue(queue, "setsockopt(SO_RCVBUF)", e))?;
        }
        let tv = super::timeval(config.read_timeout);
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
            .map_err(|e| LiveError::queue(queue, "setsockopt(SO_RCVTIMEO)", e))?;

        let copy_range = config.copy_range.clamp(1, 0xffff);
        let slot_len = copy_range as usize + SLOT_HEADROOM;
        let batch = config.batch.clamp(1, 256);
        let mut q = NfQueue {
            shared: Arc::new(Shared {
                fd,
                queue,
                seq: AtomicU32::new(1),
                accepted: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
            slot_len,
            slots: vec![0; slot_len * batch],
            lens: vec![0; batch],
            cursor: Cursor::default(),
            last_id: None,
            counters: NfQueueCounters::default(),
        };
        // Kernels before 3.8 need the families bound once; later ones ignore these.
        for pf in [libc::AF_INET as u16, libc::AF_INET6 as u16] {
            let _ = q.request("NFQNL_CFG_CMD_PF_UNBIND", |seq| {
                netlink::config_command(seq, 0, ConfigCommand::PfUnbind, pf)
            });
            let _ = q.request("NFQNL_CFG_CMD_PF_BIND", |seq| {
                netlink::config_command(seq, 0, ConfigCommand::PfBind, pf)
            });
        }
        q.request("NFQNL_CFG_CMD_BIND", |seq| {
            netlink::config_command(seq, queue, ConfigCommand::Bind, 0)
        })?;
        let params = QueueParams {
            copy_mode: CopyMode::Packet,
            copy_range,
            max_len: config.max_len,
            fail_open: config.fail_open,
        };
        q.request("NFQA_CFG_PARAMS", |seq| {
            netlink::config_params(seq, queue, &params)
        })?;
        Ok(q)
    }

    /// Sends an acknowledged request and waits for its acknowledgement. Packets that arrive
    /// meanwhile (the queue is live as soon as it is bound) are accepted unread.
    fn request(
        &mut self,
        what: &'static str,
        build: impl FnOnce(u32) -> Vec<u8>,
    ) -> Result<(), LiveError> {
        let queue = self.shared.queue;
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        self.shared.send(&build(seq), what)?;
        let deadline = Instant::now() + ACK_TIMEOUT;
        while Instant::now() < deadline {
            let slot = &mut self.slots[..self.slot_len];
            // SAFETY: slot is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.shared.fd.as_raw_fd(),
                    slot.as_mut_ptr().cast(),
                    slot.len(),
                    0,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => continue,
                    Some(libc::ENOBUFS) => {
                        self.counters.overruns += 1;
                        continue;
                    }
                    _ => return Err(LiveError::queue(queue, "recv(ack)", err)),
                }
            }
            let datagram = &self.slots[..n.unsigned_abs()];
            let mut early = Vec::new();
            let mut status = None;
            for msg in Messages::new(datagram) {
                let Ok(msg) = msg else {
                    self.counters.malformed += 1;
                    break;
                };
                match netlink::decode(&msg) {
                    Ok(Reply::Status { seq: s, errno }) if s == seq => status = Some(errno),
                    Ok(Reply::Packet(p)) => early.push(p.id),
                    Ok(_) => {}
                    Err(_) => self.counters.malformed += 1,
                }
            }
            for id in early {
                self.shared.verdict(id, Verdict::Accept, false)?;
            }
            match status {
                Some(0) => return Ok(()),
                Some(errno) => {
                    return Err(LiveError::QueueRefused {
                        queue,
                        request: what,
                        source: io::Error::from_raw_os_error(errno),
                    })
                }
                None => {}
            }
        }
        Err(LiveError::QueueTimeout {
            queue,
            request: what,
            timeout: ACK_TIMEOUT,
        })
    }

    pub fn queue(&self) -> u16 {
        self.shared.queue
    }

    /// A handle for sending verdicts from other threads.
    pub fn verdict_sender(&self) -> VerdictSender {
        VerdictSender {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Sends the verdict on packet `id`.
    pub fn verdict(&self, id: u32, verdict: Verdict) -> Result<(), LiveError> {
        self.shared.verdict(id, verdict, false)
    }

    pub fn counters(&self) -> NfQueueCounters {
        NfQueueCounters {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            ..self.counters
        }
    }

    /// The next queued packet, or `Ok(None)` when none came within the read timeout (or a
    /// receive was interrupted or overrun), so the caller can check its stop flag.
    pub fn next_packet(&mut self) -> Result<Option<NfPacket<'_>>, LiveError> {
        let Some((slot, start, end)) = self.next_packet_message()? else {
            return Ok(None);
        };
        let base = slot * self.slot_len;
        let msg_bytes = &self.slots[base + start..base + end];
        // Decoded once already by next_packet_message; decoding again keeps the borrow simple.
        let Some(Ok(msg)) = Messages::new(msg_bytes).next() else {
            return Ok(None);
        };
        let Ok(Reply::Packet(p)) = netlink::decode(&msg) else {
            return Ok(None);
        };
        Ok(Some(NfPacket {
            id: p.id,
            queue: self.shared.queue,
            ts_us: p.timestamp_us.unwrap_or_else(now_us),
            data: p.payload,
            orig_len: p
                .cap_len
                .unwrap_or(u32::try_from(p.payload.len()).unwrap_or(u32::MAX)),
            family: p.family,
            hook: p.hook,
            indev: p.indev,
            outdev: p.outdev,
            mark: p.mark,
        }))
    }

    /// Finds the next packet message, receiving when the last batch is used up; returns its
    /// slot and byte range.
    fn next_packet_message(&mut self) -> Result<Option<(usize, usize, usize)>, LiveError> {
        // Bounded: a batch holds at most `batch` datagrams; one receive per call.
        let mut received = false;
        loop {
            while self.cursor.slot < self.cursor.filled {
                let slot = self.cursor.slot;
                let base = slot * self.slot_len;
                let datagram = &self.slots[base..base + self.lens[slot]];
                let start = self.cursor.offset;
                let rest = datagram.get(start..).unwrap_or(&[]);
                let mut msgs = Messages::new(rest);
                let Some(item) = msgs.next() else {
                    self.cursor.slot += 1;
                    self.cursor.offset = 0;
                    continue;
                };
                self.cursor.offset = start + msgs.position();
                let msg = match item {
                    Ok(msg) => msg,
                    Err(e) => {
                        self.counters.malformed += 1;
                        tracing::warn!(queue = self.shared.queue, error = %e, "malformed NFQUEUE message");
                        if let Some((_, id)) = netlink::salvage_packet_id(rest) {
                            self.shared.verdict(id, Verdict::Accept, false)?;
                        }
                        continue;
                    }
                };
                if msg.portid != 0 {
                    // Not from the kernel; only a CAP_NET_ADMIN process could send it.
                    self.counters.malformed += 1;
                    continue;
                }
                match netlink::decode(&msg) {
                    Ok(Reply::Packet(p)) => {
                        self.counters.packets += 1;
                        self.counters.bytes += p.payload.len() as u64;
                        self.last_id = Some(p.id);
                        let end = start + msg.body.len() + netlink::NLMSG_HDRLEN;
                        return Ok(Some((slot, start, end)));
                    }
                    Ok(Reply::Status { errno: 0, .. }) | Ok(Reply::Other { .. }) => {}
                    Ok(Reply::Status { errno, seq }) => {
                        self.counters.kernel_errors += 1;
                        tracing::debug!(
                            queue = self.shared.queue,
                            seq,
                            errno,
                            "kernel refused a verdict"
                        );
                    }
                    Err(e) => {
                        self.counters.malformed += 1;
                        tracing::warn!(queue = self.shared.queue, error = %e, "malformed NFQUEUE message");
                        let msg_len = netlink::NLMSG_HDRLEN + msg.body.len();
                        if let Some((_, id)) = netlink::salvage_packet_id(&rest[..msg_len]) {
                            self.shared.verdict(id, Verdict::Accept, false)?;
                        }
                    }
                }
            }
            if received {
                return Ok(None);
            }
            received = true;
            if !self.receive_batch()? {
                return Ok(None);
            }
        }
    }

    /// Receives up to `batch` datagrams; `false` when none arrived in time.
    fn receive_batch(&mut self) -> Result<bool, LiveError> {
        let batch = self.lens.len();
        let mut iovs: Vec<libc::iovec> = self
            .slots
            .chunks_exact_mut(self.slot_len)
            .map(|s| libc::iovec {
                iov_base: s.as_mut_ptr().cast(),
                iov_len: s.len(),
            })
            .collect();
        // SAFETY: sockaddr_nl and mmsghdr are plain data.
        let mut names: Vec<libc::sockaddr_nl> = vec![unsafe { mem::zeroed() }; batch];
        let mut hdrs: Vec<libc::mmsghdr> = Vec::with_capacity(batch);
        for (iov, name) in iovs.iter_mut().zip(names.iter_mut()) {
            // SAFETY: all-zero msghdr is valid; pointers set below outlive the call.
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_name = (name as *mut libc::sockaddr_nl).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            hdrs.push(h);
        }
        // SAFETY: hdrs points at batch valid msghdrs whose buffers live until the call ends.
        let n = unsafe {
            libc::recvmmsg(
                self.shared.fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                batch as libc::c_uint,
                libc::MSG_WAITFORONE as _,
                std::ptr::null_mut(),
            )
        };
        self.cursor = Cursor::default();
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => Ok(false),
                Some(libc::ENOBUFS) => {
                    self.counters.overruns += 1;
                    tracing::warn!(
                        queue = self.shared.queue,
                        "NFQUEUE socket overrun (ENOBUFS)"
                    );
                    Ok(false)
                }
                _ => Err(LiveError::queue(self.shared.queue, "recvmmsg", err)),
            };
        }
        let n = n.unsigned_abs() as usize;
        for i in 0..n.min(batch) {
            let h = &hdrs[i];
            let len = (h.msg_len as usize).min(self.slot_len);
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                // Cannot happen with the slot headroom; if it does, free the packet.
                self.counters.malformed += 1;
                let base = i * self.slot_len;
                if let Some((_, id)) = netlink::salvage_packet_id(&self.slots[base..base + len]) {
                    self.shared.verdict(id, Verdict::Accept, false)?;
                }
                self.lens[i] = 0;
            } else if names[i].nl_pid != 0 {
                self.counters.malformed += 1;
                self.lens[i] = 0;
            } else {
                self.lens[i] = len;
            }
        }
        self.cursor.filled = n.min(batch);
        Ok(true)
    }

    /// Reads what is already waiting without blocking, accepting every packet, so shutdown
    /// leaves as few packets as possible to the kernel's flush.
    fn drain_and_accept(&mut self) {
        for _ in 0..4096 {
            let slot = &mut self.slots[..self.slot_len];
            // SAFETY: slot is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.shared.fd.as_raw_fd(),
                    slot.as_mut_ptr().cast(),
                    slot.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
                    continue;
                }
                return;
            }
            let datagram = &self.slots[..n.unsigned_abs()];
            for msg in Messages::new(datagram).map_while(Result::ok) {
                if let Ok(Reply::Packet(p)) = netlink::decode(&msg) {
                    self.last_id = Some(p.id);
                }
            }
        }
    }
}

impl Drop for NfQueue {
    fn drop(&mut self) {
        self.drain_and_accept();
        if let Some(id) = self.last_id {
            if let Err(e) = self.shared.verdict(id, Verdict::Accept, true) {
                tracing::warn!(queue = self.shared.queue, error = %e, "accepting pending packets on shutdown");
            }
        }
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let unbind = netlink::config_command(seq, self.shared.queue, ConfigCommand::Unbind, 0);
        let _ = self.shared.send(&unbind, "NFQNL_CFG_CMD_UNBIND");
    }
}

/// A packet waiting in the queue; answer it with [`NfQueue::verdict`] or a
/// [`VerdictSender`] naming its `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NfPacket<'a> {
    pub id: u32,
    pub queue: u16,
    /// Kernel receive time when the packet has one, else the time it was read.
    pub ts_us: u64,
    /// The IP packet (link type raw IP), cut at the copy range.
    pub data: &'a [u8],
    /// Length of the whole packet.
    pub orig_len: u32,
    /// `NFPROTO_IPV4` (2) or `NFPROTO_IPV6` (10) for IP hooks.
    pub family: u8,
    /// Netfilter hook (0 prerouting, 1 input, 2 forward, 3 output, 4 postrouting).
    pub hook: u8,
    pub indev: Option<u32>,
    pub outdev: Option<u32>,
    pub mark: Option<u32>,
}
