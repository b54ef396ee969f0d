//! Loading: our own model's stages as progress bars, every player's stage and readiness
//! live, cancel; the host may start without players that are not ready. With several people
//! in front of the camera (couch play), "find your spot": who is seen where, in which seat.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiTextureHandle, egui};
use shared::protocol::signal::LoadingStage;

use super::draw::FULL_VIEW;
use super::hud::label_anchor;
use super::{BAD, GOOD, MUTED, card, draw_skeleton, draw_video, peer_videos, screen, stage_label};
use crate::call::Call;
use crate::couch::{Couch, seat_colour};
use crate::settings::Settings;
use crate::state::{CameraPicture, ModelStatus, SeenPeople};
use crate::session::{MeshCommand, NetCommand, Session};

/// Our stages in order, with their labels.
const STAGES: [(LoadingStage, &str); 3] = [
    (LoadingStage::ReadingModel, "① 모델 파일 읽기 / Reading the model files"),
    (LoadingStage::BuildingSession, "② 추론 세션 만들기 / Building the inference session"),
    (LoadingStage::WarmingUp, "③ 첫 추론 워밍업 / First warm-up inference"),
];

fn order(stage: LoadingStage) -> usize {
    match stage {
        LoadingStage::Idle | LoadingStage::Failed => 0,
        LoadingStage::ReadingModel => 1,
        LoadingStage::BuildingSession => 2,
        LoadingStage::WarmingUp => 3,
        LoadingStage::Done => 4,
    }
}

/// Progress (0–1) of stage `which` when the model is at `current` with `progress`.
pub(crate) fn stage_progress(which: LoadingStage, current: LoadingStage, progress: f32) -> f32 {
    match order(current).cmp(&order(which)) {
        std::cmp::Ordering::Greater => 1.0,
        std::cmp::Ordering::Equal => progress.clamp(0.0, 1.0),
        std::cmp::Ordering::Less => 0.0,
    }
}

/// Progress over all stages (0–1).
pub(crate) fn overall_progress(current: LoadingStage, progress: f32) -> f32 {
    STAGES.iter().map(|(s, _)| stage_progress(*s, current, progress)).sum::<f32>() / STAGES.len() as f32
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn loading_screen(
    mut contexts: EguiContexts,
    mut session: ResMut<Session>,
    model: Res<ModelStatus>,
    couch: Option<ResMut<Couch>>,
    seen: Res<SeenPeople>,
    picture: Res<CameraPicture>,
    settings: Res<Settings>,
    mut net: MessageWriter<NetCommand>,
    call: Option<Res<Call>>,
) -> Result {
    let videos = peer_videos(&mut contexts, call.as_deref());
    // "Find your spot" only when several people play on this camera.
    let mut couch = couch.filter(|c| !c.names.is_empty());
    let texture = match (&couch, picture.image.clone()) {
        (Some(_), Some(h)) => Some(contexts.add_image(EguiTextureHandle::Strong(h))),
        _ => None,
    };
    let ctx = contexts.ctx_mut()?.clone();
    let room = session.room.clone();
    let is_host = session.is_host();
    let me = session.my_id();
    let mut commands = Vec::new();
    screen(&ctx, "로딩 / Loading", &mut session, |ui| {
        ui.columns(2, |cols| {
            card(&mut cols[0], "내 포즈 모델 / My pose model", |ui| {
                for (stage, label) in STAGES {
                    ui.label(label);
                    let p = stage_progress(stage, model.stage, model.progress);
                    ui.add(egui::ProgressBar::new(p).show_percentage().desired_width(420.0));
                }
                match model.stage {
                    LoadingStage::Done => {
                        ui.label(egui::RichText::new("✔ 준비 완료! / Ready!").color(GOOD).size(22.0));
                    }
                    LoadingStage::Failed => {
                        ui.label(egui::RichText::new("✖ 모델을 불러오지 못했어요 / The model failed to load").color(BAD));
                    }
                    _ => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(stage_label(model.stage));
                        });
                    }
                }
                if !model.detail.is_empty() {
                    ui.label(egui::RichText::new(&model.detail).color(MUTED));
                }
            });
            card(&mut cols[1], "모두의 준비 상태 / Everyone's readiness", |ui| {
                let Some(room) = &room else { return };
                egui::Grid::new("ready").num_columns(3).spacing([16.0, 8.0]).show(ui, |ui| {
                    for p in &room.players {
                        let name = if Some(p.id) == me { format!("{} (나/me)", p.name) } else { p.name.clone() };
                        ui.horizontal(|ui| {
                            if let Some(video) = videos.get(&p.id) {
                                let (rect, _) = ui.allocate_exact_size(egui::vec2(48.0, 36.0), egui::Sense::hover());
                                draw_video(ui.painter(), rect, *video, settings.mirror);
                            }
                            ui.label(name);
                        });
                        ui.add(
                            egui::ProgressBar::new(overall_progress(p.stage, p.progress))
                                .desired_width(330.0)
                                .text(stage_label(p.stage)),
                        );
                        if p.ready {
                            ui.label(egui::RichText::new("✔ 준비 / ready").color(GOOD));
                        } else if !p.connected {
                            ui.label(egui::RichText::new("끊김 / offline").color(BAD));
                        } else {
                            ui.label(egui::RichText::new("… 로딩 / loading").color(MUTED));
                        }
                        ui.end_row();
                    }
                });
            });
        });
        if let Some(couch) = couch.as_deref_mut() {
            ui.add_space(8.0);
            card(ui, "자리 찾기 / Find your spot", |ui| {
                find_your_spot(ui, couch, &seen, texture, &picture, settings.mirror, &settings.name);
            });
        }
        ui.add_space(10.0);
        ui.horizontal(|ui| {
            if ui.button("취소 / Cancel").clicked() {
                commands.push(MeshCommand::LeaveRoom.into());
            }
            let someone_waiting = room.as_ref().is_some_and(|r| r.players.iter().any(|p| !p.ready));
            if is_host && someone_waiting && ui.button("준비된 사람만 시작 / Start without the others").clicked() {
                commands.push(MeshCommand::StartGame { force: true }.into());
            }
        });
    });
    for c in commands {
        net.write(c);
    }
    Ok(())
}

