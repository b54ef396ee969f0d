//! The websocket to the server: one bincode frame per binary message.

use std::path::Path;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio_tungstenite::Connector;
use shared::protocol::signal::{ClientMsg, ServerMsg};
use shared::protocol::{CodecError, decode, encode};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why the server connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignalError {
    #[error("could not reach the server at {url}: {source} — is the server running?")]
    Connect { url: String, #[source] source: tokio_tungstenite::tungstenite::Error },
    #[error("the server connection broke: {0}")]
    Io(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("could not encode a message for the server: {0}")]
    Encode(#[source] CodecError),
    #[error("the server's TLS certificate at {url} was refused: {reason} — if the server uses a self-signed certificate, pass it with --ca-cert FILE (or POSEPARTY_CA_CERT)")]
    Certificate { url: String, reason: String },
    #[error("cannot use the trusted certificates in {path}: {message}")]
    CaFile { path: String, message: String },
}

/// The TLS setup for `wss://`: the system's roots plus the certificates in `ca_cert`.
fn tls_config(ca_cert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, SignalError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("a system certificate could not be loaded: {e}");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system TLS roots");
    if let Some(path) = ca_cert {
        let ca_err = |message: String| SignalError::CaFile { path: path.display().to_string(), message };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| ca_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_err("no CERTIFICATE block in the file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SignalError::CaFile { path: String::new(), message: e.to_string() })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The certificate problem inside a failed connect, if that is what it was.
fn certificate_error(e: &tokio_tungstenite::tungstenite::Error) -> Option<String> {
    use tokio_tungstenite::tungstenite::Error as WsError;
    let io = match e {
        WsError::Io(io) => io,
        _ => return None,
    };
    let inner = io.get_ref()?;
    match inner.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
        rustls::Error::AlertReceived(alert) => Some(format!("the server sent the TLS alert {alert:?}")),
        other => Some(other.to_string()),
    }
}

/// What came in on the websocket.
pub(crate) enum Incoming {
    Msg(ServerMsg),
    /// A frame that did not decode; it is dropped.
    Undecodable(CodecError),
    /// Text, ping or pong frames: nothing to do.
    Ignored,
    Closed(Option<String>),
}

pub(crate) struct ServerLink {
    ws: Ws,
}

impl ServerLink {
    pub(crate) async fn connect(url: &str, ca_cert: Option<&Path>) -> Result<Self, SignalError> {
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(shared::protocol::MAX_FRAME_BYTES);
        config.max_frame_size = Some(shared::protocol::MAX_FRAME_BYTES);
        let connector = if url.starts_with("wss://") {
            Connector::Rustls(tls_config(ca_cert)?)
        } else {
            Connector::Plain
        };
        let (ws, _response) =
            tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, Some(connector))
                .await
                .map_err(|source| match certificate_error(&source) {
                    Some(reason) => SignalError::Certificate { url: url.to_owned(), reason },
                    None => SignalError::Connect { url: url.to_owned(), source },
                })?;
        Ok(Self { ws })
    }

    pub(crate) async fn send(&mut self, msg: &ClientMsg) -> Result<(), SignalError> {
        let bytes = encode(msg).map_err(SignalError::Encode)?;
        self.ws.send(Message::Binary(bytes.into())).await?;
        Ok(())
    }

    /// The next frame. Cancel-safe (usable in `select!`).
    pub(crate) async fn next(&mut self) -> Result<Incoming, SignalError> {
        match self.ws.next().await {
            None => Ok(Incoming::Closed(None)),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(Message::Binary(bytes))) => Ok(match decode::<ServerMsg>(&bytes) {
                Ok(msg) => Incoming::Msg(msg),
                Err(e) => Incoming::Undecodable(e),
            }),
            Some(Ok(Message::Close(frame))) => {
                Ok(Incoming::Closed(frame.map(|f| f.reason.to_string()).filter(|r| !r.is_empty())))
            }
            Some(Ok(_)) => Ok(Incoming::Ignored),
        }
    }

    pub(crate) async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }
}
