"""Blender side of the rendered set: builds one procedural person, poses it, renders frames.

Run by generate.py as `blender -b --factory-startup -P figure.py -- JOB.json`. The job lists
renders (output path, posture, body, clothes, camera, light, background). A job with a
`people` list (from people.py) is a scene: several people, each with its own body, clothes,
posture, yaw and floor position, in one room. Everything here is made from Blender
primitives by this script (no external assets), so the output is free of third-party rights.

The body lies in the x–z plane facing −y (towards the camera): the person's left is +x,
which the unmirrored picture shows on its right, as in shared::rules::fixtures. Limb
directions are the fixtures' side-frame degrees (0 = outward, 90 = up).
"""

import json
import math
import sys

import bpy
from mathutils import Euler, Matrix, Vector

BODIES = {
    # height scale, shoulder half-width, hip half-width, limb thickness, torso depth, head r
    "slim": dict(scale=1.0, shoulder=0.18, hip=0.10, limb=1.0, torso=1.0, head=0.105),
    "broad": dict(scale=1.04, shoulder=0.23, hip=0.14, limb=1.35, torso=1.35, head=0.11),
    "child": dict(scale=0.68, shoulder=0.19, hip=0.11, limb=1.05, torso=1.05, head=0.1),
}

# Segment lengths of a 1.75 m adult (metres); scaled by the body's scale.
UPPER_ARM, FOREARM, HAND = 0.29, 0.26, 0.09
THIGH, SHIN = 0.44, 0.43
HIP_Z, SHOULDER_Z = 0.95, 1.45


def clear_scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)


