"""value_and_grad: whole-rollout adjoint gradients against central differences and closed forms."""
import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import simcore as sc
from simcore.kernels import step
from simcore.kernels.collision import collide
from simcore.kernels.contact_space import apply_contact_impulse
from simcore.kernels.consts import (BODY_DYNAMIC, CONTACT_HARD, CONTACT_PENALTY, CONTACT_SMOOTHED,
                                    GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE, MAXCON_PAIR)
from simcore.kernels.rotation import quat_integrate
from simcore.losses import final
from simcore.model import make_data
from tests import kernel_entries
from tests.helpers import quat_to_matrix

# the mixed scene's contacts make the loss strongly curved (second derivatives ~1e6 times the
# first): central differences need steps this small to reach 1e-6
EPS = (1e-5, 1e-6, 1e-7, 1e-8)
# the per-body parameters' steps, half a decade apart (EPS among them): a decade apart, no step
# fits every entry. In the mixed scene under PenaltyContact(damping_ratio=0.3), d loss / d
# friction of the first sphere (1.83962479 by the adjoint) has central differences
# 1.83962191 at 1e-4 (truncation, falling as the step squared), 1.83962479 at 3e-5 and
# 1.83962738 at 1e-5 (the loss's rounding amplified by the rollout, growing as 1 / step)
PARAM_EPS = tuple(1e-4 * 10 ** (-k / 2) for k in range(9))


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


# the worst relative error _close passed, per case ("scene-model") or test, for the summary that
# tests/conftest.py prints after the run (tests marked xfail are left out)
WORST = {}
_LABEL = [None]


@pytest.fixture(autouse=True)
def _worst_label(request):
    xfail = request.node.get_closest_marker("xfail") is not None
    case = request.node.callspec.params.get("case") if hasattr(request.node, "callspec") else None
    _LABEL[0] = None if xfail else ("-".join(case) if case else request.node.originalname)
    yield
    _LABEL[0] = None


def _close(adjoint, fds, rtol, scale, ratio=10.0):
    # the best of the sweep: central differences converge as eps^2 until rounding takes over,
    # so with steps a factor r apart Richardson's (r^2 D(e / r) - D(e)) / (r^2 - 1) cancels that
    # term (steps half a decade apart: also the pairs a decade apart)
    cands = [fds]
    for lag in (1, 2) if ratio < 10.0 else (1,):
        r2 = ratio ** (2 * lag)
        cands.append((r2 * fds[lag:] - fds[:-lag]) / (r2 - 1.0))
    cands = np.concatenate(cands)
    # relative to the entry, or to `scale` (a tenth of the largest entry of the same gradient)
    # when the entry is smaller: differences of a large loss carry rounding of its size
    err = np.min(np.abs(cands - adjoint)) / max(abs(adjoint), scale)
    assert err < rtol, f"adjoint {adjoint} vs central differences {fds} (rel. error {err:.2e})"
    if _LABEL[0] is not None:
        worst, n = WORST.get(_LABEL[0], (0.0, 0))
        WORST[_LABEL[0]] = (max(worst, err), n + 1)
    return err


def _rtol(model):
    # the bar: 1e-6 relative, 1e-5 for HardContact, whose solves (rounding-level
    # residuals of a larger, stiffer system) leave differences noisier
    return 1e-5 if model.opt_contact == CONTACT_HARD else 1e-6


def _mixed_scene(kinematic=False):
    scene = sc.Scene(dt=1e-3)
    # (restitution acts in HardContact and PenaltyContact's time-constant form only)
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
# HardContact is piecewise smooth: the differences below check it away from its mode switches
# (with toi=False the map is exact but jumps across impact timing: see the closed forms)
MODELS = {
    "penalty": (lambda: sc.PenaltyContact(stiffness=2e4, damping=0.5, exponent=1.5),
                (("stiffness", "pen_stiffness"), ("damping", "pen_damping"))),
    # the time-constant form: damping from restitution (the default), and a ratio of its own
    "penalty-tc": (lambda: sc.PenaltyContact(), (("time_constant", "pen_time_constant"),)),
    "penalty-ratio": (lambda: sc.PenaltyContact(time_constant=4e-3, damping_ratio=0.3),
                      (("time_constant", "pen_time_constant"),
                       ("damping_ratio", "pen_damping_ratio"))),
    "smoothed": (lambda: sc.SmoothedContact(kappa=1e-6), (("kappa", "smooth_kappa"),)),
    "hard": (lambda: sc.HardContact(), ()),
    "hard-notoi": (lambda: sc.HardContact(toi=False), ()),
}


def _quat(rotvec):
    # the unit quaternion (w, x, y, z) of Exp(rotvec)
    a = np.linalg.norm(rotvec)
    if a == 0.0:
        return np.array([1.0, 0.0, 0.0, 0.0])
    return np.concatenate([[np.cos(a / 2)], np.sin(a / 2) / a * np.asarray(rotvec)])


def _stacked_scene():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.6)
    # box-box: a small box landing, sliding and turning on a flat box that lands on the ground
    scene.add_box((0.15, 0.12, 0.04), mass=3.0, pos=(0.0, 0.0, 0.0405),
                  quat=_quat([0.01, -0.008, 0.2]), vel=(0.05, 0.0, -0.05), friction=0.7,
                  restitution=0.1)
    scene.add_box((0.06, 0.05, 0.03), mass=0.8, pos=(0.02, 0.01, 0.113),
                  quat=_quat([0.012, 0.01, 0.7]), vel=(0.3, 0.1, -0.2), ang_vel=(0, 0, 1.0),
                  friction=0.5, restitution=0.2)
    # capsule-capsule: one lying on the ground along x, one leaning across it (axis about
    # (0, cos 0.5, sin 0.5)) with its lower end on the ground
    scene.add_capsule(0.04, 0.15, mass=0.6, pos=(0.6, 0.0, 0.0405),
                      quat=_quat([0.01, np.pi / 2, 0.0]), vel=(0.0, 0.1, -0.05), friction=0.8,
                      restitution=0.1)
    scene.add_capsule(0.03, 0.12, mass=0.3, pos=(0.62, -0.0591, 0.0883),
                      quat=_quat([-(np.pi / 2 - 0.5), 0.0, 0.05]), vel=(0.05, 0.0, -0.02),
                      ang_vel=(0.3, 0, 0.2), friction=0.6, restitution=0.2)
    # a capsule landing nearly flat (yawed) on a box landing on the ground: a line contact
    scene.add_box((0.2, 0.1, 0.05), mass=2.0, pos=(-0.6, 0.0, 0.0505),
                  quat=_quat([0.005, 0.006, -0.1]), vel=(0, 0, -0.05), friction=0.6)
    lying = Rotation.from_rotvec([0, 0, 0.3]) * Rotation.from_rotvec([0, np.pi / 2 + 0.01, 0])
    scene.add_capsule(0.04, 0.1, mass=0.5, pos=(-0.58, 0.01, 0.1407),
                      quat=_quat(lying.as_rotvec()), vel=(0.2, 0.05, -0.05), ang_vel=(0, 0, 0.8),
                      friction=0.7, restitution=0.1)
    return scene


def _lift(k, p=0.3, h=1e-3, g=9.81):
    # released at rest this far above its resting pose, a body closes its contact in step k, p of
    # the way into that step's fall: semi-implicit Euler falls D_k = g h^2 k (k + 1) / 2 in k
    # steps, so the step before keeps p (k + 1) g h of separation speed as margin and the landing
    # takes (1 - p) (k + 1) g h, both far from zero
    return g * h * h * (k * (k + 1) / 2 + p * (k + 1))


