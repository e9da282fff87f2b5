"""Rolling and torsional friction in every contact model (simcore/kernels/rolling.py): the
closed forms of a rolling and a spinning ball, gradients in the new parameters against central
differences and a closed form, a random scene, the MJCF round trip and MuJoCo beside us."""
import numpy as np
import pytest

import simcore as sc
from tests.test_grad import _central, _check_per_body_gradient, _check_state_gradient, \
    _linear_loss, _mixed_scene

G = 9.81
R, V0 = 0.1, 1.0
CONTACTS = {"hard": sc.HardContact, "smoothed": sc.SmoothedContact,
            "penalty": sc.PenaltyContact}


def _rolling_ball(mu_r=0.005, mu_t=0.0, spin=0.0):
    # a solid ball of radius R rolling at V0 along x on the ground (and spinning about z)
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=1.0)
    scene.add_sphere(R, mass=1.0, pos=(0, 0, R), vel=(V0 if spin == 0 else 0, 0, 0),
                     ang_vel=(0, V0 / R if spin == 0 else 0, spin), friction=1.0,
                     rolling_friction=mu_r, torsional_friction=mu_t)
    return scene


def _deceleration(mu_r):
    # torque mu_r m g against the rolling: (m + I / R^2) a = mu_r m g / R, I = 2 m R^2 / 5
    return 5.0 * mu_r * G / (7.0 * R)


@pytest.mark.parametrize("model", sorted(CONTACTS))
def test_rolling_ball_stops_at_the_closed_form_distance(model):
    mu_r = 0.005
    m = _rolling_ball(mu_r).build(CONTACTS[model]())
    a = _deceleration(mu_r)
    t_stop = V0 / a  # 2.85 s
    traj = sc.rollout(m, m.initial_state(), int(1.25 * t_stop / m.opt_dt))
    dist = V0 ** 2 / (2 * a)
    print(f"{model}: stopped at {traj.pos[-1, 1, 0]:.5f} m, closed form {dist:.5f} m")
    assert abs(traj.pos[-1, 1, 0] / dist - 1) < 0.01  # the issue asks 2%; measured <= 0.1%
    assert np.all(np.abs(traj.vel[-1, 1]) < 1e-9) and np.all(np.abs(traj.ang_vel[-1, 1]) < 1e-9)
    # while it rolls, its speed falls at the closed-form rate
    k = int(0.5 * t_stop / m.opt_dt)
    assert abs((V0 - traj.vel[k, 1, 0]) / (a * k * m.opt_dt) - 1) < 0.01
    # and with no rolling friction it keeps rolling
    m0 = _rolling_ball(0.0).build(CONTACTS[model]())
    assert sc.rollout(m0, m0.initial_state(), 500).vel[-1, 1, 0] > 0.99 * V0


def test_a_push_that_rolling_friction_holds_leaves_the_ball_at_rest():
    # a horizontal push F at the centre of a ball on the ground: rolling friction holds it while
    # F R <= mu_r m g (HardContact solves the torque with the contact's impulses; a stage after
    # the solve would let it creep at about 5 F h / (2 m)), and rolls it past that
    mu_r, F, steps = 0.005, 0.3, 1000  # F R = 0.03 N m against mu_r m g = 0.049 N m
    m = _rolling_ball(mu_r).build(sc.HardContact())
    state = m.initial_state()
    state.vel[1] = 0.0
    state.ang_vel[1] = 0.0
    push = np.zeros((steps, 2, 6))
    push[:, 1, 0] = F
    traj = sc.rollout(m, state, steps, controls=push)
    print(f"held: moved {traj.pos[-1, 1, 0]:.3e} m, speed {traj.vel[-1, 1, 0]:.3e} m/s")
    # (what moves is the torque rows' regularisation, their compliance: 7.5e-10 m/s measured)
    assert abs(traj.pos[-1, 1, 0]) < 1e-8 and np.all(np.abs(traj.vel[-1, 1]) < 1e-8)
    assert np.all(np.abs(traj.ang_vel[-1, 1]) < 1e-8)
    # twice the push rolls it: (F - mu_r m g / R) / (m + I / R^2) = (0.6 - 0.49) / 1.4 m/s^2
    traj = sc.rollout(m, state, steps, controls=2 * push)
    a = (2 * F - mu_r * G / R) / 1.4
    print(f"rolled: speed {traj.vel[-1, 1, 0]:.6f} m/s, closed form {a * steps * m.opt_dt:.6f}")
    assert abs(traj.vel[-1, 1, 0] / (a * steps * m.opt_dt) - 1) < 0.01


