"""Box pairs without a plane (simcore/kernels/collision_box.py: box-sphere, box-capsule, box-box),
through the dispatcher against the brute-force references of collision_refs.py: random poses
against the reference distance (box-box's separating-axis gap conservative when separated),
nothing reported beyond the margin, face-face and edge-edge manifolds, stacks, line contacts of
capsules on faces and the pairs' adjoints against central differences, branch by branch. (One
adjoint test also checks capsule-sphere, of collision_round.py, with the capsule's segment
parameter clamped: it draws from the same random stream as its box-sphere half.)
"""
import collections

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE
from tests.kernels.collision_refs import (I3, MARGIN, PAIRS, SIZES, TILT, VJP_ROUTINES, Shape,
                                          _contacts, _pair_vjp_check, call, candidate_axes,
                                          check_against_reference, check_beyond_margin,
                                          check_pair_vjp_random_poses, core_distance, perp_tilt,
                                          proj_sep, random_shape, ref_dist, rx, ry, rz)

BOX_PAIRS = [(ta, tb) for ta, tb in PAIRS if ta == GEOM_BOX and tb != GEOM_PLANE]
BC, BB = (GEOM_BOX, GEOM_CAPSULE), (GEOM_BOX, GEOM_BOX)


@pytest.mark.parametrize("ta,tb", BOX_PAIRS)
def test_against_reference(ta, tb):
    check_against_reference(ta, tb)


@pytest.mark.parametrize("ta,tb", BOX_PAIRS)
def test_beyond_margin_not_reported(ta, tb):
    check_beyond_margin(ta, tb)


def test_box_box_separated_face_face_exact():
    rng = np.random.default_rng(3)
    for _ in range(30):
        hb, ha = rng.uniform(0.1, 0.5, 3), rng.uniform(0.1, 0.5, 3)
        Rb = Rotation.random(random_state=rng).as_matrix()
        yaw = Rotation.from_rotvec([0, 0, rng.uniform(-np.pi, np.pi)]).as_matrix()
        gap = rng.uniform(0.0, 0.09)
        off = rng.uniform(-0.5, 0.5, 2) * np.minimum(ha[:2].min(), hb[:2])
        pb = rng.normal(size=3)
        pa = pb + Rb @ np.array([off[0], off[1], hb[2] + ha[2] + gap])
        A, B = Shape(GEOM_BOX, pa, Rb @ yaw, ha), Shape(GEOM_BOX, pb, Rb, hb)
        dist, nrm, pt = call(A, B)
        assert dist.min() == pytest.approx(gap, abs=1e-12)
        assert np.allclose(nrm, Rb[:, 2], atol=1e-12)
        assert 3 <= len(dist) <= 8
        assert core_distance(A, B)[0] == pytest.approx(gap, abs=1e-9)


def test_box_box_separated_vertex_edge_is_conservative():
    # corner of a above an edge of b: SAT gap below the true distance, still positive
    R = Rotation.from_rotvec([0.3, 0.4, 0.2]).as_matrix()
    A = Shape(GEOM_BOX, [0.45, 0.45, 0.45], R, [0.1, 0.1, 0.1])
    B = Shape(GEOM_BOX, [0, 0, 0], I3, [0.3, 0.3, 0.3])
    true = core_distance(A, B)[0]
    dist, _, _ = call(A, B, margin=0.5)
    assert 0.0 < dist.min() < true


def test_box_capsule_near_parallel_line_contact():
    rng = np.random.default_rng(12)
    seen = collections.Counter()
    for it in range(60):
        box = random_shape(rng, GEOM_BOX)
        k, m = rng.choice(3, 2, replace=False)
        sg = rng.choice([-1.0, 1.0])
        # capsule axis along box axis m, tilted a little; centre over face sg e_k, maybe overhanging
        Rc = np.stack([box.R[:, k], np.cross(box.R[:, m], box.R[:, k]), box.R[:, m]], axis=1)
        Rc = perp_tilt(rng, box.R[:, m], rng.uniform(0.0, 0.04)) @ Rc
        cap = Shape(GEOM_CAPSULE, box.p, Rc, [rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.6), 0])
        local = rng.uniform(-1.2, 1.2, 3) * box.s
        local[k] = sg * (box.s[k] + cap.s[0] + rng.uniform(-0.2, MARGIN))
        cap.p = box.p + box.R @ local
        D = ref_dist(box, cap)[0]
        dist, nrm, pt = call(box, cap)
        if D >= MARGIN:
            continue
        assert dist.min() == pytest.approx(D, abs=1e-7 + 2e-4 * abs(D))
        assert np.allclose(nrm, nrm[0])
        assert proj_sep(box, cap, nrm[:1])[0] == pytest.approx(dist.min(), abs=1e-9)
        seen[len(dist)] += 1
        for dk, pk in zip(dist, pt):  # the far end of a line contact is approximate
            tol = 1e-9 if dk == dist.min() else 1e-9 + 1e-3 * abs(dk)
            assert box.sdf(pk) <= 0.5 * abs(dk) + tol and cap.sdf(pk) <= 0.5 * abs(dk) + tol
    assert seen[1] > 5 and seen[2] > 5


