"""Contact space (simcore/kernels/contact_space.py) and the hard model's impact-phase cap:
reverse-mode kernels against central differences of their forward counterparts.

Conventions checked here: every cotangent is accumulated (+=), so each vjp call gets fresh zeroed
outputs; orientation cotangents are matrix cotangents R_bar, compared along the 3 tangent
directions of R -> Exp(th) R0 (rot_bar_to_twist); the frame (n, t1, t2) is either given as 9 free
inputs (checks the frame cotangents tb exactly; for A_tt, which takes |t| = 1, as the frame's
rotations Exp(w) E0 instead) or rebuilt from n by tangent_frame, and then only outputs invariant
under a rotation of (t1, t2) about n are compared, through frame_to_normal.
"""
import numpy as np
import pytest

import simcore as sc
from simcore.kernels.collision import tangent_frame
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.contact_space import (apply_contact_impulse, contact_velocity,
                                           contact_velocity_vjp, delassus_trace_vjp,
                                           delassus_diagonal_vjp, frame_to_normal)
from simcore.kernels.hard import _cap_fraction
from simcore.kernels.rotation import quat_to_mat
from simcore.model import make_adjoint, make_data
from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
from tests.kernel_entries import (_blend_vjp, _blend_work, _dense_transposed_solve,
                                  active_transposed_solve, contact_jacobian, contact_poses,
                                  dense_delassus, gmres_transposed_solve, impulse_vjp, islands,
                                  transposed_solve)

NCON_MAX = 6
# (a, b) per contact, type(a) >= type(b) as the narrow phase orders them: sphere on the plane,
# box on the sphere, box on the capsule (two dynamic bodies each), capsule on the plane
CONTACTS = [(1, 0), (2, 1), (2, 3), (3, 0)]
NC = len(CONTACTS)


def _random_normal(rng, zmin):
    # |n_z| >= zmin keeps n away from tangent_frame's branch at n_z = 0 (not smooth there)
    while True:
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        if abs(n[2]) >= zmin:
            return n


def _frame(n):
    """Rows (n, t1, t2): the raw n (not renormalised, so that the radial direction of n_bar is
    also checked) and tangent_frame(n), which normalises n itself."""
    n = np.ascontiguousarray(n, dtype=np.float64)
    t1, t2 = np.empty(3), np.empty(3)
    tangent_frame(n, t1, t2)
    return np.stack([n, t1, t2])


def _setup(rng):
    """Model with random masses (inertias O(1), so that central differences of 1/I stay at
    rounding), Data with NC contacts at random normals and points, bodies at random poses."""
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    scene.add_box((0.1, 0.2, 0.05), pos=(0.4, 0, 0.3), mass=2.0)
    scene.add_capsule(0.05, 0.1, pos=(-0.3, 0, 0.3))
    model = scene.build(contact=sc.HardContact())
    nb = model.nbody
    dyn = model.body_kind == BODY_DYNAMIC
    assert list(dyn) == [False, True, True, True]
    model = _with_masses(model, rng.uniform(0.5, 2.0, dyn.sum()),
                         rng.uniform(0.2, 1.0, (dyn.sum(), 3)))
    d = make_data(model, model.initial_state(), NCON_MAX, 8)
    for i in np.flatnonzero(dyn):
        d.pos[i] = rng.normal(scale=0.3, size=3)
        q = rng.normal(size=4)
        d.quat[i] = q / np.linalg.norm(q)
    for i in range(nb):
        quat_to_mat(d.quat[i], d.xmat[i])
    d.ncon[0] = NC
    for k, (a, b) in enumerate(CONTACTS):
        d.con_body[k] = (a, b)
        n = _random_normal(rng, 0.8 if b == 0 else 0.3)  # near the plane's +z on the plane
        d.con_normal[k] = n
        d.con_pos[k] = 0.5 * (d.pos[a] + d.pos[b]) + rng.normal(scale=0.2, size=3)
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
    cx, cR, _, _ = contact_poses(d, NC)
    # per-contact poses that differ from the bodies' current ones (as at a refreshed impact)
    cx = np.ascontiguousarray(cx + rng.normal(scale=0.05, size=cx.shape))
    for k in range(NC):
        contact_jacobian(model, d, k, cx[k, 0], cR[k, 0], cx[k, 1], cR[k, 1])
    return model, d, cx, np.ascontiguousarray(cR)


