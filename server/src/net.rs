//! The TCP and HTTP layer under the routes: our own accept loop instead of `axum::serve`, so
//! that every connection is counted and capped (per address and in total) before a byte of
//! it is parsed, and the HTTP layer runs with a timer (request-head timeout), a bounded
//! head buffer and an overall deadline for the connection (until the websocket upgrade).
//!
//! After the upgrade, [`WatchIo`] sits between the socket and the websocket codec and
//! follows the client's frame boundaries, so a frame or fragmented message that is started
//! and never finished (slowloris inside the websocket) is noticed by the connection task.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::hub::Hub;
use crate::metrics::Limit;

use crate::addr::ip_key;

/// One counted connection; dropping it gives the place back.
#[derive(Debug)]
pub struct Slot {
    hub: Arc<Hub>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.conns.remove(self.key);
        self.hub.metrics.tcp_closed();
    }
}

/// The connection's slot, shared by its HTTP request and (after the upgrade) its websocket.
#[derive(Debug, Clone)]
pub struct SlotHandle {
    /// Held, not read: the place is given back when the last holder drops it.
    _slot: Arc<Slot>,
}

/// The client's address, for the handlers.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl Slot {
    /// Takes a place for a connection from `ip`, or says which cap refused it.
    fn acquire(hub: &Arc<Hub>, ip: IpAddr) -> Result<Slot, Limit> {
        let key = ip_key(ip);
        let total: usize = hub.metrics.tcp_connections() as usize;
        if total >= hub.config.max_connections {
            return Err(Limit::ConnectionsTotal);
        }
        if !hub.conns.try_add(key, hub.config.max_connections_per_ip) {
            return Err(Limit::ConnectionsPerIp);
        }
        hub.metrics.tcp_opened();
        Ok(Slot { hub: Arc::clone(hub), key })
    }
}

/// Accepts connections until shutdown; each gets its own task.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, router: Router, tls: Option<tokio_rustls::TlsAcceptor>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = hub.shutdown.cancelled() => break,
        };
        let (stream, addr) = match accepted {
            Ok(v) => v,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let slot = match Slot::acquire(&hub, addr.ip()) {
            Ok(slot) => slot,
            Err(limit) => {
                hub.metrics.limit(limit);
                tracing::debug!(%addr, ?limit, "connection refused at accept");
                drop(stream);
                continue;
            }
        };
        // Signaling frames are small and latency-bound: no Nagle delay.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let slot = SlotHandle { _slot: Arc::new(slot) };
        let (hub, router) = (Arc::clone(&hub), router.clone());
        match tls.clone() {
            None => {
                tokio::spawn(serve_http(stream, addr, slot, hub, router));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    // The handshake counts against the connection's slot and has its own deadline.
                    match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_http(stream, addr, slot, hub, router).await,
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => {
                            hub.metrics.limit(Limit::HttpTimeout);
                            tracing::debug!(%addr, "TLS handshake did not finish in time");
                        }
                    }
                });
            }
        }
    }
}

async fn serve_http<S>(stream: S, addr: SocketAddr, slot: SlotHandle, hub: Arc<Hub>, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(hub.config.header_read_timeout())
        // Keep-alive stays on (turning it off makes hyper answer the upgrade with
        // `Connection: close`); the whole connection is bounded by `--http-timeout-ms`.
        .max_buf_size(hub.config.http_max_header_bytes.max(8192));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(addr));
        req.extensions_mut().insert(slot.clone());
        let mut router = router.clone();
        tower_service::Service::call(&mut router, req)
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
    let result = tokio::select! {
        r = tokio::time::timeout(hub.config.http_timeout(), conn) => r,
        () = hub.shutdown.cancelled() => return,
    };
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_timeout() => {
            hub.metrics.limit(Limit::HeaderReadTimeout);
            tracing::debug!(%addr, "HTTP request head not received in time");
        }
        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "HTTP connection failed"),
        Err(_) => {
            hub.metrics.limit(Limit::HttpTimeout);
            tracing::debug!(%addr, "HTTP connection did not finish in time");
        }
    }
}

/// What the connection task learns from [`WatchIo`] about the client's frames.
#[derive(Debug)]
pub struct FrameWatch {
    epoch: Instant,
    /// 1 + ms since `epoch` when the unfinished frame/message began; 0 = none.
    since: AtomicU64,
    too_many_fragments: AtomicBool,
    changed: Notify,
}

impl Default for FrameWatch {
    fn default() -> Self {
        Self { epoch: Instant::now(), since: AtomicU64::new(0), too_many_fragments: AtomicBool::new(false), changed: Notify::new() }
    }
}

impl FrameWatch {
    fn begin(&self) {
        if self.since.load(Ordering::Relaxed) == 0 {
            let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
            self.since.store(ms, Ordering::Relaxed);
            self.changed.notify_one();
        }
    }

