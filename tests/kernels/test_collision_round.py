"""Sphere and capsule pairs without a plane (simcore/kernels/collision_round.py: sphere-sphere,
capsule-sphere, capsule-capsule), through the dispatcher against the brute-force references of
collision_refs.py: random poses against the reference distance, nothing reported beyond the
margin, the capsules' near-parallel line contacts and the pairs' adjoints against central
differences, branch by branch for capsule-capsule.
"""
import collections

import numpy as np
import pytest

from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE
from tests.kernels.collision_refs import (I3, MARGIN, PAIRS, TILT, VJP_ROUTINES, Shape, _contacts,
                                          _pair_vjp_check, call, check_against_reference,
                                          check_beyond_margin, check_pair_vjp_random_poses,
                                          perp_tilt, random_shape, ref_dist, rx, ry, rz)

ROUND_PAIRS = [(ta, tb) for ta, tb in PAIRS if GEOM_BOX not in (ta, tb) and tb != GEOM_PLANE]
CC = (GEOM_CAPSULE, GEOM_CAPSULE)


@pytest.mark.parametrize("ta,tb", ROUND_PAIRS)
def test_against_reference(ta, tb):
    check_against_reference(ta, tb)


@pytest.mark.parametrize("ta,tb", ROUND_PAIRS)
def test_beyond_margin_not_reported(ta, tb):
    check_beyond_margin(ta, tb)


def test_capsule_capsule_near_parallel_line_contact():
    rng = np.random.default_rng(11)
    seen = collections.Counter()
    for it in range(60):
        B = random_shape(rng, GEOM_CAPSULE)
        ub = B.R[:, 2]
        ang = rng.uniform(0.0, 0.04)
        Ra = perp_tilt(rng, ub, ang) @ B.R @ (rx(np.pi) if rng.random() < 0.5 else I3)
        A = Shape(GEOM_CAPSULE, B.p, Ra, [rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.6), 0])
        side = np.cross(ub, rng.normal(size=3))
        side /= np.linalg.norm(side)
        A.p = B.p + side * (A.s[0] + B.s[0] + rng.uniform(-0.1, MARGIN)) + ub * rng.uniform(-0.8, 0.8)
        D = ref_dist(A, B)[0]
        dist, nrm, pt = call(A, B)
        if D >= MARGIN:
            continue
        assert dist.min() == pytest.approx(D, abs=1e-7)
        assert np.allclose(nrm, nrm[0])
        c = (A.p - B.p) @ A.R[:, 2]
        overlap = min(A.s[1], -c + B.s[1]) - max(-A.s[1], -c - B.s[1])
        line = np.linalg.norm(np.cross(A.R[:, 2], ub)) < 0.02 and overlap > 0.01
        if line and dist.max() < MARGIN - 0.02:
            assert len(dist) == 2
        if np.linalg.norm(np.cross(A.R[:, 2], ub)) > 0.02:
            assert len(dist) == 1
        seen[len(dist)] += 1
        for dk, pk in zip(dist, pt):  # the far end of a line contact is approximate
            tol = 1e-9 if dk == dist.min() else 1e-9 + 1e-3 * abs(dk)
            assert A.sdf(pk) <= 0.5 * abs(dk) + tol and B.sdf(pk) <= 0.5 * abs(dk) + tol
    assert seen[1] > 5 and seen[2] > 5


# --------------------------------------------------------------------------------- canonical cases

def test_parallel_capsules_stacked_two():
    R = ry(np.pi / 2)
    A = Shape(GEOM_CAPSULE, [0.2, 0, 0.2 - 1e-3], R, [0.1, 0.5, 0])
    B = Shape(GEOM_CAPSULE, [0, 0, 0], R, [0.1, 0.4, 0])
    dist, nrm, pt = call(A, B, margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, -1e-3) and np.allclose(nrm, [0, 0, 1])
    assert np.allclose(sorted(pt[:, 0]), [-0.3, 0.4]) and np.allclose(pt[:, 2], 0.1 - 5e-4)
    # antiparallel, slightly crossed: still 2, the nearer end has the exact gap
    A.R = ry(-np.pi / 2) @ rx(0.005)
    dist, _, _ = call(A, B, margin=0.01)
    assert len(dist) == 2
    assert dist.min() == pytest.approx(ref_dist(A, B)[0], abs=1e-9)
    # crossed: 1
    A.R = rz(0.5) @ R
    dist, _, _ = call(A, B, margin=0.01)
    assert len(dist) == 1 and dist[0] == pytest.approx(-1e-3)
    # end to end along one line: 1
    A = Shape(GEOM_CAPSULE, [1.1, 0, 0], R, [0.1, 0.5, 0])
    dist, _, _ = call(A, B, margin=0.01)
    assert len(dist) == 1 and dist[0] == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------- adjoints

@pytest.mark.parametrize("pair", sorted(p for p in VJP_ROUTINES if p in ROUND_PAIRS))
def test_pair_vjp_random_poses(pair, rng):
    check_pair_vjp_random_poses(pair, rng)


def test_capsule_capsule_vjp_branches(rng):
    # capsules r = 0.2, half length 0.4. Crossing axes: one contact between the axes' interiors
    pose = ([0.05, -0.1, 0.35], rz(0.7) @ ry(np.pi / 2), np.zeros(3), TILT @ ry(np.pi / 2))
    d, nrm, pt = _contacts(*CC, *pose)
    assert len(d) == 1 and d[0] < 0 and abs(nrm[0, 2]) > 0.999
    assert abs(pt[0, 0]) < 0.35 and abs(pt[0, 1]) < 0.35  # not at a segment end
    _pair_vjp_check(*CC, *pose, rng)
    # near parallel (0.01 rad): line contact, each end its own gap (the far end: the max picks
    # its distance, not g)
    pose = ([0.1, 0.02, 0.38], ry(np.pi / 2), np.zeros(3), rz(0.004) @ ry(np.pi / 2 + 0.01))
    d, nrm, pt = _contacts(*CC, *pose)
    assert len(d) == 2 and abs(d[0] - d[1]) > 1e-3
    assert np.allclose(sorted(pt[:, 0]), [-0.3, 0.4], atol=0.01)  # the overlap's ends
    _pair_vjp_check(*CC, *pose, rng)
    # the closest points lie beyond the overlap (past b's end): the near contact is at them
    pose = ([-0.2, 0.02, 0.38], ry(np.pi / 2 - 0.015), np.zeros(3), ry(np.pi / 2))
    d, nrm, pt = _contacts(*CC, *pose)
    assert len(d) == 2 and pt[0, 0] < -0.4 - 1e-3 and d[0] < d[1]
    _pair_vjp_check(*CC, *pose, rng)
    # exactly parallel: both ends at the same gap, so the max is at its kink (the far end's
    # distance equals g); translations keep it so and are smooth; every kink convention is finite
    pose = ([0.1, 0.0, 0.38], ry(np.pi / 2), np.zeros(3), ry(np.pi / 2))
    d, nrm, pt = _contacts(*CC, *pose)
    assert len(d) == 2 and d[0] == pytest.approx(d[1], abs=1e-15)
    for kink in (0, 1, 2):
        _pair_vjp_check(*CC, *pose, rng, rotations=False, kink=kink)