def material(name, rgb, rough=0.6, sss=0.0):
    m = bpy.data.materials.new(name)
    m.use_nodes = True
    bsdf = m.node_tree.nodes.get("Principled BSDF")
    bsdf.inputs["Base Color"].default_value = (*rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = rough
    if sss > 0:
        bsdf.inputs["Subsurface"].default_value = sss
        bsdf.inputs["Subsurface Color"].default_value = (*rgb, 1.0)
    return m


def direction(deg, sign):
    """Side-frame degrees → (x, z) unit vector; sign +1 for the left side (+x)."""
    r = math.radians(deg)
    return Vector((math.cos(r) * sign, 0.0, math.sin(r)))


def skeleton_points(posture, body):
    """3-D joint positions of the posture (before yaw), in metres."""
    s = body["scale"]
    hip_c = Vector((0.0, 0.0, HIP_Z * s))
    lean = math.radians(posture["lean"])
    # Lean to the person's left (+) moves the head towards +x (the person's left): a positive
    # rotation about +y takes +z towards +x.
    rot = Matrix.Rotation(lean, 3, Vector((0.0, 1.0, 0.0)))

    def upper(p):
        return hip_c + rot @ (p - hip_c)

    pts = {}
    pts["neck"] = upper(Vector((0.0, 0.0, (SHOULDER_Z + 0.03) * s)))
    pts["head"] = upper(Vector((0.0, 0.0, (SHOULDER_Z + 0.03) * s + body["head"] * 1.35)))
    pts["nose"] = upper(Vector((0.0, -body["head"] * 0.9, (SHOULDER_Z + 0.03) * s + body["head"] * 1.25)))
    pts["chest"] = upper(Vector((0.0, 0.0, (SHOULDER_Z - 0.17) * s)))
    pts["belly"] = upper(Vector((0.0, 0.0, (HIP_Z + 0.16) * s)))
    pts["rot"] = rot
    for name, sign in (("left", 1.0), ("right", -1.0)):
        limbs = posture[name]
        sh = Vector((sign * body["shoulder"] * s, 0.0, SHOULDER_Z * s))
        el = sh + direction(limbs["upper_arm"], sign) * UPPER_ARM * s
        wr = el + direction(limbs["forearm"], sign) * FOREARM * s
        ha = wr + direction(limbs["forearm"], sign) * HAND * s
        # Arms in front of the body (arms crossed, hands on the belly) come forward out of
        # the torso, the left a little in front of the right so crossed forearms pass.
        front = -(0.24 if sign > 0 else 0.19) * s * body["torso"]
        for p in (el, wr, ha):
            if abs(p.x) < (body["shoulder"] + 0.04) * s and (HIP_Z - 0.1) * s < p.z < (SHOULDER_Z + 0.08) * s:
                p.y = front
        pts[name + "_shoulder"] = upper(sh)
        pts[name + "_elbow"] = upper(el)
        pts[name + "_wrist"] = upper(wr)
        pts[name + "_hand"] = upper(ha)
        hp = Vector((sign * body["hip"] * s, 0.0, HIP_Z * s))
        kn = hp + direction(limbs["thigh"], sign) * THIGH * s
        an = kn + direction(limbs["shin"], sign) * SHIN * s
        pts[name + "_hip"] = hp
        pts[name + "_knee"] = kn
        pts[name + "_ankle"] = an
        pts[name + "_toe"] = an + Vector((sign * 0.03 * s, -0.13 * s, -0.05 * s))
    return pts


def ground_offset(pts):
    """Lift so the lowest ankle stands on the floor (squats bend the knees, feet stay down)."""
    low = min(pts["left_ankle"].z, pts["right_ankle"].z)
    return 0.07 - low


class Family:
    """Body parts of one material built from smooth-shaded primitives: ellipsoids and
    capsules (a cylinder with a sphere at each end), so limbs bend at round joints."""

    def __init__(self, name, mat, resolution=None):
        self.mat = mat

    def _add(self, obj):
        obj.data.materials.append(self.mat)
        for p in obj.data.polygons:
            p.use_smooth = True
        return obj

    def ball(self, at, r, scale=(1, 1, 1), rotation=None):
        bpy.ops.mesh.primitive_uv_sphere_add(radius=r, location=at, segments=24, ring_count=12)
        o = bpy.context.object
        o.scale = scale
        if rotation is not None:
            o.rotation_mode = "QUATERNION"
            o.rotation_quaternion = rotation
        return self._add(o)

    def capsule(self, a, b, r, r2=None):
        r2 = r if r2 is None else r2
        d = b - a
        if d.length > 1e-4:
            bpy.ops.mesh.primitive_cone_add(
                vertices=20, radius1=r, radius2=r2, depth=d.length, location=(a + b) / 2
            )
            o = bpy.context.object
            o.rotation_mode = "QUATERNION"
            o.rotation_quaternion = Vector((0, 0, 1)).rotation_difference(d.normalized())
            self._add(o)
        self.ball(a, r)
        self.ball(b, r2)


def build_person(job, pts):
    body = BODIES[job["body"]]
    s, t, k = body["scale"], body["limb"], body["torso"]
    rot = pts["rot"]
    q = rot.to_quaternion()
    skin = material("skin", job["skin"], 0.5)
    shirt = material("shirt", job["shirt"], 0.8)
    pants = material("pants", job["pants"], 0.8)
    shoes = material("shoes", (0.05, 0.05, 0.05), 0.4)
    hair = material("hair", job["hair"], 0.7)
    dark = material("eyes", (0.02, 0.02, 0.02), 0.2)

    fs = Family("Skin", skin)
    fc = Family("Shirt", shirt)
    fp = Family("Pants", pants)
    fo = Family("Shoes", shoes)
    fh = Family("Hair", hair)

    # Head and neck (skin), hair cap, eyes, nose and mouth on the face (−y side).
    head = pts["head"]
    hr = body["head"]
    fs.ball(head, hr, (0.85, 0.95, 1.1), q)
    fs.capsule(pts["neck"] - rot @ Vector((0, 0, 0.05 * s)), head - rot @ Vector((0, 0, hr * 0.6)), 0.055 * s * k)
    fh.ball(head + rot @ Vector((0, hr * 0.22, hr * 0.25)), hr * 1.0, (0.92, 0.95, 0.85), q)
    for sx in (-1, 1):
        eye = head + rot @ Vector((sx * hr * 0.33, -hr * 0.86, hr * 0.12))
        bpy.ops.mesh.primitive_uv_sphere_add(radius=hr * 0.11, location=eye, segments=12, ring_count=8)
        bpy.context.object.data.materials.append(dark)
    bpy.ops.mesh.primitive_cube_add(size=1, location=head + rot @ Vector((0, -hr * 0.86, -hr * 0.45)))
    m = bpy.context.object
    m.scale = (hr * 0.4, hr * 0.05, hr * 0.06)
    m.rotation_euler = rot.to_euler()
    m.data.materials.append(material("lips", (0.45, 0.15, 0.15), 0.5))
    fs.ball(pts["nose"], hr * 0.18, (0.7, 0.9, 1.2), q)

    # Torso (shirt): chest, belly, shoulders; hips (pants).
    fc.ball(pts["chest"], 0.2 * s, (body["shoulder"] / 0.18 * 0.95, 0.6 * k, 1.1), q)
    fc.ball(pts["belly"], 0.2 * s, (body["hip"] / 0.10 * 0.75, 0.55 * k, 1.0), q)
    fc.capsule(pts["left_shoulder"], pts["right_shoulder"], 0.07 * s * k)
    fp.ball(Vector((0, 0, (HIP_Z + 0.02) * s)), 0.2 * s, (body["hip"] / 0.10 * 0.8, 0.6 * k, 0.6))

    for side in ("left", "right"):
        sh, el, wr, ha = (pts[side + j] for j in ("_shoulder", "_elbow", "_wrist", "_hand"))
        # Short sleeves end above the elbow: the lower upper arm is skin.
        mid = sh + (el - sh) * 0.55
        fc.capsule(sh, mid, 0.075 * s * t, 0.068 * s * t)
        fs.capsule(mid, el, 0.056 * s * t, 0.05 * s * t)
        fs.capsule(el, wr, 0.05 * s * t, 0.038 * s * t)
        # Hand: a flat mitten along the forearm with a thumb.
        axis = (ha - wr).normalized()
        q_hand = Vector((0, 0, 1)).rotation_difference(axis)
        fs.ball(wr + axis * 0.055 * s, 0.06 * s, (0.75, 0.4, 1.15), q_hand)
        fs.capsule(wr + axis * 0.02 * s + Vector((0, -0.03 * s, 0)), wr + axis * 0.06 * s + Vector((0, -0.05 * s, 0)), 0.015 * s)
        hp, kn, an, toe = (pts[side + j] for j in ("_hip", "_knee", "_ankle", "_toe"))
        fp.capsule(hp, kn, 0.095 * s * t, 0.068 * s * t)
        fp.capsule(kn, an, 0.062 * s * t, 0.05 * s * t)
        fo.capsule(an, toe, 0.048 * s)


def yaw_everything(yaw_deg, offset_z):
    rot = Matrix.Rotation(math.radians(yaw_deg), 4, "Z")
    lift = Matrix.Translation((0, 0, offset_z))
    for o in bpy.context.scene.objects:
        o.matrix_world = lift @ rot @ o.matrix_world


def build_room(job, rng_seed):
    import random

    rnd = random.Random(rng_seed)
    wall = material("wall", job["wall"], 0.9)
    floor = material("floor", job["floor"], 0.7)
    # Scenes put people deeper into the room: the wall and the furniture move back with them.
    back = job.get("room_back", 0.0)
    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 0, 0))
    bpy.context.object.data.materials.append(floor)
    bpy.ops.mesh.primitive_plane_add(size=30, location=(0, 1.6 + back, 0), rotation=(math.pi / 2, 0, 0))
    bpy.context.object.data.materials.append(wall)
    if job["background"] == "cluttered":
        # Shelves, boxes, a lamp, a door and framed pictures, randomly placed and coloured.
        for i in range(9):
            w, d, h = rnd.uniform(0.3, 1.0), rnd.uniform(0.3, 0.6), rnd.uniform(0.3, 1.9)
            x = rnd.choice([-1, 1]) * rnd.uniform(0.8, 2.6)
            y = rnd.uniform(0.6, 1.3) + back
            bpy.ops.mesh.primitive_cube_add(size=1, location=(x, y, h / 2))
            o = bpy.context.object
            o.scale = (w, d, h)
            o.rotation_euler = (0, 0, rnd.uniform(-0.4, 0.4))
            o.data.materials.append(material(f"box{i}", [rnd.uniform(0.05, 0.9) for _ in range(3)], 0.6))
        for i in range(4):
            x, z = rnd.uniform(-2.5, 2.5), rnd.uniform(1.3, 2.2)
            bpy.ops.mesh.primitive_plane_add(size=1, location=(x, 1.58 + back, z), rotation=(math.pi / 2, 0, 0))
            o = bpy.context.object
            o.scale = (rnd.uniform(0.3, 0.8), rnd.uniform(0.3, 0.6), 1)
            o.data.materials.append(material(f"pic{i}", [rnd.uniform(0.05, 0.95) for _ in range(3)], 0.4))
        bpy.ops.mesh.primitive_cylinder_add(radius=0.2, depth=0.9, location=(rnd.uniform(-2.2, 2.2), 0.3 + back, 0.45))
        bpy.context.object.data.materials.append(material("plant", (0.1, 0.35, 0.1), 0.8))


