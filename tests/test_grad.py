"""value_and_grad: whole-rollout adjoint gradients against central differences and closed forms."""
import dataclasses

import numpy as np
import pytest

import simcore as sc
from simcore.kernels.collision import collide
from simcore.kernels.consts import (CONTACT_HARD, CONTACT_PENALTY, GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE,
                                    GEOM_SPHERE, MAXCON_PAIR)
from simcore.kernels.rotation import quat_integrate
from tests.helpers import quat_to_matrix

# the mixed scene's contacts make the loss strongly curved (second derivatives ~1e6 times the
# first): central differences need steps this small to reach 1e-6
EPS = (1e-5, 1e-6, 1e-7, 1e-8)


def _linear_loss(steps, n, seed=0):
    """A random linear functional of every trajectory array, and its cotangent."""
    rng = np.random.default_rng(seed)
    w = {k: rng.normal(size=(steps + 1, n, 4 if k == "quat" else 3))
         for k in ("pos", "quat", "vel", "ang_vel")}

    def loss(traj):
        return sum(np.sum(w[k] * getattr(traj, k)) for k in w), w
    return loss


def _central(f, eps_list=EPS):
    """Central differences of a scalar function f(eps) at 0, one per step size."""
    return np.array([(f(e) - f(-e)) / (2 * e) for e in eps_list])


def _close(adjoint, fds, rtol, scale):
    # the best of the sweep: central differences converge as eps^2 until rounding takes over,
    # so with steps a factor 10 apart Richardson's (100 D(e / 10) - D(e)) / 99 cancels that term
    cands = np.concatenate([fds, (100 * fds[1:] - fds[:-1]) / 99])
    # relative to the entry, or to `scale` (a tenth of the largest entry of the same gradient)
    # when the entry is smaller: differences of a large loss carry rounding of its size
    err = np.min(np.abs(cands - adjoint)) / max(abs(adjoint), scale)
    assert err < rtol, f"adjoint {adjoint} vs central differences {fds} (rel. error {err:.2e})"
    return err


def _mixed_scene(kinematic=False):
    scene = sc.Scene(dt=1e-3)
    # (restitution acts in HardContact only)
    scene.add_plane(friction=0.5)
    scene.add_sphere(0.1, pos=(0, 0, 0.15), vel=(0.5, 0.2, -0.5), ang_vel=(1, 2, 3), friction=0.8,
                     restitution=0.2)
    q = np.array([0.9, 0.1, 0.3, 0.2])
    scene.add_box((0.1, 0.2, 0.05), pos=(0.3, 0.05, 0.25), quat=q / np.linalg.norm(q),
                  vel=(-0.3, 0, -0.5), ang_vel=(0.5, -1, 2), friction=0.6, mass=2.0,
                  restitution=0.1)
    q = np.array([0.8, 0.5, -0.2, 0.1])
    scene.add_capsule(0.05, 0.15, pos=(-0.1, 0.35, 0.2), quat=q / np.linalg.norm(q),
                      vel=(0, -0.8, -0.2), ang_vel=(2, 0, -1), friction=0.7, mass=0.7,
                      restitution=0.15)
    scene.add_sphere(0.08, pos=(-0.12, 0.14, 0.1), vel=(0.8, -0.3, 0), friction=0.9, mass=0.5,
                     restitution=0.25)
    if kinematic:
        scene.add_sphere(0.1, pos=(0.6, 0.1, 0.11), kind="kinematic", vel=(-1.0, 0, 0))
    return scene


