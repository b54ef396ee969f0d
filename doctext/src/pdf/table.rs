//! Tables rebuilt from a page's blocks, and rows continued over a page break.
//!
//! A PDF keeps no table structure, only where each glyph is drawn. A line cut into two or
//! more cells (see [`super::layout`]) proposes columns at its cells' left edges; the lines
//! after it whose every cell starts in one of those columns (and ends before the next one)
//! belong to the table. Rows come from the drawing order: a writer draws a row's cells
//! top-aligned, one after the other, so a block whose first line sits on the current row's
//! top adds cells to that row, a block further down starts the next row, and the later
//! lines of a block are the wrapped rest of its cells. The first line that does not fit
//! the columns ends the table.
//!
//! Only tables as printed by word processors are meant (left-aligned, top-aligned cells,
//! header row in the same columns); anything that does not fit stays running text.

use super::layout::{Block, Line, block_text};

/// How far (in points) a cell may start from its column's left edge.
const COLUMN_TOLERANCE: f64 = 2.0;

/// How far (in points) the text before a cut may reach past the next column's edge.
const EDGE_SLACK: f64 = 0.5;

/// A page's content in reading order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Text(Block),
    Table(Table),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Table {
    /// Left edges of the columns.
    columns: Vec<f64>,
    rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// Baseline of the row's first line.
    top: f64,
    cells: Vec<String>,
}

impl Row {
    fn filled(&self) -> usize {
        self.cells.iter().filter(|c| !c.is_empty()).count()
    }
}

/// What a page holds once laid out: paragraphs and tables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Paragraph(String),
    Table(Vec<Vec<String>>),
}

pub(super) fn items_out(items: Vec<Item>) -> Vec<Out> {
    items
        .into_iter()
        .map(|item| match item {
            Item::Text(block) => Out::Paragraph(block_text(&block)),
            Item::Table(t) => Out::Table(t.rows.into_iter().map(|r| r.cells).collect()),
        })
        .collect()
}

/// A table being read, block by block.
struct Builder {
    columns: Vec<f64>,
    rows: Vec<Row>,
    /// Rows that were already a table before this builder (a table continued from the
    /// previous page); they stay rows whatever follows.
    kept_rows: usize,
    /// The blocks (or their leading lines) taken into the table, as drawn.
    taken: Vec<Block>,
    /// Where each new row starts in `taken`: (block, line).
    row_starts: Vec<(usize, usize)>,
}

impl Builder {
    fn seed(line: &Line) -> Builder {
        Builder {
            columns: line.cells.iter().map(|c| c.x).collect(),
            rows: Vec::new(),
            kept_rows: 0,
            taken: Vec::new(),
            row_starts: Vec::new(),
        }
    }

    fn continuing(table: Table) -> Builder {
        Builder { kept_rows: table.rows.len(), columns: table.columns, rows: table.rows, taken: Vec::new(), row_starts: Vec::new() }
    }

    /// The cells of `line` as (column, text), if every cell starts at a column's edge and
    /// ends before the next column, in distinct columns left to right. A cell that runs on
    /// into the next columns (the gap too narrow to see, as when a question fills its
    /// column) is cut where a glyph starts at such a column's edge.
    fn fit(&self, line: &Line) -> Option<Vec<(usize, String)>> {
        let mut out: Vec<(usize, String)> = Vec::with_capacity(line.cells.len());
        for cell in &line.cells {
            let mut column = self.columns.iter().position(|&x| (x - cell.x).abs() <= COLUMN_TOLERANCE)?;
            if out.last().is_some_and(|&(prev, _)| prev >= column) {
                return None;
            }
            let mut start = 0;
            let mut piece_end = f64::NEG_INFINITY;
            for &(x, end, at) in &cell.marks {
                if let Some(&next) = self.columns.get(column + 1)
                    && at > start
                    && x >= next - COLUMN_TOLERANCE
                {
                    // Cut only at a glyph on the column's edge, after a piece that ends
                    // before it; text across the edge is not this table's layout.
                    if x > next + COLUMN_TOLERANCE || piece_end > next + EDGE_SLACK {
                        return None;
                    }
                    out.push((column, cell.text.get(start..at)?.trim().to_owned()));
                    start = at;
                    column += 1;
                    piece_end = f64::NEG_INFINITY;
                }
                piece_end = piece_end.max(end);
            }
            if self.columns.get(column + 1).is_some_and(|&next| cell.end > next + COLUMN_TOLERANCE) {
                return None;
            }
            out.push((column, cell.text.get(start..)?.trim().to_owned()));
        }
        (!out.is_empty()).then_some(out)
    }

