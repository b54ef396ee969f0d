//! `cargo bench -p doctext --bench compare`: one table comparing doctext with the
//! `dotext` and `calamine` crates (and pdf-extract's own plain-text output) on the same
//! corpus files, the pool's speed-up with 1 vs 2 workers, and Agile decryption against
//! the bare 100 000 × SHA-512 loop that bounds it from below.
//!
//! Every figure is measured side by side in one run, so ratios stay meaningful on a
//! shared, noisy machine. Files are read from disk by every contender (page cache warm).

use dotext::MsDoc;
use sha2::{Digest, Sha512};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs");
/// Time spent measuring each row.
const BUDGET: Duration = Duration::from_millis(1500);

/// Whether section `what` (a format, `pool` or `agile`) is wanted: all of them unless
/// `DOCTEXT_BENCH` lists some, comma-separated (e.g. `DOCTEXT_BENCH=xls,pool`), which
/// keeps iteration runs short.
fn wanted(what: &str) -> bool {
    std::env::var("DOCTEXT_BENCH").map_or(true, |v| v.split(',').any(|w| w.trim() == what))
}

fn files(format: &str) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(Path::new(CORPUS).join("manifest.tsv")).expect("manifest.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let (path, fmt, group) = (cols.first()?, cols.get(1)?, cols.get(4)?);
            (*fmt == format && (*group == "base" || *group == "realworld")).then(|| Path::new(CORPUS).join(path))
        })
        .collect()
}

/// A contender: reads one file, says whether it succeeded.
type Reads = fn(&Path) -> bool;

/// Whether `f` reads the file without an error or a panic.
fn reads(f: fn(&Path) -> bool, p: &Path) -> bool {
    std::panic::catch_unwind(|| f(p)).unwrap_or(false)
}