# each differentiable contact model with its own scalar parameters (name, Model field).
# HardContact without time of impact: its adjoint is exact for the discrete map, which the
# differences below check away from its mode switches (impact timing is another matter: see
# the closed-form tests)
MODELS = {
    "penalty": (lambda: sc.PenaltyContact(stiffness=2e4, damping=0.5, exponent=1.5),
                (("stiffness", "pen_stiffness"), ("damping", "pen_damping"))),
    "smoothed": (lambda: sc.SmoothedContact(kappa=1e-6), (("kappa", "smooth_kappa"),)),
    "hard": (lambda: sc.HardContact(toi=False), ()),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def mixed(request):
    """Spheres, a box and a capsule on a plane and on each other (no box-box), for each
    differentiable contact model."""
    contact, scalars = MODELS[request.param]
    model = _mixed_scene().build(contact=contact())
    steps = 250
    loss = _linear_loss(steps, model.nbody)
    state = model.initial_state()
    value, grad = sc.value_and_grad(model, state, steps, loss,
                                    params=("mass", "friction", "restitution")
                                    + tuple(name for name, _ in scalars))
    traj = sc.rollout(model, state, steps)
    assert traj.solver_failures.sum() == 0
    return model, state, steps, loss, value, grad, traj, scalars


def test_mixed_scene_has_every_differentiable_pair(mixed):
    # the rollout checks below cover every pair with an adjoint only if each one pushes:
    # penalty contact when it penetrates, hard and smoothed contact (which keep gaps open) when
    # it touches within 0.1 mm
    model, state, steps, loss, value, grad, traj, scalars = mixed
    touch = 0.0 if model.opt_contact == CONTACT_PENALTY else 1e-4
    assert value == loss(traj)[0]
    d, nrm, pt = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
    pen = set()
    for t in range(steps + 1):
        for a in range(model.nbody):
            for b in range(model.nbody):
                ta, tb = model.geom_type[a], model.geom_type[b]
                if a == b or ta < tb:
                    continue
                cnt = collide(ta, tb, traj.pos[t, a], quat_to_matrix(traj.quat[t, a]),
                              model.geom_size[a], traj.pos[t, b],
                              quat_to_matrix(traj.quat[t, b]), model.geom_size[b], touch, 0,
                              d, nrm, pt)
                if cnt and d[:cnt].min() < touch:
                    pen.add((int(ta), int(tb)))
    assert pen == {(GEOM_SPHERE, GEOM_PLANE), (GEOM_CAPSULE, GEOM_PLANE), (GEOM_BOX, GEOM_PLANE),
                   (GEOM_SPHERE, GEOM_SPHERE), (GEOM_CAPSULE, GEOM_SPHERE),
                   (GEOM_BOX, GEOM_SPHERE)}


@pytest.mark.parametrize("name", ["pos", "vel", "ang_vel"])
def test_initial_state_gradient(mixed, name):
    model, state, steps, loss, value, grad, traj, scalars = mixed
    for i in range(1, model.nbody):
        for k in range(3):
            def f(e):
                arr = getattr(state, name).copy()
                arr[i, k] += e
                return loss(sc.rollout(model, dataclasses.replace(state, **{name: arr}),
                                       steps))[0]
            _close(getattr(grad, name)[i, k], _central(f), 1e-6,
                   0.1 * np.abs(getattr(grad, name)).max())


def test_initial_orientation_gradient(mixed):
    model, state, steps, loss, value, grad, traj, scalars = mixed
    for i in range(1, model.nbody):
        for k in range(3):
            def f(e):
                q = state.quat.copy()
                th = np.zeros(3)
                th[k] = e
                quat_integrate(state.quat[i], th, 1.0, q[i])  # Exp(th) R
                return loss(sc.rollout(model, dataclasses.replace(state, quat=q), steps))[0]
            # d/dth of L(q(th)) with dq = [0, th] q / 2 is the chain rule through grad.quat
            e_k = np.eye(3)[k]
            qv = state.quat[i, 1:]
            dq = 0.5 * np.concatenate([[-e_k @ qv], state.quat[i, 0] * e_k + np.cross(e_k, qv)])
            _close(grad.quat[i] @ dq, _central(f), 1e-6, 0.1 * np.abs(grad.quat).max())
    # the quaternion gradient has no part along the (unit) quaternion
    assert np.allclose(np.sum(grad.quat * state.quat, axis=1), 0, atol=1e-9)


def test_controls_gradient(mixed):
    model, state, steps, loss, value, grad, traj, scalars = mixed
    rng = np.random.default_rng(3)
    for _ in range(8):
        t, i, k = rng.integers(steps), rng.integers(1, model.nbody), rng.integers(6)

        def f(e):
            u = np.zeros((steps, model.nbody, 6))
            u[t, i, k] = e
            return loss(sc.rollout(model, state, steps, controls=u))[0]
        _close(grad.controls[t, i, k], _central(f), 1e-6, 0.1 * np.abs(grad.controls[t]).max())
    assert np.all(grad.controls[:, 0] == 0)  # the plane


def test_parameter_gradients(mixed):
    model, state, steps, loss, value, grad, traj, scalars = mixed

    def run(mod):
        return loss(sc.rollout(mod, state, steps))[0]
    for i in range(model.nbody):
        def f(e):
            mu = model.body_friction.copy()
            mu[i] += e
            return run(model._replace(body_friction=mu))
        _close(grad.params["friction"][i], _central(f), 1e-6,
               0.1 * np.abs(grad.params["friction"]).max())
    for i in range(1, model.nbody):
        def f(e):
            s = (model.body_mass[i] + e) / model.body_mass[i]
            mass, inertia = model.body_mass.copy(), model.body_inertia.copy()
            mass[i] *= s
            inertia[i] *= s
            return run(model._replace(body_mass=mass, body_invmass=1 / mass,
                                      body_inertia=inertia,
                                      body_invinertia=1 / inertia))
        _close(grad.params["mass"][i], _central(f), 1e-6, 0.1 * np.abs(grad.params["mass"]).max())
    assert grad.params["mass"][0] == 0.0
    if model.opt_contact == CONTACT_HARD:
        for i in range(model.nbody):
            def f(e):
                r = model.body_restitution.copy()
                r[i] += e
                return run(model._replace(body_restitution=r))
            _close(grad.params["restitution"][i], _central(f), 1e-6,
                   0.1 * np.abs(grad.params["restitution"]).max())
        assert np.any(grad.params["restitution"] != 0.0)
    else:  # penalty and smoothed contact have no restitution: exactly no gradient
        assert np.all(grad.params["restitution"] == 0.0)
    for name, field in scalars:
        v = getattr(model, field)
        f = lambda e: run(model._replace(**{field: v * (1 + e)}))  # noqa: E731
        # relative steps; a solve converged to ~1e-10 leaves noise of that size in the loss,
        # which swamps steps below 1e-5 for kappa's small derivative
        _close(grad.params[name] * v, _central(f, (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)), 1e-6, 0.0)


def test_kinematic_body_controls_and_substeps():
    model = _mixed_scene(kinematic=True).build(contact=sc.PenaltyContact(stiffness=2e4,
                                                                          substeps=3))
    steps = 120
    loss = _linear_loss(steps, model.nbody, seed=1)
    state = model.initial_state()
    kin = model.nbody - 1
    value, grad = sc.value_and_grad(model, state, steps, loss)
    traj = sc.rollout(model, state, steps)
    assert np.any(traj.ncon > 0)
    # controls=None: the kinematic sphere holds its state velocity
    for k in range(3):
        def f(e):
            v = state.vel.copy()
            v[kin, k] += e
            return loss(sc.rollout(model, dataclasses.replace(state, vel=v), steps))[0]
        _close(grad.vel[kin, k], _central(f), 1e-6, 0.1 * np.abs(grad.vel[kin]).max())
    u = np.zeros((steps, model.nbody, 6))
    u[:, kin, :3] = state.vel[kin]
    _, grad_u = sc.value_and_grad(model, state, steps, loss, controls=u)
    # with explicit controls the state's velocity only enters the loss through traj.vel[0]
    assert np.allclose(grad_u.controls[:, kin, :3].sum(axis=0) + grad_u.vel[kin], grad.vel[kin],
                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("contact, sink", [
    (sc.PenaltyContact(stiffness=1e6, damping=10.0, substeps=4, friction_smoothing=1e-3),
     9.81 / 4e6),
    (sc.HardContact(), 0.0),
    (sc.HardContact(polish_max_contacts=0), 0.0),  # iterative adjoint solve (GMRES)
    (sc.SmoothedContact(kappa=1e-8), 0.0),
    (sc.SmoothedContact(kappa=1e-8, polish_max_contacts=0), 0.0),
], ids=["penalty", "hard", "hard-iterative", "smoothed", "smoothed-iterative"])
def test_sliding_box_closed_form(contact, sink):
    # a box sliding on the ground stops after v0 / (mu g): before that, x(T) = x0 + v0 T - mu g
    # T^2 / 2, so dx/dv0 = T and dx/dmu = -g T^2 / 2 (per unit of the pair friction)
    g, mu, v0, T = 9.81, 0.4, 2.0, 0.3
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, -g))
    scene.add_plane(friction=1.0)
    scene.add_box((0.1, 0.1, 0.1), mass=1.0, pos=(0, 0, 0.1 - sink), vel=(v0, 0, 0),
                  friction=mu * mu)
    model = scene.build(contact=contact)
    steps = int(round(T / model.opt_dt))

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1, 0] = 1.0
        return traj.pos[-1, 1, 0], {"pos": cot}
    value, grad = sc.value_and_grad(model, model.initial_state(), steps, loss,
                                    params=("friction",))
    assert value == pytest.approx(v0 * T - 0.5 * mu * g * T ** 2, rel=0.01)
    assert grad.vel[1, 0] == pytest.approx(T, rel=0.01)
    # pair mu = sqrt(mu_plane mu_box) = mu: d mu / d mu_box = mu / (2 mu_box)
    dx_dmu = grad.params["friction"][1] / (mu / (2 * mu * mu))
    assert dx_dmu == pytest.approx(-0.5 * g * T ** 2, rel=0.02)


