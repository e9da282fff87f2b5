"""Scene.to_mjcf: the XML's values, and the same scene loaded in MuJoCo (when installed);
Scene.from_mjcf: round trips, hand-written MJCF, and what it refuses."""
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import simcore as sc
from simcore.kernels import consts
from simcore.mjcf import scene_to_mjcf
from tests.helpers import quat_to_matrix

PLANE_NORMAL = np.array([0.2, -0.1, 1.0]) / np.linalg.norm([0.2, -0.1, 1.0])
PLANE_OFFSET = 0.05


def axis_angle_quat(axis, angle):
    axis = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


BOX_QUAT = axis_angle_quat((1.0, 2.0, -0.5), 0.9)


def mixed_scene():
    """Tilted plane, sphere, rotated spinning box, tilted capsule, static box, kinematic sphere."""
    scene = sc.Scene(dt=2e-3, gravity=(0.1, -0.2, -9.81))
    scene.add_plane(normal=PLANE_NORMAL, offset=PLANE_OFFSET, friction=0.8, restitution=0.3)
    scene.add_sphere(0.1, mass=1.5, pos=(0.0, 0.0, 1.0), vel=(1.0, -2.0, 0.5),
                     ang_vel=(0.3, 0.0, -1.0), friction=0.4)
    scene.add_box((0.1, 0.2, 0.3), mass=2.0, pos=(0.5, 0.2, 1.2), quat=BOX_QUAT,
                  vel=(0.0, 0.0, 0.3), ang_vel=(1.0, 2.0, 3.0), restitution=0.6)
    scene.add_capsule(0.05, 0.2, mass=0.7, pos=(-0.4, 0.3, 0.8),
                      quat=axis_angle_quat((0.0, 1.0, 0.0), 0.5), ang_vel=(0.0, 4.0, 0.0))
    scene.add_box((0.2, 0.1, 0.05), pos=(1.0, -1.0, 0.3),
                  quat=axis_angle_quat((0.0, 0.0, 1.0), 0.3), kind="static")
    scene.add_sphere(0.08, pos=(-1.0, 1.0, 0.5), vel=(0.0, 0.5, 0.0), kind="kinematic")
    return scene


PLANE, SPHERE, BOX, CAPSULE, STATIC_BOX, KINEMATIC = range(6)
DYNAMIC = (SPHERE, BOX, CAPSULE)


def floats(text):
    return np.array([float(x) for x in text.split()])


def parse(xml):
    return ET.fromstring(xml)


def find_named(root, tag, name):
    found = [e for e in root.iter(tag) if e.get("name") == name]
    assert len(found) == 1, (tag, name, len(found))
    return found[0]


# ---------------------------------------------------------------- the XML itself


def test_option_carries_dt_and_gravity():
    scene = mixed_scene()
    option = parse(scene.to_mjcf()).find("option")
    assert float(option.get("timestep")) == scene.dt
    np.testing.assert_array_equal(floats(option.get("gravity")), scene.gravity)


def test_plane_is_a_worldbody_geom_on_our_plane():
    root = parse(mixed_scene().to_mjcf())
    world = root.find("worldbody")
    geom = find_named(root, "geom", f"geom{PLANE}")
    assert geom in list(world), "a plane must be a direct child of the worldbody"
    assert geom.get("type") == "plane"
    pos, quat = floats(geom.get("pos")), floats(geom.get("quat"))
    # MuJoCo's plane: through pos, normal = local z
    np.testing.assert_allclose(quat_to_matrix(quat)[:, 2], PLANE_NORMAL, atol=1e-12)
    assert pos @ PLANE_NORMAL == pytest.approx(PLANE_OFFSET, abs=1e-12)
    size = floats(geom.get("size"))
    assert size.shape == (3,) and np.all(size > 0) and size[0] >= 1.0
    # (sliding, torsional, rolling: simcore's own, 0 unless given; condim 3 does not use them)
    np.testing.assert_array_equal(floats(geom.get("friction")), [0.8, 0.0, 0.0])
    assert geom.get("condim") is None


@pytest.mark.parametrize("i, gtype, size", [
    (SPHERE, "sphere", [0.1]),
    (BOX, "box", [0.1, 0.2, 0.3]),
    (CAPSULE, "capsule", [0.05, 0.2]),
])
def test_dynamic_body_has_freejoint_exact_inertial_and_geom(i, gtype, size):
    scene = mixed_scene()
    ours = scene.bodies[i]
    root = parse(scene.to_mjcf())
    body = find_named(root, "body", f"body{i}")
    assert body in list(root.find("worldbody"))
    assert body.find("freejoint") is not None
    assert body.get("mocap") is None
    np.testing.assert_array_equal(floats(body.get("pos")), ours["pos"])
    np.testing.assert_array_equal(floats(body.get("quat")), ours["quat"])
    inertial = body.find("inertial")
    np.testing.assert_array_equal(floats(inertial.get("pos")), [0.0, 0.0, 0.0])
    assert float(inertial.get("mass")) == ours["mass"]  # exact: floats written round-trip
    np.testing.assert_array_equal(floats(inertial.get("diaginertia")), ours["inertia"])
    geom = body.find("geom")
    assert geom.get("name") == f"geom{i}"
    assert geom.get("type") == gtype
    np.testing.assert_array_equal(floats(geom.get("size")), size)
    assert geom.get("pos") is None and geom.get("quat") is None  # at the body frame
    np.testing.assert_array_equal(floats(geom.get("friction")),
                                  [ours["friction"], 0.0, 0.0])


def test_user_inertia_is_written_not_recomputed():
    scene = sc.Scene()
    scene.add_box((0.1, 0.1, 0.1), mass=3.0, inertia=(0.5, 0.6, 0.7))
    inertial = parse(scene.to_mjcf()).find(".//inertial")
    assert float(inertial.get("mass")) == 3.0
    np.testing.assert_array_equal(floats(inertial.get("diaginertia")), [0.5, 0.6, 0.7])


