//! Player names: normalization, what is refused, and look-alike detection within a room.
//!
//! - A name is trimmed and NFC-normalized (so `é` typed two ways is one name).
//! - Control (Cc), format (Cf: zero-width characters, the BOM, bidi overrides and
//!   isolates), line/paragraph separators, private-use, surrogate and unassigned code points
//!   are refused, as are more than [`MAX_MARKS_PER_CLUSTER`] combining marks on one letter.
//! - The length counts grapheme clusters (`👍🏽` or `각` is one), at most
//!   [`MAX_NAME_CHARS`], and at most [`MAX_NAME_BYTES`] bytes.
//! - [`skeleton`] folds a name to what it looks like (NFKC, lower case, common Cyrillic/Greek
//!   look-alikes, no spaces): two different names with the same skeleton in one room are
//!   confusable, and the second is refused.

use shared::protocol::signal::MAX_NAME_CHARS;
use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::UnicodeNormalization as _;
use unicode_segmentation::UnicodeSegmentation as _;

/// Most bytes of a name (after normalization).
pub const MAX_NAME_BYTES: usize = 96;
/// Most combining marks stacked on one base character.
pub const MAX_MARKS_PER_CLUSTER: usize = 3;

/// Trims, normalizes and checks a name; the error says what to change.
pub fn normalize(name: &str) -> Result<String, String> {
    let name: String = name.trim().nfc().collect();
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err("the name is empty — type a name".into());
    }
    for c in name.chars() {
        if let Some(what) = refused(c) {
            return Err(format!("the name contains {what} (U+{:04X}) — use letters, digits and spaces", u32::from(c)));
        }
    }
    let clusters = name.graphemes(true).count();
    if clusters > MAX_NAME_CHARS {
        return Err(format!("the name has {clusters} characters; at most {MAX_NAME_CHARS} are allowed"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!("the name is {} bytes long; at most {MAX_NAME_BYTES} are allowed", name.len()));
    }
    for g in name.graphemes(true) {
        let marks = g.chars().filter(|c| is_mark(*c)).count();
        if marks > MAX_MARKS_PER_CLUSTER {
            return Err(format!("a letter of the name carries {marks} accents; at most {MAX_MARKS_PER_CLUSTER}"));
        }
    }
    Ok(name)
}

fn is_mark(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark
    )
}

/// Why a character is refused in a name, or `None` when it is fine.
fn refused(c: char) -> Option<&'static str> {
    use GeneralCategory as G;
    match get_general_category(c) {
        G::Control => Some("a control character"),
        // Zero-width space/joiners, the BOM, bidi marks, overrides and isolates.
        G::Format => Some("an invisible formatting character"),
        G::LineSeparator | G::ParagraphSeparator => Some("a line break"),
        G::PrivateUse => Some("a private-use character"),
        G::Surrogate | G::Unassigned => Some("an unassigned character"),
        G::SpaceSeparator if c != ' ' => Some("an unusual space"),
        _ => None,
    }
}

/// What a name looks like: NFKC (fullwidth → ASCII, ligatures split), lower case, common
/// look-alike letters folded to Latin, spaces and joiners dropped.
pub fn skeleton(name: &str) -> String {
    name.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.' | '·'))
        .map(fold_lookalike)
        .collect()
}

fn fold_lookalike(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        // Digits and letters that read alike
        '0' => 'o',
        '1' | 'l' | '|' => 'i',
        '5' => 's',
        other => other,
    }
}

/// The name a newcomer gets in a room whose members are named `taken`: the same name when
/// free, `name (2)`, `name (3)`, … when someone has exactly that name, or `Err` when it is
/// confusable with (looks like, but is not) a member's name.
pub fn name_in_room<'a>(name: &str, taken: impl Iterator<Item = &'a str> + Clone) -> Result<String, String> {
    let confusable = |candidate: &str| {
        let sk = skeleton(candidate);
        taken.clone().find(|t| skeleton(t) == sk && *t != candidate).map(str::to_owned)
    };
    let exists = |candidate: &str| taken.clone().any(|t| t == candidate);
    if let Some(other) = confusable(name) {
        return Err(format!("{name:?} looks too much like {other:?}, who is already in the room — pick another name"));
    }
    if !exists(name) {
        return Ok(name.to_owned());
    }
    // Keep the suffixed name within the length limit.
    let base: String = name.graphemes(true).take(MAX_NAME_CHARS.saturating_sub(4)).collect();
    for n in 2..100 {
        let candidate = format!("{base} ({n})");
        if !exists(&candidate) && confusable(&candidate).is_none() {
            return Ok(candidate);
        }
    }
    Err(format!("too many players are called {name:?} in this room — pick another name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses() {
        assert_eq!(normalize("  민수 ").as_deref(), Ok("민수"));
        // NFD e + combining acute becomes the single NFC character.
        assert_eq!(normalize("Re\u{301}my").as_deref(), Ok("Rémy"));
        for bad in ["a\u{200B}b", "\u{202E}evil", "\u{FEFF}bom", "x\u{2066}y", "a\u{0}b", "a\nb", "\u{E000}", "a\u{2028}b"] {
            assert!(normalize(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize("   ").is_err());
        assert!(normalize(&"가".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(normalize(&"가".repeat(MAX_NAME_CHARS + 1)).is_err());
        // 24 family emoji (one cluster each) are within the cluster count but over the bytes.
        assert!(normalize(&"👨‍👩‍👧".repeat(MAX_NAME_CHARS)).is_err());
        assert!(normalize("👍🏽 Ana").is_ok());
        assert!(normalize("Z\u{301}\u{302}\u{303}\u{304}\u{305}algo").is_err());
    }

    #[test]
    fn lookalikes_share_a_skeleton() {
        assert_eq!(skeleton("Ａｌｉｃｅ"), skeleton("alice"));
        assert_eq!(skeleton("Аlice"), skeleton("Alice")); // Cyrillic А
        assert_eq!(skeleton("B0B"), skeleton("bob"));
        assert_ne!(skeleton("Ana"), skeleton("Anna"));
    }

    #[test]
    fn same_name_gets_a_suffix_and_lookalikes_are_refused() {
        let taken = ["Ana", "Bo"];
        assert_eq!(name_in_room("Cy", taken.iter().copied()).as_deref(), Ok("Cy"));
        assert_eq!(name_in_room("Ana", taken.iter().copied()).as_deref(), Ok("Ana (2)"));
        assert!(name_in_room("Ａｎａ", taken.iter().copied()).is_err());
        assert!(name_in_room("ana", taken.iter().copied()).is_err());
        let taken = ["Ana", "Ana (2)"];
        assert_eq!(name_in_room("Ana", taken.iter().copied()).as_deref(), Ok("Ana (3)"));
    }
}
