//! Delimiter-separated values per RFC 4180: fields separated by a delimiter, records by
//! CRLF, LF or CR; a field in double quotes may hold delimiters, line breaks and doubled
//! quotes (`""`). Like Excel, a quote inside an unquoted field is kept as it is, and text
//! after a closing quote is appended to the field. A quote left open to the end of the
//! file is an error naming the line where it opened (reading on would make the rest of
//! the file one cell).

use crate::error::{Error, Result};
use crate::limits::Ctx;
use crate::model::Format;

/// Delimiters tried, in order of preference when they fit equally well.
const DELIMITERS: [u8; 3] = [b',', b'\t', b';'];
/// Records looked at to choose the delimiter.
const SAMPLE_RECORDS: usize = 64;
/// Columns past this are dropped (as in spreadsheets; Excel's maximum is 16 384).
const MAX_COLS: usize = 16_384;

/// Why a text could not be split into records.
#[derive(Debug)]
pub(crate) enum ParseError {
    /// A quoted field opened on this line (1-based) is never closed.
    Unclosed { line: usize },
    /// The time, cancellation or memory budget ran out.
    Budget(Error),
}

impl ParseError {
    pub(crate) fn into_error(self, format: Format) -> Error {
        match self {
            ParseError::Unclosed { line } => Error::malformed(
                format,
                format!("a quoted field opened on line {line} is never closed (a \" is missing)"),
            ),
            ParseError::Budget(e) => e,
        }
    }
}

impl From<Error> for ParseError {
    fn from(e: Error) -> Self {
        ParseError::Budget(e)
    }
}

/// Splits `text` into at most `max_records` records of fields.
pub(crate) fn parse(text: &str, delim: u8, max_records: usize, ctx: &mut Ctx) -> std::result::Result<Vec<Vec<String>>, ParseError> {
    let b = text.as_bytes();
    let n = b.len();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut i = 0usize;
    let mut line = 1usize;
    // Cells kept count against the per-file budget like inflated bytes: a String each.
    let mut charged = 0u64;
    let cell_cost = std::mem::size_of::<String>() as u64;
    if n == 0 {
        return Ok(rows);
    }
    loop {
        // One field starts at `i`.
        let mut field = String::new();
        if b.get(i) == Some(&b'"') {
            let open_line = line;
            i += 1;
            loop {
                let Some(q) = memchr(b'"', &b[i..]).map(|k| i + k) else {
                    return Err(ParseError::Unclosed { line: open_line });
                };
                let chunk = &text[i..q];
                line += count_breaks(chunk);
                field.push_str(chunk);
                if b.get(q + 1) == Some(&b'"') {
                    field.push('"');
                    i = q + 2;
                } else {
                    i = q + 1;
                    break;
                }
            }
            // Anything between the closing quote and the delimiter is kept (lenient).
            let end = field_end(b, i, delim);
            field.push_str(&text[i..end]);
            i = end;
        } else {
            let end = field_end(b, i, delim);
            field.push_str(&text[i..end]);
            i = end;
        }
        charged += cell_cost + field.len() as u64;
        if row.len() < MAX_COLS {
            row.push(field);
        }
        match b.get(i) {
            Some(&c) if c == delim => {
                i += 1;
                continue;
            }
            Some(b'\r') | Some(b'\n') => {
                i += if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                line += 1;
                // The next row is likely as wide as this one.
                let width = row.len();
                rows.push(std::mem::replace(&mut row, Vec::with_capacity(width)));
                if rows.len().is_multiple_of(4096) {
                    ctx.check()?;
                    ctx.charge(std::mem::take(&mut charged))?;
                }
                if rows.len() >= max_records || i >= n {
                    break;
                }
            }
            _ => {
                rows.push(std::mem::take(&mut row));
                break;
            }
        }
    }
    ctx.charge(charged)?;
    Ok(rows)
}

/// The end of an unquoted stretch: the next delimiter or line break.
fn field_end(b: &[u8], from: usize, delim: u8) -> usize {
    memchr::memchr3(delim, b'\n', b'\r', &b[from..]).map_or(b.len(), |k| from + k)
}

use memchr::memchr;

/// Line breaks in a quoted stretch (CRLF counts once).
fn count_breaks(s: &str) -> usize {
    let b = s.as_bytes();
    b.iter().enumerate().filter(|&(k, &c)| c == b'\n' || (c == b'\r' && b.get(k + 1) != Some(&b'\n'))).count()
}

/// How well `delim` splits the first records: (share of non-blank records that have the
/// most common field count, that count). `None` when it splits nothing.
fn fit(text: &str, delim: u8) -> Option<(f64, usize)> {
    let limits = crate::Limits::default();
    let mut ctx = Ctx::new(&limits, None, None);
    let rows = match parse(text, delim, SAMPLE_RECORDS, &mut ctx) {
        Ok(rows) => rows,
        // A quote never closed: the file is refused when it is read.
        Err(_) => return None,
    };
    let counts: Vec<usize> = rows.iter().filter(|r| !(r.len() == 1 && r[0].trim().is_empty())).map(Vec::len).collect();
    if counts.is_empty() {
        return None;
    }
    let mut best = (0usize, 0usize);
    for &c in &counts {
        let f = counts.iter().filter(|&&x| x == c).count();
        if (f, c) > best {
            best = (f, c);
        }
    }
    let (freq, width) = best;
    (width >= 2).then(|| (freq as f64 / counts.len() as f64, width))
}

