//! Menu: name, server, create / join by code / quick match, settings.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};
use shared::protocol::signal::{MAX_NAME_CHARS, ROOM_CODE_LEN};

use super::{BAD, MUTED, big_button, camera_problem, card, mic_meter, screen, sound_problem};
use crate::camera::CameraStatus;
use crate::voice::{Devices, Sound};
use crate::state::ModelChoice;
use crate::flow::MenuAction;
use crate::state::Screen;
use crate::session::{Connection, Session};
use crate::settings::{SaveSettings, Settings, couch_names};

/// The menu's text fields between frames.
#[derive(Debug, Default, Resource)]
pub(crate) struct MenuForm {
    code: String,
    /// Editable copy of the settings (written back when changed).
    draft: Option<Settings>,
    /// The couch names as typed (comma-separated).
    couch: Option<String>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn menu_screen(
    mut contexts: EguiContexts,
    mut form: ResMut<MenuForm>,
    mut session: ResMut<Session>,
    mut settings: ResMut<Settings>,
    mut save: MessageWriter<SaveSettings>,
    mut actions: MessageWriter<MenuAction>,
    mut next: ResMut<NextState<Screen>>,
    camera: Option<Res<CameraStatus>>,
    (mut devices, sound): (Local<Option<Devices>>, Option<Res<Sound>>),
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let found = devices.get_or_insert_with(Devices::scan);
    let mut rescan = false;
    let form = &mut *form;
    let draft = form.draft.get_or_insert_with(|| settings.clone());
    let busy = session.connection == Connection::Connecting;
    let mut action = None;
    screen(&ctx, "메뉴 / Menu", &mut session, |ui| {
        ui.columns(2, |cols| {
            card(&mut cols[0], "플레이 / Play", |ui| {
                ui.label("이름 / Name");
                ui.add(
                    egui::TextEdit::singleline(&mut draft.name)
                        .char_limit(MAX_NAME_CHARS)
                        .hint_text("예: 민수")
                        .desired_width(300.0),
                );
                ui.label("서버 / Server");
                ui.add(egui::TextEdit::singleline(&mut draft.server).desired_width(300.0));
                ui.add_space(8.0);
                ui.add_enabled_ui(!busy, |ui| {
                    if big_button(ui, "방 만들기 / Create room").clicked() {
                        action = Some(MenuAction::Create);
                    }
                    if big_button(ui, "빠른 매칭 / Quick match").clicked() {
                        action = Some(MenuAction::Quick);
                    }
                    ui.horizontal(|ui| {
                        ui.add(
                            egui::TextEdit::singleline(&mut form.code)
                                .char_limit(ROOM_CODE_LEN)
                                .hint_text("방 코드 / Code")
                                .font(egui::TextStyle::Monospace)
                                .desired_width(190.0),
                        );
                        let valid = form.code.trim().chars().count() == ROOM_CODE_LEN;
                        if ui.add_enabled(valid, egui::Button::new("참가 / Join")).clicked() {
                            action = Some(MenuAction::Join(form.code.clone()));
                        }
                    });
                });
                if busy {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("서버에 연결 중… / Connecting…");
                    });
                }
                ui.add_space(8.0);
                ui.horizontal(|ui| {
                    if ui.button("지난 기록 / Match history").clicked() {
                        next.set(Screen::History);
                    }
                    if ui.button("📷 카메라 지연 측정 / Camera latency test").clicked() {
                        next.set(Screen::LatencyTest);
                    }
                });
            });
            card(&mut cols[1], "설정 / Settings", |ui| {
                ui.horizontal(|ui| {
                    ui.label("카메라 / Camera");
                    if ui.small_button("🔄 다시 찾기 / Refresh").clicked() {
                        rescan = true;
                    }
                });
                camera_choice(ui, &mut draft.camera, found);
                camera_problem(ui, camera.as_deref());
                ui.collapsing("다른 입력 / Other source", |ui| {
                    ui.add(egui::TextEdit::singleline(&mut draft.camera).desired_width(300.0));
                    ui.label(egui::RichText::new("webcam, webcam:1, frames:폴더@15, synthetic").color(MUTED).small());
                });
                ui.label("마이크 / Microphone");
                ui.horizontal(|ui| {
                    device_choice(ui, "microphone", &mut draft.microphone, &found.microphones);
                    mic_meter(ui, sound.as_deref());
                });
                ui.label("스피커 / Speaker");
                device_choice(ui, "speaker", &mut draft.speaker, &found.speakers);
                sound_problem(ui, sound.as_deref());
                ui.label("포즈 모델 / Pose model");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut draft.model, ModelChoice::Lite, "라이트 / Lite (빠름)");
                    ui.radio_value(&mut draft.model, ModelChoice::Full, "풀 / Full (정확)");
                });
                ui.label("음량 / Volume");
                ui.add(egui::Slider::new(&mut draft.volume, 0.0..=1.0).show_value(true));
                ui.checkbox(&mut draft.mirror, "거울 모드 / Mirror the picture");
                ui.add_space(6.0);
                ui.label("같은 카메라로 같이 하는 사람 / Also playing on this camera");
                let typed = form.couch.get_or_insert_with(|| draft.couch.join(", "));
                if ui
                    .add(egui::TextEdit::singleline(typed).hint_text("예: 지연, 하준 (최대 3명 / up to 3)").desired_width(300.0))
                    .changed()
                {
                    draft.couch = couch_names(typed.split(','));
                }
                let seats = 1 + draft.couch.len();
                ui.label(
                    egui::RichText::new(if seats > 1 {
                        format!("{seats}명이 한 카메라로 / {seats} players on one camera — each gets a seat and a score")
                    } else {
                        "혼자 / only you".to_owned()
                    })
                    .color(MUTED)
                    .small(),
                );
            });
        });
    });
    if rescan {
        *devices = Some(Devices::scan());
    }
    if *draft != *settings {
        *settings = draft.clone();
        save.write(SaveSettings);
    }
    if let Some(action) = action {
        actions.write(action);
    }
    Ok(())
}

