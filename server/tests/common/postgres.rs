//! A throw-away PostgreSQL server for one test.
//!
//! [`TestPostgres::start`] runs `initdb` into a fresh temporary folder (trust auth, no
//! password) and starts the server with `pg_ctl` on a free loopback port, its unix socket in
//! the same folder and durability off (fsync) for speed. PostgreSQL refuses to run as root,
//! so as root every command runs as the `postgres` user (`runuser -u postgres --`) and the
//! folder is handed to that user. Dropping the guard stops the server (also when the test
//! panics) and removes the folder.
//!
//! The binaries are looked up in `$POSEPARTY_PG_BIN`, else `/usr/lib/postgresql/15/bin`
//! (Debian's `postgresql` package; `scripts/setup.sh` installs it).
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running PostgreSQL server; stopped on drop.
pub struct TestPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    running: bool,
    as_postgres_user: bool,
    // Last: removed after `drop` stopped the server.
    dir: tempfile::TempDir,
}

/// The folder with the PostgreSQL binaries, or (as the error) the folder looked in.
fn bin_dir() -> Result<PathBuf, PathBuf> {
    let bin = std::env::var_os("POSEPARTY_PG_BIN").map_or_else(|| PathBuf::from(DEFAULT_BIN), PathBuf::from);
    if ["initdb", "pg_ctl", "postgres"].iter().all(|b| bin.join(b).is_file()) { Ok(bin) } else { Err(bin) }
}

/// A loopback TCP port nobody listened on a moment ago.
pub fn free_port() -> u16 {
    match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()) {
        Ok(a) => a.port(),
        Err(e) => panic!("no free loopback port: {e}"),
    }
}

impl TestPostgres {
    /// Starts a server, or returns `None` after printing why when the PostgreSQL binaries
    /// are not installed. Panics when they are installed but the server does not start.
    pub fn start(test: &str) -> Option<TestPostgres> {
        let bin = match bin_dir() {
            Ok(bin) => bin,
            Err(looked_in) => {
                println!(
                    "SKIPPED {test}: the PostgreSQL binaries (initdb, pg_ctl, postgres) are not in {} \
                     (set $POSEPARTY_PG_BIN, or install them with scripts/setup.sh: Debian package postgresql)",
                    looked_in.display()
                );
                return None;
            }
        };
        // /proc/self belongs to the process's effective user.
        let as_postgres_user = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
        let dir = match tempfile::Builder::new().prefix("poseparty-pg-").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("temporary folder for PostgreSQL: {e}"),
        };
        let mut pg = TestPostgres { bin, data: dir.path().join("data"), port: 0, running: false, as_postgres_user, dir };
        if as_postgres_user {
            let chown = Command::new("chown").arg("postgres:postgres").arg(pg.dir.path()).status();
            assert!(matches!(chown, Ok(s) if s.success()), "chown of {} to postgres failed: {chown:?}", pg.dir.path().display());
        }
        let data = pg.data.clone();
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        )
        .unwrap_or_else(|e| panic!("initdb failed: {e}"));
        // A port found free may be taken before the server binds it: try a few.
        let mut last = String::new();
        for _ in 0..3 {
            pg.port = free_port();
            match pg.pg_ctl_start() {
                Ok(()) => {
                    pg.running = true;
                    return Some(pg);
                }
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}\n{}", pg.log());
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server now (fast shutdown: open connections are closed).
    pub fn stop(&mut self) {
        if self.running {
            self.running = false;
            let data = self.data.clone();
            if let Err(e) =
                self.run("pg_ctl", &["-D".as_ref(), data.as_os_str(), "-m".as_ref(), "fast".as_ref(), "-w".as_ref(), "stop".as_ref()])
            {
                eprintln!("stopping the test PostgreSQL failed: {e}");
            }
        }
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port and data.
    pub fn restart(&mut self) {
        if !self.running {
            if let Err(e) = self.pg_ctl_start() {
                panic!("PostgreSQL did not start again: {e}\n{}", self.log());
            }
            self.running = true;
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let data = self.data.clone();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "start".as_ref(),
            ],
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs a PostgreSQL program (as `postgres` when we are root).
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), String> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir(Path::new("/"));
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(format!(
                "{program} exited with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Err(e) => Err(format!("cannot run {}: {e}", path.display())),
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
