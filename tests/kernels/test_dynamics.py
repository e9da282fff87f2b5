"""Free rigid-body dynamics: free flight, gyroscopic motion, controls, kinematic bodies."""
import numpy as np
import pytest

import simcore as sc
from tests.helpers import body_momentum, quat_to_matrix


def test_free_flight_matches_semi_implicit_euler_closed_form():
    h, g, steps = 1e-3, np.array([0.0, 0.0, -9.81]), 500
    scene = sc.Scene(dt=h, gravity=g)
    x0, v0 = np.array([0.1, -0.2, 3.0]), np.array([1.0, 2.0, 3.0])
    scene.add_sphere(0.1, pos=x0, vel=v0)
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), steps)
    k = np.arange(steps + 1)[:, None]
    # v_k = v0 + k h g;  x_k = x0 + h sum_{j=1..k} v_j = x0 + k h v0 + h^2 g k (k + 1) / 2
    v_exact = v0 + k * h * g
    x_exact = x0 + k * h * v0 + h * h * g * k * (k + 1) / 2
    assert np.allclose(traj.vel[:, 0], v_exact, rtol=0, atol=1e-12)
    assert np.allclose(traj.pos[:, 0], x_exact, rtol=0, atol=1e-12)
    assert np.all(traj.ncon == 0)


def test_constant_spin_about_a_principal_axis_is_exact():
    # a body spinning about a principal axis keeps w; its angle grows by h |w| per step
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_box((0.3, 0.2, 0.1), ang_vel=(0, 0, 2.0))
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), 1000)
    assert np.allclose(traj.ang_vel[-1, 0], (0, 0, 2.0), atol=1e-12)
    angle = 2 * np.arctan2(traj.quat[-1, 0, 3], traj.quat[-1, 0, 0])
    assert abs(angle - 2.0) < 1e-9


def _spin_box(h, seconds=2.0):
    scene = sc.Scene(dt=h, gravity=(0, 0, 0))
    # asymmetric box, spin near the (unstable) intermediate axis: the hard case for the integrator
    scene.add_box((0.1, 0.2, 0.05), mass=2.0, ang_vel=(5.0, 0.3, 0.2), vel=(0.1, 0, 0))
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), int(round(seconds / h)))
    L = np.array([body_momentum(model, traj, t)[1] for t in range(0, traj.steps + 1, 10)])
    drift = np.max(np.linalg.norm(L - L[0], axis=1)) / np.linalg.norm(L[0])
    return traj, drift


def test_torque_free_asymmetric_box_keeps_angular_momentum():
    traj, drift = _spin_box(1e-3)
    assert drift < 1e-11    # exact up to rounding (measured 1.3e-12 over 2 s)
    # the tumble is real: the body-frame spin flips sign (intermediate-axis theorem)
    w_body = np.array([quat_to_matrix(q).T @ w for q, w in zip(traj.quat[:, 0], traj.ang_vel[:, 0])])
    assert w_body[0, 0] > 4.9 and w_body[:, 0].min() < -4.5
    # the rotation step is second order: the error in the final orientation falls fourfold
    # when h halves (against h / 16)
    ref = _spin_box(1e-3 / 16)[0]
    err = [np.linalg.norm(quat_to_matrix(t.quat[-1, 0]) - quat_to_matrix(ref.quat[-1, 0]))
           for t in (traj, _spin_box(5e-4)[0])]
    assert 3.5 < err[0] / err[1] < 4.5, err
    assert np.allclose(np.linalg.norm(traj.quat[:, 0], axis=1), 1.0, atol=1e-12)


def _kinetic_energy_and_momentum(model, traj, i):
    R = np.array([quat_to_matrix(q) for q in traj.quat[:, i]])
    wb = np.einsum("tji,tj->ti", R, traj.ang_vel[:, i])
    E = 0.5 * np.sum(model.body_inertia[i] * wb * wb, axis=1)
    L = np.einsum("tij,tj->ti", R, model.body_inertia[i] * wb)
    return E, L


@pytest.mark.parametrize("contact", [sc.PenaltyContact(), sc.HardContact(),
                                     sc.SmoothedContact()], ids=["penalty", "hard", "smoothed"])
