//! The quiz deck of the room.
//!
//! A built-in sample deck is active until the host imports one:
//! deck file ─► [`doctext::Pool`] (a worker thread, polled each frame, never blocking)
//! ─► `Document` ─► [`shared::deck`] ─► [`Deck`] ─► the other players, in
//! [`DeckChunk`]s on the reliable channel (late joiners included). A failed import (wrong
//! password, no questions, damaged file) is shown in the lobby and the previous deck stays
//! active.
//!
//! - [`DeckRequest`]: what the lobby and `--deck` ask (import a file, cancel).
//! - [`ImportStatus`]: what the importer is doing, for the lobby.
//! - [`ActiveDeck`]: the deck Motion Quiz plays, with where it came from.
//! - [`DeckShare`]: the host's transfers and every player's reassembly, with counters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use doctext::{Block, Document, JobId, Pool, PoolEvent};
use shared::deck::{Deck, DeckError, parse_document, parse_rows};
use shared::protocol::peer::{Channel, DeckAssembler, PeerMsg, deck_chunks, deck_digest};
use shared::protocol::signal::PeerId;

use crate::cli::ClientConfig;
use crate::session::{LinkState, MeshCommand, NetCommand, NetEvent, Session};

/// Where the active deck came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeckOrigin {
    /// The built-in sample.
    Sample,
    /// Imported on this machine from `file`.
    Imported { file: String },
    /// Received from the room's host.
    Host { from: PeerId },
}

/// The deck Motion Quiz plays.
#[derive(Debug, Clone, Resource)]
pub struct ActiveDeck {
    pub deck: Deck,
    pub origin: DeckOrigin,
    /// The deck as shared on the wire, and its digest (empty / 0 if it could not be encoded).
    bytes: Vec<u8>,
    digest: u64,
}

impl ActiveDeck {
    pub fn new(deck: Deck, origin: DeckOrigin) -> Self {
        let bytes = deck.to_bytes().unwrap_or_else(|e| {
            error!("the deck {:?} cannot be shared: {e}", deck.title);
            Vec::new()
        });
        let digest = if bytes.is_empty() { 0 } else { deck_digest(&bytes) };
        Self { deck, origin, bytes, digest }
    }

    /// Identifies the deck's content: equal digests, same deck.
    pub fn digest(&self) -> u64 {
        self.digest
    }
}

impl Default for ActiveDeck {
    fn default() -> Self {
        // The sample is static text known to parse (a unit test checks it); should it ever
        // fail, an empty deck is played rather than crashing.
        let deck = sample_deck().unwrap_or_else(|e| {
            error!("the built-in sample deck does not parse: {e}");
            Deck { title: "—".into(), questions: vec![], routines: vec![] }
        });
        Self::new(deck, DeckOrigin::Sample)
    }
}

const SAMPLE: &[&[&str]] = &[
    &["질문 / Question", "1", "2", "3", "정답 / Answer"],
    &["한국의 수도는? / Capital of Korea?", "부산 Busan", "서울 Seoul", "대구 Daegu", "2"],
    &["김치는 발효 음식이다 / Kimchi is fermented", "O"],
    &["가장 큰 행성은? / Largest planet?", "목성 Jupiter", "화성 Mars", "1"],
    &["고래는 물고기다 / A whale is a fish", "X"],
    &["무지개 색은 몇 가지? / Colours of a rainbow?", "5", "6", "7", "3"],
];

/// The deck played when none was imported.
pub fn sample_deck() -> Result<Deck, DeckError> {
    let rows: Vec<Vec<String>> =
        SAMPLE.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    parse_rows("샘플 퀴즈 / Sample quiz", &rows)
}

/// Longest first paragraph taken as the deck's title, in characters.
const TITLE_CHARS: usize = 80;

/// Reads a deck from an extracted document: its tables first, else its lines. The title is
/// the document's first short paragraph, else the file name without extension.
pub fn deck_from_document(file: &str, doc: &Document) -> Result<Deck, DeckError> {
    let mut tables = Vec::new();
    let mut lines = Vec::new();
    for block in &doc.blocks {
        match block {
            Block::Table { rows, .. } => tables.push(rows.clone()),
            Block::Paragraph { text, .. } => {
                lines.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from));
            }
        }
    }
    let stem = Path::new(file).file_stem().map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    // A sheet has no paragraphs: its title is a first row with a single cell.
    let sheet_title = tables.first().and_then(|rows| rows.first()).and_then(|row| {
        let mut cells = row.iter().map(|c| c.trim()).filter(|c| !c.is_empty());
        match (cells.next(), cells.next()) {
            (Some(only), None) => Some(only.to_string()),
            _ => None,
        }
    });
    let title = lines
        .first()
        .cloned()
        .or(sheet_title)
        .filter(|l| l.chars().count() <= TITLE_CHARS)
        .unwrap_or(stem);
    parse_document(&title, &tables, &lines)
}

