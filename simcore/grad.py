"""Reverse-mode gradients of a rollout's loss: ``value_and_grad`` (DESIGN.md sections 4 and 5).

The forward rollout tapes the state at the start of every substep, and the contact solver's
warm-start memory (PenaltyContact: also the body pairs that bore a force); the reverse sweep
(kernels/step.py: reverse_kernel) re-runs each substep's collision and contact solve from its
tape (HardContact's resting solve warm-started from its own solution, so it starts converged;
SmoothedContact's and PenaltyContact's exactly as the forward ran them, PenaltyContact's
narrow phase on those pairs only) and applies every kernel's vjp, carrying the state's
cotangent from the last step to the first. Orientation cotangents travel as world-frame
twists and are turned into quaternion cotangents (tangent to the unit sphere) only at the end.
"""
import dataclasses
import warnings

import numpy as np

from simcore.kernels import consts
from simcore.kernels.models import KIND
from simcore.kernels.rotation import twist_to_quat_bar
from simcore.kernels.step import reverse_kernel
from simcore.model import Trajectory, make_adjoint, make_data
from simcore.params import PARAMS, check_applies
from simcore.rollout import (_Progress, check_controls, check_model, check_state, check_steps,
                             compile_notice, forward, real_array)

AMPLIFICATION_WARN = 1e5  # Gradient.amplification above which value_and_grad warns

KINKS = {"mean": consts.KINK_MEAN, "left": consts.KINK_LEFT, "right": consts.KINK_RIGHT}


_COT_KEYS = {"pos": 3, "quat": 4, "vel": 3, "ang_vel": 3}


@dataclasses.dataclass
class Gradient:
    """Gradient of a loss with respect to the rollout's inputs.

    Attributes:
        pos, vel, ang_vel: (n, 3) with respect to the initial state.
        quat: (n, 4) with respect to the initial quaternions, for perturbations that keep them
            unit (its component along each quaternion is zero).
        controls: (steps, n, 6) with respect to each step's controls (also when the rollout ran
            with ``controls=None``, i.e. at zero force and held kinematic velocities).
        params: name -> gradient: (n,) per body for "mass", "friction", "restitution",
            "torsional_friction", "rolling_friction"; a float
            for a contact model's scalar ("stiffness", "damping", "kappa").
        min_margin: the smallest distance to a contact mode switch over the rollout, in m/s
            (Trajectory.contact_margin): the gradient holds for input changes that keep every
            contact's mode; near zero it was taken at (or next to) a non-smooth point.
        min_margin_at: (step, (a, b)) where that margin occurred (step -1 without contacts).
        mode_switches: (M, 5) the mode switches the rollout crossed (Trajectory.mode_switches:
            step, a, b, from mode, to mode, indices into Trajectory.MODES).
        solver_failures: the steps whose contact solve did not converge (the rollout warns):
            the implicit derivative there is taken at unconverged impulses and can be wrong.
        amplification: the largest growth of the state's cotangent over any window of steps
            (steps.adjoint_norm, the velocities' part over the rollout's duration), and
            amplification_window (first, last) those steps. Above AMPLIFICATION_WARN (1e5)
            value_and_grad warns: the gradient is then the exact derivative of an
            ill-conditioned step map (a stiff fixed spring holding a box that stuck: 3.5e5 to
            1.8e23, its dx/dv0 wrong by 20x to 3e13x), which says little about the physics.
            The same box under the time-constant form: 1.3, dx/dv0 within 0.5%; the scenes of
            tests/test_grad.py: 141 to 6.7e4, but the fixed spring on its stacked pile, 1.2e9
            (python benchmarks/gradient_health.py).
    """
    pos: np.ndarray
    quat: np.ndarray
    vel: np.ndarray
    ang_vel: np.ndarray
    controls: np.ndarray
    params: dict
    min_margin: float = np.inf
    min_margin_at: tuple = (-1, None)
    mode_switches: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros((0, 5), dtype=np.int64))
    solver_failures: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))
    amplification: float = 1.0
    amplification_window: tuple = (0, -1)


def _check_params(model, params):
    if isinstance(params, str):
        params = (params,)
    names = tuple(params)
    for name in names:
        check_applies(name, model)
    return names


