//! Spreadsheet numbers shown as Excel shows them: the cell's number format applied
//! (built-in ids and custom codes), `General` with at most 15 significant digits.
//!
//! Shared by xlsx (`styles.xml`: `numFmts` + `cellXfs`) and xls (`FORMAT` + `XF` records),
//! so both readers give the same text for the same cell.
//!
//! Format codes: up to four sections separated by `;` (positive, negative, zero, text);
//! date and time tokens (`y m d h s`, `AM/PM`, `A/P`, elapsed `[h] [mm] [ss]`, fractional
//! seconds, Korean weekday names `aaa`/`aaaa`); digit placeholders `0 # ?`, the decimal
//! point, thousands separators and scaling commas, `%`, scientific `E+`/`E-`; literal text
//! in quotes, after `\`, and the characters that stand for themselves; `_x` (a space) and
//! `*x` (fill, dropped). Bracketed colours, conditions and `[$-412]` locale tags are
//! skipped (a Korean locale tag makes `AM/PM` read 오전/오후). Fractions (`# ?/?`) are
//! shown as General.
//!
//! Locale-dependent built-in formats are shown the way Korean Excel shows them: short
//! dates (id 14) as `yyyy-mm-dd`, ids 27–36 and 50–58 as the Korean date forms.

use std::fmt::Write as _;

/// The format code of a built-in number format id, `None` for an unknown id (shown as
/// General).
pub(crate) fn builtin(id: u32) -> Option<&'static str> {
    Some(match id {
        0 => "General",
        1 => "0",
        2 => "0.00",
        3 => "#,##0",
        4 => "#,##0.00",
        5 => "\"₩\"#,##0;\\-\"₩\"#,##0",
        6 => "\"₩\"#,##0;[Red]\\-\"₩\"#,##0",
        7 => "\"₩\"#,##0.00;\\-\"₩\"#,##0.00",
        8 => "\"₩\"#,##0.00;[Red]\\-\"₩\"#,##0.00",
        9 => "0%",
        10 => "0.00%",
        11 => "0.00E+00",
        12 => "# ?/?",
        13 => "# ??/??",
        // Locale short date: Korean Excel shows 2024-03-01.
        14 => "yyyy-mm-dd",
        15 => "d-mmm-yy",
        16 => "d-mmm",
        17 => "mmm-yy",
        18 => "h:mm AM/PM",
        19 => "h:mm:ss AM/PM",
        20 => "h:mm",
        21 => "h:mm:ss",
        22 => "yyyy-mm-dd h:mm",
        27 | 31 | 36 | 50 | 55 => "yyyy\"년\" m\"월\" d\"일\"",
        28 | 29 | 51 | 56 => "m\"월\" d\"일\"",
        30 => "mm-dd-yy",
        32 => "h\"시\" mm\"분\"",
        33 => "h\"시\" mm\"분\" ss\"초\"",
        34 | 52 | 57 => "yyyy-mm-dd",
        35 | 53 | 58 => "yyyy\"년\" m\"월\"",
        54 => "m\"월\" d\"일\" aaaa",
        37 => "#,##0 ;(#,##0)",
        38 => "#,##0 ;[Red](#,##0)",
        39 => "#,##0.00;(#,##0.00)",
        40 => "#,##0.00;[Red](#,##0.00)",
        41 => "_-* #,##0_-;\\-* #,##0_-;_-* \"-\"_-;_-@_-",
        42 => "_-\"₩\"* #,##0_-;\\-\"₩\"* #,##0_-;_-\"₩\"* \"-\"_-;_-@_-",
        43 => "_-* #,##0.00_-;\\-* #,##0.00_-;_-* \"-\"??_-;_-@_-",
        44 => "_-\"₩\"* #,##0.00_-;\\-\"₩\"* #,##0.00_-;_-\"₩\"* \"-\"??_-;_-@_-",
        45 => "mm:ss",
        46 => "[h]:mm:ss",
        47 => "mm:ss.0",
        48 => "##0.0E+0",
        49 => "@",
        _ => return None,
    })
}