def _with_masses(model, invmass_dyn, inertia_dyn):
    # the dynamic bodies' 1/m and principal moments, with their inverses kept consistent
    dyn = model.body_kind == BODY_DYNAMIC
    invmass = np.zeros(model.nbody)
    invmass[dyn] = invmass_dyn
    inertia = np.ones((model.nbody, 3))
    inertia[dyn] = np.reshape(inertia_dyn, (-1, 3))
    invinertia = np.zeros((model.nbody, 3))
    invinertia[dyn] = 1.0 / inertia[dyn]
    mass = np.full(model.nbody, np.inf)
    mass[dyn] = 1.0 / invmass[dyn]
    return model._replace(body_invmass=invmass, body_mass=mass, body_inertia=inertia,
                          body_invinertia=invinertia)


def _set_contact(m, d, k, p, frame, cx, cR):
    # contact k's point and frame into d, and its Jacobian at the poses cx[k], cR[k]
    d.con_pos[k] = p
    d.con_normal[k], d.con_t1[k], d.con_t2[k] = frame[0], frame[1], frame[2]
    contact_jacobian(m, d, k, cx[k, 0], cR[k, 0], cx[k, 1], cR[k, 1])


class _Unpack:
    """Split a flat vector into named, C-contiguous float64 blocks."""

    def __init__(self, **shapes):
        self.shapes = shapes

    def __call__(self, x):
        out, i = {}, 0
        for name, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[name] = np.ascontiguousarray(x[i:i + size].reshape(shape))
            i += size
        assert i == x.size
        return out


# ----------------------------------------------------------------------------------------------
# contact_velocity_vjp


@pytest.mark.parametrize("k", range(NC))
def test_contact_velocity_vjp(k, rng):
    model, d, cx0, cR0 = _setup(rng)
    nb = model.nbody
    V0, W0 = rng.normal(size=(nb, 3)), rng.normal(size=(nb, 3))

    def state(x, unpack):
        v = unpack(x)
        cx = cx0.copy()
        cx[k] = v["cx"]
        frame = v["frame"] if "frame" in v else _frame(v["n"])
        _set_contact(model, d, k, v["p"], frame, cx, cR0)
        return v, cx

    def velocity(x, unpack):
        v, _ = state(x, unpack)
        u = np.empty(3)
        contact_velocity(d, k, v["V"], v["W"], u)
        return u

    def pullback(x, unpack, ubar, to_normal):
        v, cx = state(x, unpack)
        a = make_adjoint(nb, NCON_MAX)
        Vb, Wb, tb, cx_bar = np.zeros((nb, 3)), np.zeros((nb, 3)), np.zeros((3, 3)), np.zeros(
            (NC, 2, 3))
        contact_velocity_vjp(d, a, k, cx, v["V"], v["W"], np.ascontiguousarray(ubar), Vb, Wb, tb,
                             cx_bar)
        assert not np.any(np.delete(cx_bar, k, axis=0))
        assert not np.any(np.delete(a.con_pos_bar, k, axis=0))
        if to_normal:
            frame_to_normal(d, a, k, tb)
            return np.concatenate([Vb.ravel(), Wb.ravel(), a.con_pos_bar[k], cx_bar[k].ravel(),
                                   a.con_normal_bar[k]])
        return np.concatenate([Vb.ravel(), Wb.ravel(), a.con_pos_bar[k], cx_bar[k].ravel(),
                               tb.ravel()])

    # (a) u itself, every component, with the frame's 9 entries as free inputs: checks tb exactly
    unpack = _Unpack(V=(nb, 3), W=(nb, 3), p=(3,), cx=(2, 3), frame=(3, 3))
    x0 = np.concatenate([V0.ravel(), W0.ravel(), d.con_pos[k], cx0[k].ravel(),
                         _frame(d.con_normal[k]).ravel()])
    err_a = check_vjp(lambda x: velocity(x, unpack),
                      lambda x, yb: pullback(x, unpack, yb, False), x0, rng)

    # (b) the normal, with (t1, t2) = tangent_frame(n): u_t rotates with the frame about n, which
    # frame_to_normal leaves out by design, so the outputs are u_n and |u_t|^2 (both invariant)
    unpack_n = _Unpack(V=(nb, 3), W=(nb, 3), p=(3,), cx=(2, 3), n=(3,))
    x0 = np.concatenate([V0.ravel(), W0.ravel(), d.con_pos[k], cx0[k].ravel(), d.con_normal[k]])

    def fwd_n(x):
        u = velocity(x, unpack_n)
        return np.array([u[0], u[1] ** 2 + u[2] ** 2])

    def vjp_n(x, yb):
        u = velocity(x, unpack_n)
        ubar = np.array([yb[0], 2.0 * yb[1] * u[1], 2.0 * yb[1] * u[2]])
        return pullback(x, unpack_n, ubar, True)

    err_b = check_vjp(fwd_n, vjp_n, x0, rng)
    print(f"contact_velocity_vjp k={k}: worst rel. error {err_a:.2e} (free frame), "
          f"{err_b:.2e} (normal)")


