//! HTTP routes: `/ws` (the game protocol), `/health`, `/metrics`, `/history`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::HttpHistory;
use crate::hub::Hub;
use crate::net::{FrameWatch, PeerAddr, SlotHandle, WatchIo};

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/ws", get(ws))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/history", get(history))
        .with_state(hub)
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The websocket upgrade (RFC 6455 §4.2), done here rather than by axum so that the socket
/// can be wrapped in [`WatchIo`] before the websocket codec reads from it.
async fn ws(
    State(hub): State<Arc<Hub>>,
    Extension(PeerAddr(addr)): Extension<PeerAddr>,
    Extension(slot): Extension<SlotHandle>,
    mut req: Request,
) -> Response {
    if hub.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down — try again later").into_response();
    }
    let headers = req.headers();
    let version_ok = headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v.as_bytes() == b"13");
    let key = headers.get(header::SEC_WEBSOCKET_KEY).map(|k| k.as_bytes().to_vec());
    let (true, true, true, Some(key)) = (
        header_has_token(headers, header::UPGRADE, "websocket"),
        header_has_token(headers, header::CONNECTION, "upgrade"),
        version_ok,
        key,
    ) else {
        return (StatusCode::UPGRADE_REQUIRED, "this endpoint speaks websocket (version 13) only\n").into_response();
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);

    let buffer = hub.config.ws_buffer_bytes.max(256);
    // Frames a bit over the protocol limit still reach the connection, which answers them
    // with a TooLarge error; larger ones are cut off by the websocket layer itself.
    let max_message = hub.config.ws_max_message_bytes.max(1024);
    let config = WebSocketConfig::default()
        .read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_write_buffer_size((shared::protocol::MAX_FRAME_BYTES * 2).max(buffer * 2))
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let task_hub = Arc::clone(&hub);
    let task = async move {
        let hub = task_hub;
        // Boxed: the upgrade's timer and the codec being set up are freed once it is done.
        let Some((socket, watch)) = Box::pin(open_socket(Arc::clone(&hub), on_upgrade, config, addr)).await else { return };
        crate::conn::serve(hub, socket, addr.ip(), watch, slot).await;
    };
    hub.tasks.spawn(task);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    resp
}

/// Waits for the upgrade to complete and wraps the socket: the frame watcher, then the
/// websocket codec.
async fn open_socket(
    hub: Arc<Hub>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    config: WebSocketConfig,
    addr: std::net::SocketAddr,
) -> Option<(crate::conn::Ws, Arc<FrameWatch>)> {
    let upgraded = tokio::select! {
        r = tokio::time::timeout(hub.config.http_timeout(), on_upgrade) => r,
        () = hub.shutdown.cancelled() => return None,
    };
    let upgraded = match upgraded {
        Ok(Ok(u)) => u,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "websocket upgrade failed");
            return None;
        }
        Err(_) => {
            hub.metrics.limit(crate::metrics::Limit::HttpTimeout);
            return None;
        }
    };
    let watch = Arc::new(FrameWatch::default());
    let io = WatchIo::new(TokioIo::new(upgraded), Arc::clone(&watch), hub.config.max_fragments.max(1));
    Some((WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await, watch))
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    if hub.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else if let Some(problem) = hub.cluster_problem() {
        (StatusCode::SERVICE_UNAVAILABLE, format!("cluster: {problem}\n")).into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let mut body = hub.metrics.render(hub.room_count());
    if let Some(cluster) = hub.cluster() {
        cluster.stats.render(&cluster.node, &mut body);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    /// Only matches this player took part in (`--http-history open` only).
    name: Option<String>,
    /// At most this many (default 20, at most 100).
    limit: Option<u32>,
    /// Only matches with an id below this (the `X-Next-Before` of the previous page).
    before: Option<i64>,
    /// A live session's reconnect token (`--http-history token`): that player's matches.
    token: Option<String>,
}

/// Recorded matches as a JSON array, newest first, at most `--history-max-bytes`; when more
/// are left, the `X-Next-Before` header gives the `before` of the next page.
async fn history(State(hub): State<Arc<Hub>>, Query(q): Query<HistoryQuery>) -> Response {
    let name = match hub.config.http_history {
        HttpHistory::Off => return (StatusCode::NOT_FOUND, "the match history is not served here\n").into_response(),
        HttpHistory::Open => q.name,
        HttpHistory::Token => match q.token.as_deref().and_then(|t| hub.name_for_token(t)) {
            Some(name) => Some(name),
            None => {
                return (StatusCode::FORBIDDEN, "give ?token=<your reconnect token> to see your own matches\n").into_response();
            }
        },
    };
    let Ok(_slot) = hub.http_history_slots.try_acquire() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the history is busy — try again in a moment\n").into_response();
    };
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    match hub.history_page(name, q.before, limit, hub.config.history_max_bytes, crate::hub::PageSize::Json).await {
        Ok((matches, next)) => {
            let body = serde_json::to_vec(&matches).unwrap_or_else(|_| b"[]".to_vec());
            let mut resp = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(next) = next
                && let Ok(v) = HeaderValue::from_str(&next.to_string())
            {
                resp.headers_mut().insert("x-next-before", v);
            }
            resp
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("match history is unavailable: {}\n", e.message)).into_response(),
    }
}
