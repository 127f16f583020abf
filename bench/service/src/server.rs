//! The real `mamori` binary under test: commands run to completion, `mamori up` (console
//! or sensor) as a child process on a loopback port, and a provider admin's session.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to run `mamori` against one data directory (and store).
#[derive(Clone)]
pub struct Mamori {
    pub bin: PathBuf,
    pub data: PathBuf,
    pub store: Option<String>,
}

impl Mamori {
    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--data").arg(&self.data);
        if let Some(s) = &self.store {
            c.arg("--store").arg(s);
        }
        c.env("MAMORI_LOG", "warn");
        c
    }

    /// Runs `mamori ARGS` to completion; answers its stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        if !out.status.success() {
            bail!(
                "mamori {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `mamori token create --tenant T`: the token, printed alone on the last line.
    pub fn token(&self, tenant: &str) -> Result<String> {
        let out = self.run(&["token", "create", "--tenant", tenant])?;
        out.lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_string)
            .context("token create printed no token")
    }

    /// Starts `mamori up --listen LISTEN EXTRA…` and waits until it accepts connections.
    /// The first start of a console prints the first admin's password, which is kept.
    pub fn up(&self, listen: &str, extra: &[&str]) -> Result<Server> {
        let mut child = self
            .command()
            .args(["up", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting mamori up")?;
        let stdout = child.stdout.take().context("mamori up's stdout")?;
        // Read stdout for the server's whole life so that it never writes into a closed pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.trim().strip_prefix("password:") {
                    let _ = tx.send(p.trim().to_string());
                }
            }
        });
        let mut server = Server {
            child,
            listen: listen.to_string(),
            password: None,
        };
        let deadline = Instant::now() + Duration::from_secs(300);
        while std::net::TcpStream::connect(listen).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("mamori up on {listen} exited early: {status}");
            }
            if Instant::now() > deadline {
                bail!("mamori up did not listen on {listen} within 300 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The password line comes before the console listens.
        server.password = rx.recv_timeout(Duration::from_millis(500)).ok();
        Ok(server)
    }
}

/// A running `mamori up`; killed when dropped.
pub struct Server {
    child: Child,
    pub listen: String,
    pub password: Option<String>,
}

impl Server {
    /// Stops it with SIGTERM, as an operator would, so that it finishes what it holds;
    /// killed after `grace`.
    pub fn stop(mut self, grace: Duration) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "mamori up on {} did not stop within {grace:?}; killed",
            self.listen
        );
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A free loopback port (free when asked; the caller binds it soon after).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
}

/// Logs in through the login form (its CSRF cookie and field); answers the session cookie
/// to send as the `cookie` header.
pub async fn login(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> Result<String> {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .context("GET /login")?;
    let csrf_cookie = cookie(&page, "mamori_login_csrf").context("no login CSRF cookie")?;
    let csrf = csrf_cookie
        .trim_start_matches("mamori_login_csrf=")
        .to_string();
    let resp = client
        .post(format!("{base}/login"))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .context("POST /login")?;
    cookie(&resp, "mamori_session")
        .with_context(|| format!("login as {email} failed: {}", resp.status()))
}

/// GET a JSON document, failing on any status but 2xx.
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    auth: &Auth,
) -> Result<serde_json::Value> {
    let resp = auth
        .apply(client.get(url))
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let text = resp.text().await.with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!(
            "GET {url}: {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    serde_json::from_str(&text).with_context(|| format!("GET {url}: not JSON"))
}

/// How a request proves who sends it.
#[derive(Clone)]
pub enum Auth {
    /// A console session cookie (`mamori_session=…`).
    Session(String),
    /// A tenant's API token.
    Bearer(String),
}

impl Auth {
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Session(c) => req.header("cookie", c),
            Auth::Bearer(t) => req.bearer_auth(t),
        }
    }
}

/// Writes the current monthly report's files as already made for every tenant, so that the
/// console's hourly report job (which otherwise writes last month's report for each tenant
/// a minute after start) does not run during the measurement: in service it runs once a
/// month, and it is not what this benchmark measures.
pub fn mark_reports_made(data: &Path, tenants: impl Iterator<Item = String>) -> Result<()> {
    let jst = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9));
    let (year, month) = match jst.month() as u8 {
        1 => (jst.year() - 1, 12),
        m => (jst.year(), m - 1),
    };
    for t in tenants {
        let dir = data
            .join("reports")
            .join(&t)
            .join(format!("{year:04}-{month:02}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(
            dir.join("report.html"),
            "<!-- bench/service: monthly report job skipped -->\n",
        )?;
    }
    Ok(())
}
