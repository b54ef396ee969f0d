//! The screens as Bevy [`States`] and the moves between them.
//!
//! Menu → Lobby (in a room) → Loading (the host pressed Start; everyone loads their model
//! and readies) → Game (the server announced the round) → Results (the round ended and the
//! scoreboard is agreed) → Lobby. History is reachable from the menu and the lobby.
//! The moves follow the server's room snapshots and round announcements, so every player's
//! screens stay in step; the systems here also do what needs no click: report the model's
//! loading stage, ready up when it is loaded, and act on the join intent given at start
//! (`--create` / `--room` / `--quick`).

use bevy::prelude::*;
use shared::protocol::signal::{LoadingStage, RoomPhase, RoomSettings};

use crate::session::{Connection, MeshCommand, NetCommand, NetEvent, Session};
use crate::settings::Settings;
use crate::state::{ClientSet, JoinIntent, ModelStatus, Screen};

/// A room request waiting for the connection to come up.
#[derive(Debug, Clone, Default, Resource)]
pub struct PendingIntent(pub Option<NetCommand>);

/// What the player asked for in the menu (or on the command line).
#[derive(Debug, Clone, PartialEq, Eq, Message)]
pub enum MenuAction {
    Create,
    Join(String),
    Quick,
}

/// Screen flow.
#[derive(Debug, Clone, Default)]
pub struct FlowPlugin {
    /// The screen to open on (demo screens); `None`: the menu.
    pub start: Option<Screen>,
    /// What to do right after start.
    pub join: JoinIntent,
}

impl Plugin for FlowPlugin {
    fn build(&self, app: &mut App) {
        let join = self.join.clone();
        app.init_resource::<PendingIntent>()
            .init_resource::<LoadingReport>()
            .add_message::<MenuAction>()
            .add_systems(Startup, move |mut actions: MessageWriter<MenuAction>| {
                if let Some(action) = action_for(&join) {
                    actions.write(action);
                }
            })
            .add_systems(
                Update,
                (
                    menu_actions.run_if(on_message::<MenuAction>),
                    send_pending_intent.run_if(on_message::<NetEvent>),
                    follow_server.run_if(on_message::<NetEvent>),
                )
                    .chain()
                    .in_set(ClientSet::Input),
            )
            .add_systems(Update, report_loading.run_if(in_state(Screen::Loading)).in_set(ClientSet::Net))
            .add_systems(OnEnter(Screen::Loading), reset_loading_report);
        if let Some(screen) = self.start {
            app.insert_state(screen);
        }
    }
}

/// The menu action a join intent stands for.
fn action_for(join: &JoinIntent) -> Option<MenuAction> {
    match join {
        JoinIntent::None => None,
        JoinIntent::Create => Some(MenuAction::Create),
        JoinIntent::Code(code) => Some(MenuAction::Join(code.clone())),
        JoinIntent::Quick => Some(MenuAction::Quick),
    }
}

/// Turns a menu action into a room request, connecting first when offline.
fn menu_actions(
    mut actions: MessageReader<MenuAction>,
    mut session: ResMut<Session>,
    settings: Res<Settings>,
    mut pending: ResMut<PendingIntent>,
    mut commands: MessageWriter<NetCommand>,
) {
    for action in actions.read() {
        let request: NetCommand = match action {
            MenuAction::Create => MeshCommand::CreateRoom(RoomSettings::default()).into(),
            MenuAction::Join(code) => MeshCommand::JoinRoom(code.trim().to_uppercase()).into(),
            MenuAction::Quick => MeshCommand::QuickMatch.into(),
        };
        session.notice = None;
        match session.connection {
            Connection::Online { .. } => {
                commands.write(request);
            }
            Connection::Connecting => pending.0 = Some(request),
            Connection::Offline => {
                session.connection = Connection::Connecting;
                pending.0 = Some(request);
                let name = if settings.name.trim().is_empty() {
                    "Player".to_string()
                } else {
                    settings.name.clone()
                };
                commands.write(NetCommand::Connect { server: settings.server.clone(), name });
            }
        }
    }
}

fn send_pending_intent(
    mut events: MessageReader<NetEvent>,
    mut pending: ResMut<PendingIntent>,
    mut commands: MessageWriter<NetCommand>,
) {
    for ev in events.read() {
        match ev {
            NetEvent::Connected { .. } => {
                if let Some(request) = pending.0.take() {
                    commands.write(request);
                }
            }
            NetEvent::Disconnected { .. } => pending.0 = None,
            _ => {}
        }
    }
}

/// The screen a room phase calls for, seen from `current` (`None`: stay).
fn screen_for_phase(phase: RoomPhase, current: Screen) -> Option<Screen> {
    match (phase, current) {
        (RoomPhase::Lobby, Screen::Menu | Screen::Loading | Screen::Results | Screen::Game) => {
            Some(Screen::Lobby)
        }
        (RoomPhase::Loading, Screen::Menu | Screen::Lobby | Screen::Results | Screen::History) => {
            Some(Screen::Loading)
        }
        _ => None,
    }
}

fn follow_server(
    mut events: MessageReader<NetEvent>,
    screen: Res<State<Screen>>,
    mut next: ResMut<NextState<Screen>>,
) {
    let mut target: Option<Screen> = None;
    for ev in events.read() {
        let current = target.unwrap_or(*screen.get());
        let to = match ev {
            NetEvent::Room(room) => screen_for_phase(room.phase, current),
            NetEvent::GameStarting(_) => Some(Screen::Game),
            NetEvent::LeftRoom(_) | NetEvent::Disconnected { .. } => Some(Screen::Menu),
            _ => None,
        };
        if let Some(to) = to {
            target = Some(to);
        }
    }
    if let Some(to) = target
        && to != *screen.get()
    {
        info!("screen {:?} → {:?}", screen.get(), to);
        next.set(to);
    }
}

/// What was last told to the server about our loading.
#[derive(Debug, Clone, Default, Resource)]
pub struct LoadingReport {
    stage: Option<LoadingStage>,
    progress_step: i32,
    ready_sent: bool,
}

fn reset_loading_report(mut report: ResMut<LoadingReport>) {
    *report = LoadingReport::default();
}

/// Tells the server our model's stage (on change, and every 10 %), and readies up once the
/// model is loaded.
fn report_loading(
    model: Res<ModelStatus>,
    mut report: ResMut<LoadingReport>,
    mut commands: MessageWriter<NetCommand>,
) {
    let step = (model.progress.clamp(0.0, 1.0) * 10.0) as i32;
    if report.stage != Some(model.stage) || report.progress_step != step {
        report.stage = Some(model.stage);
        report.progress_step = step;
        commands.write(MeshCommand::SetLoading { stage: model.stage, progress: model.progress }.into());
    }
    if model.stage == LoadingStage::Done && !report.ready_sent {
        report.ready_sent = true;
        commands.write(MeshCommand::SetReady(true).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_move_screens_forward_only() {
        assert_eq!(screen_for_phase(RoomPhase::Lobby, Screen::Menu), Some(Screen::Lobby));
        assert_eq!(screen_for_phase(RoomPhase::Lobby, Screen::Results), Some(Screen::Lobby));
        assert_eq!(screen_for_phase(RoomPhase::Lobby, Screen::History), None);
        assert_eq!(screen_for_phase(RoomPhase::Loading, Screen::Lobby), Some(Screen::Loading));
        assert_eq!(screen_for_phase(RoomPhase::Loading, Screen::Game), None);
        assert_eq!(screen_for_phase(RoomPhase::Results, Screen::Game), None);
    }
}