@pytest.mark.parametrize("rate", [0.05, 0.1, 0.5])
def test_slender_box_spins_freely_without_gaining_energy(contact, rate):
    # the slender box (no gravity, no contact): with the explicit gyroscopic term its
    # energy grew 27% in 1,000 steps at |w| dt = 0.05 and went non-finite at 0.1. Now, over
    # 10,000 steps at |w| dt up to 0.5, the energy never grows and the world angular momentum
    # keeps to 1e-6 (measured: both at rounding level, at most 3.3e-12 and 1.8e-12 relative)
    h = 1e-3
    w0 = np.array([0.6, -0.5, 0.62])
    w0 *= rate / h / np.linalg.norm(w0)
    scene = sc.Scene(dt=h, gravity=(0, 0, 0))
    q0 = np.array([0.9, 0.1, -0.3, 0.2])
    scene.add_box((0.039, 0.021, 0.159), mass=0.3, quat=q0 / np.linalg.norm(q0), ang_vel=w0)
    model = scene.build(contact=contact)
    traj = sc.rollout(model, model.initial_state(), 10_000)
    E, L = _kinetic_energy_and_momentum(model, traj, 0)
    assert np.all(np.isfinite(traj.ang_vel))
    assert np.max(E - E[0]) <= 1e-10 * E[0]
    assert np.max(np.linalg.norm(L - L[0], axis=1)) <= 1e-6 * np.linalg.norm(L[0])
    # and it does tumble (the body-frame spin is not a fixed axis)
    wb = quat_to_matrix(traj.quat[-1, 0]).T @ traj.ang_vel[-1, 0]
    wb0 = quat_to_matrix(traj.quat[0, 0]).T @ traj.ang_vel[0, 0]
    assert np.linalg.norm(wb - wb0) > 0.1 * np.linalg.norm(wb0)


def test_controls_force_and_torque():
    h, steps = 1e-3, 200
    scene = sc.Scene(dt=h, gravity=(0, 0, 0))
    scene.add_sphere(0.1, mass=2.0)
    model = scene.build()
    ctrl = np.zeros((steps, 1, 6))
    ctrl[:, 0, 0] = 4.0          # force x: a = 2
    ctrl[:, 0, 5] = 0.008        # torque z: alpha = tau / (2/5 m r^2) = 1
    traj = sc.rollout(model, model.initial_state(), steps, controls=ctrl)
    t = steps * h
    assert np.isclose(traj.vel[-1, 0, 0], 2.0 * t, rtol=1e-12)
    assert np.allclose(traj.ang_vel[-1, 0], (0, 0, t), atol=1e-12)


def test_kinematic_body_follows_its_controls_and_ignores_contacts():
    h, steps = 1e-3, 300
    scene = sc.Scene(dt=h)
    scene.add_plane()
    k = scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.05), kind="kinematic", vel=(1, 0, 0))
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), steps)  # keeps its velocity
    assert np.allclose(traj.pos[-1, k], (steps * h, 0, 0.05), atol=1e-12)
    ctrl = np.zeros((steps, 2, 6))
    ctrl[:, k, 2] = 0.5          # prescribed upward velocity, through the plane's contact
    ctrl[:, k, 5] = 1.0
    traj = sc.rollout(model, model.initial_state(), steps, controls=ctrl)
    assert np.allclose(traj.pos[-1, k], (0, 0, 0.05 + 0.5 * steps * h), atol=1e-12)
    assert np.allclose(traj.ang_vel[-1, k], (0, 0, 1.0))
    assert np.allclose(traj.pos[:, 0], 0.0)   # the plane never moves


def test_rollout_does_not_mutate_its_inputs():
    scene = sc.Scene()
    scene.add_plane()
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.3), vel=(1, 0, 0), ang_vel=(0, 3, 0))
    model = scene.build()
    state = model.initial_state()
    ctrl = np.random.default_rng(0).normal(size=(50, 2, 6))
    copies = [a.copy() for a in (state.pos, state.quat, state.vel, state.ang_vel, ctrl)]
    model_copies = [np.copy(f) for f in model]
    sc.rollout(model, state, 50, controls=ctrl)
    for a, b in zip((state.pos, state.quat, state.vel, state.ang_vel, ctrl), copies):
        assert np.array_equal(a, b)
    for a, b in zip(model, model_copies):
        assert np.array_equal(a, b)


def test_zero_steps_returns_the_start():
    scene = sc.Scene()
    scene.add_sphere(0.1, pos=(0, 0, 1))
    model = scene.build()
    traj = sc.rollout(model, model.initial_state(), 0)
    assert traj.pos.shape == (1, 1, 3) and np.allclose(traj.pos[0, 0], (0, 0, 1))


def test_quat_to_matrix_helper_matches_kernel():
    from simcore.kernels.rotation import quat_to_mat
    q = np.random.default_rng(1).normal(size=4)
    q /= np.linalg.norm(q)
    R = np.empty((3, 3))
    quat_to_mat(q, R)
    assert np.allclose(R, quat_to_matrix(q), atol=1e-15)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-14)


