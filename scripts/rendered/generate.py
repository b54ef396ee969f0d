#!/usr/bin/env python3
"""Renders the rendered truth set (assets/testdata/rendered/): procedural people in every
pose of the library, stills and 15 fps sequences, with a manifest.

    cargo run -q -p shared --example pose_library > scripts/rendered/pose_library.json
    python3 scripts/rendered/generate.py [--variants 10] [--jobs 2] [--out assets/testdata/rendered]

Needs Blender (Debian package `blender`, 3.4) on PATH; runs offline. The poses come from
pose_library.json, which the Rust exporter prints from shared::rules (the postures the
library's fixtures are built from), so the truth is the library's own. Deterministic: the
variant parameters come from a seeded RNG; Cycles noise is seeded too.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SKINS = {
    "light": (0.80, 0.62, 0.52),
    "medium": (0.62, 0.43, 0.30),
    "dark": (0.30, 0.19, 0.13),
    "olive": (0.70, 0.55, 0.38),
}
CLOTHES = {
    "red": (0.60, 0.08, 0.08),
    "blue": (0.10, 0.20, 0.60),
    "green": (0.12, 0.40, 0.15),
    "white": (0.80, 0.80, 0.78),
    "black": (0.04, 0.04, 0.05),
    "yellow": (0.80, 0.65, 0.10),
    "grey": (0.35, 0.35, 0.37),
    "purple": (0.35, 0.12, 0.45),
}
PANTS = {
    "jeans": (0.10, 0.14, 0.28),
    "black": (0.03, 0.03, 0.04),
    "khaki": (0.45, 0.38, 0.25),
    "grey": (0.25, 0.25, 0.27),
}
HAIR = [(0.05, 0.03, 0.02), (0.25, 0.15, 0.07), (0.55, 0.42, 0.20), (0.12, 0.10, 0.10)]
WALLS = [(0.80, 0.78, 0.70), (0.55, 0.62, 0.70), (0.75, 0.70, 0.60), (0.60, 0.65, 0.55)]
FLOORS = [(0.45, 0.33, 0.22), (0.30, 0.30, 0.32), (0.55, 0.50, 0.42)]
BODIES = ["slim", "broad", "child"]

WIDTH, HEIGHT = 384, 288
FPS = 15


def jittered(posture, rnd, amount):
    """The posture with every limb direction moved by up to ±amount degrees."""
    out = {"lean": posture["lean"] + (rnd.uniform(-amount, amount) if posture["lean"] else 0.0)}
    for side in ("left", "right"):
        out[side] = {k: v + rnd.uniform(-amount, amount) for k, v in posture[side].items()}
    return out


def lerp_posture(a, b, t):
    out = {"lean": a["lean"] + (b["lean"] - a["lean"]) * t}
    for side in ("left", "right"):
        out[side] = {k: a[side][k] + (b[side][k] - a[side][k]) * t for k in a[side]}
    return out


def variant(rnd, index):
    """Body, clothes, camera, light and background of one picture."""
    body = BODIES[index % 3]
    shirt = rnd.choice(sorted(CLOTHES))
    pants = rnd.choice(sorted(PANTS))
    skin = rnd.choice(sorted(SKINS))
    child = body == "child"
    return {
        "body": body,
        "skin_name": skin,
        "skin": SKINS[skin],
        "shirt_name": shirt,
        "shirt": CLOTHES[shirt],
        "pants_name": pants,
        "pants": PANTS[pants],
        "hair": rnd.choice(HAIR),
        "yaw": round(rnd.uniform(-15, 15), 1),
        "cam_x": round(rnd.uniform(-0.4, 0.4), 2),
        "cam_dist": round(rnd.uniform(2.4, 3.0) * (0.75 if child else 1.0), 2),
        "cam_height": round(rnd.uniform(0.9, 1.6) * (0.8 if child else 1.0), 2),
        "light": round(rnd.uniform(0.6, 1.4), 2),
        "light_angle": round(rnd.uniform(-60, 60), 1),
        "wall": rnd.choice(WALLS),
        "floor": rnd.choice(FLOORS),
        "background": "cluttered" if index % 2 else "plain",
        "mirror": index % 3 == 1,
        "seed": rnd.randrange(1 << 30),
        "width": WIDTH,
        "height": HEIGHT,
        "samples": 16,
    }


def run_blender(jobs, workers):
    """Renders the jobs in `workers` Blender processes; returns the joint truth per file."""
    chunks = [jobs[i::workers] for i in range(workers)]
    procs = []
    tmp = tempfile.mkdtemp(prefix="rendered-")
    for i, chunk in enumerate(chunks):
        if not chunk:
            continue
        jp, tp = os.path.join(tmp, f"jobs{i}.json"), os.path.join(tmp, f"truth{i}.json")
        json.dump(chunk, open(jp, "w"))
        log = open(os.path.join(tmp, f"log{i}.txt"), "w")
        cmd = ["nice", "-n", "10", "blender", "-b", "--factory-startup", "-P",
               os.path.join(HERE, "figure.py"), "--", jp, tp]
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), tp, log.name))
    truth = {}
    for p, tp, log in procs:
        if p.wait() != 0 or not os.path.exists(tp):
            sys.exit(f"blender failed, see {log}")
        truth.update(json.load(open(tp)))
    shutil.rmtree(tmp)
    return truth


TRUTH_JOINTS = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                "right_knee", "left_ankle", "right_ankle"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=10, help="stills per pose")
    ap.add_argument("--jobs", type=int, default=2, help="Blender processes")
    ap.add_argument("--out", default=os.path.join(ROOT, "assets/testdata/rendered"))
    ap.add_argument("--library", default=os.path.join(HERE, "pose_library.json"))
    ap.add_argument("--only", default="", help="comma-separated pose keys (default: all)")
    ap.add_argument("--no-sequences", action="store_true")
    args = ap.parse_args()

    lib = json.load(open(args.library))
    poses = lib["poses"]
    if args.only:
        keep = set(args.only.split(","))
        poses = [p for p in poses if p["key"] in keep]
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "stills"), exist_ok=True)

    rnd = random.Random(17)
    jobs, rows = [], []
    for pose in poses:
        mirrored = {p["key"]: p["mirrored"] for p in lib["poses"]}[pose["key"]]
        for i in range(args.variants):
            v = variant(rnd, i)
            name = f"stills/{pose['key']}_{i:02d}.jpg"
            job = dict(v, out=os.path.join(out, name), posture=jittered(pose["posture"], rnd, 5.0))
            jobs.append(job)
            # The pose the picture shows: a mirror camera shows the mirrored pose.
            shows = mirrored if v["mirror"] else pose["key"]
            rows.append((name, shows, pose["key"], job))

    seq_jobs, seq_plan = [], []
    if not args.no_sequences:
        # neutral (3 frames) → 5 frames of movement → hold (10 frames), 15 fps: 1.2 s, looped
        # by the frames: source. Repeated frames are copies of one render.
        for k, pose in enumerate(poses):
            v = variant(random.Random(1000 + k), k)
            v["mirror"] = False
            d = os.path.join(out, "sequences", pose["key"])
            os.makedirs(d, exist_ok=True)
            steps = [0.0] * 3 + [0.2, 0.4, 0.6, 0.8, 1.0] + [1.0] * 9 + [0.0]
            renders = {}
            for n, t in enumerate(steps[:-1]):
                if t not in renders:
                    path = os.path.join(d, f"render_{int(t * 100):03d}.jpg")
                    p = lerp_posture(lib["neutral"], pose["posture"], t)
                    seq_jobs.append(dict(v, out=path, posture=p))
                    renders[t] = path
                seq_plan.append((os.path.join(d, f"{n:04d}.jpg"), renders[t], pose["key"], t))

    truth = run_blender(jobs + seq_jobs, args.jobs)

    for frame, src, _, _ in seq_plan:
        shutil.copyfile(src, frame)
    for job in seq_jobs:
        os.remove(job["out"])

    cols = ["file", "pose", "performed", "body", "skin", "shirt", "pants", "yaw", "cam_x",
            "cam_dist", "cam_height", "light", "light_angle", "background", "mirror"]
    cols += [f"{j}_{a}" for j in TRUTH_JOINTS for a in ("x", "y")]
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for name, shows, performed, job in rows:
            t = truth[job["out"]]
            if job["mirror"]:
                # In the flipped picture the person's left side is drawn where the right was.
                t = {k.replace("left", "@").replace("right", "left").replace("@", "right"): v
                     for k, v in t.items()}
            vals = [name, shows, performed, job["body"], job["skin_name"], job["shirt_name"],
                    job["pants_name"], job["yaw"], job["cam_x"], job["cam_dist"],
                    job["cam_height"], job["light"], job["light_angle"], job["background"],
                    "on" if job["mirror"] else "off"]
            vals += [f"{t[j][a]:.4f}" for j in TRUTH_JOINTS for a in (0, 1)]
            f.write("\t".join(str(x) for x in vals) + "\n")
    with open(os.path.join(out, "sequences.tsv"), "w") as f:
        f.write("file\tpose\tprogress\n")
        for frame, _, key, t in seq_plan:
            f.write(f"{os.path.relpath(frame, out)}\t{key}\t{t:.1f}\n")
    print(f"{len(rows)} stills, {len(seq_plan)} sequence frames in {out}")


if __name__ == "__main__":
    main()
