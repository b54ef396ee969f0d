//! Match history shared by several server nodes: PostgreSQL (`--db postgres://…`), the
//! idempotent recording of a match on its natural key (room code + round seed) in both
//! backends, the SQLite migrations, and the errors when PostgreSQL is away.
//!
//! The PostgreSQL tests start a real server each (`common/postgres.rs`); they print a
//! SKIPPED line and pass when the PostgreSQL binaries are not installed.

mod common;
#[path = "common/postgres.rs"]
mod pg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pg::TestPostgres;
use server::Config;
use server::store::{NewMatch, Store, StoreError, StoreThread};
use shared::protocol::signal::{GameMode, MatchReport, MatchStatus, MatchSummary, ScoreLine};

/// Longer than any database step here may take; a test waiting this long has hung.
const HANG: Duration = Duration::from_secs(30);

async fn open(db: impl AsRef<Path>) -> Result<(Store, StoreThread), StoreError> {
    let db = db.as_ref().to_path_buf();
    match tokio::time::timeout(HANG, tokio::task::spawn_blocking(move || Store::open(&db))).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => panic!("Store::open panicked: {e}"),
        Err(_) => panic!("Store::open hung"),
    }
}

async fn opened(db: impl AsRef<Path>) -> (Store, StoreThread) {
    let shown = db.as_ref().display().to_string();
    open(db).await.unwrap_or_else(|e| panic!("opening {shown}: {e}"))
}

async fn close(store: Store, thread: StoreThread) {
    store.close();
    drop(store);
    if tokio::time::timeout(HANG, tokio::task::spawn_blocking(move || thread.join())).await.is_err() {
        panic!("closing the store hung");
    }
}

async fn record(store: &Store, m: NewMatch) -> i64 {
    match tokio::time::timeout(HANG, store.record(m)).await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => panic!("record: {e}"),
        Err(_) => panic!("record hung"),
    }
}

async fn history(store: &Store, name: Option<&str>, before: Option<i64>, limit: u32) -> Vec<MatchSummary> {
    match tokio::time::timeout(HANG, store.history(name.map(str::to_owned), before, limit)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => panic!("history: {e}"),
        Err(_) => panic!("history hung"),
    }
}

const NAMES: [&str; 5] = ["Ana", "민수", "Bob", "Zoë", "D'Artagnan"];

/// The `i`th of a set of varied matches: rooms shared between matches, several players,
/// every mode and status, extreme numbers.
fn game(i: u64) -> NewMatch {
    let players = 1 + (i % 4) as usize;
    let scores: Vec<ScoreLine> = (0..players)
        .map(|p| {
            let k = (i as usize + p) % NAMES.len();
            ScoreLine {
                player: 10 * i as u32 + p as u32,
                name: NAMES[k].to_owned(),
                points: if i == 5 && p == 0 { u32::MAX } else { 100 * (players - p) as u32 },
                hits: (players - p) as u32,
                best_streak: p as u32,
                dropped: p == 2,
            }
        })
        .collect();
    let status =
        [MatchStatus::Verified, MatchStatus::SinglePlayer, MatchStatus::Disagreed, MatchStatus::Incomplete, MatchStatus::Unchecked]
            [(i % 5) as usize];
    NewMatch {
        room_code: ["ACDEFG", "HJKMNP", "QRSTUV"][(i % 3) as usize].to_owned(),
        mode: if i.is_multiple_of(2) { GameMode::PoseRush } else { GameMode::MotionQuiz },
        started_at_ms: 1_700_000_000_000 + i * 61_000,
        round_seed: if i == 4 { u64::MAX } else { 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1) },
        agreed: status == MatchStatus::Verified,
        status,
        reports: scores.iter().map(|s| (s.player, MatchReport { round_seed: i, scores: scores.clone() })).collect(),
        scores,
    }
}