def setup_camera_light(job, look_z):
    cam = bpy.data.cameras.new("cam")
    cam.lens = job.get("lens", 28)
    co = bpy.data.objects.new("cam", cam)
    bpy.context.collection.objects.link(co)
    co.location = (job["cam_x"], -job["cam_dist"], job["cam_height"])
    target = Vector((0, job.get("look_y", 0.0), look_z))
    co.rotation_euler = (target - co.location).to_track_quat("-Z", "Y").to_euler()
    bpy.context.scene.camera = co

    light = bpy.data.lights.new("key", "AREA")
    light.energy = job["light"] * 250
    light.size = 2.0
    lo = bpy.data.objects.new("key", light)
    bpy.context.collection.objects.link(lo)
    a = math.radians(job["light_angle"])
    lo.location = (3.0 * math.sin(a), -3.0 * math.cos(a), 2.8)
    lo.rotation_euler = (Vector((0, 0, 1.0)) - lo.location).to_track_quat("-Z", "Y").to_euler()
    world = bpy.data.worlds.new("w")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[0].default_value = (0.4, 0.4, 0.42, 1)
    world.node_tree.nodes["Background"].inputs[1].default_value = 0.3 * job["light"]
    bpy.context.scene.world = world


def render_settings(job):
    sc = bpy.context.scene
    sc.render.engine = "CYCLES"
    sc.cycles.device = "CPU"
    sc.cycles.samples = job.get("samples", 16)
    sc.cycles.seed = job.get("seed", 0) % 1000
    sc.cycles.use_denoising = False
    sc.cycles.max_bounces = 3
    sc.cycles.diffuse_bounces = 1
    sc.cycles.glossy_bounces = 1
    sc.cycles.transmission_bounces = 0
    sc.cycles.use_adaptive_sampling = False
    sc.render.threads_mode = "FIXED"
    sc.render.threads = 1
    sc.render.resolution_x = job["width"]
    sc.render.resolution_y = job["height"]
    sc.render.resolution_percentage = 100
    sc.render.image_settings.file_format = "JPEG"
    sc.render.image_settings.quality = 82
    sc.view_settings.view_transform = "Standard"
    sc.view_settings.look = "None"
    # A mirror (selfie) camera: flip the picture left–right with a negative x scale.
    sc.render.use_compositing = False


