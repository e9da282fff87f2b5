"""Pairs with a plane (simcore/kernels/collision_plane.py: sphere-, capsule- and box-plane),
through the dispatcher against the brute-force references of collision_refs.py: random poses
against the reference distance, nothing reported beyond the margin, canonical resting contacts
(box faces and edges, capsules lying and standing) and the pairs' adjoints against central
differences.
"""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE
from tests.kernels.collision_refs import (I3, PAIRS, PLANE, VJP_ROUTINES, Shape, call,
                                          check_against_reference, check_beyond_margin,
                                          check_pair_vjp_random_poses, rx, ry)

PLANE_PAIRS = [(ta, tb) for ta, tb in PAIRS if tb == GEOM_PLANE]


@pytest.mark.parametrize("ta,tb", PLANE_PAIRS)
def test_against_reference(ta, tb):
    check_against_reference(ta, tb)


@pytest.mark.parametrize("ta,tb", PLANE_PAIRS)
def test_beyond_margin_not_reported(ta, tb):
    check_beyond_margin(ta, tb)


# --------------------------------------------------------------------------------- canonical cases

def test_box_flat_on_plane_four():
    h = np.array([0.3, 0.2, 0.1])
    dist, nrm, pt = call(Shape(GEOM_BOX, [1, 2, 0.1 - 1e-3], I3, h), PLANE, margin=0.01)
    assert len(dist) == 4
    assert np.allclose(dist, -1e-3) and np.allclose(nrm, [0, 0, 1])
    corners = {(1 + sx * 0.3, 2 + sy * 0.2) for sx in (-1, 1) for sy in (-1, 1)}
    assert {tuple(np.round(q, 12)) for q in pt[:, :2]} == {tuple(np.round(q, 12)) for q in corners}
    assert np.allclose(pt[:, 2], -5e-4)


def test_box_on_edge_corner_and_deep_thin_box_on_plane():
    h = np.array([0.3, 0.2, 0.1])
    R = rx(np.pi / 6)
    low = np.abs(R.T @ [0, 0, 1]) @ h
    dist, _, _ = call(Shape(GEOM_BOX, [0, 0, low - 1e-3], R, h), PLANE, margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, -1e-3)
    R = Rotation.from_rotvec([0.4, 0.5, 0.0]).as_matrix()
    low = np.abs(R.T @ [0, 0, 1]) @ h
    dist, _, _ = call(Shape(GEOM_BOX, [0, 0, low - 1e-3], R, h), PLANE, margin=0.01)
    assert len(dist) == 1 and dist[0] == pytest.approx(-1e-3)
    dist, _, _ = call(Shape(GEOM_BOX, [0, 0, 0.0], I3, [0.5, 0.5, 0.01]), PLANE, margin=0.02)
    assert len(dist) == 8


def test_capsule_lying_on_plane_two():
    dist, nrm, pt = call(Shape(GEOM_CAPSULE, [0, 0, 0.1 - 2e-3], ry(np.pi / 2), [0.1, 0.4, 0]), PLANE,
                         margin=0.01)
    assert len(dist) == 2 and np.allclose(dist, -2e-3)
    assert np.allclose(sorted(pt[:, 0]), [-0.4, 0.4]) and np.allclose(pt[:, 2], -1e-3)


def test_capsule_plane_and_sphere_plane_exact():
    R = Rotation.from_rotvec([0.1, 0.2, 0.3]).as_matrix()
    plane = Shape(GEOM_PLANE, [0, 0, 1], R, [0, 0, 0])
    sph = Shape(GEOM_SPHERE, [0, 0, 1] + R @ [0.3, 0.3, 0.2], I3, [0.25, 0, 0])
    dist, nrm, pt = call(sph, plane)
    assert dist[0] == pytest.approx(-0.05) and np.allclose(nrm[0], R[:, 2])
    assert np.allclose(pt[0], sph.p - 0.225 * R[:, 2])
    cap = Shape(GEOM_CAPSULE, [0, 0, 1] + 0.6 * R[:, 2], R, [0.1, 0.3, 0])  # standing upright
    dist, _, _ = call(cap, plane, margin=0.3)
    assert len(dist) == 1 and dist[0] == pytest.approx(0.2)
    dist, _, _ = call(cap, plane, margin=0.2)
    assert len(dist) == 0


# ---------------------------------------------------------------------------------------- adjoints

@pytest.mark.parametrize("pair", sorted(p for p in VJP_ROUTINES if p in PLANE_PAIRS))
def test_pair_vjp_random_poses(pair, rng):
    check_pair_vjp_random_poses(pair, rng)
