//! `doctext FILE... [--password P] [--json] [--jobs N]`: prints the text of documents.
//!
//! Files are read in a worker pool; results are printed in the order given. Plain output
//! is one line per paragraph and one tab-separated line per table row, each file under a
//! `== name` header when several are given. `--json` prints one JSON object per file.

use anyhow::Result;
use clap::Parser;
use doctext::{Block, Error, Options, Pool, PoolEvent};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(version, about = "Structured text from office documents (docx, xlsx, pptx, doc, xls, ppt, hwp, hwpx, odt, ods, odp, pdf, csv, tsv, txt, md, zip)")]
struct Args {
    /// Files to read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Password for encrypted documents.
    #[arg(long, env = "DOCTEXT_PASSWORD")]
    password: Option<String>,
    /// Print one JSON object per file (blocks with their origin).
    #[arg(long)]
    json: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long, env = "DOCTEXT_JOBS")]
    jobs: Option<usize>,
}

fn main() -> Result<()> {
    match run() {
        // The reader of our output is gone (`doctext big.docx | head -1`): that is the
        // end of the job, not a failure.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            std::process::exit(0)
        }
        other => other,
    }
}

fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let opts = Options { password: args.password.clone(), ..Options::default() };
    let mut pool = match args.jobs {
        Some(n) => Pool::new(n),
        None => Pool::default(),
    };
    for f in &args.files {
        pool.submit_file(f, opts.clone());
    }
    let several = args.files.len() > 1;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0usize;
    while let Some(ev) = pool.recv() {
        let PoolEvent::Done { name, result, .. } = ev else { continue };
        match result {
            Ok(doc) if args.json => {
                let v = serde_json::json!({ "file": name, "document": doc });
                writeln!(out, "{v}")?;
            }
            Ok(doc) => {
                if several {
                    writeln!(out, "== {name}")?;
                }
                for b in &doc.blocks {
                    match b {
                        Block::Paragraph { text, .. } => writeln!(out, "{text}")?,
                        Block::Table { rows, .. } => {
                            for row in rows {
                                writeln!(out, "{}", row.join("\t"))?;
                            }
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if args.json {
                    let v = serde_json::json!({ "file": name, "error": e.to_string() });
                    writeln!(out, "{v}")?;
                }
                eprintln!("doctext: {name}: {}", advice(&e));
            }
        }
    }
    out.flush()?;
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The error with what to do about it.
fn advice(e: &Error) -> String {
    match e {
        Error::PasswordRequired => format!("{e} (use --password)"),
        Error::WrongPassword => format!("{e} (check --password)"),
        other => other.to_string(),
    }
}