def _stacked_hard_scene():
    """Box on box, capsules on a box and crossed capsules, for HardContact: every contact stays
    clearly separated, sticking or sliding over the whole rollout (smallest margin 6.6e-3 m/s).

    Each body lands by a vertical translation on supports that have landed already (``_lift``),
    so no landing needs more friction than the cone gives and none leaves a body turning about
    a contact. Left out, because HardContact cannot be checked there: a box stopping on a face
    (its four corners switch together, leaving slips of ~1e-11 m/s); a box spinning while it
    slides on a face (the 1e-9 regularization sets how its weight splits over four coplanar
    corners, and with spin the friction torque depends on that split: central differences
    scatter by 1e-4 at step 1e-6); impacts on resting bodies (the struck body's resting contacts
    go weakly active); and a body sliding or turning about a contact in the step it lands there,
    as a stick landing on a box edge does: resting contacts sit at gaps of ~-1e-14 m, on the
    switch of the resting bias from phi / h to beta phi / h at phi = 0, and such motion gives
    that gap a first-order change, a kink the margins do not show.
    """
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.8)
    z = np.array([0.0, 0.0, 1.0])

    def q(rot):  # (w, x, y, z) of a scipy Rotation
        return _quat(rot.as_rotvec())

    def along(u, side):  # the rotation taking body z to u and body x to side (perpendicular)
        return Rotation.align_vectors([u, side], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])[0]

    # box-box: a tray sliding along its x on the ground (pair friction 0.2) with a block released
    # at rest on its centre line: the block slides backwards on the tray, the tray forwards, to
    # the end (slips above 0.2 m/s); all friction acts on the tray's centre line, so nothing spins.
    # The tray's deceleration depends on the block's weight: the masses matter
    yaw = Rotation.from_rotvec([0.0, 0.0, 0.25])
    at = np.array([-0.4, 0.0, 0.0])
    scene.add_box((0.2, 0.12, 0.04), mass=1.0, pos=at + yaw.apply([0, 0, 0.04]) + _lift(2) * z,
                  quat=q(yaw), vel=yaw.apply([1.2, 0, 0]), friction=0.05)
    scene.add_box((0.05, 0.04, 0.03), mass=1.0, pos=at + yaw.apply([0.06, 0, 0.11]) + _lift(3) * z,
                  quat=q(yaw * Rotation.from_rotvec([0, 0, 0.5])), friction=0.05)
    # box-capsule, capsule-capsule: a log lying on a slab, and a stick leaning across it
    # (perpendicular in plan, 15 degrees up) with its foot on the slab. The stick lands on both at
    # once (the log rolls a little to let it) and everything sticks from then on
    yaw = Rotation.from_rotvec([0.0, 0.0, -0.4])
    at = np.array([0.45, 0.1, 0.0])
    scene.add_box((0.25, 0.25, 0.04), mass=4.0, pos=at + yaw.apply([0, 0, 0.04]) + _lift(2) * z,
                  quat=q(yaw), friction=0.8)
    phi, th = np.radians(12), np.radians(15)
    axis = np.array([np.cos(phi), np.sin(phi), 0.0])  # the log's, in the slab's frame
    side = np.array([-np.sin(phi), np.cos(phi), 0.0])
    log = np.array([0.0, -0.1, 0.12])
    # (exactly parallel to the slab, the log would land on an exact tie of the box-capsule
    # contact, which the collision adjoint takes by convention: 1e-8 rad off instead)
    scene.add_capsule(0.04, 0.15, mass=1.5, pos=at + yaw.apply(log) + _lift(3) * z,
                      quat=q(yaw * Rotation.from_rotvec(1e-8 * side) * along(axis, z)),
                      friction=0.6)
    u = np.cos(th) * -side + np.sin(th) * z
    cross = log + 0.06 * (np.sin(th) * side + np.cos(th) * z)  # on the stick's axis
    foot = cross + (0.1 - cross[2]) / np.sin(th) * u  # the foot cap's centre, 0.02 over the slab
    scene.add_capsule(0.02, 0.18, mass=0.3, pos=at + yaw.apply(foot + 0.18 * u) + _lift(4) * z,
                      quat=q(yaw * along(u, axis)), friction=1.0)
    # a spinning capsule bouncing once on the ground after 0.13 s (0.45 m/s of separation margin
    # the step before; e u = 0.5 m/s, five times the restitution threshold), in the air to the end
    scene.add_capsule(0.025, 0.05, mass=0.2,
                      pos=(0.0, -0.45, 0.05 * np.cos(0.3) + 0.025 + _lift(129, 0.5)),
                      quat=_quat([0.3, 0.0, 0.0]), ang_vel=(0.5, -0.3, 2.0), friction=0.7,
                      restitution=0.4)
    # a capsule rolling on the ground (sticking, needing no friction)
    scene.add_capsule(0.03, 0.08, mass=0.5, pos=(0.0, 0.45, 0.03 + _lift(2)),
                      quat=_quat([0.0, np.pi / 2, 0.0]), vel=(0.0, 0.4, 0.0),
                      ang_vel=(-0.4 / 0.03, 0.0, 0.0), friction=0.8)
    return scene


# scene -> (builder, steps, the pairs that push in it)
SCENES = {
    "mixed": (_mixed_scene, 250, {(GEOM_SPHERE, GEOM_PLANE), (GEOM_CAPSULE, GEOM_PLANE),
                                  (GEOM_BOX, GEOM_PLANE), (GEOM_SPHERE, GEOM_SPHERE),
                                  (GEOM_CAPSULE, GEOM_SPHERE), (GEOM_BOX, GEOM_SPHERE)}),
    "stacked": (_stacked_scene, 200, {(GEOM_CAPSULE, GEOM_PLANE), (GEOM_BOX, GEOM_PLANE),
                                      (GEOM_CAPSULE, GEOM_CAPSULE), (GEOM_BOX, GEOM_CAPSULE),
                                      (GEOM_BOX, GEOM_BOX)}),
    "stacked_hard": (_stacked_hard_scene, 200, {(GEOM_CAPSULE, GEOM_PLANE), (GEOM_BOX, GEOM_PLANE),
                                                (GEOM_CAPSULE, GEOM_CAPSULE),
                                                (GEOM_BOX, GEOM_CAPSULE), (GEOM_BOX, GEOM_BOX)}),
}
# the models each scene is checked for (all unless listed): "stacked_hard" stands in for
# "stacked" where HardContact cannot be checked there
SCENE_MODELS = {"stacked_hard": ("hard", "hard-notoi")}


# measured failures of the stacked scene: HardContact's rollout passes within 7e-12 m/s of a
# mode switch, where boxes settle on four coplanar corners (the small box coming to rest on the
# flat box leaves two corners sliding at 7e-12 m/s in step 34, the box under the capsule one at
# 1e-11 m/s in step 15), and its boxes turn while they slide on faces; central differences do not
# converge there (gradcheck's sweep scatters by 1e-2 at step 1e-5 and by 100% at 1e-8; every
# solve converges to rounding since the non-monotone Newton polish). A box stopping on a face
# switches all its corners at once, so these stay xfail: "stacked_hard" checks HardContact on
# the same pairs away from switches
_STACKED_XFAIL = {
    "hard": "HardContact: the stacked rollout passes within 7e-12 m/s of a mode switch",
    "hard-notoi": "HardContact: the stacked rollout passes within 7e-12 m/s of a mode switch",
}


