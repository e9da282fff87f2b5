"""Rolling and torsional resistance (simcore/kernels/rolling.py): the stage against its law, and
its vjp against central differences in every input (the angular velocities, the normal impulses,
the normals, the bodies' orientations and inertias, the coefficients)."""
import numpy as np
import pytest

import simcore as sc
from simcore.kernels.collision import tangent_frame
from simcore.kernels.consts import BODY_DYNAMIC, KINK_MEAN
from simcore.kernels.contact_space import frame_to_normal
from simcore.model import make_adjoint, make_data
from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
from tests.kernel_entries import resistance, resistance_vjp

# (a, b) per contact: sphere on the plane, box on the sphere, box on the capsule, capsule on the
# plane, and the sphere on the plane again (a body in several contacts: Gauss-Seidel order)
CONTACTS = [(1, 0), (2, 1), (2, 3), (3, 0), (1, 0)]
NC = len(CONTACTS)


def _scene(rng):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    scene.add_box((0.1, 0.2, 0.05), pos=(0.4, 0, 0.3), mass=2.0)
    scene.add_capsule(0.05, 0.1, pos=(-0.3, 0, 0.3))
    model = scene.build(contact=sc.HardContact())
    n = model.nbody
    # distinct coefficients on every body (no ties in the pairs' max), moments O(1)
    return model._replace(body_torsional_friction=rng.uniform(0.1, 1.0, n),
                          body_rolling_friction=rng.uniform(0.1, 1.0, n))


def _data(model, rng):
    d = make_data(model, model.initial_state(), NC, 8)
    d.ncon[0] = NC
    for k, (a, b) in enumerate(CONTACTS):
        d.con_body[k] = (a, b)
    return d


class _Inputs:
    """The stage's inputs as one flat vector: W (nb, 3), the impulses lam_n (NC), the normals
    (NC, 3; frames by tangent_frame), twists th of the dynamic bodies' orientations (R = Exp(th)
    R0), their moments (3 each), and the torsional and rolling coefficients (nb each)."""

    def __init__(self, model, rng, scale):
        self.model, self.nb = model, model.nbody
        self.dyn = np.flatnonzero(model.body_kind == BODY_DYNAMIC)
        self.R0 = np.array([rotvec_to_matrix(rng.normal(size=3)) for _ in range(self.nb)])
        normals = []
        for _, b in CONTACTS:
            n = rng.normal(size=3)
            n[2] = abs(n[2]) + (2.0 if b == 0 else 0.5)  # away from tangent_frame's branch
            normals.append(n / np.linalg.norm(n))
        inertia = rng.uniform(0.2, 1.0, (self.dyn.size, 3))
        self.x0 = np.concatenate([rng.normal(size=3 * self.nb), scale * rng.uniform(0.3, 1.5, NC),
                                  np.ravel(normals), np.zeros(3 * self.dyn.size), inertia.ravel(),
                                  model.body_torsional_friction, model.body_rolling_friction])

    def split(self, x):
        nb, nd = self.nb, self.dyn.size
        cuts = np.cumsum([3 * nb, NC, 3 * NC, 3 * nd, 3 * nd, nb])
        W, lam_n, normals, th, inertia, tors, roll = np.split(x, cuts)
        return (W.reshape(nb, 3), lam_n, normals.reshape(NC, 3), th.reshape(nd, 3),
                inertia.reshape(nd, 3), tors, roll)

    def load(self, x, d):
        """The model and d at x; returns (model, W, lam)."""
        W, lam_n, normals, th, inertia, tors, roll = self.split(x)
        I = self.model.body_inertia.copy()
        I[self.dyn] = inertia
        invI = np.zeros_like(I)
        invI[self.dyn] = 1.0 / inertia
        m = self.model._replace(body_inertia=I, body_invinertia=invI,
                                body_torsional_friction=np.ascontiguousarray(tors),
                                body_rolling_friction=np.ascontiguousarray(roll))
        for i in range(self.nb):
            d.xmat[i] = self.R0[i]
        for j, i in enumerate(self.dyn):
            d.xmat[i] = rotvec_to_matrix(th[j]) @ self.R0[i]
        for k in range(NC):
            d.con_normal[k] = normals[k]
            tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
        lam = np.zeros((NC, 3))
        lam[:, 0] = lam_n
        return m, np.ascontiguousarray(W), lam


