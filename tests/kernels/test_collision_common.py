"""Shared pieces of the narrow phase (simcore/kernels/collision_common.py): the contact tangent
frame, orthonormal and right-handed for every normal, finite for a zero one. The helpers the pair
routines share are covered through those routines (test_collision_plane.py,
test_collision_round.py, test_collision_box.py).
"""
import numpy as np
import pytest

from simcore.kernels import collision_common as col
from tests.kernels.collision_refs import I3


def test_tangent_frame():
    rng = np.random.default_rng(0)
    ns = list(rng.normal(size=(200, 3)))
    ns += [np.eye(3)[i] * s for i in range(3) for s in (1, -1)]
    ns += [np.array([1.0, 0.0, -0.0]), np.array([1e-300, 0, 0])]
    for n in ns:
        n = n / np.linalg.norm(n) if np.linalg.norm(n) > 1e-200 else np.array([0.0, 0, 1])
        t1, t2 = np.full(3, np.nan), np.full(3, np.nan)
        col.tangent_frame(n, t1, t2)
        F = np.stack([n, t1, t2], axis=1)
        assert np.allclose(F.T @ F, I3, atol=1e-12)
        assert np.linalg.det(F) == pytest.approx(1.0)
        assert np.allclose(np.cross(n, t1), t2, atol=1e-12)
    t1, t2 = np.zeros(3), np.zeros(3)
    col.tangent_frame(np.zeros(3), t1, t2)
    assert np.all(np.isfinite(t1)) and np.all(np.isfinite(t2))