def _pose_eps(case):
    # SmoothedContact's stacked scene lands its boxes on the ground with curvature so large that
    # central differences in their initial poses still move by 1e-4 between steps 1e-7 and 1e-8;
    # below that they converge as eps^2 onto the adjoint (measured: the box under the capsule's
    # height 3.1e-3, 2.8e-4, 2.9e-6, 2.3e-7 relative at 1e-7 ... 1e-10), and rounding stays
    # small there (loss ~73, gradients ~1e5)
    if case[0] == "stacked" and case[1].opt_contact == CONTACT_SMOOTHED:
        return (1e-7, 1e-8, 1e-9, 1e-10)
    return EPS


def _case_params():
    out = []
    for s in SCENES:
        for m in sorted(SCENE_MODELS.get(s, MODELS)):
            marks = ([pytest.mark.xfail(reason=_STACKED_XFAIL[m], strict=False)]
                     if s == "stacked" and m in _STACKED_XFAIL else [])
            out.append(pytest.param((s, m), id=f"{s}-{m}", marks=marks))
    return out


@pytest.fixture(scope="module", params=_case_params())
def case(request):
    """Each scene for each differentiable contact model (SCENE_MODELS): "mixed", spheres, a box
    and a capsule on a plane and on each other; "stacked", box on box, crossed capsules and a
    capsule on a box, on a plane; "stacked_hard", the same pairs clear of mode switches."""
    scene_name, model_name = request.param
    contact, scalars = MODELS[model_name]
    build, steps, _ = SCENES[scene_name]
    model = build().build(contact=contact())
    loss = _linear_loss(steps, model.nbody)
    state = model.initial_state()
    value, grad = sc.value_and_grad(model, state, steps, loss,
                                    params=("mass", "friction", "restitution")
                                    + tuple(name for name, _ in scalars))
    traj = sc.rollout(model, state, steps)
    assert traj.solver_failures.sum() == 0
    return scene_name, model, state, steps, loss, value, grad, traj, scalars


def test_scenes_cover_every_pair(case):
    # the rollout checks below cover every pair only if each one pushes: penalty contact when
    # it penetrates, hard and smoothed contact (which keep gaps open) when it touches within
    # 0.1 mm. Between them the scenes have every pair
    scene_name, model, state, steps, loss, value, grad, traj, scalars = case
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
    assert pen == SCENES[scene_name][2]
    assert len(set().union(*(p for _, _, p in SCENES.values()))) == 9
    # away from contact mode switches, so that central differences see one smooth branch
    assert traj.smallest_margin()[0] > 1e-5


@pytest.mark.parametrize("name", ["pos", "vel", "ang_vel"])
def test_initial_state_gradient(case, name):
    scene_name, model, state, steps, loss, value, grad, traj, scalars = case
    _check_state_gradient(model, state, steps, loss, grad, name, range(1, model.nbody),
                          _pose_eps(case) if name == "pos" else EPS, _small_scale(case))


def _small_scale(case):
    # an entry smaller than this fraction of its gradient's largest is compared relative to
    # that: differences of a large loss carry rounding of its size. SmoothedContact's stacked
    # scene: every entry against the largest (~40 to 80). Its differences in the initial
    # velocities settle (steps 1e-5 and 1e-6 agree to 1e-6) up to 2e-5 away from the adjoint
    # for entries of 0.08 to 1.2 after 150 steps and more, the same before and after the
    # rotation step changed: its smoothed solves stop at relative residuals of 1e-14, which the
    # scene's stiff, badly conditioned solves amplify in the implicit derivative (Known limits)
    if case[0] == "stacked" and case[1].opt_contact == CONTACT_SMOOTHED:
        return 1.0
    return 0.1


def _check_state_gradient(model, state, steps, loss, grad, name, bodies, eps=EPS, small=0.1,
                          controls=None):
    # grad.<name> of the given bodies (pos, vel or ang_vel) against central differences
    for i in bodies:
        for k in range(3):
            def f(e):
                arr = getattr(state, name).copy()
                arr[i, k] += e
                return loss(sc.rollout(model, dataclasses.replace(state, **{name: arr}),
                                       steps, controls=controls))[0]
            _close(getattr(grad, name)[i, k], _central(f, eps), _rtol(model),
                   small * np.abs(getattr(grad, name)).max())


def _check_per_body_gradient(model, state, steps, loss, grad, name, field):
    # grad.params[name] of every body against central differences in the Model field
    g = grad.params[name]
    for i in range(model.nbody):
        def f(e):
            arr = getattr(model, field).copy()
            arr[i] += e
            return loss(sc.rollout(model._replace(**{field: arr}), state, steps))[0]
        _close(g[i], _central(f, PARAM_EPS), _rtol(model), 0.1 * np.abs(g).max(),
               ratio=np.sqrt(10.0))


def _hard_step(model, state, nlog_max=64):
    # HardContact's solves of one step from state (d after hard_contacts); the phase record's size
    d = make_data(model, state, 64, 64)
    d = d._replace(log_con=d.log_con[:nlog_max], log_phase=d.log_phase[:nlog_max],
                   log_lam=d.log_lam[:nlog_max])
    step.update_xmat(model, d)
    step.free_velocities(model, d, np.zeros((model.nbody, 6)), model.opt_dt)
    step.collision(model, d)
    geometry = d.con_normal[:d.ncon[0]].copy()
    kernel_entries.hard_contacts(model, d, model.opt_dt)
    return d, geometry


def test_initial_orientation_gradient(case):
    scene_name, model, state, steps, loss, value, grad, traj, scalars = case
    rtol = _rtol(model)
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
            _close(grad.quat[i] @ dq, _central(f, _pose_eps(case)), rtol,
                   0.1 * np.abs(grad.quat).max())
    # the quaternion gradient has no part along the (unit) quaternion
    assert np.allclose(np.sum(grad.quat * state.quat, axis=1), 0, atol=1e-9)


def test_controls_gradient(case):
    scene_name, model, state, steps, loss, value, grad, traj, scalars = case
    rtol = _rtol(model)
    rng = np.random.default_rng(3)
    for _ in range(8):
        t, i, k = rng.integers(steps), rng.integers(1, model.nbody), rng.integers(6)

        def f(e):
            u = np.zeros((steps, model.nbody, 6))
            u[t, i, k] = e
            return loss(sc.rollout(model, state, steps, controls=u))[0]
        _close(grad.controls[t, i, k], _central(f), rtol, 0.1 * np.abs(grad.controls[t]).max())
    assert np.all(grad.controls[:, 0] == 0)  # the plane


def test_parameter_gradients(case):
    scene_name, model, state, steps, loss, value, grad, traj, scalars = case
    rtol = _rtol(model)

    def run(mod):
        return loss(sc.rollout(mod, state, steps))[0]

    _check_per_body_gradient(model, state, steps, loss, grad, "friction", "body_friction")
    for i in range(1, model.nbody):
        def f(e):
            s = (model.body_mass[i] + e) / model.body_mass[i]
            mass, inertia = model.body_mass.copy(), model.body_inertia.copy()
            mass[i] *= s
            inertia[i] *= s
            return run(model._replace(body_mass=mass, body_invmass=1 / mass,
                                      body_inertia=inertia,
                                      body_invinertia=1 / inertia))
        _close(grad.params["mass"][i], _central(f), rtol, 0.1 * np.abs(grad.params["mass"]).max())
    assert grad.params["mass"][0] == 0.0
    if model.opt_contact == CONTACT_HARD or (
            model.opt_contact == CONTACT_PENALTY
            and model.pen_time_constant > 0 > model.pen_damping_ratio):
        _check_per_body_gradient(model, state, steps, loss, grad, "restitution",
                                 "body_restitution")
        assert np.any(grad.params["restitution"] != 0.0)
    else:  # the fixed spring, a damping ratio of its own and smoothed contact ignore it
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


