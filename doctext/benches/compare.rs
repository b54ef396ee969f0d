//! `cargo bench -p doctext --bench compare`: one table comparing doctext with the
//! `dotext` and `calamine` crates (and pdf-extract's own plain-text output) on the same
//! corpus files, the pool's speed-up with 1 vs 2 workers, and Agile decryption against
//! the bare 100 000 × SHA-512 loop that bounds it from below.
//!
//! Every figure is measured side by side in one run, so ratios stay meaningful on a
//! shared, noisy machine. Files are read from disk by every contender (page cache warm).
//!
//! Pool batches. Until session 3 the pool was timed on one batch: the base docx, xlsx,
//! pptx, pdf and hwp files, cycled, copied into memory and submitted with `submit_bytes`
//! to a pool created just before the timer. That figure is still printed (first rows),
//! but it says more about the batch than the pool: quiz_ko.pdf is about 10 of the 12 ms
//! of every 8- or 16-file batch, and a file is read by one worker, so no pool can reach
//! much more than 1.2–1.3× there (the printed bound). Two more rows per size:
//! - the same files submitted by path (`submit_file`) to a running pool, which is how
//!   the game's deck importer and the CLI use it (the workers read the files; thread
//!   start-up is paid once per pool, not per batch);
//! - the same way, a batch of what hosts mostly import: every base file of the Office
//!   and Hangul formats (docx, xlsx, pptx, doc, xls, ppt, hwp), where no file dominates,
//!   so the figure shows what the pool itself adds or loses.
//!
//! The newer formats (hwpx, odt, ods, odp, csv, tsv, txt, md) are timed on
//! the quiz files in `tests/data`, against the `csv` crate (csv, tsv) and calamine (ods)
//! where a crate reads them; `csv` also times a 100 000-row CSV generated at run time
//! (about 10 MB), where MB/s means more than on a 1 KB file.
//!
//! Large files (`large`): a 300 MB pptx whose size is a video, a 250 000-row xlsx and a
//! 2 MB PDF whose stream inflates to 2 GiB, generated in a temp dir and read by the
//! release `doctext` binary in a child process, with its time and peak RSS (`wait4`).
//!
//! `DOCTEXT_BENCH=xls,pool` (comma-separated formats, `pool`, `pool-mixed`,
//! `pool-office`, `agile`, `large`) runs only those sections.

#[path = "../tests/support/generated.rs"]
mod generated;

use dotext::MsDoc;
use sha2::{Digest, Sha512};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/docs");
/// The quiz files of the newer formats (written by tests/data/make_quiz.py).
const NEW_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
const NEW_FORMATS: [&str; 8] = ["hwpx", "odt", "ods", "odp", "csv", "tsv", "txt", "md"];
/// Time spent measuring each row.
const BUDGET: Duration = Duration::from_millis(1500);

/// Whether section `what` (a format, `pool` — or one of its two batches, `pool-mixed`
/// and `pool-office` — or `agile`) is wanted: all of them unless `DOCTEXT_BENCH` lists
/// some, comma-separated (e.g. `DOCTEXT_BENCH=xls,pool`), which keeps iteration runs
/// short.
fn wanted(what: &str) -> bool {
    std::env::var("DOCTEXT_BENCH").map_or(true, |v| v.split(',').any(|w| w.trim() == what))
}

fn files(format: &str) -> Vec<PathBuf> {
    if NEW_FORMATS.contains(&format) {
        let mut v: Vec<PathBuf> = std::fs::read_dir(NEW_DATA)
            .expect("tests/data")
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == format))
            .collect();
        v.sort();
        return v;
    }
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

/// The `csv` crate reading every record as strings (UTF-8 only; it skips a UTF-8 BOM),
/// with the delimiter the file's extension names.
fn csv_crate_reads(p: &Path) -> bool {
    let delim = if p.extension().is_some_and(|x| x == "tsv") { b'\t' } else { b',' };
    let Ok(mut r) = csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delim).from_path(p) else {
        return false;
    };
    // The same output as doctext's: rows of cells, then the text (tab-separated cells,
    // a line per row), as the other contenders produce text.
    let mut rows: Vec<Vec<String>> = Vec::new();
    for rec in r.records() {
        let Ok(rec) = rec else { return false };
        rows.push(rec.iter().map(str::to_string).collect());
    }
    let mut text = String::new();
    for row in &rows {
        for (k, c) in row.iter().enumerate() {
            if k > 0 {
                text.push('\t');
            }
            text.push_str(c);
        }
        text.push('\n');
    }
    !black_box(text).is_empty()
}