@pytest.mark.parametrize("model", sorted(CONTACTS))
def test_spinning_ball_stops_at_the_closed_form_angle(model):
    # torque mu_t m g about the normal: a spin w0 stops after the angle w0^2 I / (2 mu_t m g)
    mu_t, w0 = 0.01, 10.0
    m = _rolling_ball(0.0, mu_t, spin=w0).build(CONTACTS[model]())
    alpha = mu_t * G / (0.4 * R * R)
    angle = w0 ** 2 / (2 * alpha)  # 2.04 rad, over 0.41 s
    traj = sc.rollout(m, m.initial_state(), int(1.5 * w0 / alpha / m.opt_dt))
    q = traj.quat[:, 1]
    turned = np.unwrap(2 * np.arctan2(q[:, 3], q[:, 0]))  # about z
    print(f"{model}: turned {turned[-1]:.5f} rad, closed form {angle:.5f} rad")
    assert abs(turned[-1] / angle - 1) < 0.01
    assert np.all(np.abs(traj.ang_vel[-1, 1]) < 1e-9)


@pytest.mark.parametrize("model", sorted(CONTACTS))
def test_rolling_friction_gradient_closed_form(model):
    # mid-roll, x(T) = V0 T - a T^2 / 2 with a = 5 mu_r g / (7 R): dx/dmu_r = -5 g T^2 / (14 R),
    # from the ball's coefficient (the pair takes the max: the ground's gets none)
    mu_r, T = 0.005, 1.0
    m = _rolling_ball(mu_r).build(CONTACTS[model]())
    steps = int(T / m.opt_dt)

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1, 0] = 1.0
        return traj.pos[-1, 1, 0], {"pos": cot}

    _, grad = sc.value_and_grad(m, m.initial_state(), steps, loss,
                                params=("rolling_friction", "torsional_friction"))
    g = grad.params["rolling_friction"]
    closed = -5 * G * T ** 2 / (14 * R)

    def f(e):
        return loss(sc.rollout(m._replace(body_rolling_friction=m.body_rolling_friction
                                          + np.array([0.0, e])), m.initial_state(), steps))[0]
    fd = _central(f, (1e-5, 1e-6))
    print(f"{model}: dx/dmu_r {g[1]:.6g}, differences {fd}, closed form {closed:.6g}")
    assert g[0] == 0.0 and np.all(grad.params["torsional_friction"] == 0.0)
    assert abs(g[1] / closed - 1) < 0.01
    assert np.min(np.abs(fd - g[1])) < 1e-6 * abs(g[1])


def _rolling_mixed_scene():
    # the gradient tests' mixed scene (spheres, a box, a capsule, spinning, on the ground and on
    # each other) with torsional and rolling friction of every size on every body
    scene = _mixed_scene()
    for b, tors, roll in zip(scene.bodies, (0.003, 0.02, 0.01, 0.015, 0.005),
                             (0.004, 0.01, 0.03, 0.006, 0.02)):
        b["torsional_friction"], b["rolling_friction"] = tors, roll
    return scene


RANDOM_MODELS = {
    "penalty": lambda: sc.PenaltyContact(stiffness=2e4, damping=0.5, exponent=1.5),
    "penalty-tc": sc.PenaltyContact,
    "smoothed": lambda: sc.SmoothedContact(kappa=1e-6),
    "hard": sc.HardContact,
    "hard-notoi": lambda: sc.HardContact(toi=False),
}