def test_gradient_through_a_large_island_solved_by_newton_through_the_bodies():
    # four cubes sliding together 1 mm apart: their speculative side contacts make one island
    # of 34 to 37 contacts, above polish_max_contacts=8, so its solves end with Newton through
    # the bodies (hard_solver._polish_large_island): the adjoint at that solution against
    # central differences (1e-8 relative measured)
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    for i in range(2):
        for j in range(2):
            scene.add_box((0.05, 0.05, 0.05), pos=(0.101 * i, 0.101 * j, 0.055),
                          vel=(1.0, 0.3, 0.0), friction=0.5)
    model = scene.build(contact=sc.HardContact(polish_max_contacts=8))
    state, steps = model.initial_state(), 100
    traj = sc.rollout(model, state, steps)
    assert traj.ncon.min() > 8 and traj.solver_residual.max() < 1e-13
    assert traj.smallest_margin()[0] > 1e-5
    loss = _linear_loss(steps, model.nbody, seed=3)
    _, grad = sc.value_and_grad(model, state, steps, loss)
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, state, steps, loss, grad, name, (1, 4))


def test_hard_regularization_moves_with_the_geometry():
    # eps_k = regularization tr(A_kk) / 3 depends on the contact's lever arms, the bodies'
    # orientations and masses. A soft contact (regularization 1e-2) makes that visible: a ball
    # sliding across a box that rests on its face, so the contact's lever arm on the box moves
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    scene.add_box((0.3, 0.2, 0.05), mass=2.0, pos=(0, 0, 0.05), friction=0.5)
    scene.add_sphere(0.05, mass=0.5, pos=(-0.1, 0.02, 0.15), vel=(1.0, 0.2, 0),
                     ang_vel=(0, 0, 2.0), friction=0.3)
    model = scene.build(contact=sc.HardContact(regularization=1e-2))
    steps = 100
    loss = _linear_loss(steps, model.nbody, seed=3)
    state = model.initial_state()
    _, grad = sc.value_and_grad(model, state, steps, loss)
    traj = sc.rollout(model, state, steps)
    assert traj.ncon.min() == 5 and traj.solver_failures.sum() == 0
    for name, k in (("vel", 0), ("vel", 1), ("ang_vel", 2)):
        def f(e):
            arr = getattr(state, name).copy()
            arr[2, k] += e
            return loss(sc.rollout(model, dataclasses.replace(state, **{name: arr}), steps))[0]
        # measured errors 8.9e-10, 8.6e-10, 2.3e-9; without eps's dependence 4.5e-8, 1.0e-6
        _close(getattr(grad, name)[2, k], _central(f), 1e-8, 0.0)


@pytest.mark.parametrize("contact, sink", [
    (sc.PenaltyContact(stiffness=1e6, damping=10.0, substeps=4, friction_smoothing=1e-3),
     9.81 / 4e6),
    (sc.HardContact(), 0.0),
    (sc.HardContact(polish_max_contacts=0), 0.0),  # adjoint solve through the bodies
    (sc.SmoothedContact(kappa=1e-8), 0.0),
    (sc.SmoothedContact(kappa=1e-8, polish_max_contacts=0), 0.0),  # Newton through the bodies
], ids=["penalty", "hard", "hard-bodies", "smoothed", "smoothed-bodies"])
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

    loss = final(1, "pos", 0)
    value, grad = sc.value_and_grad(model, model.initial_state(), steps, loss,
                                    params=("friction",))
    assert value == pytest.approx(v0 * T - 0.5 * mu * g * T ** 2, rel=0.01)
    assert grad.vel[1, 0] == pytest.approx(T, rel=0.01)
    # pair mu = sqrt(mu_plane mu_box) = mu: d mu / d mu_box = mu / (2 mu_box)
    dx_dmu = grad.params["friction"][1] / (mu / (2 * mu * mu))
    assert dx_dmu == pytest.approx(-0.5 * g * T ** 2, rel=0.02)


@pytest.mark.parametrize("contact, sink", [
    (sc.PenaltyContact(stiffness=1e6, damping=10.0, substeps=4, friction_smoothing=1e-3),
     9.81 / 1e6),
    (sc.HardContact(), 0.0),
    (sc.SmoothedContact(kappa=1e-8), 0.0),
], ids=["penalty", "hard", "smoothed"])
def test_sphere_rolling_out_of_a_slide_closed_form(contact, sink):
    # a sphere launched sliding (v0, no spin) rolls from t_s = 2 v0 / (7 mu g) at 5 v0 / 7:
    # x(T) = 5 v0 T / 7 + 2 v0^2 / (49 mu g), across the slide -> roll switch
    g, mu, v0, T, r = 9.81, 0.3, 2.0, 0.4, 0.1
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, -g))
    scene.add_plane(friction=1.0)
    scene.add_sphere(r, mass=1.0, pos=(0, 0, r - sink), vel=(v0, 0, 0), friction=mu * mu)
    model = scene.build(contact=contact)
    steps = int(round(T / model.opt_dt))

    loss = final(1, "pos", 0)
    value, grad = sc.value_and_grad(model, model.initial_state(), steps, loss,
                                    params=("friction",))
    assert value == pytest.approx(5 * v0 * T / 7 + 2 * v0 ** 2 / (49 * mu * g), rel=0.01)
    assert grad.vel[1, 0] == pytest.approx(5 * T / 7 + 4 * v0 / (49 * mu * g), rel=0.01)
    dx_dmu = grad.params["friction"][1] / (mu / (2 * mu * mu))
    assert dx_dmu == pytest.approx(-2 * v0 ** 2 / (49 * mu ** 2 * g), rel=0.01)


def _drop_height_gradient(y0, toi, T=0.5, dt=1e-3):
    """Final height of an elastic ball dropped from y0 above the ground (bottom to ground),
    its adjoint derivative in y0 and central differences with steps 1e-7 and 0.1."""
    def build():
        scene = sc.Scene(dt=dt, gravity=(0, 0, -9.81))
        scene.add_plane(restitution=1.0)
        scene.add_sphere(0.1, pos=(0, 0, 0.1 + y0), restitution=1.0)
        return scene.build(contact=sc.HardContact(toi=toi))
    model = build()
    steps = int(round(T / dt))

    loss = final(1, "pos", 2)

    def height(e):
        state = model.initial_state()
        state.pos[1, 2] += e
        return sc.rollout(model, state, steps).pos[-1, 1, 2]
    _, grad = sc.value_and_grad(model, model.initial_state(), steps, loss)
    return grad.pos[1, 2], [(height(e) - height(-e)) / (2 * e) for e in (1e-7, 0.1)]


