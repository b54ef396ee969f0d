//! The screens, drawn with egui: one small system per screen, each running only in its
//! [`Screen`] state. Labels are bilingual (한국어 / English) and the bundled Hangul font is
//! installed before the first screen is drawn.

mod draw;
mod history;
mod hud;
mod latency;
mod lobby;
mod loading;
mod menu;
mod results;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use shared::protocol::signal::{GameMode, LoadingStage};

pub use draw::draw_skeleton;

use crate::state::{ClientSet, Screen};
use crate::session::{LinkState, Session};

/// Marks that fonts and style are installed in the egui context.
#[derive(Resource)]
struct EguiStyled;

/// The egui screens (windowed mode only).
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<menu::MenuForm>()
            .init_resource::<lobby::DeckForm>()
            .add_systems(OnEnter(Screen::History), history::request_history)
            .add_systems(Update, lobby::dropped_deck.run_if(in_state(Screen::Lobby)).in_set(ClientSet::Input))
            .add_systems(
                EguiPrimaryContextPass,
                (
                    style_egui.run_if(not(resource_exists::<EguiStyled>)),
                    menu::menu_screen.run_if(in_state(Screen::Menu)),
                    lobby::lobby_screen.run_if(in_state(Screen::Lobby)),
                    loading::loading_screen.run_if(in_state(Screen::Loading)),
                    hud::game_screen.run_if(in_state(Screen::Game)),
                    results::results_screen.run_if(in_state(Screen::Results)),
                    history::history_screen.run_if(in_state(Screen::History)),
                    latency::latency_screen.run_if(in_state(Screen::LatencyTest)),
                )
                    .chain(),
            );
    }
}

fn style_egui(mut commands: Commands, mut contexts: EguiContexts) -> Result {
    let ctx = contexts.ctx_mut()?;
    ctx.set_fonts(crate::fonts::font_definitions());
    ctx.set_visuals(egui::Visuals::dark());
    ctx.all_styles_mut(|style| {
        use egui::{FontFamily::Proportional, FontId, TextStyle};
        style.text_styles = [
            (TextStyle::Small, FontId::new(14.0, Proportional)),
            (TextStyle::Body, FontId::new(18.0, Proportional)),
            (TextStyle::Button, FontId::new(19.0, Proportional)),
            (TextStyle::Heading, FontId::new(30.0, Proportional)),
            (TextStyle::Monospace, FontId::new(18.0, egui::FontFamily::Monospace)),
        ]
        .into();
        style.spacing.item_spacing = egui::vec2(10.0, 10.0);
        style.spacing.button_padding = egui::vec2(14.0, 8.0);
        style.spacing.interact_size.y = 34.0;
    });
    commands.insert_resource(EguiStyled);
    Ok(())
}

/// Accent colours.
pub(crate) const ACCENT: egui::Color32 = egui::Color32::from_rgb(255, 176, 59);
pub(crate) const GOOD: egui::Color32 = egui::Color32::from_rgb(110, 220, 140);
pub(crate) const BAD: egui::Color32 = egui::Color32::from_rgb(240, 100, 100);
pub(crate) const MUTED: egui::Color32 = egui::Color32::from_rgb(160, 160, 170);
pub(crate) const PANEL: egui::Color32 = egui::Color32::from_rgb(30, 32, 40);

/// A root `Ui` covering the whole window, for the panels of one screen.
pub(crate) fn root_ui(ctx: &egui::Context) -> egui::Ui {
    egui::Ui::new(
        ctx.clone(),
        "screen".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    )
}

/// A screen: a title bar with `title` and the session notice, then the contents.
pub(crate) fn screen(
    ctx: &egui::Context,
    title: &str,
    session: &mut Session,
    add_contents: impl FnOnce(&mut egui::Ui),
) {
    let mut root = root_ui(ctx);
    egui::Panel::top("title").show(&mut root, |ui| {
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("PoseParty 포즈파티").color(ACCENT).size(22.0).strong());
            ui.separator();
            ui.label(egui::RichText::new(title).size(22.0));
        });
        notice_bar(ui, session);
        ui.add_space(2.0);
    });
    egui::CentralPanel::default().show(&mut root, |ui| {
        egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, add_contents);
    });
}

/// The session's notice (errors, "you left the room") with a dismiss button.
fn notice_bar(ui: &mut egui::Ui, session: &mut Session) {
    reconnecting_bar(ui, session);
    let Some(text) = session.notice.clone() else { return };
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new(format!("⚠ {text}")).color(BAD));
        if ui.small_button("닫기 / Dismiss").clicked() {
            session.notice = None;
        }
    });
}

/// "Reconnecting to the server" while the connection is being restored.
pub(crate) fn reconnecting_bar(ui: &mut egui::Ui, session: &Session) {
    if session.reconnecting {
        ui.label(
            egui::RichText::new("⟳ 서버에 다시 연결하는 중… 게임은 계속돼요 / Reconnecting to the server… the game goes on")
                .color(ACCENT),
        );
    }
}

/// The textures of the peers' camera pictures that are fresh, with their aspect ratios.
pub(crate) fn peer_videos(
    contexts: &mut bevy_egui::EguiContexts,
    call: Option<&crate::call::Call>,
) -> std::collections::BTreeMap<shared::protocol::signal::PeerId, (egui::TextureId, f32)> {
    let Some(call) = call else { return Default::default() };
    call.peers
        .iter()
        .filter(|(_, v)| v.is_fresh())
        .filter_map(|(id, v)| {
            let aspect = v.picture.width as f32 / v.picture.height.max(1) as f32;
            v.image.clone().map(|h| (*id, (contexts.add_image(bevy_egui::EguiTextureHandle::Strong(h)), aspect)))
        })
        .collect()
}