def test_contact_velocity_vjp_accumulates(rng):
    # outputs are added to, not overwritten
    model, d, cx, cR = _setup(rng)
    nb = model.nbody
    V, W, ubar = rng.normal(size=(nb, 3)), rng.normal(size=(nb, 3)), rng.normal(size=3)
    outs = []
    for start in (0.0, 1.0):
        a = make_adjoint(nb, NCON_MAX)
        a.con_pos_bar[:] = start
        Vb, Wb, tb, cx_bar = (np.full((nb, 3), start), np.full((nb, 3), start),
                              np.full((3, 3), start), np.full((NC, 2, 3), start))
        contact_velocity_vjp(d, a, 1, cx, V, W, ubar, Vb, Wb, tb, cx_bar)
        outs.append([Vb, Wb, tb, cx_bar, a.con_pos_bar])
    for zero, one in zip(*outs):
        assert np.allclose(one - 1.0, zero, rtol=0, atol=1e-14)


# ----------------------------------------------------------------------------------------------
# impulse_vjp


def _impulse_case(rng, normal_only):
    model, d, cx0, cR0 = _setup(rng)
    nb = model.nbody
    dyn = model.body_kind == BODY_DYNAMIC
    nd = int(dyn.sum())
    sel = np.arange(NC, dtype=np.int64)
    lam = np.zeros((NCON_MAX, 3))
    lam[:NC] = rng.normal(size=(NC, 3))
    lam[:NC, 0] = np.abs(lam[:NC, 0])
    if normal_only:
        # with a fixed tangential lam the world impulse E lam turns with (t1, t2) about n, which
        # frame_to_normal leaves out by design (in a solve lam turns back with the frame). A
        # purely normal lam gives E lam = lam_n n, invariant, so the normal's cotangent is exact.
        # (The tangential lam's frame cotangents are checked exactly with the free frame.)
        lam[:, 1:] = 0.0
        frame_shape = (NC, 3)
        frame0 = d.con_normal[:NC].copy()
    else:
        frame_shape = (NC, 3, 3)
        frame0 = np.stack([_frame(d.con_normal[k]) for k in range(NC)])
    V0, W0 = rng.normal(size=(nb, 3)), rng.normal(size=(nb, 3))
    unpack = _Unpack(p=(NC, 3), cx=(NC, 2, 3), th=(NC, 2, 3), invmass=(nd,), inertia=(nd, 3),
                     frame=frame_shape)
    x0 = np.concatenate([d.con_pos[:NC].ravel(), cx0.ravel(), np.zeros(NC * 6),
                         model.body_invmass[dyn], model.body_inertia[dyn].ravel(),
                         frame0.ravel()])

    def state(x):
        v = unpack(x)
        m = _with_masses(model, v["invmass"], v["inertia"])
        cR = np.empty_like(cR0)
        for k in range(NC):
            for s in range(2):
                cR[k, s] = rotvec_to_matrix(v["th"][k, s]) @ cR0[k, s]
            frame = _frame(v["frame"][k]) if normal_only else v["frame"][k]
            _set_contact(m, d, k, v["p"][k], frame, v["cx"], cR)
        return m, v, cR

    def fwd(x):
        state(x)
        V, W = V0.copy(), W0.copy()
        for k in range(NC):
            apply_contact_impulse(d, k, np.ascontiguousarray(lam[k]), V, W)
        return np.concatenate([V.ravel(), W.ravel()])

    def vjp(x, yb):
        m, v, cR = state(x)
        a = make_adjoint(nb, NCON_MAX)
        Vb = np.ascontiguousarray(yb[:3 * nb].reshape(nb, 3))
        Wb = np.ascontiguousarray(yb[3 * nb:].reshape(nb, 3))
        Vb0, Wb0 = Vb.copy(), Wb.copy()
        tb, cx_bar, cR_bar = np.zeros((NCON_MAX, 3, 3)), np.zeros((NC, 2, 3)), np.zeros(
            (NC, 2, 3, 3))
        impulse_vjp(m, d, a, sel, NC, lam, v["cx"], cR, Vb, Wb, tb, cx_bar, cR_bar)
        # V_out's cotangent is V_in's unchanged: only read
        assert np.array_equal(Vb, Vb0) and np.array_equal(Wb, Wb0)
        # static sides get no pose cotangent, non-dynamic bodies no mass cotangent
        assert not np.any(cR_bar[[0, 3], 1]) and not np.any(cx_bar[[0, 3], 1])
        assert not np.any(a.invmass_bar[~dyn]) and not np.any(a.inertia_bar[~dyn])
        th_bar = np.array([[rot_bar_to_twist_np(cR[k, s], cR_bar[k, s]) for s in range(2)]
                           for k in range(NC)])
        if normal_only:
            for k in range(NC):
                frame_to_normal(d, a, k, np.ascontiguousarray(tb[k]))
            fb = a.con_normal_bar[:NC]
        else:
            fb = tb[:NC]
        return np.concatenate([a.con_pos_bar[:NC].ravel(), cx_bar.ravel(), th_bar.ravel(),
                               a.invmass_bar[dyn], a.inertia_bar[dyn].ravel(), fb.ravel()])

    return check_vjp(fwd, vjp, x0, rng)


