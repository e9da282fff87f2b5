"""Smoothed contact: convergence to the hard model as kappa shrinks, smoothness, closed forms."""
import numpy as np
import pytest

import simcore as sc
from simcore.kernels import contact_space, smoothed, step
from tests import kernel_entries
from simcore.model import make_data
from tests.helpers import body_momentum, load_benchmark

G = 9.81


def slide_scene(v0=2.0, mu=0.5):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=mu)
    scene.add_box((0.1, 0.1, 0.05), pos=(0, 0, 0.05), vel=(v0, 0, 0), friction=mu)
    return scene


def drop_scene(height=0.5):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1 + height))
    return scene


def gap_to_hard(scene, kappa, steps):
    smooth = scene.build(contact=sc.SmoothedContact(kappa=kappa))
    hard = scene.build(contact=sc.HardContact(toi=False))
    a = sc.rollout(smooth, smooth.initial_state(), steps)
    b = sc.rollout(hard, hard.initial_state(), steps)
    assert a.solver_failures.sum() == 0
    return np.abs(a.pos - b.pos).max()


@pytest.mark.parametrize("make, steps", [(slide_scene, 600), (drop_scene, 600)])
def test_trajectories_approach_the_hard_model_as_kappa_shrinks(make, steps):
    gaps = [gap_to_hard(make(), k, steps) for k in (1e-3, 1e-4, 1e-5, 1e-6)]
    assert all(b < a for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-5
    # the gap shrinks about in proportion to kappa (measured ratios 7.4 to 20 per decade)
    assert gaps[0] / gaps[-1] > 300


def test_a_body_at_rest_floats_at_kappa_over_weight():
    for kappa in (1e-4, 1e-6):
        scene = drop_scene(0.0)
        model = scene.build(contact=sc.SmoothedContact(kappa=kappa))
        traj = sc.rollout(model, model.initial_state(), 1000)
        gap = traj.pos[-1, 1, 2] - 0.1
        assert abs(gap - kappa / (1.0 * G)) < 0.02 * kappa / G


def final_heights(heights, contact, steps):
    final = []
    for h in heights:
        model = drop_scene(h).build(contact=contact)
        final.append(sc.rollout(model, model.initial_state(), steps).pos[-1, 1, 2])
    return np.array(final)


def test_final_height_is_smooth_across_contact_onset():
    # the ball reaches the ground at the horizon for a drop of about 0.0446 m; across it the
    # slope of the final height turns from 0 (stopped) to 1 (still falling)
    steps = 95
    heights = np.linspace(0.0436, 0.0456, 401)
    smooth = np.diff(final_heights(heights, sc.SmoothedContact(kappa=1e-3), steps))
    hard = np.diff(final_heights(heights, sc.HardContact(toi=False), steps))
    for dz in (smooth, hard):
        slope = dz / np.diff(heights)
        assert abs(slope[0]) < 0.01 and abs(slope[-1] - 1.0) < 0.01
    # smooth: the turn is spread over many intervals (measured 0.04 at most per interval);
    # the hard model turns within one or two (a kink)
    assert np.abs(np.diff(smooth / np.diff(heights))).max() < 0.1
    assert np.abs(np.diff(hard / np.diff(heights))).max() > 0.5


def test_contacts_enter_the_band_with_zero_impulse_and_zero_slope():
    # a ball at rest at a gap just inside its band (margin + motion bound): the impulse of the
    # first step vanishes quadratically as the gap approaches the band's edge (C1 entry)
    h = 1e-3
    band = sc.Scene(dt=h).margin + h * G * h
    impulse = []
    for delta in (1e-1, 1e-2, 1e-3):
        model = drop_scene(band * (1 - delta)).build(contact=sc.SmoothedContact(kappa=1e-3))
        traj = sc.rollout(model, model.initial_state(), 1)
        assert traj.ncon[0] == 1
        impulse.append(model.body_mass[1] * (traj.vel[1, 1, 2] + G * h))
    assert impulse[0] > 0
    assert 0.009 < impulse[1] / impulse[0] < 0.011 and 0.009 < impulse[2] / impulse[1] < 0.011
    model = drop_scene(band * 1.001).build(contact=sc.SmoothedContact(kappa=1e-3))
    traj = sc.rollout(model, model.initial_state(), 1)
    assert traj.ncon[0] == 0 and traj.vel[1, 1, 2] == -G * h


def test_sliding_box_and_rolling_sphere_match_closed_forms():
    traj = sc.rollout(*(lambda m: (m, m.initial_state()))(
        slide_scene().build(contact=sc.SmoothedContact(kappa=1e-6))), 600)
    expected = 2.0 ** 2 / (2 * 0.5 * G)
    assert abs(traj.pos[-1, 1, 0] - expected) / expected < 0.02
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.4)
    scene.add_sphere(0.1, pos=(0, 0, 0.1), vel=(2.0, 0, 0), friction=0.4)
    model = scene.build(contact=sc.SmoothedContact(kappa=1e-6))
    traj = sc.rollout(model, model.initial_state(), 1000)
    assert abs(traj.vel[-1, 1, 0] - 2.0 * 5 / 7) < 0.02 * 2.0 * 5 / 7


def incline_speed(degrees, kappa, mu=0.5, steps=1000):
    a = np.radians(degrees)
    n = np.array([np.sin(a), 0.0, np.cos(a)])
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(normal=n, friction=mu)
    scene.add_box((0.1, 0.1, 0.05), pos=0.05 * n, quat=(np.cos(a / 2), 0, np.sin(a / 2), 0),
                  friction=mu)
    model = scene.build(contact=sc.SmoothedContact(kappa=kappa))
    traj = sc.rollout(model, model.initial_state(), steps)
    assert traj.solver_failures.sum() == 0
    return np.linalg.norm(traj.vel[-1, 1])