/// Runs `f` over `files` round-robin for the budget; returns (files/s, MB/s).
fn measure(files: &[PathBuf], f: fn(&Path) -> bool) -> (f64, f64) {
    let sizes: Vec<u64> = files.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).collect();
    let start = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while start.elapsed() < BUDGET {
        for (p, s) in files.iter().zip(&sizes) {
            black_box(f(p));
            n += 1;
            bytes += s;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    (n as f64 / secs, bytes as f64 / secs / 1e6)
}

fn doctext_reads(p: &Path) -> bool {
    doctext::extract_file(p, &doctext::Options::default()).map(|d| black_box(d.text()).len()).is_ok()
}

fn dotext_reads<T: MsDoc<T>>(p: &Path) -> bool {
    let mut s = String::new();
    T::open(p).and_then(|mut d| d.read_to_string(&mut s)).is_ok()
}

fn calamine_reads(p: &Path) -> bool {
    use calamine::Reader;
    let Ok(mut wb) = calamine::open_workbook_auto(p) else { return false };
    let mut s = String::new();
    for name in wb.sheet_names() {
        let Ok(range) = wb.worksheet_range(&name) else { return false };
        for row in range.rows() {
            for c in row {
                s.push_str(&c.to_string());
                s.push('\t');
            }
        }
    }
    !black_box(s).is_empty()
}

fn pdf_extract_reads(p: &Path) -> bool {
    std::fs::read(p).ok().and_then(|d| pdf_extract::extract_text_from_mem(&d).ok()).is_some()
}

fn row(format: &str, reader: &str, timed: usize, r: (f64, f64), failed: usize, base: Option<f64>) {
    let vs = base.map(|b| format!("{:.2}×", r.0 / b)).unwrap_or_else(|| "1.00×".into());
    println!("| {format:<6} | {reader:<22} | {timed:>5} | {:>10.0} | {:>8.1} | {vs:>10} | {failed:>6} |", r.0, r.1);
}

fn pool_time(datas: &[(String, Vec<u8>)], workers: usize, n: usize) -> Duration {
    // Best of several runs; the pool is built outside the timed part.
    (0..15)
        .map(|_| {
            let mut pool = doctext::Pool::new(workers);
            let start = Instant::now();
            for i in 0..n {
                let (name, data) = &datas[i % datas.len()];
                pool.submit_bytes(name.clone(), data.clone(), doctext::Options::default());
            }
            let done = pool.finish();
            let t = start.elapsed();
            assert_eq!(done.len(), n);
            t
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is configurable. Other crates' panics
    // are counted as failures, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    println!("\n### doctext vs other crates (one thread, files read from disk)\n");
    println!("| format | reader                 | timed files | files/s    | MB/s     | vs doctext | failed |");
    println!("|--------|------------------------|-------|------------|----------|------------|--------|");
    for format in ["docx", "xlsx", "pptx", "pdf", "doc", "xls", "ppt", "hwp"].into_iter().filter(|f| wanted(f)) {
        let all = files(format);
        let mut contenders: Vec<(&str, Reads)> = vec![("doctext", doctext_reads)];
        match format {
            "docx" => contenders.push(("dotext", dotext_reads::<dotext::Docx>)),
            "xlsx" => contenders.push(("dotext", dotext_reads::<dotext::Xlsx>)),
            "pptx" => contenders.push(("dotext", dotext_reads::<dotext::Pptx>)),
            "pdf" => contenders.push(("pdf-extract plain text", pdf_extract_reads)),
            _ => {}
        }
        if matches!(format, "xlsx" | "xls") {
            contenders.push(("calamine", calamine_reads));
        }
        // Time everyone on the files every contender reads; count each one's failures
        // (errors or panics) over all the files.
        let failed: Vec<usize> = contenders.iter().map(|(_, f)| all.iter().filter(|p| !reads(*f, p)).count()).collect();
        let common: Vec<PathBuf> =
            all.iter().filter(|p| contenders.iter().all(|(_, f)| reads(*f, p))).cloned().collect();
        let mut base = None;
        for ((name, f), failed) in contenders.iter().zip(failed) {
            let r = measure(&common, *f);
            row(format, name, common.len(), r, failed, base);
            base.get_or_insert(r.0);
        }
    }
    if wanted("pool") {
        pool_table();
    }
    if wanted("agile") {
        agile_table();
    }
}

fn pool_table() {
    println!("\n### Pool speed-up (mixed docx/xlsx/pptx/pdf/hwp base files, in memory)\n");
    println!("| files | 1 worker (ms) | 2 workers (ms) | speed-up |");
    println!("|-------|---------------|----------------|----------|");
    let datas: Vec<(String, Vec<u8>)> = ["docx", "xlsx", "pptx", "pdf", "hwp"]
        .iter()
        .flat_map(|f| files(f))
        .filter(|p| p.to_string_lossy().contains("/base/"))
        .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), std::fs::read(&p).ok()?)))
        .collect();
    for n in [8, 16, 32, 256] {
        let one = pool_time(&datas, 1, n);
        let two = pool_time(&datas, 2, n);
        println!(
            "| {n:>5} | {:>13.2} | {:>14.2} | {:>7.2}× |",
            one.as_secs_f64() * 1e3,
            two.as_secs_f64() * 1e3,
            one.as_secs_f64() / two.as_secs_f64()
        );
    }
}

fn agile_table() {
    println!("\n### Agile decryption (quiz_ko_agile_pw-Secret123.docx) vs the floor\n");
    println!("| what                                      | ms     |");
    println!("|-------------------------------------------|--------|");
    let floor = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut h = Sha512::digest(b"salt and password");
            for i in 0u32..100_000 {
                let mut d = Sha512::new();
                d.update(i.to_le_bytes());
                d.update(h);
                h = d.finalize();
            }
            black_box(h);
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    let enc = Path::new(CORPUS).join("encrypted/quiz_ko_agile_pw-Secret123.docx");
    let opts = doctext::Options::default().with_password("Secret123");
    let full = (0..5)
        .map(|_| {
            let start = Instant::now();
            let doc = doctext::extract_file(&enc, &opts);
            assert!(doc.is_ok());
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    let wrong_opts = doctext::Options::default().with_password("nope");
    let wrong = (0..5)
        .map(|_| {
            let start = Instant::now();
            assert!(matches!(doctext::extract_file(&enc, &wrong_opts), Err(doctext::Error::WrongPassword)));
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    println!("| bare 100 000 × SHA-512 loop (floor)       | {:>6.1} |", floor.as_secs_f64() * 1e3);
    println!("| open + verify + decrypt + read the docx   | {:>6.1} |", full.as_secs_f64() * 1e3);
    println!("| wrong password (verifier check only)      | {:>6.1} |", wrong.as_secs_f64() * 1e3);
    println!("| overhead over the floor (full open)       | {:>5.2}× |", full.as_secs_f64() / floor.as_secs_f64());
}
