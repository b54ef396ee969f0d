//! Game HUD: timer, target pose card (or quiz question), own score and combo, the camera
//! picture with the skeleton drawn, peers' scores and small live skeletons.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiTextureHandle, egui};
use shared::pose::Skeleton;
use shared::protocol::signal::PeerId;
use shared::rules::fixtures::pose_skeleton;
use shared::rules::{AnswerLayout, PoseId};

use super::draw::{BODY_VIEW, FULL_VIEW, fit};
use super::{
    ACCENT, BAD, GOOD, MUTED, PANEL, draw_skeleton, draw_video, media_badges, mode_label, peer_videos, reconnecting_bar, root_ui,
    speaking,
};
use crate::game::{Play, Round};
use crate::call::Call;
use crate::media_state::PeerMedia;
use crate::voice::Sound;
use crate::couch::seat_colour;
use crate::state::{CameraPicture, PlayerPose, SeatPoses};
use crate::session::{PeerBoard, Session};
use crate::settings::Settings;

/// How long a hit's "+points" stays on screen, ms.
const FLASH_MS: i64 = 1200;

fn clock(ms: u32) -> String {
    let s = ms.div_ceil(1000);
    format!("{}:{:02}", s / 60, s % 60)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn game_screen(
    mut contexts: EguiContexts,
    round: Option<Res<Round>>,
    pose: Res<PlayerPose>,
    seat_poses: Res<SeatPoses>,
    board: Res<PeerBoard>,
    session: Res<Session>,
    settings: Res<Settings>,
    picture: Res<CameraPicture>,
    mut call: Option<ResMut<Call>>,
    (media, sound): (Option<Res<PeerMedia>>, Option<Res<Sound>>),
) -> Result {
    let texture = picture.image.clone().map(|h| contexts.add_image(EguiTextureHandle::Strong(h)));
    // Peers' camera pictures, while fresh (else their tiles show the skeleton).
    let videos = peer_videos(&mut contexts, call.as_deref());
    let ctx = contexts.ctx_mut()?.clone();
    let Some(round) = round else { return Ok(()) };
    let mut root = root_ui(&ctx);
    let totals = round.totals();

    egui::Panel::top("hud_top").show(&mut root, |ui| {
        reconnecting_bar(ui, &session);
        ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Extend);
        ui.horizontal(|ui| {
            // A quiz has no round clock: the time to answer the question on screen counts.
            let left = match round.play {
                Play::Rush(_) => Some(round.remaining_ms()),
                Play::Quiz { .. } => round.question_left_ms(),
            };
            let time = match left {
                _ if round.t_ms < 0 => "준비 / Ready".to_string(),
                Some(ms) => clock(ms),
                None => "–:––".to_string(),
            };
            ui.label(egui::RichText::new(format!("⏱ {time}")).size(34.0).strong());
            ui.separator();
            ui.label(egui::RichText::new(format!("점수 / Score {}", totals.points)).size(30.0).color(ACCENT));
            ui.separator();
            let mult = round_multiplier(&round);
            ui.label(
                egui::RichText::new(format!("콤보 / Combo ×{}  ({}%)", totals.streak, mult))
                    .size(24.0)
                    .color(if totals.streak >= 3 { GOOD } else { egui::Color32::WHITE }),
            );
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.label(egui::RichText::new(mode_label(round.info.mode)).color(MUTED));
                if let Some(call) = call.as_deref_mut() {
                    let text = if call.camera_on { "📷 카메라 끄기 / Camera off (C)" } else { "📷 카메라 켜기 / Camera on (C)" };
                    if ui.button(text).clicked() {
                        call.camera_on = !call.camera_on;
                    }
                }
                if let Some(sound) = sound.as_deref().filter(|s| s.has_microphone()) {
                    let text = if sound.mic_on() { "🎤 마이크 끄기 / Mute (M)" } else { "🔇 마이크 켜기 / Unmute (M)" };
                    if ui.button(text).clicked() {
                        sound.set_mic_on(!sound.mic_on());
                    }
                }
            });
        });
    });

    egui::Panel::right("hud_players").exact_size(300.0).show(&mut root, |ui| {
        ui.add_space(6.0);
        ui.label(egui::RichText::new("플레이어 / Players").size(20.0).strong());
        let me = session.my_id();
        let mut rows: Vec<TileRow> = round
            .info
            .players
            .iter()
            .map(|&id| {
                if Some(id) == me {
                    (id, format!("{} (나/me)", session.player_name(id)), totals.points, pose.skeleton.as_ref(), ACCENT, false)
                } else if let Some(local) = round.locals.iter().find(|l| l.player == id) {
                    let skeleton = seat_poses.0.get(usize::from(local.seat) - 1).and_then(Option::as_ref);
                    let [r, g, b] = seat_colour(local.seat);
                    let colour = egui::Color32::from_rgb(r, g, b);
                    (id, format!("{} (나/me)", session.player_name(id)), local.totals().points, skeleton, colour, false)
                } else {
                    let peer = board.peers.get(&id);
                    (
                        id,
                        session.player_name(id),
                        peer.map_or(0, |p| p.totals.points),
                        peer.and_then(|p| p.skeleton.as_ref()),
                        GOOD,
                        session.peer_reconnecting(id),
                    )
                }
            })
            .collect();
        rows.sort_by_key(|row| std::cmp::Reverse(row.2));
        for (id, name, points, skeleton, colour, reconnecting) in rows {
            let video = videos.get(&id).copied();
            egui::Frame::group(ui.style()).fill(PANEL).show(ui, |ui| {
                ui.horizontal(|ui| {
                    let size = if video.is_some() { egui::vec2(120.0, 90.0) } else { egui::vec2(72.0, 72.0) };
                    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                    ui.painter().rect_filled(rect, 4.0, egui::Color32::from_gray(18));
                    match (video, skeleton) {
                        (Some(video), _) => draw_video(ui.painter(), rect, video, settings.mirror),
                        (None, Some(s)) => draw_skeleton(ui.painter(), rect, FULL_VIEW, s, settings.mirror, colour, 2.0),
                        (None, None) => {
                            ui.painter().text(rect.center(), egui::Align2::CENTER_CENTER, "?", egui::FontId::proportional(24.0), MUTED);
                        }
                    }
                    ui.vertical(|ui| {
                        ui.label(egui::RichText::new(name).size(18.0));
                        ui.label(egui::RichText::new(format!("{points}")).size(24.0).color(ACCENT).strong());
                        if reconnecting {
                            ui.label(egui::RichText::new("⟳ 재연결 중… / reconnecting…").color(BAD));
                        }
                        if Some(id) != me {
                            let state = media.as_deref().and_then(|m| m.peers.get(&id).copied());
                            ui.horizontal_wrapped(|ui| media_badges(ui, state, speaking(sound.as_deref(), id)));
                        }
                    });
                });
            });
        }
    });

    egui::Panel::left("hud_target").exact_size(330.0).show(&mut root, |ui| {
        ui.add_space(6.0);
        match &round.play {
            Play::Rush(rush) => {
                ui.label(egui::RichText::new("목표 포즈 / Target pose").size(18.0).color(MUTED));
                if let Some(name) = &round.routine {
                    ui.label(egui::RichText::new(format!("루틴 / Routine: {name}")).color(ACCENT));
                }
                match rush.current_target() {
                    Some((index, target, deadline)) => {
                        pose_card(ui, target, index);
                        let left = (deadline - round.t_ms).max(0) as f32 / rush.target_time_ms().max(1) as f32;
                        ui.label("남은 시간 / Time left");
                        ui.add(egui::ProgressBar::new(left).desired_width(300.0).fill(if left < 0.3 { BAD } else { ACCENT }));
                        ui.label("일치도 / Match");
                        ui.add(egui::ProgressBar::new(rush.last_match_score()).desired_width(300.0).show_percentage());
                        ui.label("유지 / Hold");
                        ui.add(egui::ProgressBar::new(rush.hold_progress()).desired_width(300.0).fill(GOOD));
                    }
                    None => {
                        ui.label(egui::RichText::new("다음 포즈 준비! / Get ready!").size(22.0));
                    }
                }
            }
            Play::Quiz { round: quiz, deck } => {
                let number = quiz.current().map_or(String::new(), |i| format!(" {} / {}", i + 1, deck.questions.len()));
                ui.label(egui::RichText::new(format!("문제 / Question{number}")).size(18.0).color(MUTED));
                match quiz.current().and_then(|i| deck.questions.get(i)) {
                    Some(q) => {
                        ui.label(egui::RichText::new(&q.prompt).size(24.0).strong());
                        if let Some(left) = round.question_left_ms() {
                            let frac = left as f32 / (u32::from(q.time_secs) * 1000).max(1) as f32;
                            ui.add(
                                egui::ProgressBar::new(frac.clamp(0.0, 1.0))
                                    .desired_width(300.0)
                                    .fill(if frac < 0.3 { BAD } else { ACCENT }),
                            );
                        }
                        let slots = q.layout().slots();
                        for (choice, answer) in q.choices.iter().zip(slots) {
                            egui::Frame::group(ui.style()).fill(PANEL).show(ui, |ui| {
                                ui.set_width(290.0);
                                ui.label(egui::RichText::new(choice).size(20.0));
                                ui.label(egui::RichText::new(answer.label()).color(MUTED));
                            });
                        }
                        if q.layout() == AnswerLayout::TrueFalse {
                            ui.label(egui::RichText::new("O = 머리 위 동그라미, X = 팔 엇갈리기").color(MUTED));
                        }
                    }
                    None => {
                        ui.label(egui::RichText::new("다음 문제! / Next question!").size(22.0));
                    }
                }
            }
        }
    });

    egui::CentralPanel::default().show(&mut root, |ui| {
        let outer = ui.available_rect_before_wrap();
        let aspect = if picture.size.y > 0 { picture.size.x as f32 / picture.size.y as f32 } else { 4.0 / 3.0 };
        let rect = fit(outer, aspect);
        let painter = ui.painter_at(outer);
        painter.rect_filled(rect, 6.0, egui::Color32::from_gray(12));
        if let Some(tex) = texture {
            let uv = if settings.mirror {
                egui::Rect::from_min_max(egui::pos2(1.0, 0.0), egui::pos2(0.0, 1.0))
            } else {
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0))
            };
            painter.image(tex, rect, uv, egui::Color32::WHITE);
        } else {
            painter.text(rect.center_bottom() - egui::vec2(0.0, 24.0), egui::Align2::CENTER_CENTER,
                "카메라 화면 없음 / No camera picture", egui::FontId::proportional(18.0), MUTED);
        }
        // Couch play: every local seat in its colour, its name over its head.
        for local in &round.locals {
            let Some(s) = seat_poses.0.get(usize::from(local.seat) - 1).and_then(Option::as_ref) else { continue };
            let [r, g, b] = seat_colour(local.seat);
            let colour = egui::Color32::from_rgb(r, g, b);
            draw_skeleton(&painter, rect, FULL_VIEW, s, settings.mirror, colour, 4.0);
            let (x, top) = label_anchor(s, settings.mirror);
            let at = egui::pos2(rect.min.x + x * rect.width(), rect.min.y + ((top - 0.08) * rect.height() - 16.0).max(16.0));
            let flash = local.flash.as_ref().filter(|(_, _, t)| round.t_ms - t < FLASH_MS).map(|(_, p, _)| format!("  +{p}"));
            painter.text(at, egui::Align2::CENTER_CENTER, format!("{}{}", session.player_name(local.player), flash.unwrap_or_default()), egui::FontId::proportional(22.0), colour);
        }
        match &pose.skeleton {
            Some(s) => draw_skeleton(&painter, rect, FULL_VIEW, s, settings.mirror, ACCENT, 4.0),
            None if !round.locals.is_empty() => {}
            None => {
                painter.text(rect.center(), egui::Align2::CENTER_CENTER, "사람이 안 보여요 / Nobody in view",
                    egui::FontId::proportional(26.0), BAD);
            }
        }
        if round.t_ms < 0 {
            let n = (-round.t_ms + 999) / 1000;
            painter.text(rect.center(), egui::Align2::CENTER_CENTER, format!("{n}"),
                egui::FontId::proportional(160.0), ACCENT);
        }
        if let Some((text, points, at)) = &round.flash
            && round.t_ms - at < FLASH_MS
        {
            painter.text(rect.center_top() + egui::vec2(0.0, 60.0), egui::Align2::CENTER_CENTER,
                format!("+{points}  {text}"), egui::FontId::proportional(48.0), GOOD);
        }
    });
    Ok(())
}

