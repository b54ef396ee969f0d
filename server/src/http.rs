//! HTTP routes: `/ws` (the game protocol), `/health`, `/metrics`, `/history`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use shared::protocol::MAX_FRAME_BYTES;

use crate::hub::Hub;

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/ws", get(ws))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/history", get(history))
        .with_state(hub)
}

async fn ws(State(hub): State<Arc<Hub>>, ConnectInfo(addr): ConnectInfo<SocketAddr>, upgrade: WebSocketUpgrade) -> Response {
    if hub.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "server is shutting down — try again later").into_response();
    }
    let buffer = hub.config.ws_buffer_bytes.max(256);
    // Frames a bit over the protocol limit still reach the connection, which answers them
    // with a TooLarge error; much larger ones are cut off by the websocket layer itself.
    let cap = MAX_FRAME_BYTES * 2;
    upgrade
        .read_buffer_size(buffer)
        .write_buffer_size(buffer)
        .max_write_buffer_size(cap.max(buffer * 2))
        .max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| {
            let tasks = hub.tasks.clone();
            tasks.track_future(crate::conn::serve(hub, socket, addr.ip()))
        })
}

async fn health(State(hub): State<Arc<Hub>>) -> Response {
    if hub.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let body = hub.metrics.render(hub.room_count());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

#[derive(Debug, Deserialize)]
struct HistoryQuery {
    /// Only matches this player took part in.
    name: Option<String>,
    /// At most this many (default 20, at most 100).
    limit: Option<u32>,
}

async fn history(State(hub): State<Arc<Hub>>, Query(q): Query<HistoryQuery>) -> Response {
    let limit = q.limit.unwrap_or(20).min(100);
    match hub.store.history(q.name, limit).await {
        Ok(matches) => axum::Json(matches).into_response(),
        Err(e) => {
            hub.metrics.error(crate::metrics::ErrorKind::Database);
            tracing::error!(error = %e, "history query failed");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("match history is unavailable: {e}\n")).into_response()
        }
    }
}
