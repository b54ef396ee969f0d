//! Cluster mode (`--redis URL`): several server nodes behind one address share their rooms
//! through Redis.
//!
//! - **Every room has a home node** — the node whose player created it. Its state lives in
//!   the home's memory, as on a single server, and is mirrored to Redis after every change
//!   (`pp:room:<code>`: the home's id and a [`wire::RoomRecord`]). Every operation on a room
//!   runs on its home, one at a time under the room's lock: two joins to the last seat, a
//!   host leaving while another joins, end the same way they do on one server.
//! - **Every player has a gateway** — the node its websocket is connected to. A message about
//!   a room homed elsewhere goes to the home over Redis pub/sub (`pp:to:<node>`), and what the
//!   home sends the player comes back the same way ([`wire::NodeMsg`]).
//! - **Reconnect tokens** are in Redis (`pp:token:<token>`, with expiry): a player may
//!   reconnect to any node and keep its seat.
//! - **Quick match** keeps the open public rooms in a sorted set (`pp:quick`, by seats taken);
//!   a Lua script picks the fullest and reserves a seat in one step, and only one node at a
//!   time may create a new public room (`pp:quick:lock`), so simultaneous quick matches on
//!   different nodes meet in one room.
//! - **Nodes** refresh `pp:node:<id>` every second (expiry 3 s). Every node watches the
//!   others: when a node's key expires (it was killed), the rooms it was home to are taken
//!   over — a Lua compare-and-set makes exactly one node the new home, which rebuilds the room
//!   from its record — and seats whose gateway it was wait for their players to reconnect.
//!   A node stopped with SIGTERM tells its clients to reconnect (they come back through the
//!   load balancer to another node) and hands its rooms over the same way.
//! - Peer ids are unique across the cluster (`INCR pp:peer_seq` for each new session).

pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use shared::protocol::signal::PeerId;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::Histogram;
use wire::{NodeId, NodeMsg, TokenRecord};

/// How often a node refreshes its key, and how long the key lives without a refresh.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
pub const NODE_TTL: Duration = Duration::from_secs(3);
/// Redis calls that take longer than this fail (the node reports itself unhealthy).
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a token outlives its last refresh (the seat grace plus a margin).
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// How long a room's record outlives its home's last refresh (the home refreshes its rooms
/// every [`ROOM_REFRESH`]; a stopped home's rooms are taken over within seconds).
pub const ROOM_TTL: Duration = Duration::from_secs(120);
pub const ROOM_REFRESH: Duration = Duration::from_secs(30);

/// Why cluster mode could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("the Redis URL {url:?} is not valid ({reason}) — use e.g. redis://127.0.0.1:6379/")]
    BadUrl { url: String, reason: String },
    #[error("cannot reach Redis at {url}: {reason} — is redis-server running there? (--redis / POSEPARTY_REDIS)")]
    Unreachable { url: String, reason: String },
    #[error("Redis call {op} failed: {reason}")]
    Call { op: &'static str, reason: String },
    #[error("Redis did not answer {op} within {REDIS_TIMEOUT:?}")]
    Timeout { op: &'static str },
    #[error("the cluster has used up its 2^32 player ids — stop every node and delete pp:peer_seq")]
    IdsExhausted,
}

/// Upper bounds of the Redis round-trip histogram, microseconds.
const RTT_BUCKETS_US: [u64; 10] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000];

/// The cluster figures of `/metrics`.
#[derive(Debug)]
pub struct ClusterStats {
    /// Redis answered the last call.
    pub up: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    pub messages_out: AtomicU64,
    pub messages_in: AtomicU64,
    pub takeovers: AtomicU64,
    /// Cluster-wide figures, read from Redis every few seconds.
    pub nodes: AtomicU64,
    pub rooms: AtomicU64,
    pub players: AtomicU64,
    rtt: Histogram<{ RTT_BUCKETS_US.len() }>,
    pub redis_errors: AtomicU64,
}

impl Default for ClusterStats {
    fn default() -> Self {
        Self {
            up: AtomicBool::default(),
            last_error: Mutex::default(),
            messages_out: AtomicU64::default(),
            messages_in: AtomicU64::default(),
            takeovers: AtomicU64::default(),
            nodes: AtomicU64::default(),
            rooms: AtomicU64::default(),
            players: AtomicU64::default(),
            rtt: Histogram::new(RTT_BUCKETS_US),
            redis_errors: AtomicU64::default(),
        }
    }
}