/// A player's tile: id, name, points, skeleton, its colour, reconnecting.
type TileRow<'a> = (PeerId, String, u32, Option<&'a Skeleton>, egui::Color32, bool);

/// Where a name goes over a skeleton: above its head (x of the nose, the highest visible
/// landmark's y, normalised; `mirror` flips x like the picture).
pub(crate) fn label_anchor(s: &Skeleton, mirror: bool) -> (f32, f32) {
    let nose = s.get(shared::pose::Joint::Nose);
    let top = s.landmarks.iter().filter(|l| l.visibility >= 0.5).map(|l| l.y).fold(nose.y, f32::min);
    (if mirror { 1.0 - nose.x } else { nose.x }, top)
}

/// The streak multiplier of the player's next hit, percent.
fn round_multiplier(round: &Round) -> u32 {
    let streak = round.totals().streak;
    match &round.play {
        Play::Rush(r) => r.config().scoring.multiplier_pct(streak + 1),
        Play::Quiz { .. } => shared::rules::Scoring::default().multiplier_pct(streak + 1),
    }
}

/// The target card: the pose's name and a stick figure of it.
fn pose_card(ui: &mut egui::Ui, pose: PoseId, index: u32) {
    egui::Frame::group(ui.style()).fill(PANEL).corner_radius(10.0).inner_margin(10.0).show(ui, |ui| {
        ui.set_width(300.0);
        ui.label(egui::RichText::new(format!("#{}", index + 1)).color(MUTED));
        ui.label(egui::RichText::new(pose.name_ko()).size(34.0).strong().color(ACCENT));
        ui.label(egui::RichText::new(pose.name_en()).size(20.0));
        let (rect, _) = ui.allocate_exact_size(egui::vec2(300.0, 220.0), egui::Sense::hover());
        ui.painter().rect_filled(rect, 6.0, egui::Color32::from_gray(18));
        let icon = fit(rect, BODY_VIEW.width() / BODY_VIEW.height());
        // Shown as the player sees themselves in the mirrored picture.
        draw_skeleton(ui.painter(), icon, BODY_VIEW, &pose_skeleton(Some(pose)), true, GOOD, 4.0);
    });
}