def test_elastic_drop_across_onset_closed_form_and_toi_false_is_wrong():
    # y(T) of an elastic ball dropped from y0 (impact at t* = sqrt(2 y0 / g)): y0 - g T^2 / 2
    # before onset (dy/dy0 = 1); after one bounce g t* (T - t*) - g (T - t*)^2 / 2, so
    # dy/dy0 = 2 T / t* - 3: at onset the final height turns from moving with the drop height
    # to moving against it
    g, T = 9.81, 0.5

    def bounced(y0):  # the closed form after one bounce
        ts = np.sqrt(2 * y0 / g)
        return g * ts * (T - ts) - 0.5 * g * (T - ts) ** 2
    plain_errors = []
    for y0 in (1.3, 1.2, 1.0, 0.8, 0.6, 0.5, 0.3):
        ts = np.sqrt(2 * y0 / g)
        exact = 1.0 if ts > T else 2 * T / ts - 3
        adj, (fd_small, fd_large) = _drop_height_gradient(y0, toi=True)
        assert adj == pytest.approx(exact, abs=0.01)      # O(h) from the discrete flight
        assert fd_small == pytest.approx(adj, abs=1e-6)    # the adjoint is the map's derivative
        adj_plain, (fd_plain, fd_plain_large) = _drop_height_gradient(y0, toi=False)
        if ts < T:
            # plain time stepping bounces where the step leaves the ball: locally the whole
            # path shifts with y0, so the map's derivative is 1, and so is a difference with a
            # step below the distance fallen in one time step: both wrong by O(1). (To 7e-9: the
            # regularization eps_k moves with the contact point's lever arm)
            assert adj_plain == pytest.approx(1.0, abs=1e-7)
            assert fd_plain == pytest.approx(1.0, abs=1e-6)
            plain_errors.append(abs(adj_plain - exact))
            # a difference over many steps' worth of fall sees the truth again (up to one
            # O(h v) jump of the plain map over the stencil), where the stencil stays after onset
            if y0 <= 0.8:
                fd_truth = (bounced(y0 + 0.1) - bounced(y0 - 0.1)) / 0.2
                assert fd_plain_large == pytest.approx(fd_truth, abs=0.05)
    # wrong by up to 2 just after onset (where the truth is -1), right only by chance where
    # 2 T / t* - 3 happens to be near 1
    assert max(plain_errors) > 1.9


