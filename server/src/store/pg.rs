//! The PostgreSQL backend: the synchronous `postgres` client on the history thread.
//!
//! `--db postgres://USER@HOST:PORT/DATABASE` (or `postgresql://`; every parameter the
//! `postgres` crate knows is accepted, e.g. `?connect_timeout=3`). Connections are made
//! without TLS (`sslmode=require` fails to connect): run the database on the same host or
//! a private network. Connecting gives up after 5 s per address unless the URL says
//! otherwise; TCP keepalives and a 15 s TCP user timeout turn a database that vanished
//! into an error instead of a hang. When the connection was lost, the next command
//! connects again first.
//!
//! Migrations (table `schema_version`, one row), applied in one transaction under an
//! advisory lock so that nodes starting together migrate once:
//! 1. The tables `matches` (id `BIGSERIAL`), `match_scores` (index on `name`),
//!    `match_reports`, with the same columns as in SQLite (integers as `BIGINT`).
//! 2. The natural key: `UNIQUE (room_code, round_seed)` on `matches`.
//!
//! Ids come from a sequence that a conflicting insert also advances, so ids can have gaps.

use std::time::Duration;

use postgres::{Client, NoTls};

use super::{Backend, Encoded, LineRow, PgError, Row, StoreError, pending, redact_url};

/// Migration `n` is at index `n - 1`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE matches (
         id            BIGSERIAL PRIMARY KEY,
         room_code     TEXT    NOT NULL,
         mode          TEXT    NOT NULL,
         started_at_ms BIGINT  NOT NULL,
         round_seed    BIGINT  NOT NULL,
         agreed        BOOLEAN NOT NULL,
         recorded_at   BIGINT  NOT NULL DEFAULT (extract(epoch FROM now())::BIGINT),
         status        TEXT    NOT NULL DEFAULT 'unchecked'
     );
     CREATE TABLE match_scores (
         match_id    BIGINT  NOT NULL REFERENCES matches(id),
         position    BIGINT  NOT NULL,
         player      BIGINT  NOT NULL,
         name        TEXT    NOT NULL,
         points      BIGINT  NOT NULL,
         hits        BIGINT  NOT NULL,
         best_streak BIGINT  NOT NULL,
         dropped     BOOLEAN NOT NULL,
         PRIMARY KEY (match_id, position)
     );
     CREATE INDEX match_scores_name ON match_scores(name, match_id);
     CREATE TABLE match_reports (
         match_id BIGINT NOT NULL REFERENCES matches(id),
         reporter BIGINT NOT NULL,
         scores   TEXT   NOT NULL,
         PRIMARY KEY (match_id, reporter)
     );",
    "ALTER TABLE matches ADD CONSTRAINT matches_round UNIQUE (room_code, round_seed);",
];

/// Key of the advisory lock held while migrating ("PoseParty history").
const MIGRATION_LOCK: i64 = 0x506f_7365_4869_7374;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(15);
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// A parsed `--db` URL.
pub(super) struct Target {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
        let shown = redact_url(url);
        let bad = |reason: String| StoreError::BadUrl { url: shown.clone(), reason };
        let mut config: postgres::Config = url.parse().map_err(|e| bad(PgError(e).to_string()))?;
        if config.get_user().is_none() {
            return Err(bad("it names no user".into()));
        }
        if config.get_hosts().is_empty() {
            return Err(bad("it names no host".into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(KEEPALIVE_IDLE);
        if config.get_application_name().is_none() {
            config.application_name("poseparty-server");
        }
        Ok(Target { config, shown })
    }

    fn connect(&self) -> Result<Client, StoreError> {
        self.config.connect(NoTls).map_err(|e| StoreError::Connect { url: self.shown.clone(), source: PgError(e) })
    }
}

pub(super) struct Postgres {
    target: Target,
    client: Client,
}

impl Postgres {
    /// Connects and migrates.
    pub(super) fn open(target: Target) -> Result<Postgres, StoreError> {
        let mut client = target.connect()?;
        migrate(&mut client)?;
        tracing::info!(db = %target.shown, "history in PostgreSQL");
        Ok(Postgres { target, client })
    }

    /// Runs `f` on the client, connected again first if the connection was lost; an error
    /// that closed the connection becomes [`StoreError::Lost`].
    fn with_client<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.client.is_closed() {
            tracing::warn!(db = %self.target.shown, "the history database connection was lost; connecting again");
            self.client = self.target.connect()?;
        }
        match f(&mut self.client) {
            Err(StoreError::Postgres(source)) if self.client.is_closed() => {
                Err(StoreError::Lost { url: self.target.shown.clone(), source })
            }
            other => other,
        }
    }
}

/// Brings the database to the last migration, in one transaction.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let current: Option<i64> = tx.query_opt("SELECT version FROM schema_version", &[])?.map(|r| r.try_get(0)).transpose()?;
    if current.is_none() {
        tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
    }
    for sql in pending(MIGRATIONS, current.unwrap_or(0))? {
        tx.batch_execute(sql)?;
    }
    tx.execute("UPDATE schema_version SET version = $1", &[&(MIGRATIONS.len() as i64)])?;
    tx.commit()?;
    Ok(())
}

