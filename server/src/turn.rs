//! Short-lived TURN credentials (the "TURN REST API" scheme that coturn checks with
//! `use-auth-secret` + `static-auth-secret`): username = `<expiry unix seconds>:<peer id>`,
//! password = base64(HMAC-SHA1(secret, username)). Every `Welcome` carries fresh ones, so a
//! reconnect renews them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use shared::protocol::signal::{IceServer, PeerId};

/// A secret that never shows in `Debug` or `Display` output (and so never in logs).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
    /// The secret itself; only for computing credentials.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

impl std::str::FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err("the TURN secret is empty".to_owned());
        }
        Ok(Self(s.to_owned()))
    }
}

/// A username and password for the TURN server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

/// Credentials valid until `expires` (Unix seconds), tied to `peer` for the server's logs.
pub fn credential(secret: &Secret, peer: PeerId, expires: u64) -> Credential {
    let username = format!("{expires}:{peer}");
    let password = sign(secret, &username);
    Credential { username, password }
}

/// base64(HMAC-SHA1(secret, username)).
pub fn sign(secret: &Secret, username: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The ICE servers one client gets in its `Welcome`: the STUN responder (`base`) and, when
/// TURN is configured, the TURN URLs with credentials valid for `ttl` from now.
pub fn ice_servers(base: &[IceServer], urls: &[String], secret: Option<&Secret>, ttl: Duration, peer: PeerId) -> Vec<IceServer> {
    let mut servers = base.to_vec();
    if let (Some(secret), false) = (secret, urls.is_empty()) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let cred = credential(secret, peer, (now + ttl).as_secs());
        servers.push(IceServer { urls: urls.to_vec(), username: Some(cred.username), credential: Some(cred.password) });
    }
    servers
}

/// Startup checks of the TURN flags; the returned lines are logged as warnings.
pub fn check(urls: &[String], secret: Option<&Secret>) -> Vec<String> {
    let mut warnings = Vec::new();
    for url in urls {
        if !(url.starts_with("turn:") || url.starts_with("turns:")) {
            warnings.push(format!("--turn-url {url:?} is not a turn: or turns: URL; clients will skip it"));
        }
    }
    if !urls.is_empty() && secret.is_none() {
        warnings.push("--turn-url is set but --turn-secret (POSEPARTY_TURN_SECRET) is not: clients get no TURN server".to_owned());
    }
    if urls.is_empty() && secret.is_some() {
        warnings.push("--turn-secret is set but no --turn-url: clients get no TURN server".to_owned());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_the_turn_rest_scheme() {
        // Reference value: `printf '%s' 1700000000:7 | openssl dgst -sha1 -hmac north -binary | base64`.
        let c = credential(&Secret::new("north"), 7, 1_700_000_000);
        assert_eq!(c.username, "1700000000:7");
        assert_eq!(c.password, "PPWz7PpRwxKwGzZCJzS+CZ2BJhk=");
    }

    #[test]
    fn ice_servers_carry_turn_only_when_configured() {
        let base = vec![IceServer { urls: vec!["stun:198.18.0.1:3478".into()], username: None, credential: None }];
        let urls = vec!["turn:198.18.0.1:3478?transport=udp".to_owned()];
        let s = Secret::new("x");
        assert_eq!(ice_servers(&base, &urls, None, Duration::from_secs(60), 1), base);
        assert_eq!(ice_servers(&base, &[], Some(&s), Duration::from_secs(60), 1), base);
        let with = ice_servers(&base, &urls, Some(&s), Duration::from_secs(60), 3);
        assert_eq!(with.len(), 2);
        let user = with[1].username.clone().unwrap_or_default();
        let (expiry, peer) = user.split_once(':').unwrap_or_default();
        assert_eq!(peer, "3");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let expiry: u64 = expiry.parse().unwrap_or(0);
        assert!((now + 55..=now + 65).contains(&expiry), "expiry {expiry} vs now {now}");
        assert_eq!(with[1].credential.as_deref(), Some(sign(&s, &user).as_str()));
    }

    #[test]
    fn secret_is_never_formatted() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert!(check(&["http://x".into()], Some(&s)).iter().all(|w| !w.contains("hunter2")));
    }
}

#[cfg(test)]
mod log_tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Starting (with warnings: non-loopback bind, a bad TURN URL), serving a `Welcome` and
    /// shutting down at trace level never writes the secret to the log.
    #[tokio::test(flavor = "current_thread")]
    async fn the_turn_secret_never_reaches_the_log() {
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mut config = crate::Config::ephemeral();
        config.bind = "0.0.0.0:0".parse().unwrap_or(config.bind);
        config.turn_urls = vec!["turn:198.18.0.2:3478?transport=udp".into(), "http://not-turn".into()];
        config.turn_secret = Some(super::Secret::new("s3cr3t-turn-value"));
        tracing::info!(?config, "config");
        let server = match crate::spawn(config).await {
            Ok(s) => s,
            Err(e) => panic!("server: {e}"),
        };
        let servers = super::ice_servers(&server.hub.ice_servers, &server.hub.config.turn_urls, server.hub.config.turn_secret.as_ref(), std::time::Duration::from_secs(60), 1);
        tracing::debug!(?servers, "welcome ice servers");
        server.shutdown().await;
        let text = String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned();
        assert!(text.contains("WITHOUT TLS"), "the non-loopback warning is missing: {text}");
        assert!(text.contains("not a turn: or turns: URL"), "{text}");
        assert!(!text.contains("s3cr3t-turn-value"), "the secret was logged: {text}");
    }
}
