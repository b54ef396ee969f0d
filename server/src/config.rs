//! Server configuration: command-line flags with `POSEPARTY_*` environment fallbacks.
//!
//! [`Config::default`] gives the same values as running the binary with no flags, so code
//! that embeds the server (the client's `--local` mode, the tests) can start from it and
//! override single fields.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Defaults, shared by clap and [`Default`].
mod defaults {
    pub const BIND: &str = "127.0.0.1:7878";
    pub const STUN_PORT: u16 = 3478;
    pub const DB: &str = "poseparty-history.sqlite3";
    pub const ROOM_CAP: u8 = 8;
    pub const MSG_RATE: u32 = 50;
    pub const MSG_BURST: u32 = 100;
    pub const FAILED_JOINS: u32 = 10;
    pub const FAILED_JOIN_WINDOW_MS: u64 = 60_000;
    pub const HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
    pub const PING_INTERVAL_MS: u64 = 15_000;
    pub const IDLE_TIMEOUT_MS: u64 = 45_000;
    pub const RECONNECT_GRACE_MS: u64 = 30_000;
    pub const READY_TIMEOUT_MS: u64 = 30_000;
    pub const START_DELAY_MS: u64 = 3_000;
    pub const WS_BUFFER_BYTES: usize = 4 * 1024;
    pub const OUTBOX_FRAMES: usize = 128;
    pub const SHUTDOWN_GRACE_MS: u64 = 3_000;
    pub const OUTBOX_BYTES: usize = 512 * 1024;
    pub const WRITE_TIMEOUT_MS: u64 = 5_000;
    pub const MAX_CONNECTIONS: usize = 20_000;
    pub const MAX_CONNECTIONS_PER_IP: usize = 64;
    pub const HEADER_READ_TIMEOUT_MS: u64 = 5_000;
    pub const HTTP_TIMEOUT_MS: u64 = 10_000;
    pub const HTTP_MAX_HEADER_BYTES: usize = 16 * 1024;
    pub const WS_MAX_MESSAGE_BYTES: usize = 80 * 1024;
    pub const MAX_FRAGMENTS: u32 = 16;
    pub const UNFINISHED_MESSAGE_TIMEOUT_MS: u64 = 5_000;
    pub const FAILED_JOIN_STEP_MS: u64 = 1_000;
    pub const FAILED_JOIN_MAX_DELAY_MS: u64 = 10_000;
    pub const MIN_ROUND_SECS: u16 = *shared::protocol::signal::ROUND_SECS.start();
    pub const REPORT_EARLY_MS: u64 = 500;
    pub const ROUNDS_PER_MIN: u32 = 2;
    pub const ROUNDS_BURST: u32 = 3;
    pub const IP_ROUNDS_PER_MIN: u32 = 20;
    pub const LOADING_FANOUT_MS: u64 = 250;
    pub const HISTORY_MAX_BYTES: usize = 256 * 1024;
    pub const STUN_RATE: u32 = 20;
    pub const STUN_BURST: u32 = 40;
    pub const STUN_GLOBAL_RATE: u32 = 5_000;
    pub const TURN_TTL_SECS: u64 = 6 * 3600;
}

/// Who may read `GET /history` (it lists player names and room codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HttpHistory {
    /// Anyone, any player's matches.
    Open,
    /// Only with `?token=<reconnect token>` of a live session: that player's own matches.
    Token,
    /// Not served (404).
    Off,
}

/// How the server runs. Every duration is in milliseconds so it can be given as a flag.
#[derive(Debug, Clone, Parser)]
#[command(name = "server", version, about = "PoseParty matchmaking, signaling and match-history server")]
pub struct Config {
    /// Address of the HTTP/websocket listener (port 0 picks a free port).
    #[arg(long, env = "POSEPARTY_BIND", default_value = defaults::BIND)]
    pub bind: SocketAddr,

    /// UDP port of the embedded STUN responder, on the same IP as `--bind` (0 picks a free port).
    #[arg(long, env = "POSEPARTY_STUN_PORT", default_value_t = defaults::STUN_PORT)]
    pub stun_port: u16,

    /// Host name or IP put in the STUN URL sent to clients. Defaults to the bind IP
    /// (or 127.0.0.1 when bound to an unspecified address) — set it when clients connect
    /// through another address.
    #[arg(long, env = "POSEPARTY_PUBLIC_HOST")]
    pub public_host: Option<String>,