impl Backend for Postgres {
    fn record(&mut self, e: &Encoded) -> Result<i64, StoreError> {
        self.with_client(|client| record(client, e))
    }

    fn matches(&mut self, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, Row)>, StoreError> {
        self.with_client(|client| matches(client, name, before, limit))
    }

    fn lines(&mut self, match_id: i64, max: u32) -> Result<Vec<LineRow>, StoreError> {
        self.with_client(|client| lines(client, match_id, max))
    }

    fn close(self) {
        if let Err(e) = self.client.close() {
            tracing::debug!(error = %PgError(e), "closing the history database connection");
        }
    }
}

fn record(client: &mut Client, e: &Encoded) -> Result<i64, StoreError> {
    let m = &e.row;
    let mut tx = client.transaction()?;
    let inserted = tx.query_opt(
        "INSERT INTO matches (room_code, mode, started_at_ms, round_seed, agreed, status)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (room_code, round_seed) DO NOTHING RETURNING id",
        &[&m.room_code, &m.mode, &m.started_at_ms, &m.round_seed, &m.agreed, &m.status],
    )?;
    let Some(row) = inserted else {
        // Already stored (by this or another node): keep that one, write nothing. The
        // conflict waited for the other writer's commit, so its row is visible here.
        let id =
            tx.query_one("SELECT id FROM matches WHERE room_code = $1 AND round_seed = $2", &[&m.room_code, &m.round_seed])?.try_get(0)?;
        tx.commit()?;
        return Ok(id);
    };
    let id: i64 = row.try_get(0)?;
    let ins = tx.prepare(
        "INSERT INTO match_scores (match_id, position, player, name, points, hits, best_streak, dropped)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )?;
    for (pos, l) in e.lines.iter().enumerate() {
        tx.execute(&ins, &[&id, &(pos as i64), &l.player, &l.name, &l.points, &l.hits, &l.best_streak, &l.dropped])?;
    }
    let rep = tx.prepare("INSERT INTO match_reports (match_id, reporter, scores) VALUES ($1, $2, $3)")?;
    for (reporter, json) in &e.reports {
        tx.execute(&rep, &[&id, reporter, json])?;
    }
    tx.commit()?;
    Ok(id)
}

fn matches(client: &mut Client, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, Row)>, StoreError> {
    let rows = client.query(
        "SELECT id, room_code, mode, started_at_ms, round_seed, agreed, status FROM matches
             WHERE ($1::TEXT IS NULL OR id IN (SELECT match_id FROM match_scores WHERE name = $1))
               AND ($3::BIGINT IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $2",
        &[&name, &i64::from(limit), &before],
    )?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0)?,
                Row {
                    room_code: r.try_get(1)?,
                    mode: r.try_get(2)?,
                    started_at_ms: r.try_get(3)?,
                    round_seed: r.try_get(4)?,
                    agreed: r.try_get(5)?,
                    status: r.try_get(6)?,
                },
            ))
        })
        .collect()
}

fn lines(client: &mut Client, match_id: i64, max: u32) -> Result<Vec<LineRow>, StoreError> {
    let rows = client.query(
        "SELECT player, name, points, hits, best_streak, dropped FROM match_scores
             WHERE match_id = $1 ORDER BY position LIMIT $2",
        &[&match_id, &i64::from(max)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(LineRow {
                player: r.try_get(0)?,
                name: r.try_get(1)?,
                points: r.try_get(2)?,
                hits: r.try_get(3)?,
                best_streak: r.try_get(4)?,
                dropped: r.try_get(5)?,
            })
        })
        .collect()
}
