"""HardContact's torque blocks (simcore/kernels/rolling.py, "HardContact: the resisting torques as
unknowns of its resting solve"), kernel by kernel:

- torque_rows against an independent numpy construction of its blocks (which contacts get one,
  their coefficients, J, M^-1 J^T and A from the frame E and R diag(1 / I) R^T), and that it
  leaves the contacts' own rows and the entries after its blocks alone;
- torque_box_jacobian_side against central differences of torque_box in z and in each bound,
  away from the switch (where its two sides agree), and against one-sided differences at it;
- torque_velocity_vjp, torque_impulse_vjp and torque_trace_vjp against central differences of
  their forward maps as the solver evaluates them (the rows torque_rows builds: u = J_e [V; W],
  [V; W] += M^-1 J_e^T tau, tr A_ee) in every input: the angular velocities, the contacts'
  frames, the dynamic bodies' orientations (twists) and inertias.

Frames, as in test_contact_space.py: either the 9 entries of each frame as free inputs (checks
the frame rows' cotangent tb exactly), or the normal with (t1, t2) = tangent_frame(n), its
cotangent through frame_to_normal, on outputs invariant under a rotation of (t1, t2) about n
(frame_to_normal leaves that rotation out by design), or for tr A (which takes an orthonormal
frame) the frame's rotations Exp(w) E0.
"""
import numpy as np
import pytest

import simcore as sc
from simcore.kernels.collision import tangent_frame
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.contact_space import apply_contact_impulse, frame_to_normal
from simcore.model import make_adjoint, make_data
from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
from tests.kernel_entries import (torque_box, torque_box_jacobian_side, torque_impulse_vjp,
                                  torque_rows, torque_trace_vjp, torque_velocity_vjp)
from tests.kernels.test_rolling import CONTACTS, NC, _scene


def _frame(n):
    # rows (n, t1, t2): the raw n and tangent_frame(n) (which normalises n itself)
    n = np.ascontiguousarray(n, dtype=np.float64)
    t1, t2 = np.empty(3), np.empty(3)
    tangent_frame(n, t1, t2)
    return np.stack([n, t1, t2])


def _normal(rng, zmin):
    # a unit normal with |n_z| >= zmin, away from tangent_frame's branch at n_z = 0
    n = rng.normal(size=3)
    n[2] = abs(n[2]) + zmin
    return n / np.linalg.norm(n)


# ----------------------------------------------------------------------------------------------
# torque_rows

# plane (static), sphere, box, capsule, a static box, a kinematic sphere; coefficients (mu_t,
# mu_r) per body, some zero
KINDS_ROWS = ["static", "dynamic", "dynamic", "dynamic", "static", "kinematic"]
TORSIONAL = [0.3, 0.0, 0.5, 0.0, 0.2, 0.0]
ROLLING = [0.0, 0.0, 0.1, 0.0, 0.4, 0.05]
# (a, b) per contact, and whether it gets a block: sphere on the plane (mu_t from b only), capsule
# on the sphere (no coefficient: none), static box on the plane (no dynamic side: none), box on
# the sphere (both from a), box on the capsule, capsule on the static box (both from b),
# kinematic sphere on the plane (none), sphere on the kinematic sphere (mu_r only, from b), box
# on the static box (mu_t from a, mu_r from b), the sphere on the plane again
# (the box on the sphere twice in a row: a pair held by two contacts, left to the stage)
CONTACTS_ROWS = [(1, 0), (3, 1), (4, 0), (2, 1), (2, 1), (2, 3), (3, 4), (5, 0), (1, 5), (2, 4),
                 (1, 0)]
BLOCKS_ROWS = [0, 5, 6, 8, 9, 10]


def _rows_scene(rng, coefficients=True):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    scene.add_box((0.1, 0.2, 0.05), pos=(0.4, 0, 0.3), mass=2.0)
    scene.add_capsule(0.05, 0.1, pos=(-0.3, 0, 0.3))
    scene.add_box((0.2, 0.2, 0.2), pos=(1.0, 0, 0.2), kind="static")
    scene.add_sphere(0.1, pos=(-1.0, 0, 0.1), kind="kinematic")
    model = scene.build(contact=sc.HardContact())
    kinds = {"static": 1, "dynamic": BODY_DYNAMIC, "kinematic": 2}
    assert list(model.body_kind) == [kinds[k] for k in KINDS_ROWS]
    n = model.nbody
    dyn = model.body_kind == BODY_DYNAMIC
    inertia = np.ones((n, 3))
    inertia[dyn] = rng.uniform(0.2, 1.0, (dyn.sum(), 3))
    # the non-dynamic bodies get a nonzero invinertia here: torque_rows must go by body_kind
    invinertia = 1.0 / inertia
    scale = 1.0 if coefficients else 0.0
    return model._replace(body_inertia=inertia, body_invinertia=invinertia,
                          body_torsional_friction=scale * np.array(TORSIONAL),
                          body_rolling_friction=scale * np.array(ROLLING))


