"""Scene.to_mjcf: the XML's values, and the same scene loaded in MuJoCo (when installed)."""
import xml.etree.ElementTree as ET

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
    np.testing.assert_array_equal(floats(geom.get("friction")), [0.8, 0.005, 0.0001])


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
                                  [ours["friction"], 0.005, 0.0001])


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
    m, d = load(mujoco, scene)
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
