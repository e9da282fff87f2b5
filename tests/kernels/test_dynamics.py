"""Free rigid-body dynamics: free flight, gyroscopic motion, controls, kinematic bodies."""
import numpy as np

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
    assert drift < 5e-3     # measured 3.4e-3 over 2 s
    # the tumble is real: the body-frame spin flips sign (intermediate-axis theorem)
    w_body = np.array([quat_to_matrix(q).T @ w for q, w in zip(traj.quat[:, 0], traj.ang_vel[:, 0])])
    assert w_body[0, 0] > 4.9 and w_body[:, 0].min() < -4.5
    # the drift is the integrator's first-order error: it halves when h halves
    _, drift_half = _spin_box(5e-4)
    assert 1.6 < drift / drift_half < 2.4
    assert np.allclose(np.linalg.norm(traj.quat[:, 0], axis=1), 1.0, atol=1e-12)


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

def test_free_velocity_vjp(rng):
    from simcore.kernels.dynamics import free_velocity, free_velocity_vjp
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    R0 = rotvec_to_matrix(rng.normal(size=3))
    g, h = np.array([0.0, 0.0, -9.81]), 1e-2
    # x = th (3), v, w, f, tau, invmass (1), inertia (3)
    x0 = np.concatenate([np.zeros(3), rng.normal(size=3), 3 * rng.normal(size=3),
                         rng.normal(size=3), rng.normal(size=3), [0.7], [0.2, 0.5, 0.9]])

    def fwd(x):
        R = rotvec_to_matrix(x[:3]) @ R0
        vo, wo = np.empty(3), np.empty(3)
        free_velocity(R, x[3:6], x[6:9], x[9:12], x[12:15], g, x[15], x[16:19], h, vo, wo)
        return np.concatenate([vo, wo])

    def vjp(x, y_bar):
        R = rotvec_to_matrix(x[:3]) @ R0
        Rb, vb, wb, fb, tb, mb, ib = (np.zeros((3, 3)), np.zeros(3), np.zeros(3), np.zeros(3),
                                      np.zeros(3), np.zeros(1), np.zeros(3))
        free_velocity_vjp(R, x[3:6], x[6:9], x[9:12], x[12:15], x[15], x[16:19], h,
                          y_bar[:3].copy(), y_bar[3:].copy(), Rb, vb, wb, fb, tb, mb, ib)
        return np.concatenate([rot_bar_to_twist_np(R, Rb), vb, wb, fb, tb, mb, ib])

    check_vjp(fwd, vjp, x0, rng)


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
