//! A minimal STUN responder (RFC 5389 Binding only), so WebRTC clients get a
//! server-reflexive candidate without a third-party STUN server.
//!
//! Every well-formed Binding request is answered with a Binding success response carrying
//! the sender's address in `XOR-MAPPED-ADDRESS`. Anything else is ignored, and answers are
//! rate-limited per source address and in total, so the responder cannot be used to
//! reflect traffic at a spoofed victim.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;
use crate::metrics::Limit;

/// The fixed value in every RFC 5389 message header.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding request message type.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Binding success response message type.
pub const BINDING_SUCCESS: u16 = 0x0101;
/// XOR-MAPPED-ADDRESS attribute type.
pub const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const HEADER_LEN: usize = 20;
/// FINGERPRINT attribute type (RFC 5389 §15.5): when present it is the last attribute.
const ATTR_FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// Sources tracked by the per-source limit before the table is reset.
const MAX_TRACKED_SOURCES: usize = 50_000;

/// Whether the attributes after the header are well-formed: each TLV fits, is padded to 4
/// bytes, and a FINGERPRINT (if any) is last and matches.
fn attributes_ok(request: &[u8]) -> bool {
    let mut at = HEADER_LEN;
    while at < request.len() {
        let Some(head) = request.get(at..at + 4) else { return false };
        let kind = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let end = at + 4 + len.div_ceil(4) * 4;
        if end > request.len() {
            return false;
        }
        if kind == ATTR_FINGERPRINT {
            if len != 4 || end != request.len() {
                return false;
            }
            let Some(v) = request.get(at + 4..at + 8) else { return false };
            let got = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            // The CRC covers the message up to the attribute, with the length field as
            // it is in the message (already including the fingerprint).
            let want = crc32fast::hash(&request[..at]) ^ FINGERPRINT_XOR;
            if got != want {
                return false;
            }
        }
        at = end;
    }
    at == request.len()
}

/// Builds the response to `request` from `from`, or `None` when `request` is not a
/// well-formed STUN Binding request.
pub fn binding_response(request: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let header = request.get(..HEADER_LEN)?;
    let msg_type = u16::from_be_bytes([header[0], header[1]]);
    let body_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    // The two top bits of every STUN message are zero and the body is 4-byte aligned.
    if msg_type != BINDING_REQUEST
        || cookie != MAGIC_COOKIE
        || body_len % 4 != 0
        || request.len() != HEADER_LEN + body_len
        || !attributes_ok(request)
    {
        return None;
    }
    let txid = &header[8..20];

    let cookie_bytes = MAGIC_COOKIE.to_be_bytes();
    let xport = from.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let (family, xaddr): (u8, Vec<u8>) = match from.ip() {
        IpAddr::V4(ip) => (0x01, ip.octets().iter().zip(cookie_bytes).map(|(a, k)| a ^ k).collect()),
        IpAddr::V6(ip) => {
            let key = cookie_bytes.iter().chain(txid);
            (0x02, ip.octets().iter().zip(key).map(|(a, k)| a ^ k).collect())
        }
    };
    let attr_len = 4 + xaddr.len();
    let mut out = Vec::with_capacity(HEADER_LEN + 4 + attr_len);
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&((4 + attr_len) as u16).to_be_bytes());
    out.extend_from_slice(&cookie_bytes);
    out.extend_from_slice(txid);
    out.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&(attr_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&xport.to_be_bytes());
    out.extend_from_slice(&xaddr);
    Some(out)
}

/// Token buckets per source address plus one for everything.
struct Limiter {
    per_source: HashMap<IpAddr, (f64, Instant)>,
    global: (f64, Instant),
    rate: f64,
    burst: f64,
    global_rate: f64,
}

impl Limiter {
    fn new(rate: u32, burst: u32, global_rate: u32) -> Self {
        let global_rate = f64::from(global_rate.max(1));
        Self {
            per_source: HashMap::new(),
            global: (global_rate, Instant::now()),
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            global_rate,
        }
    }

    fn refill((tokens, last): &mut (f64, Instant), rate: f64, cap: f64, now: Instant) {
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(cap);
        *last = now;
    }

    fn allow(&mut self, ip: IpAddr) -> bool {
        let now = Instant::now();
        if self.per_source.len() >= MAX_TRACKED_SOURCES {
            // Many sources at once (spoofed, most likely): forget them all; the global
            // bucket still bounds what is sent.
            self.per_source.clear();
        }
        let (rate, burst, global_rate) = (self.rate, self.burst, self.global_rate);
        let source = self.per_source.entry(crate::addr::ip_key(ip)).or_insert((burst, now));
        Self::refill(source, rate, burst, now);
        Self::refill(&mut self.global, global_rate, global_rate, now);
        if source.0 < 1.0 || self.global.0 < 1.0 {
            return false;
        }
        source.0 -= 1.0;
        self.global.0 -= 1.0;
        true
    }
}

