//! Match history, in SQLite (a file path, the default) or PostgreSQL (a `postgres://` URL).
//!
//! [`Store::open`] reads `--db`: a value starting with `postgres://` or `postgresql://` is a
//! PostgreSQL server (module `pg`), anything else a SQLite file (module `sqlite`).
//! Either way the connection lives on one dedicated thread; async code sends it commands
//! over a channel and awaits the answer, so no blocking database work runs on the tokio
//! workers. [`Store::close`] drains the queue, closes the connection (flushing SQLite's
//! WAL) and lets [`StoreThread::join`] return.
//!
//! Both backends hold the same tables (`matches`, `match_scores`, `match_reports`) and a
//! `schema_version` table; the numbered migrations of each backend are applied in one
//! transaction when the database is opened. This module holds what they share: the
//! commands, the row values written and read (`Encoded`, `Row`, `LineRow`) and their mapping to
//! and from the protocol types.
//!
//! A match has a natural key, its room code and round seed, which every server node that
//! saw the round computes the same: recording a match whose key is already stored writes
//! nothing and returns the stored id, so two nodes reporting the same round store it once.

mod pg;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    #[error("--db {url} is not a usable PostgreSQL URL: {reason} — expected postgres://USER@HOST:PORT/DATABASE")]
    BadUrl { url: String, reason: String },
    #[error(
        "cannot connect to the history database {url}: {source} — is PostgreSQL running and reachable there, \
         and do the user and database exist? (connections are made without TLS)"
    )]
    Connect { url: String, source: PgError },
    #[error("the history database {url} did not answer within {}s — is PostgreSQL reachable?", .after.as_secs())]
    OpenTimeout { url: String, after: Duration },
    #[error("history database error (PostgreSQL): {0}")]
    Postgres(#[from] PgError),
    #[error("lost the connection to the history database {url}: {source} — is PostgreSQL still running? (the next request connects again)")]
    Lost { url: String, source: PgError },
    #[error(
        "the history database is at schema version {found}, newer than this server knows ({known}) — \
         run a newer server, or point --db elsewhere"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error("history entry is corrupt: {0}")]
    Corrupt(String),
    #[error("the history database thread has stopped (server shutting down?)")]
    Stopped,
    #[error("cannot start the history database thread: {0}")]
    Thread(std::io::Error),
}

/// A PostgreSQL client error, shown with its causes (the client's own message is only
/// the kind, e.g. "db error", with the server's message in its source).
#[derive(Debug)]
pub struct PgError(pub ::postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(&self.0);
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl std::error::Error for PgError {}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        StoreError::Postgres(PgError(e))
    }
}