/// Every page of a history read `limit` at a time, following `before`.
async fn pages(store: &Store, name: Option<&str>, limit: u32) -> Vec<Vec<MatchSummary>> {
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = history(store, name, before, limit).await;
        let Some(last) = page.last() else { break };
        before = Some(last.match_id);
        pages.push(page);
    }
    pages
}

#[tokio::test]
async fn cluster_postgres_history_round_trip() {
    let Some(pg) = TestPostgres::start("cluster_postgres_history_round_trip") else { return };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (postgres, pg_thread) = opened(pg.url()).await;
    let (sqlite, sqlite_thread) = opened(dir.path().join("history.sqlite3")).await;

    let games: Vec<NewMatch> = (0..12).map(game).collect();
    let mut ids = Vec::new();
    for m in &games {
        let id = record(&postgres, m.clone()).await;
        assert_eq!(record(&sqlite, m.clone()).await, id, "both backends number matches alike");
        ids.push(id);
    }
    // The same rounds again, with other scores: stored once, the first id back.
    for i in [3, 7, 11] {
        let again = NewMatch { scores: vec![], reports: vec![], ..games[i].clone() };
        assert_eq!(record(&postgres, again.clone()).await, ids[i]);
        assert_eq!(record(&sqlite, again).await, ids[i]);
    }

    let all = history(&postgres, None, None, 100).await;
    assert_eq!(all.len(), games.len());
    assert_eq!(all, history(&sqlite, None, None, 100).await);
    // Newest first, exactly what was recorded.
    for (summary, (m, id)) in all.iter().rev().zip(games.iter().zip(&ids)) {
        assert_eq!(summary.match_id, *id);
        assert_eq!(summary.room_code, m.room_code);
        assert_eq!(summary.mode, m.mode);
        assert_eq!(summary.started_at_ms, m.started_at_ms);
        assert_eq!(summary.status, m.status);
        assert_eq!(summary.agreed, m.agreed);
        assert_eq!(summary.scores, m.scores);
    }
    for name in NAMES {
        let mine = history(&postgres, Some(name), None, 100).await;
        assert!(!mine.is_empty(), "{name} played");
        assert!(mine.iter().all(|m| m.scores.iter().any(|s| s.name == name)));
        assert_eq!(mine, history(&sqlite, Some(name), None, 100).await, "history of {name}");
        let paged = pages(&postgres, Some(name), 2).await;
        assert_eq!(paged, pages(&sqlite, Some(name), 2).await, "pages of {name}");
        assert_eq!(paged.concat(), mine);
    }
    let paged = pages(&postgres, None, 5).await;
    assert_eq!(paged.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 2]);
    assert_eq!(paged, pages(&sqlite, None, 5).await);
    assert_eq!(paged.concat(), all);
    assert!(history(&postgres, Some("Nobody"), None, 10).await.is_empty());

    close(postgres, pg_thread).await;
    close(sqlite, sqlite_thread).await;
    // Reopened (migrations already applied), the history is the same.
    let (postgres, pg_thread) = opened(pg.url()).await;
    assert_eq!(history(&postgres, None, None, 100).await, all);
    close(postgres, pg_thread).await;
}

