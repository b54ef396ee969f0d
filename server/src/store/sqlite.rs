//! The SQLite backend: a file (or `:memory:`) opened with `rusqlite`.
//!
//! Migrations (table `schema_version`, one row; a database from before versioning counts
//! as version 0):
//! 1. The tables `matches`, `match_scores` (index on `name`), `match_reports`, created only
//!    where missing, and the `matches.status` column added where missing (databases
//!    written before results were checked; their rows read as `unchecked`).
//! 2. The natural key: a UNIQUE index on `matches (room_code, round_seed, legacy_copy)`.
//!    Every version of the schema stored the round seed (NOT NULL), so no row lacks one;
//!    but an older server could store the same round twice. The new column `legacy_copy`
//!    is 0 for every row except such older extra copies, which get their own id there:
//!    they are kept (history still lists them) and stay out of the key, while every new
//!    row (`legacy_copy` = 0) is unique on room code and seed.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, Transaction, TransactionBehavior, params};

use super::{Backend, Encoded, LineRow, Row, StoreError, pending};

/// How long a write waits for another connection's write to finish (two servers on one
/// file, or a backup tool).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

/// Migration `n` is at index `n - 1`.
const MIGRATIONS: &[Migration] = &[tables, natural_key];

fn tables(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS matches (
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
    )?;
    let has_status = tx.prepare("SELECT 1 FROM pragma_table_info('matches') WHERE name = 'status'")?.exists([])?;
    if !has_status {
        tx.execute_batch("ALTER TABLE matches ADD COLUMN status TEXT NOT NULL DEFAULT 'unchecked'")?;
    }
    Ok(())
}

fn natural_key(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "ALTER TABLE matches ADD COLUMN legacy_copy INTEGER NOT NULL DEFAULT 0;
         UPDATE matches SET legacy_copy = id
          WHERE id NOT IN (SELECT MIN(id) FROM matches GROUP BY room_code, round_seed);
         CREATE UNIQUE INDEX matches_round ON matches(room_code, round_seed, legacy_copy);",
    )
}

/// Brings the database to the last migration, in one write transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: Option<i64> = tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).optional()?;
    if current.is_none() {
        tx.execute("INSERT INTO schema_version (version) VALUES (0)", [])?;
    }
    let todo = pending(MIGRATIONS, current.unwrap_or(0))?;
    if todo.is_empty() {
        return Ok(());
    }
    for migration in todo {
        migration(&tx)?;
    }
    tx.execute("UPDATE schema_version SET version = ?1", [MIGRATIONS.len() as i64])?;
    tx.commit()?;
    Ok(())
}

/// The version the database is at (0 before any migration).
#[cfg(test)]
fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
}

pub(super) struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    /// Opens (creating it and its folder if needed) the database at `path` and migrates it.
    pub(super) fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let open_err = |source| StoreError::Open { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists())
            && path.as_os_str() != ":memory:"
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { dir: dir.to_path_buf(), source })?;
        }
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(open_err)?;
        migrate(&mut conn).map_err(|e| match e {
            StoreError::Sqlite(source) => open_err(source),
            other => other,
        })?;
        Ok(Sqlite { conn })
    }
}

