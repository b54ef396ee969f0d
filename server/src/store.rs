//! Match history in SQLite.
//!
//! The connection lives on one dedicated thread; async code sends it commands over a
//! channel and awaits the answer, so no blocking database work runs on the tokio workers.
//! [`Store::close`] drains the queue, closes the database (flushing the WAL) and joins the
//! thread.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, params};
use shared::protocol::signal::{GameMode, MatchReport, MatchStatus, MatchSummary, PeerId, ScoreLine};
use tokio::sync::oneshot;

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the history database {path}: {source} — check the --db path and its permissions")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create the folder {dir} for the history database: {source} — check --db")]
    CreateDir { dir: PathBuf, source: std::io::Error },
    #[error("history database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("history entry is corrupt: {0}")]
    Corrupt(String),
    #[error("the history database thread has stopped (server shutting down?)")]
    Stopped,
    #[error("cannot start the history database thread: {0}")]
    Thread(std::io::Error),
}

/// A finished round, ready to be written.
#[derive(Debug, Clone)]
pub struct NewMatch {
    pub room_code: String,
    pub mode: GameMode,
    pub started_at_ms: u64,
    pub round_seed: u64,
    pub agreed: bool,
    pub status: MatchStatus,
    /// The scoreboard kept as the result (the common one when `agreed`).
    pub scores: Vec<ScoreLine>,
    /// Every report received, by reporter.
    pub reports: Vec<(PeerId, MatchReport)>,
}

/// Most score lines read back per match (a room holds at most 255 players; rows written
/// before reports were checked may hold more).
pub const MAX_LINES_READ: u32 = 256;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    Record(Box<NewMatch>, Reply<i64>),
    History { name: Option<String>, before: Option<i64>, limit: u32, reply: Reply<Vec<MatchSummary>> },
    /// Finish the queued commands, then close the database.
    Close,
}

/// Handle to the history database thread. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    tx: mpsc::Sender<Command>,
}

/// Owns the database thread; closing it flushes and closes the database.
#[derive(Debug)]
pub struct StoreThread {
    handle: JoinHandle<()>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and starts its thread.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let conn = open_connection(path)?;
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("history-db".into())
            .spawn(move || run(conn, rx))
            .map_err(StoreError::Thread)?;
        Ok((Store { tx }, StoreThread { handle }))
    }

    /// Writes a match; returns its id.
    pub async fn record(&self, m: NewMatch) -> Result<i64, StoreError> {
        self.ask(|reply| Command::Record(Box::new(m), reply)).await
    }

    /// Recorded matches, newest first, with an id below `before` when given; only those
    /// `name` played in when given. At most [`MAX_LINES_READ`] score lines per match.
    pub async fn history(&self, name: Option<String>, before: Option<i64>, limit: u32) -> Result<Vec<MatchSummary>, StoreError> {
        self.ask(|reply| Command::History { name, before, limit, reply }).await
    }

    /// Asks the thread to close the database after the commands already queued; later
    /// requests fail with [`StoreError::Stopped`].
    pub fn close(&self) {
        let _ = self.tx.send(Command::Close);
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

impl StoreThread {
    /// Waits until every queued command is done and the database is closed. `store` handles
    /// still alive elsewhere keep the thread running, so drop them first.
    pub fn join(self) {
        if self.handle.join().is_err() {
            tracing::error!("history database thread panicked");
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists())
        && path.as_os_str() != ":memory:"
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { dir: dir.to_path_buf(), source })?;
    }
    let conn = Connection::open(path).map_err(open_err)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         CREATE TABLE IF NOT EXISTS matches (
             id            INTEGER PRIMARY KEY AUTOINCREMENT,
             room_code     TEXT    NOT NULL,
             mode          TEXT    NOT NULL,
             started_at_ms INTEGER NOT NULL,
             round_seed    INTEGER NOT NULL,
             agreed        INTEGER NOT NULL,
             recorded_at   INTEGER NOT NULL DEFAULT (unixepoch()),
             status        TEXT    NOT NULL DEFAULT 'unchecked'
         );
         CREATE TABLE IF NOT EXISTS match_scores (
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
         CREATE INDEX IF NOT EXISTS match_scores_name ON match_scores(name, match_id);
         CREATE TABLE IF NOT EXISTS match_reports (
             match_id INTEGER NOT NULL REFERENCES matches(id),
             reporter INTEGER NOT NULL,
             scores   TEXT    NOT NULL,
             PRIMARY KEY (match_id, reporter)
         );",
    )
    .map_err(open_err)?;
    // Databases written before results were checked lack the status column: their rows
    // are `unchecked`.
    let has_status = conn
        .prepare("SELECT 1 FROM pragma_table_info('matches') WHERE name = 'status'")
        .and_then(|mut st| st.exists([]))
        .map_err(open_err)?;
    if !has_status {
        conn.execute_batch("ALTER TABLE matches ADD COLUMN status TEXT NOT NULL DEFAULT 'unchecked'").map_err(open_err)?;
    }
    Ok(conn)
}

fn status_name(s: MatchStatus) -> &'static str {
    match s {
        MatchStatus::Verified => "verified",
        MatchStatus::SinglePlayer => "single_player",
        MatchStatus::Disagreed => "disagreed",
        MatchStatus::Incomplete => "incomplete",
        MatchStatus::Unchecked => "unchecked",
    }
}