/// What became of one import.
#[derive(Debug)]
pub enum Outcome {
    Deck(Deck),
    /// The file is encrypted; `wrong`: a password was given and it did not open the file.
    NeedsPassword { wrong: bool },
    Cancelled,
    /// A message for the player.
    Failed(String),
}

/// Turns the reader's result for `file` into a deck or a message for the player.
pub fn outcome(file: &str, result: doctext::Result<Document>) -> Outcome {
    match result {
        Ok(doc) => match deck_from_document(file, &doc) {
            Ok(deck) => Outcome::Deck(deck),
            Err(DeckError::Empty) => Outcome::Failed(format!(
                "문제를 찾지 못했어요 / no questions found in {file} — {}",
                DeckError::Empty
            )),
            Err(e) => Outcome::Failed(format!("덱으로 쓸 수 없어요 / {file} is not a usable deck: {e}")),
        },
        Err(doctext::Error::PasswordRequired) => Outcome::NeedsPassword { wrong: false },
        Err(doctext::Error::WrongPassword) => Outcome::NeedsPassword { wrong: true },
        Err(doctext::Error::Cancelled) => Outcome::Cancelled,
        Err(e) => Outcome::Failed(format!("가져오지 못했어요 / could not import {file}: {e}")),
    }
}

/// The message the lobby shows for an encrypted file.
pub fn password_message(file: &str, wrong: bool) -> String {
    if wrong {
        format!("비밀번호가 틀렸어요 / wrong password for {file} — try again")
    } else {
        format!("암호가 걸린 파일이에요 / {file} is password-protected — enter its password")
    }
}

/// What the lobby (or `--deck`) asks of the importer.
#[derive(Debug, Clone, PartialEq, Message)]
pub enum DeckRequest {
    /// Read `path` (with the password of an encrypted file); replaces an import in progress.
    Import { path: PathBuf, password: Option<String> },
    /// Stop the import in progress.
    Cancel,
}

/// What the importer is doing, as the lobby shows it.
#[derive(Debug, Clone, Default, PartialEq, Resource)]
pub enum ImportStatus {
    #[default]
    Idle,
    Reading { file: String, inflated: u64 },
    /// The file is encrypted: ask for its password and import `path` again.
    NeedsPassword { path: PathBuf, file: String, message: String },
    Failed { message: String },
    Imported { message: String },
}

/// The file being read.
#[derive(Debug)]
struct Job {
    id: JobId,
    path: PathBuf,
    file: String,
}

/// The document reader: a one-thread [`doctext::Pool`], started on the first import.
#[derive(Resource, Default)]
pub struct Importer {
    pool: Option<Pool>,
    job: Option<Job>,
}

impl Importer {
    /// An import is in progress.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

/// Deck transfers between the players.
#[derive(Debug, Default, Resource)]
pub struct DeckShare {
    next_transfer: u32,
    /// Digest of the deck each peer was last sent (host only).
    sent: HashMap<PeerId, u64>,
    /// Digest of the deck each peer says it plays ([`PeerMsg::DeckHave`]; host only).
    holding: HashMap<PeerId, u64>,
    assemblers: HashMap<PeerId, DeckAssembler>,
    /// Decks this player sent and received whole.
    pub transfers_sent: u64,
    pub decks_received: u64,
    /// Chunks dropped: not from the host, malformed, out of order, or completing a deck that
    /// failed its checks.
    pub bad_chunks: u64,
}

impl DeckShare {
    /// `peer` told the host it plays the deck with `digest`.
    pub fn has_deck(&self, peer: PeerId, digest: u64) -> bool {
        self.holding.get(&peer) == Some(&digest)
    }
}

/// Holds the room's deck: imports, shares and receives it.
pub struct DeckPlugin;

impl Plugin for DeckPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ActiveDeck>()
            .init_resource::<ImportStatus>()
            .init_resource::<Importer>()
            .init_resource::<DeckShare>()
            .add_message::<DeckRequest>()
            .add_message::<NetCommand>()
            .add_message::<NetEvent>()
            .add_systems(Startup, import_from_flags)
            .add_systems(
                Update,
                (
                    start_imports.run_if(on_message::<DeckRequest>),
                    poll_import.run_if(|i: Res<Importer>| i.busy()),
                    receive_chunks.run_if(on_message::<NetEvent>),
                    share_deck,
                )
                    .chain(),
            );
    }
}