/// The delimiter that splits the first records most consistently into two or more
/// fields (then into the most fields); `prefer` (from the file name) wins a tie and is
/// the answer when none splits.
pub(crate) fn detect_delimiter(text: &str, prefer: u8) -> u8 {
    let mut best: Option<((u64, usize, bool), u8)> = None;
    for d in DELIMITERS {
        let Some((share, width)) = fit(text, d) else { continue };
        // Shares compared to 0.1 %, so float noise never decides.
        let key = ((share * 1000.0).round() as u64, width, d == prefer);
        if best.is_none_or(|(k, _)| key > k) {
            best = Some((key, d));
        }
    }
    best.map_or(prefer, |(_, d)| d)
}

/// Excel's optional first line `sep=X`: the text after it and the delimiter it names.
pub(crate) fn sep_line(text: &str) -> (&str, Option<u8>) {
    let Some(rest) = text.strip_prefix("sep=").or_else(|| text.strip_prefix("SEP=")) else { return (text, None) };
    let Some(&d) = rest.as_bytes().first().filter(|d| d.is_ascii()) else { return (text, None) };
    let after = &rest[1..];
    let after = after.strip_prefix("\r\n").or_else(|| after.strip_prefix('\n')).or_else(|| after.strip_prefix('\r'));
    match after {
        Some(body) if d.is_ascii() && d != b'"' && !d.is_ascii_alphanumeric() => (body, Some(d)),
        _ => (text, None),
    }
}

/// A plain-text file that is really a table pasted from a spreadsheet: at least two
/// records, every non-blank one with the same number (two or more) of tab-separated
/// fields. `None` for ordinary text.
pub(crate) fn tab_table(text: &str, ctx: &mut Ctx) -> Result<Option<Vec<Vec<String>>>> {
    if !text.contains('\t') {
        return Ok(None);
    }
    let rows = match parse(text, b'\t', usize::MAX, ctx) {
        Ok(rows) => rows,
        Err(ParseError::Unclosed { .. }) => return Ok(None),
        Err(ParseError::Budget(e)) => return Err(e),
    };
    let mut widths = rows.iter().filter(|r| !(r.len() == 1 && r[0].trim().is_empty())).map(Vec::len);
    let Some(first) = widths.next() else { return Ok(None) };
    let mut count = 1;
    for w in widths {
        if w != first {
            return Ok(None);
        }
        count += 1;
    }
    Ok((first >= 2 && count >= 2).then_some(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn rows(text: &str, delim: u8) -> Vec<Vec<String>> {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        parse(text, delim, usize::MAX, &mut ctx).unwrap()
    }

    fn v(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter().map(|row| row.iter().map(|c| c.to_string()).collect()).collect()
    }

    #[test]
    fn quoting_per_rfc_4180() {
        let text = "a,\"b,1\",\"say \"\"hi\"\"\"\r\n\"multi\nline\",,x\"y\n\"\"\n";
        assert_eq!(rows(text, b','), v(&[&["a", "b,1", "say \"hi\""], &["multi\nline", "", "x\"y"], &[""]]));
        // No final line break; CR-only breaks; text after a closing quote is kept.
        assert_eq!(rows("1;\"a\"b\r2;c", b';'), v(&[&["1", "ab"], &["2", "c"]]));
        assert_eq!(rows("", b','), Vec::<Vec<String>>::new());
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        let err = parse("a,b\nc,\"d\ne,f\n", b',', usize::MAX, &mut ctx).unwrap_err();
        assert!(matches!(err, ParseError::Unclosed { line: 2 }), "{err:?}");
        let msg = err.into_error(Format::Csv).to_string();
        assert!(msg.contains("line 2") && msg.contains("never closed"), "{msg}");
    }

    #[test]
    fn delimiters_are_detected() {
        assert_eq!(detect_delimiter("번호,문제,정답\n1,\"수도는; 어디?\",서울\n", b','), b',');
        assert_eq!(detect_delimiter("번호\t문제, 쉼표\t정답\n1\t수도는, 어디?\t서울\n", b','), b'\t');
        assert_eq!(detect_delimiter("Nr;Frage;Antwort\n1;Hauptstadt, bitte?;Berlin\n", b','), b';');
        // Nothing splits: the name's choice.
        assert_eq!(detect_delimiter("just one column\nof text\n", b'\t'), b'\t');
        // A tie: the name's choice.
        assert_eq!(detect_delimiter("a,b\tc\nd,e\tf\n", b'\t'), b'\t');
        assert_eq!(detect_delimiter("a,b\tc\nd,e\tf\n", b','), b',');
    }

    #[test]
    fn excel_sep_lines_name_the_delimiter() {
        assert_eq!(sep_line("sep=;\r\na;b\n"), ("a;b\n", Some(b';')));
        assert_eq!(sep_line("sep=|\na|b"), ("a|b", Some(b'|')));
        assert_eq!(sep_line("sep=x\n"), ("sep=x\n", None));
        assert_eq!(sep_line("a,b\n"), ("a,b\n", None));
        assert_eq!(sep_line("sep=한\n"), ("sep=한\n", None));
        assert_eq!(sep_line("sep="), ("sep=", None));
    }

    #[test]
    fn tab_tables_in_plain_text() {
        let limits = Limits::default();
        let mut ctx = Ctx::new(&limits, None, None);
        assert_eq!(tab_table("a\tb\n\nc\td\n", &mut ctx).unwrap(), Some(v(&[&["a", "b"], &[""], &["c", "d"]])));
        assert_eq!(tab_table("a\tb\nc\n", &mut ctx).unwrap(), None);
        assert_eq!(tab_table("only\tone line\n", &mut ctx).unwrap(), None);
        assert_eq!(tab_table("no tabs\nat all\n", &mut ctx).unwrap(), None);
    }
}
