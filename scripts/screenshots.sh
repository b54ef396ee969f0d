#!/usr/bin/env bash
# Saves a screenshot of each client screen into docs/screens/ by running the client under
# Xvfb with Mesa's software Vulkan (lavapipe), on the image-folder source, with demo data
# (--screen) so no server or webcam is needed.
#
#   ./scripts/setup.sh --screenshots   # once: Xvfb + Mesa
#   ./scripts/screenshots.sh [--release] [SCREEN...]
#
# SCREEN is any of: menu lobby loading game quiz results history (default: all); quiz is the
# game screen in Motion Quiz on the imported deck.
# Env: FRAMES_DIR (default ../shared/testdata/images), DECK_FILE (the lobby's deck, default
# ../shared/testdata/docs/base/quiz_ko.xlsx), CARGO_TARGET_DIR (cargo's default).
# Pictures are saved as palette PNGs (see client/src/screenshot.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
screens=()
for arg in "$@"; do
  case "$arg" in
    --release) profile=release; cargo_flags+=(--release) ;;
    menu|lobby|loading|game|quiz|results|history|couch_loading|couch_game) screens+=("$arg") ;;
    *) echo "screenshots.sh: unknown argument $arg (screens: menu lobby loading game quiz results history couch_loading couch_game)" >&2; exit 2 ;;
  esac
done
[ ${#screens[@]} -gt 0 ] || screens=(menu lobby loading game quiz results history couch_loading couch_game)

for tool in xvfb-run Xvfb; do
  command -v "$tool" >/dev/null || { echo "screenshots.sh: $tool is missing — run ./scripts/setup.sh --screenshots" >&2; exit 1; }
done

frames_dir=${FRAMES_DIR:-../shared/testdata/images}
# The lobby imports a real quiz deck (through the document reader, as `--deck` does); the
# quiz screen plays it.
deck=${DECK_FILE:-../shared/testdata/docs/base/quiz_ko.xlsx}
[ -f "$deck" ] || { echo "screenshots.sh: no deck at $deck — set DECK_FILE" >&2; exit 1; }
[ -d "$frames_dir" ] || { echo "screenshots.sh: no image folder at $frames_dir — set FRAMES_DIR" >&2; exit 1; }

cargo build -p client "${cargo_flags[@]}"
target_dir=${CARGO_TARGET_DIR:-target}
bin="$target_dir/$profile/client"

# Settings of a clean first run, not the user's.
config_dir=$(mktemp -d)
# Couch screens: a camera that sees two people (two_people.png only).
couch_dir=$(mktemp -d)
trap 'rm -rf "$config_dir" "$couch_dir"' EXIT
cp "$frames_dir/two_people.png" "$couch_dir/0001.png"

# Software rendering: Mesa's lavapipe Vulkan driver when present.
lvp=$(ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null | head -n1 || true)
if [ -n "$lvp" ]; then export VK_ICD_FILENAMES="$lvp" WGPU_BACKEND=vulkan; fi

mkdir -p docs/screens
for screen in "${screens[@]}"; do
  out="docs/screens/$screen.png"
  shown=$screen
  source_dir=$frames_dir
  frames=40
  extra=()
  case "$screen" in
    lobby) extra+=(--deck "$deck") ;;
    quiz) shown=game; extra+=(--deck "$deck") ;;
    # Couch play: 240 frames, so that the real model has loaded and seen both people.
    couch_loading|couch_game) shown=${screen#couch_}; source_dir=$couch_dir; frames=240; extra+=(--couch "지연") ;;
  esac
  echo "screenshots.sh: $screen → $out"
  POSEPARTY_NAME="민수" RUST_LOG=${RUST_LOG:-warn} \
    xvfb-run -a -s "-screen 0 1280x720x24" \
    "$bin" --screen "$shown" --screenshot "$out" --screenshot-frames "$frames" --mute \
      --config-dir "$config_dir" --source "frames:$source_dir" "${extra[@]}"
  [ -s "$out" ] || { echo "screenshots.sh: $out was not written" >&2; exit 1; }
done
echo "screenshots.sh: done"