def test_ballistic_flight_closed_form():
    scene = sc.Scene(dt=1e-2)
    scene.add_sphere(0.1, pos=(0, 0, 5.0), vel=(1, 2, 3))
    model = scene.build(contact=sc.PenaltyContact())
    steps = 50

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 0] = 1.0
        return traj.pos[-1, 0].sum(), {"pos": cot}
    u = np.zeros((steps, 1, 6))
    _, grad = sc.value_and_grad(model, model.initial_state(), steps, loss, controls=u,
                                params=("mass",))
    h = model.opt_dt
    assert np.allclose(grad.vel[0], steps * h, rtol=1e-12)
    assert np.allclose(grad.pos[0], 1.0, rtol=1e-12)
    # a force at step t moves x(T) by h^2 (T - t) / m per unit
    assert np.allclose(grad.controls[:, 0, 0], h * h * (steps - np.arange(steps)), rtol=1e-12)
    assert grad.params["mass"][0] == 0.0  # no force: the mass does not matter


@pytest.mark.parametrize("kink", ["mean", "left", "right"])
def test_touching_exactly_is_finite_and_kinks_average(kink):
    # a sphere resting with exactly zero gap, linear spring (p = 1): the force has a kink there
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e4, damping=0.0))

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1, 2] = 1.0
        return traj.pos[-1, 1, 2], {"pos": cot}
    grads = {}
    for kk in ("mean", "left", "right"):
        grads[kk] = sc.value_and_grad(model, model.initial_state(), 1, loss, kink=kk)[1]
    g = grads[kink].pos[1, 2]
    assert np.isfinite(g)
    # one step: z1 = z0 + h^2 k (-gap)_+ / m: slope 1 - h^2 k on the penetrating (left) side
    h, k = model.opt_dt, model.pen_stiffness
    assert grads["left"].pos[1, 2] == pytest.approx(1 - h * h * k)
    assert grads["right"].pos[1, 2] == pytest.approx(1.0)
    assert grads["mean"].pos[1, 2] == pytest.approx(1 - 0.5 * h * h * k)


