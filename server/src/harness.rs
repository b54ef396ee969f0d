//! Helpers for tests and load runs that speak to the server by hand (hostile clients in
//! `tests/hostile.rs`, the `loadgen` bench): raw websocket frames.

/// A client websocket frame written by hand: masked as RFC 6455 requires of clients,
/// `fin` false for a fragment, payloads up to 64 KiB.
pub fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    let mask = [0x5a, 0xa5, 0x0f, 0xf0];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}