@pytest.mark.parametrize("x2", [0.35, 0.3537], ids=["impact-on-a-step-boundary", "mid-step"])
def test_two_balls_head_on_exchange(x2):
    # equal elastic balls, one at rest: velocities and positions exchange, so the Jacobian of
    # the final (x1, x2, v1, v2) in the initial ones has only ones and zeros, and d x1(T) / d v2
    # = T (Zhong et al. 2022; Nimble's issue 97 reported 0.75, 0.25, 0.91, 0.08)
    T = 0.3
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_sphere(0.1, pos=(0, 0, 1), vel=(1, 0, 0), restitution=1.0, friction=0.0)
    scene.add_sphere(0.1, pos=(x2, 0, 1), restitution=1.0, friction=0.0)
    model = scene.build(contact=sc.HardContact())
    steps = int(round(T / model.opt_dt))
    jac = np.empty((4, 4))
    for row, (arr, i) in enumerate((("pos", 0), ("pos", 1), ("vel", 0), ("vel", 1))):
        _, grad = sc.value_and_grad(model, model.initial_state(), steps, final(i, arr, 0))
        jac[row] = grad.pos[0, 0], grad.pos[1, 0], grad.vel[0, 0], grad.vel[1, 0]
    exact = np.array([[0, 1, 0, T], [1, 0, T, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    assert np.allclose(jac, exact, atol=1e-6)


def test_oblique_two_balls_exit_direction():
    # a ball at 1 m/s strikes an equal one at rest with impact parameter b; elastic and
    # frictionless, the struck ball leaves along the line of centres at the impact, at
    # theta = asin(b / 2r): v2_y = cos(theta) sin(theta), d v2_y / db = cos(2 theta) /
    # (2 r cos(theta)). The normal must be taken at the time of impact: without toi it is not
    r = 0.1

    def exit_velocity_gradient(b, toi):
        scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
        scene.add_sphere(r, pos=(0, 0, 1), vel=(1, 0, 0), restitution=1.0, friction=0.0)
        scene.add_sphere(r, pos=(0.3537, b, 1), restitution=1.0, friction=0.0)
        model = scene.build(contact=sc.HardContact(toi=toi))

        loss = final(1, "vel", 1)
        value, grad = sc.value_and_grad(model, model.initial_state(), 300, loss)
        return value, grad.pos[1, 1]
    for b in (0.05, 0.1, 0.15):
        th = np.arcsin(b / (2 * r))
        exact = np.cos(2 * th) / (2 * r * np.cos(th))
        value, slope = exit_velocity_gradient(b, toi=True)
        assert value == pytest.approx(np.cos(th) * np.sin(th), rel=1e-3)
        assert slope == pytest.approx(exact, rel=0.01, abs=0.01)
        _, slope_plain = exit_velocity_gradient(b, toi=False)
        assert abs(slope_plain - exact) > 0.25


def _box_strikes_spinning_box(x0=-0.3, tilt=0.0, toi=True, flat=False):
    # no gravity: a small cube, yawed so that a vertical edge leads, moves at 1 m/s onto the face
    # of a cube spinning at 3 rad/s about z; the edge strikes with two corners (tilt: about the
    # cube's x, which lifts one of them), sliding up the face at 0.3 m/s, and the face's normal
    # turns 3 mrad per step. flat: boxes of three different sides instead, both spinning off
    # their principal axes (their free rotation turns their angular velocity)
    big, small = ((0.1, 0.08, 0.05), (0.06, 0.05, 0.03)) if flat else ((0.1,) * 3, (0.06,) * 3)
    spins = ((0.8, 0.5, 3.0), (0.3, -0.4, 0.5)) if flat else ((0.0, 0.0, 3.0), (0.0, 0.0, 0.5))
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_box(big, mass=1.0, quat=_quat([0.0, 0.0, 0.1]), ang_vel=spins[0], friction=0.1,
                  restitution=0.5)
    yaw = Rotation.from_rotvec([0.0, 0.0, np.pi / 4 + 0.1]) * Rotation.from_rotvec([tilt, 0, 0])
    scene.add_box(small, mass=0.5, pos=(x0, 0.02, -0.015), quat=_quat(yaw.as_rotvec()),
                  vel=(1.0, 0.0, 0.3), ang_vel=spins[1], friction=0.1, restitution=0.5)
    return scene.build(contact=sc.HardContact(toi=toi))


def _final_spins(x0s, **kw):
    # the largest entry of the difference between the final angular velocities of
    # _box_strikes_spinning_box at neighbouring start distances
    spins = []
    for x0 in x0s:
        model = _box_strikes_spinning_box(x0, **kw)
        spins.append(sc.rollout(model, model.initial_state(), 150).ang_vel[-1])
    return np.abs(np.diff(np.array(spins), axis=0)).max(axis=(1, 2))


@pytest.mark.xfail(strict=True, reason="flat boxes spinning off their principal axes: jumps of "
                   "about 5 times the neighbouring differences remain where an impact moves "
                   "to the previous step: the resting solve's speculative gap is first order, "
                   "without the corners' turn, and can close a gap that stays open with a "
                   "small plastic impulse (docs/known-limits.md)")
def test_flat_box_impact_is_continuous_in_the_start_distance():
    jump = _final_spins(np.linspace(-0.302, -0.300, 101), flat=True)
    assert jump.max() < 2 * np.median(jump), (jump.max(), np.median(jump))


def test_box_box_impact_takes_its_geometry_at_the_impact_time():
    # with toi, both contacts of the edge take the face's normal at the impact time, so the
    # outcome is continuous in the start distance while the impact moves through two steps
    # (measured: neighbouring final spins differ by at most 1.04 times their median
    # difference; without toi by 215 times it, where the impact changes step)
    for toi, smooth in ((True, True), (False, False)):
        jump = _final_spins(np.linspace(-0.302, -0.300, 101), toi=toi)
        assert (jump.max() < 2 * np.median(jump)) == smooth, (toi, jump.max(), np.median(jump))

    # the impact step refreshes the pair: its two contacts take the geometry at the earlier
    # corner's impact time, and the rollout's gradient agrees with central differences
    model = _box_strikes_spinning_box(x0=-0.3005, tilt=0.01)
    state = model.initial_state()
    steps = 150
    traj = sc.rollout(model, state, steps)
    t = next(t for t in range(steps) if "sliding" in traj.contacts(t)[1])
    d, start = _hard_step(model, dataclasses.replace(state, pos=traj.pos[t], quat=traj.quat[t],
                                                     vel=traj.vel[t], ang_vel=traj.ang_vel[t]))
    assert d.ncon[0] == 2 and list(d.con_phase[:2]) == [0, 0]
    src = int(np.argmin(d.con_toi[:2]))
    assert 0 < d.con_toi[src] < d.con_toi[1 - src] < model.opt_dt
    assert list(d.con_refresh_src[:2]) == [src, src]
    turn = np.arccos(np.clip(np.sum(start * d.con_normal[:2], axis=1), -1, 1))
    assert np.allclose(turn, 3.0 * d.con_toi[src], rtol=0.05)
    assert traj.smallest_margin()[0] > 1e-3
    loss = _linear_loss(steps, model.nbody)
    _, grad = sc.value_and_grad(model, state, steps, loss, params=("friction", "restitution"))
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, state, steps, loss, grad, name, range(model.nbody))
    for name in ("friction", "restitution"):
        _check_per_body_gradient(model, state, steps, loss, grad, name, "body_" + name)


def _edge_strikes_ground(dz=0.0, toi=True):
    # no gravity: a cube tilted 0.3 rad about x (and 0.02 about y, which lifts one corner of the
    # leading edge) falls at 1 m/s and moves at 0.3 m/s, spinning at 3 rad/s about z, onto the
    # ground, which it strikes with that edge after 20 ms (+ dz / (1 m/s))
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    scene.add_plane(friction=0.5, restitution=0.5)
    rot = Rotation.from_rotvec([0, 0, 0.3]) * Rotation.from_rotvec([0.3, 0.02, 0])
    scene.add_box((0.05, 0.05, 0.05), mass=0.5, pos=(0, 0, 0.0835 + dz),
                  quat=_quat(rot.as_rotvec()), vel=(0.3, 0.0, -1.0), ang_vel=(0.0, 0.0, 3.0),
                  friction=0.5, restitution=0.5)
    return scene.build(contact=sc.HardContact(toi=toi))


def test_edge_striking_the_ground_takes_its_geometry_at_the_impact_time():
    # with toi, a pair with a static body takes its geometry at its earliest impact time too,
    # so the outcome is close to continuous in the start height while the impact moves through
    # two steps (measured: neighbouring final spins differ by at most 5.6 times their median
    # difference; without toi by 368 times)
    for toi in (True, False):
        spins = []
        for dz in np.linspace(0.0, 0.002, 101):
            model = _edge_strikes_ground(dz, toi)
            spins.append(sc.rollout(model, model.initial_state(), 100).ang_vel[-1])
        jump = np.abs(np.diff(np.array(spins), axis=0)).max(axis=(1, 2))
        assert (jump.max() < 8 * np.median(jump)) == toi, (toi, jump.max(), np.median(jump))

    # the impact step refreshes the pair at the leading corner's impact time, where that
    # corner's gap is zero, and the rollout's gradient agrees with central differences
    model = _edge_strikes_ground(0.0005)
    state = model.initial_state()
    steps = 60
    traj = sc.rollout(model, state, steps)
    t = next(t for t in range(steps) if set(traj.contacts(t)[1]) - {"separated"})
    d, _ = _hard_step(model, dataclasses.replace(state, pos=traj.pos[t], quat=traj.quat[t],
                                                 vel=traj.vel[t], ang_vel=traj.ang_vel[t]))
    n = d.ncon[0]
    (src,) = np.flatnonzero(d.con_phase[:n] == 0)
    assert 0 < d.con_toi[src] < model.opt_dt
    assert np.all(d.con_refresh_src[:n] == src)
    assert abs(d.con_dist[src]) < 1e-12
    assert traj.smallest_margin()[0] > 0.1
    loss = _linear_loss(steps, model.nbody)
    _, grad = sc.value_and_grad(model, state, steps, loss, params=("friction", "restitution"))
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, state, steps, loss, grad, name, [1])
    for name in ("friction", "restitution"):
        _check_per_body_gradient(model, state, steps, loss, grad, name, "body_" + name)


@pytest.mark.parametrize("toi", [False, True], ids=["toi-off", "toi"])
def test_contact_in_several_impact_phases(toi):
    # a fast, partly elastic, slightly oblique cradle with small gaps: within the first step ball
    # 0 strikes ball 1, ball 1 strikes ball 2, and ball 0 (faster than the slowed ball 1) strikes
    # ball 1 again, so the contact (0, 1) takes part in impact phases 0 and 2. With toi it is
    # refreshed at its impact poses in phase 0, and keeps that impact time in phase 2
    scene = sc.Scene(dt=1e-3, gravity=(0, 0, 0))
    ball = dict(restitution=0.5, friction=0.05)
    scene.add_sphere(0.1, pos=(0, 0, 1), vel=(10.0, 0.4, 0), ang_vel=(0, 0, 5.0), **ball)
    scene.add_sphere(0.1, pos=(0.2004, 0.003, 1), **ball)
    scene.add_sphere(0.1, pos=(0.4007, 0.0, 1.002), **ball)
    model = scene.build(contact=sc.HardContact(toi=toi))
    state = model.initial_state()

    d, _ = _hard_step(model, state)
    n = d.nlog[0]
    assert list(zip(d.log_con[:n], d.log_phase[:n])) == [(0, 0), (1, 1), (0, 2)]
    assert (d.con_refresh_src[0] == 0) == toi and (d.con_toi[0] > 0) == toi
    # a record too small for the step says so (the rollout then grows it and repeats the step)
    assert _hard_step(model, state, nlog_max=2)[0].nlog[0] == -1

    steps = 3
    loss = _linear_loss(steps, model.nbody)
    _, grad = sc.value_and_grad(model, state, steps, loss, params=("friction", "restitution"))
    # (a C1 point nearby makes some of the differences converge only linearly in the step)
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, state, steps, loss, grad, name, range(model.nbody))
    for name in ("friction", "restitution"):
        assert np.any(grad.params[name] != 0.0)
        _check_per_body_gradient(model, state, steps, loss, grad, name, "body_" + name)


def _kinetic_energy(model, d, V, W):
    # the kinetic energy of velocities V, W at the start-of-step poses (the solves' metric)
    dyn = model.body_kind == BODY_DYNAMIC
    e = 0.5 * np.sum(model.body_mass[dyn] * np.sum(V[dyn] ** 2, axis=1))
    for i in np.flatnonzero(dyn):
        wb = d.xmat[i].T @ W[i]
        e += 0.5 * wb @ (model.body_inertia[i] * wb)
    return e


