//! Reading a deck file: the [`doctext::Pool`] reads it on a worker thread (polled each frame,
//! never blocking), the document's tables or lines become a [`Deck`], and a failure becomes a
//! message for the lobby while the previous deck stays active.

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use doctext::{Block, Document, JobId, Pool, PoolEvent};
use shared::deck::{Deck, DeckError, parse_document};

use super::{ActiveDeck, DeckOrigin};

/// Longest first paragraph taken as the deck's title, in characters.
const TITLE_CHARS: usize = 80;

/// Reads a deck from an extracted document: its tables first, else its lines (page headers
/// and footers, comments and hidden sheets left out). The title is the document's first short
/// paragraph, else the file name without extension.
pub fn deck_from_document(file: &str, doc: &Document) -> Result<Deck, DeckError> {
    let mut tables = Vec::new();
    let mut lines = Vec::new();
    // Page headers and footers, comments and hidden sheets are not the deck.
    let content = doc.blocks.iter().filter(|b| {
        let origin = b.origin();
        !origin.hidden && !matches!(origin.part, doctext::model::Part::Header | doctext::model::Part::Footer | doctext::model::Part::Comment)
    });
    for block in content {
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

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

pub(super) fn start_imports(
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
pub(super) fn poll_import(mut importer: ResMut<Importer>, mut status: ResMut<ImportStatus>, mut active: ResMut<ActiveDeck>) {
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
                        let routines = match deck.routines.len() {
                            0 => String::new(),
                            n => format!(", {n} 루틴 / routines"),
                        };
                        let message = format!(
                            "가져왔어요 / imported “{}” — {} 문제 / questions{routines}",
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

    /// The same quiz as a teacher would keep it in Hangul 2022, LibreOffice, Excel's CSV
    /// (UTF-8 and CP949), a tab-separated or plain-text file or Markdown: the same questions
    /// and answers.
    #[test]
    fn the_test_quiz_imports_from_the_files_people_have() {
        let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../doctext/tests/data"));
        let names = ["hwpx", "odt", "ods", "odp", "csv", "tsv", "txt", "md"]
            .map(|ext| format!("quiz_ko.{ext}"))
            .into_iter()
            .chain(["quiz_ko_cp949.csv".to_string()]);
        for name in names {
            let path = data.join(&name);
            let Outcome::Deck(deck) = outcome(&name, doctext::extract_file(&path, &doctext::Options::default())) else {
                panic!("{name} did not import")
            };
            assert_eq!(deck.questions.len(), 20, "{name}");
            let q = &deck.questions[0];
            assert_eq!((q.prompt.as_str(), q.choices[q.correct].as_str()), ("대한민국의 수도는?", "서울"), "{name}");
            let last = &deck.questions[19];
            assert_eq!(last.choices[last.correct], "톰", "{name}");
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