# --------------------------------------------------------------------------------- canonical cases

def test_capsule_on_box_face_two():
    box = Shape(GEOM_BOX, [0, 0, 0], I3, [0.5, 0.3, 0.2])
    cap = Shape(GEOM_CAPSULE, [0.1, 0.05, 0.2 + 0.05 - 1e-3], ry(np.pi / 2), [0.05, 0.25, 0])
    dist, nrm, pt = call(box, cap, margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, -1e-3)
    assert np.allclose(nrm, [0, 0, -1])  # pushes the box (a) down, away from the capsule
    assert np.allclose(sorted(pt[:, 0]), [-0.15, 0.35]) and np.allclose(pt[:, 2], 0.2 - 5e-4)
    # overhanging the edge: clipped to the face
    cap.p = np.array([0.5, 0.05, 0.2 + 0.05 + 1e-3])
    dist, nrm, pt = call(box, cap, margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, 1e-3) and np.allclose(sorted(pt[:, 0]), [0.25, 0.5])
    # standing on its end: one contact
    cap = Shape(GEOM_CAPSULE, [0.1, 0.05, 0.2 + 0.3 - 1e-3], I3, [0.05, 0.25, 0])
    dist, nrm, pt = call(box, cap, margin=0.01)
    assert len(dist) == 1 and dist[0] == pytest.approx(-1e-3) and np.allclose(nrm, [0, 0, -1])
    # segment inside the box, parallel to the top face: 2 contacts, exact depth
    cap = Shape(GEOM_CAPSULE, [0.0, 0.0, 0.15], ry(np.pi / 2), [0.05, 0.25, 0])
    dist, nrm, pt = call(box, cap, margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, -0.1) and np.allclose(nrm, [0, 0, -1])


@pytest.mark.parametrize("hb,yaw", [((0.4, 0.3, 0.2), 0.0), ((0.6, 0.5, 0.2), 0.0), ((0.6, 0.5, 0.2), 0.5)])
def test_box_stack_four_corners(hb, yaw):
    ha = np.array([0.4, 0.3, 0.15])
    for swap in (False, True):
        top = Shape(GEOM_BOX, [0.05, -0.03, hb[2] + ha[2] - 1e-3], rz(yaw), ha)
        bot = Shape(GEOM_BOX, [0, 0, 0], I3, hb)
        A, B = (bot, top) if swap else (top, bot)
        dist, nrm, pt = call(A, B, margin=0.01)
        assert len(dist) == 4 and np.allclose(dist, -1e-3)
        assert np.allclose(nrm, [0, 0, -1] if swap else [0, 0, 1])
        corners = np.array([top.p[:2] + top.R[:2, :2] @ [sx * ha[0], sy * ha[1]]
                            for sx in (-1, 1) for sy in (-1, 1)])
        if hb[0] >= ha[0] + 0.1:  # the top box lies within the bottom face: its corners
            for c in corners:
                assert np.min(np.linalg.norm(pt[:, :2] - c, axis=1)) < 1e-9
        assert np.allclose(pt[:, 2], hb[2] - 5e-4)


def test_box_stack_with_tilt_noise_picks_a_face():
    # resting stacks with small attitude noise keep a face manifold (the SAT face bias)
    rng = np.random.default_rng(4)
    ha, hb = np.array([0.4, 0.3, 0.15]), np.array([0.6, 0.5, 0.2])
    for _ in range(50):
        tilt = rng.normal(size=3) * rng.choice([1e-6, 1e-4, 1e-3])
        R = Rotation.from_rotvec(tilt).as_matrix() @ rz(rng.uniform(-3, 3))
        low = np.abs(R.T @ [0, 0, 1]) @ ha
        top = Shape(GEOM_BOX, [rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1), hb[2] + low - 1e-3], R, ha)
        bot = Shape(GEOM_BOX, [0, 0, 0], I3, hb)
        dist, nrm, pt = call(top, bot, margin=0.01)
        # the lowest corner may overhang the lower box: the depth is the exact SAT value then
        assert len(dist) >= 3
        assert dist.min() == pytest.approx(proj_sep(top, bot, candidate_axes(top, bot)).max())
        assert -1e-3 - 1e-12 <= dist.min() < -5e-4
        assert np.allclose(nrm, [0, 0, 1], atol=2e-3)