/// A number as Excel's General format shows it: at most 15 significant digits, no
/// trailing zeros, scientific notation for very large or very small magnitudes.
pub(crate) fn general(v: f64) -> String {
    if !v.is_finite() {
        return "#NUM!".to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    // Fast paths: integers, and numbers whose shortest form has at most 15 digits (then
    // it is also their 15-digit rounding).
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return (v as i64).to_string();
    }
    if (1e-5..1e15).contains(&v.abs()) {
        let s = v.to_string();
        if s.bytes().filter(u8::is_ascii_digit).skip_while(|&d| d == b'0').count() <= 15 {
            return s;
        }
    }
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    let a = v.abs();
    let (digits, exp) = sig15(a);
    if !(-10..15).contains(&exp) {
        // d.dddE+xx
        let mut mant: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        while mant.len() > 1 && mant.ends_with('0') {
            mant.pop();
        }
        out.push_str(&mant[..1]);
        if mant.len() > 1 {
            out.push('.');
            out.push_str(&mant[1..]);
        }
        let _ = write!(out, "E{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        return out;
    }
    let (int, frac) = fixed(a, 15);
    out.push_str(&int);
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// The 15 significant digits of a positive finite number and its decimal exponent
/// (`a = d.ddd… × 10^exp`).
fn sig15(a: f64) -> (Vec<u8>, i32) {
    let s = format!("{a:.14e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits = mant.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    (digits, exp.parse().unwrap_or(0))
}

/// A non-negative number rounded (half away from zero, on its 15 significant digits, as
/// Excel does) to `decimals` places: the integer digits (at least "0") and exactly
/// `decimals` fraction digits.
fn fixed(a: f64, decimals: usize) -> (String, String) {
    if a == 0.0 || !a.is_finite() {
        return ("0".to_string(), "0".repeat(decimals));
    }
    let (mut digits, exp) = sig15(a);
    // Position of the decimal point in `digits`.
    let mut point = i64::from(exp) + 1;
    let keep = point + decimals as i64;
    if keep < 0 {
        return ("0".to_string(), "0".repeat(decimals));
    }
    let keep = keep as usize;
    if keep < digits.len() {
        let round_up = digits[keep] >= 5;
        digits.truncate(keep);
        if round_up {
            let mut i = keep;
            loop {
                if i == 0 {
                    digits.insert(0, 1);
                    point += 1;
                    break;
                }
                i -= 1;
                if digits[i] == 9 {
                    digits[i] = 0;
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    }
    let digit = |i: i64| -> char {
        if i < 0 {
            '0'
        } else {
            digits.get(i as usize).map_or('0', |d| char::from(b'0' + d))
        }
    };
    let mut int: String = (0..point.max(0)).map(digit).collect();
    let trimmed = int.trim_start_matches('0').len();
    int.drain(..int.len() - trimmed);
    if int.is_empty() {
        int.push('0');
    }
    let frac: String = (point..point + decimals as i64).map(digit).collect();
    (int, frac)
}

/// One piece of a format section.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    /// A date/time token: the letter (`y m d h s a`, `M` for minutes, `P` for AM/PM,
    /// `p` for A/P) and its length.
    Date(char, usize),
    /// Elapsed time `[h]`, `[m]`, `[s]`.
    Elapsed(char),
    /// Fractional seconds: `.0`, `.00`, `.000`.
    SubSec(usize),
    /// Digit placeholder `0`, `#` or `?`.
    Digit(char),
    Point,
    Comma,
    Percent,
    /// `E+` (true) or `E-`.
    Exp(bool),
    /// `@`: the text itself.
    Text,
    General,
}

struct Section {
    toks: Vec<Tok>,
    korean: bool,
    has_date: bool,
}

/// Splits a code into its sections (`;` outside quotes, escapes and brackets).
fn split_sections(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut bracket, mut escape) = (0, false, false, false);
    for (i, c) in code.char_indices() {
        if escape {
            escape = false;
            continue;
        }
        match c {
            '\\' if !quoted => escape = true,
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            ';' if !quoted && !bracket => {
                out.push(&code[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&code[start..]);
    out
}

fn parse_section(s: &str) -> Section {
    let mut toks: Vec<Tok> = Vec::new();
    let mut korean = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let lit = |toks: &mut Vec<Tok>, s: &str| match toks.last_mut() {
        Some(Tok::Lit(l)) => l.push_str(s),
        _ => toks.push(Tok::Lit(s.to_string())),
    };
    while i < chars.len() {
        let c = chars[i];
        let run = |ch: char| chars[i..].iter().take_while(|&&x| x.eq_ignore_ascii_case(&ch)).count();
        match c {
            '"' => {
                let end = chars[i + 1..].iter().position(|&x| x == '"').map_or(chars.len(), |p| i + 1 + p);
                let text: String = chars[i + 1..end.min(chars.len())].iter().collect();
                lit(&mut toks, &text);
                i = end + 1;
            }
            '\\' => {
                if let Some(&n) = chars.get(i + 1) {
                    lit(&mut toks, &n.to_string());
                }
                i += 2;
            }
            '_' => {
                lit(&mut toks, " ");
                i += 2;
            }
            '*' => i += 2,
            '[' => {
                let end = chars[i + 1..].iter().position(|&x| x == ']').map_or(chars.len(), |p| i + 1 + p);
                let inner: String = chars[i + 1..end.min(chars.len())].iter().collect();
                let lower = inner.to_ascii_lowercase();
                if let Some(first) = lower.chars().next()
                    && matches!(first, 'h' | 'm' | 's')
                    && lower.chars().all(|c| c == first)
                {
                    toks.push(Tok::Elapsed(first));
                } else if let Some(loc) = lower.strip_prefix("$-") {
                    // LCID 0x412 is Korean (the low 16 bits of the tag's hex number).
                    let hex = loc.trim_start_matches('0');
                    if hex.ends_with("412") || lower.contains("ko") {
                        korean = true;
                    }
                } else if let Some(cur) = inner.strip_prefix('$') {
                    // [$₩-412]: a currency symbol.
                    let sym = cur.split('-').next().unwrap_or("");
                    lit(&mut toks, sym);
                }
                i = end + 1;
            }
            _ if s[s.char_indices().nth(i).map_or(s.len(), |(b, _)| b)..].to_ascii_lowercase().starts_with("general") => {
                toks.push(Tok::General);
                i += 7;
            }
            _ if chars[i..].iter().take(5).collect::<String>().eq_ignore_ascii_case("am/pm") => {
                toks.push(Tok::Date('P', 5));
                i += 5;
            }
            _ if chars[i..].iter().take(3).collect::<String>().eq_ignore_ascii_case("a/p") => {
                toks.push(Tok::Date('p', 3));
                i += 3;
            }
            'y' | 'Y' | 'd' | 'D' | 'h' | 'H' | 's' | 'S' | 'm' | 'M' | 'a' | 'A' | 'e' | 'E'
                if !(matches!(c, 'e' | 'E') && matches!(chars.get(i + 1), Some('+') | Some('-'))) =>
            {
                let n = run(c);
                let letter = match c.to_ascii_lowercase() {
                    'e' => 'y',
                    other => other,
                };
                if letter == 'a' && n < 3 {
                    lit(&mut toks, &chars[i..i + n].iter().collect::<String>());
                } else {
                    toks.push(Tok::Date(letter, n));
                }
                i += n;
            }
            'E' | 'e' => {
                toks.push(Tok::Exp(chars.get(i + 1) == Some(&'+')));
                i += 2;
            }
            '0' | '#' | '?' => {
                // ".0" right after seconds is fractional seconds.
                let after_secs = matches!(toks.last(), Some(Tok::Point))
                    && matches!(toks.iter().rev().nth(1), Some(Tok::Date('s', _)) | Some(Tok::Elapsed('s')));
                if after_secs && c == '0' {
                    toks.pop();
                    let n = run('0');
                    toks.push(Tok::SubSec(n));
                    i += n;
                } else {
                    toks.push(Tok::Digit(c));
                    i += 1;
                }
            }
            '.' => {
                toks.push(Tok::Point);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '%' => {
                toks.push(Tok::Percent);
                i += 1;
            }
            '@' => {
                toks.push(Tok::Text);
                i += 1;
            }
            other => {
                lit(&mut toks, &other.to_string());
                i += 1;
            }
        }
    }
    // An `m` is minutes right after hours or right before seconds.
    let idx: Vec<usize> = (0..toks.len()).filter(|&k| matches!(toks[k], Tok::Date(..) | Tok::Elapsed(_))).collect();
    for (j, &k) in idx.iter().enumerate() {
        if let Tok::Date('m', n) = toks[k] {
            let prev = j.checked_sub(1).map(|p| &toks[idx[p]]);
            let next = idx.get(j + 1).map(|&q| &toks[q]);
            let after_h = matches!(prev, Some(Tok::Date('h', _)) | Some(Tok::Elapsed('h')));
            let before_s = matches!(next, Some(Tok::Date('s', _)) | Some(Tok::Elapsed('s')));
            if n <= 2 && (after_h || before_s) {
                toks[k] = Tok::Date('M', n);
            }
        }
    }
    let has_date = toks.iter().any(|t| matches!(t, Tok::Date(..) | Tok::Elapsed(_) | Tok::SubSec(_)));
    Section { toks, korean, has_date }
}

/// A number shown with format `code`; `date1904` selects the workbook's date system.
#[cfg(test)]
pub(crate) fn format(v: f64, code: &str, date1904: bool) -> String {
    NumFmt::parse(code).show(v, date1904)
}

/// The longest format code Excel accepts.
const MAX_CODE_CHARS: usize = 255;

/// A parsed number format, to apply to many cells.
pub(crate) struct NumFmt {
    /// `General` (or empty): no sections.
    sections: Vec<Section>,
}

impl NumFmt {
    pub(crate) fn parse(code: &str) -> Self {
        let code = code.trim();
        // Excel's codes have at most 255 characters; a longer one (from a hostile file,
        // e.g. thousands of `0`s to blow up every cell's text) is shown as General.
        if code.is_empty() || code.eq_ignore_ascii_case("general") || code.chars().count() > MAX_CODE_CHARS {
            return Self { sections: Vec::new() };
        }
        Self { sections: split_sections(code).into_iter().map(parse_section).collect() }
    }

    /// The parsed built-in format `id` (parsed once per process); `None` for an unknown id.
    pub(crate) fn builtin(id: u32) -> Option<&'static NumFmt> {
        static TABLE: std::sync::OnceLock<Vec<Option<NumFmt>>> = std::sync::OnceLock::new();
        let table = TABLE.get_or_init(|| (0..=58).map(|i| builtin(i).map(NumFmt::parse)).collect());
        table.get(usize::try_from(id).ok()?)?.as_ref()
    }

    /// Whether this is General.
    pub(crate) fn is_general(&self) -> bool {
        self.sections.is_empty()
    }

    /// `v` shown with this format; `date1904` selects the workbook's date system.
    pub(crate) fn show(&self, v: f64, date1904: bool) -> String {
        if !v.is_finite() {
            return "#NUM!".to_string();
        }
        let s = &self.sections;
        // Which section, and whether the minus sign is the format's business.
        let (section, signed) = match s.len() {
            0 => return general(v),
            1 => (&s[0], true),
            2..=4 if v < 0.0 => (&s[1], false),
            3 | 4 if v == 0.0 => (&s[2], true),
            _ => (&s[0], true),
        };
        if section.has_date {
            return match format_date(v, section, date1904) {
                Some(s) => s,
                // Dates before 1900 or past 9999 show as ##### in Excel; keep the number.
                None => general(v),
            };
        }
        let negative = v < 0.0 && signed;
        format_number(v.abs(), section, negative)
    }
}

fn format_number(a: f64, s: &Section, negative: bool) -> String {
    let toks = &s.toks;
    if toks.iter().any(|t| matches!(t, Tok::General | Tok::Text)) || (toks.iter().any(|t| matches!(t, Tok::Lit(l) if l.contains('/'))) && toks.iter().any(|t| matches!(t, Tok::Digit(_)))) {
        // General inside a section (or a fraction): the number in General, with the literals.
        let mut out = String::new();
        let mut placed = false;
        for t in toks {
            match t {
                Tok::Lit(l) => out.push_str(l),
                Tok::General | Tok::Text | Tok::Digit(_) if !placed => {
                    if negative {
                        out.push('-');
                    }
                    out.push_str(&general(a));
                    placed = true;
                }
                _ => {}
            }
        }
        if !placed {
            out.insert_str(0, &general(if negative { -a } else { a }));
        }
        return out;
    }
    let first_digit = toks.iter().position(|t| matches!(t, Tok::Digit(_)));
    let Some(first) = first_digit else {
        // No digits: literals only (e.g. a zero section "-"), percent still scales nothing.
        let mut out = String::new();
        if negative {
            out.push('-');
        }
        for t in toks {
            match t {
                Tok::Lit(l) => out.push_str(l),
                Tok::Percent => out.push('%'),
                _ => {}
            }
        }
        return out;
    };
    let last_digit = toks.iter().rposition(|t| matches!(t, Tok::Digit(_))).unwrap_or(first);
    let exp_at = toks.iter().position(|t| matches!(t, Tok::Exp(_)));
    let point_at = toks[first..=last_digit].iter().position(|t| matches!(t, Tok::Point)).map(|p| p + first)
        .filter(|&p| exp_at.is_none_or(|e| p < e));
    let mant_end = exp_at.unwrap_or(last_digit + 1);
    let int_end = point_at.unwrap_or(mant_end);
    // Placeholders of the integer and fraction parts.
    let int_ph: Vec<(usize, char)> = (first..int_end).filter_map(|k| match toks[k] { Tok::Digit(c) => Some((k, c)), _ => None }).collect();
    let frac_ph: Vec<char> = point_at.map_or(Vec::new(), |p| (p + 1..mant_end).filter_map(|k| match toks[k] { Tok::Digit(c) => Some(c), _ => None }).collect());
    let thousands = (first..int_end).any(|k| matches!(toks[k], Tok::Comma) && k > first && k + 1 < int_end);
    // Commas right after the last digit placeholder of the mantissa scale by 1000 each.
    let mant_last = toks[..mant_end].iter().rposition(|t| matches!(t, Tok::Digit(_))).unwrap_or(first);
    let scale_commas = toks[mant_last + 1..].iter().take_while(|t| matches!(t, Tok::Comma)).count();
    let percents = toks.iter().filter(|t| matches!(t, Tok::Percent)).count();
    let mut x = a * 100f64.powi(percents as i32) / 1000f64.powi(scale_commas as i32);
    let mut exp_val = 0i32;
    if exp_at.is_some() && x != 0.0 {
        // Mantissa with as many integer digits as placeholders (engineering forms like
        // ##0.0E+0 make the exponent a multiple of that count).
        let n = int_ph.len().max(1) as i32;
        let e = x.log10().floor() as i32;
        exp_val = if n > 1 { e.div_euclid(n) * n } else { e };
        x /= 10f64.powi(exp_val);
        // Rounding may carry into another digit (9.99 → 10.0).
        let (i, _) = fixed(x, frac_ph.len());
        if i.len() as i32 > n && n == 1 {
            exp_val += 1;
            x /= 10.0;
        }
    }
    let (int_digits, frac_digits) = fixed(x, frac_ph.len());
    let int_digits = if int_digits == "0" { String::new() } else { int_digits };
    // Integer part: digits right to left into the placeholders; extra digits go with the
    // leftmost one.
    let mut int_text = String::new();
    {
        let digits: Vec<char> = int_digits.chars().collect();
        let mut d = digits.len();
        let mut pieces: Vec<String> = Vec::new();
        let mut literal_between: Vec<String> = Vec::new();
        for (n, &(k, ph)) in int_ph.iter().enumerate().rev() {
            let mut piece = String::new();
            if d > 0 {
                if n == 0 {
                    piece = digits[..d].iter().collect();
                    d = 0;
                } else {
                    d -= 1;
                    piece.push(digits[d]);
                }
            } else {
                match ph {
                    '0' => piece.push('0'),
                    '?' => piece.push(' '),
                    _ => {}
                }
            }
            pieces.push(piece);
            // Literals between this placeholder and the previous one.
            let prev = if n == 0 { first } else { int_ph[n - 1].0 + 1 };
            let lits: String = toks[prev..k].iter().filter_map(|t| match t { Tok::Lit(l) => Some(l.as_str()), _ => None }).collect();
            literal_between.push(lits);
        }
        for (piece, lits) in pieces.iter().zip(&literal_between).rev() {
            int_text.push_str(lits);
            int_text.push_str(piece);
        }
        if thousands {
            int_text = group_thousands(&int_text);
        }
    }
    // Fraction part: '0' always, '#' trailing zeros dropped, '?' trailing zeros as spaces.
    let mut frac_text: Vec<char> = frac_digits.chars().collect();
    for k in (0..frac_text.len()).rev() {
        if frac_text[k] != '0' {
            break;
        }
        match frac_ph.get(k) {
            Some('#') => {
                frac_text.pop();
            }
            Some('?') => frac_text[k] = ' ',
            _ => break,
        }
    }
    let mut out = String::new();
    if negative && (!int_digits.is_empty() || frac_digits.chars().any(|c| c != '0')) {
        out.push('-');
    }
    for t in &toks[..first] {
        match t {
            Tok::Lit(l) => out.push_str(l),
            Tok::Percent => out.push('%'),
            _ => {}
        }
    }
    out.push_str(&int_text);
    if point_at.is_some() {
        out.push('.');
        out.extend(frac_text);
    }
    let tail_from = match exp_at {
        Some(e) => {
            if let Tok::Exp(plus) = toks[e] {
                out.push('E');
                if exp_val < 0 {
                    out.push('-');
                } else if plus {
                    out.push('+');
                }
                let width = toks[e + 1..].iter().take_while(|t| matches!(t, Tok::Digit(_))).count().max(1);
                let _ = write!(out, "{:0width$}", exp_val.abs());
                e + 1 + toks[e + 1..].iter().take_while(|t| matches!(t, Tok::Digit(_))).count()
            } else {
                last_digit + 1
            }
        }
        None => last_digit + 1,
    };
    for t in &toks[tail_from..] {
        match t {
            Tok::Lit(l) => out.push_str(l),
            Tok::Percent => out.push('%'),
            _ => {}
        }
    }
    out
}

fn group_thousands(int_text: &str) -> String {
    let digits: Vec<char> = int_text.chars().collect();
    // Group only the digit run at the end (leading literals, if any, are kept as they are).
    let start = digits.iter().rposition(|c| !c.is_ascii_digit()).map_or(0, |p| p + 1);
    let mut out: String = digits[..start].iter().collect();
    let run = &digits[start..];
    for (k, c) in run.iter().enumerate() {
        if k > 0 && (run.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    out
}

const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const DAYS_KO: [&str; 7] = ["일", "월", "화", "수", "목", "금", "토"];

/// Year, month, day, weekday (0 = Sunday) of a serial day; `None` outside Excel's range.
fn civil(days: i64, date1904: bool) -> Option<(i64, u32, u32, usize)> {
    if date1904 {
        let unix = days - 24_107;
        let (y, m, d) = civil_from_days(unix);
        return Some((y, m, d, (unix + 4).rem_euclid(7) as usize));
    }
    // Excel's 1900 system: serial 1 is 1900-01-01 and serial 60 the 29 February 1900
    // that never was (Lotus compatibility), so later serials are one day ahead.
    match days {
        0 => Some((1900, 1, 0, 6)),
        60 => Some((1900, 2, 29, 3)),
        _ => {
            let unix = if days > 60 { days - 25_569 } else { days - 25_568 };
            let (y, m, d) = civil_from_days(unix);
            Some((y, m, d, (unix + 4).rem_euclid(7) as usize))
        }
    }
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

fn format_date(v: f64, s: &Section, date1904: bool) -> Option<String> {
    if !(0.0..2_958_466.0).contains(&v) {
        return None;
    }
    let toks = &s.toks;
    // Round to the precision shown: milliseconds when fractional seconds are, else seconds.
    let sub = toks.iter().find_map(|t| match t { Tok::SubSec(n) => Some(*n), _ => None }).unwrap_or(0).min(3);
    let unit = 10i64.pow(sub as u32);
    let total = (v * 86_400.0 * unit as f64).round() as i64;
    let days = total.div_euclid(86_400 * unit);
    let in_day = total.rem_euclid(86_400 * unit);
    let (secs, frac) = (in_day / unit, in_day % unit);
    let (y, mo, d, wd) = civil(days, date1904)?;
    let (h, mi, se) = (secs / 3600, secs / 60 % 60, secs % 60);
    let twelve = toks.iter().any(|t| matches!(t, Tok::Date('P' | 'p', _)));
    let mut out = String::new();
    for t in toks {
        match *t {
            Tok::Lit(ref l) => out.push_str(l),
            Tok::Date('y', n) => {
                let _ = if n <= 2 { write!(out, "{:02}", y.rem_euclid(100)) } else { write!(out, "{y:04}") };
            }
            Tok::Date('m', n) => {
                let name = MONTHS[(mo as usize).saturating_sub(1).min(11)];
                let _ = match n {
                    1 => write!(out, "{mo}"),
                    2 => write!(out, "{mo:02}"),
                    3 => write!(out, "{}", &name[..3]),
                    5 => write!(out, "{}", &name[..1]),
                    _ => write!(out, "{name}"),
                };
            }
            Tok::Date('d', n) => {
                let _ = match n {
                    1 => write!(out, "{d}"),
                    2 => write!(out, "{d:02}"),
                    3 if s.korean => write!(out, "{}", DAYS_KO[wd]),
                    3 => write!(out, "{}", &DAYS[wd][..3]),
                    _ if s.korean => write!(out, "{}요일", DAYS_KO[wd]),
                    _ => write!(out, "{}", DAYS[wd]),
                };
            }
            Tok::Date('a', n) => {
                let _ = if n == 3 { write!(out, "{}", DAYS_KO[wd]) } else { write!(out, "{}요일", DAYS_KO[wd]) };
            }
            Tok::Date('h', n) => {
                let hh = if twelve { (h + 11) % 12 + 1 } else { h };
                let _ = if n >= 2 { write!(out, "{hh:02}") } else { write!(out, "{hh}") };
            }
            Tok::Date('M', n) => {
                let _ = if n >= 2 { write!(out, "{mi:02}") } else { write!(out, "{mi}") };
            }
            Tok::Date('s', n) => {
                let _ = if n >= 2 { write!(out, "{se:02}") } else { write!(out, "{se}") };
            }
            Tok::Date('P', _) => out.push_str(match (h < 12, s.korean) {
                (true, true) => "오전",
                (false, true) => "오후",
                (true, false) => "AM",
                (false, false) => "PM",
            }),
            Tok::Date('p', _) => out.push(if h < 12 { 'A' } else { 'P' }),
            Tok::Elapsed(c) => {
                let all = days * 86_400 + secs;
                let _ = match c {
                    'h' => write!(out, "{}", all / 3600),
                    'm' => write!(out, "{}", all / 60),
                    _ => write!(out, "{all}"),
                };
            }
            Tok::SubSec(n) => {
                let digits = format!("{frac:0sub$}");
                out.push('.');
                out.push_str(&digits[..n.min(digits.len())]);
            }
            Tok::Point => out.push('.'),
            Tok::Comma => out.push(','),
            Tok::Percent => out.push('%'),
            Tok::Digit('0') => out.push('0'),
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values as Excel (Korean locale) displays them with each format.
    const TABLE: &[(f64, &str, &str)] = &[
        (0.1 + 0.2, "General", "0.3"),
        (45352.0, "General", "45352"),
        (1234567.891, "General", "1234567.891"),
        (-0.5, "General", "-0.5"),
        (1e20, "General", "1E+20"),
        (123456789012345678.0, "General", "1.23456789012346E+17"),
        (0.000000000012, "General", "1.2E-11"),
        (1.0 / 3.0, "General", "0.333333333333333"),
        (3.0, "0", "3"),
        (2.5, "0", "3"),
        (-2.5, "0", "-3"),
        (0.30000000000000004, "0.00", "0.30"),
        (2.675, "0.00", "2.68"),
        (1234567.891, "#,##0", "1,234,568"),
        (1234567.891, "#,##0.00", "1,234,567.89"),
        (-1234.5, "#,##0.00", "-1,234.50"),
        (0.85, "0%", "85%"),
        (0.8567, "0.00%", "85.67%"),
        (12345.678, "0.00E+00", "1.23E+04"),
        (0.00012, "0.00E+00", "1.20E-04"),
        (12345.0, "##0.0E+0", "12.3E+3"),
        (1234.5, "#,##0 ;(#,##0)", "1,235 "),
        (-1234.5, "#,##0 ;(#,##0)", "(1,235)"),
        (-5.0, "#,##0.00;[Red](#,##0.00)", "(5.00)"),
        (0.0, "0.00;-0.00;\"zero\"", "zero"),
        (5.0, "[Blue]0.0\" pts\"", "5.0 pts"),
        (0.5, "#.##", ".5"),
        (10.0, "#.##", "10."),
        (1.5, "0.0#", "1.5"),
        (1.25, "0.0#", "1.25"),
        (1234.0, "0,", "1"),
        (1234567.0, "#,##0.0,,\"M\"", "1.2M"),
        (5551234.0, "000-0000", "555-1234"),
        (42.0, "\"점수: \"0\"점\"", "점수: 42점"),
        (1000.0, "[$₩-412]#,##0", "₩1,000"),
        (1000.0, "\"₩\"#,##0", "₩1,000"),
        (45352.0, "yyyy-mm-dd", "2024-03-01"),
        (45352.0, "m/d/yyyy", "3/1/2024"),
        (45352.0, "d-mmm-yy", "1-Mar-24"),
        (45352.0, "mmmm d, yyyy", "March 1, 2024"),
        (45352.0, "dddd", "Friday"),
        (45352.0, "yyyy\"년\" m\"월\" d\"일\"", "2024년 3월 1일"),
        (45352.0, "[$-412]yyyy\"년\" mm\"월\" dd\"일\" aaaa", "2024년 03월 01일 금요일"),
        (45352.0, "[$-ko-KR]ddd", "금"),
        (45352.75, "yyyy-mm-dd h:mm", "2024-03-01 18:00"),
        (45352.75, "h:mm AM/PM", "6:00 PM"),
        (45352.25, "[$-412]AM/PM h:mm", "오전 6:00"),
        (0.5, "h:mm:ss", "12:00:00"),
        (0.000_694_444_444_444_444, "mm:ss", "01:00"),
        (1.5, "[h]:mm:ss", "36:00:00"),
        (0.5000058, "hh:mm:ss.0", "12:00:00.5"),
        (45352.0, "mmm-yy", "Mar-24"),
        (45352.0, "mmmmm", "M"),
        (1.0, "yyyy-mm-dd", "1900-01-01"),
        (60.0, "yyyy-mm-dd", "1900-02-29"),
        (61.0, "yyyy-mm-dd", "1900-03-01"),
        (-1.0, "yyyy-mm-dd", "-1"),
        (1234.5, "@", "1234.5"),
        (7.0, "0_);(0)", "7 "),
    ];

    #[test]
    fn excel_display_table() {
        let mut bad = Vec::new();
        for &(v, code, want) in TABLE {
            let got = format(v, code, false);
            if got != want {
                bad.push(format!("{v} with {code:?}: got {got:?}, Excel shows {want:?}"));
            }
        }
        assert!(bad.is_empty(), "{} of {} wrong:\n{}", bad.len(), TABLE.len(), bad.join("\n"));
    }

    /// Every code of up to three characters from the format alphabet, on awkward values:
    /// no panic, whatever a file holds.
    #[test]
    fn any_code_formats_without_panicking() {
        let alphabet: Vec<char> = "0#?.,%E+-\"\\_*[]$;@/ymdhsAP: h".chars().collect();
        let values = [0.0, -1.5, 45_352.75, 1e20, -1e-20, 0.999_999_9, 2_958_466.0, f64::NAN];
        let mut code = String::new();
        let n = alphabet.len();
        for k in 0..(n * n * n + n * n + n) {
            code.clear();
            let mut x = k;
            loop {
                code.push(alphabet[x % n]);
                if x < n {
                    break;
                }
                x = x / n - 1;
            }
            let fmt = NumFmt::parse(&code);
            for v in values {
                let _ = fmt.show(v, false);
            }
        }
        assert_eq!(format(0.5, &"0".repeat(300), false), "0.5", "an overlong code is General");
        for code in ["[h]:mm:ss.000", "[$-412]AM/PM", "0.0E+", "E+00", "#,##0.00,,,", "[Red][>100]0", "\"unterminated", "[unterminated", "0.0;;;;;", "yyyy\\"] {
            for v in values {
                let _ = format(v, code, true);
            }
        }
    }

    #[test]
    fn builtin_formats_and_date1904() {
        let by_id = |v: f64, id: u32| NumFmt::builtin(id).map_or_else(|| general(v), |f| f.show(v, false));
        assert_eq!(by_id(45352.0, 14), "2024-03-01");
        assert_eq!(by_id(0.85, 9), "85%");
        assert_eq!(by_id(0.8567, 10), "85.67%");
        assert_eq!(by_id(1234.5, 2), "1234.50");
        assert_eq!(by_id(1234.5, 3), "1,235");
        assert_eq!(by_id(1234.5, 4), "1,234.50");
        assert_eq!(by_id(45352.5, 22), "2024-03-01 12:00");
        assert_eq!(by_id(0.75, 18), "6:00 PM");
        assert_eq!(by_id(0.75, 21), "18:00:00");
        assert_eq!(by_id(2.0, 46), "48:00:00");
        assert_eq!(by_id(45352.0, 27), "2024년 3월 1일");
        assert_eq!(by_id(0.1 + 0.2, 0), "0.3");
        assert_eq!(by_id(0.1 + 0.2, 999), "0.3");
        // The 1904 system: serial 0 is 1904-01-01.
        assert_eq!(format(0.0, "yyyy-mm-dd", true), "1904-01-01");
        assert_eq!(format(43890.0, "yyyy-mm-dd", true), "2024-03-01");
    }
}
