"""Penalty contact: resting, sliding, rolling, body-body impacts, divergence reporting."""
import numpy as np
import pytest

import simcore as sc
from tests.helpers import body_momentum

G = 9.81


def test_box_rests_on_the_plane_for_ten_seconds():
    k = 1e5
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_box((0.1, 0.15, 0.1), mass=1.0, pos=(0.2, -0.1, 0.1))
    model = scene.build(contact=sc.PenaltyContact(stiffness=k))
    traj = sc.rollout(model, model.initial_state(), 10_000)
    # four corners share the weight: each sinks by m g / (4 k)
    z_eq = 0.1 - 1.0 * G / (4 * k)
    assert np.allclose(traj.pos[-1, 1, :2], (0.2, -0.1), atol=1e-9)
    assert abs(traj.pos[-1, 1, 2] - z_eq) < 1e-9
    second_half = traj.pos[5000:, 1]
    assert np.ptp(second_half, axis=0).max() < 1e-7            # no drift, no creep
    assert np.allclose(np.abs(traj.quat[-1, 1, 0]), 1.0, atol=1e-10)   # no tipping
    assert np.all(traj.ncon[100:] == 4)


@pytest.mark.parametrize("v0, mu", [(2.0, 0.5), (1.0, 0.3)])
def test_sliding_box_stops_at_the_coulomb_distance(v0, mu):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=mu)
    scene.add_box((0.1, 0.1, 0.05), pos=(0, 0, 0.05), vel=(v0, 0, 0), friction=mu)
    model = scene.build()
    steps = int(1.5 * v0 / (mu * G) / 1e-3)
    traj = sc.rollout(model, model.initial_state(), steps)
    expected = v0 ** 2 / (2 * mu * G)
    assert abs(traj.pos[-1, 1, 0] - expected) / expected < 0.05
    assert np.linalg.norm(traj.vel[-1, 1]) < 0.02  # at rest (up to the friction smoothing)
    assert abs(traj.pos[-1, 1, 1]) < 1e-9          # no sideways drift


@pytest.mark.parametrize("shape", ["sphere", "capsule"])
def test_sphere_launched_without_spin_ends_rolling_at_five_sevenths(shape):
    v0, r, mu = 2.0, 0.1, 0.4
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=mu)
    if shape == "sphere":
        scene.add_sphere(r, pos=(0, 0, r), vel=(v0, 0, 0), friction=mu)
        ratio = 5 / 7
    else:  # a capsule lying along y rolls about its axis: I = m k^2 with its own k
        q = (np.sqrt(0.5), np.sqrt(0.5), 0, 0)
        scene.add_capsule(r, 0.2, pos=(0, 0, r), quat=q, vel=(v0, 0, 0), friction=mu)
    model = scene.build()
    if shape == "capsule":
        Iaxis = model.body_inertia[1, 2]
        ratio = 1.0 / (1.0 + Iaxis / (model.body_mass[1] * r * r))
    traj = sc.rollout(model, model.initial_state(), 1500)
    v_end = traj.vel[-1, 1, 0]
    assert abs(v_end - ratio * v0) / (ratio * v0) < 0.05
    w_axis = traj.ang_vel[-1, 1, 1]
    assert abs(v_end - w_axis * r) < 0.02 * v0     # rolling without slipping


def _zero_g_pair(make_b, vel_a, pos_a, restitution=0.5):
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_sphere(0.1, mass=1.3, pos=pos_a, vel=vel_a, friction=0.6, restitution=restitution)
    make_b(scene)
    model = scene.build(contact=sc.PenaltyContact(stiffness=2e4, damping=0.5))
    return model


@pytest.mark.parametrize("name, make_b, pos_a, vel_a", [
    ("head-on spheres", lambda s: s.add_sphere(0.1, mass=0.7, pos=(0.5, 0, 0)),
     (0, 0, 0), (2, 0, 0)),
    ("oblique spheres", lambda s: s.add_sphere(0.12, mass=0.7, pos=(0.5, 0.1, 0),
                                               ang_vel=(0, 0, 3)), (0, 0, 0), (2, 0.1, 0)),
    ("sphere on rotated box", lambda s: s.add_box((0.1, 0.2, 0.15), mass=2.0, pos=(0.5, 0.05, 0),
                                                  quat=(0.9, 0.1, 0.3, 0.2) / np.linalg.norm((0.9, 0.1, 0.3, 0.2))),
     (0, 0, 0), (2, 0, 0.1)),
    ("sphere on capsule", lambda s: s.add_capsule(0.05, 0.2, mass=0.8, pos=(0.5, 0, 0.03),
                                                  ang_vel=(1, 0, 0)), (0, 0, 0), (2, 0, 0)),
])
def test_body_body_impacts_conserve_momentum(name, make_b, pos_a, vel_a):
    model = _zero_g_pair(make_b, vel_a, pos_a)
    traj = sc.rollout(model, model.initial_state(), 600)
    assert traj.ncon.max() > 0, "the bodies must actually collide"
    p0, L0 = body_momentum(model, traj, 0)
    p1, L1 = body_momentum(model, traj, traj.steps)
    assert np.allclose(p1, p0, rtol=0, atol=1e-12 * np.linalg.norm(p0) + 1e-13)
    # angular momentum about the origin: exact too (the rotation step keeps it, and the end's
    # angular velocity carries each impulse's momentum: dynamics.end_angular_velocity)
    assert np.linalg.norm(L1 - L0) < 1e-12 * max(np.linalg.norm(L0), 1.0)
    # the collision did something: body a changed velocity
    assert np.linalg.norm(traj.vel[-1, 0] - traj.vel[0, 0]) > 0.1