def _check_value(value):
    """The loss's value as a float: a finite real number (a 0-d or one-element real array
    counts), else ValueError / TypeError naming it."""
    if isinstance(value, (bool, np.bool_)) or not (
            isinstance(value, (int, float, np.integer, np.floating))
            or (isinstance(value, np.ndarray) and value.size == 1
                and (np.issubdtype(value.dtype, np.integer)
                     or np.issubdtype(value.dtype, np.floating)))):
        raise TypeError(f"loss must return (value, cotangent) with the value a real number, "
                        f"got {value!r}")
    value = float(np.asarray(value).reshape(()))
    if not np.isfinite(value):
        raise ValueError(f"loss value must be finite, got {value}")
    return value


def _check_cotangent(cot, steps, n):
    """The loss's cotangent as a dict of (steps+1, n, k) float64 arrays (zeros where absent)."""
    if isinstance(cot, Trajectory):
        cot = {k: getattr(cot, k) for k in _COT_KEYS}
    if not isinstance(cot, dict):
        raise TypeError(f"loss must return (value, cotangent) with the cotangent a Trajectory or "
                        f"a dict, got {type(cot).__name__}")
    unknown = set(cot) - set(_COT_KEYS)
    if unknown:
        raise ValueError(f"loss cotangent has unknown keys {sorted(unknown)}; "
                         f"allowed: {sorted(_COT_KEYS)}")
    out = {}
    for key, k in _COT_KEYS.items():
        if cot.get(key) is None:
            out[key] = np.zeros((steps + 1, n, k))
            continue
        arr = np.asarray(real_array(f"loss cotangent {key!r}", cot[key]), dtype=np.float64)
        if arr.shape != (steps + 1, n, k):
            raise ValueError(f"loss cotangent {key!r} must have shape {(steps + 1, n, k)}, "
                             f"got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"loss cotangent {key!r} is not finite")
        out[key] = np.ascontiguousarray(arr)
    return out


def health_message(amplification, window):
    """What value_and_grad warns when the state's cotangent grew by ``amplification`` (more
    than AMPLIFICATION_WARN) over the steps ``window``."""
    return (f"value_and_grad: the state's cotangent grew by {amplification:.3g} over steps "
            f"{window[0]}..{window[1]}: this gradient is the exact derivative of an "
            f"ill-conditioned step map there (a stiff spring holding a body that stuck, a "
            f"chaotic pile), which reflects the discretisation more than the physics. Check it "
            f"against differences of several step sizes (sc.gradcheck) before trusting it")


def value_and_grad(model, state, steps, loss, controls=None, params=(), kink="mean",
                   progress=None, warn=True):
    """The loss of a rollout and its gradient by the adjoint (reverse) method.

    Args:
        model, state, steps, controls: as for ``rollout``.
        loss: ``loss(traj) -> (value, cotangent)``: the cotangent holds dL/d(traj arrays), as a
            Trajectory or a dict with any of "pos", "quat", "vel", "ang_vel", each shaped like
            the trajectory's array (a missing key means zero).
        params: names of the parameters to differentiate: "mass", "friction", "restitution",
            "torsional_friction", "rolling_friction" (per body), and the contact model's own
            scalars (PenaltyContact: "stiffness", "damping", "time_constant", "damping_ratio";
            SmoothedContact: "kappa").
        kink: derivative taken at an exact non-smooth point (a clamp at its bound, touching at
            exactly zero gap, equal restitutions): "mean" of the one-sided derivatives (agrees
            with central differences), "left" or "right".
        progress: as for ``rollout`` (the reverse sweep shows its own bar).
        warn: whether to warn when ``Gradient.amplification`` exceeds ``AMPLIFICATION_WARN``
            (``Problem`` warns once for all its evaluations instead).

    Returns:
        (value, Gradient).

    Raises:
        SimulationError: as for ``rollout``.
        FloatingPointError: the gradient became non-finite, or a rotation step has none.
    """
    check_model(model)
    steps = check_steps(steps, model, gradient=True)
    state = check_state(model, state)
    ctrl = check_controls(model, state, steps, controls)
    names = _check_params(model, params)
    if kink not in KINKS:
        raise ValueError(f"kink must be one of {sorted(KINKS)}, got {kink!r}")
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}")
    n = model.nbody
    traj, tape, ncon_max, npair_max = forward(model, state, steps, ctrl, progress, tape=True)
    out = loss(traj)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("loss must return a pair (value, cotangent)")
    value, cot = out
    value = _check_value(value)
    cot = _check_cotangent(cot, steps, n)

    data = make_data(model, state, ncon_max, npair_max)
    adj = make_adjoint(n, ncon_max)
    ctrl_bar = np.zeros((steps, n, 6))
    gain = np.ones(steps)
    chunk = max(1, min(steps, 200_000 // max(n, 1)))
    bar = _Progress(steps, progress, label="gradient")
    kind = KIND[model.opt_contact]
    compiling = compile_notice(progress, reverse_kernel, kind, "gradient kernels")
    t = steps
    while t > 0:
        t0 = max(0, t - chunk)
        status, t_fail = reverse_kernel(kind, model, data, adj, ctrl, tape, traj.quat,
                                        cot["pos"], cot["quat"], cot["vel"], cot["ang_vel"],
                                        KINKS[kink], ctrl_bar, gain, t0, t)
        if status != consts.STATUS_OK:
            bar.close()
            raise_reverse_status("value_and_grad", "the gradient", status, t_fail)
        if compiling:
            compiling = False
            bar.restart(steps - t0)
        bar.update(steps - t0)
        t = t0
    bar.close()

    grad_vel = adj.vel_bar.copy()
    grad_ang_vel = adj.ang_vel_bar.copy()
    if controls is None:  # kinematic bodies held the state's velocity as their control
        kin = model.body_kind == consts.BODY_KINEMATIC
        grad_vel[kin] += ctrl_bar[:, kin, :3].sum(axis=0)
        grad_ang_vel[kin] += ctrl_bar[:, kin, 3:].sum(axis=0)
    dyn = model.body_kind == consts.BODY_DYNAMIC
    param_grads = {}
    for name in names:
        if name == "mass":
            g = np.zeros(n)
            m = model.body_mass[dyn]
            # inverse mass 1/m and the inertia, which scales with m at a fixed shape
            g[dyn] = (-adj.invmass_bar[dyn] / m ** 2
                      + np.sum(adj.inertia_bar[dyn] * model.body_inertia[dyn], axis=1) / m)
            param_grads[name] = g
        elif PARAMS[name].per_body:  # accumulated as Adjoint.<name>_bar
            param_grads[name] = getattr(adj, name + "_bar").copy()
        else:
            param_grads[name] = float(adj.scalar_bar[PARAMS[name].slot])
    grad_quat = np.empty((n, 4))
    for i in range(n):
        twist_to_quat_bar(state.quat[i], adj.th_bar[i], grad_quat[i])
    amplification, window = _amplification(gain)
    if warn and amplification > AMPLIFICATION_WARN:
        warnings.warn(health_message(amplification, window), RuntimeWarning, stacklevel=2)
    margin, step, bodies = traj.smallest_margin()
    grad = Gradient(pos=adj.pos_bar.copy(), quat=grad_quat,
                    vel=grad_vel, ang_vel=grad_ang_vel, controls=ctrl_bar, params=param_grads,
                    min_margin=margin, min_margin_at=(step, bodies),
                    mode_switches=traj.mode_switches(),
                    solver_failures=np.flatnonzero(traj.solver_failures),
                    amplification=amplification, amplification_window=window)
    return value, grad


def raise_reverse_status(caller, what, status, step):
    """The error for a reverse kernel's failed status at ``step`` (``what`` became non-finite:
    "the gradient", "the Jacobian")."""
    if status == consts.STATUS_NONFINITE:
        raise FloatingPointError(f"{caller}: {what} became non-finite at step {step}")
    if status == consts.STATUS_ROTATION:
        raise FloatingPointError(
            f"{caller}: the rotation step of step {step} has no derivative (its implicit "
            f"Jacobian is singular, a fold of the step at that spin)")
    # the re-run needed more room than the forward's
    raise RuntimeError(f"{caller}: the re-run of step {step} did not fit the rollout's "
                       f"capacities (status {status}); this is a bug, please report it")


def _amplification(gain):
    # (the largest product of consecutive gains, (first, last) step of that window): Kadane's
    # maximum subarray on the logarithms
    best, window = 1.0, (0, -1)
    run, start = 0.0, 0
    for t, g in enumerate(np.log(np.maximum(gain, 1e-300))):
        if run <= 0.0:
            run, start = 0.0, t
        run += g
        if run > np.log(best):
            best, window = float(np.exp(run)), (start, t)
    return best, window