/// A finished round, ready to be written.
#[derive(Debug, Clone)]
pub struct NewMatch {
    /// With `round_seed`, the match's natural key: a match with the same pair is stored once.
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

/// How long [`Store::open`] waits for a PostgreSQL server (connecting, logging in and
/// migrating) before giving up.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    Record(Box<NewMatch>, Reply<i64>),
    History {
        name: Option<String>,
        before: Option<i64>,
        limit: u32,
        reply: Reply<Vec<MatchSummary>>,
    },
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

/// Where `--db` points.
enum Target {
    Sqlite(PathBuf),
    Postgres(Box<pg::Target>),
}

impl Target {
    fn parse(db: &Path) -> Result<Target, StoreError> {
        match db.to_str() {
            Some(s) if is_postgres_url(s) => Ok(Target::Postgres(Box::new(pg::Target::parse(s)?))),
            _ => Ok(Target::Sqlite(db.to_path_buf())),
        }
    }
}

fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// `--db` as it may be shown in logs and errors: a PostgreSQL URL with its password (if
/// any) replaced by `***`; a SQLite path as it is.
pub fn describe(db: &Path) -> String {
    match db.to_str() {
        Some(s) if is_postgres_url(s) => redact_url(s),
        _ => db.display().to_string(),
    }
}

/// `scheme://user:password@host/…` → `scheme://user:***@host/…`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let mut out = format!("{scheme}://");
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => out.push_str(&format!("{user}:***@")),
                None => out.push_str(&format!("{userinfo}@")),
            }
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    // A password may also come as a `password=` parameter.
    let tail = match tail.split_once('?') {
        Some((path, params)) => {
            let params: Vec<String> =
                params.split('&').map(|p| if p.starts_with("password=") { "password=***".to_owned() } else { p.to_owned() }).collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    out.push_str(&tail);
    out
}

impl Store {
    /// Opens the history named by `db` (see the module docs) and starts its thread: a
    /// SQLite file is created if needed; a PostgreSQL server is connected to (giving up
    /// after [`OPEN_TIMEOUT`]). Pending migrations are applied either way. Blocks until the
    /// database is ready or has failed.
    pub fn open(db: &Path) -> Result<(Store, StoreThread), StoreError> {
        let target = Target::parse(db)?;
        // SQLite answers or fails by itself (a big migration may take long); a PostgreSQL
        // server may never answer the login.
        let wait = match target {
            Target::Sqlite(_) => None,
            Target::Postgres(_) => Some(OPEN_TIMEOUT),
        };
        let shown = describe(db);
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("history-db".into())
            .spawn(move || match target {
                Target::Sqlite(path) => serve(sqlite::Sqlite::open(&path), &ready_tx, rx),
                Target::Postgres(target) => serve(pg::Postgres::open(*target), &ready_tx, rx),
            })
            .map_err(StoreError::Thread)?;
        let opened = match wait {
            Some(wait) => ready_rx.recv_timeout(wait),
            None => ready_rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match opened {
            Ok(Ok(())) => Ok((Store { tx }, StoreThread { handle })),
            Ok(Err(e)) => {
                // The thread returns right after reporting the failure.
                let _ = handle.join();
                Err(e)
            }
            // The thread is left to finish its attempt; it stops without serving when it
            // finds nobody waiting.
            Err(mpsc::RecvTimeoutError::Timeout) => Err(StoreError::OpenTimeout { url: shown, after: OPEN_TIMEOUT }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(StoreError::Stopped),
        }
    }

    /// Writes a match unless one with the same room code and round seed is already stored;
    /// returns the id of the stored match either way.
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

/// What a backend does; [`Store`]'s thread drives one.
trait Backend {
    /// Writes `m` in one transaction unless a match with its key (room code, round seed)
    /// is stored; returns the stored match's id either way.
    fn record(&mut self, m: &Encoded) -> Result<i64, StoreError>;
    /// Matches newest first: id below `before` when given, `name` among the players when
    /// given, at most `limit`.
    fn matches(&mut self, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<(i64, Row)>, StoreError>;
    /// The first `max` score lines of a match, in scoreboard order.
    fn lines(&mut self, match_id: i64, max: u32) -> Result<Vec<LineRow>, StoreError>;
    /// Closes the connection.
    fn close(self);
}

/// One `matches` row as both backends store it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    room_code: String,
    mode: String,
    started_at_ms: i64,
    round_seed: i64,
    agreed: bool,
    status: String,
}

/// One `match_scores` row (its position is its index in the list).
#[derive(Debug, Clone, PartialEq)]
struct LineRow {
    player: i64,
    name: String,
    points: i64,
    hits: i64,
    best_streak: i64,
    dropped: bool,
}

/// A [`NewMatch`] as written: its `matches` row, its score lines in order, its reports as
/// (reporter, JSON of the reported score lines).
struct Encoded {
    row: Row,
    lines: Vec<LineRow>,
    reports: Vec<(i64, String)>,
}

fn encode(m: &NewMatch) -> Result<Encoded, StoreError> {
    let row = Row {
        room_code: m.room_code.clone(),
        mode: mode_name(m.mode).to_owned(),
        started_at_ms: to_i64(m.started_at_ms),
        round_seed: to_i64(m.round_seed),
        agreed: m.agreed,
        status: status_name(m.status).to_owned(),
    };
    let lines = m
        .scores
        .iter()
        .map(|s| LineRow {
            player: i64::from(s.player),
            name: s.name.clone(),
            points: i64::from(s.points),
            hits: i64::from(s.hits),
            best_streak: i64::from(s.best_streak),
            dropped: s.dropped,
        })
        .collect();
    let reports = m
        .reports
        .iter()
        .map(|(reporter, report)| {
            let json = serde_json::to_string(&report.scores).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((i64::from(*reporter), json))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Encoded { row, lines, reports })
}

fn decode_line(l: LineRow) -> Result<ScoreLine, StoreError> {
    let int = |what: &str, v: i64| u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("score line {what} {v} is out of range")));
    Ok(ScoreLine {
        player: int("player", l.player)?,
        name: l.name,
        points: int("points", l.points)?,
        hits: int("hits", l.hits)?,
        best_streak: int("best_streak", l.best_streak)?,
        dropped: l.dropped,
    })
}

fn decode(match_id: i64, row: Row, lines: Vec<LineRow>) -> Result<MatchSummary, StoreError> {
    let status = parse_status(&row.status);
    Ok(MatchSummary {
        match_id,
        room_code: row.room_code,
        mode: parse_mode(&row.mode)?,
        started_at_ms: row.started_at_ms as u64,
        agreed: row.agreed && status.is_verified(),
        scores: lines.into_iter().map(decode_line).collect::<Result<_, _>>()?,
        status,
    })
}

/// Runs `opened` (reporting the open's outcome on `ready`) until [`Command::Close`] or until
/// every [`Store`] handle is gone.
fn serve<B: Backend>(opened: Result<B, StoreError>, ready: &mpsc::SyncSender<Result<(), StoreError>>, rx: mpsc::Receiver<Command>) {
    let mut backend = match opened {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    if ready.send(Ok(())).is_err() {
        // `open` gave up waiting.
        backend.close();
        return;
    }
    for cmd in rx {
        match cmd {
            Command::Record(m, reply) => {
                let _ = reply.send(record(&mut backend, &m));
            }
            Command::History { name, before, limit, reply } => {
                let _ = reply.send(history(&mut backend, name.as_deref(), before, limit));
            }
            Command::Close => break,
        }
    }
    backend.close();
    tracing::debug!("history database closed");
}

fn record(backend: &mut impl Backend, m: &NewMatch) -> Result<i64, StoreError> {
    backend.record(&encode(m)?)
}

fn history(backend: &mut impl Backend, name: Option<&str>, before: Option<i64>, limit: u32) -> Result<Vec<MatchSummary>, StoreError> {
    let rows = backend.matches(name, before, limit)?;
    rows.into_iter()
        .map(|(id, row)| {
            let lines = backend.lines(id, MAX_LINES_READ)?;
            decode(id, row, lines)
        })
        .collect()
}

/// Where a list of numbered migrations (migration `n` at index `n - 1`) stands against a
/// database at version `current`: the ones still to apply, or an error when the database
/// is newer than the list.
fn pending<T>(migrations: &[T], current: i64) -> Result<&[T], StoreError> {
    let known = migrations.len() as i64;
    if current > known {
        return Err(StoreError::NewerSchema { found: current, known });
    }
    Ok(&migrations[usize::try_from(current.max(0)).unwrap_or(0)..])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(redact_url("postgres://ada:s3cret@db.example:5432/history"), "postgres://ada:***@db.example:5432/history");
        assert_eq!(redact_url("postgresql://ada@db:5432/h?sslmode=disable"), "postgresql://ada@db:5432/h?sslmode=disable");
        assert_eq!(redact_url("postgres://ada@db/h?password=s3cret&x=1"), "postgres://ada@db/h?password=***&x=1");
        assert_eq!(redact_url("postgres://a:b:c@@h/d"), "postgres://a:***@h/d");
        assert_eq!(describe(Path::new("dir/history.sqlite3")), "dir/history.sqlite3");
    }

    #[test]
    fn only_postgres_urls_leave_sqlite() {
        assert!(matches!(Target::parse(Path::new("postgres://u@h:5432/d")), Ok(Target::Postgres(_))));
        assert!(matches!(Target::parse(Path::new("postgresql://u@h:5432/d")), Ok(Target::Postgres(_))));
        assert!(matches!(Target::parse(Path::new("postgres.sqlite3")), Ok(Target::Sqlite(_))));
        assert!(matches!(Target::parse(Path::new(":memory:")), Ok(Target::Sqlite(_))));
        match Target::parse(Path::new("postgres://u:s3cret@h:notaport/d")) {
            Err(e @ StoreError::BadUrl { .. }) => assert!(!e.to_string().contains("s3cret"), "{e}"),
            Err(e) => panic!("expected BadUrl, got {e}"),
            Ok(_) => panic!("a bad port was taken"),
        }
    }

    #[test]
    fn migrations_newer_than_known_are_refused() {
        let list = [1, 2];
        assert_eq!(pending(&list, 0).ok(), Some(&list[..]));
        assert_eq!(pending(&list, 1).ok(), Some(&list[1..]));
        assert_eq!(pending(&list, 2).ok().map(<[_]>::len), Some(0));
        assert!(matches!(pending(&list, 3), Err(StoreError::NewerSchema { found: 3, known: 2 })));
    }
}