def _inverse_inertia(m, R, i):
    # world I^-1 = R diag(1 / I) R^T of a dynamic body, 0 otherwise
    if m.body_kind[i] != BODY_DYNAMIC:
        return np.zeros((3, 3))
    return R @ np.diag(1.0 / m.body_inertia[i]) @ R.T


def rows_data(rng):
    """(m, d): _rows_scene's model, and Data with its bodies turned at random and the contacts
    CONTACTS_ROWS (random normals and their frames) before torque_rows."""
    m = _rows_scene(rng)
    nc = len(CONTACTS_ROWS)
    d = make_data(m, m.initial_state(), nc, 8)
    for i in range(m.nbody):
        d.xmat[i] = rotvec_to_matrix(rng.normal(size=3))
    d.ncon[0] = nc
    for k, (a, b) in enumerate(CONTACTS_ROWS):
        d.con_body[k] = (a, b)
        d.con_normal[k] = _normal(rng, 0.3)
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
    return m, d


def test_torque_rows(rng):
    m, d = rows_data(rng)
    nc = len(CONTACTS_ROWS)
    assert d.con_J.shape[0] == 2 * nc and d.con_normal.shape[0] == nc
    # the contacts' rows hold their own values, everything after them a sentinel
    d.con_J[:] = rng.normal(size=d.con_J.shape)
    d.con_MJ[:] = rng.normal(size=d.con_MJ.shape)
    d.con_A[:] = rng.normal(size=d.con_A.shape)
    d.con_bias[:] = rng.normal(size=d.con_bias.shape)
    d.con_resist[:] = 7.0
    d.con_parent[:] = 99
    d.con_body[nc:] = 99
    d.ntorque[0] = 99
    before = {f: getattr(d, f).copy() for f in ("con_J", "con_MJ", "con_A", "con_bias")}

    nt = torque_rows(m, d, nc)

    assert nt == len(BLOCKS_ROWS) and d.ntorque[0] == nt
    # a contact with a block is marked -2 - its entry (the stage leaves it alone), the others -1
    marks = np.full(nc, -1)
    marks[BLOCKS_ROWS] = -2 - (nc + np.arange(nt))
    assert np.array_equal(d.con_parent[:nc], marks)
    assert np.all(d.con_parent[nc:nc + nt] == BLOCKS_ROWS)
    # nothing past the blocks, nor the contacts' own rows, is written
    assert np.all(d.con_parent[nc + nt:] == 99) and np.all(d.con_body[nc + nt:] == 99)
    assert np.all(d.con_resist[nc + nt:] == 7.0)
    for f, v in before.items():
        got = getattr(d, f)
        assert np.array_equal(got[:nc], v[:nc]) and np.array_equal(got[nc + nt:], v[nc + nt:]), f
    worst = 0.0
    for j, k in enumerate(BLOCKS_ROWS):
        e = nc + j
        a, b = CONTACTS_ROWS[k]
        assert tuple(d.con_body[e]) == (a, b)
        assert d.con_bias[e] == 0.0
        assert tuple(d.con_resist[e]) == (max(TORSIONAL[a], TORSIONAL[b]),
                                          max(ROLLING[a], ROLLING[b]))
        E = np.stack([d.con_normal[k], d.con_t1[k], d.con_t2[k]])
        K = [_inverse_inertia(m, d.xmat[a], a), _inverse_inertia(m, d.xmat[b], b)]
        for s, sign in ((0, 1.0), (1, -1.0)):
            J = np.zeros((3, 6))
            J[:, 3:] = sign * E
            MJ = np.zeros((6, 3))
            MJ[3:, :] = sign * K[s] @ E.T
            assert np.array_equal(d.con_J[e, s], J)  # (exact: copies of E, zeros)
            worst = max(worst, np.max(np.abs(d.con_MJ[e, s] - MJ)))
            assert np.allclose(d.con_MJ[e, s], MJ, rtol=0, atol=1e-14)
        A = E @ (K[0] + K[1]) @ E.T
        worst = max(worst, np.max(np.abs(d.con_A[e] - A)))
        assert np.allclose(d.con_A[e], A, rtol=0, atol=1e-13)
    print(f"torque_rows: {nt} blocks, worst abs. difference from numpy {worst:.2e}")

    # no body with a coefficient: no blocks (the arrays hold only the contacts), parents reset
    m0 = _rows_scene(rng, coefficients=False)
    d0 = make_data(m0, m0.initial_state(), nc, 8)
    assert d0.con_J.shape[0] == nc
    d0.con_body[:] = d.con_body[:nc]
    d0.con_parent[:] = 99
    d0.ntorque[0] = 99
    assert torque_rows(m0, d0, nc) == 0 and d0.ntorque[0] == 0
    assert np.all(d0.con_parent == -1)