def test_impulse_vjp_free_frame(rng):
    # full random lam; the frame's 9 entries per contact as free inputs (tb checked exactly)
    err = _impulse_case(rng, normal_only=False)
    print(f"impulse_vjp (free frame): worst rel. error {err:.2e}")


def test_impulse_vjp_normal(rng):
    err = _impulse_case(rng, normal_only=True)
    print(f"impulse_vjp (normal, lam = (lam_n, 0, 0)): worst rel. error {err:.2e}")


def _moved(model, k, v, cx0, cR0):
    # the model with v's masses, and contact k's poses moved to v's cx and rotated by v's th
    m = _with_masses(model, v["invmass"], v["inertia"])
    cx, cR = cx0.copy(), cR0.copy()
    cx[k] = v["cx"]
    for s in range(2):
        cR[k, s] = rotvec_to_matrix(v["th"][s]) @ cR0[k, s]
    return m, cx, cR


# ----------------------------------------------------------------------------------------------
# delassus_diagonal_vjp


@pytest.mark.parametrize("k", range(NC))
@pytest.mark.parametrize("frame_mode", ["rotated", "normal"])
@pytest.mark.parametrize("entry", ["tangent", "normal"])
def test_delassus_diagonal_vjp(k, frame_mode, entry, rng):
    # entry "tangent": A_tt = (A_11 + A_22) / 2 (the smoothed model's), "normal": A_nn (the
    # penalty spring's). A_tt depends on t1, t2 only through t1 t1^T + t2 t2^T, invariant under a
    # rotation about n: the normal's cotangent through frame_to_normal is exact ("normal").
    # "rotated" checks tb itself, along the frame's own rotations E = Exp(w) E0 (all three, so
    # also those about n, where A_tt is constant), not along its 9 free entries: the vjp takes
    # t.t = 1 (the invmass term of A_ii is invm |t|^2), so tb is only right tangent to the
    # orthonormal frames; off them the 9-entry check differs by exactly invm_a+b * t_i
    # (measured to 4e-10), which no caller can see.
    model, d, cx0, cR0 = _setup(rng)
    nb = model.nbody
    dyn = model.body_kind == BODY_DYNAMIC
    nd = int(dyn.sum())
    rotated = frame_mode == "rotated"
    E0 = _frame(d.con_normal[k])
    unpack = _Unpack(p=(3,), cx=(2, 3), th=(2, 3), invmass=(nd,), inertia=(nd, 3), frame=(3,))
    frame0 = np.zeros(3) if rotated else d.con_normal[k]
    x0 = np.concatenate([d.con_pos[k], cx0[k].ravel(), np.zeros(6), model.body_invmass[dyn],
                         model.body_inertia[dyn].ravel(), frame0])

    def state(x):
        v = unpack(x)
        m, cx, cR = _moved(model, k, v, cx0, cR0)
        if rotated:
            frame = (rotvec_to_matrix(v["frame"]) @ E0.T).T
        elif entry == "normal":  # (the vjp takes |n| = 1, as every caller's normal is)
            frame = _frame(v["frame"] / np.linalg.norm(v["frame"]))
        else:
            frame = _frame(v["frame"])
        _set_contact(m, d, k, v["p"], frame, cx, cR)
        return m, cx, cR, frame

    w = (0.0, 0.5, 0.5) if entry == "tangent" else (1.0, 0.0, 0.0)

    def fwd(x):
        state(x)
        return np.array([sum(w[i] * d.con_A[k, i, i] for i in range(3))])

    def vjp(x, yb):
        m, cx, cR, frame = state(x)
        a = make_adjoint(nb, NCON_MAX)
        tb, cx_bar, cR_bar = np.zeros((3, 3)), np.zeros((NC, 2, 3)), np.zeros((NC, 2, 3, 3))
        delassus_diagonal_vjp(m, d, a, k, cx, cR, (w[0] * yb[0], w[1] * yb[0], w[2] * yb[0]), tb,
                              cx_bar, cR_bar)
        for i in range(3):
            assert w[i] or not np.any(tb[i])  # an entry depends on its own frame row only
        th_bar = [rot_bar_to_twist_np(cR[k, s], cR_bar[k, s]) for s in range(2)]
        if rotated:
            # the frame's rows are the columns of E^T: w_bar = sum_i e_i x e_i_bar
            fb = rot_bar_to_twist_np(frame.T, tb.T)
        else:
            frame_to_normal(d, a, k, tb)
            fb = a.con_normal_bar[k]
            if entry == "normal":  # n = v / |v| at |v| = 1: the part across n
                n = d.con_normal[k]
                fb = fb - np.dot(fb, n) * n
        return np.concatenate([a.con_pos_bar[k], cx_bar[k].ravel(), np.ravel(th_bar),
                               a.invmass_bar[dyn], a.inertia_bar[dyn].ravel(), fb])

    err = check_vjp(fwd, vjp, x0, rng)
    print(f"delassus_diagonal_vjp k={k} {frame_mode} {entry}: worst rel. error {err:.2e}")


