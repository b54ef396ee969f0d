//! Helpers for tests, benchmarks and bots that drive several meshes: wait for an event, put
//! `n` players into one room and wait until every link is open.

use std::time::Duration;

use shared::protocol::peer::{GameEvent, GameEventKind, ScoreTotals};
use shared::protocol::signal::RoomSettings;

use crate::{Command, Config, Event, LinkState, Mesh, MeshHandle, PeerId, PeerMsg};

/// Why a harness step failed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    #[error("the mesh stopped while waiting for {what}: {reason}")]
    Disconnected { what: &'static str, reason: String },
    #[error("the server refused: {0}")]
    Server(String),
    #[error(transparent)]
    Start(#[from] crate::Error),
}

/// Waits for the first event for which `pick` returns `Some`, dropping the others. A server
/// error or a disconnect ends the wait with an error.
pub async fn wait_for<T>(
    mesh: &mut MeshHandle,
    timeout: Duration,
    what: &'static str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> Result<T, HarnessError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, mesh.recv())
            .await
            .map_err(|_| HarnessError::Timeout(timeout, what))?;
        let Some(event) = event else {
            return Err(HarnessError::Disconnected { what, reason: "event stream ended".into() });
        };
        if let Some(found) = pick(&event) {
            return Ok(found);
        }
        match event {
            Event::Disconnected { reason } => return Err(HarnessError::Disconnected { what, reason }),
            Event::ServerError { code, message } => {
                return Err(HarnessError::Server(format!("{code:?}: {message}")));
            }
            _ => {}
        }
    }
}

/// Starts `n` meshes with `config(i)`: the first creates a room with `settings`, the others
/// join it by code. Returns them with their peer ids once every player sees all `n - 1`
/// links open.
pub async fn form_room(
    n: usize,
    settings: RoomSettings,
    timeout: Duration,
    mut config: impl FnMut(usize) -> Config,
) -> Result<Vec<(PeerId, MeshHandle)>, HarnessError> {
    let runtime = tokio::runtime::Handle::current();
    let mut meshes = Vec::with_capacity(n);
    let mut code = String::new();
    for i in 0..n {
        let mut mesh = Mesh::start_on(&runtime, config(i))?;
        let id = wait_for(&mut mesh, timeout, "Welcome", |e| match e {
            Event::Welcome { peer_id, .. } => Some(*peer_id),
            _ => None,
        })
        .await?;
        mesh.send(if i == 0 { Command::CreateRoom(settings.clone()) } else { Command::JoinRoom(code.clone()) });
        let room_code = wait_for(&mut mesh, timeout, "the room snapshot", |e| match e {
            Event::Room(room) if room.players.iter().any(|p| p.id == id) => Some(room.code.clone()),
            _ => None,
        })
        .await?;
        if i == 0 {
            code = room_code;
        }
        meshes.push((id, mesh));
    }
    for (_, mesh) in &mut meshes {
        wait_links_open(mesh, n - 1, timeout).await?;
    }
    Ok(meshes)
}

/// Waits until `count` links of `mesh` are open.
pub async fn wait_links_open(mesh: &mut MeshHandle, count: usize, timeout: Duration) -> Result<(), HarnessError> {
    let open = |m: &MeshHandle| m.status().links.iter().filter(|l| l.state == LinkState::Open).count();
    if open(mesh) >= count {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        wait_for(mesh, remaining, "links to open", |e| match e {
            Event::LinkState { state: LinkState::Open, .. } => Some(()),
            _ => None,
        })
        .await?;
        if open(mesh) >= count {
            return Ok(());
        }
    }
}

/// A player's `seq`-th hit of round `round_seed` at round time `round_ms` (100 points each;
/// `points` the totals after it), as the game sends it on the reliable channel.
pub fn hit(round_seed: u64, seq: u32, round_ms: u32, points: u32) -> PeerMsg {
    PeerMsg::Game(GameEvent {
        round_seed,
        seat: 0,
        seq,
        round_ms,
        kind: GameEventKind::Hit { target: seq as u16, points: 100 },
        totals: ScoreTotals { points, hits: seq, streak: seq, best_streak: seq },
    })
}

