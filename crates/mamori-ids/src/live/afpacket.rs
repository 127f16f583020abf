//! Live capture from one network interface with an `AF_PACKET` socket.
//!
//! [`AfPacket::open`] binds a packet socket to the interface for every protocol
//! (`ETH_P_ALL`), optionally turns on promiscuous mode (a membership of the socket, undone
//! by the kernel when the socket closes), sets the receive buffer and a read timeout, and
//! asks the kernel for a receive timestamp and the VLAN tag of each packet.
//! [`AfPacket::next_packet`] reads one frame with `recvmsg`.
//!
//! Input: every frame the interface sends or receives, in the network namespace of the
//! thread that opened the socket. The link type follows the interface's hardware type:
//! Ethernet and loopback give Ethernet frames (link type 1), tun, WireGuard and other
//! header-less devices give raw IP (101), anything else is read in "cooked" mode with a
//! Linux SLL header (113), the way libpcap does it. VLAN tags the NIC stripped (hardware
//! offload) are put back into Ethernet frames so rules and flows see the VLAN.
//!
//! What it does not do: no memory-mapped ring (`TPACKET_V3`) yet — one system call per
//! packet, fine for an SME uplink, not for 10 Gbit/s; no BPF filter; no inline mode (use
//! [`super::nfqueue`] for that). Frames longer than the snap length are cut; `orig_len`
//! says how long they were. On loopback every packet shows up twice, once outgoing and
//! once incoming, unless [`Direction::Incoming`] is chosen.
//!
//! One thread reads a socket. To spread an interface over several reader threads, open one
//! [`AfPacket`] per thread with the same [`AfPacketConfig::fanout_group`]: the kernel then
//! hashes each flow to one socket.

use std::ffi::CString;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::{now_us, setsockopt, LiveError};
use crate::decode::{LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW};

/// Which packets to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Sent and received, like Suricata's default.
    #[default]
    Both,
    /// Received only (drops `PACKET_OUTGOING`).
    Incoming,
}

/// How to open the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfPacketConfig {
    pub promiscuous: bool,
    /// Longest frame kept; longer ones are cut.
    pub snaplen: usize,
    /// Socket receive buffer in bytes (`SO_RCVBUFFORCE` when allowed); `None` keeps the
    /// system default.
    pub recv_buffer: Option<usize>,
    /// How long [`AfPacket::next_packet`] waits before returning `Ok(None)`.
    pub read_timeout: Duration,
    pub direction: Direction,
    /// Share the interface's packets by flow hash with other sockets of this group id.
    pub fanout_group: Option<u16>,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        Self {
            promiscuous: true,
            // libpcap's maximum: large enough for GRO/GSO super-packets on veth and lo.
            snaplen: 262_144,
            recv_buffer: Some(8 << 20),
            read_timeout: Duration::from_millis(100),
            direction: Direction::Both,
            fanout_group: None,
        }
    }
}

/// Counters of one capture. `kernel_*` come from `PACKET_STATISTICS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfPacketCounters {
    /// Frames handed to the caller.
    pub packets: u64,
    pub bytes: u64,
    /// Frames skipped because of [`Direction::Incoming`].
    pub skipped_outgoing: u64,
    /// Frames the kernel passed to the socket.
    pub kernel_packets: u64,
    /// Frames the kernel dropped because the socket buffer was full.
    pub kernel_drops: u64,
}

/// How the kernel classified a frame (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this host.
    Host,
    Broadcast,
    Multicast,
    /// Addressed to another host (seen in promiscuous mode).
    OtherHost,
    /// Sent by this host.
    Outgoing,
    Other(u8),
}

impl PacketType {
    fn from_raw(t: u8) -> Self {
        match t {
            0 => PacketType::Host,
            1 => PacketType::Broadcast,
            2 => PacketType::Multicast,
            3 => PacketType::OtherHost,
            4 => PacketType::Outgoing,
            t => PacketType::Other(t),
        }
    }
}

/// A captured frame, borrowed from the capture's buffer until the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePacket<'a> {
    /// Kernel receive time, microseconds since the Unix epoch.
    pub ts_us: u64,
    /// `LINKTYPE_*` of `data`.
    pub linktype: u32,
    pub data: &'a [u8],
    /// Length of the frame on the wire (more than `data.len()` when cut at the snap length).
    pub orig_len: u32,
    pub packet_type: PacketType,
}

const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const ETH_P_8021Q: u16 = 0x8100;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_RAWIP: u16 = 519;
const ARPHRD_NONE: u16 = 0xfffe;
const SLL_HDR_LEN: usize = 16;
/// Room in front of the frame for an SLL header or a re-inserted VLAN tag.
const HEADROOM: usize = SLL_HDR_LEN;

