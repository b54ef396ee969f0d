//! Networking core: server websocket, WebRTC mesh among a room's players, clock offset (issue 4).