@pytest.mark.parametrize("toi", [False, True], ids=["toi-off", "toi"])
def test_impact_that_newton_would_make_gain_energy_is_capped_and_differentiated(toi):
    # a slender box, spinning, strikes the ground with one corner, restitution 0.9 and friction
    # 1 (Kane's paradox): Newton's impulse would add kinetic energy, so the impact takes the blend
    # of the plastic and Newton impulses that does no work (alpha < 1), and the adjoint follows
    # the cap: the blend fraction moves with the state
    q = np.array([-0.1888, 0.6318, 0.7332, 0.1665])
    scene = sc.Scene(dt=2e-3)
    scene.add_plane(friction=1.0, restitution=0.5)  # (the pair takes the larger, the box's)
    scene.add_box((0.02, 0.03, 0.15), mass=0.5, pos=(0, 0, 0.2), quat=q / np.linalg.norm(q),
                  vel=(0.8, -1.0, -2.0), ang_vel=(-4.6, -4.5, -5.0), friction=1.0,
                  restitution=0.9)
    model = scene.build(contact=sc.HardContact(toi=toi))
    steps = 12  # the impact is in the 13th step
    state = sc.rollout(model, model.initial_state(), steps).state(steps)
    d, _ = _hard_step(model, state)
    n = d.nlog[0]
    assert n > 0 and 0.9 < d.log_alpha[0] < 0.99 and np.all(d.log_alpha[:n] == d.log_alpha[0])
    if not toi:  # (with toi the phase acts on the velocity at the impact time)
        # Newton's impulse alone would add kinetic energy to the free velocities; the step's
        # impulses (the capped phase, then the resting solve) do not
        d0, _ = _hard_step(model, state)  # (its contacts' Jacobians, then the free velocities)
        step.free_velocities(model, d0, np.zeros((model.nbody, 6)), model.opt_dt)
        Vp, Wp = d0.vel_free, d0.ang_vel_free
        V0, W0, VN, WN = Vp.copy(), Wp.copy(), Vp.copy(), Wp.copy()
        lam0, lamN = np.zeros((d.ncon[0], 3)), np.zeros((d.ncon[0], 3))
        for e in range(n):
            lam0[d.log_con[e]], lamN[d.log_con[e]] = d.log_lam0[e], d.log_lam[e]
            apply_contact_impulse(d0, d.log_con[e], d.log_lam0[e], V0, W0)
            apply_contact_impulse(d0, d.log_con[e], d.log_lam[e], VN, WN)
        free = _kinetic_energy(model, d0, Vp, Wp)
        assert _kinetic_energy(model, d0, VN, WN) > free * (1 + 1e-4)
        assert _kinetic_energy(model, d, d.vel_free, d.ang_vel_free) <= free * (1 + 1e-12)
        # the distance to the cap's switch (Newton's work above the cap's, per unit of normal
        # impulse) is among the impact contact's margins
        sel = np.ascontiguousarray(d.log_con[:n])
        g0, c1, c2 = kernel_entries._blend_work(d0, sel, n, Vp, Wp, V0, W0, lam0, VN, WN, lamN)
        cap = (min(g0, 0.0) + c1 + c2) / lamN[sel, 0].sum()
        _, _, margin = sc.rollout(model, model.initial_state(), steps + 1).contacts(steps)
        assert 0.0 < margin[sel].min() <= cap * (1 + 1e-9) and cap < 0.1 * lamN[sel, 0].min() \
            * d.con_A[sel[0], 0, 0]

    steps = 20
    loss = _linear_loss(steps, model.nbody)
    start = model.initial_state()
    _, grad = sc.value_and_grad(model, start, steps, loss, params=("restitution",))
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, start, steps, loss, grad, name, [1])
    # a capped impact takes the Newton direction's zero-work point, which a higher restitution
    # moves along that direction only: the loss does not depend on it (Newton's would)
    e = model.body_restitution.copy()
    fd = [(loss(sc.rollout(model._replace(body_restitution=e + [0, eps]), start, steps))[0]
           - loss(sc.rollout(model._replace(body_restitution=e - [0, eps]), start, steps))[0])
          / (2 * eps) for eps in (1e-3, 1e-5)]
    assert np.all(np.abs(fd) < 1e-6) and np.all(np.abs(grad.params["restitution"]) < 1e-10)


def test_split_step_of_a_spinning_slender_box_is_differentiated():
    # a slender box spinning at h|w| ~ 0.03 under a torque strikes the ground with restitution
    # 0.8 (toi): before and after the impact time it turns by the rotation step from the
    # momentum it has there (dynamics.segment_rate); the gradients in the initial position and
    # velocities, and in the impact step's controls (the torque enters both parts), match
    # central differences
    q = np.array([0.9, 0.3, -0.2, 0.25])
    scene = sc.Scene(dt=2e-3)
    scene.add_plane(friction=0.3, restitution=0.2)
    scene.add_box((0.02, 0.03, 0.15), mass=0.5, pos=(0, 0, 0.2), quat=q / np.linalg.norm(q),
                  vel=(0.3, -0.2, -2.0), ang_vel=(8.0, -5.0, 12.0), friction=0.3,
                  restitution=0.8)
    model = scene.build(contact=sc.HardContact())
    steps, start = 30, model.initial_state()
    u = np.zeros((steps, 2, 6))
    u[:, 1, 3:] = (0.004, -0.002, 0.003)
    impacts = []
    for t in range(steps):  # the steps with an impact inside (at zero controls), and when
        d, _ = _hard_step(model, sc.rollout(model, start, t, controls=u[:t]).state(t))
        if d.body_toi[1] > 0.0:
            impacts.append((t, d.body_toi[1] / model.opt_dt))
    assert impacts and all(0.0 < f < 1.0 for _, f in impacts)
    loss = _linear_loss(steps, model.nbody, seed=4)
    _, grad = sc.value_and_grad(model, start, steps, loss, controls=u)
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, start, steps, loss, grad, name, [1], controls=u)
    t_hit = impacts[0][0]
    for k in range(3, 6):
        def f(e):
            v = u.copy()
            v[t_hit, 1, k] += e
            return loss(sc.rollout(model, start, steps, controls=v))[0]
        _close(grad.controls[t_hit, 1, k], _central(f), _rtol(model),
               0.1 * np.abs(grad.controls[t_hit]).max())