/// `struct tpacket_auxdata`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct AuxData {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// `struct ifreq` as `SIOCGIFHWADDR` uses it: the name, then a `sockaddr` whose family is
/// the hardware type. 40 bytes like the kernel's.
#[repr(C)]
struct IfReqHwAddr {
    name: [libc::c_char; libc::IFNAMSIZ],
    family: u16,
    data: [u8; 22],
}

/// How frames of an interface are read and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `SOCK_RAW`; the frame as the device has it.
    Raw(u32),
    /// `SOCK_DGRAM` plus a Linux SLL header built from the socket address.
    Cooked,
}

/// Link type for a device's `ARPHRD_*` hardware type.
fn framing_for(arphrd: u16) -> Framing {
    match arphrd {
        ARPHRD_ETHER | ARPHRD_LOOPBACK => Framing::Raw(LINKTYPE_ETHERNET),
        ARPHRD_NONE | ARPHRD_RAWIP => Framing::Raw(LINKTYPE_RAW),
        _ => Framing::Cooked,
    }
}

/// A packet socket bound to one interface.
#[derive(Debug)]
pub struct AfPacket {
    fd: OwnedFd,
    iface: String,
    ifindex: i32,
    arphrd: u16,
    framing: Framing,
    direction: Direction,
    /// `HEADROOM` bytes, then `snaplen` bytes for the frame.
    buf: Vec<u8>,
    counters: AfPacketCounters,
}