def test_static_box_is_worldbody_geom_and_kinematic_is_mocap():
    scene = mixed_scene()
    root = parse(scene.to_mjcf())
    world = list(root.find("worldbody"))
    geom = find_named(root, "geom", f"geom{STATIC_BOX}")
    assert geom in world and geom.get("type") == "box"
    np.testing.assert_array_equal(floats(geom.get("pos")), scene.bodies[STATIC_BOX]["pos"])
    np.testing.assert_array_equal(floats(geom.get("quat")), scene.bodies[STATIC_BOX]["quat"])
    np.testing.assert_array_equal(floats(geom.get("size")), [0.2, 0.1, 0.05])
    assert not [b for b in root.iter("body") if b.get("name") == f"body{STATIC_BOX}"]
    body = find_named(root, "body", f"body{KINEMATIC}")
    assert body in world and body.get("mocap") == "true"
    assert body.find("freejoint") is None and body.find("joint") is None
    assert body.find("geom").get("type") == "sphere"
    np.testing.assert_array_equal(floats(body.get("pos")), scene.bodies[KINEMATIC]["pos"])


def test_restitution_is_explained_in_a_comment():
    xml = mixed_scene().to_mjcf()
    root = ET.fromstring(xml, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    comments = [e.text for e in root.iter() if e.tag is ET.Comment]
    assert any("restitution" in c.lower() and "no" in c.lower() for c in comments), comments
    # the bodies with a non-zero restitution are named with their value
    assert any(f"body{BOX}" in c and "0.6" in c for c in comments), comments
    assert any(f"body{PLANE}" in c and "0.3" in c for c in comments), comments
    assert all("restitution" not in e.attrib for e in root.iter())  # not an MJCF attribute


def test_keyframe_has_state_with_body_frame_angular_velocity():
    scene = mixed_scene()
    key = parse(scene.to_mjcf()).find("keyframe/key")
    qpos, qvel = floats(key.get("qpos")), floats(key.get("qvel"))
    assert qpos.shape == (7 * len(DYNAMIC),) and qvel.shape == (6 * len(DYNAMIC),)
    for j, i in enumerate(DYNAMIC):
        b = scene.bodies[i]
        np.testing.assert_array_equal(qpos[7 * j:7 * j + 3], b["pos"])
        np.testing.assert_array_equal(qpos[7 * j + 3:7 * j + 7], b["quat"])
        np.testing.assert_array_equal(qvel[6 * j:6 * j + 3], b["vel"])
        R = quat_to_matrix(b["quat"])
        np.testing.assert_allclose(qvel[6 * j + 3:6 * j + 6], R.T @ b["ang_vel"], atol=1e-14)
    # the box is rotated and spinning: body and world frame differ
    assert not np.allclose(qvel[9:12], scene.bodies[BOX]["ang_vel"])
    np.testing.assert_array_equal(floats(key.get("mpos")), scene.bodies[KINEMATIC]["pos"])
    np.testing.assert_array_equal(floats(key.get("mquat")), scene.bodies[KINEMATIC]["quat"])


def test_path_writes_the_same_text(tmp_path):
    scene = mixed_scene()
    path = tmp_path / "scene.xml"
    xml = scene_to_mjcf(scene, path)
    assert path.read_text(encoding="utf-8") == xml
    assert scene.to_mjcf(str(tmp_path / "again.xml")) == xml
    assert (tmp_path / "again.xml").read_text(encoding="utf-8") == xml


def test_plane_only_scene_has_no_joint_state():
    scene = sc.Scene()
    scene.add_plane()
    key = parse(scene.to_mjcf()).find("keyframe/key")
    assert key.get("qpos") is None and key.get("qvel") is None


# ---------------------------------------------------------------- loaded in MuJoCo


@pytest.fixture
def mujoco():
    return pytest.importorskip("mujoco")


def load(mujoco, scene):
    m = mujoco.MjModel.from_xml_string(scene.to_mjcf())
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    mujoco.mj_forward(m, d)
    return m, d


def same_rotation(q1, q2):
    return abs(float(np.dot(q1, q2))) == pytest.approx(1.0, abs=1e-12)


def test_mujoco_loads_the_same_bodies_and_state(mujoco):
    scene = mixed_scene()
    m, d = load(mujoco, scene)
    assert m.nbody == 1 + len(DYNAMIC) + 1  # world, free bodies, one mocap body
    assert m.opt.timestep == scene.dt
    np.testing.assert_array_equal(m.opt.gravity, scene.gravity)
    for i in DYNAMIC:
        b = scene.bodies[i]
        bid = m.body(f"body{i}").id
        np.testing.assert_allclose(d.xpos[bid], b["pos"], atol=1e-14)
        assert same_rotation(d.xquat[bid], b["quat"]), (d.xquat[bid], b["quat"])
        assert m.body_mass[bid] == b["mass"]
        np.testing.assert_allclose(m.body_inertia[bid], b["inertia"], rtol=1e-14)
        np.testing.assert_array_equal(m.body_ipos[bid], 0.0)
        assert same_rotation(m.body_iquat[bid], [1.0, 0.0, 0.0, 0.0])
        # world-frame velocity of the body (rotation first, then translation)
        res = np.zeros(6)
        mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_BODY, bid, res, 0)
        np.testing.assert_allclose(res[:3], b["ang_vel"], atol=1e-12)
        np.testing.assert_allclose(res[3:], b["vel"], atol=1e-12)
        # the same from xmat and the free joint's body-frame qvel
        dof = m.jnt_dofadr[m.body_jntadr[bid]]
        R = d.xmat[bid].reshape(3, 3)
        np.testing.assert_allclose(R @ d.qvel[dof + 3:dof + 6], b["ang_vel"], atol=1e-12)
    bid = m.body(f"body{KINEMATIC}").id
    assert m.body_mocapid[bid] == 0
    np.testing.assert_allclose(d.xpos[bid], scene.bodies[KINEMATIC]["pos"], atol=1e-14)