def _box_capsule_pile():
    # a random four-body scene of the gradient audit (two capsules and two boxes thrown onto the
    # ground): in its 96th step box 2 strikes the ground, then box 3 in a later impact phase
    scene = sc.Scene(dt=0.002)
    scene.add_plane(friction=0.28224076470841664, restitution=0.3413658876526312)
    scene.add_capsule(0.0959895243237327, 0.059332364675572014, mass=2.6353909734658316,
                      pos=(-0.24686413487513187, -0.15002361859177932, 0.25),
                      quat=(0.6351229086841129, -0.5773120733075285, -0.3138191621328818,
                            0.4060137859189149),
                      vel=(0.9149775847594432, 0.3070879233811008, 0.06921179446661974),
                      ang_vel=(0.20279831351197686, -2.7527408989229265, 0.21736032263310134),
                      friction=0.7038527250750071, restitution=0.053058631259760604)
    scene.add_box((0.1437607791728183, 0.08406181180736289, 0.13049646560279396),
                  mass=0.6374821276549987, pos=(0.17236154369244439, -0.1389946525909751, 0.55),
                  quat=(-0.2308192084513921, 0.9641461638332735, 0.12126575043996078,
                        0.049389123759068),
                  vel=(0.07651624629976461, 0.5275579563489379, -1.7058240186166014),
                  ang_vel=(-0.13586146373628072, 2.1996994815796134, -0.8702114920089246),
                  friction=0.8379331056428685, restitution=0.2726246064991882)
    scene.add_box((0.07923128144653172, 0.07222773371862037, 0.14215374886661258),
                  mass=1.3348776634639448, pos=(-0.1297348017182125, -0.04046638416096937, 0.85),
                  quat=(0.4092580971282756, -0.7467902773180856, -0.2235971416579494,
                        0.47414808855516305),
                  vel=(0.3632695222478526, 0.15512055934165536, -1.391441055288784),
                  ang_vel=(1.2680742551303075, 1.252973400271003, -0.4690590938523438),
                  friction=0.5675363665010927, restitution=0.10390163585162557)
    scene.add_capsule(0.0366920858962821, 0.10252197511408662, mass=1.9196312450137907,
                      pos=(-0.05078620501808295, 0.09210013254636024, 1.15),
                      quat=(-0.7440737618784659, -0.6316396710868734, -0.07824427360678964,
                            0.2031339371967179),
                      vel=(-0.9540476690105524, 0.853149321976649, -0.8469040095953835),
                      ang_vel=(-0.30814943068484535, -0.3197335628989011, -1.3452693524195736),
                      friction=0.8519007952089543, restitution=0.27171971001309014)
    return scene.build(contact=sc.HardContact())


def test_impact_time_of_a_later_phase_keeps_its_root_in_the_adjoint():
    # box 3's contacts with box 2 close in impact phase 1, after box 2's own impact: their impact
    # time is the root of the gap's parabola, which the adjoint once recomputed from velocities
    # taken back through the later phases' impulses; off in the last bits, the root no longer
    # equalled the impact time and its derivative was dropped (single-step position gradients
    # off by up to 30%, the whole rollout's by 2x)
    model = _box_capsule_pile()
    start = sc.rollout(model, model.initial_state(), 95).state(95)
    d, _ = _hard_step(model, start)
    n = d.nlog[0]
    assert list(d.log_phase[:n]) == [0, 1, 1, 2] and d.body_toi[3] > d.body_toi[2] > 0.0
    loss = _linear_loss(1, model.nbody)
    _, grad = sc.value_and_grad(model, start, 1, loss)
    for name in ("pos", "vel", "ang_vel"):
        _check_state_gradient(model, start, 1, loss, grad, name, [2, 3])
    steps = 110
    loss = _linear_loss(steps, model.nbody, seed=1)
    _, grad = sc.value_and_grad(model, model.initial_state(), steps, loss)
    _check_state_gradient(model, model.initial_state(), steps, loss, grad, "vel", [1, 2, 3])


def _level_capsule():
    # a capsule lying level lands on both ends at once: the two impact times are tied (up to
    # rounding), and the loss has a kink in anything that tilts it
    scene = sc.Scene(dt=2e-3)
    scene.add_plane(friction=0.6, restitution=0.2)
    scene.add_capsule(0.04, 0.12, mass=0.6, pos=(0, 0, 0.25), quat=(0.7071068, 0.7071068, 0, 0),
                      vel=(0.3, -0.2, 0), friction=0.5, restitution=0.1)
    model = scene.build(contact=sc.HardContact())
    w = np.array([0.3, -1.1, 0.7])

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1] = w
        return float(traj.pos[-1, 1] @ w), {"pos": cot}
    return model, loss


def test_simultaneous_impacts_follow_the_kink_convention():
    model, loss = _level_capsule()
    state, steps = model.initial_state(), 300

    def f(e):
        ang = state.ang_vel.copy()
        ang[1, 0] += e
        return loss(sc.rollout(model, dataclasses.replace(state, ang_vel=ang), steps))[0]
    f0 = f(0.0)
    fwd = [(f(e) - f0) / e for e in (1e-6, 1e-7)]
    bwd = [(f0 - f(-e)) / e for e in (1e-6, 1e-7)]
    # a kink: each side's differences converge, and the sides differ (measured: -0.006225 and
    # -0.005979)
    assert fwd[0] == pytest.approx(fwd[1], rel=1e-5) and bwd[0] == pytest.approx(bwd[1], rel=1e-5)
    assert abs(fwd[1] - bwd[1]) > 0.02 * abs(fwd[1])
    got = {kink: sc.value_and_grad(model, state, steps, loss, kink=kink)[1].ang_vel[1, 0]
           for kink in ("mean", "left", "right")}
    sides = sorted([fwd[1], bwd[1]])
    assert sorted([got["left"], got["right"]]) == pytest.approx(sides, rel=1e-5)
    assert got["mean"] == pytest.approx(0.5 * (fwd[1] + bwd[1]), rel=1e-5)


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

    loss = final(1, "pos", 2)
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
    # the loss's value: a finite real number (a one-element real array counts)
    zero = {"pos": np.zeros((6, model.nbody, 3))}
    for bad, err, words in ((np.nan, ValueError, "finite"), ("1.0", TypeError, "real number"),
                            (np.ones(3), TypeError, "real number"), (1j, TypeError, "real"),
                            (True, TypeError, "real number")):
        with pytest.raises(err, match=words):
            sc.value_and_grad(model, state, 5, lambda tr, v=bad: (v, zero))
    value, _ = sc.value_and_grad(model, state, 5, lambda tr: (np.array([2.5]), zero))
    assert type(value) is float and value == 2.5
    with pytest.raises(ValueError, match="real numbers"):
        sc.value_and_grad(model, state, 5, lambda tr: (0.0, {"pos": zero["pos"] + 0j}))


@pytest.mark.parametrize("contact", [sc.HardContact(), sc.SmoothedContact()],
                         ids=["hard", "smoothed"])
def test_deep_overlap_is_pushed_out_at_the_speed_limit_and_differentiated(contact):
    # a ball started 4.6 cm into the ground (and a box 3 cm into the ball): the penetration
    # bias is capped at depenetration_speed (1 m/s), so they come apart over steps, not
    # launched (at beta phi / h they would leave at 9 m/s, smoothed's phi / h at 46); the capped
    # bias and its slope are differentiated (checked against central differences). (From
    # exactly 5 cm, the ball rising 1 mm a step would meet the cap's kink, beta phi / h = -1
    # m/s, at a step: differences there take the mean of its two slopes)
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=0.5)
    scene.add_sphere(0.1, pos=(0, 0, 0.0537), friction=0.5)
    scene.add_box((0.1, 0.08, 0.05), pos=(0.02, 0.0, 0.17), quat=_quat([0.1, 0.05, 0.2]),
                  friction=0.5)
    model = scene.build(contact=contact)
    steps = 60
    traj = sc.rollout(model, model.initial_state(), steps)
    assert np.linalg.norm(traj.vel, axis=2).max() < 2.5  # ball 1 m/s, the box on it 2
    assert traj.pos[-1, 1, 2] > 0.099  # out of the ground
    loss = _linear_loss(steps, model.nbody, seed=3)
    state = model.initial_state()
    _, grad = sc.value_and_grad(model, state, steps, loss)
    _check_state_gradient(model, state, steps, loss, grad, "pos", (1, 2))