fn parse_status(s: &str) -> MatchStatus {
    match s {
        "verified" => MatchStatus::Verified,
        "single_player" => MatchStatus::SinglePlayer,
        "disagreed" => MatchStatus::Disagreed,
        "incomplete" => MatchStatus::Incomplete,
        _ => MatchStatus::Unchecked,
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Command>) {
    for cmd in rx {
        match cmd {
            Command::Record(m, reply) => {
                let _ = reply.send(record(&mut conn, &m));
            }
            Command::History { name, before, limit, reply } => {
                let _ = reply.send(history(&conn, name.as_deref(), before, limit));
            }
            Command::Close => break,
        }
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the history database failed");
    }
    tracing::debug!("history database closed");
}

fn mode_name(mode: GameMode) -> &'static str {
    match mode {
        GameMode::PoseRush => "pose_rush",
        GameMode::MotionQuiz => "motion_quiz",
    }
}

fn parse_mode(s: &str) -> Result<GameMode, StoreError> {
    match s {
        "pose_rush" => Ok(GameMode::PoseRush),
        "motion_quiz" => Ok(GameMode::MotionQuiz),
        other => Err(StoreError::Corrupt(format!("unknown game mode {other:?}"))),
    }
}

fn to_i64(v: u64) -> i64 {
    // Seeds use the full u64 range; store the bit pattern.
    v as i64
}

fn record(conn: &mut Connection, m: &NewMatch) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO matches (room_code, mode, started_at_ms, round_seed, agreed, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![m.room_code, mode_name(m.mode), to_i64(m.started_at_ms), to_i64(m.round_seed), m.agreed, status_name(m.status)],
    )?;
    let id = tx.last_insert_rowid();
    {
        let mut ins = tx.prepare(
            "INSERT INTO match_scores (match_id, position, player, name, points, hits, best_streak, dropped)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for (pos, s) in m.scores.iter().enumerate() {
            ins.execute(params![id, pos as i64, s.player, s.name, s.points, s.hits, s.best_streak, s.dropped])?;
        }
        let mut rep = tx.prepare("INSERT INTO match_reports (match_id, reporter, scores) VALUES (?1, ?2, ?3)")?;
        for (reporter, report) in &m.reports {
            let json = serde_json::to_string(&report.scores).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            rep.execute(params![id, reporter, json])?;
        }
    }
    tx.commit()?;
    Ok(id)
}

fn history(conn: &Connection, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<MatchSummary>, StoreError> {
    let mut ids = conn.prepare_cached(
        "SELECT id, room_code, mode, started_at_ms, agreed, status FROM matches
         WHERE (?1 IS NULL OR id IN (SELECT match_id FROM match_scores WHERE name = ?1))
           AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = ids
        .query_map(params![name, limit, before], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut scores = conn.prepare_cached(
        "SELECT player, name, points, hits, best_streak, dropped FROM match_scores
         WHERE match_id = ?1 ORDER BY position LIMIT ?2",
    )?;
    rows.into_iter()
        .map(|(match_id, room_code, mode, started_at_ms, agreed, status)| {
            let status = parse_status(&status);
            let lines = scores
                .query_map(params![match_id, MAX_LINES_READ], |r| {
                    Ok(ScoreLine {
                        player: r.get(0)?,
                        name: r.get(1)?,
                        points: r.get(2)?,
                        hits: r.get(3)?,
                        best_streak: r.get(4)?,
                        dropped: r.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(MatchSummary {
                match_id,
                room_code,
                mode: parse_mode(&mode)?,
                started_at_ms: started_at_ms as u64,
                agreed: agreed && status.is_verified(),
                scores: lines,
                status,
            })
        })
        .collect()
}

/// Number of stored reports of a match.
#[cfg(test)]
fn report_count(conn: &Connection, match_id: i64) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension as _;
    Ok(conn
        .query_row("SELECT COUNT(*) FROM match_reports WHERE match_id = ?1", [match_id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(player: PeerId, name: &str, points: u32) -> ScoreLine {
        ScoreLine { player, name: name.into(), points, hits: points / 10, best_streak: 1, dropped: false }
    }

    #[test]
    fn record_and_read_back_filtered_by_name() -> Result<(), StoreError> {
        let mut conn = open_connection(Path::new(":memory:"))?;
        let scores = vec![line(1, "민수", 120), line(2, "Ada", 80)];
        let report = MatchReport { round_seed: u64::MAX, scores: scores.clone() };
        let m = NewMatch {
            room_code: "ACDEFG".into(),
            mode: GameMode::MotionQuiz,
            started_at_ms: 1_700_000_000_000,
            round_seed: u64::MAX,
            agreed: true,
            status: MatchStatus::Verified,
            scores: scores.clone(),
            reports: vec![(1, report.clone()), (2, report)],
        };
        let id = record(&mut conn, &m)?;
        record(&mut conn, &NewMatch { scores: vec![line(3, "Bob", 5)], reports: vec![], ..m.clone() })?;

        let mine = history(&conn, Some("민수"), None, 10)?;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].match_id, id);
        assert_eq!(mine[0].scores, scores);
        assert_eq!(mine[0].mode, GameMode::MotionQuiz);
        assert!(mine[0].agreed);
        assert_eq!(history(&conn, None, None, 10)?.len(), 2);
        assert_eq!(history(&conn, None, None, 1)?.len(), 1);
        assert_eq!(history(&conn, None, Some(id + 1), 10)?.len(), 1);
        assert_eq!(mine[0].status, MatchStatus::Verified);
        assert_eq!(report_count(&conn, id)?, Some(2));
        Ok(())
    }
}