/// Answers Binding requests on `socket` until `shutdown` fires.
pub async fn serve(socket: UdpSocket, hub: Arc<Hub>, shutdown: CancellationToken) {
    let mut limiter = Limiter::new(hub.config.stun_rate, hub.config.stun_burst, hub.config.stun_global_rate);
    let mut buf = [0u8; 1500];
    loop {
        let (len, from) = tokio::select! {
            () = shutdown.cancelled() => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok(v) => v,
                Err(e) => {
                    // ICMP errors from earlier replies surface here on some platforms.
                    tracing::debug!(error = %e, "STUN receive failed");
                    continue;
                }
            },
        };
        let Some(reply) = buf.get(..len).and_then(|req| binding_response(req, from)) else {
            hub.metrics.limit(Limit::StunMalformed);
            tracing::trace!(%from, len, "ignored a datagram that is not a STUN Binding request");
            continue;
        };
        if !limiter.allow(from.ip()) {
            hub.metrics.limit(Limit::StunRateLimited);
            continue;
        }
        match socket.send_to(&reply, from).await {
            Ok(_) => hub.metrics.stun_answered(),
            Err(e) => tracing::debug!(%from, error = %e, "STUN reply failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(txid: [u8; 12]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
        r.extend_from_slice(&0u16.to_be_bytes());
        r.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        r.extend_from_slice(&txid);
        r
    }

    #[test]
    fn rfc5769_ipv4_example_address_is_xored() {
        // RFC 5769 §2.2: 192.0.2.1:32853 encodes as port 0xA147, address 0xE112A643.
        let txid = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];
        let from: SocketAddr = "192.0.2.1:32853".parse().unwrap_or_else(|_| unreachable!());
        let Some(resp) = binding_response(&request(txid), from) else { panic!("valid request refused") };
        assert_eq!(&resp[0..2], &BINDING_SUCCESS.to_be_bytes());
        assert_eq!(&resp[8..20], &txid);
        assert_eq!(&resp[20..22], &ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
        assert_eq!(&resp[26..28], &[0xa1, 0x47]);
        assert_eq!(&resp[28..32], &[0xe1, 0x12, 0xa6, 0x43]);
    }

    #[test]
    fn rfc5769_ipv6_example_address_is_xored() {
        // RFC 5769 §2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
        let txid = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];
        let from: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853".parse().unwrap_or_else(|_| unreachable!());
        let Some(resp) = binding_response(&request(txid), from) else { panic!("valid request refused") };
        assert_eq!(
            &resp[28..44],
            &[0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9]
        );
    }

    #[test]
    fn garbage_is_ignored() {
        let from: SocketAddr = "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!());
        assert!(binding_response(b"", from).is_none());
        assert!(binding_response(&[0u8; 19], from).is_none());
        let mut wrong_cookie = request([0; 12]);
        wrong_cookie[4] = 0;
        assert!(binding_response(&wrong_cookie, from).is_none());
        let mut wrong_len = request([0; 12]);
        wrong_len[3] = 4;
        assert!(binding_response(&wrong_len, from).is_none());
        // An attribute running past the end, and a bad fingerprint.
        let mut bad_attr = request([0; 12]);
        bad_attr[3] = 8;
        bad_attr.extend_from_slice(&[0x80, 0x22, 0x00, 0x10, 1, 2, 3, 4]);
        assert!(binding_response(&bad_attr, from).is_none());
        let mut fp = request([0; 12]);
        fp[3] = 8;
        let crc = crc32fast::hash(&fp) ^ FINGERPRINT_XOR;
        let mut good = fp.clone();
        good.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
        good.extend_from_slice(&crc.to_be_bytes());
        assert!(binding_response(&good, from).is_some());
        fp.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
        fp.extend_from_slice(&(crc ^ 1).to_be_bytes());
        assert!(binding_response(&fp, from).is_none());
    }

    #[test]
    fn limiter_bounds_each_source_and_the_total() {
        let mut l = Limiter::new(1, 5, 8);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or_else(|_| unreachable!());
        let b: IpAddr = "10.0.0.2".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!((0..20).filter(|_| l.allow(a)).count(), 5);
        assert_eq!((0..20).filter(|_| l.allow(b)).count(), 3, "the global bucket (8) is shared");
    }
}