/// The camera list: the first webcam, each webcam found, the test picture; another typed
/// source stays selected as itself.
fn camera_choice(ui: &mut egui::Ui, camera: &mut String, found: &Devices) {
    let mut options: Vec<(String, String)> = vec![("webcam".to_owned(), "첫 번째 웹캠 / First webcam".to_owned())];
    options.extend(found.cameras.iter().map(|c| (format!("webcam:{}", c.index), format!("{} ({})", c.name, c.index))));
    options.push(("synthetic".to_owned(), "테스트 화면 / Test picture".to_owned()));
    let current = options.iter().find(|(v, _)| v == camera).map_or_else(|| camera.clone(), |(_, l)| l.clone());
    egui::ComboBox::from_id_salt("camera").width(300.0).selected_text(current).show_ui(ui, |ui| {
        for (value, label) in &options {
            ui.selectable_value(camera, value.clone(), label);
        }
    });
    if let Some(e) = &found.camera_error {
        ui.label(egui::RichText::new(format!("카메라 목록을 읽을 수 없어요 / Cameras could not be listed: {e}")).color(BAD).small());
    } else if found.cameras.is_empty() {
        ui.label(egui::RichText::new("카메라를 찾지 못했어요 / No camera found — plug one in and refresh").color(BAD).small());
    }
}

/// A sound device list: the system default and each device found. A saved device that is
/// not connected now stays listed, marked.
fn device_choice(ui: &mut egui::Ui, id: &str, chosen: &mut Option<String>, found: &[String]) {
    let label = |d: &Option<String>| match d {
        None => "기본 장치 / System default".to_owned(),
        Some(n) if found.contains(n) => n.clone(),
        Some(n) => format!("{n} (연결 안 됨 / not connected)"),
    };
    egui::ComboBox::from_id_salt(id).width(300.0).selected_text(label(chosen)).show_ui(ui, |ui| {
        ui.selectable_value(chosen, None, label(&None));
        for name in found {
            ui.selectable_value(chosen, Some(name.clone()), name);
        }
    });
    if found.is_empty() {
        ui.label(egui::RichText::new("장치를 찾지 못했어요 / None found").color(BAD).small());
    }
}
