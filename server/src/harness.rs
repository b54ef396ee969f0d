//! Helpers for tests and load runs that speak to the server by hand (hostile clients in
//! `tests/hostile.rs`, the `loadgen` bench): raw websocket frames; and a throw-away
//! `redis-server` for cluster mode's tests and `loadgen --nodes`.

/// A client websocket frame written by hand: masked as RFC 6455 requires of clients,
/// `fin` false for a fragment, payloads up to 64 KiB.
pub fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let mask = [0x5a, 0xa5, 0x0f, 0xf0];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A throw-away `redis-server` for tests and load runs of cluster mode: a free loopback port,
/// its own folder (removed on drop), nothing saved to disk. It can be stopped and started again
/// on the same port (a Redis restart). Debian's `redis-server` package (`scripts/setup.sh`), or
/// the binary named by `$POSEPARTY_REDIS_SERVER`.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<std::process::Child>,
    dir: std::path::PathBuf,
}

impl RedisServer {
    /// Starts one; an error (saying how to install it) when it cannot.
    pub fn start() -> Result<RedisServer, String> {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free loopback port: {e}"))?;
        let dir = std::env::temp_dir().join(format!("poseparty-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("folder for redis-server {}: {e}", dir.display()))?;
        let mut redis = RedisServer { port, child: None, dir };
        redis.start_again()?;
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process id (for its CPU time), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Starts the server (again) on its port; waits until it answers PING.
    pub fn start_again(&mut self) -> Result<(), String> {
        use std::process::{Command, Stdio};
        let bin = std::env::var("POSEPARTY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
        let child = Command::new(&bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin} did not start ({e}) — run ./scripts/setup.sh (Debian package redis-server)"))?;
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.answers() {
            if std::time::Instant::now() >= deadline {
                return Err(format!("redis-server on port {} did not answer within 10 s", self.port));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Ok(())
    }

    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// Stops the server (its data is gone: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