    /// Match history: a SQLite file (created on first run; ":memory:" keeps it in RAM), or
    /// a PostgreSQL server as `postgres://USER@HOST:PORT/DATABASE` (no TLS).
    #[arg(long, env = "POSEPARTY_DB", default_value = defaults::DB)]
    pub db: PathBuf,

    /// Cluster mode: a Redis server (`redis://HOST:PORT/`) shared by several nodes behind
    /// one load balancer; rooms, reconnect tokens and quick match are shared through it (see
    /// the README's cluster how-to). Use a PostgreSQL `--db` shared by the nodes with it.
    #[arg(long, env = "POSEPARTY_REDIS")]
    pub redis: Option<String>,

    /// Most players in one room.
    #[arg(long, env = "POSEPARTY_ROOM_CAP", default_value_t = defaults::ROOM_CAP,
          value_parser = clap::value_parser!(u8).range(1..))]
    pub room_cap: u8,

    /// Sustained messages per second one connection may send.
    #[arg(long, env = "POSEPARTY_MSG_RATE", default_value_t = defaults::MSG_RATE)]
    pub msg_rate: u32,

    /// Burst of messages one connection may send above the sustained rate.
    #[arg(long, env = "POSEPARTY_MSG_BURST", default_value_t = defaults::MSG_BURST)]
    pub msg_burst: u32,

    /// Failed joins (unknown room code) one IP address may make per window.
    #[arg(long, env = "POSEPARTY_FAILED_JOINS", default_value_t = defaults::FAILED_JOINS)]
    pub failed_joins: u32,

    /// Length of the failed-join window, ms.
    #[arg(long, env = "POSEPARTY_FAILED_JOIN_WINDOW_MS", default_value_t = defaults::FAILED_JOIN_WINDOW_MS)]
    pub failed_join_window_ms: u64,

    /// Time a new connection has to send `Hello`, ms.
    #[arg(long, env = "POSEPARTY_HANDSHAKE_TIMEOUT_MS", default_value_t = defaults::HANDSHAKE_TIMEOUT_MS)]
    pub handshake_timeout_ms: u64,

    /// Interval of websocket keep-alive pings, ms.
    #[arg(long, env = "POSEPARTY_PING_INTERVAL_MS", default_value_t = defaults::PING_INTERVAL_MS)]
    pub ping_interval_ms: u64,

    /// A connection that sends nothing (not even a pong) for this long is closed, ms.
    #[arg(long, env = "POSEPARTY_IDLE_TIMEOUT_MS", default_value_t = defaults::IDLE_TIMEOUT_MS)]
    pub idle_timeout_ms: u64,

    /// How long a dropped player's seat is kept for its reconnect token, ms.
    #[arg(long, env = "POSEPARTY_RECONNECT_GRACE_MS", default_value_t = defaults::RECONNECT_GRACE_MS)]
    pub reconnect_grace_ms: u64,

    /// How long the loading screen waits for everyone to be ready before starting without
    /// the players that are not, ms.
    #[arg(long, env = "POSEPARTY_READY_TIMEOUT_MS", default_value_t = defaults::READY_TIMEOUT_MS)]
    pub ready_timeout_ms: u64,

    /// How far ahead of "now" the round's `start_at` is set, ms.
    #[arg(long, env = "POSEPARTY_START_DELAY_MS", default_value_t = defaults::START_DELAY_MS)]
    pub start_delay_ms: u64,

    /// Websocket read and write buffer size per connection, bytes.
    #[arg(long, env = "POSEPARTY_WS_BUFFER_BYTES", default_value_t = defaults::WS_BUFFER_BYTES)]
    pub ws_buffer_bytes: usize,

    /// Frames queued for one connection before it counts as too slow and is dropped.
    #[arg(long, env = "POSEPARTY_OUTBOX_FRAMES", default_value_t = defaults::OUTBOX_FRAMES)]
    pub outbox_frames: usize,

    /// On shutdown, how long open connections get to receive their close frames, ms.
    #[arg(long, env = "POSEPARTY_SHUTDOWN_GRACE_MS", default_value_t = defaults::SHUTDOWN_GRACE_MS)]
    pub shutdown_grace_ms: u64,

    /// Bytes queued for one connection before it counts as too slow and is dropped.
    #[arg(long, env = "POSEPARTY_OUTBOX_BYTES", default_value_t = defaults::OUTBOX_BYTES)]
    pub outbox_bytes: usize,

    /// A write to a client socket that does not finish within this (the client is not
    /// reading) drops the connection, ms.
    #[arg(long, env = "POSEPARTY_WRITE_TIMEOUT_MS", default_value_t = defaults::WRITE_TIMEOUT_MS)]
    pub write_timeout_ms: u64,

    /// Most open TCP connections (HTTP and websocket) in total; more are closed at accept.
    #[arg(long, env = "POSEPARTY_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Most open TCP connections from one IP address (IPv6: one /64).
    #[arg(long, env = "POSEPARTY_MAX_CONNECTIONS_PER_IP", default_value_t = defaults::MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// Time a client has to send a complete HTTP request head, ms.
    #[arg(long, env = "POSEPARTY_HEADER_READ_TIMEOUT_MS", default_value_t = defaults::HEADER_READ_TIMEOUT_MS)]
    pub header_read_timeout_ms: u64,

    /// Time an HTTP connection has for its one request and response (for `/ws`: until the
    /// websocket upgrade), ms.
    #[arg(long, env = "POSEPARTY_HTTP_TIMEOUT_MS", default_value_t = defaults::HTTP_TIMEOUT_MS)]
    pub http_timeout_ms: u64,

    /// Most bytes of an HTTP request head buffered (at least 8192).
    #[arg(long, env = "POSEPARTY_HTTP_MAX_HEADER_BYTES", default_value_t = defaults::HTTP_MAX_HEADER_BYTES)]
    pub http_max_header_bytes: usize,

    /// Largest websocket message (all its fragments) buffered while it is read, bytes.
    #[arg(long, env = "POSEPARTY_WS_MAX_MESSAGE_BYTES", default_value_t = defaults::WS_MAX_MESSAGE_BYTES)]
    pub ws_max_message_bytes: usize,

    /// Most fragments of one websocket message.
    #[arg(long, env = "POSEPARTY_MAX_FRAGMENTS", default_value_t = defaults::MAX_FRAGMENTS)]
    pub max_fragments: u32,

    /// A websocket frame or fragmented message that is started but not finished within
    /// this closes the connection, ms.
    #[arg(long, env = "POSEPARTY_UNFINISHED_MESSAGE_TIMEOUT_MS", default_value_t = defaults::UNFINISHED_MESSAGE_TIMEOUT_MS)]
    pub unfinished_message_timeout_ms: u64,

    /// Past `--failed-joins` wrong codes in a window, each further join from that address
    /// waits this much longer before it is looked at (a right code still gets in), ms.
    #[arg(long, env = "POSEPARTY_FAILED_JOIN_STEP_MS", default_value_t = defaults::FAILED_JOIN_STEP_MS)]
    pub failed_join_step_ms: u64,

    /// The longest a join waits because of wrong codes from its address, ms.
    #[arg(long, env = "POSEPARTY_FAILED_JOIN_MAX_DELAY_MS", default_value_t = defaults::FAILED_JOIN_MAX_DELAY_MS)]
    pub failed_join_max_delay_ms: u64,

    /// Shortest round the host may set, seconds.
    #[arg(long, env = "POSEPARTY_MIN_ROUND_SECS", default_value_t = defaults::MIN_ROUND_SECS,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub min_round_secs: u16,

    /// How much before the round's end on the server clock a report is still accepted
    /// (client clock estimates are a little off), ms.
    #[arg(long, env = "POSEPARTY_REPORT_EARLY_MS", default_value_t = defaults::REPORT_EARLY_MS)]
    pub report_early_ms: u64,

    /// Rounds one player (session) may start per minute, sustained.
    #[arg(long, env = "POSEPARTY_ROUNDS_PER_MIN", default_value_t = defaults::ROUNDS_PER_MIN)]
    pub rounds_per_min: u32,

    /// Rounds one player may start in a burst.
    #[arg(long, env = "POSEPARTY_ROUNDS_BURST", default_value_t = defaults::ROUNDS_BURST)]
    pub rounds_burst: u32,

    /// Rounds started from one IP address per minute (burst the same).
    #[arg(long, env = "POSEPARTY_IP_ROUNDS_PER_MIN", default_value_t = defaults::IP_ROUNDS_PER_MIN)]
    pub ip_rounds_per_min: u32,

    /// Loading-progress and readiness changes are sent to the room at most once per this, ms.
    #[arg(long, env = "POSEPARTY_LOADING_FANOUT_MS", default_value_t = defaults::LOADING_FANOUT_MS)]
    pub loading_fanout_ms: u64,

    /// Who may read `GET /history`: open, token (a live session's own matches) or off.
    #[arg(long, env = "POSEPARTY_HTTP_HISTORY", value_enum, default_value = "token")]
    pub http_history: HttpHistory,

    /// Most bytes of one `GET /history` response (a page; the `X-Next-Before` header
    /// gives the next one).
    #[arg(long, env = "POSEPARTY_HISTORY_MAX_BYTES", default_value_t = defaults::HISTORY_MAX_BYTES)]
    pub history_max_bytes: usize,

    /// STUN Binding answers per second to one source address (sustained).
    #[arg(long, env = "POSEPARTY_STUN_RATE", default_value_t = defaults::STUN_RATE)]
    pub stun_rate: u32,

    /// STUN answers one source may get in a burst.
    #[arg(long, env = "POSEPARTY_STUN_BURST", default_value_t = defaults::STUN_BURST)]
    pub stun_burst: u32,

    /// STUN answers per second in total, whatever the sources.
    #[arg(long, env = "POSEPARTY_STUN_GLOBAL_RATE", default_value_t = defaults::STUN_GLOBAL_RATE)]
    pub stun_global_rate: u32,

    /// A TURN server URL handed to clients with short-lived credentials (repeatable), e.g.
    /// `turn:turn.example.org:3478?transport=udp`, `turn:…?transport=tcp`,
    /// `turns:turn.example.org:5349?transport=tcp`. Needs `--turn-secret`.
    #[arg(long = "turn-url", env = "POSEPARTY_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The shared secret of the TURN server (coturn's `static-auth-secret`). Never logged.
    #[arg(long, env = "POSEPARTY_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<crate::turn::Secret>,

    /// How long handed-out TURN credentials stay valid, seconds (renewed on every reconnect).
    #[arg(long, env = "POSEPARTY_TURN_TTL_SECS", default_value_t = defaults::TURN_TTL_SECS)]
    pub turn_ttl_secs: u64,

    /// PEM certificate chain: with `--tls-key`, the listener speaks TLS (clients use wss://).
    #[arg(long, env = "POSEPARTY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "POSEPARTY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "POSEPARTY_LOG_JSON")]
    pub log_json: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: defaults::BIND.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 7878))),
            stun_port: defaults::STUN_PORT,
            public_host: None,
            db: PathBuf::from(defaults::DB),
            redis: None,
            room_cap: defaults::ROOM_CAP,
            msg_rate: defaults::MSG_RATE,
            msg_burst: defaults::MSG_BURST,
            failed_joins: defaults::FAILED_JOINS,
            failed_join_window_ms: defaults::FAILED_JOIN_WINDOW_MS,
            handshake_timeout_ms: defaults::HANDSHAKE_TIMEOUT_MS,
            ping_interval_ms: defaults::PING_INTERVAL_MS,
            idle_timeout_ms: defaults::IDLE_TIMEOUT_MS,
            reconnect_grace_ms: defaults::RECONNECT_GRACE_MS,
            ready_timeout_ms: defaults::READY_TIMEOUT_MS,
            start_delay_ms: defaults::START_DELAY_MS,
            ws_buffer_bytes: defaults::WS_BUFFER_BYTES,
            outbox_frames: defaults::OUTBOX_FRAMES,
            shutdown_grace_ms: defaults::SHUTDOWN_GRACE_MS,
            outbox_bytes: defaults::OUTBOX_BYTES,
            write_timeout_ms: defaults::WRITE_TIMEOUT_MS,
            max_connections: defaults::MAX_CONNECTIONS,
            max_connections_per_ip: defaults::MAX_CONNECTIONS_PER_IP,
            header_read_timeout_ms: defaults::HEADER_READ_TIMEOUT_MS,
            http_timeout_ms: defaults::HTTP_TIMEOUT_MS,
            http_max_header_bytes: defaults::HTTP_MAX_HEADER_BYTES,
            ws_max_message_bytes: defaults::WS_MAX_MESSAGE_BYTES,
            max_fragments: defaults::MAX_FRAGMENTS,
            unfinished_message_timeout_ms: defaults::UNFINISHED_MESSAGE_TIMEOUT_MS,
            failed_join_step_ms: defaults::FAILED_JOIN_STEP_MS,
            failed_join_max_delay_ms: defaults::FAILED_JOIN_MAX_DELAY_MS,
            min_round_secs: defaults::MIN_ROUND_SECS,
            report_early_ms: defaults::REPORT_EARLY_MS,
            rounds_per_min: defaults::ROUNDS_PER_MIN,
            rounds_burst: defaults::ROUNDS_BURST,
            ip_rounds_per_min: defaults::IP_ROUNDS_PER_MIN,
            loading_fanout_ms: defaults::LOADING_FANOUT_MS,
            http_history: HttpHistory::Token,
            history_max_bytes: defaults::HISTORY_MAX_BYTES,
            stun_rate: defaults::STUN_RATE,
            stun_burst: defaults::STUN_BURST,
            stun_global_rate: defaults::STUN_GLOBAL_RATE,

            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: defaults::TURN_TTL_SECS,
            tls_cert: None,
            tls_key: None,
            log_json: false,
        }
    }
}