def test_mujoco_geoms_match_shapes_and_poses(mujoco):
    scene = mixed_scene()
    m, d = load(mujoco, scene)
    types = {consts.GEOM_PLANE: mujoco.mjtGeom.mjGEOM_PLANE,
             consts.GEOM_SPHERE: mujoco.mjtGeom.mjGEOM_SPHERE,
             consts.GEOM_CAPSULE: mujoco.mjtGeom.mjGEOM_CAPSULE,
             consts.GEOM_BOX: mujoco.mjtGeom.mjGEOM_BOX}
    for i, b in enumerate(scene.bodies):
        gid = m.geom(f"geom{i}").id
        assert m.geom_type[gid] == types[b["type"]]
        R = d.geom_xmat[gid].reshape(3, 3)
        np.testing.assert_allclose(R, quat_to_matrix(b["quat"]), atol=1e-12)
        np.testing.assert_allclose(d.geom_xpos[gid], b["pos"], atol=1e-14)
        assert m.geom_friction[gid, 0] == b["friction"]
    np.testing.assert_allclose(m.geom_size[m.geom(f"geom{CAPSULE}").id, :2], [0.05, 0.2])
    np.testing.assert_allclose(m.geom_size[m.geom(f"geom{BOX}").id], [0.1, 0.2, 0.3])
    assert m.geom_size[m.geom(f"geom{SPHERE}").id, 0] == 0.1
    plane = m.geom(f"geom{PLANE}").id
    n = d.geom_xmat[plane].reshape(3, 3)[:, 2]
    np.testing.assert_allclose(n, PLANE_NORMAL, atol=1e-12)
    assert n @ d.geom_xpos[plane] == pytest.approx(PLANE_OFFSET, abs=1e-12)


def test_mujoco_sees_the_tilted_plane_where_we_do(mujoco):
    # a sphere 1 mm into the tilted plane: MuJoCo's contact has our depth and normal
    scene = sc.Scene()
    scene.add_plane(normal=PLANE_NORMAL, offset=PLANE_OFFSET)
    r, depth = 0.1, 1e-3
    scene.add_sphere(r, pos=PLANE_OFFSET * PLANE_NORMAL + (r - depth) * PLANE_NORMAL
                     + np.array([0.3, 0.2, 0.0]) - (np.array([0.3, 0.2, 0.0]) @ PLANE_NORMAL)
                     * PLANE_NORMAL)
    _, d = load(mujoco, scene)
    assert d.ncon == 1
    assert d.contact.dist[0] == pytest.approx(-depth, abs=1e-12)
    normal = d.contact.frame[0, :3]
    np.testing.assert_allclose(np.abs(normal @ PLANE_NORMAL), 1.0, atol=1e-12)


def test_free_flight_matches_mujoco(mujoco):
    # a spinning box with distinct moments, no contact: both are semi-implicit Euler, so the
    # states agree to O(dt) (the gyroscopic term is discretised differently)
    steps, dt = 100, 1e-3
    scene = sc.Scene(dt=dt)
    scene.add_box((0.05, 0.1, 0.2), mass=1.3, pos=(0.1, -0.2, 2.0), quat=BOX_QUAT,
                  vel=(0.5, -0.3, 1.0), ang_vel=(3.0, -5.0, 8.0))
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), steps)
    assert traj.ncon.sum() == 0
    m, d = load(mujoco, scene)
    bid = m.body("body0").id
    w = np.zeros(6)
    for t in range(steps):
        mujoco.mj_step(m, d)
    mujoco.mj_forward(m, d)
    mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_BODY, bid, w, 0)
    # positions: the translational update is identical
    np.testing.assert_allclose(d.xpos[bid], traj.pos[steps, 0], atol=1e-12)
    np.testing.assert_allclose(w[3:], traj.vel[steps, 0], atol=1e-12)
    # orientation and spin: the box has turned by about 1 rad and its spin axis precesses,
    # yet the two integrators differ by only O(dt)
    q_mj, q_sc = d.xquat[bid], traj.quat[steps, 0]
    angle = 2 * np.arccos(min(1.0, abs(float(q_mj @ q_sc))))
    assert angle < 10 * dt, angle
    assert np.linalg.norm(w[:3] - traj.ang_vel[steps, 0]) < 10 * dt * np.linalg.norm(w[:3])
    # and the comparison is not trivial: the spin has changed direction noticeably
    assert np.linalg.norm(traj.ang_vel[steps, 0] - traj.ang_vel[0, 0]) > 100 * dt


# ---------------------------------------------------------------- Scene.from_mjcf

HAND_WRITTEN = Path(__file__).with_name("mjcf_hand_written.xml")
ROUND_TRIP_STEPS = 150
STATE_FIELDS = ("pos", "quat", "vel", "ang_vel")


def shapes_scene():
    """Two planes (one tilted), every shape dynamic and spinning, static and kinematic ones."""
    scene = sc.Scene(dt=1e-3, gravity=(0.0, 0.0, -9.81), margin=2e-3, max_speed=40.0)
    scene.add_plane(friction=0.6, restitution=0.2)
    scene.add_plane(normal=(-1.0, 0.3, 0.4), offset=-0.6, friction=0.3)
    scene.add_sphere(0.05, mass=0.3, pos=(0.2, 0.1, 0.06), vel=(-1.0, 0.5, -0.2),
                     ang_vel=(2.0, -1.0, 0.5), restitution=0.8)
    scene.add_box((0.05, 0.08, 0.03), mass=0.9, pos=(-0.2, 0.0, 0.05),
                  quat=axis_angle_quat((0.3, -1.0, 0.2), 0.7), vel=(0.3, 0.0, -0.5),
                  ang_vel=(-3.0, 1.0, 6.0), friction=0.9)
    scene.add_capsule(0.03, 0.1, mass=0.4, pos=(0.0, -0.3, 0.04),
                      quat=axis_angle_quat((1.0, 0.2, 0.0), 1.4), vel=(0.0, 1.0, -0.3),
                      ang_vel=(0.0, 0.0, 9.0), inertia=(0.003, 0.0028, 0.0004))
    scene.add_sphere(0.1, pos=(0.5, 0.5, 0.1), kind="static", restitution=0.5)
    scene.add_capsule(0.04, 0.2, pos=(-0.5, 0.4, 0.04),
                      quat=axis_angle_quat((0.0, 1.0, 0.0), np.pi / 2), kind="static")
    scene.add_box((0.1, 0.1, 0.02), pos=(0.0, 0.4, 0.3), quat=axis_angle_quat((0, 0, 1), 0.4),
                  vel=(0.0, -0.4, -0.2), ang_vel=(0.0, 0.0, 1.5), kind="kinematic")
    return scene


