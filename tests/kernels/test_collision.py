"""Narrow-phase dispatcher (simcore/kernels/collision.py): ``collide`` and ``collide_vjp`` give
exactly what the pair's own routine gives for every pair, and 0 for plane-plane; across every pair,
through the dispatcher, degenerate coincident poses and random snapped / axis-aligned poses stay
finite with a consistent normal and write only their own output rows. The pair routines are tested
by family in test_collision_plane.py, test_collision_round.py and test_collision_box.py, against
the brute-force references of collision_refs.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from simcore.kernels import collision as col
from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE, MAXCON_PAIR
from tests.kernels.collision_refs import (I3, MARGIN, PAIRS, PLANE, ROUTINES, SIZES, Shape, call,
                                          proj_sep, random_pose, random_shape, rx, ry, rz)


# -------------------------------------------------------------------------------- degenerate cases

def test_degenerate_no_nan():
    z = np.zeros(3)
    cases = [
        (Shape(GEOM_SPHERE, z, I3, [0.2, 0, 0]), Shape(GEOM_SPHERE, z, I3, [0.3, 0, 0]), -0.5),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), Shape(GEOM_SPHERE, z, I3, [0.1, 0, 0]), -0.3),
        (Shape(GEOM_CAPSULE, z, I3, [0.1, 0.3, 0]), Shape(GEOM_SPHERE, z, I3, [0.1, 0, 0]), -0.2),
        (Shape(GEOM_CAPSULE, [0, 0, 0.1], I3, [0.1, 0.3, 0]), Shape(GEOM_SPHERE, z, I3, [0.1, 0, 0]), -0.2),
        (Shape(GEOM_CAPSULE, z, I3, [0.1, 0.3, 0]), Shape(GEOM_CAPSULE, z, I3, [0.1, 0.3, 0]), -0.2),
        (Shape(GEOM_CAPSULE, [0, 0, 0.2], I3, [0.1, 0.3, 0]),
         Shape(GEOM_CAPSULE, z, rx(np.pi), [0.15, 0.3, 0]), -0.25),  # coaxial, antiparallel
        (Shape(GEOM_CAPSULE, z, I3, [0.1, 0.3, 0]),
         Shape(GEOM_CAPSULE, z, rx(np.pi / 2), [0.1, 0.3, 0]), -0.2),  # axes crossing at the centre
        (Shape(GEOM_CAPSULE, z, I3, [0.1, 0.0, 0]), Shape(GEOM_CAPSULE, z, I3, [0.1, 0.0, 0]), -0.2),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), -0.4),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.2, 0.2]), Shape(GEOM_BOX, z, rz(np.pi / 2), [0.2, 0.2, 0.2]), -0.4),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), Shape(GEOM_CAPSULE, z, I3, [0.1, 0.3, 0]), -0.3),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), Shape(GEOM_CAPSULE, z, ry(np.pi / 2), [0.1, 0.3, 0]), -0.4),
        (Shape(GEOM_BOX, z, I3, [0.2, 0.3, 0.4]), Shape(GEOM_CAPSULE, z, I3, [0.1, 0.0, 0]), -0.3),
        (Shape(GEOM_BOX, [0.2, 0.3, 0.4], I3, [0.2, 0.3, 0.4]), Shape(GEOM_SPHERE, z, I3, [0.1, 0, 0]), -0.1),
        (Shape(GEOM_SPHERE, z, I3, [0.2, 0, 0]), PLANE, -0.2),
        (Shape(GEOM_CAPSULE, z, ry(np.pi / 2), [0.1, 0.0, 0]), PLANE, -0.1),
    ]
    for A, B, depth in cases:
        dist, nrm, pt = call(A, B)
        assert len(dist) >= 1
        assert dist.min() == pytest.approx(depth, abs=1e-9), (A.t, B.t, dist)
        assert proj_sep(A, B, nrm[np.argmin(dist)][None])[0] == pytest.approx(dist.min(), abs=1e-9)


@settings(max_examples=300, deadline=None, database=None)
@given(pair=st.sampled_from(PAIRS), seed=st.integers(0, 2 ** 32 - 1),
       snap=st.sampled_from([0.0, 0.05, 0.1]), axis_aligned=st.booleans())
def test_random_snapped_poses_finite(pair, seed, snap, axis_aligned):
    # positions snapped to a grid and axis-aligned rotations produce coincidences and parallel features
    rng = np.random.default_rng(seed)
    A, B = random_shape(rng, pair[0]), random_shape(rng, pair[1])
    if snap:
        A.p, B.p = np.round(A.p / snap) * snap, np.round(B.p / snap) * snap
    if axis_aligned:
        A.R = Rotation.from_euler("xyz", rng.integers(0, 4, 3) * np.pi / 2).as_matrix()
        B.R = Rotation.from_euler("xyz", rng.integers(0, 4, 3) * np.pi / 2).as_matrix()
    dist, nrm, pt = call(A, B, margin=0.05, k0=int(rng.integers(0, 4)))
    if len(dist):
        s = proj_sep(A, B, nrm[np.argmin(dist)][None])[0]
        if pair == (GEOM_BOX, GEOM_BOX):
            assert s <= dist.min() + 1e-9
        else:
            assert s == pytest.approx(dist.min(), abs=1e-9)


# ---------------------------------------------------------------------------------------- dispatch

def test_dispatch_matches_routines():
    rng = np.random.default_rng(5)
    for (ta, tb), fn in ROUTINES.items():
        A, B = random_pose(rng, ta, tb)
        out1 = [np.zeros(8), np.zeros((8, 3)), np.zeros((8, 3))]
        out2 = [np.zeros(8), np.zeros((8, 3)), np.zeros((8, 3))]
        n1 = fn(A.p, A.R, A.s, B.p, B.R, B.s, MARGIN, 0, *out1)
        n2 = col.collide(ta, tb, A.p, A.R, A.s, B.p, B.R, B.s, MARGIN, 0, *out2)
        assert n1 == n2 and all(np.array_equal(x, y) for x, y in zip(out1, out2))
    z3 = np.zeros(3)
    assert col.collide(GEOM_PLANE, GEOM_PLANE, z3, I3, z3, z3, I3, z3, 1.0, 0,
                       np.zeros(8), np.zeros((8, 3)), np.zeros((8, 3))) == 0


def test_collide_vjp_dispatches_every_pair():
    # every pair has an adjoint: the dispatcher returns the forward's contact count
    rng = np.random.default_rng(6)
    for (ta, tb), fn in ROUTINES.items():
        for _ in range(3):
            A, B = random_pose(rng, ta, tb)
            A.s, B.s = np.array(SIZES[ta]), np.array(SIZES[tb])
            out = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
            n = fn(A.p, A.R, A.s, B.p, B.R, B.s, 0.5, 0, *out)
            bars = [rng.normal(size=x.shape) for x in out]
            grads = np.zeros(3), np.zeros((3, 3)), np.zeros(3), np.zeros((3, 3))
            nv = col.collide_vjp(ta, tb, A.p, A.R, A.s, B.p, B.R, B.s, 0.5, 0, *bars, 0, *grads)
            assert nv == n and all(np.all(np.isfinite(g)) for g in grads)
    z3, z33 = np.zeros(3), np.zeros((3, 3))
    s = np.array(SIZES[GEOM_BOX])
    d, n, p = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
    touching = col.collide_vjp(GEOM_BOX, GEOM_BOX, np.zeros(3), I3, s, np.array([0, 0, 0.45]), I3,
                               s, 0.1, 0, d, n, p, 0, z3, z33, z3.copy(), z33.copy())
    apart = col.collide_vjp(GEOM_BOX, GEOM_BOX, np.zeros(3), I3, s, np.array([0, 0, 5.0]), I3,
                            s, 0.1, 0, d, n, p, 0, z3, z33, z3.copy(), z33.copy())
    assert touching == 4 and apart == 0
