#!/usr/bin/env python3
"""Our landmarks against MediaPipe's own Pose solution on the rendered stills.

    RENDERED_DUMP=/tmp/rd cargo test -p vision --test rendered rendered_stills -- --test-threads 1
    python3 scripts/rendered/compare_mediapipe.py /tmp/rd/landmarks_full.tsv

Needs the `mediapipe` wheel (0.10.21 bundles pose_landmark_full.tflite and the detector, so
model_complexity=1 runs offline; the lite model would be downloaded at run time) with numpy<2,
protobuf<5, absl-py, attrs, flatbuffers and opencv-python-headless; Pillow. Not run by the
game or CI.

Prints, per pose, the mean distance in pixels between our landmark and MediaPipe's for each
body joint (stills where both found a person), and both against the rendered truth (the
joint positions the generator projected; joints are points inside the limbs, so a few px of
offset from a model's idea of a joint is expected).
"""
import csv
import math
import os
import sys
from collections import defaultdict

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SET = os.path.join(HERE, "..", "..", "assets", "testdata", "rendered")
JOINTS = {0: "nose", 11: "l_shoulder", 12: "r_shoulder", 13: "l_elbow", 14: "r_elbow",
          15: "l_wrist", 16: "r_wrist", 23: "l_hip", 24: "r_hip", 25: "l_knee",
          26: "r_knee", 27: "l_ankle", 28: "r_ankle"}
TRUTH = {11: "left_shoulder", 12: "right_shoulder", 13: "left_elbow", 14: "right_elbow",
         15: "left_wrist", 16: "right_wrist", 23: "left_hip", 24: "right_hip",
         25: "left_knee", 26: "right_knee", 27: "left_ankle", 28: "right_ankle"}


def main():
    try:
        import matplotlib.pyplot  # noqa: F401  (mediapipe's drawing utils import it)
    except ImportError:
        import types

        for name in ("matplotlib", "matplotlib.pyplot"):
            sys.modules[name] = types.ModuleType(name)
    import mediapipe as mp

    ours = defaultdict(dict)
    model = "full"
    for line in open(sys.argv[1]):
        m, f, i, x, y, _ = line.rstrip("\n").split("\t")
        model = m
        ours[f][int(i)] = (float(x), float(y))
    rows = list(csv.DictReader(open(os.path.join(SET, "manifest.tsv")), delimiter="\t"))
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                  enable_segmentation=False)
    d_mp = defaultdict(lambda: defaultdict(list))
    d_truth_ours = defaultdict(lambda: defaultdict(list))
    d_truth_mp = defaultdict(lambda: defaultdict(list))
    found = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        f, p = r["file"], r["pose"]
        im = Image.open(os.path.join(SET, f)).convert("RGB")
        w, h = im.size
        res = pose.process(np.asarray(im))
        found[p][0] += 1
        theirs = None
        if res.pose_landmarks:
            theirs = {i: (l.x, l.y) for i, l in enumerate(res.pose_landmarks.landmark)}
            found[p][1] += 1
        mine = ours.get(f)
        if mine:
            found[p][2] += 1
        for i, name in JOINTS.items():
            if theirs and mine:
                d_mp[p][name].append(math.dist((mine[i][0] * w, mine[i][1] * h), (theirs[i][0] * w, theirs[i][1] * h)))
            if i in TRUTH:
                t = (float(r[TRUTH[i] + "_x"]) * w, float(r[TRUTH[i] + "_y"]) * h)
                if mine:
                    d_truth_ours[p][name].append(math.dist((mine[i][0] * w, mine[i][1] * h), t))
                if theirs:
                    d_truth_mp[p][name].append(math.dist((theirs[i][0] * w, theirs[i][1] * h), t))

    names = list(JOINTS.values())
    mean = lambda v: sum(v) / len(v) if v else float("nan")

    def table(title, d):
        print(f"\n{title} (mean px, 384x288 stills)")
        print(f"{'pose':>13} " + " ".join(f"{n[:10]:>10}" for n in names) + "       all")
        allv = []
        for p in sorted(d):
            vals = [mean(d[p][n]) for n in names]
            flat = [x for n in names for x in d[p][n]]
            allv += flat
            print(f"{p:>13} " + " ".join(f"{v:10.1f}" for v in vals) + f"{mean(flat):10.1f}")
        print(f"{'all':>13} " + " ".join(f"{mean([x for p in d for x in d[p][n]]):10.1f}" for n in names) + f"{mean(allv):10.1f}")

    print("stills with a person found (total / mediapipe / ours):")
    for p in sorted(found):
        print(f"  {p:>13}: {found[p][0]} / {found[p][1]} / {found[p][2]}")
    table(f"ours ({model}) vs MediaPipe Pose (full, static images)", d_mp)
    table(f"ours ({model}) vs rendered truth", d_truth_ours)
    table("MediaPipe Pose (full) vs rendered truth", d_truth_mp)


main()
