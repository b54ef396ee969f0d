#!/usr/bin/env bash
# Runs every doctext fuzz target for a fixed number of executions.
#
#   scripts/fuzz-doctext.sh [RUNS]        (default 20000 per target; encrypted: RUNS/50)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz needs nightly compiler
# flags; with the stable toolchain RUSTC_BOOTSTRAP=1 unlocks them. Seeds come from
# ../shared/testdata/docs and doctext/tests/data (hwpx, odt/ods/odp, csv/tsv/txt/md);
# the corpora grow under doctext/fuzz/corpus/ (git-ignored).
# Exits non-zero if any target crashes; crash inputs land in doctext/fuzz/artifacts/.
set -euo pipefail

RUNS="${1:-20000}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
FUZZ="$ROOT/doctext/fuzz"
DOCS="$ROOT/../shared/testdata/docs"
DATA="$ROOT/doctext/tests/data"
export RUSTC_BOOTSTRAP=1
TARGET_DIR="${CARGO_TARGET_DIR:-$FUZZ/target}"

seed() { # target, then files or XML parts to copy in
    local dir="$FUZZ/corpus/$1"; shift
    mkdir -p "$dir"
    for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/" || true; done
}

seed_xml() { # target, part glob inside the zips, zips...
    local dir="$FUZZ/corpus/$1" part="$2"; shift 2
    mkdir -p "$dir"
    for z in "$@"; do
        unzip -p "$z" "$part" > "$dir/$(basename "$z").xml" 2>/dev/null || rm -f "$dir/$(basename "$z").xml"
    done
}

seed_xml docx 'word/document.xml' "$DOCS"/base/*.docx "$DOCS"/realworld/*.docx "$DOCS"/malformed/billion_laughs.docx "$DOCS"/malformed/xxe_external_entity.docx
seed_xml pptx 'ppt/slides/slide1.xml' "$DOCS"/base/*.pptx "$DOCS"/realworld/*.pptx
seed_xml xlsx 'xl/worksheets/sheet1.xml' "$DOCS"/base/*.xlsx "$DOCS"/realworld/*.xlsx
seed zip "$DOCS"/base/*.docx "$DOCS"/base/*.xlsx "$DOCS"/base/*.pptx "$DOCS"/archives/*.zip "$DOCS"/malformed/truncated_60pct.docx
seed encrypted "$DOCS"/encrypted/*
seed pdf "$DOCS"/base/*.pdf "$DOCS"/realworld/*.pdf
seed cfb "$DOCS"/base/*.doc "$DOCS"/base/*.xls "$DOCS"/base/*.ppt "$DOCS"/base/*.hwp "$DOCS"/malformed/cfb_bad_magic.doc "$DOCS"/malformed/hwp_bad_deflate.hwp

seed_text() { # kind byte (0 csv, 1 tsv, 2 txt, 3 md), files: the text target reads the byte first
    local dir="$FUZZ/corpus/text" kind="$1"; shift
    mkdir -p "$dir"
    for f in "$@"; do [ -f "$f" ] && { printf "\\$(printf '%03o' "$kind")"; cat "$f"; } > "$dir/$kind-$(basename "$f")" || true; done
}

seed_xml odf 'content.xml' "$DATA"/*.odt "$DATA"/*.ods "$DATA"/*.odp
seed_xml hwpx 'Contents/section0.xml' "$DATA"/*.hwpx
seed zip "$DATA"/*.hwpx "$DATA"/*.odt "$DATA"/*.ods "$DATA"/*.odp "$DATA"/*.zip
seed_text 0 "$DATA"/*.csv
seed_text 1 "$DATA"/*.tsv
seed_text 2 "$DATA"/*.txt
seed_text 3 "$DATA"/*.md

cd "$FUZZ"
status=0
for t in docx xlsx pptx zip encrypted pdf cfb text odf hwpx; do
    runs="$RUNS"
    [ "$t" = encrypted ] && runs=$(( RUNS / 50 > 10 ? RUNS / 50 : 10 ))
    echo "== $t: $runs executions"
    mkdir -p "$TARGET_DIR"; log="$TARGET_DIR/fuzz-$t.log"
    if cargo fuzz run --target-dir "$TARGET_DIR" "$t" "corpus/$t" -- \
            -runs="$runs" -max_len=262144 -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 > "$log" 2>&1; then
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log" || tail -3 "$log"
    else
        grep -E "panicked|SUMMARY|ERROR" "$log" | head -5 || true
        echo "!! $t crashed (log: $log, inputs: doctext/fuzz/artifacts/$t)"
        status=1
    fi
done
exit $status