    fn end(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    fn fragments_exceeded(&self) {
        self.too_many_fragments.store(true, Ordering::Relaxed);
        self.changed.notify_one();
    }

    /// Resolves when the client broke a frame limit: a frame or fragmented message
    /// unfinished for `limit`, or too many fragments.
    pub async fn tripped(&self, limit: Duration) -> Limit {
        loop {
            if self.too_many_fragments.load(Ordering::Relaxed) {
                return Limit::TooManyFragments;
            }
            let since = self.since.load(Ordering::Relaxed);
            if since == 0 {
                self.changed.notified().await;
                continue;
            }
            let deadline = self.epoch + Duration::from_millis(since - 1) + limit;
            // Boxed: the timer exists only while a message is unfinished.
            let sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
            tokio::select! {
                () = sleep => {}
                () = self.changed.notified() => continue,
            }
            if self.since.load(Ordering::Relaxed) == since {
                return Limit::UnfinishedMessage;
            }
        }
    }
}

/// Follows websocket frame boundaries in the bytes a client sends (RFC 6455 §5.2).
#[derive(Debug, Default)]
struct FrameParser {
    head: [u8; 14],
    head_len: usize,
    head_need: usize,
    /// Payload bytes of the current frame still to come (`Some` while in a payload).
    payload_left: Option<u64>,
    /// The current frame ends a data message.
    ends_message: bool,
    /// Inside a fragmented data message.
    in_message: bool,
    fragments: u32,
}

impl FrameParser {
    fn feed(&mut self, mut data: &[u8], watch: &FrameWatch, max_fragments: u32) {
        while !data.is_empty() {
            if let Some(left) = self.payload_left {
                let n = left.min(data.len() as u64);
                data = &data[n as usize..];
                let left = left - n;
                self.payload_left = Some(left);
                if left == 0 {
                    self.end_frame(watch);
                }
                continue;
            }
            if self.head_len == 0 {
                watch.begin();
            }
            self.head[self.head_len] = data[0];
            self.head_len += 1;
            data = &data[1..];
            if self.head_len == 2 {
                let masked = self.head[1] & 0x80 != 0;
                let ext = match self.head[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                self.head_need = 2 + ext + if masked { 4 } else { 0 };
            }
            if self.head_len >= 2 && self.head_len == self.head_need {
                self.on_head(watch, max_fragments);
            }
        }
    }

    fn on_head(&mut self, watch: &FrameWatch, max_fragments: u32) {
        let fin = self.head[0] & 0x80 != 0;
        let opcode = self.head[0] & 0x0f;
        let len = match self.head[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.head[2], self.head[3]])),
            127 => u64::from_be_bytes([
                self.head[2], self.head[3], self.head[4], self.head[5], self.head[6], self.head[7], self.head[8], self.head[9],
            ]),
            n => u64::from(n),
        };
        self.ends_message = false;
        if opcode & 0x08 == 0 {
            // Data (text/binary) or continuation.
            if opcode != 0 {
                self.in_message = !fin;
                self.fragments = 1;
            } else {
                self.fragments = self.fragments.saturating_add(1);
                if self.fragments > max_fragments {
                    watch.fragments_exceeded();
                }
            }
            self.ends_message = fin;
        }
        self.head_len = 0;
        self.head_need = 0;
        self.payload_left = Some(len);
        if len == 0 {
            self.end_frame(watch);
        }
    }

    fn end_frame(&mut self, watch: &FrameWatch) {
        self.payload_left = None;
        if self.ends_message {
            self.in_message = false;
            self.fragments = 0;
            self.ends_message = false;
        }
        if !self.in_message {
            watch.end();
        }
    }
}

/// The upgraded socket, with the client's frames followed on the way in.
pub struct WatchIo<T> {
    inner: T,
    parser: FrameParser,
    watch: Arc<FrameWatch>,
    max_fragments: u32,
}

impl<T> WatchIo<T> {
    pub fn new(inner: T, watch: Arc<FrameWatch>, max_fragments: u32) -> Self {
        Self { inner, parser: FrameParser::default(), watch, max_fragments }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r
            && let Some(new) = buf.filled().get(before..)
            && !new.is_empty()
        {
            this.parser.feed(new, &this.watch, this.max_fragments);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        if payload.len() < 126 {
            f.push(0x80 | payload.len() as u8);
        } else {
            f.push(0x80 | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn follows_frames_fragments_and_partial_heads() {
        let w = FrameWatch::default();
        let mut p = FrameParser::default();
        let whole = frame(true, 2, &[7; 300]);
        p.feed(&whole, &w, 4);
        assert_eq!(w.since.load(Ordering::Relaxed), 0, "a whole frame leaves nothing unfinished");
        p.feed(&whole[..3], &w, 4);
        assert_ne!(w.since.load(Ordering::Relaxed), 0, "half a head is unfinished");
        p.feed(&whole[3..], &w, 4);
        assert_eq!(w.since.load(Ordering::Relaxed), 0);

        // A fragmented message stays unfinished across its fragments and a ping between.
        p.feed(&frame(false, 2, b"ab"), &w, 4);
        assert_ne!(w.since.load(Ordering::Relaxed), 0);
        p.feed(&frame(true, 9, b""), &w, 4);
        assert_ne!(w.since.load(Ordering::Relaxed), 0, "a control frame does not finish the message");
        p.feed(&frame(false, 0, b"cd"), &w, 4);
        p.feed(&frame(true, 0, b"ef"), &w, 4);
        assert_eq!(w.since.load(Ordering::Relaxed), 0);
        assert!(!w.too_many_fragments.load(Ordering::Relaxed));

        for _ in 0..5 {
            p.feed(&frame(false, 0, b"x"), &w, 4);
        }
        assert!(w.too_many_fragments.load(Ordering::Relaxed));
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or_else(|_| unreachable!());
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(ip_key(a), ip_key(b));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(ip_key(v4), "10.0.0.1".parse::<IpAddr>().unwrap_or_else(|_| unreachable!()));
    }
}