impl ClusterStats {
    /// The `/metrics` lines of the cluster.
    pub fn render(&self, node: &str, out: &mut String) {
        use std::fmt::Write;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut gauge = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{node=\"{node}\"}} {value}");
        };
        gauge("poseparty_cluster_up", "gauge", "1 while this node reaches Redis.", u64::from(self.up.load(Ordering::Relaxed)));
        gauge("poseparty_cluster_nodes", "gauge", "Nodes alive in the cluster.", load(&self.nodes));
        gauge("poseparty_cluster_rooms", "gauge", "Rooms in the whole cluster.", load(&self.rooms));
        gauge("poseparty_cluster_players", "gauge", "Players connected to the whole cluster.", load(&self.players));
        gauge("poseparty_cluster_messages_out_total", "counter", "Messages this node sent to other nodes.", load(&self.messages_out));
        gauge("poseparty_cluster_messages_in_total", "counter", "Messages this node received from other nodes.", load(&self.messages_in));
        gauge("poseparty_cluster_takeovers_total", "counter", "Rooms this node took over from a node that stopped.", load(&self.takeovers));
        gauge("poseparty_cluster_redis_errors_total", "counter", "Redis calls that failed or timed out.", load(&self.redis_errors));
        self.rtt.render(out, "poseparty_redis_rtt_seconds", "Round trip of this node's Redis calls.", &format!("node=\"{node}\","));
    }
}

/// Picks the fullest open public room and reserves a seat in it (its score goes up by one;
/// the home writes the true count back). KEYS[1] = pp:quick; ARGV[1] = the room cap.
/// Returns the code, or false when no room has a free seat.
const QUICK_PICK: &str = r"
local best = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '-inf', 'LIMIT', 0, 1)
if #best == 0 then return false end
redis.call('ZINCRBY', KEYS[1], 1, best[1])
return best[1]
";

/// Makes this node the home of a room whose home was `dead`, once. KEYS[1] = pp:room:<code>,
/// KEYS[2] = pp:home:<me>, KEYS[3] = pp:home:<dead>; ARGV[1] = dead, ARGV[2] = me,
/// ARGV[3] = the code. Returns the room record, or false when another node was first (or
/// the room is gone).
const TAKE_OVER: &str = r"
if redis.call('HGET', KEYS[1], 'home') ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'home', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[3])
return redis.call('HGET', KEYS[1], 'rec')
";

/// Raises a counter to at least ARGV[1]. KEYS[1] = the counter.
const RAISE: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// This node's handle on the cluster.
pub struct Cluster {
    pub node: NodeId,
    /// The URL without any password, for messages.
    url: String,
    conn: ConnectionManager,
    client: redis::Client,
    out: mpsc::UnboundedSender<(NodeId, NodeMsg)>,
    out_rx: Mutex<Option<mpsc::UnboundedReceiver<(NodeId, NodeMsg)>>>,
    /// Token writes (`None`: delete), applied in order by one task.
    tokens: mpsc::UnboundedSender<TokenWrite>,
    tokens_rx: Mutex<Option<mpsc::UnboundedReceiver<TokenWrite>>>,
    pub stats: ClusterStats,
    quick_pick: redis::Script,
    take_over: redis::Script,
    raise: redis::Script,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).field("url", &self.url).finish_non_exhaustive()
    }
}

/// The URL with its password (if any) replaced, for logs and errors.
fn shown(url: &str) -> String {
    match url.split_once('@') {
        Some((before, after)) => match before.rsplit_once(':') {
            Some((scheme_user, _)) if scheme_user.contains("//") => format!("{scheme_user}:…@{after}"),
            _ => format!("…@{after}"),
        },
        None => url.to_owned(),
    }
}

fn call_error(op: &'static str, e: &redis::RedisError) -> ClusterError {
    ClusterError::Call { op, reason: e.to_string() }
}