def stack_scene():
    """A capsule lying on a box on a sphere pile: contacts between moving bodies."""
    scene = sc.Scene(dt=2e-3)
    scene.add_plane(normal=(0.0, 0.05, 1.0), friction=1.0)
    scene.add_sphere(0.1, pos=(0.0, 0.0, 0.101), ang_vel=(0.0, 0.0, 3.0))
    scene.add_box((0.2, 0.2, 0.05), mass=2.0, pos=(0.02, 0.0, 0.26),
                  quat=axis_angle_quat((0, 0, 1), 0.2))
    scene.add_capsule(0.05, 0.15, pos=(0.0, 0.01, 0.37),
                      quat=axis_angle_quat((1.0, 1.0, 0.0), np.pi / 2), vel=(0.2, 0.0, 0.0))
    return scene


def rollout(scene, steps=ROUND_TRIP_STEPS, contact=None):
    model = scene.build(contact=contact or sc.HardContact())
    return sc.rollout(model, model.initial_state(), steps)


def line_of(xml, needle):
    """The line (from 1) on which ``needle`` starts in ``xml``; it must occur once."""
    assert xml.count(needle) == 1, needle
    return xml[:xml.index(needle)].count("\n") + 1


def load_error(xml):
    with pytest.raises(ValueError) as info:
        sc.Scene.from_mjcf(xml)
    return str(info.value)


# mixed_scene's bodies fall from about 1 m: they land after some 200 steps
@pytest.mark.parametrize("make, steps", [(mixed_scene, 230), (shapes_scene, ROUND_TRIP_STEPS),
                                         (stack_scene, ROUND_TRIP_STEPS)])
def test_round_trip_rolls_out_identically(make, steps):
    scene = make()
    back = sc.Scene.from_mjcf(scene.to_mjcf())
    assert (back.dt, back.margin, back.max_speed) == (scene.dt, scene.margin, scene.max_speed)
    np.testing.assert_array_equal(back.gravity, scene.gravity)
    assert len(back.bodies) == len(scene.bodies)
    for ours, theirs in zip(scene.bodies, back.bodies):
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(theirs[key], ours[key], err_msg=key)
    a, b = rollout(scene, steps), rollout(back, steps)
    assert a.ncon.sum() > 0  # the comparison includes contact
    for field in STATE_FIELDS:  # bit for bit (the contract: within 1e-12)
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


@pytest.mark.parametrize("make, contact", [(stack_scene, sc.PenaltyContact()),
                                           (shapes_scene, sc.SmoothedContact(kappa=1e-3))])
def test_round_trip_other_contact_models(make, contact):
    scene = make()
    a, b = (rollout(s, 100, contact) for s in (scene, sc.Scene.from_mjcf(scene.to_mjcf())))
    assert a.ncon.sum() > 0
    for field in STATE_FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_world_angular_velocity_must_match_the_keyframe():
    scene = sc.Scene()
    scene.add_box((0.1, 0.2, 0.3), quat=BOX_QUAT, ang_vel=(1.0, 2.0, 3.0))
    xml = scene.to_mjcf()
    key = parse(xml).find("keyframe/key")
    # the keyframe holds it in the body frame: the numeric restores the exact bits
    np.testing.assert_allclose(quat_to_matrix(BOX_QUAT) @ floats(key.get("qvel"))[3:],
                               [1.0, 2.0, 3.0], rtol=1e-15)
    assert sc.Scene.from_mjcf(xml).bodies[0]["ang_vel"].tolist() == [1.0, 2.0, 3.0]
    edited = xml.replace(key.get("qvel"), "0 0 0 0 0 1")
    message = load_error(edited)
    assert message.startswith(f"MJCF line {line_of(edited, 'simcore:ang_vel:body0')}, "
                              f"<numeric>: "), message
    assert "keyframe" in message and "delete it" in message


def test_simcore_values_are_custom_numerics():
    scene = shapes_scene()
    root = parse(scene.to_mjcf())
    numerics = {e.get("name"): list(floats(e.get("data"))) for e in root.iter("numeric")}
    assert numerics == {
        "simcore:margin": [2e-3], "simcore:max_speed": [40.0],
        "simcore:restitution:geom0": [0.2], "simcore:restitution:geom2": [0.8],
        "simcore:restitution:geom5": [0.5],
        "simcore:velocity:body7": [0.0, -0.4, -0.2, 0.0, 0.0, 1.5],
        "simcore:ang_vel:body2": [2.0, -1.0, 0.5], "simcore:ang_vel:body3": [-3.0, 1.0, 6.0],
        "simcore:ang_vel:body4": [0.0, 0.0, 9.0]}
    # no max_speed bound: none written, none read back
    scene = sc.Scene()
    scene.add_sphere(0.1)
    xml = scene.to_mjcf()
    assert "simcore:max_speed" not in xml
    assert sc.Scene.from_mjcf(xml).max_speed == np.inf


def test_path_and_string_input(tmp_path):
    scene = mixed_scene()
    path = tmp_path / "scene.xml"
    xml = scene.to_mjcf(path)
    for source in (path, str(path), "\n  \t" + xml):
        back = sc.Scene.from_mjcf(source)
        np.testing.assert_array_equal([b["pos"] for b in back.bodies],
                                      [b["pos"] for b in scene.bodies])
    # a file's errors name the file
    path.write_text(xml.replace('<freejoint name="joint1" />', '<joint name="joint1" />'))
    with pytest.raises(ValueError, match=rf"{path.name} line \d+, <joint>"):
        sc.Scene.from_mjcf(path)
    with pytest.raises(TypeError, match="xml_or_path"):
        sc.Scene.from_mjcf(3)
    with pytest.raises(FileNotFoundError):
        sc.Scene.from_mjcf(str(tmp_path / "missing.xml"))


def one_body(body, compiler=""):
    return f"""<mujoco>
  {compiler}
  <worldbody>
    {body}
  </worldbody>
</mujoco>"""


@pytest.mark.parametrize("compiler, euler", [
    ("", "0 0 90"),
    ('<compiler angle="degree"/>', "0 0 90"),
    ('<compiler angle="radian"/>', f"0 0 {np.pi / 2!r}"),
])
def test_euler_in_degrees_by_default_or_radians(compiler, euler):
    xml = one_body(f'<body euler="{euler}"><freejoint/><geom size="0.1"/></body>', compiler)
    quat = sc.Scene.from_mjcf(xml).bodies[0]["quat"]
    np.testing.assert_allclose(quat, axis_angle_quat((0, 0, 1), np.pi / 2), atol=1e-15)


