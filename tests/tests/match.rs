//! End to end: a real server on 127.0.0.1 and three headless bot clients in one room.
//!
//! The bots use scripted skeletons (`script:hit` / `script:miss`), not the pose model, so
//! the outcome of each player is known in advance.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bevy::prelude::{App, State};
use client::bot::{BotPlugin, headless_bot_app};
use client::cli::SourceSpec;
use client::flow::Screen;
use client::game::FinalBoard;
use client::session::Session;
use mesh::harness::wait_for;
use mesh::{Command, Config, Event, Mesh};
use shared::protocol::signal::MatchReport;

const PLAYERS: [(&str, &str); 3] = [("hitter-a", "hit"), ("hitter-b", "hit"), ("idler", "miss")];

fn temp_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("poseparty-e2e-{tag}-{}", std::process::id()))
}

fn bots(url: &str, dir: &std::path::Path) -> Vec<App> {
    PLAYERS
        .iter()
        .map(|(name, script)| {
            headless_bot_app(
                url,
                name,
                SourceSpec::Script((*script).into()),
                &dir.join(name),
                BotPlugin { min_players: PLAYERS.len(), round_secs: Some(10), results_timeout_s: 10.0 },
            )
        })
        .collect()
}

/// Steps every app until all have exited (or `kill` says to drop one), with a deadline.
fn run(apps: &mut Vec<Option<App>>, mut kill: impl FnMut(usize, &App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut running = 0;
        for (i, slot) in apps.iter_mut().enumerate() {
            let Some(app) = slot else { continue };
            if app.should_exit().is_some() {
                continue;
            }
            if kill(i, app) {
                *slot = None;
                continue;
            }
            app.update();
            running += 1;
        }
        if running == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(15));
        assert!(Instant::now() < deadline, "the bots did not finish in time");
    }
}

fn report(app: &App) -> MatchReport {
    app.world().resource::<FinalBoard>().report.clone().expect("a final scoreboard")
}

#[test]
fn three_bots_play_a_match_and_agree() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(server::spawn(server::Config::ephemeral())).unwrap();
    let url = server.ws_url();
    let dir = temp_dir("match");
    let mut apps: Vec<_> = bots(&url, &dir).into_iter().map(Some).collect();
    run(&mut apps, |_, _| false);

    let reports: Vec<MatchReport> = apps.iter().flatten().map(report).collect();
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| *r == reports[0]), "the bots disagree: {reports:#?}");
    let board = &reports[0];
    assert_eq!(board.scores.len(), 3);
    for line in &board.scores {
        assert!(!line.dropped, "{board:?}");
        if line.name == "idler" {
            assert_eq!(line.hits, 0, "{board:?}");
        } else {
            assert!(line.hits > 0, "{board:?}");
        }
    }
    for app in apps.iter().flatten() {
        assert_eq!(app.world().resource::<Session>().recorded.map(|(_, agreed)| agreed), Some(true));
    }

    // The server's history has the match, as any of its players sees it.
    let history = rt.block_on(async {
        let mut m = Mesh::start_on(rt.handle(), Config::new(url.clone(), "idler")).unwrap();
        wait_for(&mut m, Duration::from_secs(10), "Welcome", |e| matches!(e, Event::Welcome { .. }).then_some(()))
            .await
            .unwrap();
        m.send(Command::History { limit: 10 });
        wait_for(&mut m, Duration::from_secs(10), "History", |e| match e {
            Event::History(h) => Some(h.clone()),
            _ => None,
        })
        .await
        .unwrap()
    });
    assert!(
        history.iter().any(|m| m.agreed && m.scores == board.scores),
        "history lacks the match: {history:#?}"
    );
    drop(apps);
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_player_killed_mid_round_is_marked_dropped() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(server::spawn(server::Config::ephemeral())).unwrap();
    let url = server.ws_url();
    let dir = temp_dir("drop");
    let mut apps: Vec<_> = bots(&url, &dir).into_iter().map(Some).collect();
    let mut game_frames = 0;
    // Kill "hitter-b" (index 1) a little while into the round.
    run(&mut apps, |i, app| {
        if i != 1 {
            return false;
        }
        if *app.world().resource::<State<Screen>>().get() == Screen::Game {
            game_frames += 1;
        }
        game_frames > 100
    });
    assert!(apps[1].is_none(), "hitter-b was never killed");
    let survivors: Vec<MatchReport> = apps.iter().flatten().map(report).collect();
    assert_eq!(survivors.len(), 2);
    assert_eq!(survivors[0], survivors[1], "the survivors disagree");
    let killed = survivors[0].scores.iter().find(|l| l.name == "hitter-b").expect("hitter-b on the board");
    assert!(killed.dropped, "{:?}", survivors[0]);
    assert!(survivors[0].scores.iter().filter(|l| l.name != "hitter-b").all(|l| !l.dropped));
    drop(apps);
    rt.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(dir);
}