/// Key names.
pub fn room_key(code: &str) -> String {
    format!("pp:room:{code}")
}
fn home_key(node: &str) -> String {
    format!("pp:home:{node}")
}
fn node_key(node: &str) -> String {
    format!("pp:node:{node}")
}
fn token_key(token: &str) -> String {
    format!("pp:token:{token}")
}
fn channel(node: &str) -> String {
    format!("pp:to:{node}")
}
const QUICK: &str = "pp:quick";
const QUICK_LOCK: &str = "pp:quick:lock";
const NODES: &str = "pp:nodes";
const PEER_SEQ: &str = "pp:peer_seq";

/// A token to write (`None`: delete it) and the grace its expiry follows.
type TokenWrite = (String, Option<TokenRecord>, Duration);

/// A task that handles the items of `rx`, one at a time in order, until `shutdown` (or the
/// queue closes).
fn drain<T: Send + 'static, F: std::future::Future<Output = ()> + Send>(
    rx: Option<mpsc::UnboundedReceiver<T>>,
    shutdown: CancellationToken,
    mut handle: impl FnMut(T) -> F + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut rx) = rx else { return };
        loop {
            let next = tokio::select! {
                m = rx.recv() => m,
                () = shutdown.cancelled() => None,
            };
            let Some(item) = next else { break };
            handle(item).await;
        }
    })
}

/// What quick match should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuickChoice {
    /// Join this room (a seat is reserved).
    Join(String),
    /// Create a public room: this node holds the creation lock until [`Cluster::quick_created`].
    Create,
}

impl Cluster {
    /// Connects to Redis, takes a node id and a block of peer ids. Fails with a clear error
    /// when the URL is bad or Redis does not answer.
    pub async fn connect(url: &str) -> Result<Arc<Cluster>, ClusterError> {
        let shown_url = shown(url);
        let client = redis::Client::open(url).map_err(|e| ClusterError::BadUrl { url: shown_url.clone(), reason: e.to_string() })?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(REDIS_TIMEOUT * 2, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| ClusterError::Unreachable { url: shown_url.clone(), reason: "no answer".into() })?
            .map_err(|e| ClusterError::Unreachable { url: shown_url.clone(), reason: e.to_string() })?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let (tokens, tokens_rx) = mpsc::unbounded_channel();
        let mut cluster = Cluster {
            tokens,
            tokens_rx: Mutex::new(Some(tokens_rx)),
            node: String::new(),
            url: shown_url.clone(),
            conn,
            client,
            out,
            out_rx: Mutex::new(Some(out_rx)),
            stats: ClusterStats::default(),
            quick_pick: redis::Script::new(QUICK_PICK),
            take_over: redis::Script::new(TAKE_OVER),
            raise: redis::Script::new(RAISE),
        };
        let seq: u64 = cluster
            .query("INCR", redis::cmd("INCR").arg("pp:node_seq"))
            .await
            .map_err(|e| ClusterError::Unreachable { url: shown_url, reason: e.to_string() })?;
        // The sequence number keeps ids short; the random part keeps them unique even when
        // Redis lost its data (a restart without persistence) and counts from 1 again.
        cluster.node = format!("n{seq}-{:04x}", rand::random::<u16>());
        let cluster = Arc::new(cluster);
        cluster.heartbeat().await?;
        tracing::info!(node = %cluster.node, redis = %cluster.url, "joined the cluster");
        Ok(cluster)
    }

    /// A new cluster-unique peer id, above `at_least` (the highest id this node knows in
    /// use: after Redis lost its data, its counter starts again from 1).
    pub async fn new_peer_id(&self, at_least: PeerId) -> Result<PeerId, ClusterError> {
        let id: u64 = self.query("INCR", redis::cmd("INCR").arg(PEER_SEQ)).await?;
        let id = if id <= u64::from(at_least) {
            self.raise_peer_seq(at_least).await?;
            self.query("INCR", redis::cmd("INCR").arg(PEER_SEQ)).await?
        } else {
            id
        };
        PeerId::try_from(id).map_err(|_| ClusterError::IdsExhausted)
    }

    /// Makes the peer-id counter at least `at_least` (every node does so on its heartbeat
    /// with the ids it holds).
    pub async fn raise_peer_seq(&self, at_least: PeerId) -> Result<(), ClusterError> {
        let mut inv = self.raise.prepare_invoke();
        inv.key(PEER_SEQ).arg(at_least);
        self.script::<()>("raise peer ids", inv).await
    }

