//! The bundled Hangul font (NanumGothic, SIL Open Font License 1.1 — see
//! `assets/fonts/OFL.txt`) installed into egui, so Korean renders on every screen whatever
//! fonts the machine has.

use std::sync::Arc;

use bevy_egui::egui;

/// NanumGothic Regular, compiled into the binary.
pub const NANUM_GOTHIC: &[u8] = include_bytes!("../../assets/fonts/NanumGothic.ttf");

const NANUM: &str = "NanumGothic";

/// egui's font definitions with NanumGothic first for text (Latin and Hangul) and as a
/// fallback for monospace; egui's own fonts stay behind it for symbols and emoji.
pub fn font_definitions() -> egui::FontDefinitions {
    let mut fonts = egui::FontDefinitions::default();
    fonts
        .font_data
        .insert(NANUM.to_owned(), Arc::new(egui::FontData::from_static(NANUM_GOTHIC)));
    fonts.families.entry(egui::FontFamily::Proportional).or_default().insert(0, NANUM.to_owned());
    fonts.families.entry(egui::FontFamily::Monospace).or_default().push(NANUM.to_owned());
    fonts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanum_covers_hangul_and_comes_first() {
        // A TrueType file: the sfnt version tag.
        assert_eq!(&NANUM_GOTHIC[..4], &[0, 1, 0, 0]);
        let defs = font_definitions();
        let prop = &defs.families[&egui::FontFamily::Proportional];
        assert_eq!(prop.first().map(String::as_str), Some(NANUM));
        // Every Hangul glyph must be found (no replacement glyph = no tofu on screen); egui's
        // own fonts alone have none, so the check would catch a font that failed to install.
        let text = "방 만들기 포즈파티 결과";
        assert!(missing_glyphs(egui::FontDefinitions::default(), text).len() > 5);
        assert_eq!(missing_glyphs(defs, text), Vec::<char>::new());
    }

    fn missing_glyphs(defs: egui::FontDefinitions, text: &str) -> Vec<char> {
        let ctx = egui::Context::default();
        ctx.set_fonts(defs);
        let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
        output.textures_delta.clear();
        let font_id = egui::FontId::proportional(20.0);
        ctx.fonts_mut(|f| text.chars().filter(|c| !c.is_whitespace() && !f.has_glyph(&font_id, *c)).collect())
    }
}
