"""Per-step derivatives of a rollout: ``transition_jacobians`` (for iLQR, DDP and MPC).

Each step's Jacobians are built row by row in reverse mode: a unit cotangent of one tangent
coordinate of the state after the step is carried back through that step by the same kernels as
``value_and_grad`` (kernels/step.py: transition_kernel, reverse_kernel's step), so they are
exact in the same sense: every kernel's own derivative, the contact solve's by the implicit
function theorem at its solution, the same time of impact and the same kink conventions.

The tangent coordinates of a state are, per body, 12 numbers in body order: position (3), the
orientation as a world-frame rotation vector (3: ``dtheta`` takes q to exp(dtheta / 2) q),
linear velocity (3) and angular velocity (3). ``perturb_state`` and ``state_difference`` move
between states and these coordinates.
"""
import dataclasses

import numpy as np

from simcore.kernels import consts
from simcore.kernels.models import KIND
from simcore.kernels.step import transition_kernel
from simcore.model import State, make_adjoint, make_data
from simcore.rollout import (MEMORY_SHARE, _physical_memory, _Progress, check_controls,
                             check_model, check_state, check_steps, compile_notice, forward,
                             real_array)
from simcore.grad import KINKS, raise_reverse_status

# in a step's last substep, a body whose end pose integrates its end velocities (equal moments,
# no impact) has its pose rows combined from its velocity rows (kernels/step.py,
# _derive_pose_rows), exactly up to rounding; False carries every row back (tests compare them)
DERIVE_POSE_ROWS = True
# the rows of bodies no contact of the step joins are carried back in one vjp (kernels/step.py,
# transition_kernel); False carries one row per vjp (tests compare them)
CARRY_TOGETHER = True


@dataclasses.dataclass
class TransitionJacobians:
    """The Jacobians of every step of a rollout, in tangent coordinates (module docstring).

    Attributes:
        A: (steps, 12n, 12n): A[t] maps a tangent perturbation of the state before step t to
            the state after it.
        B: (steps, 12n, 6n): B[t] maps a perturbation of step t's controls (force 3, torque 3
            per body, as ``rollout``'s controls) to the state after it. A rollout with
            ``controls=None`` is differentiated at zero force and, for kinematic bodies, at
            their held velocity: B is with respect to those controls, and A's velocity columns
            of a kinematic body include their effect (its velocity is held through the step).
        traj: the rollout (Trajectory) the Jacobians were taken along.
        step_margin: (steps,) the smallest distance to a contact mode switch in each step, in
            m/s (Trajectory.contact_margin; inf in a step without contacts): A[t] and B[t] hold
            for perturbations that keep every contact's mode; near zero they were taken at (or
            next to) a non-smooth point of the step, by the kink convention.
        min_margin, min_margin_at, mode_switches, solver_failures: as on ``Gradient``.
    """
    A: np.ndarray
    B: np.ndarray
    traj: object
    step_margin: np.ndarray
    min_margin: float = np.inf
    min_margin_at: tuple = (-1, None)
    mode_switches: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros((0, 5), dtype=np.int64))
    solver_failures: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, dtype=np.int64))


