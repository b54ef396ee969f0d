//! Counters for `/metrics`, rendered in the Prometheus text exposition format.
//!
//! Everything is a relaxed atomic: the hot path only ever does `fetch_add`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::protocol::signal::ErrorCode;

/// Error kinds counted by `/metrics`: every [`ErrorCode`] the server sends, plus events that
/// never reach a client as an error frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Code(ErrorCode),
    /// A connection's outbox was full; the connection was dropped.
    SlowConsumer,
    /// The websocket itself failed (reset, protocol violation).
    Transport,
    /// The history database failed.
    Database,
}

const CODES: [ErrorCode; 22] = [
    ErrorCode::BadVersion,
    ErrorCode::BadHandshake,
    ErrorCode::Malformed,
    ErrorCode::TooLarge,
    ErrorCode::RateLimited,
    ErrorCode::TooManyFailedJoins,
    ErrorCode::RoomNotFound,
    ErrorCode::RoomFull,
    ErrorCode::WrongPhase,
    ErrorCode::NotInRoom,
    ErrorCode::AlreadyInRoom,
    ErrorCode::NotHost,
    ErrorCode::InvalidName,
    ErrorCode::InvalidSettings,
    ErrorCode::StaleToken,
    ErrorCode::UnknownPeer,
    ErrorCode::RoundNotOver,
    ErrorCode::AlreadyReported,
    ErrorCode::InvalidReport,
    ErrorCode::NameTaken,
    ErrorCode::TooSlow,
    // Last: unknown codes are counted here.
    ErrorCode::Internal,
];
const EXTRA: [ErrorKind; 3] = [ErrorKind::SlowConsumer, ErrorKind::Transport, ErrorKind::Database];
const KINDS: usize = CODES.len() + EXTRA.len();

impl ErrorKind {
    fn index(self) -> usize {
        match self {
            ErrorKind::Code(code) => CODES.iter().position(|c| *c == code).unwrap_or(CODES.len() - 1),
            ErrorKind::SlowConsumer => CODES.len(),
            ErrorKind::Transport => CODES.len() + 1,
            ErrorKind::Database => CODES.len() + 2,
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::Code(code) => match code {
                ErrorCode::BadVersion => "bad_version",
                ErrorCode::BadHandshake => "bad_handshake",
                ErrorCode::Malformed => "malformed",
                ErrorCode::TooLarge => "too_large",
                ErrorCode::RateLimited => "rate_limited",
                ErrorCode::TooManyFailedJoins => "too_many_failed_joins",
                ErrorCode::RoomNotFound => "room_not_found",
                ErrorCode::RoomFull => "room_full",
                ErrorCode::WrongPhase => "wrong_phase",
                ErrorCode::NotInRoom => "not_in_room",
                ErrorCode::AlreadyInRoom => "already_in_room",
                ErrorCode::NotHost => "not_host",
                ErrorCode::InvalidName => "invalid_name",
                ErrorCode::InvalidSettings => "invalid_settings",
                ErrorCode::StaleToken => "stale_token",
                ErrorCode::UnknownPeer => "unknown_peer",
                ErrorCode::Internal => "internal",
                ErrorCode::RoundNotOver => "round_not_over",
                ErrorCode::AlreadyReported => "already_reported",
                ErrorCode::InvalidReport => "invalid_report",
                ErrorCode::NameTaken => "name_taken",
                ErrorCode::TooSlow => "too_slow",
            },
            ErrorKind::SlowConsumer => "slow_consumer",
            ErrorKind::Transport => "transport",
            ErrorKind::Database => "database",
        }
    }

    fn all() -> impl Iterator<Item = ErrorKind> {
        CODES.into_iter().map(ErrorKind::Code).chain(EXTRA)
    }
}