/// A CSV of `rows` quiz rows (quoted fields with commas, quotes and line breaks among
/// them), UTF-8 with a BOM as Excel writes it.
fn large_csv(rows: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("doctext-bench-{}-{rows}.csv", std::process::id()));
    let mut s = String::from("\u{FEFF}번호,문제,정답,오답1,오답2\r\n");
    for i in 0..rows {
        match i % 4 {
            0 => s.push_str(&format!("{i},대한민국의 수도는 어디일까요? ({i}번),서울,부산,인천\r\n")),
            1 => s.push_str(&format!("{i},\"쉼표, 그리고 \"\"따옴표\"\"가 든 문제 {i}\",정답,오답 하나,오답 둘\r\n")),
            2 => s.push_str(&format!("{i},\"두 줄로\r\n쓴 문제 {i}\",H2O,CO2,O2\r\n")),
            _ => s.push_str(&format!("{i},Tom & Jerry <고양이>는? {i},톰,제리,스파이크\r\n")),
        }
    }
    std::fs::write(&path, s).expect("write the generated CSV");
    path
}

fn pdf_extract_reads(p: &Path) -> bool {
    std::fs::read(p).ok().and_then(|d| pdf_extract::extract_text_from_mem(&d).ok()).is_some()
}

fn row(format: &str, reader: &str, timed: usize, r: (f64, f64), failed: usize, base: Option<f64>) {
    let vs = base.map(|b| format!("{:.2}×", r.0 / b)).unwrap_or_else(|| "1.00×".into());
    println!("| {format:<6} | {reader:<22} | {timed:>5} | {:>10.0} | {:>8.1} | {vs:>10} | {failed:>6} |", r.0, r.1);
}

/// One batch: the first `n` files of `datas`, cycling.
fn batch<T>(datas: &[T], n: usize) -> impl Iterator<Item = &T> {
    datas.iter().cycle().take(n)
}

/// How a pool batch is fed and timed.
#[derive(Clone, Copy, PartialEq)]
enum Feed {
    /// As measured in the first sessions: a new pool per run, each file's bytes copied
    /// and submitted with `submit_bytes` inside the timed part.
    BytesColdPool,
    /// As the game and the CLI use the pool: files submitted by path (`submit_file`; the
    /// workers read them, page cache warm) to a pool whose workers are already running
    /// and have each read one file (a long-lived pool pays thread start-up once).
    FilesWarmPool,
}

/// One run of a batch of `n` files through a pool of `workers`.
fn pool_run(datas: &[(String, PathBuf, Vec<u8>)], workers: usize, n: usize, feed: Feed) -> Duration {
    let mut pool = doctext::Pool::new(workers);
    if feed == Feed::FilesWarmPool {
        for (_, path, _) in batch(datas, workers) {
            pool.submit_file(path, doctext::Options::default());
        }
        assert_eq!(pool.finish().len(), workers);
    }
    let start = Instant::now();
    for (name, path, data) in batch(datas, n) {
        match feed {
            Feed::BytesColdPool => pool.submit_bytes(name.clone(), data.clone(), doctext::Options::default()),
            Feed::FilesWarmPool => pool.submit_file(path, doctext::Options::default()),
        };
    }
    let done = pool.finish();
    let t = start.elapsed();
    assert_eq!(done.len(), n);
    t
}

/// Best times of a batch with 1 and with 2 workers. The two alternate run by run, so a
/// burst of load from other processes on this shared machine hits both alike; each gets
/// at least 7 runs and about half a second.
fn pool_pair(datas: &[(String, PathBuf, Vec<u8>)], n: usize, feed: Feed) -> (Duration, Duration) {
    let (mut one, mut two) = (Duration::MAX, Duration::MAX);
    let start = Instant::now();
    let mut runs = 0;
    while runs < 7 || start.elapsed() < Duration::from_secs(1) {
        one = one.min(pool_run(datas, 1, n, feed));
        two = two.min(pool_run(datas, 2, n, feed));
        runs += 1;
    }
    (one, two)
}