def test_box_box_and_capsule_capsule_impacts_conserve_momentum():
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    q = np.array([0.8, 0.2, -0.3, 0.1])
    scene.add_box((0.1, 0.1, 0.1), mass=1.0, vel=(1.5, 0, 0), quat=q / np.linalg.norm(q))
    scene.add_box((0.15, 0.1, 0.05), mass=2.0, pos=(0.5, 0.05, 0))
    scene.add_capsule(0.05, 0.15, pos=(0, 1, 0), vel=(1.5, 0, 0), quat=(np.sqrt(.5), 0, np.sqrt(.5), 0))
    scene.add_capsule(0.05, 0.15, pos=(0.5, 1.05, 0))
    model = scene.build(contact=sc.PenaltyContact(stiffness=2e4))
    traj = sc.rollout(model, model.initial_state(), 800)
    assert np.linalg.norm(traj.vel[-1, 1]) > 0.1 and np.linalg.norm(traj.vel[-1, 3]) > 0.1
    p0, L0 = body_momentum(model, traj, 0)
    p1, L1 = body_momentum(model, traj, traj.steps)
    assert np.allclose(p1, p0, rtol=0, atol=1e-12)
    assert np.allclose(L1, L0, rtol=0, atol=1e-12)


def test_too_stiff_penalty_raises_a_clear_error_and_substeps_fix_it():
    scene = sc.Scene(dt=1e-2)
    scene.add_plane()
    scene.add_sphere(0.1, mass=0.01, pos=(0, 0, 0.1), vel=(0, 0, -1))
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e7, damping=0.0))
    with pytest.raises(sc.SimulationError, match=r"unstable at step \d+ .*Raise substeps"):
        sc.rollout(model, model.initial_state(), 200)
    # omega = sqrt(k / m) = 3.2e4: substeps of 2.5e-5 s give omega h = 0.8
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e7, damping=0.0, substeps=400))
    traj = sc.rollout(model, model.initial_state(), 200)
    assert np.all(np.isfinite(traj.pos))
    assert np.all(traj.pos[:, 1, 2] > 0.09)   # never sinks through the plane


@pytest.mark.parametrize("exponent", [1.0, 1.5])
def test_penalty_force_vjp(rng, exponent):
    from simcore.kernels.penalty import penalty_force, penalty_force_vjp
    from tests.helpers import check_vjp
    vs = 0.05
    # x = gap, n (3), u (3), mu, k, d; approaching (u.n < 0) and receding cases
    for un_sign in (-1.0, 1.0):
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        u = rng.normal(size=3)
        u += (un_sign * 0.3 - u @ n) * n
        x0 = np.concatenate([[-0.01], n, u, [0.6, 1e4, 0.5]])

        def fwd(x):
            f = np.empty(3)
            penalty_force(x[0], x[1:4], x[4:7], x[7], x[8], x[9], exponent, vs, f)
            return f

        def vjp(x, y_bar):
            nb, ub, sb = np.zeros(3), np.zeros(3), np.zeros(4)
            penalty_force_vjp(x[0], x[1:4], x[4:7], x[7], x[8], x[9], exponent, vs,
                              y_bar.copy(), 0, nb, ub, sb)
            return np.concatenate([sb[:1], nb, ub, sb[1:]])

        check_vjp(fwd, vjp, x0, rng, eps=1e-7)


# ----------------------------------------------------------------------------------------------
# The time-constant form's kernels


def test_damping_ratio_rebounds_with_the_restitution_it_was_derived_from():
    # the linear spring-dashpot that may not pull, integrated finely: exit speed / entry speed
    from simcore.kernels.penalty import restitution_damping_ratio
    out = np.empty(2)
    for e in (0.001, 0.05, 0.2, 0.5, 0.9, 0.999):
        restitution_damping_ratio(e, out)
        zeta, h = out[0], 1e-5
        x, v = 0.0, 1.0    # penetration, approach speed; omega = 1
        while True:
            a = -(x + 2 * zeta * v)  # force k x + c v >= 0 while in contact
            if x + 2 * zeta * v < 0:
                break
            v += h * a
            x += h * v
        assert -v == pytest.approx(e, rel=2e-3, abs=2e-5)
    restitution_damping_ratio(1.0, out)
    assert out[0] == 0.0
    restitution_damping_ratio(0.0, out)
    restitution_damping_ratio(1e-3, out[1:])  # e below 1e-3 counts as 1e-3
    assert out[0] == out[1] == pytest.approx(15.8, rel=0.02)


@pytest.mark.parametrize("e", [0.002, 0.1, 0.5, 0.95, 0.9999])
def test_damping_ratio_slope(e):
    from simcore.kernels.penalty import restitution_damping_ratio
    out, hi, lo = np.empty(2), np.empty(2), np.empty(2)
    restitution_damping_ratio(e, out)
    d = 1e-6 * min(e, 1 - e)
    restitution_damping_ratio(e + d, hi)
    restitution_damping_ratio(e - d, lo)
    assert out[1] == pytest.approx((hi[0] - lo[0]) / (2 * d), rel=1e-6)
