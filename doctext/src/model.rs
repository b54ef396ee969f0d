//! The structured result of an extraction.

/// Which file format a document (or an archive entry) was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Docx,
    Xlsx,
    Pptx,
    Doc,
    Xls,
    Ppt,
    Hwp,
    Pdf,
    Zip,
    /// Hangul 2014+ OWPML package (zip).
    Hwpx,
    /// OpenDocument text, spreadsheet and presentation.
    Odt,
    Ods,
    Odp,
    /// Comma- (or semicolon-) separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Docx => "docx",
            Format::Xlsx => "xlsx",
            Format::Pptx => "pptx",
            Format::Doc => "doc",
            Format::Xls => "xls",
            Format::Ppt => "ppt",
            Format::Hwp => "hwp",
            Format::Pdf => "pdf",
            Format::Zip => "zip",
            Format::Hwpx => "hwpx",
            Format::Odt => "odt",
            Format::Ods => "ods",
            Format::Odp => "odp",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Txt => "txt",
            Format::Md => "md",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a block came from inside its file.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Origin {
    /// Path of archive entries leading to the file, outermost first (empty for a
    /// top-level file). Names are decoded (UTF-8, or CP949 for legacy zips).
    pub entry: Vec<String>,
    /// The part of the file the block belongs to.
    pub part: Part,
    /// The part is hidden in its application (a hidden or very hidden sheet).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
}

/// The part of a document a block belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The main text flow (word processors).
    #[default]
    Body,
    /// A PDF page, 1-based.
    Page(u32),
    /// A presentation slide, 1-based, in presentation order.
    Slide(u32),
    /// The speaker notes of a slide, 1-based.
    Notes(u32),
    /// A spreadsheet sheet, by name.
    Sheet(String),
    /// A section of a Hangul document, 0-based as in `BodyText/SectionN`.
    Section(u32),
    /// A page header of a word-processing document (each header part once).
    Header,
    /// A page footer of a word-processing document (each footer part once).
    Footer,
    /// A reviewer's comment.
    Comment,
}

/// One block of content.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Block {
    Paragraph { text: String, origin: Origin },
    Table { rows: Vec<Vec<String>>, origin: Origin },
}

impl Block {
    /// The block as one string for the readers' tests: a paragraph's text, a table's rows
    /// in `Debug` form.
    #[cfg(test)]
    pub(crate) fn test_text(&self) -> String {
        match self {
            Block::Paragraph { text, .. } => text.clone(),
            Block::Table { rows, .. } => format!("{rows:?}"),
        }
    }

    pub fn origin(&self) -> &Origin {
        match self {
            Block::Paragraph { origin, .. } | Block::Table { origin, .. } => origin,
        }
    }
}

/// A document's text with its structure: paragraphs and tables in reading order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Document {
    /// The format of the outermost file.
    pub format: Format,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn new(format: Format) -> Self {
        Self { format, blocks: Vec::new() }
    }

    /// Adds a paragraph (skipped when it is empty after trimming).
    pub fn push_paragraph(&mut self, text: impl Into<String>, origin: Origin) {
        let text = text.into();
        if !text.trim().is_empty() {
            self.blocks.push(Block::Paragraph { text, origin });
        }
    }

    /// Adds a table (skipped when every cell is empty).
    pub fn push_table(&mut self, rows: Vec<Vec<String>>, origin: Origin) {
        if rows.iter().flatten().any(|c| !c.trim().is_empty()) {
            self.blocks.push(Block::Table { rows, origin });
        }
    }

    /// Plain text: one line per paragraph, one line per table row with cells
    /// separated by tabs.
    pub fn text(&self) -> String {
        // Sized once, then written without a temporary string per row.
        let len: usize = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Paragraph { text, .. } => text.len() + 1,
                Block::Table { rows, .. } => rows.iter().map(|r| r.iter().map(|c| c.len() + 1).sum::<usize>().max(1)).sum(),
            })
            .sum();
        let mut out = String::with_capacity(len);
        for b in &self.blocks {
            match b {
                Block::Paragraph { text, .. } => {
                    out.push_str(text);
                    out.push('\n');
                }
                Block::Table { rows, .. } => {
                    for row in rows {
                        for (k, cell) in row.iter().enumerate() {
                            if k > 0 {
                                out.push('\t');
                            }
                            out.push_str(cell);
                        }
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    /// Appends another document's blocks, prefixing their origins with an archive entry.
    pub fn append_from_entry(&mut self, entry: &str, other: Document) {
        for mut b in other.blocks {
            let origin = match &mut b {
                Block::Paragraph { origin, .. } | Block::Table { origin, .. } => origin,
            };
            origin.entry.insert(0, entry.to_string());
            self.blocks.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_a_line_per_paragraph_and_per_row_with_tab_separated_cells() {
        let mut doc = Document::new(Format::Xlsx);
        doc.push_paragraph("제목", Origin::default());
        let rows = vec![vec!["a".into(), String::new(), "c".into()], vec![], vec!["끝".into()]];
        doc.push_table(rows, Origin { part: Part::Sheet("S".into()), ..Origin::default() });
        doc.push_paragraph("  ", Origin::default());
        let text = doc.text();
        assert_eq!(text, "제목\na\t\tc\n\n끝\n");
        // Sized exactly up front: no regrowth while writing.
        assert_eq!(text.capacity(), text.len());
    }
}
