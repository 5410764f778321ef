//! A local `redis-server` that bluelight starts, watches and stops itself: the embedded default
//! when no Redis URL is given, and the private Redis of every test. It listens on loopback only,
//! asks for a password generated at each start (kept in a configuration file only its owner can
//! read, never on a command line), and its data folder is its owner's alone.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// Whether a managed server that dies is started again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervise {
    /// Restart it (same port, same data directory, so the AOF brings everything back).
    Restart,
    /// Leave it down (tests that take Redis away on purpose).
    No,
}

/// A running `redis-server` child on a free loopback port, data (AOF) in `dir`.
pub struct ManagedRedis {
    port: u16,
    dir: PathBuf,
    password: String,
    child: Arc<Mutex<Option<Child>>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

const INSTALL_HINT: &str = "redis-server is not installed: install it (Debian/Ubuntu: `sudo apt-get install redis-server`; \
macOS: `brew install redis`) or point bluelight at a running Redis with --redis-url";

impl ManagedRedis {
    /// Starts `redis-server` with its data in `dir` on a free port and waits until it answers.
    pub async fn start(dir: &Path, supervise: Supervise) -> Result<ManagedRedis> {
        use std::os::unix::fs::PermissionsExt;
        let cannot = |what: &str, e: std::io::Error| {
            Error::Config(format!("cannot {what} {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| cannot("create", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| cannot("restrict to its owner", e))?;
        let dir = dir.canonicalize().map_err(|e| cannot("use", e))?;
        let password = new_password().map_err(|e| cannot("make a password for", e))?;
        write_config(&dir, &password).map_err(|e| cannot("write the configuration in", e))?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            match spawn(&dir, port, &password).await {
                Ok(child) => {
                    let child = Arc::new(Mutex::new(Some(child)));
                    let watcher = (supervise == Supervise::Restart).then(|| {
                        tokio::spawn(watch(dir.clone(), port, password.clone(), child.clone()))
                    });
                    return Ok(ManagedRedis {
                        port,
                        dir,
                        password,
                        child,
                        watcher,
                    });
                }
                Err(e @ Error::Config(_)) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Unavailable("redis-server did not start".into())))
    }

    /// The URL to connect with, password included: not for logs (see [`super::redacted`]).
    pub fn url(&self) -> String {
        url(self.port, &self.password)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server at once (SIGKILL), as a crash would. Not restarted by this call.
    pub async fn kill(&self) {
        if let Some(mut c) = self.child.lock().await.take() {
            let _ = c.kill().await;
        }
    }

    /// Starts the server again on the same port and data directory after [`kill`](Self::kill).
    pub async fn restart(&self) -> Result<()> {
        let mut slot = self.child.lock().await;
        if slot.is_none() {
            *slot = Some(spawn(&self.dir, self.port, &self.password).await?);
        }
        Ok(())
    }

    /// Stops the server cleanly: it finishes writing its AOF, then exits.
    pub async fn stop(mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Ok(client) = redis::Client::open(self.url())
            && let Ok(mut c) = client.get_multiplexed_async_connection().await
        {
            let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN").query_async(&mut c).await;
        }
        if let Some(mut c) = self.child.lock().await.take()
            && tokio::time::timeout(Duration::from_secs(5), c.wait())
                .await
                .is_err()
        {
            let _ = c.kill().await;
        }
    }
}

impl Drop for ManagedRedis {
    fn drop(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        // Child processes are spawned with kill_on_drop, so dropping the handle stops them.
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::Internal(format!("no free port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?
        .port())
}

fn url(port: u16, password: &str) -> String {
    format!("redis://:{password}@127.0.0.1:{port}/")
}

/// 128 random bits, in hex.
fn new_password() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The configuration file holding the password, readable by its owner only.
fn write_config(dir: &Path, password: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(CONFIG_FILE);
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(
        f,
        "# Written by bluelight at each start.\nrequirepass {password}"
    )
}

/// The managed server's configuration file, in its data folder.
pub const CONFIG_FILE: &str = "bluelight-redis.conf";

async fn spawn(dir: &Path, port: u16, password: &str) -> Result<Child> {
    let mut child = Command::new("redis-server")
        .arg(dir.join(CONFIG_FILE))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "redis.log",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Config(INSTALL_HINT.into()),
            _ => Error::Config(format!("cannot start redis-server: {e}")),
        })?;
    let client =
        redis::Client::open(url(port, password)).map_err(|e| Error::Internal(e.to_string()))?;
    for _ in 0..200 {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Unavailable(format!(
                "redis-server exited at start ({status}); see {}",
                dir.join("redis.log").display()
            )));
        }
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            // Still loading the AOF answers LOADING; wait for a real PONG.
            let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut c).await;
            if pong.is_ok() {
                return Ok(child);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = child.kill().await;
    Err(Error::Unavailable(format!(
        "redis-server on port {port} did not answer within 5 s"
    )))
}

/// Restarts the server whenever it exits, until the watcher is aborted.
async fn watch(dir: PathBuf, port: u16, password: String, child: Arc<Mutex<Option<Child>>>) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut slot = child.lock().await;
        let exited = match slot.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        };
        if exited {
            tracing::error!(port, "managed redis-server exited; restarting it");
            match spawn(&dir, port, &password).await {
                Ok(c) => *slot = Some(c),
                Err(e) => tracing::error!(error = %e, "cannot restart managed redis-server"),
            }
        }
    }
}