    /// Runs one Redis command (see [`Cluster::timed`]).
    async fn query<T: redis::FromRedisValue>(&self, op: &'static str, cmd: &redis::Cmd) -> Result<T, ClusterError> {
        let mut conn = self.conn.clone();
        self.timed(op, cmd.query_async::<T>(&mut conn)).await
    }

    async fn pipe<T: redis::FromRedisValue>(&self, op: &'static str, pipe: &redis::Pipeline) -> Result<T, ClusterError> {
        let mut conn = self.conn.clone();
        self.timed(op, pipe.query_async::<T>(&mut conn)).await
    }

    async fn script<T: redis::FromRedisValue>(&self, op: &'static str, inv: redis::ScriptInvocation<'_>) -> Result<T, ClusterError> {
        let mut conn = self.conn.clone();
        self.timed(op, inv.invoke_async::<T>(&mut conn)).await
    }

    /// One Redis call under [`REDIS_TIMEOUT`], timed for the histogram and the health check.
    async fn timed<T>(&self, op: &'static str, call: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, ClusterError> {
        let started = Instant::now();
        let result = tokio::time::timeout(REDIS_TIMEOUT, call).await;
        self.finish(op, started, result.map_err(|_| ClusterError::Timeout { op }).and_then(|r| r.map_err(|e| call_error(op, &e))))
    }

    fn finish<T>(&self, op: &'static str, started: Instant, result: Result<T, ClusterError>) -> Result<T, ClusterError> {
        match &result {
            Ok(_) => {
                self.stats.rtt.observe(started.elapsed());
                if !self.stats.up.swap(true, Ordering::Relaxed) {
                    tracing::info!(node = %self.node, "Redis reachable");
                }
            }
            Err(e) => {
                self.stats.redis_errors.fetch_add(1, Ordering::Relaxed);
                if self.stats.up.swap(false, Ordering::Relaxed) {
                    tracing::error!(node = %self.node, op, "Redis unreachable: {e}");
                }
                if let Ok(mut last) = self.stats.last_error.lock() {
                    *last = Some(format!("{e} (Redis at {})", self.url));
                }
            }
        }
        result
    }

    /// Why the node is not healthy, if it is not: Redis unreachable.
    pub fn health_problem(&self) -> Option<String> {
        if self.stats.up.load(Ordering::Relaxed) {
            return None;
        }
        let last = self.stats.last_error.lock().ok().and_then(|l| l.clone());
        Some(last.unwrap_or_else(|| format!("Redis at {} has not answered yet", self.url)))
    }