# ----------------------------------------------------------------------------------------------
# delassus_trace_vjp


@pytest.mark.parametrize("k", range(NC))
def test_delassus_trace_vjp(k, rng):
    # tr A_kk (the hard model's eps_k is hard_regularization / 3 of it) does not depend on the frame
    model, d, cx0, cR0 = _setup(rng)
    nb = model.nbody
    dyn = model.body_kind == BODY_DYNAMIC
    nd = int(dyn.sum())
    unpack = _Unpack(p=(3,), cx=(2, 3), th=(2, 3), invmass=(nd,), inertia=(nd, 3))
    x0 = np.concatenate([d.con_pos[k], cx0[k].ravel(), np.zeros(6), model.body_invmass[dyn],
                         model.body_inertia[dyn].ravel()])
    frame = _frame(d.con_normal[k])

    def state(x):
        v = unpack(x)
        m, cx, cR = _moved(model, k, v, cx0, cR0)
        _set_contact(m, d, k, v["p"], frame, cx, cR)
        return m, cx, cR

    def fwd(x):
        state(x)
        return np.array([np.trace(d.con_A[k])])

    def vjp(x, yb):
        m, cx, cR = state(x)
        a = make_adjoint(nb, NCON_MAX)
        cx_bar, cR_bar = np.zeros((NC, 2, 3)), np.zeros((NC, 2, 3, 3))
        delassus_trace_vjp(m, d, a, k, cx, cR, float(yb[0]), cx_bar, cR_bar)
        th_bar = [rot_bar_to_twist_np(cR[k, s], cR_bar[k, s]) for s in range(2)]
        return np.concatenate([a.con_pos_bar[k], cx_bar[k].ravel(), np.ravel(th_bar),
                               a.invmass_bar[dyn], a.inertia_bar[dyn].ravel()])

    err = check_vjp(fwd, vjp, x0, rng)
    print(f"delassus_trace_vjp k={k}: worst rel. error {err:.2e}")