@pytest.mark.parametrize("name", sorted(RANDOM_MODELS))
def test_mixed_scene_gradients_with_rolling_friction(name):
    model = _rolling_mixed_scene().build(RANDOM_MODELS[name]())
    steps = 250
    state = model.initial_state()
    loss = _linear_loss(steps, model.nbody, seed=5)
    _, grad = sc.value_and_grad(model, state, steps, loss,
                                params=("rolling_friction", "torsional_friction", "friction"))
    traj = sc.rollout(model, state, steps)
    assert traj.solver_failures.sum() == 0
    # the stage acts: the resistance moves the loss
    plain = model._replace(body_rolling_friction=np.zeros(model.nbody),
                           body_torsional_friction=np.zeros(model.nbody))
    assert abs(loss(sc.rollout(plain, state, steps))[0] - loss(traj)[0]) > 1e-3
    assert np.count_nonzero(grad.params["rolling_friction"]) >= 3
    assert np.count_nonzero(grad.params["torsional_friction"]) >= 3
    for pname in ("rolling_friction", "torsional_friction", "friction"):
        _check_per_body_gradient(model, state, steps, loss, grad, pname, f"body_{pname}")
    for var in ("vel", "ang_vel"):
        _check_state_gradient(model, state, steps, loss, grad, var, range(1, model.nbody))


def test_mjcf_round_trip_and_condim():
    scene = _rolling_mixed_scene()
    scene.bodies[2]["rolling_friction"] = 0.0  # the box: torsional only, condim 4
    xml = scene.to_mjcf()
    assert xml.count('condim="6"') == 4 and xml.count('condim="4"') == 1
    assert 'cone="elliptic"' in xml
    back = sc.Scene.from_mjcf(xml)
    for b0, b1 in zip(scene.bodies, back.bodies):
        assert b1["torsional_friction"] == b0["torsional_friction"]
        assert b1["rolling_friction"] == b0["rolling_friction"]
    for contact in (sc.HardContact(), sc.PenaltyContact()):
        m0, m1 = scene.build(contact), back.build(contact)
        t0 = sc.rollout(m0, m0.initial_state(), 200)
        t1 = sc.rollout(m1, m1.initial_state(), 200)
        assert np.max(np.abs(t0.pos - t1.pos)) < 1e-12
    # a scene without them writes condim 3 (MuJoCo's default) and MuJoCo's own cone
    plain = _mixed_scene().to_mjcf()
    assert 'condim="' not in plain and 'cone="' not in plain


def test_mujoco_rolls_to_the_same_distance():
    # MuJoCo on the exported scene (condim 6, elliptic cone) stops the ball where we do, within
    # its soft contact's few percent; its default pyramidal cone lets it roll much farther
    mujoco = pytest.importorskip("mujoco")
    mu_r = 0.005
    xml = _rolling_ball(mu_r).to_mjcf()
    dist = V0 ** 2 / (2 * _deceleration(mu_r))
    out = {}
    for cone in ("elliptic", "pyramidal"):
        mm = mujoco.MjModel.from_xml_string(xml.replace('cone="elliptic"', f'cone="{cone}"'))
        md = mujoco.MjData(mm)
        mujoco.mj_resetDataKeyframe(mm, md, 0)
        for _ in range(int(1.5 * V0 / _deceleration(mu_r) / mm.opt.timestep)):
            mujoco.mj_step(mm, md)
        out[cone] = md.qpos[0]
        print(f"MuJoCo, {cone} cone: {md.qpos[0]:.4f} m, closed form {dist:.4f} m")
    assert abs(out["elliptic"] / dist - 1) < 0.05
    assert out["pyramidal"] > 1.2 * dist


def test_bad_coefficients_are_refused():
    scene = sc.Scene()
    with pytest.raises(ValueError, match="rolling_friction"):
        scene.add_sphere(0.1, rolling_friction=-0.01)
    with pytest.raises(ValueError, match="torsional_friction"):
        scene.add_box((0.1, 0.1, 0.1), torsional_friction=float("nan"))
    m = _rolling_ball().build(sc.HardContact())
    with pytest.raises(ValueError, match="body_rolling_friction"):
        sc.rollout(m._replace(body_rolling_friction=np.array([0.0, -1.0])), m.initial_state(), 1)