/// Two nodes record the same rounds at the same time, each with its own view of the
/// scores: every round is stored once, whole, and both nodes get its id.
async fn same_match_from_two_nodes(db: &str) {
    let (a, a_thread) = opened(db).await;
    let (b, b_thread) = opened(db).await;
    const ROUNDS: u64 = 8;
    let mut ids = Vec::new();
    for i in 0..ROUNDS {
        let m = game(i);
        // Node b saw the round end a little differently; whichever writes first wins.
        let mut seen_by_b = m.clone();
        seen_by_b.scores.iter_mut().for_each(|s| s.hits += 1);
        let (node_a, node_b) = (a.clone(), b.clone());
        let ta = tokio::spawn(async move { record(&node_a, m).await });
        let tb = tokio::spawn(async move { record(&node_b, seen_by_b).await });
        let (ida, idb) = match (ta.await, tb.await) {
            (Ok(ida), Ok(idb)) => (ida, idb),
            other => panic!("a recording task failed: {other:?}"),
        };
        assert_eq!(ida, idb, "round {i}: both nodes get the same id");
        // A late third report of the same round changes nothing.
        assert_eq!(record(&a, game(i)).await, ida);
        ids.push(ida);
    }
    let all = history(&a, None, None, 100).await;
    assert_eq!(all.len() as u64, ROUNDS, "one row per round");
    assert_eq!(all, history(&b, None, None, 100).await);
    for (i, summary) in all.iter().rev().enumerate() {
        assert_eq!(summary.match_id, ids[i]);
        let m = game(i as u64);
        let b_scores: Vec<ScoreLine> = m.scores.iter().map(|s| ScoreLine { hits: s.hits + 1, ..s.clone() }).collect();
        assert!(summary.scores == m.scores || summary.scores == b_scores, "round {i}: one node's scores, whole");
    }
    close(a, a_thread).await;
    close(b, b_thread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_postgres_same_match_from_two_nodes_is_stored_once() {
    let Some(pg) = TestPostgres::start("cluster_postgres_same_match_from_two_nodes_is_stored_once") else { return };
    same_match_from_two_nodes(&pg.url()).await;
    // Counted in the tables themselves: no stray score lines or reports either.
    let url = pg.url();
    let counts = tokio::task::spawn_blocking(move || -> Result<Vec<i64>, postgres::Error> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        ["matches", "match_scores", "match_reports"]
            .iter()
            .map(|t| client.query_one(&format!("SELECT count(*) FROM {t}"), &[])?.try_get(0))
            .collect()
    })
    .await;
    let expected_lines: i64 = (0..8).map(|i| game(i).scores.len() as i64).sum();
    match counts {
        Ok(Ok(c)) => assert_eq!(c, [8, expected_lines, expected_lines]),
        other => panic!("counting rows: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_sqlite_same_match_is_stored_once() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = dir.path().join("history.sqlite3");
    let Some(db_str) = db.to_str() else { panic!("temp path is not UTF-8") };
    same_match_from_two_nodes(db_str).await;
    // And after a restart.
    let (store, thread) = opened(&db).await;
    let first = history(&store, None, None, 100).await;
    assert_eq!(record(&store, game(0)).await, first.last().map_or(-1, |m| m.match_id));
    assert_eq!(history(&store, None, None, 100).await, first);
    close(store, thread).await;
}

#[tokio::test]
async fn cluster_postgres_down_gives_a_clear_error() {
    // Nothing listens: refused at open, quickly, without the password in the message.
    let port = pg::free_port();
    let t = Instant::now();
    let err = match open(format!("postgres://poseparty:s3cret@127.0.0.1:{port}/history")).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a database where nothing listens"),
    };
    println!("nothing listening: {err} ({:?})", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    assert!(err.contains("cannot connect to the history database"), "{err}");
    assert!(err.contains(&format!("poseparty:***@127.0.0.1:{port}/history")), "{err}");
    assert!(!err.contains("s3cret"), "the password leaked: {err}");

    // Not a URL the client understands.
    let err = match open("postgres://poseparty:s3cret@127.0.0.1:notaport/history").await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a bad URL"),
    };
    println!("bad URL: {err}");
    assert!(err.contains("is not a usable PostgreSQL URL"), "{err}");
    assert!(!err.contains("s3cret"), "the password leaked: {err}");

    // The server (spawn) says the same.
    let config = Config { db: PathBuf::from(format!("postgres://poseparty:s3cret@127.0.0.1:{port}/history")), ..common::config() };
    match server::spawn(config).await {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("cannot connect to the history database") && !e.contains("s3cret"), "{e}");
        }
        Ok(s) => {
            s.shutdown().await;
            panic!("the server started without its database");
        }
    }

    let Some(mut pg) = TestPostgres::start("cluster_postgres_down_gives_a_clear_error") else { return };
    // A database that does not exist.
    let missing = format!("postgres://postgres@127.0.0.1:{}/nope", pg.port());
    match open(&missing).await {
        Err(e) => {
            println!("missing database: {e}");
            assert!(e.to_string().contains("\"nope\" does not exist"), "{e}");
        }
        Ok(_) => panic!("opened a database that does not exist"),
    }

    // PostgreSQL stops while the server runs: recording fails, promptly, and keeps
    // failing (reconnecting is refused) until it is back; then it works again.
    let (store, thread) = opened(pg.url()).await;
    record(&store, game(0)).await;
    pg.stop();
    for attempt in 0..2 {
        let t = Instant::now();
        match tokio::time::timeout(Duration::from_secs(20), store.record(game(1))).await {
            Ok(Err(e)) => println!("record after the stop (attempt {attempt}): {e} ({:?})", t.elapsed()),
            Ok(Ok(id)) => panic!("recorded match {id} with the database stopped"),
            Err(_) => panic!("record hung with the database stopped"),
        }
        assert!(t.elapsed() < Duration::from_secs(8), "took {:?}", t.elapsed());
    }
    match tokio::time::timeout(Duration::from_secs(20), store.history(None, None, 10)).await {
        Ok(Err(e)) => println!("history after the stop: {e}"),
        Ok(Ok(_)) => panic!("read history with the database stopped"),
        Err(_) => panic!("history hung with the database stopped"),
    }
    // Back up: the next request connects again and works.
    pg.restart();
    let id = record(&store, game(1)).await;
    assert_eq!(history(&store, None, None, 10).await.first().map(|m| m.match_id), Some(id));
    close(store, thread).await;
}

