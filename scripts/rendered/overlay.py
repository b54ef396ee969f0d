#!/usr/bin/env python3
"""Draws our landmarks (a RENDERED_DUMP landmarks_<model>.tsv) onto the rendered stills and
tiles them into one PNG, for checking by eye. Needs Pillow.

    python3 scripts/rendered/overlay.py DUMP.tsv OUT.png [file-substring]
"""
import os
import sys

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
SET = os.path.join(HERE, "..", "..", "assets", "testdata", "rendered")
BONES = [(11, 13), (13, 15), (12, 14), (14, 16), (11, 12), (11, 23), (12, 24), (23, 24),
         (23, 25), (25, 27), (24, 26), (26, 28)]


def main():
    dump, out = sys.argv[1], sys.argv[2]
    want = sys.argv[3] if len(sys.argv) > 3 else ""
    pts = {}
    for line in open(dump):
        _, f, i, x, y, v = line.split("\t")
        pts.setdefault(f, {})[int(i)] = (float(x), float(y), float(v))
    files = sorted(f for f in pts if want in f)[:24]
    tiles = []
    for f in files:
        im = Image.open(os.path.join(SET, f)).convert("RGB")
        d = ImageDraw.Draw(im)
        w, h = im.size
        p = pts[f]
        for a, b in BONES:
            # Left side (odd indices from 11) red, right side blue.
            col = (255, 0, 0) if a % 2 == 1 and b % 2 == 1 else (0, 80, 255) if a % 2 == 0 and b % 2 == 0 else (0, 200, 0)
            d.line([(p[a][0] * w, p[a][1] * h), (p[b][0] * w, p[b][1] * h)], fill=col, width=2)
        d.text((3, 3), os.path.basename(f), fill=(0, 0, 0))
        tiles.append(im)
    if not tiles:
        sys.exit("nothing to draw")
    w, h = tiles[0].size
    cols = 4
    sheet = Image.new("RGB", (w * cols, h * ((len(tiles) + cols - 1) // cols)), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * w, (i // cols) * h))
    sheet.save(out)


main()
