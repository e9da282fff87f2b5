"""Penalty contact: resting, sliding, rolling, body-body impacts, divergence reporting; the
time-constant form's restitution, closed forms, mass and step independence and gradients."""
import warnings

import numpy as np
import pytest

import simcore as sc
from simcore.grad import AMPLIFICATION_WARN
from tests.helpers import load_benchmark
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


# ----------------------------------------------------------------------------------------------
# The time-constant form: restitution, closed forms, any mass and step, useful gradients


def _apexes(e, seconds=5.0):
    # apex heights of a ball (r 0.1) dropped from 2 m above the ground (e on ball and ground)
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(restitution=e)
    scene.add_sphere(0.1, pos=(0, 0, 2.1), restitution=e)
    model = scene.build(contact=sc.PenaltyContact())
    z = sc.rollout(model, model.initial_state(), int(seconds / 1e-3)).pos[:, 1, 2] - 0.1
    peaks = [z[i] for i in range(1, len(z) - 1) if z[i - 1] <= z[i] > z[i + 1] and z[i] > 1e-3]
    return [2.0] + peaks


@pytest.mark.parametrize("e", [0.25, 0.5, 0.75, 1.0])
def test_bounce_heights_follow_e_squared(e):
    h = _apexes(e)
    # the first bounce within 5% of e^2 (impact 6.3 m/s); for e >= 0.5 the next two as well
    # (down to 1.9 m/s); measured: 1.011, 1.048 1.020 0.969, 1.028 1.026 1.019, 1.004 1.000 0.993
    n = 1 if e < 0.5 else 3
    ratios = [h[i + 1] / h[i] / e ** 2 for i in range(n)]
    assert len(h) > n and ratios == pytest.approx([1.0] * n, abs=0.05), ratios


def test_plastic_ball_does_not_bounce():
    assert _apexes(0.0, seconds=2.0) == [2.0]  # nothing above 1 mm after the landing


@pytest.mark.xfail(strict=True, reason="a slow bounce with small e rebounds short: gravity acts "
                   "through the contact's finite duration (e = 0.1: 0.68 e^2 from 2 m; e = 0.25: "
                   "the second bounce, from 0.39 m/s, 0.68 e^2)")
@pytest.mark.parametrize("e, bounce", [(0.1, 0), (0.25, 1)])
def test_slow_bounces_of_small_restitution_follow_e_squared(e, bounce):
    h = _apexes(e)
    assert len(h) > bounce + 1 and h[bounce + 1] / h[bounce] / e ** 2 == pytest.approx(1, abs=0.05)


def _rebound_without_gravity(e, dt):
    # a ball striking the ground at 6.26 m/s (from 2 m) with no gravity: its rebound over e
    scene = sc.Scene(dt=dt, gravity=(0, 0, 0))
    scene.add_plane(restitution=e)
    scene.add_sphere(0.1, pos=(0, 0, 0.1 + 6.26 * 0.0123), vel=(0, 0, -6.26), restitution=e)
    model = scene.build(contact=sc.PenaltyContact())
    return sc.rollout(model, model.initial_state(), int(0.2 / dt)).vel[-1, 1, 2] / 6.26 / e


def test_rebound_without_gravity_is_the_restitution_at_a_fine_step():
    # dt = tau / 50: measured 1.014 e (the step's own part, below, shrinks as dt / tau)
    assert _rebound_without_gravity(0.1, 1e-4) == pytest.approx(1.0, abs=0.02)


@pytest.mark.xfail(strict=True, reason="the step adds to the damper's restitution, by O(dt / "
                   "tau): without gravity, at dt = tau / 5, e = 0.1 rebounds with 1.090 e (e = "
                   "0.5: 1.033 e); at tau / 10, 1.055 e (docs/known-limits.md)")
def test_rebound_without_gravity_is_the_restitution_at_a_coarse_step():
    # (the slow small-e bounces above fall short although this one overshoots: gravity
    # through the contact's duration takes more than the step adds)
    assert _rebound_without_gravity(0.1, 1e-3) == pytest.approx(1.0, abs=0.02)


def test_elastic_drop_and_off_centre_collision_match_their_rigid_closed_forms():
    g = 9.81
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(restitution=1.0)
    scene.add_sphere(0.1, pos=(0, 0, 2.1), restitution=1.0)
    model = scene.build(contact=sc.PenaltyContact())
    z = sc.rollout(model, model.initial_state(), 1000).pos[-1, 1, 2]
    t1 = np.sqrt(2 * 2.0 / g)
    rigid = 0.1 + g * t1 * (1 - t1) - 0.5 * g * (1 - t1) ** 2  # 1.723 m at 1 s
    assert z == pytest.approx(rigid, rel=0.03)  # measured 1.685 (the contact lasts pi tau)
    # equal elastic balls, the struck one off-centre by half a diameter: the line of centres at
    # contact is n = (cos 30, sin 30), and the struck ball leaves along it at v n.x
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_sphere(0.1, vel=(1, 0, 0), restitution=1.0, friction=0.0)
    scene.add_sphere(0.1, pos=(0.5, 0.1, 0), restitution=1.0, friction=0.0)
    model = scene.build(contact=sc.PenaltyContact())
    vel = sc.rollout(model, model.initial_state(), 1000).vel[-1]
    n = np.array([np.sqrt(0.03), 0.1, 0.0]) / 0.2
    struck = n[0] * n
    assert np.linalg.norm(vel[1] - struck) < 0.03 * np.linalg.norm(struck)  # measured 2.3%
    assert np.linalg.norm(vel[0] - ([1, 0, 0] - struck)) < 0.03 * np.linalg.norm(struck)