def project(pts_world):
    """Pixel positions of world points through the scene camera (for the manifest)."""
    from bpy_extras.object_utils import world_to_camera_view

    sc = bpy.context.scene
    out = {}
    for name, p in pts_world.items():
        v = world_to_camera_view(sc, sc.camera, p)
        out[name] = (v.x, 1.0 - v.y)
    return out


def flip_file(path):
    """A mirror (selfie) camera: the saved picture flipped left–right."""
    img = bpy.data.images.load(path)
    w, h = img.size
    src = img.pixels[:]
    out = []
    for y in range(h):
        row = src[y * w * 4 : (y + 1) * w * 4]
        for x in range(w - 1, -1, -1):
            out.extend(row[x * 4 : x * 4 + 4])
    img.pixels[:] = out
    img.filepath_raw = path
    img.file_format = "JPEG"
    img.save()
    bpy.data.images.remove(img)


def render_still(job, look_z):
    """Camera and light aimed at height `look_z`, render to job["out"], mirrored if asked."""
    setup_camera_light(job, look_z)
    render_settings(job)
    bpy.context.scene.render.filepath = job["out"]
    bpy.ops.render.render(write_still=True)
    if job.get("mirror"):
        flip_file(job["out"])


def render_one(job):
    clear_scene()
    pts = skeleton_points(job["posture"], BODIES[job["body"]])
    dz = ground_offset(pts)
    build_person(job, pts)
    yaw_everything(job["yaw"], dz)
    build_room(job, job["seed"])
    s = BODIES[job["body"]]["scale"]
    render_still(job, (HIP_Z + 0.1) * s + dz * 0.5)
    # Joint truth in picture coordinates (0–1), mirrored like the picture.
    rot = Matrix.Rotation(math.radians(job["yaw"]), 4, "Z")
    world = {}
    for k, v in pts.items():
        if isinstance(v, Vector):
            world[k] = (Matrix.Translation((0, 0, dz)) @ rot) @ v
    proj = project(world)
    if job.get("mirror"):
        proj = {k: (1.0 - x, y) for k, (x, y) in proj.items()}
    return proj


def render_scene(job):
    """Several people in one room (job["people"]: body, clothes, posture, yaw, x, y each).
    Returns, per person in the job's order, the picture position (0–1, mirrored like the
    picture) of the hip centre and the nose."""
    clear_scene()
    placed = []
    for person in job["people"]:
        body = BODIES[person["body"]]
        pts = skeleton_points(person["posture"], body)
        dz = ground_offset(pts)
        before = set(bpy.context.scene.objects)
        build_person(person, pts)
        # Turn the new person about its own vertical axis, stand it on the floor at (x, y).
        place = Matrix.Translation((person["x"], person["y"], dz)) @ Matrix.Rotation(math.radians(person["yaw"]), 4, "Z")
        for o in bpy.context.scene.objects:
            if o not in before:
                o.matrix_world = place @ o.matrix_world
        hip = (pts["left_hip"] + pts["right_hip"]) / 2
        placed.append({"hip": place @ hip, "nose": place @ pts["nose"]})
    build_room(job, job["seed"])
    render_still(job, job["look_z"])
    out = []
    for world in placed:
        proj = project(world)
        if job.get("mirror"):
            proj = {k: (1.0 - x, y) for k, (x, y) in proj.items()}
        out.append(proj)
    return out


def main():
    argv = sys.argv[sys.argv.index("--") + 1 :]
    jobs = json.load(open(argv[0]))
    truth = {}
    for job in jobs:
        truth[job["out"]] = render_scene(job) if "people" in job else render_one(job)
    json.dump(truth, open(argv[1], "w"))


main()