@pytest.mark.parametrize("scale", [100.0, 1.0, 0.01], ids=["inside", "mixed", "on the bound"])
def test_resistance_vjp(scale, rng):
    # scale sets the impulses: large (every stopping impulse within its bound), O(1) (some
    # within, some on it), small (every one scaled onto its bound)
    model = _scene(rng)
    d = _data(model, rng)
    inp = _Inputs(model, rng, scale)

    def fwd(x):
        m, W, lam = inp.load(x, d)
        resistance(m, d, lam, W)
        return W.ravel()

    def vjp(x, yb):
        m, W, lam = inp.load(x, d)
        W_before = W.copy()
        resistance(m, d, lam, W)
        a = make_adjoint(inp.nb, NC)
        Wb = yb.reshape(inp.nb, 3).copy()
        lam_bar, tb = np.zeros((NC, 3)), np.zeros((NC, 3, 3))
        resistance_vjp(m, d, a, lam, W, Wb, lam_bar, tb, KINK_MEAN)
        assert np.allclose(W, W_before, rtol=0, atol=1e-12)  # taken back to the start
        for k in range(NC):
            frame_to_normal(d, a, k, tb[k])
        th = [rot_bar_to_twist_np(d.xmat[i], a.R_bar[i]) for i in inp.dyn]
        return np.concatenate([Wb.ravel(), lam_bar[:, 0], a.con_normal_bar[:NC].ravel(),
                               np.ravel(th), a.inertia_bar[inp.dyn].ravel(),
                               a.torsional_friction_bar, a.rolling_friction_bar])

    # the regime asked for: on the bound, every contact's torsional part is mu_t lambda_n
    m, W, lam = inp.load(inp.x0, d)
    resistance(m, d, lam, W)
    tors = np.abs(np.einsum("kj,kj->k", d.con_torque[:NC], d.con_normal[:NC]))
    bound = [max(m.body_torsional_friction[a], m.body_torsional_friction[b]) * lam[k, 0]
             for k, (a, b) in enumerate(CONTACTS)]
    if scale < 1.0:
        assert np.allclose(tors, bound, rtol=1e-12)
    elif scale > 10.0:
        assert np.all(tors < np.array(bound))
    err = check_vjp(fwd, vjp, inp.x0, rng)
    print(f"resistance_vjp ({scale}): worst rel. error {err:.2e}")


def test_resistance_law(rng):
    # within its bounds the stage stops each contact's relative rolling (the last contact's
    # exactly: its rolling part comes last), it never adds kinetic energy, and a body at rest
    # stays at rest
    model = _scene(rng)
    d = _data(model, rng)

    def energy(m, W):
        return sum(0.5 * np.sum(m.body_inertia[i] * (d.xmat[i].T @ W[i]) ** 2)
                   for i in np.flatnonzero(m.body_kind == BODY_DYNAMIC))

    for scale in (100.0, 1.0, 0.01):
        inp = _Inputs(model, rng, scale)
        m, W, lam = inp.load(inp.x0, d)
        before = energy(m, W)
        resistance(m, d, lam, W)
        assert energy(m, W) <= before * (1 + 1e-12)
        if scale > 10.0:
            a, b = CONTACTS[-1]
            rel = W[a] - W[b]
            assert abs(rel @ d.con_t1[NC - 1]) < 1e-12 and abs(rel @ d.con_t2[NC - 1]) < 1e-12
        W[:] = 0.0
        resistance(m, d, lam, W)
        assert not np.any(W) and not np.any(d.con_torque[:NC])
