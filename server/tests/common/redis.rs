//! A throw-away Redis server for one test: `redis-server` (Debian package redis-server,
//! installed by `scripts/setup.sh`) on a free loopback port, its folder a temporary one,
//! nothing saved to disk. It can be stopped and started again on the same port (a Redis
//! restart). Dropping the guard stops it.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) test Redis.
pub struct TestRedis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn binary() -> Option<String> {
    let bin = std::env::var("POSEPARTY_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let found = Command::new(&bin).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    found.then_some(bin)
}

impl TestRedis {
    /// Starts one, or panics saying how to install it.
    pub fn start() -> TestRedis {
        let dir = tempfile::Builder::new().prefix("poseparty-redis-").tempdir().unwrap_or_else(|e| panic!("temporary folder: {e}"));
        let mut redis = TestRedis { port: free_port(), child: None, dir };
        redis.start_again();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again) on its port; waits until it answers.
    pub fn start_again(&mut self) {
        let Some(bin) = binary() else {
            panic!("redis-server is not installed — run ./scripts/setup.sh (Debian package redis-server) or set $POSEPARTY_REDIS_SERVER");
        };
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server did not start: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// PING over a plain TCP connection.
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
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

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback TCP port nobody listened on a moment ago.
fn free_port() -> u16 {
    match std::net::TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free loopback port: {e}"),
    }
}
