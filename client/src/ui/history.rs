//! History: this player's matches from the server.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use shared::protocol::signal::MatchStatus;

use super::{ACCENT, BAD, GOOD, MUTED, card, mode_label, screen};
use crate::state::Screen;
use crate::session::{MeshCommand, NetCommand, Session};

/// Matches asked for.
const HISTORY_LIMIT: u16 = 30;

pub(crate) fn request_history(mut session: ResMut<Session>, mut net: MessageWriter<NetCommand>) {
    if session.my_id().is_some() {
        session.history = None;
        session.history_next = None;
        net.write(MeshCommand::HistoryPage { before: None, limit: HISTORY_LIMIT }.into());
    }
}

/// How a recorded match is labelled: only a verified one is shown as a result everyone
/// confirmed.
pub(crate) fn status_label(status: MatchStatus) -> egui::RichText {
    let (text, color) = match status {
        MatchStatus::Verified => ("✔ 확인됨 — 모두 같은 결과 / verified — all agree", GOOD),
        MatchStatus::SinglePlayer => ("확인 안 됨 — 혼자 한 판 / unverified — played alone", MUTED),
        MatchStatus::Disagreed => ("확인 안 됨 — 결과 불일치 / unverified — reports differ", BAD),
        MatchStatus::Incomplete => ("확인 안 됨 — 기록 중 서버 종료 / unverified — cut short", BAD),
        MatchStatus::Unchecked => ("확인 안 됨 — 예전 기록 / unverified — older record", MUTED),
    };
    egui::RichText::new(text).color(color).small()
}

fn status_help(status: MatchStatus) -> &'static str {
    match status {
        MatchStatus::Verified => "Every player reported the same scoreboard.",
        MatchStatus::SinglePlayer => "Only one player: nobody could confirm the scores.",
        MatchStatus::Disagreed => "The players' reports differ; the scoreboard most of them gave is shown.",
        MatchStatus::Incomplete => "The server stopped before every report came in.",
        MatchStatus::Unchecked => "Recorded before results were checked.",
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time in ms.
pub(crate) fn utc_minute(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let (y, mo, d) = doctext::civil_from_days(days);
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
    let next_page = session.history_next;
    let mut refresh = false;
    let mut more = false;
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
                        ui.label(status_label(m.status)).on_hover_text(status_help(m.status));
                    });
                }
                if online && next_page.is_some() && ui.button("더 보기 / Older matches").clicked() {
                    more = true;
                }
            }
        }
    });
    if refresh {
        net.write(MeshCommand::HistoryPage { before: None, limit: HISTORY_LIMIT }.into());
    }
    if more {
        net.write(MeshCommand::HistoryPage { before: next_page, limit: HISTORY_LIMIT }.into());
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
