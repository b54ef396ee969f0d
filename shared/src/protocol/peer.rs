//! Peer⇄peer messages over the WebRTC data channels (issue 4).