/// Draws a peer's camera picture into `rect` (fitted, mirrored like our own when `mirror`).
pub(crate) fn draw_video(painter: &egui::Painter, rect: egui::Rect, (tex, aspect): (egui::TextureId, f32), mirror: bool) {
    let uv = if mirror {
        egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
    } else {
        egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
    };
    painter.image(tex, draw::fit(rect, aspect), uv, egui::Color32::WHITE);
}

/// The camera's problem, if it has one, with what to do (no camera, busy, no permission).
pub(crate) fn camera_problem(ui: &mut egui::Ui, status: Option<&crate::camera::CameraStatus>) {
    if let Some(error) = status.and_then(|s| s.error.as_deref()) {
        ui.label(egui::RichText::new(format!("📷 카메라 문제 / Camera problem: {error}")).color(BAD));
        ui.label(
            egui::RichText::new("설정에서 다른 카메라를 고르거나 다시 연결해 보세요 / Pick another camera in the settings, or plug it in again")
                .color(MUTED)
                .small(),
        );
    }
}

/// The microphone's or speaker's problem, with what to do (menu and lobby).
pub(crate) fn sound_problem(ui: &mut egui::Ui, sound: Option<&crate::voice::Sound>) {
    for problem in sound.map(|s| s.problems.as_slice()).unwrap_or_default() {
        ui.label(egui::RichText::new(problem.short()).color(BAD).small()).on_hover_text(problem.message());
    }
}

/// This player's microphone level (after echo cancellation), as a small bar: the player sees
/// the microphone works before anyone answers. Nothing without a microphone.
pub(crate) fn mic_meter(ui: &mut egui::Ui, sound: Option<&crate::voice::Sound>) {
    let Some(sound) = sound.filter(|s| s.has_microphone()) else { return };
    let level = if sound.mic_on() { sound.mic_level().clamp(0.0, 1.0) } else { 0.0 };
    // Speech peaks around −20…−6 dBFS: show the level on a dB scale from −50 dBFS.
    let db = 20.0 * level.max(1e-5).log10();
    let fill = ((db + 50.0) / 50.0).clamp(0.0, 1.0);
    ui.add(egui::ProgressBar::new(fill).desired_width(60.0).desired_height(8.0).fill(GOOD))
        .on_hover_text(if sound.mic_on() { "마이크 소리 / microphone level" } else { "음소거 중 / muted" });
}

/// Small labels for a player's call: camera off or missing, microphone muted or missing,
/// speaking now.
pub(crate) fn media_badges(ui: &mut egui::Ui, state: Option<shared::protocol::peer::MediaState>, speaking: bool) {
    use shared::protocol::peer::DeviceState;
    if speaking {
        ui.label(egui::RichText::new("🔊").color(GOOD)).on_hover_text("말하는 중 / speaking");
    }
    let Some(state) = state else { return };
    match state.camera {
        DeviceState::On => {}
        DeviceState::Off => {
            ui.label(egui::RichText::new("📷 꺼짐 / camera off").small().color(MUTED));
        }
        DeviceState::Missing => {
            ui.label(egui::RichText::new("📷 없음 / no camera").small().color(BAD));
        }
    }
    match state.microphone {
        DeviceState::On => {}
        DeviceState::Off => {
            ui.label(egui::RichText::new("🔇 음소거 / muted").small().color(MUTED));
        }
        DeviceState::Missing => {
            ui.label(egui::RichText::new("🎤 없음 / no mic").small().color(BAD));
        }
    }
}

/// Whether `peer`'s voice is sounding now.
pub(crate) fn speaking(sound: Option<&crate::voice::Sound>, peer: shared::protocol::signal::PeerId) -> bool {
    sound.is_some_and(|s| s.mixer().level(peer) > 0.03)
}

/// A wide button.
pub(crate) fn big_button(ui: &mut egui::Ui, text: &str) -> egui::Response {
    ui.add_sized([260.0, 44.0], egui::Button::new(egui::RichText::new(text).size(20.0)))
}

/// A card: a framed group with a heading.
pub(crate) fn card<R>(ui: &mut egui::Ui, heading: &str, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    egui::Frame::group(ui.style())
        .fill(PANEL)
        .corner_radius(8.0)
        .inner_margin(14.0)
        .show(ui, |ui| {
            ui.label(egui::RichText::new(heading).size(21.0).strong().color(ACCENT));
            ui.add_space(4.0);
            add(ui)
        })
        .inner
}

pub(crate) fn stage_label(stage: LoadingStage) -> &'static str {
    match stage {
        LoadingStage::Idle => "대기 / Waiting",
        LoadingStage::ReadingModel => "모델 읽는 중 / Reading model",
        LoadingStage::BuildingSession => "세션 준비 중 / Building session",
        LoadingStage::WarmingUp => "워밍업 / Warming up",
        LoadingStage::Done => "완료 / Loaded",
        LoadingStage::Failed => "실패 / Failed",
    }
}

pub(crate) fn mode_label(mode: GameMode) -> &'static str {
    match mode {
        GameMode::PoseRush => "포즈 러시 / Pose Rush",
        GameMode::MotionQuiz => "모션 퀴즈 / Motion Quiz",
    }
}

pub(crate) fn link_label(state: LinkState, rtt_ms: Option<u32>) -> (String, egui::Color32) {
    match (state, rtt_ms) {
        (LinkState::Open, Some(ms)) => (format!("연결됨 / linked · {ms} ms"), GOOD),
        (LinkState::Open, None) => ("연결됨 / linked".into(), GOOD),
        (LinkState::Connecting, _) => ("연결 중 / connecting…".into(), ACCENT),
        (LinkState::Retrying, _) => ("재시도 / retrying…".into(), BAD),
        (LinkState::Closed, _) => ("끊김 / closed".into(), BAD),
    }
}