# ----------------------------------------------------------------------------------------------
# torque_box_jacobian_side


def _box(x):
    # torque_box at x = (z0, z1, z2, bt, br)
    return np.array(torque_box(*(float(v) for v in x)))


def _side(x, outside):
    dP, db = np.full((3, 3), np.nan), np.full(3, np.nan)
    torque_box_jacobian_side(np.ascontiguousarray(x[:3], dtype=np.float64), float(x[3]),
                             float(x[4]), outside, dP, db)
    return dP, db


def _as_jacobian(dP, db):
    # d torque_box / d (z0, z1, z2, bt, br): row 0 moves with bt only, rows 1, 2 with br only
    Jx = np.zeros((3, 5))
    Jx[:, :3] = dP
    Jx[0, 3] = db[0]
    Jx[1:, 4] = db[1:]
    return Jx


def _point(rng, torsion, disc):
    # bounds in [0.5, 1.5]; z0 inside (|z0| < 0.8 bt) or outside (|z0| > 1.2 bt, either sign),
    # (z1, z2) inside (|z_t| < 0.8 br) or outside (|z_t| > 1.2 br)
    bt, br = rng.uniform(0.5, 1.5, 2)
    s = rng.choice([-1.0, 1.0])
    z0 = s * bt * (rng.uniform(0.0, 0.8) if torsion == "in" else rng.uniform(1.2, 3.0))
    phi = rng.uniform(0.0, 2.0 * np.pi)
    r = br * (rng.uniform(0.05, 0.8) if disc == "in" else rng.uniform(1.2, 3.0))
    return np.array([z0, r * np.cos(phi), r * np.sin(phi), bt, br])


@pytest.mark.parametrize("torsion", ["in", "out"])
@pytest.mark.parametrize("disc", ["in", "out"])
def test_torque_box_jacobian_away_from_the_switch(torsion, disc, rng):
    worst, eps = 0.0, 1e-6
    for _ in range(5):
        x = _point(rng, torsion, disc)
        p = _box(x)
        # the projection itself: clamped torsion, rolling scaled onto the disc
        assert p[0] == (x[0] if torsion == "in" else np.sign(x[0]) * x[3])
        assert np.isclose(np.hypot(p[1], p[2]), np.hypot(x[1], x[2]) if disc == "in" else x[4],
                          rtol=1e-14)
        inside, outside = _side(x, False), _side(x, True)
        for u, v in zip(inside, outside):  # the two sides agree away from the switch
            assert np.array_equal(u, v)
        fd = np.empty((3, 5))
        for j in range(5):
            h = np.zeros(5)
            h[j] = eps
            fd[:, j] = (_box(x + h) - _box(x - h)) / (2 * eps)
        err = np.max(np.abs(_as_jacobian(*inside) - fd))
        worst = max(worst, err)
        assert err < 1e-8, (x, _as_jacobian(*inside), fd)
        if torsion == "in":
            assert inside[0][0, 0] == 1.0 and inside[1][0] == 0.0
        else:
            assert inside[0][0, 0] == 0.0 and inside[1][0] == np.sign(x[0])
    print(f"torque_box_jacobian_side ({torsion}, {disc}): worst abs. error {worst:.2e}")