def test_box_box_identical_and_edge_edge():
    h = np.array([0.2, 0.3, 0.4])
    dist, nrm, pt = call(Shape(GEOM_BOX, [0, 0, 0], I3, h), Shape(GEOM_BOX, [0, 0, 0], I3, h))
    assert len(dist) == 4 and np.allclose(dist, -0.4)
    # two unit cubes, edges crossed at right angles
    A = Shape(GEOM_BOX, [0, 0, 2 ** 0.5 - 0.01], rx(np.pi / 4), [0.5, 0.5, 0.5])
    B = Shape(GEOM_BOX, [0, 0, 0], ry(np.pi / 4), [0.5, 0.5, 0.5])
    dist, nrm, pt = call(A, B, margin=0.05)
    assert len(dist) == 1 and dist[0] == pytest.approx(-0.01)
    assert np.allclose(nrm[0], [0, 0, 1]) and np.allclose(pt[0], [0, 0, 0.5 * 2 ** 0.5 - 0.005])


def test_sphere_resting_on_box_face_one():
    Rb = Rotation.from_rotvec([0.2, -0.1, 0.7]).as_matrix()
    box = Shape(GEOM_BOX, [1, 1, 1], Rb, [0.5, 0.4, 0.3])
    sph = Shape(GEOM_SPHERE, box.p + Rb @ [0.2, -0.1, 0.3 + 0.1 - 1e-3], I3, [0.1, 0, 0])
    dist, nrm, pt = call(box, sph, margin=0.01)
    assert len(dist) == 1 and dist[0] == pytest.approx(-1e-3)
    assert np.allclose(nrm[0], -Rb[:, 2])
    assert np.allclose(pt[0], box.p + Rb @ [0.2, -0.1, 0.3 - 5e-4])


# ---------------------------------------------------------------------------------------- adjoints

@pytest.mark.parametrize("pair", sorted(p for p in VJP_ROUTINES if p in BOX_PAIRS))
def test_pair_vjp_random_poses(pair, rng):
    check_pair_vjp_random_poses(pair, rng)


def test_box_sphere_vjp_centre_inside_and_capsule_end_clamped(rng):
    from tests.helpers import random_rotation
    Ra0 = random_rotation(rng)
    # sphere centre inside the box, nearest the +y face
    _pair_vjp_check(GEOM_BOX, GEOM_SPHERE, np.zeros(3), Ra0, Ra0 @ np.array([0.05, 0.15, -0.02]),
                    random_rotation(rng), rng)
    # sphere beyond the capsule's +z end: the segment parameter is clamped
    _pair_vjp_check(GEOM_CAPSULE, GEOM_SPHERE, np.zeros(3), Ra0,
                    Ra0 @ np.array([0.1, -0.05, 0.8]), random_rotation(rng), rng)


def test_box_capsule_vjp_branches(rng):
    # box half extents (0.3, 0.2, 0.25), capsule r = 0.2, half length 0.4
    # segment outside the box (ball penetrating): exact segment-box distance
    pose = (np.zeros(3), TILT, [0.35, 0.1, 0.25 + 0.4 * np.cos(0.5) + 0.15], ry(0.5))
    d, nrm, pt = _contacts(*BC, *pose)
    assert len(d) == 1 and -0.2 < d[0] < 0
    _pair_vjp_check(*BC, *pose, rng)
    # segment end inside the box (SAT), deepest along the top face's normal
    pose = (np.zeros(3), TILT, [0.05, 0.02, 0.25 + 0.4 * np.cos(0.3) - 0.08], rx(0.3))
    d, nrm, pt = _contacts(*BC, *pose)
    assert len(d) == 1 and d[0] == pytest.approx(-0.28, abs=2e-3)
    assert np.allclose(nrm[0], -TILT[:, 2])
    _pair_vjp_check(*BC, *pose, rng)
    # segment across the box's (+x, +z) edge (SAT): an edge axis, normal off the face normals
    u = np.array([1.0, 0.1, -1.2]) / np.linalg.norm([1.0, 0.1, -1.2])
    pose = (np.zeros(3), TILT, [0.27, 0.0, 0.22],
            Rotation.align_vectors([u], [[0, 0, 1]])[0].as_matrix())
    d, nrm, pt = _contacts(*BC, *pose)
    assert len(d) == 1 and d[0] < -0.2 and np.max(np.abs(TILT.T @ nrm[0])) < 0.9
    _pair_vjp_check(*BC, *pose, rng)
    # lying on the top face, tilted 0.01 rad: 2 contacts at the segment's ends; then overhanging
    # the +x edge: the second end is where the segment leaves the face (a clip bound)
    for x, ends in ((0.05, (-0.3, 0.3)), (0.3, (-0.1, 0.3))):
        pose = (np.zeros(3), TILT, [x, 0.02, 0.44], ry(np.pi / 2 + 0.01))
        d, nrm, pt = _contacts(*BC, *pose)
        assert len(d) == 2 and abs(d[0] - d[1]) > 1e-3
        assert np.allclose(pt[:, 0], ends, atol=0.01)
        _pair_vjp_check(*BC, *pose, rng)
    # a line contact of a segment inside the box (SAT), along the -y face
    pose = (np.zeros(3), TILT, [0.1, 0.0, 0.35], ry(0.6))
    d, nrm, pt = _contacts(*BC, *pose)
    assert len(d) == 2 and np.all(d < -0.3) and np.allclose(nrm[0], -TILT[:, 1], atol=1e-3)
    _pair_vjp_check(*BC, *pose, rng)


