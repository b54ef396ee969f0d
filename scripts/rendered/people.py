#!/usr/bin/env python3
"""Renders the couch scenes of the rendered truth set (assets/testdata/rendered/people/):
two and three procedural people side by side in one room, at different distances from the
camera, with a manifest of where each person truly is in the picture.

    python3 scripts/rendered/people.py [--jobs 2] [--out assets/testdata/rendered/people]

Same machinery as generate.py (Blender 3.4 on PATH, figure.py inside it, offline, seeded:
a second run writes the same people.tsv, and pictures that differ by at most a few grey
levels on a few pixels). Each person gets its own body (slim / broad / child), skin, clothes
and hair, a posture from pose_library.json (mostly the neutral stance, some in a library
pose; ±4° of jitter per limb), a yaw and a place on the floor. The layouts below are written out by hand
so the set always holds the same distances; colours, rooms and light come from a seeded RNG.

people.tsv: file, people, mirror, background, then per person k (1–3, in the order they
stand from the picture's left to its right): body, pose (as the picture shows it: mirrored in
a mirrored scene), distance (metres from the camera, front to back along the floor), and the
picture position (0–1) of the hip centre and the nose as projected by Blender
(`p<k>_hip_x`, `p<k>_hip_y`, `p<k>_nose_x`, `p<k>_nose_y`); empty for a two-person scene's
third person. `--only 3 7` renders just those scenes (and the manifest lists only them): for
trying a layout out, with `--out` elsewhere.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from generate import BODIES, CLOTHES, FLOORS, HAIR, PANTS, ROOT, SKINS, WALLS, jittered, run_blender  # noqa: E402

WIDTH, HEIGHT = 512, 288
# A webcam-like wide lens (20 mm on Blender's 36 mm sensor: 84° across): a person 2.2 m away
# fits head to feet in the 288-pixel height.
LENS = 20
# The camera stands CAM_BACK metres in front of the room's origin; a person `d` metres away
# stands at y = d - CAM_BACK.
CAM_BACK = 2.6

# (mirror, [(body, pose, distance m, x m), ...]) — x is across the room, + to the camera's
# right; listed left to right as the unmirrored picture shows them.
SCENES = [
    # Two people.
    (False, [("slim", "neutral", 2.5, -0.75), ("broad", "neutral", 2.5, 0.75)]),
    (False, [("broad", "neutral", 2.2, -0.65), ("slim", "neutral", 3.5, 0.9)]),
    (True, [("slim", "neutral", 2.6, -0.7), ("child", "hands_up", 2.3, 0.55)]),
    (False, [("child", "neutral", 2.2, -0.55), ("broad", "t_pose", 3.4, 0.9)]),
    (True, [("broad", "neutral", 3.5, -1.0), ("slim", "neutral", 2.3, 0.5)]),
    (False, [("slim", "right_arm_up", 3.0, -0.8), ("child", "neutral", 3.0, 0.7)]),
    # Three people.
    (False, [("slim", "neutral", 2.8, -1.2), ("broad", "neutral", 2.8, 0.0), ("child", "neutral", 2.6, 1.05)]),
    (False, [("broad", "neutral", 2.2, -1.05), ("slim", "neutral", 3.5, 0.0), ("child", "neutral", 2.8, 1.1)]),
    (True, [("slim", "neutral", 3.6, -1.5), ("broad", "hands_up", 2.6, -0.1), ("slim", "neutral", 3.0, 1.25)]),
    (False, [("child", "neutral", 2.3, -0.95), ("broad", "neutral", 3.3, 0.2), ("slim", "muscle", 2.5, 1.15)]),
    (True, [("broad", "neutral", 3.0, -1.35), ("slim", "star", 3.0, 0.0), ("child", "neutral", 3.0, 1.35)]),
    (False, [("slim", "neutral", 2.4, -1.0), ("child", "left_arm_up", 3.5, 0.15), ("broad", "neutral", 2.3, 1.1)]),
]


def scene_job(rnd, index, mirror, people, postures, out):
    persons = []
    for body, pose, dist, x in people:
        skin, shirt, pants = rnd.choice(sorted(SKINS)), rnd.choice(sorted(CLOTHES)), rnd.choice(sorted(PANTS))
        persons.append({
            "body": body, "pose": pose, "distance": dist,
            "skin_name": skin, "skin": SKINS[skin], "shirt_name": shirt, "shirt": CLOTHES[shirt],
            "pants_name": pants, "pants": PANTS[pants], "hair": rnd.choice(HAIR),
            "yaw": round(rnd.uniform(-12, 12), 1), "x": x, "y": round(dist - CAM_BACK, 3),
            "posture": jittered(postures[pose], rnd, 4.0),
        })
    near = min(p["distance"] for p in persons)
    far = max(p["distance"] for p in persons)
    return {
        "out": out, "people": persons, "mirror": mirror,
        "cam_x": round(rnd.uniform(-0.15, 0.15), 2), "cam_dist": CAM_BACK,
        "cam_height": round(rnd.uniform(1.05, 1.3), 2), "lens": LENS,
        # Aim between the nearest and the farthest person, a little below the hips.
        "look_y": round((near + far) / 2 - CAM_BACK, 2), "look_z": 0.85,
        "room_back": max(0.0, far - CAM_BACK - 0.2) + 0.4,
        "light": round(rnd.uniform(0.9, 1.4), 2), "light_angle": round(rnd.uniform(-45, 45), 1),
        "wall": rnd.choice(WALLS), "floor": rnd.choice(FLOORS),
        "background": "cluttered" if index % 2 else "plain",
        "seed": rnd.randrange(1 << 30), "width": WIDTH, "height": HEIGHT, "samples": 16,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2, help="Blender processes")
    ap.add_argument("--out", default=os.path.join(ROOT, "assets/testdata/rendered/people"))
    ap.add_argument("--library", default=os.path.join(HERE, "pose_library.json"))
    ap.add_argument("--only", type=int, nargs="*", help="scene numbers to render (default: all)")
    args = ap.parse_args()

    lib = json.load(open(args.library))
    postures = {p["key"]: p["posture"] for p in lib["poses"]}
    postures["neutral"] = lib["neutral"]
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    rnd = random.Random(23)
    jobs = []
    for i, (mirror, people) in enumerate(SCENES):
        job = scene_job(rnd, i, mirror, people, postures, os.path.join(out, f"scene_{i:02d}.jpg"))
        if not args.only or i in args.only:
            jobs.append(job)
    truth = run_blender(jobs, args.jobs)

    most = max(len(p) for _, p in SCENES)
    cols = ["file", "people", "mirror", "background"]
    for k in range(1, most + 1):
        cols += [f"p{k}_{c}" for c in ("body", "pose", "distance", "hip_x", "hip_y", "nose_x", "nose_y")]
    with open(os.path.join(out, "people.tsv"), "w") as f:
        f.write("\t".join(cols) + "\n")
        for job in jobs:
            rows = []
            for person, t in zip(job["people"], truth[job["out"]]):
                # The pose the picture shows: a mirror camera shows the mirrored pose.
                pose = person["pose"]
                if job["mirror"] and pose != "neutral":
                    pose = {p["key"]: p["mirrored"] for p in lib["poses"]}[pose]
                rows.append((t["hip"][0], [person["body"], pose, f"{person['distance']:.2f}",
                                           f"{t['hip'][0]:.4f}", f"{t['hip'][1]:.4f}",
                                           f"{t['nose'][0]:.4f}", f"{t['nose'][1]:.4f}"]))
            rows.sort(key=lambda r: r[0])
            vals = [os.path.basename(job["out"]), str(len(rows)), "on" if job["mirror"] else "off", job["background"]]
            for _, r in rows:
                vals += r
            vals += [""] * (len(cols) - len(vals))
            f.write("\t".join(vals) + "\n")
    print(f"{len(jobs)} scenes in {out}")


if __name__ == "__main__":
    main()