/// Limits that acted: connections refused or closed, requests slowed or refused, datagrams
/// not answered. Counted in `poseparty_limit_total{limit=…}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A TCP connection closed at accept: its address already had the most connections.
    ConnectionsPerIp,
    /// A TCP connection closed at accept: the server had the most connections.
    ConnectionsTotal,
    /// The HTTP request head did not arrive within the header-read timeout.
    HeaderReadTimeout,
    /// The HTTP request/response (or the websocket upgrade) did not finish in time.
    HttpTimeout,
    /// A websocket frame or fragmented message stayed unfinished too long.
    UnfinishedMessage,
    /// A websocket message had too many fragments.
    TooManyFragments,
    /// A client's outbox (frames or bytes) overflowed: the connection was dropped.
    OutboxFull,
    /// A write to a client did not finish within the write timeout: dropped.
    WriteTimeout,
    /// A join waited because of wrong codes from its address.
    JoinDelayed,
    /// A report refused (too early, twice, wrong players, impossible numbers).
    ReportRefused,
    /// A round start refused by the per-player or per-address round limit.
    RoundsLimited,
    /// A loading/readiness snapshot folded into a later one.
    SnapshotCoalesced,
    /// A history page cut short to fit its byte bound.
    HistoryTruncated,
    /// A STUN datagram that is not a well-formed Binding request.
    StunMalformed,
    /// A STUN request not answered because of the per-source or global rate.
    StunRateLimited,
    /// A name refused (control/format/bidi characters, too long, look-alike in the room).
    NameRefused,
}

const LIMITS: [Limit; 16] = [
    Limit::ConnectionsPerIp,
    Limit::ConnectionsTotal,
    Limit::HeaderReadTimeout,
    Limit::HttpTimeout,
    Limit::UnfinishedMessage,
    Limit::TooManyFragments,
    Limit::OutboxFull,
    Limit::WriteTimeout,
    Limit::JoinDelayed,
    Limit::ReportRefused,
    Limit::RoundsLimited,
    Limit::SnapshotCoalesced,
    Limit::HistoryTruncated,
    Limit::StunMalformed,
    Limit::StunRateLimited,
    Limit::NameRefused,
];

impl Limit {
    fn index(self) -> usize {
        LIMITS.iter().position(|l| *l == self).unwrap_or(0)
    }

    fn label(self) -> &'static str {
        match self {
            Limit::ConnectionsPerIp => "connections_per_ip",
            Limit::ConnectionsTotal => "connections_total",
            Limit::HeaderReadTimeout => "header_read_timeout",
            Limit::HttpTimeout => "http_timeout",
            Limit::UnfinishedMessage => "unfinished_message",
            Limit::TooManyFragments => "too_many_fragments",
            Limit::OutboxFull => "outbox_full",
            Limit::WriteTimeout => "write_timeout",
            Limit::JoinDelayed => "join_delayed",
            Limit::ReportRefused => "report_refused",
            Limit::RoundsLimited => "rounds_limited",
            Limit::SnapshotCoalesced => "snapshot_coalesced",
            Limit::HistoryTruncated => "history_truncated",
            Limit::StunMalformed => "stun_malformed",
            Limit::StunRateLimited => "stun_rate_limited",
            Limit::NameRefused => "name_refused",
        }
    }
}

/// Upper bounds of the relay latency histogram, microseconds.
const LATENCY_BUCKETS_US: [u64; 12] = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000];