def test_box_box_vjp_branches(rng):
    # boxes with half extents (0.3, 0.2, 0.25). Face-face, a offset over b's +x edge and yawed:
    # the clipped polygon has a's corner, two edge crossings and b's corner
    pose = ([0.3, 0.05, 0.49], rz(0.05) @ TILT, np.zeros(3), I3)
    d, nrm, pt = _contacts(*BB, *pose)
    assert len(d) == 4 and np.allclose(nrm, [0, 0, 1]) and len(set(np.round(d, 9))) == 4
    assert np.sum(np.isclose(pt[:, 0], 0.3)) == 2 and np.sum(np.isclose(pt[:, 1], 0.2)) == 2
    _pair_vjp_check(*BB, *pose, rng)
    # crossed edges (a's x edge over b's y edge): one contact along their common normal
    pose = ([0.01, -0.02, 0.697107], rz(0.01) @ rx(np.pi / 4), np.zeros(3), ry(np.pi / 4))
    d, nrm, pt = _contacts(*BB, *pose)
    Ra, Rb = pose[1], pose[3]
    assert len(d) == 1 and d[0] < 0
    assert np.max(np.abs(np.concatenate([Ra.T @ nrm[0], Rb.T @ nrm[0]]))) < 0.99  # no face normal
    _pair_vjp_check(*BB, *pose, rng)
    # a standing on a vertex on b's top face (small margin: only the vertex)
    Rv = Rotation.from_rotvec([0.6, 0.5, 0.1]).as_matrix()
    low = np.abs(Rv.T @ [0, 0, 1]) @ np.array(SIZES[GEOM_BOX])
    pose = ([0.05, 0.02, 0.25 + low - 0.005], Rv, np.zeros(3), TILT)
    d, nrm, pt = _contacts(*BB, *pose, margin=0.01)
    assert len(d) == 1 and d[0] == pytest.approx(-0.005, abs=1e-3)
    assert np.allclose(nrm[0], TILT[:, 2])
    _pair_vjp_check(*BB, *pose, rng, margin=0.01)
    # separated with no lateral overlap of the faces: the deepest corner, clamped to b's face
    pose = ([0.62, 0.01, 0.9], TILT, np.zeros(3), I3)
    d, nrm, pt = _contacts(*BB, *pose)
    assert len(d) == 1 and d[0] > 0.3 and np.allclose(nrm[0], [0, 0, 1])
    assert pt[0, 0] == pytest.approx(0.3)
    _pair_vjp_check(*BB, *pose, rng)
    # a small box lying exactly flat on a's top face (yawed): the 4 corner gaps tie, and so do
    # the SAT separations along both face normals; tilting either way moves the corners smoothly
    sizes = np.array(SIZES[GEOM_BOX]), np.array([0.1, 0.08, 0.05])
    pose = (np.zeros(3), I3, [0.05, -0.02, 0.25 + 0.05 - 0.002], rz(0.3))
    d, nrm, pt = _contacts(*BB, *pose, sizes=sizes)
    assert len(d) == 4 and np.all(d == d[0]) and d[0] == pytest.approx(-0.002)
    _pair_vjp_check(*BB, *pose, rng, sizes=sizes)
