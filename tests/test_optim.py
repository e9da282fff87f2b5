"""Problem: the flat-vector view of rollout inputs for scipy.optimize."""
import numpy as np
import pytest
from scipy.optimize import minimize

import simcore as sc


def _scene():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    scene.add_sphere(0.1, pos=(0, 0, 0.5), vel=(1, 0, -0.2), friction=0.5)
    # resting on its four lower corners: 4 k pen^1.5 = m g
    scene.add_box((0.1, 0.1, 0.1), pos=(1.0, 0, 0.1 - (2 * 9.81 / 4e5) ** (2 / 3)), friction=0.5,
                  mass=2.0)
    return scene.build(contact=sc.PenaltyContact(stiffness=1e5, damping=1.0, friction_smoothing=0.5,
                                                   exponent=1.5))


def test_pack_unpack_round_trip_and_gradient_layout():
    model = _scene()
    steps = 300
    loss = sc.losses.final_distance(1, np.array([0.8, 0.1, 0.1]))
    prob = sc.Problem(model, model.initial_state(), steps, loss,
                      variables=("vel", "controls", "friction", "mass", "stiffness"))
    nb = 2  # the sphere and the box
    assert prob.x0.size == 3 * nb + steps * nb * 6 + nb + nb + 1 == len(prob.bounds)
    m2, s2, u2 = prob.unpack(prob.x0)
    assert np.array_equal(s2.vel, model.init_vel) and np.array_equal(u2, 0 * u2)
    assert np.array_equal(m2.body_mass, model.body_mass)
    value, g = prob(prob.x0)
    v_ref, g_ref = sc.value_and_grad(model, model.initial_state(), steps, loss,
                                     params=("friction", "mass", "stiffness"))
    assert value == v_ref
    assert np.array_equal(g[:6], g_ref.vel[1:].ravel())
    assert np.array_equal(g[6:6 + steps * 12], g_ref.controls[:, 1:].ravel())
    assert np.array_equal(g[-5:], np.concatenate([g_ref.params["friction"][1:],
                                                  g_ref.params["mass"][1:],
                                                  [g_ref.params["stiffness"]]]))
    # every entry of the flat gradient against a central difference of the flat function
    rng = np.random.default_rng(0)
    for j in rng.choice(prob.x0.size, 12, replace=False):
        e = 1e-6 * max(1.0, abs(prob.x0[j]))
        xp, xm = prob.x0.copy(), prob.x0.copy()
        xp[j] += e
        xm[j] -= e
        fd = (prob(xp)[0] - prob(xm)[0]) / (2 * e)
        assert fd == pytest.approx(g[j], rel=1e-5, abs=1e-8)


def test_minimize_throw_to_a_target():
    model = _scene()
    steps = 400
    # a reachable target: where a throw at another velocity ends, in the air after a bounce;
    # the final height peaks near vz = 0, so both throws are downward (one side of that ridge)
    other = model.initial_state()
    other.vel[1] = (1.2, 0.3, -0.5)
    ref = sc.rollout(model, other, steps)
    target = ref.pos[-1, 1]
    assert ref.pos[:, 1, 2].min() < 0.1 < target[2]
    prob = sc.Problem(model, model.initial_state(), steps, sc.losses.final_distance(1, target),
                      variables=("vel",), bodies=[1])
    res = minimize(prob, prob.x0, jac=True, method="L-BFGS-B", bounds=prob.bounds,
                   options={"gtol": 1e-12, "ftol": 1e-15})
    assert res.fun < 1e-10, res
    _, state, _ = prob.unpack(res.x)
    traj = sc.rollout(model, state, steps)
    assert np.linalg.norm(traj.pos[-1, 1] - target) < 1e-5


def test_bad_variables_and_values():
    model = _scene()
    loss = sc.losses.final_distance(1, np.zeros(3))
    with pytest.raises(ValueError, match="not a vector space"):
        sc.Problem(model, model.initial_state(), 5, loss, variables=("quat",))
    with pytest.raises(ValueError, match="dynamic"):
        sc.Problem(model, model.initial_state(), 5, loss, variables=("mass",), bodies=[0, 1])
    with pytest.raises(ValueError, match="body ids"):
        sc.Problem(model, model.initial_state(), 5, loss, variables=("vel",), bodies=[7])
    prob = sc.Problem(model, model.initial_state(), 5, loss, variables=("friction",))
    with pytest.raises(ValueError, match="bounds"):
        prob(-prob.x0)


def test_an_ill_conditioned_problem_warns_once():
    # the box sliding to rest on a fixed spring without damping (benchmarks/gradient_health.py):
    # every evaluation's gradient comes from an ill-conditioned map, and an optimiser evaluates
    # many times: one warning, and the count of evaluations
    import warnings
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1), vel=(3.0, 0, 0), friction=0.5)
    model = scene.build(contact=sc.PenaltyContact(stiffness=1e5, damping=0.0))

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1, 0] = 1.0
        return traj.pos[-1, 1, 0], {"pos": cot}
    prob = sc.Problem(model, model.initial_state(), 900, loss, variables=("vel",), bodies=[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for dv in (0.0, 0.01, 0.02):
            prob(prob.x0 + dv)
    assert [str(w.message).split(":")[0] for w in caught] == ["value_and_grad"]
    assert "this Problem warns once" in str(caught[0].message)
    assert prob.ill_conditioned == 3