impl Config {
    /// A configuration for tests and embedding: both ports picked by the OS on 127.0.0.1,
    /// history in memory, every other value at its default.
    pub fn ephemeral() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            stun_port: 0,
            db: PathBuf::from(":memory:"),
            ..Self::default()
        }
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms.max(1))
    }
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms.max(1))
    }
    pub(crate) fn reconnect_grace(&self) -> Duration {
        Duration::from_millis(self.reconnect_grace_ms)
    }
    pub(crate) fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }
    pub(crate) fn failed_join_window(&self) -> Duration {
        Duration::from_millis(self.failed_join_window_ms.max(1))
    }
    pub(crate) fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
    pub(crate) fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms.max(1))
    }
    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms.max(1))
    }
    pub(crate) fn http_timeout(&self) -> Duration {
        Duration::from_millis(self.http_timeout_ms.max(1))
    }
    pub(crate) fn unfinished_message_timeout(&self) -> Duration {
        Duration::from_millis(self.unfinished_message_timeout_ms.max(1))
    }
    pub(crate) fn loading_fanout(&self) -> Duration {
        Duration::from_millis(self.loading_fanout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_flagless_command_line() {
        let parsed = Config::try_parse_from(["server"]).map_err(|e| e.to_string());
        let parsed = match parsed {
            Ok(c) => c,
            Err(e) => panic!("flagless parse failed: {e}"),
        };
        let default = Config::default();
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::try_parse_from(["server", "--bind", "0.0.0.0:9000", "--room-cap", "4", "--stun-port", "0"])
            .map_err(|e| e.to_string());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("parse failed: {e}"),
        };
        assert_eq!(c.bind, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(c.room_cap, 4);
        assert_eq!(c.stun_port, 0);
        assert!(Config::try_parse_from(["server", "--room-cap", "0"]).is_err());
    }

    #[test]
    fn turn_and_tls_flags_parse_and_the_secret_is_never_printed() {
        let c = Config::try_parse_from([
            "server",
            "--turn-url", "turn:198.18.0.1:3478?transport=udp",
            "--turn-url", "turns:turn.example.org:5349?transport=tcp",
            "--turn-secret", "hunter2-very-secret",
            "--tls-cert", "cert.pem",
            "--tls-key", "key.pem",
        ])
        .map_err(|e| e.to_string());
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("parse failed: {e}"),
        };
        assert_eq!(c.turn_urls.len(), 2);
        assert_eq!(c.turn_secret.as_ref().map(|s| s.expose()), Some("hunter2-very-secret"));
        let printed = format!("{c:?} {c:#?}");
        assert!(!printed.contains("hunter2"), "the secret leaked into Debug: {printed}");
        assert!(Config::try_parse_from(["server", "--tls-cert", "cert.pem"]).is_err(), "a cert needs a key");
    }
}