    /// Takes the leading lines of `block` that fit the columns; returns how many.
    /// `page_start`: the block opens a new page, and a first line outside the first column
    /// is the rest of the last row's cells, cut by the page break.
    fn accept(&mut self, block: &Block, page_start: bool) -> usize {
        let mut taken = 0;
        for (i, line) in block.iter().enumerate() {
            let Some(cells) = self.fit(line) else { break };
            let new_row = if i == 0 && page_start && cells[0].0 > 0 && !self.rows.is_empty() {
                if let Some(row) = self.rows.last_mut() {
                    row.top = line.y;
                }
                false
            } else if i == 0 {
                self.rows.last().is_none_or(|row| (line.y - row.top).abs() > 0.5 * line.size)
            } else {
                // A later line of the block wraps its cells, unless it opens the first
                // column again along with another one: a row drawn right below the last.
                cells[0].0 == 0 && cells.len() >= 2
            };
            if new_row {
                self.rows.push(Row { top: line.y, cells: vec![String::new(); self.columns.len()] });
                self.row_starts.push((self.taken.len(), i));
            }
            let Some(row) = self.rows.last_mut() else { break };
            for (column, piece) in cells {
                let text = &mut row.cells[column];
                if !text.is_empty() && !piece.is_empty() && !continues_word(text, &piece) {
                    text.push(' ');
                }
                text.push_str(&piece);
            }
            taken = i + 1;
        }
        if taken > 0 {
            self.taken.push(block[..taken].to_vec());
        }
        taken
    }

    /// The table, and the blocks that turned out not to be part of it (in order). A table
    /// needs two rows with two filled cells, or one with three; otherwise every taken block
    /// is running text after all. Trailing rows with a single filled cell (a note below the
    /// table at the first column's edge) go back to running text too.
    fn finish(mut self) -> (Option<Table>, Vec<Block>) {
        let mut cut = self.rows.len();
        while cut > self.kept_rows.max(1) && self.rows[cut - 1].filled() <= 1 {
            cut -= 1;
        }
        let rows = &self.rows[..cut];
        let is_table = self.kept_rows > 0
            || rows.iter().filter(|r| r.filled() >= 2).count() >= 2
            || rows.iter().any(|r| r.filled() >= 3);
        if !is_table {
            return (None, self.taken);
        }
        let mut rest = Vec::new();
        if let Some(&(block, line)) = self.row_starts.get(cut - self.kept_rows) {
            let mut tail = self.taken.split_off(block);
            if let Some(first) = tail.first_mut() {
                first.drain(..line);
            }
            rest = tail.into_iter().filter(|b| !b.is_empty()).collect();
        }
        self.rows.truncate(cut);
        (Some(Table { columns: self.columns, rows: self.rows }), rest)
    }
}

/// Whether a cell's wrapped line `next` goes on with the last word of `text` rather than
/// starting a new one. Korean is wrapped between any two syllables, so a line break says
/// nothing about a space; but a line opening with a particle (조사: 은, 는, 을, 를, …), which
/// never stands alone, continues the word before it ("수도" + "는?" is "수도는?").
fn continues_word(text: &str, next: &str) -> bool {
    const PARTICLES: [&str; 17] =
        ["은", "는", "을", "를", "의", "에", "와", "과", "로", "으로", "에서", "에게", "까지", "부터", "처럼", "보다", "입니다"];
    let hangul = |c: char| ('\u{AC00}'..='\u{D7A3}').contains(&c);
    let word = next.split_whitespace().next().unwrap_or("").trim_end_matches(|c: char| c.is_ascii_punctuation());
    text.chars().next_back().is_some_and(hangul) && PARTICLES.contains(&word)
}