@pytest.mark.parametrize("shape", ["sphere", "box"])
def test_one_setting_moves_a_10_g_body_as_a_100_kg_one(shape):
    # spring and damper follow the effective mass: the motion does not depend on the mass
    pos = []
    for mass in (0.01, 100.0):
        scene = sc.Scene(dt=1e-3)
        scene.add_plane(friction=0.6, restitution=0.4)
        add = scene.add_sphere if shape == "sphere" else scene.add_box
        size = 0.1 if shape == "sphere" else (0.1, 0.08, 0.05)
        add(size, mass=mass, pos=(0, 0, 0.3), vel=(1.0, 0.3, -2.0), ang_vel=(2, -1, 3),
            quat=(0.9, 0.2, 0.3, 0.1) / np.linalg.norm((0.9, 0.2, 0.3, 0.1)), restitution=0.4,
            friction=0.6)
        model = scene.build(contact=sc.PenaltyContact())
        traj = sc.rollout(model, model.initial_state(), 1500)
        assert traj.solver_failures.sum() == 0
        pos.append(traj.pos[:, 1])
    assert np.abs(pos[0] - pos[1]).max() < 1e-9
    assert pos[0][-1, 2] < 0.3 - 0.1  # it landed


def _heavy_on_light(dt):
    # 20 kg on a 50 g box on the ground: the mass ratio and steps that the fixed spring refuses
    # or diverges on
    scene = sc.Scene(dt=dt)
    scene.add_plane(friction=0.8)
    scene.add_box((0.1, 0.1, 0.02), mass=0.05, pos=(0, 0, 0.021), friction=0.8)
    scene.add_box((0.08, 0.08, 0.08), mass=20.0, pos=(0.01, 0, 0.125), friction=0.8)
    model = scene.build(contact=sc.PenaltyContact())
    return sc.rollout(model, model.initial_state(), int(2.0 / dt))


@pytest.mark.parametrize("dt", [1e-3, 5e-3, 2e-2])
def test_light_box_under_a_heavy_one_is_stable_at_any_step(dt):
    traj = _heavy_on_light(dt)
    assert traj.solver_failures.sum() == 0
    # settling (at 20 ms, 4 tau, the spring's implicit part damps it: still creeping at 4.5 mm/s
    # after 2 s; measured 1.6e-5 and 3.6e-5 m/s at 1 and 5 ms) without a bounce
    assert np.abs(traj.vel[-1]).max() < 1e-2
    z = traj.pos[:, 2, 2]
    assert np.max(z - np.minimum.accumulate(z)) < 1e-3
    assert traj.pos[:, 1, 2].min() > -0.02  # the light box is pressed in, not through


@pytest.mark.xfail(strict=True, reason="known limit: each spring follows its own pair's mass, "
                   "so a load far heavier than the body under it sinks by the mass ratio (20 kg "
                   "on 50 g: 4.5 cm into the light box, which sits 2.4 cm into the ground)")
def test_heavy_box_on_a_light_one_sinks_less_than_a_centimetre():
    traj = _heavy_on_light(1e-3)
    assert 0.125 - traj.pos[-1, 2, 2] < 0.01


def test_a_layer_of_light_cubes_lands_flat_with_the_defaults():
    # the one-layer pile the fixed spring refused at step 0 (h^2 k / m_eff > 4), 4 x 4 cubes
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=1.0)
    for i in range(4):
        for j in range(4):
            scene.add_box((0.05, 0.05, 0.05), mass=0.1, pos=(0.1 * i, 0.1 * j, 0.2), friction=1.0)
    model = scene.build(contact=sc.PenaltyContact())
    traj = sc.rollout(model, model.initial_state(), 1000)
    assert traj.solver_failures.sum() == 0
    # each on four corners, k = m_eff / tau^2 with m_eff = m / 4: sunk by g tau^2 = 0.25 mm
    assert np.allclose(traj.pos[-1, 1:, 2], 0.05 - G * 5e-3 ** 2, atol=5e-5)
    assert np.abs(traj.vel[-1]).max() < 1e-3