# ----------------------------------------------------------------------------------------------
# the work cap of an impact phase: V = V0 + alpha (VN - V0), alpha where the blend's work
# g(alpha) reaches max(g(0), 0) (hard.hard_contacts)


@pytest.mark.parametrize("plastic_work", ["negative", "positive"])
def test_blend_vjp(plastic_work, rng):
    model, d, cx, cR = _setup(rng)
    nb, k = model.nbody, 1
    sel = np.arange(NC)
    frame = _frame(d.con_normal[k])
    unpack = _Unpack(Vp=(nb, 3), Wp=(nb, 3), V0=(nb, 3), W0=(nb, 3), lam0=(NC, 3), VN=(nb, 3),
                     WN=(nb, 3), lamN=(NC, 3), p=(3,))

    def cap(x):
        v = unpack(x)
        _set_contact(model, d, k, v["p"], frame, cx, cR)
        g0, c1, c2 = _blend_work(d, sel, NC, v["Vp"], v["Wp"], v["V0"], v["W0"], v["lam0"],
                                 v["VN"], v["WN"], v["lamN"])
        return v, g0, c1, c2, _cap_fraction(min(g0, 0.0), c1, c2)

    def fwd(x):
        v, _, _, _, alpha = cap(x)
        return np.concatenate([(v["V0"] + alpha * (v["VN"] - v["V0"])).ravel(),
                               (v["W0"] + alpha * (v["WN"] - v["W0"])).ravel()])

    def vjp(x, yb):
        v, _, _, _, alpha = cap(x)
        a = make_adjoint(nb, NCON_MAX)
        P = (cx, cR, np.zeros((NC, 2, 3)), np.zeros((NC, 2, 3, 3)), np.zeros((NC, 3, 3)))
        Vb, Wb = yb[:3 * nb].reshape(nb, 3).copy(), yb[3 * nb:].reshape(nb, 3).copy()
        out = [np.zeros((nb, 3)) for _ in range(4)] + [np.zeros((NC, 3)), np.zeros((NC, 3))]
        _blend_vjp(d, a, sel, NC, alpha, v["Vp"], v["Wp"], v["V0"], v["W0"], v["lam0"],
                   v["VN"], v["WN"], v["lamN"], P, Vb, Wb, *out)
        Vpb, Wpb, V0b, W0b, lam0_bar, lamN_bar = out
        return np.concatenate([Vpb.ravel(), Wpb.ravel(), V0b.ravel(), W0b.ravel(),
                               lam0_bar.ravel(), Vb.ravel(), Wb.ravel(), lamN_bar.ravel(),
                               a.con_pos_bar[k]])

    # random phases until one is capped inside (0, 1), its plastic work of the given sign
    for _ in range(10000):
        x0 = np.concatenate([rng.normal(size=18 * nb + 6 * NC), d.con_pos[k]])
        _, g0, c1, c2, alpha = cap(x0)
        if (g0 < 0.0) == (plastic_work == "negative") and min(g0, 0.0) + c1 + c2 > 0.1 \
                and 0.1 < alpha < 0.9 and c1 + 2 * c2 * alpha > 0.1:
            break
    else:
        pytest.fail("no capped phase drawn")
    err = check_vjp(fwd, vjp, x0, rng)
    print(f"_blend_vjp ({plastic_work} plastic work): worst rel. error {err:.2e}")