/// A server that accepts TCP connections but never answers: open gives up after
/// `OPEN_TIMEOUT` instead of waiting forever.
#[tokio::test]
async fn cluster_postgres_silent_server_times_out_at_open() {
    let listener = match std::net::TcpListener::bind(("127.0.0.1", 0)) {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("local_addr: {e}"));
    let t = Instant::now();
    match open(format!("postgres://poseparty@127.0.0.1:{port}/history")).await {
        Err(e @ StoreError::OpenTimeout { .. }) => println!("silent server: {e} ({:?})", t.elapsed()),
        Err(e) => panic!("expected a timeout, got: {e}"),
        Ok(_) => panic!("opened a silent server"),
    }
    assert!(t.elapsed() < server::store::OPEN_TIMEOUT + Duration::from_secs(3), "took {:?}", t.elapsed());
    drop(listener);
}

/// The schema as written before versioning and before the `status` column (the first
/// server), holding two copies of one round as such a server could write.
const OLD_SCHEMA: &str = "
    CREATE TABLE matches (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        room_code     TEXT    NOT NULL,
        mode          TEXT    NOT NULL,
        started_at_ms INTEGER NOT NULL,
        round_seed    INTEGER NOT NULL,
        agreed        INTEGER NOT NULL,
        recorded_at   INTEGER NOT NULL DEFAULT (unixepoch())
    );
    CREATE TABLE match_scores (
        match_id    INTEGER NOT NULL REFERENCES matches(id),
        position    INTEGER NOT NULL,
        player      INTEGER NOT NULL,
        name        TEXT    NOT NULL,
        points      INTEGER NOT NULL,
        hits        INTEGER NOT NULL,
        best_streak INTEGER NOT NULL,
        dropped     INTEGER NOT NULL,
        PRIMARY KEY (match_id, position)
    );
    CREATE INDEX match_scores_name ON match_scores(name, match_id);
    CREATE TABLE match_reports (
        match_id INTEGER NOT NULL REFERENCES matches(id),
        reporter INTEGER NOT NULL,
        scores   TEXT    NOT NULL,
        PRIMARY KEY (match_id, reporter)
    );
    INSERT INTO matches (room_code, mode, started_at_ms, round_seed, agreed) VALUES
        ('ACDEFG', 'pose_rush',   1700000000000, 42, 1),
        ('HJKMNP', 'motion_quiz', 1700000100000, -1, 0),
        ('ACDEFG', 'pose_rush',   1700000000000, 42, 1);
    INSERT INTO match_scores VALUES
        (1, 0, 1, 'Ana', 300, 3, 2, 0),
        (1, 1, 2, 'Bob', 100, 1, 1, 0),
        (2, 0, 7, 'Ana', 50, 1, 1, 1),
        (3, 0, 1, 'Ana', 300, 3, 2, 0);
    INSERT INTO match_reports VALUES (1, 1, '[]'), (1, 2, '[]');