@pytest.mark.parametrize("v0", [0.5, 3.0])
def test_sliding_box_gradient_is_the_physics_or_warns(v0):
    # x_stop = v0^2 / (2 mu g): dx / dv0 = v0 / (mu g)
    # (benchmarks/gradient_health.py's box: 0.2 m cube, mu = 0.5, 1.5 stopping times)
    sliding_box = load_benchmark("gradient_health").sliding_box
    exact = v0 / (0.5 * G)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning
        dx_dv0, amplification = sliding_box(sc.PenaltyContact(), v0)
    assert dx_dv0 == pytest.approx(exact, rel=0.01)  # measured 0.5% and 0.08% short
    assert amplification < 10.0
    # the fixed spring (stiffness 1e5, no damping) holds the stuck box on an ill-conditioned
    # map: its exact derivative is off by 21x (v0 0.5) to 3e13x (v0 3), and it says so
    with pytest.warns(RuntimeWarning, match="cotangent grew by"):
        dx_dv0, amplification = sliding_box(sc.PenaltyContact(stiffness=1e5, damping=0.0), v0)
    assert amplification > AMPLIFICATION_WARN
    assert abs(dx_dv0 / exact - 1) > 1.0


def test_models_that_ignore_restitution_say_so_once():
    scene = sc.Scene()
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 1), restitution=0.5)
    for contact in (sc.SmoothedContact(), sc.PenaltyContact(stiffness=1e4),
                    sc.PenaltyContact(damping_ratio=0.2)):
        with pytest.warns(UserWarning, match=r"bodies \[1\] have restitution") as caught:
            scene.build(contact=contact)
        assert len(caught) == 1
    for contact in (sc.HardContact(), sc.PenaltyContact()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            scene.build(contact=contact)


def test_time_constant_form_arguments_and_parameters():
    with pytest.raises(ValueError, match="damping belongs to the fixed spring"):
        sc.PenaltyContact(damping=1.0)
    with pytest.raises(ValueError, match="exponent belongs to the fixed spring"):
        sc.PenaltyContact(exponent=1.5)
    with pytest.raises(ValueError, match="time_constant belongs to the time-constant form"):
        sc.PenaltyContact(stiffness=1e4, time_constant=1e-2)
    with pytest.raises(ValueError, match="time_constant must be finite and positive"):
        sc.PenaltyContact(time_constant=0.0)
    assert sc.PenaltyContact().time_constant == 5e-3 and sc.PenaltyContact().damping_ratio is None
    assert sc.PenaltyContact(stiffness=1e4).damping == 1.0
    scene = sc.Scene()
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.2))
    model = scene.build(contact=sc.PenaltyContact())
    loss = sc.losses.final_distance(1, (0, 0, 0))
    with pytest.raises(ValueError, match="'stiffness' acts only in PenaltyContact\\(stiffness"):
        sc.value_and_grad(model, model.initial_state(), 5, loss, params=("stiffness",))
    with pytest.raises(ValueError, match="'damping_ratio' acts only in"):
        sc.value_and_grad(model, model.initial_state(), 5, loss, params=("damping_ratio",))
    fixed = scene.build(contact=sc.PenaltyContact(stiffness=1e4))
    with pytest.raises(ValueError, match="'time_constant' acts only in"):
        sc.Problem(fixed, fixed.initial_state(), 5, loss, variables=("time_constant",))


def test_the_reverse_sweep_reruns_each_step_to_the_bit():
    # the solve starts from the last one's impulses (kernels/memory.py); the tape keeps them
    # (with the pairs that bore a force), so that each step the reverse sweep re-runs is the
    # forward's to the bit: its post-contact velocities are the next state's
    from simcore.kernels.consts import BODY_DYNAMIC
    from simcore.kernels.models import KIND
    from simcore.model import make_data
    from simcore.rollout import forward
    from tests.kernel_entries import replayed_velocities
    scene = sc.Scene(dt=2e-3)
    scene.add_plane(friction=0.6)
    scene.add_box((0.1, 0.1, 0.05), pos=(0, 0, 0.05), vel=(0.3, 0, 0), friction=0.5)
    scene.add_box((0.05, 0.05, 0.05), pos=(0.02, 0, 0.16), ang_vel=(0, 0, 2), friction=0.5)
    scene.add_sphere(0.05, pos=(0.3, 0.1, 0.1), vel=(-1, 0, 0), restitution=0.5)
    scene.add_capsule(0.03, 0.1, pos=(-0.3, 0, 0.2), vel=(1, 0, -1))
    model = scene.build()
    steps = 150
    state = model.initial_state()
    ctrl = np.zeros((steps, model.nbody, 6))
    traj, tape, ncon_max, npair_max = forward(model, state, steps, ctrl, False, tape=True)
    assert traj.ncon[steps // 2:].min() >= 6  # resting contacts: the memory is used
    out = np.zeros((steps, model.nbody, 6))
    data = make_data(model, state, ncon_max, npair_max)
    assert replayed_velocities(KIND[model.opt_contact], model, data, tape, ctrl, model.opt_dt,
                               out) == 0
    dyn = model.body_kind == BODY_DYNAMIC
    assert np.array_equal(out[:, dyn, :3], traj.vel[1:, dyn])
    # (unequal moments turn the angular velocity after the contacts, in the pose's integration)
    iso = dyn & np.all(model.body_inertia == model.body_inertia[:, :1], axis=1)
    assert iso.sum() == 2 and np.array_equal(out[:, iso, 3:], traj.ang_vel[1:, iso])