    /// Refreshes this node's key (and membership of the node set). False when the key was
    /// gone: Redis lost its data meanwhile (or this node stalled for longer than the key
    /// lives), so what this node keeps there must be written again.
    pub async fn heartbeat(&self) -> Result<bool, ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(node_key(&self.node)).arg(1).arg("PX").arg(NODE_TTL.as_millis() as u64).arg("GET");
        pipe.cmd("SADD").arg(NODES).arg(&self.node).ignore();
        let (previous,): (Option<String>,) = self.pipe("heartbeat", &pipe).await?;
        Ok(previous.is_some())
    }

    /// The nodes that stopped refreshing their key (taken out of the node set by the caller
    /// that wins [`Cluster::forget_node`]).
    pub async fn dead_nodes(&self) -> Result<Vec<NodeId>, ClusterError> {
        let nodes: Vec<String> = self.query("SMEMBERS", redis::cmd("SMEMBERS").arg(NODES)).await?;
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.cmd("EXISTS").arg(node_key(n));
        }
        let alive: Vec<bool> = if nodes.is_empty() { Vec::new() } else { self.pipe("EXISTS", &pipe).await? };
        self.stats.nodes.store(alive.iter().filter(|a| **a).count() as u64, Ordering::Relaxed);
        Ok(nodes.into_iter().zip(alive).filter(|(n, a)| !a && *n != self.node).map(|(n, _)| n).collect())
    }

    /// Whether `node` is alive now.
    pub async fn is_alive(&self, node: &str) -> Result<bool, ClusterError> {
        self.query("EXISTS", redis::cmd("EXISTS").arg(node_key(node))).await
    }

    /// The rooms a dead node was home to.
    pub async fn rooms_of(&self, node: &str) -> Result<Vec<String>, ClusterError> {
        self.query("SMEMBERS", redis::cmd("SMEMBERS").arg(home_key(node))).await
    }

    /// Drops a dead node from the set once its rooms are gone from it.
    pub async fn forget_node(&self, node: &str) -> Result<(), ClusterError> {
        let left: u64 = self.query("SCARD", redis::cmd("SCARD").arg(home_key(node))).await?;
        if left == 0 {
            self.query::<()>("SREM", redis::cmd("SREM").arg(NODES).arg(node)).await?;
        }
        Ok(())
    }

    /// Becomes the home of `code` if its home is still `dead`; the room's record if so.
    pub async fn take_over(&self, code: &str, dead: &str) -> Result<Option<Vec<u8>>, ClusterError> {
        let mut inv = self.take_over.prepare_invoke();
        inv.key(room_key(code)).key(home_key(&self.node)).key(home_key(dead)).arg(dead).arg(&self.node).arg(code);
        let rec: Option<Vec<u8>> = self.script("take over", inv).await?;
        if rec.is_some() {
            self.stats.takeovers.fetch_add(1, Ordering::Relaxed);
        }
        Ok(rec)
    }

    /// Where room `code` lives.
    pub async fn home_of(&self, code: &str) -> Result<Option<NodeId>, ClusterError> {
        self.query("HGET", redis::cmd("HGET").arg(room_key(code)).arg("home")).await
    }

    /// Registers a new room homed here; false if the code is taken in the cluster.
    pub async fn register_room(&self, code: &str) -> Result<bool, ClusterError> {
        let new: bool = self.query("HSETNX", redis::cmd("HSETNX").arg(room_key(code)).arg("home").arg(&self.node)).await?;
        if new {
            let mut pipe = redis::pipe();
            pipe.cmd("SADD").arg(home_key(&self.node)).arg(code).ignore();
            pipe.cmd("PEXPIRE").arg(room_key(code)).arg(ROOM_TTL.as_millis() as u64).ignore();
            self.pipe::<()>("register room", &pipe).await?;
        }
        Ok(new)
    }

    /// Mirrors a room: its record, and its place in the quick-match pool (`open`: seats
    /// taken, while it is public with a free seat in the lobby).
    pub async fn write_room(&self, code: &str, record: &[u8], open: Option<usize>) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(room_key(code)).arg("rec").arg(record).ignore();
        pipe.cmd("PEXPIRE").arg(room_key(code)).arg(ROOM_TTL.as_millis() as u64).ignore();
        match open {
            Some(taken) => pipe.cmd("ZADD").arg(QUICK).arg(taken as u64).arg(code).ignore(),
            None => pipe.cmd("ZREM").arg(QUICK).arg(code).ignore(),
        };
        self.pipe::<()>("mirror room", &pipe).await
    }

    /// Keeps the records of the rooms homed here from expiring.
    pub async fn refresh_rooms(&self, codes: &[String]) -> Result<(), ClusterError> {
        if codes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for code in codes {
            pipe.cmd("PEXPIRE").arg(room_key(code)).arg(ROOM_TTL.as_millis() as u64).ignore();
        }
        self.pipe::<()>("refresh rooms", &pipe).await
    }

    /// Takes a room that no longer exists out of the quick-match pool.
    pub async fn forget_quick(&self, code: &str) -> Result<(), ClusterError> {
        self.query::<()>("ZREM", redis::cmd("ZREM").arg(QUICK).arg(code)).await
    }

    /// Forgets a room that closed.
    pub async fn remove_room(&self, code: &str) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(room_key(code)).ignore();
        pipe.cmd("SREM").arg(home_key(&self.node)).arg(code).ignore();
        pipe.cmd("ZREM").arg(QUICK).arg(code).ignore();
        self.pipe::<()>("remove room", &pipe).await
    }

    /// Quick match: a room to join, or the go-ahead to create one. Waits (up to 2 s) while
    /// another node is creating.
    pub async fn quick_choice(&self, cap: u8) -> Result<QuickChoice, ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let mut inv = self.quick_pick.prepare_invoke();
            inv.key(QUICK).arg(cap);
            if let Some(code) = self.script::<Option<String>>("quick pick", inv).await? {
                return Ok(QuickChoice::Join(code));
            }
            let locked: bool = self
                .query("SET NX", redis::cmd("SET").arg(QUICK_LOCK).arg(&self.node).arg("NX").arg("PX").arg(3_000))
                .await
                .map(|v: Option<String>| v.is_some())?;
            if locked || Instant::now() >= deadline {
                return Ok(QuickChoice::Create);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The public room quick match created is in the pool: others may join it now.
    pub async fn quick_created(&self) -> Result<(), ClusterError> {
        self.query::<()>("DEL", redis::cmd("DEL").arg(QUICK_LOCK)).await
    }

    /// Queues a token write (`None`: delete it); writes happen in order.
    pub fn queue_token(&self, token: String, record: Option<TokenRecord>, grace: Duration) {
        let _ = self.tokens.send((token, record, grace));
    }

    /// Starts the token writer; runs until `shutdown`.
    pub fn spawn_token_writer(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let rx = self.tokens_rx.lock().ok().and_then(|mut r| r.take());
        drain(rx, shutdown, move |(token, record, grace): TokenWrite| {
            let this = Arc::clone(&this);
            async move {
                let done = match &record {
                    Some(record) => this.store_token(&token, record, grace).await,
                    None => this.drop_token(&token).await,
                };
                if let Err(e) = done {
                    tracing::warn!("a reconnect token write was lost: {e}");
                }
            }
        })
    }

    /// Stores (or refreshes) a reconnect token.
    pub async fn store_token(&self, token: &str, record: &TokenRecord, grace: Duration) -> Result<(), ClusterError> {
        let Some(bytes) = wire::encode(record) else { return Ok(()) };
        let ttl = (grace + TOKEN_MARGIN).as_millis() as u64;
        self.query::<()>("SET token", redis::cmd("SET").arg(token_key(token)).arg(bytes).arg("PX").arg(ttl)).await
    }

    /// Takes a token (it is used up: the resumed session gets a new one).
    pub async fn take_token(&self, token: &str) -> Result<Option<TokenRecord>, ClusterError> {
        let bytes: Option<Vec<u8>> = self.query("GETDEL", redis::cmd("GETDEL").arg(token_key(token))).await?;
        Ok(bytes.and_then(|b| wire::decode::<TokenRecord>(&b)).filter(|r| r.version == wire::RECORD_VERSION))
    }

    pub async fn drop_token(&self, token: &str) -> Result<(), ClusterError> {
        self.query::<()>("DEL", redis::cmd("DEL").arg(token_key(token))).await
    }

    /// Writes many tokens at once (refreshing their expiry; and restoring them after Redis
    /// lost its data).
    pub async fn store_tokens(&self, tokens: &[(String, TokenRecord)], grace: Duration) -> Result<(), ClusterError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let ttl = (grace + TOKEN_MARGIN).as_millis() as u64;
        let mut pipe = redis::pipe();
        for (t, record) in tokens {
            if let Some(bytes) = wire::encode(record) {
                pipe.cmd("SET").arg(token_key(t)).arg(bytes).arg("PX").arg(ttl).ignore();
            }
        }
        self.pipe::<()>("store tokens", &pipe).await
    }

    /// Publishes this node's player count and reads the cluster's figures.
    pub async fn publish_counts(&self, players: u64) -> Result<(), ClusterError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg("pp:players").arg(&self.node).arg(players).ignore();
        pipe.cmd("HVALS").arg("pp:players");
        pipe.cmd("ZCARD").arg(QUICK);
        pipe.cmd("KEYS").arg("pp:home:*");
        let (counts, _open, homes): (Vec<u64>, u64, Vec<String>) = self.pipe("counts", &pipe).await?;
        self.stats.players.store(counts.iter().sum(), Ordering::Relaxed);
        let mut rooms = 0;
        for h in homes {
            rooms += self.query::<u64>("SCARD", redis::cmd("SCARD").arg(h)).await?;
        }
        self.stats.rooms.store(rooms, Ordering::Relaxed);
        Ok(())
    }

    /// Forgets a dead node's player count.
    pub async fn forget_counts(&self, node: &str) -> Result<(), ClusterError> {
        self.query::<()>("HDEL", redis::cmd("HDEL").arg("pp:players").arg(node)).await
    }

    /// Queues a message to `node` (sent in order by the publisher task).
    pub fn send(&self, node: &str, msg: NodeMsg) {
        self.stats.messages_out.fetch_add(1, Ordering::Relaxed);
        let _ = self.out.send((node.to_owned(), msg));
    }

    /// The sender for remote outboxes.
    pub fn sender(&self) -> mpsc::UnboundedSender<(NodeId, NodeMsg)> {
        self.out.clone()
    }

    /// Starts publishing queued messages; runs until `shutdown`. A message no node received
    /// (its node stopped) goes to `undelivered`.
    pub fn spawn_publisher(
        self: &Arc<Self>,
        shutdown: CancellationToken,
        undelivered: impl Fn(NodeId, NodeMsg) + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let rx = self.out_rx.lock().ok().and_then(|mut r| r.take());
        let undelivered = Arc::new(undelivered);
        drain(rx, shutdown, move |(node, msg): (NodeId, NodeMsg)| {
            let (this, undelivered) = (Arc::clone(&this), Arc::clone(&undelivered));
            async move {
                let Some(bytes) = wire::encode(&msg) else { return };
                match this.query::<u64>("PUBLISH", redis::cmd("PUBLISH").arg(channel(&node)).arg(bytes)).await {
                    Ok(0) => undelivered(node, msg),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(to = %node, "a message to another node could not be sent: {e}");
                        undelivered(node, msg);
                    }
                }
            }
        })
    }

    /// Starts the subscriber: every message to this node goes to `deliver`. Reconnects
    /// (resubscribing) after Redis comes back; runs until `shutdown`.
    pub fn spawn_subscriber(
        self: &Arc<Self>,
        shutdown: CancellationToken,
        deliver: impl Fn(NodeMsg) + Send + Sync + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            use futures_util::StreamExt;
            let mut pause = Duration::from_millis(100);
            while !shutdown.is_cancelled() {
                let subscribed = async {
                    let mut pubsub = this.client.get_async_pubsub().await?;
                    pubsub.subscribe(channel(&this.node)).await?;
                    Ok::<_, redis::RedisError>(pubsub)
                };
                let pubsub = match tokio::time::timeout(REDIS_TIMEOUT, subscribed).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(e)) => {
                        this.finish::<()>("SUBSCRIBE", Instant::now(), Err(call_error("SUBSCRIBE", &e))).ok();
                        tokio::select! { () = tokio::time::sleep(pause) => {}, () = shutdown.cancelled() => break }
                        pause = (pause * 2).min(Duration::from_secs(2));
                        continue;
                    }
                    Err(_) => {
                        this.finish::<()>("SUBSCRIBE", Instant::now(), Err(ClusterError::Timeout { op: "SUBSCRIBE" })).ok();
                        continue;
                    }
                };
                pause = Duration::from_millis(100);
                tracing::debug!(node = %this.node, "subscribed");
                let mut stream = pubsub.into_on_message();
                loop {
                    let next = tokio::select! {
                        m = stream.next() => m,
                        () = shutdown.cancelled() => None,
                    };
                    let Some(msg) = next else { break };
                    this.stats.messages_in.fetch_add(1, Ordering::Relaxed);
                    if let Some(m) = wire::decode::<NodeMsg>(msg.get_payload_bytes()) {
                        deliver(m);
                    }
                }
                if !shutdown.is_cancelled() {
                    tracing::warn!(node = %this.node, "lost the Redis subscription; resubscribing");
                }
            }
        })
    }

    /// Leaves the cluster on a clean stop: the node key goes at once, so the others take
    /// this node's rooms over without waiting for its expiry.
    pub async fn leave(&self) -> Result<(), ClusterError> {
        self.query::<()>("DEL", redis::cmd("DEL").arg(node_key(&self.node))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(shown("redis://:hunter2@10.0.0.5:6379/0"), "redis://:…@10.0.0.5:6379/0");
        assert_eq!(shown("redis://app:hunter2@db:6379"), "redis://app:…@db:6379");
        assert_eq!(shown("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert!(!shown("rediss://u:pw@h").contains("pw"));
    }
}