def transition_jacobians(model, state, steps, controls=None, kink="mean", progress=None):
    """Roll out ``steps`` steps and return every step's Jacobians (TransitionJacobians).

    Args:
        model, state, steps, controls, progress: as for ``rollout``.
        kink: as for ``value_and_grad``: the derivative taken at an exact non-smooth point
            ("mean", "left" or "right"). A body resting on the ground under HardContact sits
            next to one (its gap within rounding of zero, where the resting bias switches from
            beta phi / h to phi / h): A's columns of its height and tilt are the side its gap
            is on, where differences of the single step straddle the switch
            (docs/gradients.md, per-step Jacobians).

    Cost: per step, one re-run of each substep and, through it, 12 vjps per moving body of the
    step's largest contact island (bodies in different islands share their vjps; 6 per body in
    the last substep for a body with equal moments and no impact: its pose rows are combined
    from its velocity rows), the contact solves' factorizations shared by the rows (kernels/
    factors.py); memory: (steps, 12n, 18n) floats.

    Raises:
        SimulationError: as for ``rollout``.
        FloatingPointError: a Jacobian became non-finite, or a rotation step has none.
        ValueError: bad input, or A and B would not fit in memory.
    """
    check_model(model)
    steps = check_steps(steps, model, gradient=True)
    state = check_state(model, state)
    ctrl = check_controls(model, state, steps, controls)
    if kink not in KINKS:
        raise ValueError(f"kink must be one of {sorted(KINKS)}, got {kink!r}")
    n = model.nbody
    need = steps * 18 * (12 * n) * n * 8
    memory = _physical_memory()
    if memory is not None and need > MEMORY_SHARE * memory:
        raise ValueError(f"transition_jacobians: A and B of {steps} steps of {n} bodies would "
                         f"need {need / 2 ** 30:.3g} GiB, more than {MEMORY_SHARE:.0%} of this "
                         f"machine's {memory / 2 ** 30:.3g} GiB; take them in shorter pieces "
                         f"(from traj.state(t))")
    traj, tape, ncon_max, npair_max = forward(model, state, steps, ctrl, progress, tape=True)
    A = np.zeros((steps, 12 * n, 12 * n))
    B = np.zeros((steps, 12 * n, 6 * n))
    data = make_data(model, state, ncon_max, npair_max)
    adj = make_adjoint(n, ncon_max)
    ctrl_bar = np.zeros((n, 6))
    moving = max(1, int(np.sum(model.body_kind != consts.BODY_STATIC)))
    chunk = max(1, min(steps, 20_000 // (12 * moving * max(n, 1))))
    bar = _Progress(steps, progress, label="jacobians")
    kind = KIND[model.opt_contact]
    compiling = compile_notice(progress, transition_kernel, kind, "Jacobian kernels")
    t = 0
    while t < steps:
        t1 = min(steps, t + chunk)
        status, t_fail = transition_kernel(kind, model, data, adj, ctrl, tape, KINKS[kink],
                                           A[t:t1], B[t:t1], ctrl_bar, t, t1,
                                           DERIVE_POSE_ROWS, CARRY_TOGETHER)
        if status != consts.STATUS_OK:
            bar.close()
            raise_reverse_status("transition_jacobians", "the Jacobian", status, t_fail)
        if compiling:
            compiling = False
            bar.restart(t1)
        bar.update(t1)
        t = t1
    bar.close()
    if controls is None:  # a kinematic body's velocity is its held control
        for j in np.flatnonzero(model.body_kind == consts.BODY_KINEMATIC):
            A[:, :, 12 * j + 6:12 * j + 12] += B[:, :, 6 * j:6 * j + 6]
    step_margin = np.full(steps, np.inf)
    counts = np.diff(traj.contact_offsets)
    has = counts > 0
    if np.any(has):
        step_margin[has] = np.minimum.reduceat(traj.contact_margin,
                                               traj.contact_offsets[:-1][has])
    margin, at, bodies = traj.smallest_margin()
    return TransitionJacobians(A=A, B=B, traj=traj, step_margin=step_margin, min_margin=margin,
                               min_margin_at=(at, bodies), mode_switches=traj.mode_switches(),
                               solver_failures=np.flatnonzero(traj.solver_failures))


def _quat_mul(p, q):
    w1, v1 = p[..., :1], p[..., 1:]
    w2, v2 = q[..., :1], q[..., 1:]
    return np.concatenate([w1 * w2 - np.sum(v1 * v2, axis=-1, keepdims=True),
                           w1 * v2 + w2 * v1 + np.cross(v1, v2)], axis=-1)


def perturb_state(model, state, dx):
    """The State reached from ``state`` by the tangent vector ``dx`` (12n,): pos + dx_pos,
    exp(dtheta / 2) quat, vel + dx_vel, ang_vel + dx_ang_vel (static bodies stay put)."""
    n = model.nbody
    dx = np.asarray(real_array("dx", dx), dtype=np.float64)
    if dx.shape != (12 * n,):
        raise ValueError(f"dx must have shape (12 nbody,) = {(12 * n,)}, got {dx.shape}")
    d = dx.reshape(n, 4, 3).copy()
    d[model.body_kind == consts.BODY_STATIC] = 0.0
    half = 0.5 * d[:, 1]
    angle = np.linalg.norm(half, axis=1, keepdims=True)
    sinc = np.where(angle > 0.0, np.sin(angle) / np.where(angle > 0.0, angle, 1.0), 1.0)
    rot = np.concatenate([np.cos(angle), sinc * half], axis=1)
    return State(pos=state.pos + d[:, 0], quat=_quat_mul(rot, state.quat),
                 vel=state.vel + d[:, 2], ang_vel=state.ang_vel + d[:, 3])


def state_difference(model, state, base):
    """The tangent vector (12n,) that takes ``base`` to ``state`` (perturb_state's inverse: the
    rotation vector of quat * conj(base.quat), the shorter way round)."""
    conj = base.quat * np.array([1.0, -1.0, -1.0, -1.0])
    rel = _quat_mul(np.asarray(state.quat, dtype=np.float64), conj)
    rel *= np.where(rel[:, :1] < 0.0, -1.0, 1.0)
    s = np.linalg.norm(rel[:, 1:], axis=1, keepdims=True)
    angle = 2.0 * np.arctan2(s, rel[:, :1])
    theta = np.where(s > 0.0, angle / np.where(s > 0.0, s, 1.0), 2.0) * rel[:, 1:]
    out = np.stack([state.pos - base.pos, theta, state.vel - base.vel,
                    state.ang_vel - base.ang_vel], axis=1)
    out[model.body_kind == consts.BODY_STATIC] = 0.0
    return out.reshape(-1)
