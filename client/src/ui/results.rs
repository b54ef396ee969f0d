//! Results: the final scoreboard, rematch, back to the lobby.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{ACCENT, BAD, GOOD, MUTED, big_button, card, draw_video, mode_label, peer_videos, screen};
use crate::call::Call;
use crate::settings::Settings;
use crate::state::Screen;
use crate::game::FinalBoard;
use crate::session::{MeshCommand, NetCommand, Session};

pub(crate) fn results_screen(
    mut contexts: EguiContexts,
    mut session: ResMut<Session>,
    board: Res<FinalBoard>,
    mut net: MessageWriter<NetCommand>,
    mut next: ResMut<NextState<Screen>>,
    (call, settings): (Option<Res<Call>>, Res<Settings>),
) -> Result {
    let videos = peer_videos(&mut contexts, call.as_deref());
    let ctx = contexts.ctx_mut()?.clone();
    let me = session.my_id();
    let is_host = session.is_host();
    let recorded = session.recorded;
    let status = session.recorded_status;
    let in_room = session.room.is_some();
    let mut commands = Vec::new();
    let mut go = None;
    screen(&ctx, "결과 / Results", &mut session, |ui| {
        let Some(report) = &board.report else {
            ui.label("결과가 없어요 / No results yet");
            return;
        };
        card(ui, "최종 점수 / Final scoreboard", |ui| {
            if let Some(mode) = board.mode {
                ui.label(egui::RichText::new(mode_label(mode)).color(MUTED));
            }
            egui::Grid::new("scores").num_columns(5).spacing([28.0, 10.0]).striped(true).show(ui, |ui| {
                for h in ["순위 / #", "이름 / Name", "점수 / Points", "성공 / Hits", "최고 콤보 / Best streak"] {
                    ui.label(egui::RichText::new(h).color(MUTED));
                }
                ui.end_row();
                for (rank, line) in report.scores.iter().enumerate() {
                    ui.label(egui::RichText::new(format!("{}", rank + 1)).size(22.0));
                    let mut name = egui::RichText::new(&line.name).size(22.0);
                    if Some(line.player) == me {
                        name = name.color(ACCENT).strong();
                    }
                    ui.horizontal(|ui| {
                        // The call: how the others look now.
                        if let Some(video) = videos.get(&line.player) {
                            let (rect, _) = ui.allocate_exact_size(egui::vec2(48.0, 36.0), egui::Sense::hover());
                            draw_video(ui.painter(), rect, *video, settings.mirror);
                        }
                        ui.label(name);
                        if line.dropped {
                            ui.label(egui::RichText::new("(나감 / dropped)").color(BAD));
                        }
                    });
                    ui.label(egui::RichText::new(line.points.to_string()).size(22.0).strong());
                    ui.label(line.hits.to_string());
                    ui.label(line.best_streak.to_string());
                    ui.end_row();
                }
            });
            match (recorded, status) {
                (Some((id, _)), Some(status)) => {
                    ui.horizontal(|ui| {
                        ui.label(egui::RichText::new(format!("기록됨 / Recorded #{id}")).color(MUTED));
                        ui.label(super::history::status_label(status));
                    });
                }
                (Some((id, true)), None) => {
                    ui.label(egui::RichText::new(format!("✔ 모두 같은 결과로 기록됨 / Recorded, all agree (#{id})")).color(GOOD));
                }
                (Some((id, false)), None) => {
                    ui.label(egui::RichText::new(format!("기록됨, 확인 안 됨 / Recorded, unverified (#{id})")).color(BAD));
                }
                (None, _) => {
                    ui.label(egui::RichText::new("기록 중… / Recording…").color(MUTED));
                }
            }
        });
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if is_host && big_button(ui, "↻ 다시 하기 / Rematch").clicked() {
                commands.push(MeshCommand::StartGame { force: false }.into());
            }
            if in_room && big_button(ui, "로비로 / Back to lobby").clicked() {
                if is_host {
                    commands.push(MeshCommand::BackToLobby.into());
                }
                go = Some(Screen::Lobby);
            }
            if !in_room && big_button(ui, "메뉴로 / Menu").clicked() {
                go = Some(Screen::Menu);
            }
            if ui.button("지난 기록 / History").clicked() {
                go = Some(Screen::History);
            }
        });
    });
    for c in commands {
        net.write(c);
    }
    if let Some(s) = go {
        next.set(s);
    }
    Ok(())
}