";

#[tokio::test]
async fn cluster_sqlite_old_database_is_migrated_and_keeps_its_history() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let db = dir.path().join("old.sqlite3");
    let written = rusqlite::Connection::open(&db).and_then(|c| c.execute_batch(OLD_SCHEMA));
    if let Err(e) = written {
        panic!("writing the old database: {e}");
    }

    let (store, thread) = opened(&db).await;
    let all = history(&store, None, None, 100).await;
    assert_eq!(all.iter().map(|m| m.match_id).collect::<Vec<_>>(), [3, 2, 1], "every old row is kept");
    let ana = |points, hits, best_streak, dropped, player| ScoreLine { player, name: "Ana".into(), points, hits, best_streak, dropped };
    assert_eq!(all[1].scores, [ana(50, 1, 1, true, 7)]);
    assert_eq!(all[1].mode, GameMode::MotionQuiz);
    assert_eq!(all[1].status, MatchStatus::Unchecked, "rows from before the status column are unchecked");
    assert!(!all[2].agreed, "an unchecked match is not shown as agreed");
    assert_eq!(all[2].scores.len(), 2);
    assert_eq!(history(&store, Some("Bob"), None, 10).await.len(), 1);

    // The natural key holds for old rows: the round stored twice before is found (its
    // first copy), nothing new is written.
    let old_round = NewMatch {
        room_code: "ACDEFG".into(),
        mode: GameMode::PoseRush,
        started_at_ms: 1_700_000_000_000,
        round_seed: 42,
        agreed: false,
        status: MatchStatus::Incomplete,
        scores: vec![],
        reports: vec![],
    };
    assert_eq!(record(&store, old_round.clone()).await, 1);
    let seed_minus_one = NewMatch { room_code: "HJKMNP".into(), round_seed: u64::MAX, ..old_round.clone() };
    assert_eq!(record(&store, seed_minus_one).await, 2, "seeds are stored as their bit pattern");
    let new_id = record(&store, NewMatch { round_seed: 43, ..old_round }).await;
    assert_eq!(new_id, 4);
    assert_eq!(history(&store, None, None, 100).await.len(), 4);
    close(store, thread).await;

    let version =
        rusqlite::Connection::open(&db).and_then(|c| c.query_row("SELECT version FROM schema_version", [], |r| r.get::<_, i64>(0)));
    match version {
        Ok(v) => assert_eq!(v, 2),
        Err(e) => panic!("reading the schema version: {e}"),
    }
    // Opening again applies nothing and reads the same.
    let (store, thread) = opened(&db).await;
    assert_eq!(history(&store, None, None, 100).await.len(), 4);
    close(store, thread).await;
}

/// The whole server on PostgreSQL: it starts, serves `/history`, shuts down.
#[tokio::test]
async fn cluster_server_runs_on_postgres() {
    let Some(pg) = TestPostgres::start("cluster_server_runs_on_postgres") else { return };
    let config = Config { db: PathBuf::from(pg.url()), http_history: server::config::HttpHistory::Open, ..common::config() };
    let server = common::start(config).await;
    let (status, body) = common::http_get(&server, "/history").await;
    assert_eq!((status, body.trim()), (200, "[]"));
    server.shutdown().await;
}
