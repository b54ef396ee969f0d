//! PoseParty matchmaking, signaling and match-history server.
//!
//! - [`config`]: flags with environment fallbacks ([`Config`]).
//! - `http`: axum routes — `/ws` (binary bincode frames, see `shared::protocol::signal`),
//!   `/health`, `/metrics` (Prometheus text), `/history` (JSON).
//! - `net`: the accept loop (connection caps per address and in total), the HTTP layer's
//!   timeouts, and the frame watcher under the websocket codec (unfinished messages).
//! - `conn`: one task per websocket: handshake, limits, keep-alive, dispatch; writes go
//!   through a bounded outbox drained with a deadline, never blocking the reads.
//! - `names`: player-name normalization and look-alike detection.
//! - `hub` / `rooms`: sessions, rooms (one mutex each), relay, rounds and results.
//! - [`store`]: match history in SQLite or PostgreSQL (`--db`), on its own thread.
//! - [`stun`]: the embedded STUN Binding responder.
//!
//! Embed it with [`spawn`]:
//! ```no_run
//! # async fn demo() -> Result<(), server::ServerError> {
//! let server = server::spawn(server::Config::ephemeral()).await?;
//! println!("connect to {}", server.ws_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod addr;
pub mod cluster;
pub mod config;
mod conn;
pub mod harness;
mod http;
mod hub;
pub mod metrics;
mod names;
mod net;
mod rooms;
mod round;
pub mod store;
pub mod stun;
pub mod tls;
pub mod turn;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
use shared::protocol::signal::IceServer;
pub use store::StoreError;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::store::{Store, StoreThread};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source} — is another server running there? pick another --bind")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot open the STUN port {addr}: {source} — pick another --stun-port (0 = any free port)")]
    StunBind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
}

/// A server running on the current tokio runtime.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    stun_addr: SocketAddr,
    hub: Arc<Hub>,
    http: JoinHandle<()>,
    stun: JoinHandle<()>,
    janitor: JoinHandle<()>,
    store_thread: StoreThread,
    tls: bool,
    /// Cluster mode: the node's tasks (publisher, subscriber, watcher, mirror, tokens).
    cluster_tasks: Vec<JoinHandle<()>>,
}

/// Binds the listeners, opens the history database and starts serving.
pub async fn spawn(config: Config) -> Result<RunningServer, ServerError> {
    let acceptor = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    if acceptor.is_none() && !config.bind.ip().is_loopback() {
        tracing::warn!(
            bind = %config.bind,
            "listening on a non-loopback address WITHOUT TLS: player names, room codes and reconnect \
             tokens cross the network in clear text — pass --tls-cert/--tls-key, or put a TLS reverse \
             proxy in front (README: Deployment)"
        );
    }
    for warning in turn::check(&config.turn_urls, config.turn_secret.as_ref()) {
        tracing::warn!("{warning}");
    }
    let listener = TcpListener::bind(config.bind).await.map_err(|source| ServerError::Bind { addr: config.bind, source })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.bind, source })?;
    let stun_bind = SocketAddr::new(config.bind.ip(), config.stun_port);
    let stun_socket = UdpSocket::bind(stun_bind).await.map_err(|source| ServerError::StunBind { addr: stun_bind, source })?;
    let stun_addr = stun_socket.local_addr().map_err(|source| ServerError::StunBind { addr: stun_bind, source })?;

    let db = config.db.clone();
    let (store, store_thread) = tokio::task::spawn_blocking(move || Store::open(&db))
        .await
        .map_err(|e| StoreError::Thread(std::io::Error::other(e.to_string())))??;

    let host = config.public_host.clone().unwrap_or_else(|| advertised_ip(config.bind.ip()).to_string());
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
    let ice_servers = vec![IceServer { urls: vec![format!("stun:{host}:{}", stun_addr.port())], username: None, credential: None }];

    let cluster = match &config.redis {
        Some(url) => Some(cluster::Cluster::connect(url).await?),
        None => None,
    };
    let shutdown = CancellationToken::new();
    let hub = Arc::new(Hub::new(config, store, ice_servers, shutdown.clone()));
    let cluster_tasks = cluster.map(|c| hub.join_cluster(c)).unwrap_or_default();

    let app = http::router(Arc::clone(&hub));
    let tls = acceptor.is_some();
    let http = tokio::spawn(net::serve(listener, Arc::clone(&hub), app, acceptor));
    let stun = tokio::spawn(stun::serve(stun_socket, Arc::clone(&hub), shutdown.clone()));
    let janitor = tokio::spawn({
        let hub = Arc::clone(&hub);
        async move {
            let mut tick = tokio::time::interval(hub.janitor_period());
            loop {
                tokio::select! {
                    _ = tick.tick() => hub.prune_failed_joins(),
                    () = hub.shutdown.cancelled() => break,
                }
            }
        }
    });
    tracing::info!(http = %local_addr, stun = %stun_addr, tls, turn_urls = hub.config.turn_urls.len(), "server listening");
    Ok(RunningServer { local_addr, stun_addr, hub, http, stun, janitor, store_thread, tls, cluster_tasks })
}

fn advertised_ip(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { bind }
}

impl RunningServer {
    /// Address of the HTTP/websocket listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Address of the STUN responder (UDP).
    pub fn stun_addr(&self) -> SocketAddr {
        self.stun_addr
    }

    /// The websocket URL clients connect to, e.g. `ws://127.0.0.1:7878/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}://{}/ws", if self.tls { "wss" } else { "ws" }, self.local_addr)
    }

    /// Base HTTP URL, e.g. `http://127.0.0.1:7878` (`https://` with TLS).
    pub fn http_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.local_addr)
    }

    /// Open websocket connections.
    /// Cluster mode: this node's id (as in Redis: `pp:node:<id>`, a room's `home`).
    pub fn cluster_node(&self) -> Option<String> {
        self.hub.cluster().map(|c| c.node.clone())
    }

    pub fn connections(&self) -> u64 {
        self.hub.metrics.connections()
    }

    /// Stops gracefully: refuses new connections, sends every client `LeftRoom` (when in
    /// a room) and a going-away close frame, waits for pending history writes, then closes
    /// the database.
    pub async fn shutdown(self) {
        tracing::info!("shutting down");
        // A cluster node hands its rooms over first (its players reconnect elsewhere).
        self.hub.leave_cluster().await;
        self.hub.shutdown.cancel();
        self.hub.tasks.close();
        let grace = self.hub.config.shutdown_grace();
        if tokio::time::timeout(grace, self.hub.tasks.wait()).await.is_err() {
            tracing::warn!(open = self.hub.tasks.len(), "some connections did not close in time");
        }
        // Reports already received for rounds not yet stored are kept, marked incomplete.
        self.hub.record_cut_rounds().await;
        for task in self.cluster_tasks {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                tracing::warn!("a cluster task did not stop in time");
            }
        }
        for (name, task) in [("http", self.http), ("stun", self.stun), ("janitor", self.janitor)] {
            match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "task failed"),
                Err(_) => tracing::warn!(task = name, "task did not stop in time"),
            }
        }
        // Timers and stray tasks may still hold the hub; the database thread stops when
        // told to, not when the last handle goes.
        self.hub.store.close();
        let thread = self.store_thread;
        if tokio::task::spawn_blocking(move || thread.join()).await.is_err() {
            tracing::error!("waiting for the history database failed");
        }
        tracing::info!("shut down");
    }
}