# ----------------------------------------------------------------------------------------------
# adjoints against central differences (rotations perturbed as Exp(th) R0)

@pytest.mark.parametrize("inertia, spin", [((0.2, 0.5, 0.9), 3.0), ((0.2, 0.5, 0.9), 30.0),
                                           ((0.01, 0.2, 0.21), 40.0), ((0.3, 0.3, 0.3), 5.0)],
                         ids=["box", "fast", "slender", "isotropic"])
def test_spin_step_vjp(rng, inertia, spin):
    # the rotation step's mean rate and momentum offset, differentiated implicitly at the Newton
    # solution (equal moments too: the stepper's closed form for them is this step's value)
    from simcore.kernels.dynamics import spin_step, spin_step_vjp
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    R0 = rotvec_to_matrix(rng.normal(size=3))
    h = 1e-2
    # x = th (3), w, tau, inertia
    x0 = np.concatenate([np.zeros(3), spin * rng.normal(size=3), rng.normal(size=3), inertia])

    def fwd(x):
        R = rotvec_to_matrix(x[:3]) @ R0
        wo, do = np.empty(3), np.empty(3)
        assert spin_step(R, x[3:6], x[6:9], x[9:12], h, wo, do) < 1e-14
        return np.concatenate([wo, do])

    def vjp(x, y_bar):
        R = rotvec_to_matrix(x[:3]) @ R0
        Rb, wb, tb, ib = np.zeros((3, 3)), np.zeros(3), np.zeros(3), np.zeros(3)
        assert spin_step_vjp(R, x[3:6], x[6:9], x[9:12], h, y_bar[:3].copy(), y_bar[3:].copy(),
                             Rb, wb, tb, ib)
        return np.concatenate([rot_bar_to_twist_np(R, Rb), wb, tb, ib])

    check_vjp(fwd, vjp, x0, rng)
    if len(set(inertia)) == 1:  # the closed form the stepper takes for equal moments
        R = rotvec_to_matrix(x0[:3]) @ R0
        wo, do = np.empty(3), np.empty(3)
        spin_step(R, x0[3:6], x0[6:9], x0[9:12], h, wo, do)
        assert np.allclose(wo, x0[3:6] + h * x0[6:9] / inertia[0], rtol=0, atol=1e-14)
        assert np.allclose(do, 0.0, atol=1e-14)


def test_end_angular_velocity_vjp(rng):
    from simcore.kernels.dynamics import end_angular_velocity, end_angular_velocity_vjp
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    R0, R1 = rotvec_to_matrix(rng.normal(size=3)), rotvec_to_matrix(rng.normal(size=3))
    # x = th0, th1, inertia, w, offset
    x0 = np.concatenate([np.zeros(6), [0.2, 0.5, 0.9], 3 * rng.normal(size=3),
                         rng.normal(size=3)])

    def fwd(x):
        out = np.empty(3)
        end_angular_velocity(rotvec_to_matrix(x[:3]) @ R0, rotvec_to_matrix(x[3:6]) @ R1,
                             x[6:9], x[9:12], x[12:15], out)
        return out

    def vjp(x, y_bar):
        Ra, Rb = rotvec_to_matrix(x[:3]) @ R0, rotvec_to_matrix(x[3:6]) @ R1
        Rab, Rbb, ib, wb, ob = (np.zeros((3, 3)), np.zeros((3, 3)), np.zeros(3), np.zeros(3),
                                np.zeros(3))
        end_angular_velocity_vjp(Ra, Rb, x[6:9], x[9:12], x[12:15], y_bar.copy(), Rab, Rbb, wb,
                                 ob, ib)
        return np.concatenate([rot_bar_to_twist_np(Ra, Rab), rot_bar_to_twist_np(Rb, Rbb), ib,
                               wb, ob])

    check_vjp(fwd, vjp, x0, rng)


@pytest.mark.parametrize("inertia, spin", [((0.2, 0.5, 0.9), 3.0), ((0.01, 0.2, 0.21), 40.0)],
                         ids=["box", "slender"])
