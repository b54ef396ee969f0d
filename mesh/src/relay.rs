//! A lossy loopback UDP relay, for tests and benchmarks of the mesh under packet loss.
//!
//! [`LossyRelays::rewrite`] is a [`crate::CandidateRewrite`]: it replaces every loopback host
//! candidate a peer announces with the address of a relay in front of it and drops every
//! other candidate, so all traffic between two peers crosses exactly one relay hop, which
//! drops each datagram with the configured probability (in both directions).
//!
//! Each relay has a *front* socket (what the remote peer talks to) and a *back* socket (what
//! the local peer sees as the remote's address, a peer-reflexive candidate for ICE).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;

/// Datagrams a relay forwarded and dropped.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

impl RelayStats {
    /// `(forwarded, dropped)`.
    pub fn get(&self) -> (u64, u64) {
        (self.forwarded.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }
}

/// One relay in front of one target address. Stops when dropped.
pub struct LossyRelay {
    front: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LossyRelay {
    /// Starts a relay on 127.0.0.1 in front of `target`. Must be called inside a tokio
    /// runtime.
    /// `loss` holds the drop probability as `f64` bits and may be changed while running.
    pub fn start(target: SocketAddr, loss: Arc<AtomicU64>, seed: u64, stats: Arc<RelayStats>) -> std::io::Result<Self> {
        let bind = |addr: SocketAddr| -> std::io::Result<UdpSocket> {
            let socket = std::net::UdpSocket::bind(addr)?;
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket)
        };
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let front = bind(loopback)?;
        let back = bind(loopback)?;
        let front_addr = front.local_addr()?;
        let task = tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut client: Option<SocketAddr> = None;
            let mut front_buf = vec![0u8; 65_536];
            let mut back_buf = vec![0u8; 65_536];
            loop {
                let (len, to_target) = tokio::select! {
                    r = front.recv_from(&mut front_buf) => match r {
                        Ok((len, from)) => { client = Some(from); (len, true) }
                        Err(_) => continue,
                    },
                    r = back.recv_from(&mut back_buf) => match r {
                        Ok((len, from)) if from == target => (len, false),
                        _ => continue,
                    },
                };
                let p = f64::from_bits(loss.load(Ordering::Relaxed));
                if p > 0.0 && rng.random_bool(p.min(1.0)) {
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                stats.forwarded.fetch_add(1, Ordering::Relaxed);
                let buf = if to_target { &front_buf } else { &back_buf };
                let packet = buf.get(..len).unwrap_or_default();
                let sent = if to_target {
                    back.send_to(packet, target).await
                } else if let Some(client) = client {
                    front.send_to(packet, client).await
                } else {
                    continue;
                };
                if let Err(e) = sent {
                    tracing::debug!("relay send failed: {e}");
                }
            }
        });
        Ok(Self { front: front_addr, task })
    }

    /// The address the remote peer should send to.
    pub fn front_addr(&self) -> SocketAddr {
        self.front
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays created on demand for the candidates passing through [`LossyRelays::rewrite`].
pub struct LossyRelays {
    loss: Arc<AtomicU64>,
    seed: u64,
    stats: Arc<RelayStats>,
    relays: Mutex<HashMap<SocketAddr, LossyRelay>>,
}

impl LossyRelays {
    /// `loss` is the probability (0–1) that a datagram is dropped.
    pub fn new(loss: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            loss: Arc::new(AtomicU64::new(loss.clamp(0.0, 1.0).to_bits())),
            seed,
            stats: Arc::default(),
            relays: Mutex::new(HashMap::new()),
        })
    }

    /// Changes the drop probability of every relay, running or future.
    pub fn set_loss(&self, loss: f64) {
        self.loss.store(loss.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    /// Totals over every relay.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// [`LossyRelays::rewrite`] as a mesh's `Config::candidate_rewrite`.
    pub fn candidate_rewrite(self: &Arc<Self>) -> crate::CandidateRewrite {
        let relays = Arc::clone(self);
        Arc::new(move |c: &str| relays.rewrite(c))
    }

    /// Rewrites a `candidate:…` line: a UDP host candidate on loopback gets a relay's
    /// address, anything else is dropped. Call inside a tokio runtime.
    pub fn rewrite(&self, candidate: &str) -> Option<String> {
        let mut fields: Vec<String> = candidate.split(' ').map(str::to_owned).collect();
        // candidate:<foundation> <component> <transport> <priority> <ip> <port> typ <type> …
        if fields.len() < 8 || !fields[2].eq_ignore_ascii_case("udp") || fields[6] != "typ" || fields[7] != "host" {
            return None;
        }
        let ip: IpAddr = fields[4].parse().ok()?;
        let port: u16 = fields[5].parse().ok()?;
        if !ip.is_loopback() {
            return None;
        }
        let target = SocketAddr::new(ip, port);
        let mut relays = self.relays.lock().unwrap_or_else(PoisonError::into_inner);
        let front = match relays.get(&target) {
            Some(relay) => relay.front_addr(),
            None => {
                let seed = self.seed ^ u64::from(port);
                match LossyRelay::start(target, self.loss.clone(), seed, self.stats.clone()) {
                    Ok(relay) => {
                        let front = relay.front_addr();
                        relays.insert(target, relay);
                        front
                    }
                    Err(e) => {
                        tracing::warn!("could not start a relay for {target}: {e}");
                        return None;
                    }
                }
            }
        };
        fields[4] = front.ip().to_string();
        fields[5] = front.port().to_string();
        Some(fields.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn relay_forwards_both_ways_and_drops_about_the_asked_share() {
        let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relays = LossyRelays::new(0.1, 7);
        let line = format!("candidate:1 1 udp 2130706431 127.0.0.1 {} typ host", target.local_addr().unwrap().port());
        let rewritten = relays.rewrite(&line).unwrap();
        let front: u16 = rewritten.split(' ').nth(5).unwrap().parse().unwrap();
        assert_ne!(front, target.local_addr().unwrap().port());
        // The same target reuses its relay; non-host candidates are dropped.
        assert_eq!(relays.rewrite(&line).as_deref(), Some(rewritten.as_str()));
        assert_eq!(relays.rewrite("candidate:2 1 udp 1 127.0.0.1 9 typ srflx raddr 0.0.0.0 rport 0"), None);

        let n = 2000;
        let receiver = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 16];
            let mut back_addr = None;
            while let Ok(Ok((_, from))) =
                tokio::time::timeout(std::time::Duration::from_millis(500), target.recv_from(&mut buf)).await
            {
                got += 1;
                back_addr = Some(from);
            }
            (target, got, back_addr)
        });
        for i in 0..n {
            client.send_to(&(i as u32).to_be_bytes(), ("127.0.0.1", front)).await.unwrap();
            if i % 20 == 0 {
                // Paced, so no socket buffer overflows and only the relay drops.
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
        let (target, got, back_addr) = receiver.await.unwrap();
        let mut buf = [0u8; 16];
        let share = 1.0 - got as f64 / n as f64;
        assert!((0.06..0.14).contains(&share), "lost {share}");
        // And the answer comes back to the client through the front socket.
        target.send_to(b"hi", back_addr.unwrap()).await.unwrap();
        target.send_to(b"hi", back_addr.unwrap()).await.unwrap();
        target.send_to(b"hi", back_addr.unwrap()).await.unwrap();
        let (len, from) =
            tokio::time::timeout(std::time::Duration::from_secs(2), client.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..len], b"hi");
        assert_eq!(from.port(), front);
    }
}
