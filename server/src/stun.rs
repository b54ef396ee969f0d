//! A minimal STUN responder (RFC 5389 Binding only), so WebRTC clients get a
//! server-reflexive candidate without a third-party STUN server.
//!
//! Every well-formed Binding request is answered with a Binding success response carrying
//! the sender's address in `XOR-MAPPED-ADDRESS`. Anything else is ignored.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// The fixed value in every RFC 5389 message header.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding request message type.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Binding success response message type.
pub const BINDING_SUCCESS: u16 = 0x0101;
/// XOR-MAPPED-ADDRESS attribute type.
pub const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const HEADER_LEN: usize = 20;

/// Builds the response to `request` from `from`, or `None` when `request` is not a
/// well-formed STUN Binding request.
pub fn binding_response(request: &[u8], from: SocketAddr) -> Option<Vec<u8>> {
    let header = request.get(..HEADER_LEN)?;
    let msg_type = u16::from_be_bytes([header[0], header[1]]);
    let body_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    // The two top bits of every STUN message are zero and the body is 4-byte aligned.
    if msg_type != BINDING_REQUEST || cookie != MAGIC_COOKIE || body_len % 4 != 0 || request.len() != HEADER_LEN + body_len {
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

/// Answers Binding requests on `socket` until `shutdown` fires.
pub async fn serve(socket: UdpSocket, shutdown: CancellationToken) {
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
            tracing::trace!(%from, len, "ignored a datagram that is not a STUN Binding request");
            continue;
        };
        if let Err(e) = socket.send_to(&reply, from).await {
            tracing::debug!(%from, error = %e, "STUN reply failed");
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
    }
}