def test_torque_box_jacobian_at_the_switch(rng):
    # |z0| = bt and |z_t| = br exactly: the inside side (outside False) is the slope along the
    # directions that enter the box (z inward, a bound growing), the outside side along those
    # that leave it (z outward, a bound shrinking); compared with one-sided differences of
    # second order (the disc's edge curves: a first-order one is off by O(h |v|^2 / br))
    h = 1e-5
    worst = 0.0
    for _ in range(5):
        bt = rng.uniform(0.5, 1.5)
        r, phi = rng.uniform(0.5, 1.5), rng.uniform(0.0, 2.0 * np.pi)
        z1, z2 = r * np.cos(phi), r * np.sin(phi)
        br = float(np.sqrt(z1 * z1 + z2 * z2))  # (the kernel's |z_t|, bit for bit)
        s = rng.choice([-1.0, 1.0])
        x = np.array([s * bt, z1, z2, bt, br])
        assert np.array_equal(_box(x), x[:3])  # on the switch the projection is the identity
        zt = np.array([z1, z2]) / br  # the disc's outward radial direction
        tang = np.array([-zt[1], zt[0]])
        for outside, way in ((False, -1.0), (True, 1.0)):  # way: +1 leaves the box, -1 enters
            Jx = _as_jacobian(*_side(x, outside))
            dirs = [np.array([way * s, 0, 0, 0, 0]),  # torsion across its bound
                    np.array([0, 0, 0, -way, 0]),  # its bound (growing: entering)
                    np.array([0, 0, 0, 0, -way])]  # the disc's radius
            for _ in range(3):  # (z1, z2) across the disc's edge, at random angles
                a, c = rng.uniform(0.2, 1.0), rng.normal()
                dirs.append(np.concatenate([[0.0], way * a * zt + c * tang, [0.0, 0.0]]))
            dirs.append(np.concatenate([[way * s * rng.uniform(0.2, 1.0)],  # all at once
                                        way * rng.uniform(0.2, 1.0) * zt + rng.normal() * tang,
                                        [-way * rng.uniform(0.2, 1.0)] * 2]))
            for v in dirs:
                one_sided = (4.0 * _box(x + h * v) - 3.0 * _box(x) - _box(x + 2 * h * v)) / (2 * h)
                err = np.max(np.abs(Jx @ v - one_sided))
                worst = max(worst, err)
                assert err < 1e-8, (outside, v, Jx @ v, one_sided)
        # the two sides differ (the switch is hit exactly)
        (Pi, bi), (Po, bo) = _side(x, False), _side(x, True)
        assert Pi[0, 0] == 1.0 and Po[0, 0] == 0.0 and bi[0] == 0.0 and bo[0] == s
        assert not np.allclose(Pi[1:, 1:], Po[1:, 1:]) and not np.allclose(bi[1:], bo[1:])
    print(f"torque_box_jacobian_side at the switch: worst abs. error {worst:.2e} (one-sided)")


def test_torque_box_jacobian_zero_bounds(rng):
    # a bound of 0: its rows' z-slopes are 0 on both sides, their bound-slopes the one-sided
    # ones in a growing bound (sign z0, and z_t / |z_t|)
    h = 1e-7
    for _ in range(3):
        x = np.concatenate([rng.normal(size=3), [0.0, 0.0]])
        assert not np.any(_box(x))
        for outside in (False, True):
            dP, db = _side(x, outside)
            assert not np.any(dP)
            for j in (3, 4):
                v = np.zeros(5)
                v[j] = 1.0
                one_sided = (_box(x + h * v) - _box(x)) / h
                assert np.allclose(_as_jacobian(dP, db) @ v, one_sided, rtol=0, atol=1e-8)


# ----------------------------------------------------------------------------------------------
# torque_velocity_vjp, torque_impulse_vjp, torque_trace_vjp

# test_rolling's scene and contacts: sphere on the plane, box on the sphere, box on the capsule,
# capsule on the plane, the sphere on the plane again (a body in several contacts, static sides)