def test_eulerseq_fixed_and_moving_axes():
    angles = (30.0, 40.0, 50.0)
    qx, qy, qz = (axis_angle_quat(axis, np.radians(a))
                  for axis, a in zip(np.eye(3), angles))
    body = f'<body euler="{" ".join(map(str, angles))}"><freejoint/><geom size="0.1"/></body>'
    moving = quat_to_matrix(qx) @ quat_to_matrix(qy) @ quat_to_matrix(qz)  # xyz, intrinsic
    fixed = quat_to_matrix(qz) @ quat_to_matrix(qy) @ quat_to_matrix(qx)   # XYZ, extrinsic
    for seq, expected in (("xyz", moving), ("XYZ", fixed)):
        xml = one_body(body, f'<compiler eulerseq="{seq}"/>')
        R = quat_to_matrix(sc.Scene.from_mjcf(xml).bodies[0]["quat"])
        np.testing.assert_allclose(R, expected, atol=1e-15, err_msg=seq)


def test_mass_from_density_geom_mass_or_inertial():
    xml = """<mujoco>
  <worldbody>
    <body><freejoint/><geom type="sphere" size="0.1"/></body>
    <body><freejoint/><geom type="box" size="0.1 0.2 0.3" density="500"/></body>
    <body><freejoint/><geom type="capsule" size="0.05 0.2" mass="0.7" density="3"/></body>
    <body><freejoint/><inertial pos="0 0 0" mass="2" diaginertia="0.1 0.2 0.3"/>
      <geom type="box" size="0.1 0.1 0.1" mass="5"/></body>
  </worldbody>
</mujoco>"""
    sphere, box, capsule, given = sc.Scene.from_mjcf(xml).bodies
    assert sphere["mass"] == pytest.approx(1000 * 4 / 3 * np.pi * 0.1 ** 3, rel=1e-15)
    assert box["mass"] == pytest.approx(500 * 0.2 * 0.4 * 0.6, rel=1e-15)
    assert capsule["mass"] == 0.7
    np.testing.assert_allclose(box["inertia"], box["mass"] / 3 * np.array(
        [0.2 ** 2 + 0.3 ** 2, 0.1 ** 2 + 0.3 ** 2, 0.1 ** 2 + 0.2 ** 2]), rtol=1e-14)
    assert given["mass"] == 2.0
    np.testing.assert_array_equal(given["inertia"], [0.1, 0.2, 0.3])
    # inertiafromgeom="true": MuJoCo ignores the <inertial>, and so do we
    geom_only = sc.Scene.from_mjcf(xml.replace("<mujoco>", '<mujoco>\n<compiler '
                                                'inertiafromgeom="true"/>')).bodies[3]
    assert geom_only["mass"] == 5.0
    np.testing.assert_allclose(geom_only["inertia"], np.full(3, 5.0 / 3 * 0.02), rtol=1e-14)


def test_rotated_inertial_diagonal_in_the_geom_frame():
    # principal axes turned by 90 degrees about z: the moments trade places
    xml = one_body('<body><freejoint/><inertial pos="0 0 0" mass="1" quat="1 0 0 1" '
                   'diaginertia="0.1 0.2 0.3"/><geom type="box" size="0.1 0.2 0.3"/></body>')
    np.testing.assert_allclose(sc.Scene.from_mjcf(xml).bodies[0]["inertia"], [0.2, 0.1, 0.3],
                               rtol=1e-14)


def test_capsule_by_fromto():
    xml = one_body('<geom type="capsule" fromto="1 2 3 1 2 3.5" size="0.1"/>\n'
                   '<geom type="capsule" fromto="-1 0 0 0 0 0" size="0.05 7"/>\n'
                   '<body pos="0 0 1"><freejoint/>'
                   '<geom type="capsule" fromto="0 -0.2 0 0 0.2 0" size="0.05"/></body>')
    vertical, along_x, dynamic = sc.Scene.from_mjcf(xml).bodies
    np.testing.assert_allclose(vertical["pos"], [1.0, 2.0, 3.25])
    # as in MuJoCo, the capsule's z axis points from the second end to the first
    np.testing.assert_allclose(quat_to_matrix(vertical["quat"]), np.diag([1.0, -1.0, -1.0]),
                               atol=1e-15)
    np.testing.assert_allclose(vertical["size"][:2], [0.1, 0.25])
    np.testing.assert_allclose(along_x["pos"], [-0.5, 0.0, 0.0])
    np.testing.assert_allclose(quat_to_matrix(along_x["quat"])[:, 2], [-1.0, 0.0, 0.0],
                               atol=1e-15)
    np.testing.assert_allclose(along_x["size"][:2], [0.05, 0.5])  # fromto sets the length
    # in a dynamic body the simcore body takes the geom's frame: its z along the segment
    assert dynamic["kind"] == consts.BODY_DYNAMIC
    np.testing.assert_allclose(dynamic["pos"], [0.0, 0.0, 1.0])
    np.testing.assert_allclose(quat_to_matrix(dynamic["quat"])[:, 2], [0.0, -1.0, 0.0],
                               atol=1e-15)
    np.testing.assert_allclose(dynamic["size"][:2], [0.05, 0.2])