impl AfPacket {
    /// Opens a capture on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str, config: &AfPacketConfig) -> Result<AfPacket, LiveError> {
        let err =
            |call: &'static str| LiveError::interface(iface, call, io::Error::last_os_error());
        if iface.is_empty() || iface.len() >= libc::IFNAMSIZ {
            return Err(LiveError::interface(
                iface,
                "if_nametoindex",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "interface names are 1 to 15 bytes",
                ),
            ));
        }
        let cname = CString::new(iface).map_err(|_| {
            LiveError::interface(
                iface,
                "if_nametoindex",
                io::Error::new(io::ErrorKind::InvalidInput, "interface name contains NUL"),
            )
        })?;
        // SAFETY: cname is a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(err("if_nametoindex"));
        }
        let ifindex = i32::try_from(ifindex).map_err(|_| {
            LiveError::interface(
                iface,
                "if_nametoindex",
                io::Error::other("interface index out of range"),
            )
        })?;

        // Protocol 0: the socket receives nothing until it is bound to the interface, so no
        // frame of another interface slips in between socket() and bind().
        let open_socket = |kind: libc::c_int| {
            // SAFETY: plain system call.
            let fd = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(err("socket(AF_PACKET)"));
            }
            // SAFETY: fd is a fresh descriptor we own.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let probe = open_socket(libc::SOCK_RAW)?;
        let arphrd = hardware_type(&probe, &cname)
            .map_err(|e| LiveError::interface(iface, "ioctl(SIOCGIFHWADDR)", e))?;
        let framing = framing_for(arphrd);
        let fd = match framing {
            Framing::Raw(_) => probe,
            Framing::Cooked => {
                drop(probe);
                open_socket(libc::SOCK_DGRAM)?
            }
        };

        let on: libc::c_int = 1;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_TIMESTAMP, &on)
            .map_err(|e| LiveError::interface(iface, "setsockopt(SO_TIMESTAMP)", e))?;
        setsockopt(&fd, libc::SOL_PACKET, PACKET_AUXDATA, &on)
            .map_err(|e| LiveError::interface(iface, "setsockopt(PACKET_AUXDATA)", e))?;
        let tv = super::timeval(config.read_timeout);
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
            .map_err(|e| LiveError::interface(iface, "setsockopt(SO_RCVTIMEO)", e))?;
        if let Some(size) = config.recv_buffer {
            let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
            if setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size).is_err() {
                setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &size)
                    .map_err(|e| LiveError::interface(iface, "setsockopt(SO_RCVBUF)", e))?;
            }
        }
        if config.direction == Direction::Incoming {
            // Linux 4.20+; older kernels fall back to skipping in next_packet.
            let _ = setsockopt(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &on);
        }

        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: sll is a valid sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(err("bind(AF_PACKET)"));
        }

        if config.promiscuous {
            // SAFETY: packet_mreq is plain data.
            let mut mreq: libc::packet_mreq = unsafe { mem::zeroed() };
            mreq.mr_ifindex = ifindex;
            mreq.mr_type = libc::PACKET_MR_PROMISC as u16;
            setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
                .map_err(|e| LiveError::interface(iface, "setsockopt(PACKET_ADD_MEMBERSHIP)", e))?;
        }
        if let Some(group) = config.fanout_group {
            let arg = u32::from(group) | (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG) << 16;
            setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
                .map_err(|e| LiveError::interface(iface, "setsockopt(PACKET_FANOUT)", e))?;
        }

        let snaplen = config.snaplen.clamp(64, 1 << 20);
        let mut capture = AfPacket {
            fd,
            iface: iface.to_owned(),
            ifindex,
            arphrd,
            framing,
            direction: config.direction,
            buf: vec![0; HEADROOM + snaplen],
            counters: AfPacketCounters::default(),
        };
        // Start the kernel counters at zero (reading them resets them).
        capture.read_kernel_stats()?;
        capture.counters = AfPacketCounters::default();
        Ok(capture)
    }

    pub fn interface(&self) -> &str {
        &self.iface
    }

    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// The `LINKTYPE_*` of the frames this capture returns.
    pub fn linktype(&self) -> u32 {
        match self.framing {
            Framing::Raw(lt) => lt,
            Framing::Cooked => LINKTYPE_LINUX_SLL,
        }
    }

    /// The interface's `ARPHRD_*` hardware type.
    pub fn hardware_type(&self) -> u16 {
        self.arphrd
    }

    /// The next frame, or `Ok(None)` when none came within the read timeout (or the read
    /// was interrupted), so the caller can check its stop flag.
    pub fn next_packet(&mut self) -> Result<Option<LivePacket<'_>>, LiveError> {
        // Bounded: only skipped outgoing frames loop, and at most this many per call.
        for _ in 0..1024 {
            // SAFETY: sockaddr_ll is plain data.
            let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
            let mut control = [0u64; 16];
            let frame = &mut self.buf[HEADROOM..];
            let mut iov = libc::iovec {
                iov_base: frame.as_mut_ptr().cast(),
                iov_len: frame.len(),
            };
            // SAFETY: all-zero msghdr is valid; every pointer set outlives the call.
            let mut msg: libc::msghdr = unsafe { mem::zeroed() };
            msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = mem::size_of_val(&control) as _;
            // SAFETY: msg describes valid buffers; MSG_TRUNC makes the result the frame's
            // real length.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => Ok(None),
                    _ => Err(LiveError::interface(&self.iface, "recvmsg", e)),
                };
            }
            let wire_len = n.unsigned_abs();
            let packet_type = PacketType::from_raw(from.sll_pkttype);
            if packet_type == PacketType::Outgoing && self.direction == Direction::Incoming {
                self.counters.skipped_outgoing += 1;
                continue;
            }
            let (ts, aux) = control_messages(&msg);
            let captured = wire_len.min(self.buf.len() - HEADROOM);
            let (start, extra) = match self.framing {
                Framing::Raw(LINKTYPE_ETHERNET) => {
                    match aux.filter(|a| a.tp_status & TP_STATUS_VLAN_VALID != 0) {
                        Some(a) if captured >= 12 => {
                            let tpid = if a.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                                a.tp_vlan_tpid
                            } else {
                                ETH_P_8021Q
                            };
                            insert_vlan_tag(&mut self.buf, HEADROOM, tpid, a.tp_vlan_tci);
                            (HEADROOM - 4, 4)
                        }
                        _ => (HEADROOM, 0),
                    }
                }
                Framing::Raw(_) => (HEADROOM, 0),
                Framing::Cooked => {
                    self.buf[..SLL_HDR_LEN].copy_from_slice(&sll_header(&from));
                    (0, SLL_HDR_LEN)
                }
            };
            let data = &self.buf[start..HEADROOM + captured];
            self.counters.packets += 1;
            self.counters.bytes += data.len() as u64;
            return Ok(Some(LivePacket {
                ts_us: ts.unwrap_or_else(now_us),
                linktype: self.linktype(),
                data,
                orig_len: u32::try_from(wire_len + extra).unwrap_or(u32::MAX),
                packet_type,
            }));
        }
        Ok(None)
    }

    /// Adds the kernel's counters since the last call (reading resets them in the kernel).
    fn read_kernel_stats(&mut self) -> Result<(), LiveError> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: st is valid for len bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(LiveError::interface(
                &self.iface,
                "getsockopt(PACKET_STATISTICS)",
                io::Error::last_os_error(),
            ));
        }
        self.counters.kernel_packets += u64::from(st.tp_packets);
        self.counters.kernel_drops += u64::from(st.tp_drops);
        Ok(())
    }

    /// Counters so far, with the kernel's drop count brought up to date.
    pub fn counters(&mut self) -> Result<AfPacketCounters, LiveError> {
        self.read_kernel_stats()?;
        Ok(self.counters)
    }
}