/// A Prometheus histogram of durations with fixed bucket bounds (microseconds).
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds_us: [u64; N],
    buckets: [AtomicU64; N],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub fn new(bounds_us: [u64; N]) -> Self {
        Self { bounds_us, buckets: std::array::from_fn(|_| AtomicU64::new(0)), count: AtomicU64::new(0), sum_us: AtomicU64::new(0) }
    }

    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        if let Some(i) = self.bounds_us.iter().position(|b| us <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Renders it as `name` (seconds), each line with `labels` (e.g. `node="n1",`, or empty).
    pub fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds_us.iter().zip(&self.buckets) {
            cumulative += load(count);
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
        }
        let count = load(&self.count);
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let plain = labels.trim_end_matches(',');
        let braces = if plain.is_empty() { String::new() } else { format!("{{{plain}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", load(&self.sum_us) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    connections: AtomicU64,
    connections_total: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    signals_relayed: AtomicU64,
    matches_recorded: AtomicU64,
    errors: [AtomicU64; KINDS],
    relay_latency: Histogram<{ LATENCY_BUCKETS_US.len() }>,
    limits: [AtomicU64; LIMITS.len()],
    tcp_connections: AtomicU64,
    outbox_bytes: AtomicU64,
    stun_answered: AtomicU64,
    slow_dropped: AtomicU64,
    links_direct: AtomicU64,
    links_relayed: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            signals_relayed: AtomicU64::new(0),
            matches_recorded: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            relay_latency: Histogram::new(LATENCY_BUCKETS_US),
            limits: std::array::from_fn(|_| AtomicU64::new(0)),
            tcp_connections: AtomicU64::new(0),
            outbox_bytes: AtomicU64::new(0),
            stun_answered: AtomicU64::new(0),
            slow_dropped: AtomicU64::new(0),
            links_direct: AtomicU64::new(0),
            links_relayed: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.connections_total.fetch_add(1, Ordering::Relaxed);
    }
    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
    pub fn message_in(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }
    pub fn message_out(&self) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
    }
    pub fn match_recorded(&self) {
        self.matches_recorded.fetch_add(1, Ordering::Relaxed);
    }
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn limit(&self, limit: Limit) {
        self.limits[limit.index()].fetch_add(1, Ordering::Relaxed);
    }
    pub fn limit_count(&self, limit: Limit) -> u64 {
        self.limits[limit.index()].load(Ordering::Relaxed)
    }
    pub fn tcp_opened(&self) {
        self.tcp_connections.fetch_add(1, Ordering::Relaxed);
    }
    pub fn tcp_connections(&self) -> u64 {
        self.tcp_connections.load(Ordering::Relaxed)
    }
    pub fn tcp_closed(&self) {
        self.tcp_connections.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn outbox_grew(&self, bytes: usize) {
        self.outbox_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub fn outbox_shrank(&self, bytes: usize) {
        self.outbox_bytes.fetch_sub(bytes as u64, Ordering::Relaxed);
    }
    pub fn stun_answered(&self) {
        self.stun_answered.fetch_add(1, Ordering::Relaxed);
    }
    /// A connection closed because it did not take its messages.
    /// A client's link counts changed from `old` to `new` (direct, relayed).
    pub fn link_paths(&self, old: (u8, u8), new: (u8, u8)) {
        for (gauge, old, new) in [(&self.links_direct, old.0, new.0), (&self.links_relayed, old.1, new.1)] {
            if new >= old {
                gauge.fetch_add(u64::from(new - old), Ordering::Relaxed);
            } else {
                // Never below zero, whatever the order of updates.
                let _ = gauge.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(v.saturating_sub(u64::from(old - new))));
            }
        }
    }

    pub fn slow_dropped(&self) {
        self.slow_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Time from a `Signal` frame being read to its relayed copy being written.
    pub fn relay_latency(&self, latency: Duration) {
        self.signals_relayed.fetch_add(1, Ordering::Relaxed);
        self.relay_latency.observe(latency);
    }

    /// Renders every counter in the Prometheus text format; `rooms` is read by the caller.
    pub fn render(&self, rooms: usize) -> String {
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        metric("poseparty_connections", "gauge", "Open websocket connections.", load(&self.connections));
        metric("poseparty_connections_total", "counter", "Websocket connections accepted.", load(&self.connections_total));
        metric("poseparty_rooms", "gauge", "Rooms that exist.", rooms as u64);
        metric("poseparty_messages_in_total", "counter", "Frames received from clients.", load(&self.messages_in));
        metric("poseparty_messages_out_total", "counter", "Frames sent to clients.", load(&self.messages_out));
        metric("poseparty_signals_relayed_total", "counter", "Signal messages relayed between peers.", load(&self.signals_relayed));
        metric("poseparty_matches_recorded_total", "counter", "Matches written to the history.", load(&self.matches_recorded));

        metric("poseparty_tcp_connections", "gauge", "Open TCP connections (HTTP and websocket).", load(&self.tcp_connections));
        metric("poseparty_outbox_bytes", "gauge", "Bytes queued for clients in all outboxes.", load(&self.outbox_bytes));
        metric("poseparty_slow_clients_dropped_total", "counter", "Connections closed because they did not take their messages.", load(&self.slow_dropped));
        metric("poseparty_stun_answered_total", "counter", "STUN Binding requests answered.", load(&self.stun_answered));
        let _ = writeln!(
            out,
            "# HELP poseparty_peer_links Peer links as their offering clients report them, by path: direct, or through a TURN relay.\n# TYPE poseparty_peer_links gauge"
        );
        let _ = writeln!(out, "poseparty_peer_links{{path=\"direct\"}} {}", load(&self.links_direct));
        let _ = writeln!(out, "poseparty_peer_links{{path=\"relayed\"}} {}", load(&self.links_relayed));
        let _ = writeln!(out, "# HELP poseparty_limit_total Limits that acted, by limit.\n# TYPE poseparty_limit_total counter");
        for l in LIMITS {
            let _ = writeln!(out, "poseparty_limit_total{{limit=\"{}\"}} {}", l.label(), load(&self.limits[l.index()]));
        }

        let _ = writeln!(out, "# HELP poseparty_errors_total Errors by kind.\n# TYPE poseparty_errors_total counter");
        for kind in ErrorKind::all() {
            let _ = writeln!(out, "poseparty_errors_total{{kind=\"{}\"}} {}", kind.label(), load(&self.errors[kind.index()]));
        }

        self.relay_latency.render(&mut out, "poseparty_relay_latency_seconds", "Time from reading a Signal to writing its relayed copy.", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for kind in ErrorKind::all() {
            assert!(seen.insert(kind.index()), "{kind:?} shares a slot");
            assert!(kind.index() < KINDS);
        }
        assert_eq!(seen.len(), KINDS);
    }

    #[test]
    fn link_paths_follow_each_clients_latest_counts() {
        let m = Metrics::default();
        m.link_paths((0, 0), (2, 1));
        m.link_paths((0, 0), (0, 3));
        m.link_paths((2, 1), (1, 2));
        let text = m.render(0);
        assert!(text.contains("poseparty_peer_links{path=\"direct\"} 1\n"), "{text}");
        assert!(text.contains("poseparty_peer_links{path=\"relayed\"} 5\n"), "{text}");
        // A session that goes away takes its links with it, and the gauges never wrap.
        m.link_paths((1, 2), (0, 0));
        m.link_paths((5, 5), (0, 0));
        let text = m.render(0);
        assert!(text.contains("poseparty_peer_links{path=\"direct\"} 0\n"), "{text}");
        assert!(text.contains("poseparty_peer_links{path=\"relayed\"} 0\n"), "{text}");
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.relay_latency(Duration::from_micros(40));
        m.relay_latency(Duration::from_micros(700));
        m.relay_latency(Duration::from_secs(2));
        m.error(ErrorKind::Code(ErrorCode::RoomFull));
        let text = m.render(3);
        assert!(text.contains("poseparty_relay_latency_seconds_bucket{le=\"0.00005\"} 1"), "{text}");
        assert!(text.contains("poseparty_relay_latency_seconds_bucket{le=\"0.001\"} 2"), "{text}");
        assert!(text.contains("poseparty_relay_latency_seconds_bucket{le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("poseparty_errors_total{kind=\"room_full\"} 1"), "{text}");
        assert!(text.contains("poseparty_rooms 3"), "{text}");
    }
}