def test_keyframe_angular_velocity_is_body_frame_and_mocap_key():
    xml = """<mujoco>
  <compiler angle="radian"/>
  <worldbody>
    <body><freejoint/><geom size="0.1"/></body>
    <body mocap="true" pos="5 5 5"><geom type="box" size="0.1 0.1 0.1"/></body>
  </worldbody>
  <keyframe>
    <key name="first" qpos="1 2 3 0.7071067811865476 0 0 0.7071067811865476"
         qvel="0.1 0.2 0.3 1 0 0" mpos="0 0 1" mquat="0 1 0 0"/>
    <key name="second" qpos="0 0 0 1 0 0 0"/>
  </keyframe>
</mujoco>"""
    free, mocap = sc.Scene.from_mjcf(xml).bodies
    np.testing.assert_array_equal(free["pos"], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(free["vel"], [0.1, 0.2, 0.3])
    # the body is turned 90 degrees about z: its x axis is the world's y
    np.testing.assert_allclose(free["ang_vel"], [0.0, 1.0, 0.0], atol=1e-15)
    assert mocap["kind"] == consts.BODY_KINEMATIC
    np.testing.assert_array_equal(mocap["pos"], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(mocap["quat"], [0.0, 1.0, 0.0, 0.0])


def test_default_classes_and_childclass():
    xml = """<mujoco>
  <default>
    <geom friction="0.3"/>
    <default class="slippery">
      <geom friction="0.05" type="box" size="0.1 0.1 0.1"/>
      <default class="ball"><geom type="sphere"/></default>
    </default>
  </default>
  <worldbody>
    <geom type="plane" size="1 1 1"/>
    <geom class="slippery" pos="0 0 5"/>
    <body childclass="ball"><freejoint/><geom friction="0.7"/></body>
  </worldbody>
</mujoco>"""
    plane, box, ball = sc.Scene.from_mjcf(xml).bodies
    assert plane["friction"] == 0.3 and box["friction"] == 0.05 and ball["friction"] == 0.7
    assert box["type"] == consts.GEOM_BOX and ball["type"] == consts.GEOM_SPHERE
    assert ball["size"][0] == 0.1  # size from 'slippery', type from 'ball'


def test_plane_normal_and_offset_from_the_geom_frame():
    xml = one_body('<geom type="plane" pos="3 4 0.5" euler="90 0 0" size="0 0 1"/>')
    plane = sc.Scene.from_mjcf(xml).bodies[0]
    n = quat_to_matrix(plane["quat"])[:, 2]
    np.testing.assert_allclose(n, [0.0, -1.0, 0.0], atol=1e-15)
    assert n @ plane["pos"] == pytest.approx(-4.0, abs=1e-15)


def test_static_body_places_its_geom_anywhere():
    xml = one_body('<body pos="1 0 0" euler="0 0 90"><geom type="box" pos="0.5 0 0" '
                   'size="0.1 0.2 0.3"/></body>')
    box = sc.Scene.from_mjcf(xml).bodies[0]
    assert box["kind"] == consts.BODY_STATIC
    np.testing.assert_allclose(box["pos"], [1.0, 0.5, 0.0], atol=1e-15)


def test_ignored_elements_are_ignored():
    xml = """<mujoco model="m">
  <compiler meshdir="meshes" autolimits="true"/>
  <option integrator="RK4" iterations="50" cone="elliptic"/>
  <size memory="1M"/>
  <visual><quality shadowsize="4096"/></visual>
  <statistic extent="2"/>
  <custom><numeric name="other" data="1 2"/><text name="t" data="x"/></custom>
  <actuator/>
  <worldbody>
    <light pos="0 0 1"/>
    <camera pos="0 0 1"/>
    <site name="s"/>
    <geom type="plane" size="1 1 1" rgba="1 0 0 1" solref="0.01 1" group="2"/>
    <body><freejoint/><geom size="0.1" solimp="0.9 0.95 0.001"/><camera pos="0 0 1"/></body>
  </worldbody>
</mujoco>"""
    assert len(sc.Scene.from_mjcf(xml).bodies) == 2


def body_xml(*lines):
    # a dynamic body around the given lines, and a plane
    inner = "\n      ".join(lines)
    return f"""<mujoco>
  <worldbody>
    <geom type="plane" size="1 1 1"/>
    <body name="b" pos="0 0 1">
      {inner}
    </body>
  </worldbody>
</mujoco>"""


def top_xml(*sections):
    inner = "\n  ".join(sections)
    return f"""<mujoco>
  <worldbody>
    <body name="b" pos="0 0 1"><freejoint/><geom name="g" size="0.1"/></body>
  </worldbody>
  {inner}
</mujoco>"""


ERROR_CASES = {
    "hinge joint": (body_xml('<joint name="hinge" type="hinge"/>', '<geom size="0.1"/>'),
                    "joint", 'name="hinge"', ['type="hinge"', "free"]),
    "joint without type": (body_xml('<joint name="j"/>', '<geom size="0.1"/>'),
                           "joint", 'name="j"', ["hinge"]),
    "mesh geom": (body_xml("<freejoint/>", '<geom type="mesh" mesh="m"/>'),
                  "geom", 'type="mesh"', ['type="mesh"', "sphere, box"]),
    "cylinder geom": (body_xml("<freejoint/>", '<geom type="cylinder" size="0.1 0.1"/>'),
                      "geom", "cylinder", ["cylinder"]),
    "mesh asset": (top_xml('<asset><texture name="t" builtin="flat" width="8" height="8"/>',
                           '<mesh name="m" file="m.stl"/></asset>'),
                   "mesh", "<mesh", ["textures and materials"]),
    "two geoms": (body_xml("<freejoint/>", '<geom size="0.1"/>', '<geom name="two"/>'),
                  "geom", 'name="two"', ["second geom"]),
    "no geom": (body_xml("<freejoint/>"), "body", '<body name="b"', ["none"]),
    "nested body": (body_xml("<freejoint/>", '<geom size="0.1"/>',
                             '<body name="inner"><geom size="0.1"/></body>'),
                    "body", 'name="inner"', ["nested"]),
    "geom offset": (body_xml("<freejoint/>", '<geom name="off" pos="0.1 0 0" size="0.1"/>'),
                    "geom", 'name="off"', ["origin", "0.1 0.0 0.0"]),
    "fromto offset": (body_xml("<freejoint/>",
                               '<geom type="capsule" fromto="0 0 0 0 0 1" size="0.1"/>'),
                      "geom", "fromto", ["origin"]),
    "plane in moving body": (body_xml("<freejoint/>", '<geom type="plane" size="1 1 1"/>'),
                             "geom", 'type="plane" size="1 1 1"/>\n    </body>',
                             ["plane must be static"]),
    "tendon": (top_xml('<tendon><spatial name="t"><site site="s"/></spatial></tendon>'),
               "spatial", "<spatial", ["tendons"]),
    "actuator": (top_xml("<actuator>", '  <motor name="m" joint="j"/>', "</actuator>"),
                 "motor", "<motor", ["actuators"]),
    "sensor": (top_xml('<sensor><accelerometer site="s"/></sensor>'),
               "accelerometer", "<accelerometer", ["sensors"]),
    "equality": (top_xml('<equality><weld body1="b"/></equality>'), "weld", "<weld",
                 ["equality"]),
    "contact exclude": (top_xml('<contact><exclude body1="b" body2="world"/></contact>'),
                        "exclude", "<exclude", ["contact"]),
    "include": (top_xml('<include file="other.xml"/>'), "include", "<include",
                ["not supported"]),
    "torsional friction": (body_xml("<freejoint/>", '<geom size="0.1" friction="1 0.02"/>'),
                           "geom", "friction=", ["torsional", "0.02"]),
    "rolling friction": (body_xml("<freejoint/>",
                                  '<geom size="0.1" friction="1 0.005 0.3"/>'),
                         "geom", "friction=", ["rolling", "0.3"]),
    "inertia not diagonal": (body_xml("<freejoint/>", '<inertial pos="0 0 0" mass="1" '
                                      'euler="0 0 30" diaginertia="1 2 3"/>',
                                      '<geom type="box" size="0.1 0.2 0.3"/>'),
                             "inertial", "<inertial", ["not diagonal", "principal axes"]),
    "fullinertia not diagonal": (body_xml("<freejoint/>", '<inertial pos="0 0 0" mass="1" '
                                          'fullinertia="1 1 1 0.1 0 0"/>', '<geom size="0.1"/>'),
                                 "inertial", "<inertial", ["not diagonal"]),
    "alignfree": (top_xml('<compiler alignfree="true"/>'), "compiler", "alignfree",
                  ["inertia"]),
    "inertia offset": (body_xml("<freejoint/>", '<inertial pos="0 0 0.1" mass="1" '
                                'diaginertia="1 1 1"/>', '<geom size="0.1"/>'),
                       "inertial", "<inertial", ["centre of mass", 'pos="0 0 0.1"']),
    "joint damping from a default class": (
        ("<mujoco>\n  <default><joint damping=\"0.5\"/></default>\n  <worldbody>\n"
         '    <body><joint name="free" type="free"/><geom size="0.1"/></body>\n'
         "  </worldbody>\n</mujoco>"),
        "joint", 'name="free"', ['damping="0.5"', "default class 'main'"]),
    "unknown geom attribute": (body_xml("<freejoint/>", '<geom size="0.1" hfield="h"/>'),
                               "geom", "hfield", ["hfield"]),
    "condim": (body_xml("<freejoint/>", '<geom size="0.1" condim="1"/>'), "geom", "condim",
               ['condim="1"']),
    "contype": (body_xml("<freejoint/>", '<geom size="0.1" contype="0"/>'), "geom",
                "contype", ["every pair"]),
    "option flag": (top_xml('<option><flag gravity="disable"/></option>'), "flag", "<flag",
                    ["flags"]),
    "fluid": (top_xml('<option viscosity="0.1"/>'), "option", "viscosity", ["fluid"]),
    "mocap with joint": (body_xml("<freejoint/>", '<geom size="0.1"/>').replace(
        'name="b"', 'name="b" mocap="true"'), "freejoint", "<freejoint", ["mocap"]),
    "unknown simcore numeric": (top_xml('<custom><numeric name="simcore:spin" data="1"/>'
                                        "</custom>"), "numeric", "simcore:spin", ["unknown"]),
    "restitution of no geom": (top_xml('<custom><numeric name="simcore:restitution:nope" '
                                       'data="0.5"/></custom>'), "numeric", "nope", ["no geom"]),
    "two orientations": (body_xml("<freejoint/>", '<geom size="0.1" quat="1 0 0 0" '
                                  'euler="0 0 0"/>'), "geom", "euler", ["quat, euler"]),
    "undefined class": (body_xml("<freejoint/>", '<geom class="nope" size="0.1"/>'), "geom",
                        "nope", ["'nope'"]),
    "negative size": (body_xml("<freejoint/>", '<geom type="box" size="0.1 -0.2 0.1"/>'),
                      "geom", "-0.2", ["three half extents"]),
    "restitution above 1": (top_xml('<custom><numeric name="simcore:restitution:g" '
                                    'data="1.5"/></custom>'), "geom", 'name="g"',
                            ["restitution must be in [0, 1]"]),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_refused_mjcf_names_element_and_line(case):
    xml, tag, needle, words = ERROR_CASES[case]
    message = load_error(xml)
    assert message.startswith(f"MJCF line {line_of(xml, needle)}, <{tag}>: "), message
    for word in words:
        assert word in message, (word, message)


def test_line_of_an_element_is_where_its_tag_starts():
    xml = body_xml("<freejoint/>", '<geom size="0.1"\n         type="ellipsoid"/>')
    assert load_error(xml).startswith(f"MJCF line {line_of(xml, '<geom size')}, <geom>")


def test_fullinertia_along_the_axes():
    xml = one_body('<body><freejoint/><inertial pos="0 0 0" mass="1" '
                   'fullinertia="0.1 0.2 0.3 0 0 0"/><geom size="0.1"/></body>')
    np.testing.assert_array_equal(sc.Scene.from_mjcf(xml).bodies[0]["inertia"], [0.1, 0.2, 0.3])


def test_malformed_xml_names_the_line():
    message = load_error("<mujoco>\n  <worldbody>\n  </wrongbody>\n</mujoco>")
    assert "not well-formed" in message and "line 3" in message, message


def test_hand_written_scene_loads():
    bodies = sc.Scene.from_mjcf(HAND_WRITTEN).bodies
    floor, rail, ramp, ball, crate = bodies
    assert [b["kind"] for b in bodies] == [consts.BODY_STATIC] * 3 + [consts.BODY_DYNAMIC] * 2
    assert all(b["friction"] == 0.8 for b in bodies)  # from the default class
    assert floor["type"] == consts.GEOM_PLANE
    np.testing.assert_allclose(rail["pos"], [0.0, 1.0, 0.05])
    np.testing.assert_allclose(quat_to_matrix(rail["quat"])[:, 2], [-1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(rail["size"][:2], [0.05, 1.0])
    np.testing.assert_allclose(ramp["quat"], axis_angle_quat((0, 1, 0), np.radians(15)),
                               atol=1e-15)
    assert ball["mass"] == pytest.approx(500 * 4 / 3 * np.pi * 0.1 ** 3, rel=1e-15)
    assert crate["mass"] == pytest.approx(1000 * 0.2 * 0.3 * 0.1, rel=1e-15)
    np.testing.assert_allclose(crate["quat"], axis_angle_quat((0, 0, 1), np.radians(30)),
                               atol=1e-15)
    assert not np.any([b["vel"] for b in bodies]) and not np.any([b["ang_vel"] for b in bodies])


def test_mujoco_loads_the_simcore_numerics(mujoco):
    m = mujoco.MjModel.from_xml_string(shapes_scene().to_mjcf())
    assert m.numeric("simcore:margin").data[0] == 2e-3
    np.testing.assert_array_equal(m.numeric("simcore:velocity:body7").data,
                                  [0.0, -0.4, -0.2, 0.0, 0.0, 1.5])


def test_orientations_and_masses_match_mujoco(mujoco):
    # every orientation attribute and eulerseq kind, and masses from density, mass and
    # inertial: what MuJoCo compiles from the same XML
    bodies = [
        'euler="10 -20 30"', 'axisangle="1 2 -0.5 70"', 'xyaxes="1 1 0 -0.3 1 0.2"',
        'zaxis="0.2 -0.5 1"', 'zaxis="0 0 -1"', 'quat="1 2 3 4"',
    ]
    shapes = ['type="sphere" size="0.1" density="300"', 'type="box" size="0.1 0.2 0.05"',
              'type="capsule" size="0.05 0.3" mass="0.4"']
    for seq in ("xyz", "XYZ", "zyx", "zxZ", "XyX"):
        lines = [f'<body {frame}><freejoint/><geom {shapes[i % 3]}/></body>'
                 for i, frame in enumerate(bodies)]
        lines.append('<body euler="5 6 7"><freejoint/><inertial pos="0 0 0" mass="2" '
                     'diaginertia="0.1 0.2 0.25"/><geom type="box" size="0.1 0.2 0.3"/></body>')
        lines.append('<body><freejoint/><geom type="capsule" fromto="-0.2 0.1 0 0.2 -0.1 0" '
                     'size="0.03"/></body>')
        xml = one_body("\n    ".join(lines), f'<compiler eulerseq="{seq}"/>')
        ours = sc.Scene.from_mjcf(xml).bodies
        m = mujoco.MjModel.from_xml_string(xml)
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)
        for i, b in enumerate(ours):
            bid = i + 1
            # the geom's frame in the world (MuJoCo may turn a body frame onto its inertia)
            gid = m.body_geomadr[bid]
            np.testing.assert_allclose(quat_to_matrix(b["quat"]),
                                       d.geom_xmat[gid].reshape(3, 3), atol=1e-12,
                                       err_msg=f"{seq} body {i}")
            assert b["mass"] == pytest.approx(m.body_mass[bid], rel=1e-12)
            # principal moments, in any order
            np.testing.assert_allclose(np.sort(b["inertia"]), np.sort(m.body_inertia[bid]),
                                       rtol=1e-12)


def test_keyframe_state_matches_mujoco(mujoco):
    # free bodies whose geom is turned in them, and a mocap body: the keyframe's pose and
    # body-frame velocities give the same geom frames and world velocities as in MuJoCo
    xml = """<mujoco>
  <worldbody>
    <body><freejoint/><geom type="capsule" fromto="-0.2 0.1 0 0.2 -0.1 0" size="0.03"/></body>
    <body><freejoint/><geom type="box" size="0.1 0.2 0.3" euler="20 30 40"/></body>
    <body mocap="true"><geom type="box" size="0.1 0.2 0.3" zaxis="1 1 0"/></body>
  </worldbody>
  <keyframe>
    <key qpos="0.1 0.2 0.3 0.5 0.5 -0.5 0.5  1 2 3 0.9 0.1 -0.3 0.2"
         qvel="1 2 3 -4 5 6  0.5 0 0 1 1 -2" mpos="4 5 6" mquat="0.6 0 0.8 0"/>
  </keyframe>
</mujoco>"""
    ours = sc.Scene.from_mjcf(xml).bodies
    m = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    mujoco.mj_forward(m, d)
    velocity = np.zeros(6)
    for gid, b in enumerate(ours):
        np.testing.assert_allclose(b["pos"], d.geom_xpos[gid], atol=1e-14)
        np.testing.assert_allclose(quat_to_matrix(b["quat"]), d.geom_xmat[gid].reshape(3, 3),
                                   atol=1e-14)
        if b["kind"] == consts.BODY_DYNAMIC:
            mujoco.mj_objectVelocity(m, d, mujoco.mjtObj.mjOBJ_GEOM, gid, velocity, 0)
            np.testing.assert_allclose(b["ang_vel"], velocity[:3], atol=1e-14)
            np.testing.assert_allclose(b["vel"], velocity[3:], atol=1e-14)


def test_hand_written_scene_comes_to_rest_in_both_engines(mujoco):
    steps = 250  # 0.5 s of 2 ms
    scene = sc.Scene.from_mjcf(HAND_WRITTEN)
    assert scene.dt == 0.002  # read from <option>
    traj = rollout(scene, steps)
    m = mujoco.MjModel.from_xml_path(str(HAND_WRITTEN))
    d = mujoco.MjData(m)
    for _ in range(steps):
        mujoco.mj_step(m, d)
    for name, i, rest in (("ball", 3, 0.1), ("crate", 4, 0.05)):
        z_mujoco, z_ours = d.body(name).xpos[2], traj.pos[steps, i, 2]
        assert abs(z_ours - rest) < 2e-3, (name, z_ours)
        assert abs(z_mujoco - rest) < 2e-3, (name, z_mujoco)
        # both have landed (they started 20 cm up) and stay where they landed
        assert np.linalg.norm(traj.vel[steps, i]) < 1e-2
        assert np.linalg.norm(d.body(name).cvel) < 1e-2
        np.testing.assert_allclose(traj.pos[steps, i, :2], d.body(name).xpos[:2], atol=2e-3)
