//! Net plugin: Bevy glue over the `mesh` crate (server websocket + WebRTC mesh) (issue 4).
