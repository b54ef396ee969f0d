//! Lobby: the room code (large, copyable), the players with host mark and link state, the
//! host's settings, and Start.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use shared::protocol::signal::{GameMode, RoomSettings};

use super::{ACCENT, GOOD, MUTED, big_button, card, link_label, mode_label, screen};
use crate::flow::Screen;
use crate::session::{MeshCommand, NetCommand, Session};

/// Shortest and longest round the host can pick, seconds.
const DURATION_RANGE: std::ops::RangeInclusive<u16> = 20..=180;

pub(crate) fn lobby_screen(
    mut contexts: EguiContexts,
    mut session: ResMut<Session>,
    mut net: MessageWriter<NetCommand>,
    mut next: ResMut<NextState<Screen>>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let Some(room) = session.room.clone() else {
        // Left the room from elsewhere: the flow moves us to the menu.
        return Ok(());
    };
    let me = session.my_id();
    let is_host = session.is_host();
    let links = session.links.clone();
    let mut commands = Vec::new();
    screen(&ctx, "로비 / Lobby", &mut session, |ui| {
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("방 코드 / Room code").size(20.0).color(MUTED));
            ui.label(egui::RichText::new(&room.code).monospace().size(54.0).strong().color(ACCENT));
            if ui.button("📋 복사 / Copy").clicked() {
                ui.ctx().copy_text(room.code.clone());
            }
        });
        ui.columns(2, |cols| {
            card(&mut cols[0], &format!("플레이어 / Players ({}/{})", room.players.len(), room.cap), |ui| {
                for p in &room.players {
                    ui.horizontal(|ui| {
                        let crown = if p.id == room.host { "★ " } else { "   " };
                        let name = egui::RichText::new(format!("{crown}{}", p.name)).size(20.0);
                        ui.label(if p.id == room.host { name.color(ACCENT) } else { name });
                        if Some(p.id) == me {
                            ui.label(egui::RichText::new("나 / me").color(GOOD));
                        } else if !p.connected {
                            ui.label(egui::RichText::new("재접속 대기 / reconnecting").color(MUTED));
                        } else {
                            let link = links.get(&p.id).copied().unwrap_or_default();
                            let (text, color) = link_label(link.state, link.rtt_ms);
                            ui.label(egui::RichText::new(text).color(color));
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
                    ui.label("시간 / Duration (초 / s)");
                    ui.add(egui::Slider::new(&mut s.duration_secs, DURATION_RANGE).step_by(10.0));
                });
                if !is_host {
                    ui.label(egui::RichText::new("방장만 바꿀 수 있어요 / Only the host can change these").color(MUTED));
                }
                if is_host && s != room.settings {
                    commands.push(MeshCommand::UpdateSettings(RoomSettings { ..s }).into());
                }
            });
        });
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if is_host {
                if big_button(ui, "▶ 시작 / Start").clicked() {
                    commands.push(MeshCommand::StartGame { force: false }.into());
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
    Ok(())
}