fn import_from_flags(config: Option<Res<ClientConfig>>, mut requests: MessageWriter<DeckRequest>) {
    if let Some(path) = config.as_ref().and_then(|c| c.deck.clone()) {
        let password = config.and_then(|c| c.deck_password.clone());
        requests.write(DeckRequest::Import { path, password });
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn start_imports(
    mut requests: MessageReader<DeckRequest>,
    mut importer: ResMut<Importer>,
    mut status: ResMut<ImportStatus>,
) {
    let importer = &mut *importer;
    for request in requests.read() {
        if let (Some(pool), Some(job)) = (importer.pool.as_ref(), importer.job.take()) {
            pool.cancel(job.id);
        }
        match request {
            DeckRequest::Cancel => *status = ImportStatus::Idle,
            DeckRequest::Import { path, password } => {
                let file = file_name(path);
                let mut opts = doctext::Options::default();
                if let Some(pw) = password.as_ref().filter(|p| !p.is_empty()) {
                    opts = opts.with_password(pw.clone());
                }
                let pool = importer.pool.get_or_insert_with(|| Pool::new(1));
                let id = pool.submit_file(path.clone(), opts);
                info!("importing the deck {}", path.display());
                *status = ImportStatus::Reading { file: file.clone(), inflated: 0 };
                importer.job = Some(Job { id, path: path.clone(), file });
            }
        }
    }
}

/// Takes the reader's events without waiting; installs the deck when the file is read.
fn poll_import(mut importer: ResMut<Importer>, mut status: ResMut<ImportStatus>, mut active: ResMut<ActiveDeck>) {
    let importer = &mut *importer;
    let Some(pool) = importer.pool.as_mut() else { return };
    while let Some(event) = pool.try_recv() {
        let Some(job) = importer.job.as_ref() else {
            // Events of a cancelled job: nothing waits for them.
            continue;
        };
        match event {
            PoolEvent::Started { .. } => {}
            PoolEvent::Progress { id, inflated } if id == job.id => {
                *status = ImportStatus::Reading { file: job.file.clone(), inflated };
            }
            PoolEvent::Done { id, result, .. } if id == job.id => {
                let Some(job) = importer.job.take() else { continue };
                *status = match outcome(&job.file, result) {
                    Outcome::Deck(deck) => {
                        let message = format!(
                            "가져왔어요 / imported “{}” — {} 문제 / questions",
                            deck.title,
                            deck.questions.len()
                        );
                        info!("{message}");
                        *active = ActiveDeck::new(deck, DeckOrigin::Imported { file: job.file });
                        ImportStatus::Imported { message }
                    }
                    Outcome::NeedsPassword { wrong } => {
                        let message = password_message(&job.file, wrong);
                        ImportStatus::NeedsPassword { path: job.path, file: job.file, message }
                    }
                    Outcome::Cancelled => ImportStatus::Idle,
                    Outcome::Failed(message) => {
                        warn!("{message}");
                        ImportStatus::Failed { message }
                    }
                };
            }
            _ => {}
        }
    }
}

/// Every player: reassembles the host's deck from its chunks, switches to it and tells the
/// host. The host: notes who has which deck.
fn receive_chunks(
    mut events: MessageReader<NetEvent>,
    session: Res<Session>,
    mut share: ResMut<DeckShare>,
    mut active: ResMut<ActiveDeck>,
    mut net: MessageWriter<NetCommand>,
) {
    let host = session.room.as_ref().map(|r| r.host);
    for ev in events.read() {
        let (from, chunk) = match ev {
            NetEvent::Peer { from, msg: PeerMsg::DeckChunk(chunk) } => (from, chunk),
            NetEvent::Peer { from, msg: PeerMsg::DeckHave { digest } } => {
                share.holding.insert(*from, *digest);
                continue;
            }
            _ => continue,
        };
        if host != Some(*from) || session.my_id() == Some(*from) {
            share.bad_chunks += 1;
            warn!("deck chunk from player {from}, who is not the host: dropped");
            continue;
        }
        let bytes = match share.assemblers.entry(*from).or_default().push(chunk.clone()) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => continue,
            Err(e) => {
                share.bad_chunks += 1;
                warn!("deck chunk from player {from} dropped: {e}");
                continue;
            }
        };
        match Deck::from_bytes(&bytes) {
            Ok(deck) => {
                share.decks_received += 1;
                let incoming = ActiveDeck::new(deck, DeckOrigin::Host { from: *from });
                if incoming.digest() != active.digest() || active.origin == DeckOrigin::Sample {
                    info!(
                        "the host shared the deck “{}” ({} questions)",
                        incoming.deck.title,
                        incoming.deck.questions.len()
                    );
                    *active = incoming;
                }
                let have = PeerMsg::DeckHave { digest: active.digest() };
                net.write(MeshCommand::SendTo { to: *from, channel: Channel::Reliable, msg: have }.into());
            }
            Err(e) => {
                share.bad_chunks += 1;
                warn!("the deck from player {from} was refused: {e}");
            }
        }
    }
}

/// The host: sends the active deck to every linked player who does not have it yet (after
/// an import, and to players who join or relink later).
fn share_deck(
    session: Res<Session>,
    active: Res<ActiveDeck>,
    mut share: ResMut<DeckShare>,
    mut net: MessageWriter<NetCommand>,
) {
    let Some(room) = session.room.as_ref().filter(|_| session.is_host()) else {
        if !share.sent.is_empty() {
            share.sent.clear();
        }
        return;
    };
    if active.bytes.is_empty() {
        return;
    }
    let me = session.my_id();
    // Players no longer linked get the deck again when their link is back.
    let linked = |id: &PeerId| session.links.get(id).is_some_and(|l| l.state == LinkState::Open);
    share.sent.retain(|id, _| linked(id));
    share.holding.retain(|id, _| linked(id));
    for p in room.players.iter().filter(|p| Some(p.id) != me && p.connected && linked(&p.id)) {
        if share.sent.get(&p.id) == Some(&active.digest) {
            continue;
        }
        share.next_transfer = share.next_transfer.wrapping_add(1);
        let chunks = deck_chunks(share.next_transfer, &active.bytes);
        debug!("sending the deck to player {} in {} chunks", p.id, chunks.len());
        for chunk in chunks {
            net.write(
                MeshCommand::SendTo { to: p.id, channel: Channel::Reliable, msg: PeerMsg::DeckChunk(chunk) }.into(),
            );
        }
        share.sent.insert(p.id, active.digest);
        share.transfers_sent += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(rel: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs")).join(rel)
    }

    fn import(rel: &str, password: Option<&str>) -> Outcome {
        let path = testdata(rel);
        let mut opts = doctext::Options::default();
        if let Some(pw) = password {
            opts = opts.with_password(pw);
        }
        outcome(&file_name(&path), doctext::extract_file(&path, &opts))
    }

    #[test]
    fn sample_deck_parses() {
        let deck = super::sample_deck().expect("sample deck");
        assert_eq!(deck.questions.len(), 5);
        assert!(deck.questions[1].is_true_false());
        assert_ne!(ActiveDeck::default().digest(), 0);
    }

    /// The Korean quiz of the test corpus (a table 번호 | 문제 | 정답 | 오답1 | 오답2) in
    /// every format: 20 questions of 3 choices, right answers in place. The PDF's table is
    /// rebuilt from where its text is printed.
    #[test]
    fn the_test_quiz_imports_from_every_format() {
        let formats = ["docx", "xlsx", "pptx", "doc", "xls", "ppt", "hwp", "pdf"];
        for rel in formats.map(|ext| format!("base/quiz_ko.{ext}")) {
            let rel = rel.as_str();
            let Outcome::Deck(deck) = import(rel, None) else { panic!("{rel}: {:?}", import(rel, None)) };
            assert_eq!(deck.questions.len(), 20, "{rel}");
            let q = &deck.questions[0];
            assert_eq!((q.prompt.as_str(), q.choices.len()), ("대한민국의 수도는?", 3), "{rel}");
            assert_eq!(q.choices[q.correct], "서울", "{rel}");
            let last = &deck.questions[19];
            assert_eq!(last.choices[last.correct], "톰", "{rel}");
            assert_eq!(deck.title, "한국 상식 퀴즈 덱 (Korean Trivia Deck)", "{rel}");
        }
    }

    #[test]
    fn encrypted_decks_ask_for_the_password() {
        let rel = "encrypted/quiz_ko_agile_pw-Secret123.docx";
        assert!(matches!(import(rel, None), Outcome::NeedsPassword { wrong: false }));
        assert!(matches!(import(rel, Some("WrongPass")), Outcome::NeedsPassword { wrong: true }));
        let Outcome::Deck(deck) = import(rel, Some("Secret123")) else { panic!("with the password") };
        assert_eq!(deck.questions.len(), 20);
        let msg = password_message("quiz.docx", true);
        assert!(msg.contains("wrong password for quiz.docx — try again"), "{msg}");
    }

    #[test]
    fn documents_without_questions_say_so() {
        match import("base/plain_en.docx", None) {
            Outcome::Failed(m) => assert!(m.contains("no questions found in plain_en.docx"), "{m}"),
            other => panic!("{other:?}"),
        }
        match import("malformed/cfb_bad_magic.doc", None) {
            Outcome::Failed(m) => assert!(m.contains("could not import cfb_bad_magic.doc"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