/// Couch play: the camera picture with everyone the model sees, coloured by their seat,
/// the seats with who is seen, and a button to take the seats again left to right.
fn find_your_spot(
    ui: &mut egui::Ui,
    couch: &mut Couch,
    seen: &SeenPeople,
    texture: Option<egui::TextureId>,
    picture: &CameraPicture,
    mirror: bool,
    me: &str,
) {
    ui.label("화면 앞에 한 줄로 서 주세요. 왼쪽부터 자리가 정해져요 / Stand in a row in front of the camera: seats go left to right.");
    ui.horizontal(|ui| {
        let aspect = if picture.size.y > 0 { picture.size.x as f32 / picture.size.y as f32 } else { 4.0 / 3.0 };
        let (rect, _) = ui.allocate_exact_size(egui::vec2(300.0 * aspect, 300.0), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 6.0, egui::Color32::from_gray(12));
        if let Some(tex) = texture {
            let uv = if mirror {
                egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
            } else {
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
            };
            painter.image(tex, rect, uv, egui::Color32::WHITE);
        }
        for person in &seen.people {
            let seat = couch.seat_of(person.id);
            let colour = seat.map_or(MUTED, |s| {
                let [r, g, b] = seat_colour(s);
                egui::Color32::from_rgb(r, g, b)
            });
            draw_skeleton(&painter, rect, FULL_VIEW, &person.skeleton, mirror, colour, 3.0);
            let (x, top) = label_anchor(&person.skeleton, mirror);
            let at = egui::pos2(rect.min.x + x * rect.width(), rect.min.y + ((top - 0.08) * rect.height() - 14.0).max(12.0));
            let label = seat.map_or_else(|| "자리 없음 / no seat".to_owned(), |s| couch.seat_name(s, me));
            painter.text(at, egui::Align2::CENTER_CENTER, label, egui::FontId::proportional(18.0), colour);
        }
        ui.vertical(|ui| {
            for seat in 0..couch.seat_count() {
                let Ok(seat) = u8::try_from(seat) else { continue };
                let [r, g, b] = seat_colour(seat);
                let taken = couch.seats.get(usize::from(seat)).copied().flatten().is_some();
                ui.horizontal(|ui| {
                    ui.label(egui::RichText::new(format!("● {}", couch.seat_name(seat, me))).color(egui::Color32::from_rgb(r, g, b)).size(20.0));
                    if taken {
                        ui.label(egui::RichText::new("✔ 보여요 / seen").color(GOOD));
                    } else {
                        ui.label(egui::RichText::new("안 보여요 — 화면 안으로 / not seen — step into the picture").color(BAD));
                    }
                });
            }
            ui.add_space(6.0);
            if ui.button("왼쪽부터 다시 앉기 / Take seats again, left to right").clicked() {
                couch.retake = true;
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_bars_fill_in_order() {
        use LoadingStage::*;
        assert_eq!(stage_progress(ReadingModel, BuildingSession, 0.5), 1.0);
        assert_eq!(stage_progress(BuildingSession, BuildingSession, 0.5), 0.5);
        assert_eq!(stage_progress(WarmingUp, BuildingSession, 0.5), 0.0);
        assert_eq!(stage_progress(WarmingUp, Done, 0.0), 1.0);
        assert_eq!(stage_progress(ReadingModel, Failed, 0.7), 0.0);
        assert!((overall_progress(BuildingSession, 0.5) - 0.5).abs() < 1e-6);
        assert_eq!(overall_progress(Done, 0.0), 1.0);
    }
}