def test_box_on_an_incline_creeps_at_the_smoothing_speed_or_slides():
    # inside the cone (tan 20 deg < 0.5) smoothed friction lets the box creep at a speed of order
    # sqrt(kappa A_tt): 1.9 mm/s at kappa = 1e-6, falling as sqrt(kappa)
    creep = [incline_speed(20, k) for k in (1e-6, 1e-8, 1e-10)]
    assert creep[0] < 3e-3
    assert 9.8 < creep[0] / creep[1] < 10.2 and 9.8 < creep[1] / creep[2] < 10.2
    # outside it the box slides with g (sin - mu cos)
    a = np.radians(30)
    expected = G * (np.sin(a) - 0.5 * np.cos(a)) * 1.0
    assert abs(incline_speed(30, 1e-8) - expected) < 0.02 * expected


def test_momentum_is_conserved_in_body_body_collisions():
    # two spinning spheres, oblique, with friction: linear and angular momentum exactly
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_sphere(0.1, mass=1.0, vel=(2, 0, 0), ang_vel=(0, 5, -3), friction=0.3)
    scene.add_sphere(0.12, mass=0.7, pos=(0.5, 0.1, 0.02), ang_vel=(1, 0, 2), friction=0.3)
    model = scene.build(contact=sc.SmoothedContact(kappa=1e-5))
    traj = sc.rollout(model, model.initial_state(), 400)
    p0, L0 = body_momentum(model, traj, 0)
    p1, L1 = body_momentum(model, traj, traj.steps)
    assert np.linalg.norm(traj.vel[-1, 1]) > 0.5
    assert np.allclose(p1, p0, atol=1e-12) and np.allclose(L1, L0, atol=1e-12)
    # sphere against a box: angular momentum exactly too (the end's angular velocity carries
    # the impulse's momentum through the box's turning inertia: dynamics.end_angular_velocity)
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_sphere(0.1, mass=1.0, vel=(2, 0, 0), friction=0.3)
    scene.add_box((0.1, 0.15, 0.1), mass=0.7, pos=(0.5, 0.05, 0.02), friction=0.3)
    model = scene.build(contact=sc.SmoothedContact(kappa=1e-5))
    traj = sc.rollout(model, model.initial_state(), 400)
    p0, L0 = body_momentum(model, traj, 0)
    p1, L1 = body_momentum(model, traj, traj.steps)
    assert np.linalg.norm(traj.ang_vel[-1, 1]) > 0.1  # the box was set turning
    assert np.allclose(p1, p0, atol=1e-12) and np.allclose(L1, L0, atol=1e-12)


def test_stack_of_five_boxes_stands_for_ten_seconds():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    for i in range(5):
        scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1 + 0.2 * i))
    model = scene.build(contact=sc.SmoothedContact(kappa=1e-6))
    traj = sc.rollout(model, model.initial_state(), 10_000)
    assert np.abs(traj.pos[-1, 1:] - traj.pos[0, 1:]).max() < 1e-3
    assert traj.solver_failures.sum() == 0


@pytest.mark.parametrize("kwargs, name", [
    (dict(kappa=0.0), "kappa"), (dict(kappa=-1.0), "kappa"), (dict(max_iter=0), "max_iter"),
])
def test_bad_smoothed_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sc.SmoothedContact(**kwargs)


def test_adjoint_solve_iterative_matches_dense_on_a_pile():
    # the adjoint's K^T y = g: matrix-free GMRES (large solves) against the dense solve, at
    # three stages of a settling 64-sphere pile (about 110 contacts each)
    model = load_benchmark().pile("sphere", 64).build(contact=sc.SmoothedContact())
    traj = sc.rollout(model, model.initial_state(), 300, progress=False)
    rng = np.random.default_rng(0)
    for t in (150, 225, 300):
        state = sc.State(pos=traj.pos[t].copy(), quat=traj.quat[t].copy(),
                         vel=traj.vel[t].copy(), ang_vel=traj.ang_vel[t].copy())
        d = make_data(model, state, 600, 6000)
        step.update_xmat(model, d)
        step.free_velocities(model, d, np.zeros((model.nbody, 6)), model.opt_dt)
        step.collision(model, d)
        res, fails = kernel_entries.smoothed_contacts(model, d, model.opt_dt)
        nc = d.ncon[0]
        assert fails == 0 and nc > model.opt_polish_max_contacts
        # the smoothed vjp's system: F_l, F_u from the residual's Jacobian at the solution
        Fl, Fu, u = np.zeros((nc, 3, 3)), np.zeros((nc, 3, 3)), np.zeros(3)
        for k in range(nc):
            kap, vs = kernel_entries.contact_scales(model, d, k)
            if kap <= 0.0:
                Fl[k] = np.eye(3)
            else:
                contact_space.contact_velocity(d, k, d.vel_free, d.ang_vel_free, u)
                smoothed.residual_jacobian(d.con_lambda[k], u, d.con_bias[k], d.con_mu[k], vs,
                                           Fl[k], Fu[k])
        g = rng.normal(size=3 * nc)
        sel = np.arange(nc)
        y_dense = kernel_entries._dense_transposed_solve(model, d, sel, nc, Fl, Fu, g)
        y_iter = kernel_entries.transposed_solve(model, d, sel, nc, Fl, Fu, g)
        assert np.abs(y_iter - y_dense).max() < 1e-11 * np.abs(y_dense).max()