def test_cap_fraction_is_the_upward_root():
    for c0, c1, c2 in [(-1.0, 3.0, 0.0), (-1.0, 0.5, 2.0), (-1.0, 4.0, -1.0), (0.0, -1.0, 3.0),
                       (0.0, 2.0, -1.0), (-0.5, -1.0, 4.0)]:
        alpha = _cap_fraction(c0, c1, c2)
        assert 0.0 <= alpha <= 1.0
        assert abs(c0 + c1 * alpha + c2 * alpha ** 2) < 1e-14
        assert c1 + 2.0 * c2 * alpha >= 0.0


# ----------------------------------------------------------------------------------------------
# transposed_solve


def _random_system(model, d, sel, rng):
    """Random F_l, F_u (near I and I / 2) and g over the selected contacts, their Delassus
    matrix A and K = F_l + F_u A, as the solvers' adjoint sees them."""
    nsel = len(sel)
    Fl = np.eye(3) + 0.2 * rng.normal(size=(nsel, 3, 3))
    Fu = 0.5 * np.eye(3) + 0.2 * rng.normal(size=(nsel, 3, 3))
    g = rng.normal(size=3 * nsel)
    A = np.empty((3 * nsel, 3 * nsel))
    dense_delassus(model, d, sel, nsel, A, 0.0)
    K = np.zeros((3 * nsel, 3 * nsel))
    for p in range(nsel):
        K[3 * p:3 * p + 3, 3 * p:3 * p + 3] += Fl[p]
        K[3 * p:3 * p + 3] += Fu[p] @ A[3 * p:3 * p + 3]
    return Fl, Fu, g, A, K


def test_transposed_solve_paths_match_dense(rng):
    model, d, cx, cR = _setup(rng)
    sel = np.array([2, 0, 3, 1], dtype=np.int64)  # a permutation: exercises the indexing
    nsel = len(sel)
    Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
    assert np.allclose(A, A.T, rtol=0, atol=1e-13) and np.linalg.eigvalsh(A).min() > -1e-12
    # contacts sharing a body couple: A has off-diagonal blocks (bodies 1, 2, 3 are shared)
    assert np.abs(A[:3, 3:]).max() > 0.1
    assert np.linalg.cond(K) < 1e3
    y_ref = np.linalg.solve(K.T, g)

    y_dense = _dense_transposed_solve(model, d, sel, nsel, Fl, Fu, g)
    done, y_gmres = gmres_transposed_solve(model, d, sel, nsel, Fl, Fu, g)
    y_default = transposed_solve(model, d, sel, nsel, Fl, Fu, g)  # 32 contacts at most: dense
    y_large = transposed_solve(model._replace(opt_polish_max_contacts=0), d, sel, nsel, Fl, Fu, g)
    assert done and np.array_equal(y_default, y_dense)
    # GMRES to a relative residual of 1e-13, and a large island's solve (through its bodies):
    # not bit-identical to the dense solve, so these also show the other paths finished
    assert not np.array_equal(y_gmres, y_dense) and not np.array_equal(y_large, y_dense)
    scale = np.abs(y_ref).max()
    err_gmres = np.abs(y_gmres - y_ref).max() / scale
    err_large = np.abs(y_large - y_ref).max() / scale
    err_dense = np.abs(y_dense - y_ref).max() / scale
    res = np.abs(K.T @ y_gmres - g).max() / np.abs(g).max()
    print(f"transposed_solve: GMRES vs K^T y = g {err_gmres:.2e} (residual {res:.2e}), "
          f"through the bodies {err_large:.2e}, dense {err_dense:.2e}")
    assert err_dense < 1e-12 and err_gmres < 1e-11 and res < 1e-12 and err_large < 1e-12
    # g = 0 gives y = 0
    assert not np.any(transposed_solve(model._replace(opt_polish_max_contacts=0), d, sel, nsel,
                                       Fl, Fu, np.zeros(3 * nsel)))
    assert not np.any(gmres_transposed_solve(model, d, sel, nsel, Fl, Fu,
                                             np.zeros(3 * nsel))[1])


