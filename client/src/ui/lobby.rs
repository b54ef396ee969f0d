//! Lobby: the room code (large, copyable), the players with host mark and link state, the
//! host's settings, the quiz deck (the host imports one; everyone sees its title and size),
//! and Start.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use shared::protocol::signal::{GameMode, RoomSettings, RoomVisibility};

use super::{
    ACCENT, BAD, GOOD, MUTED, big_button, camera_problem, card, draw_video, link_label, media_badges, mic_meter, mode_label, peer_videos,
    screen, sound_problem, speaking,
};
use crate::camera::CameraStatus;
use crate::state::CameraPicture;
use crate::call::Call;
use crate::media_state::PeerMedia;
use crate::voice::Sound;
use crate::settings::Settings;
use crate::deck::{ActiveDeck, DeckOrigin, DeckRequest, DeckShare, ImportStatus, start_blocked};
use crate::state::Screen;
use crate::session::{LinkState, MeshCommand, NetCommand, Session};

/// Shortest and longest round the host can pick, seconds.
const DURATION_RANGE: std::ops::RangeInclusive<u16> = 20..=180;

/// The deck import form between frames.
#[derive(Debug, Default, Resource)]
pub(crate) struct DeckForm {
    open: bool,
    path: String,
    password: String,
}

/// The deck card's inputs and what it asks for.
struct DeckCard<'a> {
    deck: &'a ActiveDeck,
    status: &'a ImportStatus,
    form: &'a mut DeckForm,
    is_host: bool,
    host_name: String,
    requests: Vec<DeckRequest>,
}

impl DeckCard<'_> {
    fn show(&mut self, ui: &mut egui::Ui) {
        card(ui, "퀴즈 덱 / Quiz deck", |ui| {
            let deck = &self.deck.deck;
            ui.horizontal_wrapped(|ui| {
                ui.label(egui::RichText::new(&deck.title).size(20.0).strong());
                ui.label(
                    egui::RichText::new(format!("{} 문제 / questions", deck.questions.len())).color(ACCENT),
                );
                if !deck.routines.is_empty() {
                    ui.label(egui::RichText::new(format!("{} 루틴 / routines", deck.routines.len())).color(ACCENT));
                }
                let origin = match &self.deck.origin {
                    DeckOrigin::Sample => "기본 샘플 / built-in sample".to_string(),
                    DeckOrigin::Imported { file } => format!("가져옴 / imported from {file}"),
                    DeckOrigin::Host { .. } => format!("{}님이 공유 / shared by {}", self.host_name, self.host_name),
                };
                ui.label(egui::RichText::new(origin).color(MUTED));
            });
            if self.is_host {
                self.import_form(ui);
            }
        });
    }

    fn import_form(&mut self, ui: &mut egui::Ui) {
        let reading = matches!(self.status, ImportStatus::Reading { .. });
        if !self.form.open {
            let button = ui.button("📂 덱 가져오기… / Import deck…");
            if button.on_hover_text(doctext::SUPPORTED).clicked() {
                self.form.open = true;
            }
        } else {
            ui.horizontal(|ui| {
                ui.label("파일 / File");
                ui.add_enabled(
                    !reading,
                    egui::TextEdit::singleline(&mut self.form.path)
                        .hint_text("파일을 끌어다 놓기 / drop a file, or type its path")
                        .desired_width(520.0),
                );
                let path = self.form.path.trim();
                if ui.add_enabled(!reading && !path.is_empty(), egui::Button::new("가져오기 / Import")).clicked() {
                    self.requests.push(DeckRequest::Import { path: path.into(), password: None });
                    self.form.password.clear();
                }
                if ui.add_enabled(!reading, egui::Button::new("닫기 / Close")).clicked() {
                    self.form.open = false;
                }
            });
        }
        match self.status {
            ImportStatus::Idle => {}
            ImportStatus::Reading { file, inflated } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    let size = if *inflated > 0 { format!(" ({} KB)", inflated / 1024) } else { String::new() };
                    ui.label(format!("읽는 중 / reading {file}…{size}"));
                    if ui.button("취소 / Cancel").clicked() {
                        self.requests.push(DeckRequest::Cancel);
                    }
                });
            }
            ImportStatus::NeedsPassword { path, message, .. } => {
                ui.label(egui::RichText::new(message).color(BAD));
                ui.horizontal(|ui| {
                    ui.label("비밀번호 / Password");
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut self.form.password).password(true).desired_width(240.0),
                    );
                    let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                    let open = ui.add_enabled(!self.form.password.is_empty(), egui::Button::new("열기 / Open"));
                    if (open.clicked() || enter) && !self.form.password.is_empty() {
                        self.requests.push(DeckRequest::Import {
                            path: path.clone(),
                            password: Some(std::mem::take(&mut self.form.password)),
                        });
                    }
                });
            }
            ImportStatus::Failed { message } => {
                ui.label(egui::RichText::new(message).color(BAD));
                ui.label(egui::RichText::new("지금 덱은 그대로예요 / The current deck stays active").color(MUTED));
            }
            ImportStatus::Imported { message } => {
                ui.label(egui::RichText::new(message).color(GOOD));
            }
        }
    }
}

