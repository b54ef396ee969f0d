//! The camera latency test screen: the whole window black, then white for each flash, with
//! the progress and, at the end, the player's number.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{ACCENT, MUTED, big_button, root_ui};
use crate::flash::{FlashConfig, FlashMeter};
use crate::state::Screen;

pub(crate) fn latency_screen(
    mut contexts: EguiContexts,
    mut meter: Option<ResMut<FlashMeter>>,
    mut next: ResMut<NextState<Screen>>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let flash = meter.as_ref().is_some_and(|m| m.flash_on());
    let fill = if flash { egui::Color32::WHITE } else { egui::Color32::BLACK };
    let mut root = root_ui(&ctx);
    egui::CentralPanel::default().frame(egui::Frame::new().fill(fill)).show(&mut root, |ui| {
        if flash {
            // Nothing but white while the camera looks.
            return;
        }
        ui.add_space(40.0);
        ui.vertical_centered(|ui| {
            ui.label(egui::RichText::new("카메라 지연 측정 / Camera latency test").size(30.0).color(ACCENT));
            ui.label(
                egui::RichText::new(
                    "카메라가 화면을 보게 해 주세요 — 화면이 깜빡이면 카메라가 그것을 볼 때까지의 시간을 잽니다.\n\
                     Point the camera at this window: it flashes, and the time until the camera sees it is measured.",
                )
                .color(MUTED),
            );
            ui.add_space(20.0);
            match meter.as_deref() {
                Some(m) if m.is_done() => match m.result() {
                    Some(r) => {
                        ui.label(
                            egui::RichText::new(format!("{:.0} ms", r.median.as_secs_f64() * 1000.0))
                                .size(64.0)
                                .strong()
                                .color(ACCENT),
                        );
                        ui.label(format!(
                            "중앙값 / median · 최소 / min {:.0} ms · 최대 / max {:.0} ms · {}회 측정 / seen{}",
                            r.min.as_secs_f64() * 1000.0,
                            r.max.as_secs_f64() * 1000.0,
                            r.seen,
                            if r.misses > 0 { format!(", {}회 놓침 / missed", r.misses) } else { String::new() }
                        ));
                    }
                    None => {
                        ui.label(
                            egui::RichText::new(
                                "카메라가 깜빡임을 보지 못했어요 — 카메라를 화면 쪽으로 돌리고 다시 해 보세요.\n\
                                 The camera never saw the flash — turn it towards the screen and try again.",
                            )
                            .size(20.0),
                        );
                    }
                },
                Some(m) => {
                    ui.spinner();
                    let rounds = FlashConfig::default().rounds;
                    ui.label(format!("{} / {rounds}", m.rounds_done()));
                    if let Some(luma) = m.last_luma {
                        ui.label(egui::RichText::new(format!("밝기 / brightness {luma:.0}")).color(MUTED));
                    } else {
                        ui.label(
                            egui::RichText::new("카메라 화면을 기다리는 중 / waiting for the camera").color(MUTED),
                        );
                    }
                }
                None => {}
            }
            ui.add_space(20.0);
            if meter.as_ref().is_some_and(|m| m.is_done())
                && big_button(ui, "다시 / Again").clicked()
                && let Some(m) = meter.as_deref_mut()
            {
                *m = FlashMeter::new(FlashConfig::default(), std::time::Instant::now());
            }
            if big_button(ui, "메뉴로 / Back to the menu").clicked() {
                next.set(Screen::Menu);
            }
        });
    });
    Ok(())
}
