//! Network namespaces for the live-capture tests: a guard that deletes its namespaces on
//! drop (also when a test fails), a veth pair between two of them, and a way to run code
//! inside one (a thread that `setns`es into it; sockets opened there stay in that namespace).
//!
//! Tests skip with a printed reason when they cannot create namespaces (not root, no
//! `ip`), unless `CI` is set: CI runs as root and must run them.

#![allow(dead_code)]

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Prints why the test cannot run and returns `true`, or fails the test under CI.
pub fn skip(reason: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test must run: {reason}");
    }
    eprintln!("skipped: {reason}");
    true
}

/// Why namespaces cannot be used here, if they cannot.
pub fn unusable() -> Option<String> {
    // SAFETY: plain system call.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root for network namespaces".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`ip -V` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!("`ip` (iproute2) not runnable: {e}")),
    }
}

/// Runs a command, returning its stderr as the error.
pub fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A uniquely named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Result<Netns, String> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("mamori-t{}-{n}-{tag}", std::process::id());
        run(&["ip", "netns", "add", &name])?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", &self.name];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.setns_current_thread();
                f()
            })
            .join()
            .expect("thread inside the namespace panicked")
        })
    }

    /// Moves the calling thread into the namespace. Only for threads the test owns.
    pub fn setns_current_thread(&self) {
        let path = CString::new(format!("/var/run/netns/{}", self.name)).expect("no NUL in name");
        // SAFETY: plain system calls on a descriptor this function owns.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            assert!(
                fd >= 0,
                "open {}: {}",
                self.name,
                std::io::Error::last_os_error()
            );
            let rc = libc::setns(fd, libc::CLONE_NEWNET);
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            assert!(rc == 0, "setns {}: {err}", self.name);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.name]) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Two namespaces joined by a veth pair: `a0` (`a_ip`/24) in `a`, `b0` (`b_ip`/24) in `b`.
pub struct VethPair {
    pub a: Netns,
    pub b: Netns,
    pub a_ip: Ipv4Addr,
    pub b_ip: Ipv4Addr,
}

impl VethPair {
    pub fn new() -> Result<VethPair, String> {
        let a = Netns::new("a")?;
        let b = Netns::new("b")?;
        let n = (NEXT.fetch_add(1, Ordering::Relaxed) % 250) as u8;
        let (a_ip, b_ip) = (Ipv4Addr::new(10, 213, n, 1), Ipv4Addr::new(10, 213, n, 2));
        run(&[
            "ip", "link", "add", "a0", "netns", &a.name, "type", "veth", "peer", "name", "b0",
            "netns", &b.name,
        ])?;
        a.exec(&["ip", "addr", "add", &format!("{a_ip}/24"), "dev", "a0"])?;
        b.exec(&["ip", "addr", "add", &format!("{b_ip}/24"), "dev", "b0"])?;
        a.exec(&["ip", "link", "set", "a0", "up"])?;
        b.exec(&["ip", "link", "set", "b0", "up"])?;
        Ok(VethPair { a, b, a_ip, b_ip })
    }
}

/// Internet checksum.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends one ICMP echo request from the calling thread's namespace (a raw socket; root).
pub fn ping(to: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> std::io::Result<()> {
    let mut msg = vec![8, 0, 0, 0];
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&seq.to_be_bytes());
    msg.extend_from_slice(payload);
    let sum = checksum(&msg);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    // SAFETY: plain system calls with valid buffers.
    unsafe {
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        );
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(to).to_be();
        let n = libc::sendto(
            fd,
            msg.as_ptr().cast(),
            msg.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
    }
    Ok(())
}