/// A file dropped on the lobby window is imported as the deck (host only).
pub(crate) fn dropped_deck(
    mut drops: MessageReader<bevy::window::FileDragAndDrop>,
    session: Res<Session>,
    mut form: ResMut<DeckForm>,
    mut requests: MessageWriter<DeckRequest>,
) {
    for drop in drops.read() {
        let bevy::window::FileDragAndDrop::DroppedFile { path_buf, .. } = drop else { continue };
        if !session.is_host() {
            debug!("{} dropped on the lobby, but only the host imports decks", path_buf.display());
            continue;
        }
        form.open = true;
        form.path = path_buf.display().to_string();
        form.password.clear();
        requests.write(DeckRequest::Import { path: path_buf.clone(), password: None });
    }
}

/// Pose Rush targets: random, or one of the deck's routines.
fn routine_picker(ui: &mut egui::Ui, routine: &mut Option<u16>, routines: &[shared::deck::Routine]) {
    ui.label("목표 포즈 / Targets");
    let label = |r: Option<u16>| match r.and_then(|i| routines.get(usize::from(i))) {
        Some(r) => format!("루틴 / Routine: {}", r.name),
        None => "무작위 / Random".to_string(),
    };
    egui::ComboBox::from_id_salt("routine").selected_text(label(*routine)).show_ui(ui, |ui| {
        ui.selectable_value(routine, None, label(None));
        for i in (0..routines.len()).filter_map(|i| u16::try_from(i).ok()) {
            ui.selectable_value(routine, Some(i), label(Some(i)));
        }
    });
}

