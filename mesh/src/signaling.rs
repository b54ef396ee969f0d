//! The websocket to the server: one bincode frame per binary message.

use futures_util::{SinkExt, StreamExt};
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
    pub(crate) async fn connect(url: &str) -> Result<Self, SignalError> {
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(shared::protocol::MAX_FRAME_BYTES);
        config.max_frame_size = Some(shared::protocol::MAX_FRAME_BYTES);
        let (ws, _response) =
            tokio_tungstenite::connect_async_with_config(url, Some(config), true)
                .await
                .map_err(|source| SignalError::Connect { url: url.to_owned(), source })?;
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