class _Case:
    """A model (every body with both coefficients: one block per contact, entry NC + k for
    contact k) and its Data; its inputs as one flat vector: W (nb, 3) (zeros(0) when the map
    does not take it), twists th of the dynamic bodies' orientations (R = Exp(th) R0), their
    moments (3 each), and the frames: "free" (9 entries per contact), "normal" (n per contact,
    (t1, t2) = tangent_frame(n)) or "rotated" (E = Exp(w) E0, w per contact)."""

    def __init__(self, rng, mode, with_w=True):
        self.model = _scene(rng)  # test_rolling's: plane, sphere, box, capsule, coefficients
        nb = self.model.nbody
        self.nb, self.mode, self.with_w = nb, mode, with_w
        self.dyn = np.flatnonzero(self.model.body_kind == BODY_DYNAMIC)
        assert list(self.dyn) == [1, 2, 3]
        self.d = make_data(self.model, self.model.initial_state(), NC, 8)
        self.d.ncon[0] = NC
        for k, (a, b) in enumerate(CONTACTS):
            self.d.con_body[k] = (a, b)
        self.R0 = np.array([rotvec_to_matrix(rng.normal(size=3)) for _ in range(nb)])
        self.E0 = np.array([_frame(_normal(rng, 2.0 if b == 0 else 0.5)) for _, b in CONTACTS])
        nd = self.dyn.size
        frame0 = {"free": self.E0.ravel(), "normal": self.E0[:, 0].ravel(),
                  "rotated": np.zeros(3 * NC)}[mode]
        self.x0 = np.concatenate([rng.normal(size=3 * nb) if with_w else np.zeros(0),
                                  np.zeros(3 * nd), rng.uniform(0.2, 1.0, 3 * nd), frame0])

    def load(self, x):
        """Sets the model's inertias, d's orientations and frames at x and runs torque_rows;
        returns (model, W)."""
        nb, nd = self.nb, self.dyn.size
        i = 3 * nb if self.with_w else 0
        W = np.ascontiguousarray(x[:i].reshape(-1, 3))
        th = x[i:i + 3 * nd].reshape(nd, 3)
        inertia = x[i + 3 * nd:i + 6 * nd].reshape(nd, 3)
        f = x[i + 6 * nd:]
        I = self.model.body_inertia.copy()
        I[self.dyn] = inertia
        invI = np.zeros_like(I)
        invI[self.dyn] = 1.0 / inertia
        m = self.model._replace(body_inertia=I, body_invinertia=invI)
        d = self.d
        d.xmat[:] = self.R0
        for j, b in enumerate(self.dyn):
            d.xmat[b] = rotvec_to_matrix(th[j]) @ self.R0[b]
        for k in range(NC):
            if self.mode == "free":
                E = f[9 * k:9 * k + 9].reshape(3, 3)
            elif self.mode == "normal":
                E = _frame(f[3 * k:3 * k + 3])
            else:
                E = (rotvec_to_matrix(f[3 * k:3 * k + 3]) @ self.E0[k].T).T
            d.con_normal[k], d.con_t1[k], d.con_t2[k] = E[0], E[1], E[2]
        assert torque_rows(m, d, NC) == NC
        assert np.array_equal(d.con_parent[NC:2 * NC], np.arange(NC))
        return m, W

    def frame_bar(self, a, tb):
        """The frames' cotangents from the frame rows' tb (NC, 3, 3), in the inputs' terms."""
        if self.mode == "free":
            return tb.ravel()
        if self.mode == "normal":
            for k in range(NC):
                frame_to_normal(self.d, a, k, tb[k])
            return a.con_normal_bar[:NC].ravel()
        # E^T = Exp(w) E0^T: a rotation of the matrix whose columns are the rows
        d = self.d
        return np.concatenate([rot_bar_to_twist_np(
            np.stack([d.con_normal[k], d.con_t1[k], d.con_t2[k]]).T, tb[k].T)
            for k in range(NC)])

    def twist_bar(self, a):
        # the dynamic bodies' orientation cotangents (twists); none for the others
        assert not np.any(np.delete(a.R_bar, self.dyn, axis=0))
        assert not np.any(np.delete(a.inertia_bar, self.dyn, axis=0))
        return np.concatenate([rot_bar_to_twist_np(self.d.xmat[i], a.R_bar[i])
                               for i in self.dyn])


def _u(d, e, W):
    # the block's rows on the velocities, as the solver reads them: u = J_e [V; W] (V = 0: its
    # linear part is 0)
    a, b = d.con_body[e]
    assert not np.any(d.con_J[e, :, :, :3])
    return d.con_J[e, 0, :, 3:] @ W[a] + d.con_J[e, 1, :, 3:] @ W[b]