def _regroup(model, d, pairs):
    # the first len(pairs) contacts of d now join these body pairs (Jacobians rebuilt at the
    # bodies' poses: contacts sharing a body see the same one, so A is symmetric)
    for k, (a, b) in enumerate(pairs):
        d.con_body[k] = (a, b)
        contact_jacobian(model, d, k, d.pos[a], d.xmat[a], d.pos[b], d.xmat[b])
    return np.arange(len(pairs), dtype=np.int64)


@pytest.mark.parametrize("pairs, expect", [
    # bodies 1, 2, 3 dynamic, 0 the plane (static): the plane couples nothing
    ([(1, 0), (3, 0), (2, 0), (3, 0)], [[0], [1, 3], [2]]),
    ([(1, 0), (2, 1), (3, 0), (2, 0)], [[0, 1, 3], [2]]),
    ([(3, 0), (2, 1), (3, 2), (1, 0)], [[0, 1, 2, 3]]),
    ([(0, 0), (1, 0)], [[0], [1]]),   # no dynamic body: a problem of its own
])
def test_islands(pairs, expect, rng):
    model, d, _, _ = _setup(rng)
    sel = _regroup(model, d, pairs)[::-1].copy()  # reversed: positions, not ids
    order = np.full(len(sel), -1, dtype=np.int64)
    start = np.full(len(sel) + 1, -1, dtype=np.int64)
    nis = islands(model, d, sel, len(sel), order, start)
    got = [sorted(sel[order[start[j]:start[j + 1]]].tolist()) for j in range(nis)]
    assert sorted(got) == expect
    assert start[0] == 0 and start[nis] == len(sel)
    assert sorted(order.tolist()) == list(range(len(sel)))
    # within an island, positions ascend (the solve keeps the caller's order)
    assert all(np.all(np.diff(order[start[j]:start[j + 1]]) > 0) for j in range(nis))
    # islands share no dynamic body: the Delassus matrix has no block between two of them
    A = np.empty((3 * len(sel), 3 * len(sel)))
    dense_delassus(model, d, sel, len(sel), A, 0.0)
    isl = np.empty(len(sel), dtype=np.int64)
    for j in range(nis):
        isl[order[start[j]:start[j + 1]]] = j
    for p in range(len(sel)):
        for q in range(len(sel)):
            if isl[p] != isl[q]:
                assert not A[3 * p:3 * p + 3, 3 * q:3 * q + 3].any()


@pytest.mark.parametrize("polish", [0, 32])
def test_transposed_solve_over_islands_matches_the_whole(polish, rng):
    # two islands ({1} and {2, 3}) solved apart, densely or by GMRES: the whole system's answer
    model, d, _, _ = _setup(rng)
    sel = _regroup(model, d, [(3, 0), (1, 0), (3, 2), (2, 0)])
    nsel = len(sel)
    Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
    y_ref = np.linalg.solve(K.T, g)
    y = transposed_solve(model._replace(opt_polish_max_contacts=polish), d, sel, nsel, Fl, Fu, g)
    err = np.abs(y - y_ref).max() / np.abs(y_ref).max()
    print(f"transposed_solve over islands (polish {polish}): {err:.2e}")
    assert err < 1e-11


@pytest.mark.parametrize("polish", [0, 32])
def test_active_transposed_solve_skips_separated_contacts(polish, rng):
    # contacts with an identity row in K (separated: F_l = I, F_u = 0) are left out of the
    # solve and recovered after it; they also no longer join their bodies' islands
    model, d, _, _ = _setup(rng)
    sel = np.array([2, 0, 3, 1], dtype=np.int64)
    nsel = len(sel)
    for separated in ([1], [0, 2], [0, 1, 2, 3]):
        Fl, Fu, g, A, K = _random_system(model, d, sel, rng)
        for p in separated:
            Fl[p], Fu[p] = np.eye(3), 0.0
            K[3 * p:3 * p + 3] = 0.0
            K[3 * p:3 * p + 3, 3 * p:3 * p + 3] = np.eye(3)
        y_ref = np.linalg.solve(K.T, g)
        y = active_transposed_solve(model._replace(opt_polish_max_contacts=polish), d, sel, nsel,
                                    Fl, Fu, g)
        err = np.abs(y - y_ref).max() / np.abs(y_ref).max()
        print(f"active_transposed_solve, separated {separated} (polish {polish}): {err:.2e}")
        assert err < 1e-11
