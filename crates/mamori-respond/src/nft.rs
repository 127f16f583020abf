//! Running `nft`, never through a shell: `nft -f -` with the script on stdin, `nft -j` for
//! listings, each optionally inside a named network namespace via `ip netns exec`.
//!
//! Output is read up to a fixed limit so a huge table cannot exhaust memory, and nft runs
//! with `TZ=UTC` so the times it prints (`meta time` bounds) are unambiguous.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use crate::RespondError;

/// The most output read from one nft run: about 200k set elements in JSON.
const MAX_OUTPUT: u64 = 64 << 20;

/// Where nft runs: this namespace, or a named one.
#[derive(Debug, Clone)]
pub(crate) struct Nft {
    netns: Option<String>,
}

/// What one nft run printed.
pub(crate) struct Output {
    pub stdout: Vec<u8>,
}

impl Nft {
    pub fn new(netns: Option<String>) -> Nft {
        Nft { netns }
    }

    /// Runs `nft <args>` with `stdin` as its input; `doing` names the step in errors.
    pub fn run(&self, args: &[&str], stdin: &str, doing: &str) -> Result<Output, RespondError> {
        let (program, package, mut cmd) = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, "nft"]);
                ("ip", "iproute2", cmd)
            }
            None => ("nft", "nftables", Command::new("nft")),
        };
        cmd.args(args)
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tracing::debug!(netns = ?self.netns, ?args, doing, script_bytes = stdin.len(), "running nft");
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                RespondError::NotFound { program, package }
            } else {
                RespondError::Spawn {
                    program,
                    doing: doing.to_string(),
                    source: e,
                }
            }
        })?;
        let spawn_err = |source| RespondError::Spawn {
            program,
            doing: doing.to_string(),
            source,
        };
        let (Some(mut input), Some(out), Some(err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(spawn_err(std::io::Error::other("no pipes to the child")));
        };
        // Feed stdin and drain stderr on their own threads so no pipe fills up and stalls.
        let (stdout, stderr, written) = std::thread::scope(|s| {
            let writer = s.spawn(move || input.write_all(stdin.as_bytes()));
            let errors = s.spawn(move || read_limited(err));
            let stdout = read_limited(out);
            let stderr = errors.join().unwrap_or_else(|_| Ok(Vec::new()));
            let written = writer.join().unwrap_or(Ok(()));
            (stdout, stderr, written)
        });
        let status = child.wait().map_err(spawn_err)?;
        let stdout = stdout.map_err(spawn_err)?;
        let stderr = String::from_utf8_lossy(&stderr.map_err(spawn_err)?)
            .trim()
            .to_string();
        if !status.success() {
            tracing::warn!(netns = ?self.netns, doing, %stderr, "nft failed");
            if let Some(netns) = &self.netns {
                if stderr.contains("Cannot open network namespace") {
                    return Err(RespondError::NoNamespace {
                        netns: netns.clone(),
                        stderr,
                    });
                }
            }
            if stderr.contains("Operation not permitted") {
                return Err(RespondError::NotPermitted {
                    doing: doing.to_string(),
                    stderr,
                });
            }
            if stderr.contains("exec of \"nft\" failed") || stderr.contains("exec of nft failed") {
                return Err(RespondError::NotFound {
                    program: "nft",
                    package: "nftables",
                });
            }
            return Err(RespondError::Nft {
                doing: doing.to_string(),
                stderr,
            });
        }
        // nft reads all of stdin before acting, so a short write means it failed above.
        written.map_err(spawn_err)?;
        Ok(Output { stdout })
    }

    /// Runs a script as one transaction.
    pub fn script(&self, script: &str, doing: &str) -> Result<(), RespondError> {
        self.run(&["-f", "-"], script, doing).map(|_| ())
    }
}

fn read_limited(r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut limited = r.take(MAX_OUTPUT);
    limited.read_to_end(&mut buf)?;
    // Keep draining so the child never blocks on a full pipe, but keep none of it.
    let rest = std::io::copy(&mut limited.into_inner(), &mut std::io::sink())?;
    if rest > 0 {
        return Err(std::io::Error::other(format!(
            "output longer than {} MiB",
            MAX_OUTPUT >> 20
        )));
    }
    Ok(buf)
}