def test_segment_rate_vjp(rng, inertia, spin):
    # the rate over a part of a step split by an impact, the rotation step rerun from the pose
    # where the part starts: differentiated in both poses, the moments, the rate, the offset,
    # the torque, their coefficients and the part's length
    from simcore.kernels.dynamics import segment_rate, segment_rate_vjp
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    R0, Rs0 = rotvec_to_matrix(rng.normal(size=3)), rotvec_to_matrix(rng.normal(size=3))
    h = 1e-2
    # x = th0, ths, inertia, w, offset, c_off, tau, c_tau, s
    x0 = np.concatenate([np.zeros(6), inertia, spin * rng.normal(size=3), rng.normal(size=3),
                         [0.8], rng.normal(size=3), [0.3 * h], [0.7 * h]])

    def fwd(x):
        out = np.empty(3)
        assert segment_rate(rotvec_to_matrix(x[:3]) @ R0, rotvec_to_matrix(x[3:6]) @ Rs0,
                            x[6:9], x[9:12], x[12:15], x[15], x[16:19], x[19], x[20], out) < 1e-14
        return out

    def vjp(x, y_bar):
        Ra, Rb = rotvec_to_matrix(x[:3]) @ R0, rotvec_to_matrix(x[3:6]) @ Rs0
        Rab, Rbb = np.zeros((3, 3)), np.zeros((3, 3))
        ib, wb, ob, tb = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
        ok, cob, ctb, sb = segment_rate_vjp(Ra, Rb, x[6:9], x[9:12], x[12:15], x[15], x[16:19],
                                            x[19], x[20], y_bar.copy(), Rab, Rbb, wb, ob, tb, ib)
        assert ok
        return np.concatenate([rot_bar_to_twist_np(Ra, Rab), rot_bar_to_twist_np(Rb, Rbb), ib,
                               wb, ob, [cob], tb, [ctb], [sb]])

    # (a small step: the slender body's least moment is 0.01, and the error is O(eps^2))
    check_vjp(fwd, vjp, x0, rng, eps=1e-7)


def test_segment_rate_is_the_rotation_step_from_where_the_part_starts(rng):
    # the whole step (from R0, c_off = 1, no torque term): the free rotation step's mean rate;
    # equal moments and no offset: L / I, e.g. w + t tau / 2 I, the mean of the post-impact
    # parabola over [t, h]
    from simcore.kernels.dynamics import segment_rate, spin_step
    from tests.helpers import rotvec_to_matrix
    R0, h = rotvec_to_matrix(rng.normal(size=3)), 1e-2
    inertia, w, tau = np.array([0.01, 0.2, 0.21]), 40 * rng.normal(size=3), rng.normal(size=3)
    out, ws, off = np.empty(3), np.empty(3), np.empty(3)
    segment_rate(R0, R0, inertia, w, np.zeros(3), 1.0, tau, h, h, out)
    spin_step(R0, w, tau, inertia, h, ws, off)
    assert np.allclose(out, ws, rtol=1e-13, atol=0)
    iso = np.full(3, 0.3)
    segment_rate(R0, rotvec_to_matrix(rng.normal(size=3)), iso, w, np.zeros(3), 1.0, tau,
                 0.2 * h, 0.6 * h, out)
    assert np.allclose(out, w + 0.2 * h * tau / 0.3, rtol=1e-13, atol=1e-13)


def test_apply_impulse_and_point_velocity_vjp(rng):
    from simcore.kernels.dynamics import (apply_impulse, apply_impulse_vjp, point_velocity,
                                          point_velocity_vjp)
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    R0 = rotvec_to_matrix(rng.normal(size=3))
    # x = th, invmass, inertia, r, imp
    x0 = np.concatenate([np.zeros(3), [0.5], [0.3, 0.4, 0.8], rng.normal(size=3),
                         rng.normal(size=3)])

    def fwd(x):
        R = rotvec_to_matrix(x[:3]) @ R0
        v, w = np.zeros(3), np.zeros(3)
        apply_impulse(R, x[3], x[4:7], x[7:10], x[10:13], v, w)
        return np.concatenate([v, w])

    def vjp(x, y_bar):
        R = rotvec_to_matrix(x[:3]) @ R0
        Rb, rb, ib, mb, Ib = np.zeros((3, 3)), np.zeros(3), np.zeros(3), np.zeros(1), np.zeros(3)
        apply_impulse_vjp(R, x[3], x[4:7], x[7:10], x[10:13], y_bar[:3].copy(),
                          y_bar[3:].copy(), Rb, rb, ib, mb, Ib)
        return np.concatenate([rot_bar_to_twist_np(R, Rb), mb, Ib, rb, ib])

    check_vjp(fwd, vjp, x0, rng)

    def fwd_pv(x):
        out = np.empty(3)
        point_velocity(x[:3], x[3:6], x[6:9], out)
        return out

    def vjp_pv(x, y_bar):
        vb, wb, rb = np.zeros(3), np.zeros(3), np.zeros(3)
        point_velocity_vjp(x[3:6], x[6:9], y_bar.copy(), vb, wb, rb)
        return np.concatenate([vb, wb, rb])

    check_vjp(fwd_pv, vjp_pv, rng.normal(size=9), rng)