impl Backend for Sqlite {
    fn record(&mut self, e: &Encoded) -> Result<i64, StoreError> {
        let m = &e.row;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT INTO matches (room_code, mode, started_at_ms, round_seed, agreed, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
            params![m.room_code, m.mode, m.started_at_ms, m.round_seed, m.agreed, m.status],
        )?;
        if inserted == 0 {
            // Already stored (by this or another server): keep that one, write nothing.
            let id = tx.query_row(
                "SELECT id FROM matches WHERE room_code = ?1 AND round_seed = ?2 AND legacy_copy = 0",
                params![m.room_code, m.round_seed],
                |r| r.get(0),
            )?;
            return Ok(id);
        }
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx.prepare(
                "INSERT INTO match_scores (match_id, position, player, name, points, hits, best_streak, dropped)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (pos, l) in e.lines.iter().enumerate() {
                ins.execute(params![id, pos as i64, l.player, l.name, l.points, l.hits, l.best_streak, l.dropped])?;
            }
            let mut rep = tx.prepare("INSERT INTO match_reports (match_id, reporter, scores) VALUES (?1, ?2, ?3)")?;
            for (reporter, json) in &e.reports {
                rep.execute(params![id, reporter, json])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    fn matches(&mut self, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, Row)>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, room_code, mode, started_at_ms, round_seed, agreed, status FROM matches
             WHERE (?1 IS NULL OR id IN (SELECT match_id FROM match_scores WHERE name = ?1))
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![name, limit, before], |r| {
                Ok((
                    r.get(0)?,
                    Row {
                        room_code: r.get(1)?,
                        mode: r.get(2)?,
                        started_at_ms: r.get(3)?,
                        round_seed: r.get(4)?,
                        agreed: r.get(5)?,
                        status: r.get(6)?,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn lines(&mut self, match_id: i64, max: u32) -> Result<Vec<LineRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT player, name, points, hits, best_streak, dropped FROM match_scores
             WHERE match_id = ?1 ORDER BY position LIMIT ?2",
        )?;
        let lines = st
            .query_map(params![match_id, max], |r| {
                Ok(LineRow {
                    player: r.get(0)?,
                    name: r.get(1)?,
                    points: r.get(2)?,
                    hits: r.get(3)?,
                    best_streak: r.get(4)?,
                    dropped: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines)
    }

    fn close(self) {
        if let Err((_, e)) = self.conn.close() {
            tracing::error!(error = %e, "closing the history database failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use shared::protocol::signal::{GameMode, MatchReport, MatchStatus, PeerId, ScoreLine};

    use super::super::{NewMatch, history, record};
    use super::*;

    fn line(player: PeerId, name: &str, points: u32) -> ScoreLine {
        ScoreLine { player, name: name.into(), points, hits: points / 10, best_streak: 1, dropped: false }
    }

    fn report_count(conn: &Connection, match_id: i64) -> rusqlite::Result<i64> {
        conn.query_row("SELECT COUNT(*) FROM match_reports WHERE match_id = ?1", [match_id], |r| r.get(0))
    }

    #[test]
    fn record_and_read_back_filtered_by_name() -> Result<(), StoreError> {
        let mut db = Sqlite::open(Path::new(":memory:"))?;
        assert_eq!(version(&db.conn)?, MIGRATIONS.len() as i64);
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
        let id = record(&mut db, &m)?;
        let other = NewMatch { round_seed: 7, scores: vec![line(3, "Bob", 5)], reports: vec![], ..m.clone() };
        let other_id = record(&mut db, &other)?;
        assert_ne!(id, other_id);

        let mine = history(&mut db, Some("민수"), None, 10)?;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].match_id, id);
        assert_eq!(mine[0].scores, scores);
        assert_eq!(mine[0].mode, GameMode::MotionQuiz);
        assert!(mine[0].agreed);
        assert_eq!(history(&mut db, None, None, 10)?.len(), 2);
        assert_eq!(history(&mut db, None, None, 1)?.len(), 1);
        assert_eq!(history(&mut db, None, Some(id + 1), 10)?.len(), 1);
        assert_eq!(mine[0].status, MatchStatus::Verified);
        assert_eq!(report_count(&db.conn, id)?, 2);

        // The same round again (room code and seed): nothing written, the same id.
        let again = NewMatch { scores: vec![line(9, "Eve", 999)], reports: vec![], ..m };
        assert_eq!(record(&mut db, &again)?, id);
        assert_eq!(history(&mut db, None, None, 10)?.len(), 2);
        assert_eq!(history(&mut db, Some("Eve"), None, 10)?.len(), 0);
        assert_eq!(report_count(&db.conn, id)?, 2);
        Ok(())
    }
}