/// The routine's steps in order, with their times, as every player sees them before Start.
fn routine_preview(ui: &mut egui::Ui, routine: &shared::deck::Routine) {
    ui.label(egui::RichText::new(format!("루틴 / Routine “{}” — {} 포즈 / poses", routine.name, routine.steps.len())).color(ACCENT));
    ui.horizontal_wrapped(|ui| {
        for (n, step) in routine.steps.iter().enumerate() {
            let time = step.time_ms.map_or(String::new(), |ms| format!(" {}초/s", ms / 1000));
            ui.label(egui::RichText::new(format!("{}. {}{time}", n + 1, step.pose.name_ko())).small())
                .on_hover_text(step.pose.name_en());
        }
    });
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn lobby_screen(
    mut contexts: EguiContexts,
    mut session: ResMut<Session>,
    deck: Res<ActiveDeck>,
    share: Res<DeckShare>,
    status: Res<ImportStatus>,
    mut form: ResMut<DeckForm>,
    mut net: MessageWriter<NetCommand>,
    mut deck_requests: MessageWriter<DeckRequest>,
    mut next: ResMut<NextState<Screen>>,
    call: Option<Res<Call>>,
    settings: Res<Settings>,
    (camera, picture): (Option<Res<CameraStatus>>, Res<CameraPicture>),
    (media, sound): (Option<Res<PeerMedia>>, Option<Res<Sound>>),
) -> Result {
    let videos = peer_videos(&mut contexts, call.as_deref());
    // Our own picture (the preview of what the others see), while the camera is on.
    let own = picture
        .image
        .clone()
        .filter(|_| call.as_deref().is_some_and(|c| c.camera_on))
        .map(|h| (contexts.add_image(bevy_egui::EguiTextureHandle::Strong(h)), picture.size.x as f32 / picture.size.y.max(1) as f32));
    let ctx = contexts.ctx_mut()?.clone();
    let Some(room) = session.room.clone() else {
        // Left the room from elsewhere: the flow moves us to the menu.
        return Ok(());
    };
    let me = session.my_id();
    let is_host = session.is_host();
    let links = session.links.clone();
    let reconnecting: Vec<shared::protocol::signal::PeerId> = room.players.iter().map(|p| p.id).filter(|&id| session.peer_reconnecting(id)).collect();
    // The host knows who plays its deck (each player confirms it after a transfer).
    let has_deck = |id| share.has_deck(id, deck.digest());
    let blocked = if is_host { start_blocked(&session, &share, &deck) } else { None };
    let routines = &deck.deck.routines;
    let mut deck_card = DeckCard {
        deck: &deck,
        status: &status,
        form: &mut form,
        is_host,
        host_name: session.player_name(room.host),
        requests: Vec::new(),
    };
    let mut commands: Vec<NetCommand> = Vec::new();
    screen(&ctx, "로비 / Lobby", &mut session, |ui| {
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("방 코드 / Room code").size(20.0).color(MUTED));
            ui.label(egui::RichText::new(&room.code).monospace().size(54.0).strong().color(ACCENT));
            if ui.button("📋 복사 / Copy").clicked() {
                ui.ctx().copy_text(room.code.clone());
            }
            ui.separator();
            let mut visibility = room.visibility;
            ui.add_enabled_ui(is_host, |ui| {
                ui.radio_value(&mut visibility, RoomVisibility::Private, "🔒 비공개 / Private")
                    .on_hover_text("코드로만 들어와요 / Only players with the code can join");
                ui.radio_value(&mut visibility, RoomVisibility::Public, "🌐 공개 / Public")
                    .on_hover_text("빠른 매칭으로 누구나 들어와요 / Quick match may bring anyone in");
            });
            if is_host && visibility != room.visibility {
                commands.push(MeshCommand::SetVisibility(visibility).into());
            }
        });
        ui.columns(2, |cols| {
            card(&mut cols[0], &format!("플레이어 / Players ({}/{})", room.players.len(), room.cap), |ui| {
                camera_problem(ui, camera.as_deref());
                sound_problem(ui, sound.as_deref());
                for p in &room.players {
                    ui.horizontal(|ui| {
                        let video = if Some(p.id) == me { own } else { videos.get(&p.id).copied() };
                        if let Some(video) = video.as_ref() {
                            let (rect, _) = ui.allocate_exact_size(egui::vec2(64.0, 48.0), egui::Sense::hover());
                            ui.painter().rect_filled(rect, 3.0, egui::Color32::from_gray(18));
                            draw_video(ui.painter(), rect, *video, settings.mirror);
                        }
                        let crown = if p.id == room.host { "★ " } else { "   " };
                        let name = egui::RichText::new(format!("{crown}{}", p.name)).size(20.0);
                        ui.label(if p.id == room.host { name.color(ACCENT) } else { name });
                        let state = match media.as_deref() {
                            Some(m) if Some(p.id) == me => Some(m.mine),
                            Some(m) => m.peers.get(&p.id).copied(),
                            None => None,
                        };
                        if p.device.is_none() {
                            media_badges(ui, state, Some(p.id) != me && speaking(sound.as_deref(), p.id));
                        }
                        if Some(p.id) == me {
                            mic_meter(ui, sound.as_deref());
                        }
                        if Some(p.id) == me || (p.device.is_some() && p.device == me) {
                            ui.label(egui::RichText::new("나 / me").color(GOOD));
                            if p.device.is_some() {
                                ui.label(egui::RichText::new("같은 카메라 / same camera").color(MUTED));
                            }
                        } else if let Some(device) = p.device {
                            let owner = room.players.iter().find(|o| o.id == device).map_or("?", |o| o.name.as_str());
                            ui.label(egui::RichText::new(format!("{owner}의 카메라 / on {owner}'s camera")).color(MUTED));
                        } else if reconnecting.contains(&p.id) {
                            ui.label(egui::RichText::new("⟳ 재연결 중… / reconnecting…").color(BAD));
                        } else {
                            let link = links.get(&p.id).copied().unwrap_or_default();
                            let (text, color) = link_label(link.state, link.rtt_ms);
                            ui.label(egui::RichText::new(text).color(color));
                            if is_host && has_deck(p.id) {
                                ui.label(egui::RichText::new("✔ 덱 / deck").color(GOOD));
                            } else if is_host && link.state == LinkState::Open {
                                ui.label(egui::RichText::new("덱 보내는 중 / sending deck").color(MUTED));
                            }
                        }
                    });
                }
                ui.label(egui::RichText::new("★ = 방장 / host").small().color(MUTED));
            });
            card(&mut cols[1], "게임 설정 / Game settings", |ui| {
                let mut s = room.settings.clone();
                ui.add_enabled_ui(is_host, |ui| {
                    ui.label("모드 / Mode");
                    ui.radio_value(&mut s.mode, GameMode::PoseRush, mode_label(GameMode::PoseRush));
                    ui.radio_value(&mut s.mode, GameMode::MotionQuiz, mode_label(GameMode::MotionQuiz));
                    if s.mode == GameMode::PoseRush && !routines.is_empty() {
                        routine_picker(ui, &mut s.routine, routines);
                    }
                    ui.label("시간 / Duration (초 / s)");
                    ui.add(egui::Slider::new(&mut s.duration_secs, DURATION_RANGE).step_by(10.0));
                });
                if !is_host {
                    ui.label(egui::RichText::new("방장만 바꿀 수 있어요 / Only the host can change these").color(MUTED));
                }
                if s.mode == GameMode::PoseRush
                    && let Some(r) = s.routine.and_then(|i| routines.get(usize::from(i)))
                {
                    routine_preview(ui, r);
                }
                // A new deck without that routine: back to random targets.
                if is_host && s.routine.is_some_and(|i| usize::from(i) >= routines.len()) {
                    s.routine = None;
                }
                if is_host && s != room.settings {
                    commands.push(MeshCommand::UpdateSettings(RoomSettings { ..s }).into());
                }
            });
        });
        deck_card.show(ui);
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if is_host {
                let start = ui.add_enabled_ui(blocked.is_none(), |ui| big_button(ui, "▶ 시작 / Start")).inner;
                if start.clicked() && blocked.is_none() {
                    commands.push(MeshCommand::StartGame { force: false }.into());
                }
                if let Some(why) = &blocked {
                    ui.label(egui::RichText::new(why).color(BAD));
                }
            } else {
                ui.label(egui::RichText::new("방장이 시작하기를 기다리는 중… / Waiting for the host to start").size(20.0));
            }
            if ui.button("나가기 / Leave").clicked() {
                commands.push(MeshCommand::LeaveRoom.into());
            }
            if ui.button("지난 기록 / History").clicked() {
                next.set(Screen::History);
            }
        });
    });
    for c in commands {
        net.write(c);
    }
    for r in deck_card.requests {
        deck_requests.write(r);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::ecs::message::Messages;
    use bevy::window::FileDragAndDrop;
    use shared::protocol::signal::{RoomPhase, RoomSnapshot};

    fn app(host: bool) -> App {
        let mut app = App::new();
        app.add_plugins(MinimalPlugins)
            .add_message::<FileDragAndDrop>()
            .add_message::<DeckRequest>()
            .init_resource::<DeckForm>()
            .add_systems(Update, dropped_deck);
        let session = Session {
            connection: crate::session::Connection::Online { my_id: 1 },
            room: Some(RoomSnapshot {
                code: "ABCDEF".into(),
                host: if host { 1 } else { 2 },
                settings: RoomSettings::default(),
                phase: RoomPhase::Lobby,
                players: vec![],
                cap: 8,
                visibility: shared::protocol::signal::RoomVisibility::Private,
            }),
            ..Session::default()
        };
        app.insert_resource(session);
        app
    }

    fn drop_file(app: &mut App, path: &str) -> Vec<DeckRequest> {
        let window = app.world_mut().spawn_empty().id();
        app.world_mut().write_message(FileDragAndDrop::DroppedFile { window, path_buf: path.into() });
        app.update();
        let messages = app.world().resource::<Messages<DeckRequest>>();
        messages.iter_current_update_messages().cloned().collect()
    }

    #[test]
    fn a_file_dropped_on_the_hosts_lobby_is_imported() {
        let mut host = app(true);
        assert_eq!(
            drop_file(&mut host, "/tmp/퀴즈.xlsx"),
            vec![DeckRequest::Import { path: "/tmp/퀴즈.xlsx".into(), password: None }]
        );
        let form = host.world().resource::<DeckForm>();
        assert!(form.open);
        assert_eq!(form.path, "/tmp/퀴즈.xlsx");
        let mut guest = app(false);
        assert!(drop_file(&mut guest, "/tmp/quiz.docx").is_empty(), "only the host imports");
    }
}
