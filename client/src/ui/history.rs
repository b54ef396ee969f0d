//! History: this player's matches from the server.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::{ACCENT, GOOD, MUTED, card, mode_label, screen};
use crate::state::Screen;
use crate::session::{MeshCommand, NetCommand, Session};

/// Matches asked for.
const HISTORY_LIMIT: u16 = 30;

pub(crate) fn request_history(session: Res<Session>, mut net: MessageWriter<NetCommand>) {
    if session.my_id().is_some() {
        net.write(MeshCommand::History { limit: HISTORY_LIMIT }.into());
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time in ms.
pub(crate) fn utc_minute(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
}

pub(crate) fn history_screen(
    mut contexts: EguiContexts,
    mut session: ResMut<Session>,
    mut net: MessageWriter<NetCommand>,
    mut next: ResMut<NextState<Screen>>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let history = session.history.clone();
    let online = session.my_id().is_some();
    let in_room = session.room.is_some();
    let mut refresh = false;
    let mut back = false;
    screen(&ctx, "지난 기록 / Match history", &mut session, |ui| {
        ui.horizontal(|ui| {
            if ui.button("◀ 뒤로 / Back").clicked() {
                back = true;
            }
            if online && ui.button("↻ 새로고침 / Refresh").clicked() {
                refresh = true;
            }
        });
        match &history {
            None if !online => {
                ui.label("서버에 연결하면 기록을 볼 수 있어요 / Connect to a server to see your history");
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("불러오는 중… / Loading…");
                });
            }
            Some(matches) if matches.is_empty() => {
                ui.label("아직 기록이 없어요 / No matches yet");
            }
            Some(matches) => {
                for m in matches {
                    card(ui, &format!("{} · {} · {}", utc_minute(m.started_at_ms), m.room_code, mode_label(m.mode)), |ui| {
                        for (rank, s) in m.scores.iter().enumerate() {
                            ui.horizontal(|ui| {
                                ui.label(format!("{}.", rank + 1));
                                ui.label(egui::RichText::new(&s.name).strong());
                                ui.label(egui::RichText::new(format!("{} 점/pts", s.points)).color(ACCENT));
                                ui.label(egui::RichText::new(format!("{} hits", s.hits)).color(MUTED));
                            });
                        }
                        if m.agreed {
                            ui.label(egui::RichText::new("✔ 모두 동의 / agreed").color(GOOD).small());
                        }
                    });
                }
            }
        }
    });
    if refresh {
        net.write(MeshCommand::History { limit: HISTORY_LIMIT }.into());
    }
    if back {
        next.set(if in_room { Screen::Lobby } else { Screen::Menu });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc_minute(0), "1970-01-01 00:00");
        assert_eq!(super::utc_minute(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(super::utc_minute(1_795_000_000_000), "2026-11-18 11:06");
    }
}