def test_inputs_not_mutated_and_errors():
    model = _mixed_scene().build(contact=sc.PenaltyContact())
    state = model.initial_state()
    before = {k: getattr(state, k).copy() for k in ("pos", "quat", "vel", "ang_vel")}
    loss = _linear_loss(5, model.nbody)
    u = np.ones((5, model.nbody, 6))
    u0 = u.copy()
    sc.value_and_grad(model, state, 5, loss, controls=u)
    assert all(np.array_equal(getattr(state, k), v) for k, v in before.items())
    assert np.array_equal(u, u0)
    with pytest.raises(ValueError, match="unknown parameter"):
        sc.value_and_grad(model, state, 5, loss, params=("density",))
    with pytest.raises(ValueError, match="kink"):
        sc.value_and_grad(model, state, 5, loss, kink="middle")
    with pytest.raises(ValueError, match="shape"):
        sc.value_and_grad(model, state, 5, lambda tr: (0.0, {"pos": np.zeros((5, 2, 3))}))
    with pytest.raises(ValueError, match="unknown keys"):
        sc.value_and_grad(model, state, 5, lambda tr: (0.0, {"position": 0}))
    with pytest.raises(TypeError, match="pair"):
        sc.value_and_grad(model, state, 5, lambda tr: 0.0)
    with pytest.raises(ValueError, match="does not belong"):
        sc.value_and_grad(model, state, 5, loss, params=("kappa",))
    # an impact split at its time of impact is refused, not differentiated wrongly
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(restitution=0.5)
    scene.add_sphere(0.1, pos=(0, 0, 0.2), vel=(0, 0, -1))
    hard = scene.build(contact=sc.HardContact())
    with pytest.raises(NotImplementedError, match="time of impact"):
        sc.value_and_grad(hard, hard.initial_state(), 200, _linear_loss(200, 2))


def test_box_box_contact_is_refused_not_wrong():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1))
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.3))
    model = scene.build(contact=sc.PenaltyContact())
    with pytest.raises(NotImplementedError, match="box-box"):
        sc.value_and_grad(model, model.initial_state(), 3, _linear_loss(3, model.nbody))