/// Feeds blocks to `builder` from the front of `blocks` until one does not fit whole; the
/// blocks it took are removed (the unfitting block keeps its untaken lines).
fn feed(builder: &mut Builder, blocks: &mut std::collections::VecDeque<Block>, mut page_start: bool) {
    while let Some(block) = blocks.front_mut() {
        let taken = builder.accept(block, page_start);
        page_start = false;
        if taken == block.len() {
            blocks.pop_front();
        } else {
            block.drain(..taken);
            break;
        }
    }
}

/// A page's blocks as running text and tables.
pub(super) fn find_tables(blocks: Vec<Block>) -> Vec<Item> {
    let mut queue: std::collections::VecDeque<Block> = blocks.into();
    let mut items = Vec::new();
    while let Some(mut block) = queue.pop_front() {
        let Some(start) = block.iter().position(|line| line.cells.len() >= 2) else {
            items.push(Item::Text(block));
            continue;
        };
        if start > 0 {
            let rest = block.split_off(start);
            items.push(Item::Text(block));
            block = rest;
        }
        let mut builder = Builder::seed(&block[0]);
        queue.push_front(block);
        feed(&mut builder, &mut queue, false);
        if builder.taken.is_empty() {
            // Cannot happen (a line fits the columns it proposes); never loop on it.
            if let Some(block) = queue.pop_front() {
                items.push(Item::Text(block));
            }
            continue;
        }
        let (table, rest) = builder.finish();
        match table {
            Some(t) => {
                items.push(Item::Table(t));
                items.extend(rest.into_iter().map(Item::Text));
            }
            None => {
                // Running text after all: the seed line and what followed it.
                items.extend(rest.into_iter().map(Item::Text));
            }
        }
    }
    items
}

/// A table at the foot of the previous page (`prev`) goes on with the lines that open the
/// next page in its columns: first the rest of cells cut by the page break, then more rows.
/// Headers, footers and running text do not fit the columns, so they stay where they are.
pub(super) fn continue_table(prev: &mut [Item], next: &mut Vec<Block>) {
    let Some(Item::Table(table)) = prev.last_mut() else { return };
    let mut builder = Builder::continuing(std::mem::replace(table, Table { columns: Vec::new(), rows: Vec::new() }));
    let mut queue: std::collections::VecDeque<Block> = std::mem::take(next).into();
    feed(&mut builder, &mut queue, true);
    let (continued, rest) = builder.finish();
    if let Some(t) = continued {
        *table = t;
    }
    next.extend(rest);
    next.extend(queue);
}

#[cfg(test)]
mod tests {
    use super::super::layout::Cell;
    use super::*;

    /// The columns of the quiz tables below (as LibreOffice prints `quiz_ko.pdf`).
    const COLUMNS: [f64; 5] = [90.0, 176.5, 262.9, 349.3, 435.7];