@pytest.mark.parametrize("mode", ["free", "normal"])
def test_torque_velocity_vjp(mode, rng):
    # u_e = E_k (w_a - w_b) in W, the frames, and (u does not depend on them) the orientations
    # and inertias. Normal: the outputs u_0 and |u_t|^2 (invariant under a rotation about n)
    case = _Case(rng, mode)
    nb = case.nb

    def outputs(u):
        return u if mode == "free" else np.array([u[0], u[1] ** 2 + u[2] ** 2])

    def fwd(x):
        _, W = case.load(x)
        return np.concatenate([outputs(_u(case.d, NC + k, W)) for k in range(NC)])

    def vjp(x, yb):
        m, W = case.load(x)
        a = make_adjoint(nb, NC)
        Wb, tb = np.zeros((nb, 3)), np.zeros((NC, 3, 3))
        yb = yb.reshape(NC, -1)
        for k in range(NC):
            if mode == "free":
                ubar = yb[k]
            else:
                u = _u(case.d, NC + k, W)
                ubar = np.array([yb[k, 0], 2.0 * yb[k, 1] * u[1], 2.0 * yb[k, 1] * u[2]])
            torque_velocity_vjp(case.d, NC + k, W, np.ascontiguousarray(ubar), Wb, tb[k])
        nd = case.dyn.size
        return np.concatenate([Wb.ravel(), np.zeros(6 * nd), case.frame_bar(a, tb)])

    err = check_vjp(fwd, vjp, case.x0, rng)
    print(f"torque_velocity_vjp ({mode} frame): worst rel. error {err:.2e}")


@pytest.mark.parametrize("mode", ["free", "normal"])
def test_torque_impulse_vjp(mode, rng):
    # W_out = W + sum_e M^-1 J_e^T tau_e at fixed tau, in W, the orientations, the inertias and
    # the frames. Normal: tau_e = (tau_n, 0, 0), whose world torque tau_n n does not turn with
    # (t1, t2) (a tangential tau is checked with the free frame)
    case = _Case(rng, mode)
    nb = case.nb
    tau = rng.normal(size=(NC, 3))
    if mode == "normal":
        tau[:, 1:] = 0.0

    def fwd(x):
        _, W = case.load(x)
        W = W.copy()
        V = np.zeros((nb, 3))
        for k in range(NC):
            apply_contact_impulse(case.d, NC + k, tau[k], V, W)
        assert not np.any(V)
        return W.ravel()

    def vjp(x, yb):
        m, W = case.load(x)
        a = make_adjoint(nb, NC)
        Wb = np.ascontiguousarray(yb.reshape(nb, 3))
        Wb0 = Wb.copy()
        tb = np.zeros((NC, 3, 3))
        for k in range(NC):
            torque_impulse_vjp(m, case.d, a, NC + k, tau[k], Wb, tb[k])
        assert np.array_equal(Wb, Wb0)  # W_out's cotangent is W's: only read
        return np.concatenate([Wb.ravel(), case.twist_bar(a), a.inertia_bar[case.dyn].ravel(),
                               case.frame_bar(a, tb)])

    err = check_vjp(fwd, vjp, case.x0, rng)
    print(f"torque_impulse_vjp ({mode} frame): worst rel. error {err:.2e}")


def test_torque_trace_vjp(rng):
    # tr A_ee = tr(I_a^-1) + tr(I_b^-1): in the inertias; the orientations and the frames'
    # rotations leave it (their central differences must be ~0, as the vjp has them)
    case = _Case(rng, "rotated", with_w=False)
    nb = case.nb

    def fwd(x):
        case.load(x)
        return np.array([np.trace(case.d.con_A[NC + k]) for k in range(NC)])

    def vjp(x, yb):
        m, _ = case.load(x)
        a = make_adjoint(nb, NC)
        for k in range(NC):
            torque_trace_vjp(m, case.d, a, NC + k, float(yb[k]))
        return np.concatenate([case.twist_bar(a), a.inertia_bar[case.dyn].ravel(),
                               np.zeros(3 * NC)])

    err = check_vjp(fwd, vjp, case.x0, rng)
    print(f"torque_trace_vjp: worst rel. error {err:.2e}")


def test_torque_vjps_accumulate(rng):
    # every output is added to, not overwritten
    case = _Case(rng, "free")
    nb = case.nb
    m, W = case.load(case.x0)
    e = NC + 1  # box on the sphere: two dynamic sides
    ubar, tau, Wb_out = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(nb, 3))
    outs = []
    for start in (0.0, 1.0):
        a = make_adjoint(nb, NC)
        a.R_bar[:] = start
        a.inertia_bar[:] = start
        Wb, tb = np.full((nb, 3), start), np.full((3, 3), start)
        torque_velocity_vjp(case.d, e, W, ubar, Wb, tb)
        torque_impulse_vjp(m, case.d, a, e, tau, Wb_out, tb)
        torque_trace_vjp(m, case.d, a, e, 0.7)
        outs.append([Wb, tb, a.R_bar.copy(), a.inertia_bar.copy()])
    for zero, one in zip(*outs):
        assert np.any(zero)
        assert np.allclose(one - 1.0, zero, rtol=0, atol=1e-13)