/// Each file's best time alone in a running one-worker pool (at least 10 runs and
/// about 100 ms each), by its position in `datas`. Timed in a worker, as in the batches:
/// an allocation-heavy reader such as pdf-extract runs at a different speed on the
/// main thread.
fn single_times(datas: &[(String, PathBuf, Vec<u8>)]) -> Vec<Duration> {
    let mut pool = doctext::Pool::new(1);
    datas
        .iter()
        .map(|(_, path, _)| {
            let (start, mut best, mut runs) = (Instant::now(), Duration::MAX, 0);
            while runs < 10 || start.elapsed() < Duration::from_millis(100) {
                let s = Instant::now();
                pool.submit_file(path, doctext::Options::default());
                black_box(pool.finish());
                best = best.min(s.elapsed());
                runs += 1;
            }
            best
        })
        .collect()
}

/// The best speed-up two workers can reach on a batch of `n` files, from the files'
/// single-thread times: a file is read by one worker, so the batch takes at least as
/// long as half its work and at least as long as its largest file.
fn two_worker_bound(times: &[Duration], n: usize) -> f64 {
    let batch: Vec<f64> = times.iter().cycle().take(n).map(Duration::as_secs_f64).collect();
    let total: f64 = batch.iter().sum();
    let largest = batch.iter().copied().fold(0.0, f64::max);
    total / (total / 2.0).max(largest)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is configurable. Other crates' panics
    // are counted as failures, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let formats: Vec<&str> = ["docx", "xlsx", "pptx", "pdf", "doc", "xls", "ppt", "hwp"]
        .into_iter()
        .chain(NEW_FORMATS)
        .filter(|f| wanted(f))
        .collect();
    if !formats.is_empty() {
        println!("\n### doctext vs other crates (one thread, files read from disk)\n");
        println!("| format | reader                 | timed files | files/s    | MB/s     | vs doctext | failed |");
        println!("|--------|------------------------|-------|------------|----------|------------|--------|");
    }
    for format in formats {
        let all = files(format);
        let mut contenders: Vec<(&str, Reads)> = vec![("doctext", doctext_reads)];
        match format {
            "docx" => contenders.push(("dotext", dotext_reads::<dotext::Docx>)),
            "xlsx" => contenders.push(("dotext", dotext_reads::<dotext::Xlsx>)),
            "pptx" => contenders.push(("dotext", dotext_reads::<dotext::Pptx>)),
            "pdf" => contenders.push(("pdf-extract plain text", pdf_extract_reads)),
            _ => {}
        }
        if matches!(format, "xlsx" | "xls" | "ods") {
            contenders.push(("calamine", calamine_reads));
        }
        if matches!(format, "csv" | "tsv") {
            contenders.push(("csv crate", csv_crate_reads));
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
        if format == "csv" {
            let big = vec![large_csv(100_000)];
            let mb = std::fs::metadata(&big[0]).map_or(0.0, |m| m.len() as f64 / 1e6);
            let mut base = None;
            for (name, f) in [("doctext", doctext_reads as Reads), ("csv crate", csv_crate_reads)] {
                assert!(reads(f, &big[0]), "{name} reads the generated CSV");
                let r = measure(&big, f);
                row("csv", &format!("{name} ({mb:.1} MB file)"), 1, r, 0, base);
                base.get_or_insert(r.0);
            }
            let _ = std::fs::remove_file(&big[0]);
        }
    }
    if wanted("pool") || wanted("pool-mixed") || wanted("pool-office") {
        pool_table();
    }
    if wanted("agile") {
        agile_table();
    }
    if wanted("large") {
        large_table();
    }
}

/// Peak RSS and time of the `doctext` binary on large files and a bomb.
fn large_table() {
    let dir = std::env::temp_dir().join(format!("doctext-bench-large-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_doctext"));
    println!("\n### Large files and a bomb: the `doctext` binary in a child process\n");
    println!("| file                                   | size (MB) | result        | s      | peak RSS (MB) | text (MB) |");
    println!("|----------------------------------------|-----------|---------------|--------|---------------|-----------|");
    let pptx = dir.join("lesson_with_video.pptx");
    generated::write_pptx_with_video(&pptx, 300 << 20);
    let xlsx = dir.join("rows_250k.xlsx");
    generated::write_xlsx_rows(&xlsx, 250_000);
    let bomb = dir.join("flate_bomb_2GiB.pdf");
    std::fs::write(&bomb, generated::flate_bomb_pdf()).expect("write the bomb");
    for (label, path) in [
        ("pptx, one slide + a 300 MB video", &pptx),
        ("xlsx, 250 000 rows × 5 columns", &xlsx),
        ("pdf, a Flate stream inflating to 2 GiB", &bomb),
    ] {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        let run = generated::run_doctext(bin, path);
        let result = if run.code == 0 { "read".to_string() } else { format!("refused ({})", run.code) };
        println!(
            "| {label:<38} | {:>9.1} | {result:<13} | {:>6.2} | {:>13.1} | {:>9.1} |",
            size as f64 / 1048576.0,
            run.secs,
            run.peak_rss_mb,
            run.stdout_bytes as f64 / 1048576.0
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn pool_table() {
    let base_files = |formats: &[&str]| -> Vec<(String, PathBuf, Vec<u8>)> {
        formats
            .iter()
            .flat_map(|f| files(f))
            .filter(|p| p.to_string_lossy().contains("/base/"))
            .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), p.clone(), std::fs::read(&p).ok()?)))
            .collect()
    };
    // The batch measured since the first session: base files of five formats, cycled. Its
    // quiz_ko.pdf is most of the work of every batch that holds it (about 10 of 12 ms),
    // and one file is read by one worker, so the 8- and 16-file batches cannot get much
    // faster with two workers, however good the pool: the bound column says how much
    // at best (from the files' single-thread times).
    let mixed = base_files(&["docx", "xlsx", "pptx", "pdf", "hwp"]);
    // What a host mostly imports: quiz files from Office and Hangul, every base file of
    // those seven formats, cycled. No file dominates, so this shows what the pool adds.
    let office = base_files(&["docx", "xlsx", "pptx", "doc", "xls", "ppt", "hwp"]);
    println!("\n### Pool speed-up, 1 vs 2 workers\n");
    println!("Batches cycle through the files of their set. bound: the best two workers can do on");
    println!("that batch, as one file is read by one worker (from single-thread times per file).");
    // Two workers need two idle cores: other processes' load lowers the speed-up.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let one_minute = load.split_whitespace().next().unwrap_or("?");
        println!("Load average before this table: {one_minute} on {cores} cores.");
    }
    println!();
    println!("| set    | fed as                     | files | 1 worker (ms) | 2 workers (ms) | speed-up | bound |");
    println!("|--------|----------------------------|-------|---------------|----------------|----------|-------|");
    for (key, set, datas, feed) in [
        ("pool-mixed", "mixed", &mixed, Feed::BytesColdPool),
        ("pool-mixed", "mixed", &mixed, Feed::FilesWarmPool),
        ("pool-office", "office", &office, Feed::FilesWarmPool),
    ] {
        if !(wanted("pool") || wanted(key)) {
            continue;
        }
        let fed = match feed {
            Feed::BytesColdPool => "bytes, new pool (as before)",
            Feed::FilesWarmPool => "paths, running pool",
        };
        let times = single_times(datas);
        for n in [8, 16, 32, 256] {
            let (one, two) = pool_pair(datas, n, feed);
            println!(
                "| {set:<6} | {fed:<26} | {n:>5} | {:>13.2} | {:>14.2} | {:>7.2}× | {:>4.2}× |",
                one.as_secs_f64() * 1e3,
                two.as_secs_f64() * 1e3,
                one.as_secs_f64() / two.as_secs_f64(),
                two_worker_bound(&times, n)
            );
        }
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