    /// A cell at `x`, `width` points a character (each character a glyph).
    fn cell(x: f64, width: f64, t: &str) -> Cell {
        let marks = t
            .char_indices()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(i, _)| {
                let left = x + width * t[..i].chars().count() as f64;
                (left, left + width, i)
            })
            .collect();
        Cell { x, end: x + width * t.chars().count() as f64, text: t.into(), marks }
    }

    /// A line at baseline `y`: (column, text) cells, 4 pt a character.
    fn line(y: f64, cells: &[(usize, &str)]) -> Line {
        let cells = cells
            .iter()
            .map(|&(c, t)| cell(COLUMNS[c], 4.0, t))
            .collect();
        Line { y, size: 10.0, cells }
    }

    /// Running text at the left margin (the first column's edge).
    fn text(y: f64, t: &str) -> Block {
        vec![Line { y, size: 10.0, cells: vec![cell(90.0, 6.0, t)] }]
    }

    const HEADER: [&str; 5] = ["No", "Question", "Answer", "Wrong 1", "Wrong 2"];

    fn header(y: f64) -> Block {
        vec![line(y, &HEADER.into_iter().enumerate().collect::<Vec<_>>())]
    }

    /// A row drawn as LibreOffice does: number and question (wrapped), then the answers.
    fn row(y: f64, n: &str, question: [&str; 2], answers: [&str; 3]) -> Vec<Block> {
        vec![
            vec![line(y, &[(0, n), (1, question[0])]), line(y + 15.0, &[(1, question[1])])],
            vec![line(y, &[(2, answers[0]), (3, answers[1]), (4, answers[2])])],
        ]
    }

    fn table_rows(item: &Item) -> Vec<Vec<&str>> {
        match item {
            Item::Table(t) => t.rows.iter().map(|r| r.cells.iter().map(String::as_str).collect()).collect(),
            Item::Text(b) => panic!("not a table: {b:?}"),
        }
    }

    fn quiz_page() -> Vec<Block> {
        let mut blocks = vec![text(60.0, "Korean trivia"), header(100.0)];
        blocks.extend(row(125.0, "1", ["Capital of", "Korea?"], ["Seoul", "Busan", "Incheon"]));
        blocks.extend(row(165.0, "2", ["Who made", "Hangul?"], ["Sejong", "Taejo", "Jeongjo"]));
        blocks
    }

    #[test]
    fn a_printed_table_comes_back_as_rows_of_cells() {
        let mut blocks = quiz_page();
        // A one-line row drawn right below the previous one, in the same block.
        blocks.push(vec![
            line(205.0, &[(0, "3"), (1, "H2O?"), (2, "water"), (3, "salt"), (4, "ice")]),
            line(217.0, &[(0, "4"), (1, "1+1?"), (2, "2"), (3, "3"), (4, "11")]),
        ]);
        blocks.push(text(240.0, "End. Thanks for playing!"));
        let items = find_tables(blocks);
        assert_eq!(items.len(), 3, "{items:#?}");
        assert_eq!(items[0], Item::Text(text(60.0, "Korean trivia")));
        assert_eq!(
            table_rows(&items[1]),
            vec![
                HEADER.to_vec(),
                vec!["1", "Capital of Korea?", "Seoul", "Busan", "Incheon"],
                vec!["2", "Who made Hangul?", "Sejong", "Taejo", "Jeongjo"],
                vec!["3", "H2O?", "water", "salt", "ice"],
                vec!["4", "1+1?", "2", "3", "11"],
            ]
        );
        // Too wide for the first column: running text again.
        assert_eq!(items[2], Item::Text(text(240.0, "End. Thanks for playing!")));
    }

    #[test]
    fn a_wrapped_korean_particle_joins_its_word() {
        assert!(continues_word("대한민국의 수도", "는?"));
        assert!(continues_word("대한민국의 국화", "는 무엇?"));
        assert!(!continues_word("태양계에서 가장", "큰 행성은?"));
        assert!(!continues_word("What is the", "는?"), "only after Hangul");
        assert!(!continues_word("한글을 창제한", "왕은?"));
        let mut blocks = vec![header(100.0)];
        blocks.extend(row(125.0, "1", ["대한민국의 수도", "는?"], ["서울", "부산", "인천"]));
        blocks.extend(row(165.0, "2", ["태양계에서 가장", "큰 행성은?"], ["목성", "토성", "지구"]));
        let items = find_tables(blocks);
        let rows = table_rows(&items[0]);
        assert_eq!((rows[1][1], rows[2][1]), ("대한민국의 수도는?", "태양계에서 가장 큰 행성은?"));
    }

    #[test]
    fn a_short_note_below_a_table_stays_text() {
        let mut blocks = quiz_page();
        blocks.push(text(240.0, "Fin"));
        let items = find_tables(blocks);
        assert_eq!(items.len(), 3, "{items:#?}");
        assert_eq!(table_rows(&items[1]).len(), 3);
        assert_eq!(items[2], Item::Text(text(240.0, "Fin")));
    }

    #[test]
    fn a_single_wide_gap_is_not_a_table() {
        let label = vec![line(100.0, &[(0, "Name:"), (1, "Kim")])];
        let blocks = vec![text(80.0, "Form"), label.clone(), text(140.0, "Signed below")];
        let items = find_tables(blocks.clone());
        assert_eq!(items, blocks.into_iter().map(Item::Text).collect::<Vec<_>>());
        assert_eq!(block_text(&label), "Name: Kim");
    }

    #[test]
    fn a_cell_that_runs_into_the_next_column_is_cut_at_its_edge() {
        // "Hello in Korean?" fills its column; the answer starts right at the next column's
        // edge, too close to see a gap, so layout gives one cell for both.
        let merged = |answer_x: f64| {
            let question = "Hello in Korean?";
            let mut c = cell(COLUMNS[1], (COLUMNS[2] - 1.0 - COLUMNS[1]) / question.chars().count() as f64, question);
            let at = c.text.len();
            c.text.push_str("안녕");
            c.marks.push((answer_x, answer_x + 10.0, at));
            c.marks.push((answer_x + 10.0, answer_x + 20.0, at + "안".len()));
            c.end = answer_x + 20.0;
            c
        };
        let row = |answer_x: f64| vec![Line { y: 205.0, size: 10.0, cells: vec![cell(COLUMNS[0], 4.0, "3"), merged(answer_x)] }];
        let mut blocks = quiz_page();
        blocks.push(row(COLUMNS[2]));
        blocks.push(vec![line(205.0, &[(3, "잘 가"), (4, "고마워")])]);
        let items = find_tables(blocks);
        assert_eq!(items.len(), 2, "{items:#?}");
        assert_eq!(table_rows(&items[1])[3], vec!["3", "Hello in Korean?", "안녕", "잘 가", "고마워"]);

        // Text that crosses the column's edge without a glyph at it is not this table's.
        let mut blocks = quiz_page();
        blocks.push(row(COLUMNS[2] + 12.0));
        let items = find_tables(blocks);
        assert_eq!(table_rows(&items[1]).len(), 3, "{items:#?}");
        assert!(matches!(&items[2], Item::Text(b) if block_text(b) == "3 Hello in Korean?안녕"), "{items:#?}");
    }

    /// The foot of a page: running text, then a table whose last row's question goes on
    /// on the next page.
    fn page_foot() -> Vec<Item> {
        let mut blocks = vec![text(600.0, "Running text above the table."), header(640.0)];
        blocks.push(vec![line(680.0, &[(0, "13"), (1, "How many trigrams")])]);
        blocks.push(vec![line(680.0, &[(2, "4"), (3, "3"), (4, "8")])]);
        let items = find_tables(blocks);
        assert_eq!(items.len(), 2, "{items:#?}");
        items
    }

    #[test]
    fn a_row_cut_by_a_page_break_is_joined_with_its_rest_and_the_table_goes_on() {
        let mut prev = page_foot();
        let mut next = vec![vec![line(50.0, &[(1, "are on the flag?")])]];
        next.extend(row(75.0, "14", ["Largest", "ocean?"], ["Pacific", "Atlantic", "Indian"]));
        next.push(text(120.0, "End. Thanks for playing!"));
        continue_table(&mut prev, &mut next);
        assert_eq!(
            table_rows(&prev[1]),
            vec![
                HEADER.to_vec(),
                vec!["13", "How many trigrams are on the flag?", "4", "3", "8"],
                vec!["14", "Largest ocean?", "Pacific", "Atlantic", "Indian"],
            ]
        );
        // What is not the table stays on its page.
        assert_eq!(next, vec![text(120.0, "End. Thanks for playing!")]);
    }

    #[test]
    fn lines_that_do_not_fit_the_columns_stay_on_their_page() {
        let cases: [Vec<Block>; 3] = [
            // A running header, not in any column.
            vec![vec![Line { y: 40.0, size: 10.0, cells: vec![cell(300.0, 6.0, "Quiz — page 2")] }]],
            // Text at the page's left margin, wider than the first column.
            vec![text(50.0, "Chapter 2: the rest of the game")],
            // A short line at the left margin is not the rest of a cut cell.
            vec![text(50.0, "Fin")],
        ];
        for next in cases {
            let mut prev = page_foot();
            let mut after = next.clone();
            continue_table(&mut prev, &mut after);
            assert_eq!(prev, page_foot(), "{next:?} was taken into the table");
            assert_eq!(after, next);
        }
        // A page ending in running text continues nothing.
        let mut prev = vec![Item::Text(text(700.0, "The end of a paragraph"))];
        let mut next = vec![vec![line(50.0, &[(1, "continues here")])]];
        continue_table(&mut prev, &mut next);
        assert_eq!(prev, vec![Item::Text(text(700.0, "The end of a paragraph"))]);
        assert_eq!(next, vec![vec![line(50.0, &[(1, "continues here")])]]);
    }
}
