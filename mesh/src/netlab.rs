//! Test networks in Linux network namespaces, for the NAT tests and `meshbench --nat`.
//!
//! A [`Lab`] builds, with `ip netns`, veth pairs and nftables (addresses only from
//! 198.18.0.0/15, the range set aside for network tests; nothing is routed to or from the
//! machine's real interfaces):
//!
//! ```text
//!  cli1 198.19.1.2 ── 198.19.1.1 nat1 198.18.1.1 ──┐
//!  cli2 198.19.2.2 ── 198.19.2.1 nat2 198.18.2.1 ──┼── srv: 198.18.0.1 (server, coturn),
//!  cli3 198.19.3.2 ── 198.19.3.1 nat3 198.18.3.1 ──┘        routes between the NATs
//! ```
//!
//! Each `nat<i>` masquerades its client behind its WAN address — with `random_ports`, every
//! new destination gets a new random port (a "symmetric" NAT: a STUN-learnt address is of no
//! use to another peer); without, Linux keeps the source port (hole punching works).
//! Like a home router, a NAT drops unsolicited UDP sent to its own WAN address (also so that
//! a peer's early check does not leave a conntrack entry that makes the NAT pick another
//! port for the client's own packets to that peer).
//! `drop_udp_between_clients` makes `srv` drop UDP forwarded between the NATs, so only the
//! relay in `srv` connects the clients. [`Lab::block`] drops every packet of one client at
//! its NAT (a network change).
//!
//! Code runs "inside" a namespace on a tokio runtime whose threads were started there
//! ([`Lab::runtime`]): sockets belong to the namespace of the thread that opens them.
//! Everything is removed on drop (also when a test panics).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The server's address in every lab.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// coturn's address (its own: webrtc's STUN gatherer and TURN client on one socket mix up
/// answers from one server IP).
pub const TURN_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct LabOptions {
    pub clients: usize,
    /// Symmetric NATs (a random port per destination).
    pub random_ports: bool,
    /// `srv` drops UDP between the clients' NATs.
    pub drop_udp_between_clients: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("network namespaces are not available here: {0}")]
    Unavailable(String),
    #[error("`{cmd}` failed: {message}")]
    Command { cmd: String, message: String },
    #[error("coturn: {0}")]
    Coturn(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A network of namespaces; removed on drop.
pub struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    pub options: LabOptions,
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &str, args: &[&str]) -> Result<String, LabError> {
    let out = Command::new(cmd).args(args).stdin(Stdio::null()).output().map_err(|e| LabError::Command {
        cmd: format!("{cmd} {}", args.join(" ")),
        message: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `nft -f -` with `script` inside `ns`.
fn nft(ns: &str, script: &str) -> Result<(), LabError> {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::Command { cmd: "nft".into(), message: e.to_string() })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: format!("nft in {ns}: {script}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

impl Lab {
    /// Whether namespaces can be made here (root, `ip` and `nft` present); the reason if not.
    pub fn check() -> Result<(), String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root (network namespaces need CAP_NET_ADMIN)".into());
        }
        for tool in ["ip", "nft"] {
            let found = Command::new(tool).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status();
            if !found.is_ok_and(|s| s.success()) {
                return Err(format!("`{tool}` is not installed (apt-get install iproute2 nftables)"));
            }
        }
        let probe = format!("ppnat-probe-{}", std::process::id());
        run("ip", &["netns", "add", &probe]).map_err(|e| e.to_string())?;
        let _ = run("ip", &["netns", "delete", &probe]);
        Ok(())
    }

    /// Builds the network.
    pub fn new(options: LabOptions) -> Result<Self, LabError> {
        Self::check().map_err(LabError::Unavailable)?;
        remove_stale();
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("ppnat-{}-{n}", std::process::id());
        let mut lab = Lab { prefix, namespaces: Vec::new(), options };
        lab.build()?;
        Ok(lab)
    }

    pub fn server_ns(&self) -> String {
        format!("{}-srv", self.prefix)
    }
    pub fn nat_ns(&self, i: usize) -> String {
        format!("{}-nat{i}", self.prefix)
    }
    pub fn client_ns(&self, i: usize) -> String {
        format!("{}-cli{i}", self.prefix)
    }

    fn add_ns(&mut self, name: &str) -> Result<(), LabError> {
        run("ip", &["netns", "add", name])?;
        self.namespaces.push(name.to_owned());
        run("ip", &["-n", name, "link", "set", "lo", "up"])?;
        Ok(())
    }

    fn build(&mut self) -> Result<(), LabError> {
        let srv = self.server_ns();
        self.add_ns(&srv)?;
        run("ip", &["-n", &srv, "addr", "add", &format!("{SERVER_IP}/32"), "dev", "lo"])?;
        run("ip", &["-n", &srv, "addr", "add", &format!("{TURN_IP}/32"), "dev", "lo"])?;
        run("ip", &["netns", "exec", &srv, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        for i in 1..=self.options.clients {
            let (nat, cli) = (self.nat_ns(i), self.client_ns(i));
            self.add_ns(&nat)?;
            self.add_ns(&cli)?;
            // srv ⇄ nat<i> (the "internet" side)
            run("ip", &["-n", &srv, "link", "add", &format!("w{i}"), "type", "veth", "peer", "name", "wan", "netns", &nat])?;
            run("ip", &["-n", &srv, "addr", "add", &format!("198.18.{i}.254/24"), "dev", &format!("w{i}")])?;
            run("ip", &["-n", &srv, "link", "set", &format!("w{i}"), "up"])?;
            run("ip", &["-n", &nat, "addr", "add", &format!("198.18.{i}.1/24"), "dev", "wan"])?;
            run("ip", &["-n", &nat, "link", "set", "wan", "up"])?;
            run("ip", &["-n", &nat, "route", "add", "default", "via", &format!("198.18.{i}.254")])?;
            // nat<i> ⇄ cli<i> (the home network)
            run("ip", &["-n", &nat, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", &cli])?;
            run("ip", &["-n", &nat, "addr", "add", &format!("198.19.{i}.1/24"), "dev", "lan"])?;
            run("ip", &["-n", &nat, "link", "set", "lan", "up"])?;
            run("ip", &["-n", &cli, "addr", "add", &format!("198.19.{i}.2/24"), "dev", "eth0"])?;
            run("ip", &["-n", &cli, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &cli, "route", "add", "default", "via", &format!("198.19.{i}.1")])?;
            run("ip", &["netns", "exec", &nat, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
            let random = if self.options.random_ports { " random" } else { "" };
            nft(
                &nat,
                &format!(
                    "table ip nat {{\n chain post {{\n  type nat hook postrouting priority srcnat; policy accept;\n  \
                     oifname \"wan\" masquerade{random}\n }}\n}}\n\
                     table inet fw {{\n chain input {{\n  type filter hook input priority filter; policy accept;\n  \
                     iifname \"wan\" meta l4proto udp drop\n }}\n}}\n"
                ),
            )?;
        }
        if self.options.drop_udp_between_clients {
            nft(
                &srv,
                "table inet lab {\n chain between {\n  type filter hook forward priority filter; policy accept;\n  \
                 meta l4proto udp drop\n }\n}\n",
            )?;
        }
        Ok(())
    }

    /// Drops (`true`) or lets through again (`false`) every packet to and from client `i`,
    /// at its NAT.
    pub fn block(&self, i: usize, on: bool) -> Result<(), LabError> {
        let nat = self.nat_ns(i);
        if on {
            nft(&nat, "table inet block {\n chain between {\n  type filter hook forward priority filter; policy drop;\n }\n}\n")
        } else {
            nft(&nat, "delete table inet block")
        }
    }

    /// Drops `percent` % of the UDP datagrams every client sends (at its NAT, towards the
    /// server namespace: one loss point on every one-way path, direct or relayed). 0 removes
    /// the rule. (nftables `numgen random`: this kernel may lack `tc netem`.)
    pub fn set_loss(&self, percent: u32) -> Result<(), LabError> {
        for i in 1..=self.options.clients {
            let nat = self.nat_ns(i);
            let _ = nft(&nat, "delete table inet loss");
            if percent > 0 {
                nft(
                    &nat,
                    &format!(
                        "table inet loss {{\n chain out {{\n  type filter hook forward priority filter; policy accept;\n  \
                         oifname \"wan\" meta l4proto udp numgen random mod 100 < {percent} drop\n }}\n}}\n"
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// A multi-thread tokio runtime whose threads live in namespace `ns`.
    pub fn runtime(&self, ns: &str) -> Result<tokio::runtime::Runtime, LabError> {
        runtime_in(ns, 2)
    }

    /// Starts coturn in the server namespace on `port`, with its files in `dir`.
    pub fn start_coturn(&self, dir: &Path, port: u16, secret: &str) -> Result<Coturn, LabError> {
        Coturn::start(&self.server_ns(), dir, port, secret)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            kill_pids_in(ns);
            if let Err(e) = run("ip", &["netns", "delete", ns]) {
                eprintln!("netlab: could not delete namespace {ns}: {e}");
            }
        }
    }
}

fn kill_pids_in(ns: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", ns]) {
        let me = std::process::id();
        for pid in pids.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
            if pid as u32 != me {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Removes namespaces left by earlier runs whose process is gone.
fn remove_stale() {
    let Ok(list) = run("ip", &["netns", "list"]) else { return };
    for line in list.lines() {
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some(rest) = name.strip_prefix("ppnat-") else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            kill_pids_in(name);
            let _ = run("ip", &["netns", "delete", name]);
        }
    }
}

/// Enters namespace `ns` on the calling thread.
fn enter(ns: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns on a valid namespace fd affects only the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside namespace `ns` and returns its result.
pub fn run_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T, LabError> {
    let ns = ns.to_owned();
    let thread = std::thread::Builder::new().name(format!("netns-{ns}")).spawn(move || {
        enter(&ns)?;
        Ok::<T, std::io::Error>(f())
    })?;
    match thread.join() {
        Ok(result) => Ok(result?),
        Err(_) => Err(LabError::Unavailable("the namespace thread panicked".into())),
    }
}

/// A tokio runtime built on a thread inside `ns`: its workers (and the threads they start)
/// inherit the namespace.
pub fn runtime_in(ns: &str, workers: usize) -> Result<tokio::runtime::Runtime, LabError> {
    let ns = ns.to_owned();
    let thread = std::thread::Builder::new().name(format!("netns-{ns}")).spawn(move || {
        enter(&ns)?;
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("netns-rt")
            .enable_all()
            .build()
    })?;
    match thread.join() {
        Ok(result) => Ok(result?),
        Err(_) => Err(LabError::Unavailable("the namespace thread panicked".into())),
    }
}

/// A coturn process; stopped on drop.
pub struct Coturn {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Coturn {
    fn start(ns: &str, dir: &Path, port: u16, secret: &str) -> Result<Self, LabError> {
        let bin = "turnserver";
        let conf = dir.join("turnserver.conf");
        let log = dir.join("turn.log");
        let text = format!(
            "listening-ip={TURN_IP}\nrelay-ip={TURN_IP}\nlistening-port={port}\n\
             min-port=49152\nmax-port=49999\nuse-auth-secret\nstatic-auth-secret={secret}\n\
             realm=poseparty.test\nfingerprint\nno-tls\nno-dtls\nno-cli\nno-software-attribute\n\
             allowed-peer-ip=198.18.0.0-198.19.255.255\nuserdb={db}\npidfile={pid}\nlog-file={log}\n\
             simple-log\nverbose\nno-stdout-log\n",
            db = dir.join("turndb").display(),
            pid = dir.join("turnserver.pid").display(),
            log = log.display(),
        );
        std::fs::write(&conf, text)?;
        let conf_s = conf.display().to_string();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, bin, "-c", &conf_s])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::Coturn(format!("cannot start turnserver (apt-get install coturn): {e}")))?;
        let mut coturn = Coturn { child, port, log };
        // Wait for its UDP listener.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = coturn.child.try_wait() {
                return Err(LabError::Coturn(format!("turnserver exited ({status}); log: {}", coturn.log_text())));
            }
            let text = coturn.log_text();
            // Its last startup line; the listeners open right after.
            if text.contains("SQLite DB connection success") || text.contains("UDP listener opened") {
                std::thread::sleep(Duration::from_millis(300));
                return Ok(coturn);
            }
            if Instant::now() > deadline {
                return Err(LabError::Coturn(format!("turnserver did not open its listener in 10 s; log: {text}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log written so far (coturn adds a date to the file name in some setups).
    pub fn log_text(&self) -> String {
        if let Ok(text) = std::fs::read_to_string(&self.log) {
            return text;
        }
        // e.g. turn_<pid>_<date>.log next to the configured name
        let Some(dir) = self.log.parent() else { return String::new() };
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with("turn") && name.ends_with(".log") {
                    text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
                }
            }
        }
        text
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        // `ip netns exec` execs turnserver, so the child is turnserver itself.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
