//! PoseParty matchmaking and signaling server (issue 2).