/// The interface's hardware type (`ARPHRD_*`).
fn hardware_type(fd: &OwnedFd, name: &CString) -> io::Result<u16> {
    let mut req = IfReqHwAddr {
        name: [0; libc::IFNAMSIZ],
        family: 0,
        data: [0; 22],
    };
    for (d, s) in req.name.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: req has the size and layout of struct ifreq for SIOCGIFHWADDR.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SIOCGIFHWADDR as _,
            &mut req as *mut IfReqHwAddr,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(req.family)
}

/// Moves the two MAC addresses 4 bytes forward and writes the VLAN tag after them; the
/// frame starts at `at` and the tagged frame at `at - 4`.
fn insert_vlan_tag(buf: &mut [u8], at: usize, tpid: u16, tci: u16) {
    buf.copy_within(at..at + 12, at - 4);
    buf[at + 8..at + 10].copy_from_slice(&tpid.to_be_bytes());
    buf[at + 10..at + 12].copy_from_slice(&tci.to_be_bytes());
}

/// The Linux cooked-capture header (`LINKTYPE_LINUX_SLL`) for a frame from `from`.
fn sll_header(from: &libc::sockaddr_ll) -> [u8; SLL_HDR_LEN] {
    let mut h = [0u8; SLL_HDR_LEN];
    h[0..2].copy_from_slice(&u16::from(from.sll_pkttype).to_be_bytes());
    h[2..4].copy_from_slice(&from.sll_hatype.to_be_bytes());
    let alen = usize::from(from.sll_halen).min(8);
    h[4..6].copy_from_slice(&(alen as u16).to_be_bytes());
    h[6..6 + alen].copy_from_slice(&from.sll_addr[..alen]);
    // sll_protocol is already in network byte order.
    h[14..16].copy_from_slice(&from.sll_protocol.to_ne_bytes());
    h
}

/// The receive timestamp (`SCM_TIMESTAMP`) and VLAN/aux data (`PACKET_AUXDATA`).
fn control_messages(msg: &libc::msghdr) -> (Option<u64>, Option<AuxData>) {
    let (mut ts, mut aux) = (None, None);
    // SAFETY: msg was filled by recvmsg; the CMSG macros stay within msg_controllen, and
    // payloads are read unaligned after checking their length.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMP)
                    if len >= mem::size_of::<libc::timeval>() =>
                {
                    let tv: libc::timeval = std::ptr::read_unaligned(data.cast());
                    let us = u64::try_from(tv.tv_sec)
                        .unwrap_or(0)
                        .saturating_mul(1_000_000);
                    ts = Some(us.saturating_add(u64::try_from(tv.tv_usec).unwrap_or(0)));
                }
                (libc::SOL_PACKET, PACKET_AUXDATA) if len >= mem::size_of::<AuxData>() => {
                    aux = Some(std::ptr::read_unaligned(data.cast()));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    (ts, aux)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_types_map_to_link_types() {
        assert_eq!(framing_for(ARPHRD_ETHER), Framing::Raw(LINKTYPE_ETHERNET));
        assert_eq!(
            framing_for(ARPHRD_LOOPBACK),
            Framing::Raw(LINKTYPE_ETHERNET)
        );
        assert_eq!(framing_for(ARPHRD_NONE), Framing::Raw(LINKTYPE_RAW));
        assert_eq!(framing_for(ARPHRD_RAWIP), Framing::Raw(LINKTYPE_RAW));
        assert_eq!(framing_for(512), Framing::Cooked); // PPP
        assert_eq!(framing_for(778), Framing::Cooked); // GRE
    }

    #[test]
    fn stripped_vlan_tag_is_put_back_after_the_mac_addresses() {
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(&[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0x45]);
        insert_vlan_tag(&mut buf, HEADROOM, 0x8100, 0x0064);
        assert_eq!(
            &buf[HEADROOM - 4..],
            &[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45]
        );
        let p = crate::decode::decode(LINKTYPE_ETHERNET, &buf[HEADROOM - 4..]);
        assert_eq!(p.vlans(), &[100]);
    }

    #[test]
    fn cooked_header_carries_type_address_and_protocol() {
        // SAFETY: sockaddr_ll is plain data.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_pkttype = 4;
        sll.sll_hatype = 512;
        sll.sll_halen = 6;
        sll.sll_addr = [1, 2, 3, 4, 5, 6, 0, 0];
        sll.sll_protocol = 0x0800u16.to_be();
        assert_eq!(
            sll_header(&sll),
            [0, 4, 2, 0, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]
        );
        sll.sll_halen = 200;
        assert_eq!(sll_header(&sll)[4..6], [0, 8]);
    }
}
