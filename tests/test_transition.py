"""sc.transition_jacobians: every step's Jacobians, checked against central differences of
single steps (away from mode switches) and chained against value_and_grad (every model,
random scenes too)."""
import dataclasses
import warnings

import numpy as np
import pytest

import simcore as sc
from scenarios.gradient_audit import random_scene
from simcore.kernels import consts
from simcore.kernels.rotation import quat_bar_to_twist, twist_to_quat_bar
from tests.helpers import load_benchmark

MODELS = {"hard": sc.HardContact, "penalty": sc.PenaltyContact,
          "smoothed": sc.SmoothedContact}


def _unit(q):
    q = np.asarray(q, dtype=float)
    return tuple(q / np.linalg.norm(q))


def mixed_scene(contact, dt=2e-3):
    """A spinning box falling onto the ground (unequal moments), a sphere sliding on it into a
    kinematic sphere moving the other way, a capsule falling onto the box."""
    s = sc.Scene(dt=dt)
    s.add_plane(friction=0.8, restitution=0.3)
    s.add_box((0.1, 0.06, 0.04), mass=1.0, pos=(0, 0, 0.2), quat=_unit((0.95, 0.2, 0.1, 0.2)),
              vel=(0.5, 0.2, -1.0), ang_vel=(1, 2, -3), friction=0.6, restitution=0.3)
    s.add_sphere(0.05, mass=0.3, pos=(0.4, 0, 0.05), vel=(-0.6, 0.1, 0), ang_vel=(0, 0, 1),
                 friction=0.5, restitution=0.3)
    s.add_capsule(0.04, 0.1, mass=0.5, pos=(0.05, 0.05, 0.45), quat=_unit((0.9, 0.0, 0.43, 0.1)),
                  vel=(0.1, 0, -0.5), ang_vel=(0.5, -1, 2), restitution=0.3)
    s.add_sphere(0.04, mass=1.0, pos=(0.15, 0.0, 0.04), vel=(0.3, 0, 0), kind="kinematic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (smoothed ignores restitution)
        return s.build(contact=contact)


def fd_step(model, state, ctrl, eps):
    """Central differences of one step in tangent coordinates: (A (12n, 12n), B (12n, 6n))."""
    n = model.nbody
    base = sc.rollout(model, state, 1, controls=ctrl[None]).state(1)

    def after(st, u):
        return sc.state_difference(model, sc.rollout(model, st, 1, controls=u[None]).state(1),
                                   base)
    A = np.zeros((12 * n, 12 * n))
    B = np.zeros((12 * n, 6 * n))
    for k in range(12 * n):
        if model.body_kind[k // 12] == consts.BODY_STATIC:
            continue
        dx = np.zeros(12 * n)
        dx[k] = eps
        A[:, k] = (after(sc.perturb_state(model, state, dx), ctrl)
                   - after(sc.perturb_state(model, state, -dx), ctrl)) / (2 * eps)
    for k in range(6 * n):
        if model.body_kind[k // 6] == consts.BODY_STATIC:
            continue
        du = np.zeros((n, 6))
        du.flat[k] = eps
        B[:, k] = (after(state, ctrl + du) - after(state, ctrl - du)) / (2 * eps)
    return A, B


def fd_step_richardson(model, state, ctrl, eps=1e-5):
    # central differences at eps and eps / 2 combined so that their eps^2 error cancels
    A1, B1 = fd_step(model, state, ctrl, eps)
    A2, B2 = fd_step(model, state, ctrl, eps / 2)
    return (4 * A2 - A1) / 3, (4 * B2 - B1) / 3


def rel_err(got, want, cols=slice(None)):
    return np.max(np.abs(got[:, cols] - want[:, cols])) / max(np.max(np.abs(want[:, cols])),
                                                               1e-300)


def controls_for(model, steps, seed=0):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(steps, model.nbody, 6)) * 0.2
    u[:, model.body_kind == consts.BODY_STATIC] = 0.0
    kin = model.body_kind == consts.BODY_KINEMATIC
    state = model.initial_state()
    u[:, kin, :3] = state.vel[kin]  # (a kinematic body's control is its velocity)
    u[:, kin, 3:] = state.ang_vel[kin]
    return u


def chained_gradient(model, J, W):
    """The adjoint of loss sum_t W . traj chained through J's Jacobians: (d/d state 0 as pos,
    quat, vel, ang_vel (n, k) arrays, d/d controls (steps, n, 6))."""
    n, T = model.nbody, J.A.shape[0]
    moving = model.body_kind != consts.BODY_STATIC

    def cot(t):
        c = np.zeros((n, 4, 3))
        c[:, 0], c[:, 2], c[:, 3] = W["pos"][t], W["vel"][t], W["ang_vel"][t]
        for i in range(n):
            quat_bar_to_twist(J.traj.quat[t, i], W["quat"][t, i], c[i, 1])
        c[~moving] = 0.0
        return c.reshape(-1)
    lam = cot(T)
    u_bar = np.zeros((T, n, 6))
    for t in range(T - 1, -1, -1):
        u_bar[t] = (J.B[t].T @ lam).reshape(n, 6)
        lam = J.A[t].T @ lam + cot(t)
    lam = lam.reshape(n, 4, 3)
    q_bar = np.zeros((n, 4))
    for i in np.flatnonzero(moving):
        twist_to_quat_bar(J.traj.quat[0, i], lam[i, 1].copy(), q_bar[i])
    return {"pos": lam[:, 0], "quat": q_bar, "vel": lam[:, 2], "ang_vel": lam[:, 3],
            "controls": u_bar}


def check_chain(model, state, steps, controls, seed=0, tol=1e-9, skip=()):
    J = sc.transition_jacobians(model, state, steps, controls=controls)
    rng = np.random.default_rng(seed)
    W = {k: rng.normal(size=getattr(J.traj, k).shape) for k in ("pos", "quat", "vel", "ang_vel")}

    def loss(traj):
        return sum(float(np.sum(W[k] * getattr(traj, k))) for k in W), W
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (amplification: compared exactly)
        _, g = sc.value_and_grad(model, state, steps, loss, controls=controls)
    chained = chained_gradient(model, J, W)
    moving = model.body_kind != consts.BODY_STATIC
    # (with controls=None a kinematic body's control is its held velocity: the chain's control
    # cotangent of step t then carries the later steps' too, value_and_grad's only step t's)
    driven = model.body_kind == consts.BODY_DYNAMIC if controls is None else moving
    errs = {}
    for key in ("pos", "quat", "vel", "ang_vel", "controls"):
        if key in skip:
            continue
        want, got = getattr(g, key), chained[key]
        want, got = (want[:, driven], got[:, driven]) if key == "controls" else \
            (want[moving], got[moving])
        errs[key] = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300)
    assert max(errs.values()) < tol, errs
    return J


@pytest.mark.parametrize("name", sorted(MODELS))
def test_chained_jacobians_equal_the_adjoint(name):
    model = mixed_scene(MODELS[name]())
    steps = 120
    J = check_chain(model, model.initial_state(), steps, controls_for(model, steps))
    assert J.A.shape == (steps, 12 * model.nbody, 12 * model.nbody)
    assert J.B.shape == (steps, 12 * model.nbody, 6 * model.nbody)
    assert np.all(J.A[:, :12] == 0.0) and np.all(J.A[:, :, :12] == 0.0)  # the plane
    assert np.all(J.B[:, :12] == 0.0) and np.all(J.B[:, :, :6] == 0.0)
    assert np.any(np.isfinite(J.step_margin))  # (the scene has contacts)


def _reach_over_cost(model, traj, per_body):
    """Per box-box pair of the first step's contacts: the rows estimated to reach it (per_body
    per body of its island) over 7 x its contacts, as step.collision_vjp weighs taking it
    through its Jacobian (_pair_jacobians)."""
    bodies = traj.contact_bodies[traj.contact_offsets[0]:traj.contact_offsets[1]]
    root = list(range(model.nbody))

    def find(i):
        while root[i] != i:
            i = root[i]
        return i
    dyn = model.body_kind == consts.BODY_DYNAMIC
    for a, b in bodies:
        if dyn[a] and dyn[b]:
            root[max(find(a), find(b))] = min(find(a), find(b))
    size = np.bincount([find(i) for i in np.flatnonzero(dyn)], minlength=model.nbody)
    pairs, counts = np.unique(bodies, axis=0, return_counts=True)
    return [per_body * size[find(a)] / (7 * n) for (a, b), n in zip(pairs, counts) if dyn[b]]


@pytest.mark.parametrize("name", ["penalty", "smoothed"])
def test_box_pairs_taken_through_their_jacobians_chain_to_the_adjoint(name):
    # a settled pile of 8 cubes (benchmarks/transition_cost.py's): its box-box pairs are
    # reached by more rows than their Jacobians cost, and collision_vjp takes them through
    # these, where value_and_grad takes each pair's vjp. (Under hard contact they are not, at
    # 8 cubes: step.PAIR_REACH_HARD.)
    model = load_benchmark().pile("box", 8).build(contact=MODELS[name]())
    state = sc.rollout(model, model.initial_state(), 300, progress=False).state(300)
    J = check_chain(model, state, 3, controls_for(model, 3), seed=2)
    assert max(_reach_over_cost(model, J.traj, 6)) > 1.0


def test_hard_box_pairs_from_their_kept_axis_tests_chain_to_the_adjoint():
    # under hard contact the rows take the 8-cube pile's box-box pairs through their vjps, each
    # from its separating-axis test run once per substep (step._box_sats), where value_and_grad
    # runs the test in each pair's vjp. One step from the settled pile: the chain equals the
    # adjoint in everything but the orientation, where the two differ by 7e-8 of its largest
    # entry on this resting pile (not explained yet; the mixed and random scenes above agree
    # there too)
    model = load_benchmark().pile("box", 8).build(contact=sc.HardContact())
    state = sc.rollout(model, model.initial_state(), 300, progress=False).state(300)
    check_chain(model, state, 1, controls_for(model, 1), seed=2, tol=1e-13, skip=("quat",))


def test_steps_of_several_substeps_chain_their_substeps():
    model = mixed_scene(sc.PenaltyContact(substeps=3))
    check_chain(model, model.initial_state(), 40, controls_for(model, 40), seed=5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_held_kinematic_velocity_is_a_column_of_A(name):
    # controls=None: the kinematic sphere's velocity is held, so its columns of A carry it
    model = mixed_scene(MODELS[name]())
    check_chain(model, model.initial_state(), 60, None, seed=1)


@pytest.mark.parametrize("seed", [3, 8, 11, 16])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_chained_jacobians_on_random_scenes(name, seed):
    scene, steps, controls = random_scene(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = scene.build(contact=MODELS[name]())
    check_chain(model, model.initial_state(), min(steps, 80),
                None if controls is None else controls[:min(steps, 80)], seed=seed)


def _switch_cases(name, kind, pile_tol):
    """Scenes for comparing transition_kernel's shortcuts with the rows carried back one by one:
    (model, state or None, steps, tolerance) for the mixed scene (a spinning box with unequal
    moments, spheres, a kinematic sphere, impacts), a random one, a settled pile of 8 spheres
    or cubes (kind) and, under PenaltyContact, the mixed scene in 3 substeps."""
    scene, steps, controls = random_scene(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        random_model = scene.build(contact=MODELS[name]())
    pile = load_benchmark().pile(kind, 8).build(contact=MODELS[name]())
    settled = sc.rollout(pile, pile.initial_state(), 300).state(300)
    cases = [(mixed_scene(MODELS[name]()), None, 60, 1e-15), (random_model, None, 60, 1e-15),
             (pile, settled, 5, pile_tol)]
    if name == "penalty":
        cases.append((mixed_scene(MODELS[name](substeps=3)), None, 30, 1e-15))
    return cases


def _switch_agrees(monkeypatch, switch, cases, seed):
    # transition_jacobians with the module's switch (a shortcut) on and off: the same A and B,
    # to each case's tolerance. Returns the runs with it on
    from simcore import transition
    runs = []
    for model, state, n, tol in cases:
        state = model.initial_state() if state is None else state
        u = controls_for(model, n, seed=seed)
        monkeypatch.setattr(transition, switch, True)
        on = sc.transition_jacobians(model, state, n, controls=u)
        monkeypatch.setattr(transition, switch, False)
        off = sc.transition_jacobians(model, state, n, controls=u)
        for got, want in ((on.A, off.A), (on.B, off.B)):
            assert np.max(np.abs(got - want)) <= tol * np.max(np.abs(want))
        runs.append((model, on))
    return runs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pose_rows_combined_from_velocity_rows_equal_the_rows_carried_back(name, monkeypatch):
    # transition_kernel combines the end-pose rows of a body with equal moments and no impact
    # from its velocity rows (the substep's vjp is linear); carrying every row back instead
    # gives the same Jacobians. On the resting pile of cubes the transposed solves are
    # iterative: equal to their tolerance
    _switch_agrees(monkeypatch, "DERIVE_POSE_ROWS", _switch_cases(name, "box", 1e-9), seed=4)


def _islands(model, traj, t):
    # the number of sets of moving bodies the contacts of step t join
    moving = np.flatnonzero(model.body_kind != consts.BODY_STATIC)
    parent = {int(i): int(i) for i in moving}

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i
    for a, b in traj.contact_bodies[traj.contact_offsets[t]:traj.contact_offsets[t + 1]]:
        if int(a) in parent and int(b) in parent:
            parent[root(int(a))] = root(int(b))
    return len({root(i) for i in parent})


@pytest.mark.parametrize("name", sorted(MODELS))
def test_rows_carried_back_together_equal_the_rows_carried_one_by_one(name, monkeypatch):
    # transition_kernel carries the rows of bodies that no contact of the step joins back in
    # one vjp (it is linear, and each row's result lies on its own bodies); one row per vjp
    # gives the same Jacobians. Every scene has several islands at its first step (in the
    # mixed one a kinematic sphere joins the bodies it touches; the settled pile of 8 spheres
    # has an island of 4 or 5 and lone spheres)
    runs = _switch_agrees(monkeypatch, "CARRY_TOGETHER", _switch_cases(name, "sphere", 1e-15),
                          seed=5)
    for model, J in runs:
        assert _islands(model, J.traj, 0) > 1  # (else nothing is carried together)


def throw_scene(contact):
    """Nothing rests: a spinning box (unequal moments) and a capsule thrown at each other in the
    air, a bouncy sphere dropped onto the ground."""
    s = sc.Scene(dt=2e-3)
    s.add_plane(friction=0.7, restitution=0.5)
    s.add_box((0.1, 0.06, 0.04), mass=1.0, pos=(0, 0, 0.6), quat=_unit((0.9, 0.3, 0.1, 0.2)),
              vel=(1.0, 0.1, 0.5), ang_vel=(2, -3, 4), friction=0.6, restitution=0.5)
    s.add_capsule(0.04, 0.1, mass=0.5, pos=(0.3, 0.02, 0.62), quat=_unit((0.8, 0.1, 0.5, 0.2)),
                  vel=(-1.0, 0, 0.5), ang_vel=(1, 0.5, -2), friction=0.4, restitution=0.5)
    s.add_sphere(0.05, mass=0.3, pos=(-0.5, 0, 0.3), vel=(0.2, 0, -2.0), ang_vel=(0, 3, 0),
                 friction=0.5, restitution=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return s.build(contact=contact)


FD_TOL = 1e-6  # relative to the largest entry of the matrix (the bound)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_single_steps_match_central_differences(name):
    # impacts (with time of impact), an airborne collision between spinning bodies, and free
    # flight, in every step whose contacts are at least 1e-3 m/s from a mode switch
    model = throw_scene(MODELS[name]())
    steps = 90
    u = controls_for(model, steps, seed=2)
    J = sc.transition_jacobians(model, model.initial_state(), steps, controls=u)
    checked = [t for t in range(steps) if J.traj.ncon[t] > 0 and J.step_margin[t] > 1e-3]
    checked += [0, steps - 1]
    worst = {}
    for t in checked:
        A, B = fd_step_richardson(model, J.traj.state(t), u[t], eps=1e-6)
        worst[t] = (rel_err(J.A[t], A), rel_err(J.B[t], B))
    print({t: f"{a:.1e} {b:.1e}" for t, (a, b) in worst.items()})
    assert len(checked) > 10
    assert max(max(w) for w in worst.values()) < FD_TOL, worst


def test_hard_contact_at_rest_velocity_columns_and_the_resting_kink():
    # a sphere sliding on the ground under HardContact rests at a gap within rounding of zero,
    # where the resting bias switches (penetration: beta phi / h; gap: phi / h): central
    # differences in its height straddle that kink and converge to neither side. The velocity
    # and control columns match them; the height column is the one-sided derivative of the
    # side the gap is on
    model = mixed_scene(sc.HardContact())
    steps = 60
    u = controls_for(model, steps, seed=3)
    J = sc.transition_jacobians(model, model.initial_state(), steps, controls=u)
    n = model.nbody
    vel_cols = np.array([12 * i + c for i in range(n) for c in range(6, 12)])
    for t in (10, 30, 50):
        A, B = fd_step_richardson(model, J.traj.state(t), u[t], eps=1e-6)
        assert rel_err(J.A[t], A, vel_cols) < FD_TOL and rel_err(J.B[t], B) < FD_TOL
    sphere, t = 2, 30
    assert list(J.traj.contacts(t)[0][0]) == [sphere, 0]  # (resting on the ground)
    state = J.traj.state(t)
    base = sc.rollout(model, state, 1, controls=u[t][None]).state(1)
    row, col, eps = 12 * sphere + 8, 12 * sphere + 2, 1e-7  # d vz+ / d z
    sides = []
    for sgn in (1, -1):
        dx = np.zeros(12 * n)
        dx[col] = sgn * eps
        after = sc.rollout(model, sc.perturb_state(model, state, dx), 1, controls=u[t][None])
        sides.append(sc.state_difference(model, after.state(1), base)[row] / (sgn * eps))
    h, beta = model.opt_dt, model.hard_baumgarte
    assert sorted(sides) == pytest.approx([-1 / h, -beta / h], rel=1e-4)  # (one-sided)
    central = 0.5 * (sides[0] + sides[1])
    assert abs(J.A[t, row, col] - central) > 0.3 / h
    assert min(abs(J.A[t, row, col] - s) / abs(s) for s in (-1 / h, -beta / h)) < 1e-6


def test_perturb_state_and_state_difference_invert_each_other():
    model = mixed_scene(sc.HardContact())
    state = model.initial_state()
    rng = np.random.default_rng(4)
    dx = rng.normal(size=12 * model.nbody) * 0.3
    dx[:12] = 0.0  # (the plane is static: its coordinates stay zero)
    moved = sc.perturb_state(model, state, dx)
    assert np.allclose(np.linalg.norm(moved.quat, axis=1), 1.0)
    assert np.allclose(sc.state_difference(model, moved, state), dx, atol=1e-12)
    # exp(dtheta / 2) q: a quarter turn about world z applied to the identity
    dz = np.zeros(12 * model.nbody)
    dz[12 + 5] = np.pi / 2
    q = sc.perturb_state(model, dataclasses.replace(state, quat=np.tile([1.0, 0, 0, 0],
                                                                          (model.nbody, 1))),
                         dz).quat[1]
    assert np.allclose(q, [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    with pytest.raises(ValueError, match="dx must have shape"):
        sc.perturb_state(model, state, np.zeros(5))


def test_transition_jacobians_refuses_bad_input():
    model = mixed_scene(sc.HardContact())
    state = model.initial_state()
    with pytest.raises(ValueError, match="kink"):
        sc.transition_jacobians(model, state, 3, kink="middle")
    with pytest.raises(ValueError, match="controls"):
        sc.transition_jacobians(model, state, 3, controls=np.zeros((2, model.nbody, 6)))
    with pytest.raises(ValueError, match="GiB"):
        sc.transition_jacobians(model, state, 10 ** 6)
