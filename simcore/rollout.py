"""Forward rollout: validation in Python, the whole loop in compiled code."""
import os
import sys
import time
import warnings

import numba
import numpy as np

from simcore.kernels import consts
from simcore.kernels.models import KIND
from simcore.kernels.step import rollout_kernel
from simcore.model import Model, State, Trajectory, make_data, make_tape, validate_model
from simcore.scene import QUAT_NORM_TOL


class SimulationError(RuntimeError):
    """The simulation cannot go on without a wrong answer (diverged, or an unstable setting)."""


# a progress bar appears once a rollout has run this long (seconds)
PROGRESS_AFTER = 2.0


def real_array(name, value):
    """``value`` as an array of real numbers (integers or floats; not complex, bool or
    object), or ValueError naming ``name``."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def _state_array(name, value, shape):
    arr = real_array(f"state.{name}", value)
    if arr.shape != shape:
        raise ValueError(f"state.{name} must have shape {shape}, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"state.{name} must be finite, got {arr[tuple(bad)]} at {tuple(bad)}")
    return arr


def check_state(model, state):
    """Validated float64 copies of a State (quaternions normalised if off only by rounding)."""
    if not isinstance(state, State):
        raise TypeError(f"state must be a simcore.State, got {type(state).__name__}")
    n = model.nbody
    pos = _state_array("pos", state.pos, (n, 3))
    quat = _state_array("quat", state.quat, (n, 4))
    vel = _state_array("vel", state.vel, (n, 3))
    ang_vel = _state_array("ang_vel", state.ang_vel, (n, 3))
    norms = np.linalg.norm(quat, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > QUAT_NORM_TOL)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"state.quat[{i}] must be a unit quaternion, got {quat[i].tolist()} "
                         f"with norm {norms[i]:.6g}")
    static = model.body_kind == consts.BODY_STATIC
    if not np.allclose(pos[static], model.init_pos[static]) or \
            not np.allclose(quat[static], model.init_quat[static]):
        raise ValueError("state must keep static bodies (planes) where the scene put them")
    return State(pos=pos, quat=quat / norms[:, None], vel=vel, ang_vel=ang_vel)


def check_controls(model, state, steps, controls):
    """Controls as a C-contiguous (steps, n, 6) array, or (1, n, 6) when None: zero for dynamic
    bodies, the state's velocity held for kinematic ones."""
    n = model.nbody
    if controls is None:
        out = np.zeros((1, n, 6))
        kin = model.body_kind == consts.BODY_KINEMATIC
        out[0, kin, :3] = state.vel[kin]
        out[0, kin, 3:] = state.ang_vel[kin]
        return out
    arr = real_array("controls", controls)
    if arr.shape != (steps, n, 6):
        raise ValueError(f"controls must have shape (steps, nbody, 6) = {(steps, n, 6)}, "
                         f"got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = tuple(np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"controls must be finite, got {arr[bad]} at {bad}")
    return arr


# bytes per step and body that a rollout stores (the trajectory's 13 floats, and for a
# gradient the substep tape's 13 more and the loss's cotangent's 13), and the share of the
# machine's memory a run may ask for before it is refused
_TRAJ_BYTES, _GRAD_BYTES = 13 * 8, 39 * 8
MEMORY_SHARE = 0.8


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system: no check
        return None


def check_steps(steps, model=None, gradient=False):
    """steps as an int; with a model, refused when the arrays it needs would not fit in
    MEMORY_SHARE of this machine's memory (ValueError with the size)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    memory = _physical_memory()
    if model is not None and memory is not None:
        per_step = model.nbody * (_TRAJ_BYTES + (model.opt_substeps * _GRAD_BYTES
                                                 if gradient else 0)) + 64
        need = (steps + 1) * per_step
        if need > MEMORY_SHARE * memory:
            raise ValueError(
                f"steps = {steps} would need at least {need / 2 ** 30:.3g} GiB for the "
                f"trajectory{' and the gradient tape' if gradient else ''} of {model.nbody} "
                f"bodies, more than {MEMORY_SHARE:.0%} of this machine's "
                f"{memory / 2 ** 30:.3g} GiB; run it in shorter pieces (a rollout continues "
                f"from traj.state(-1))")
    return steps


def initial_capacity(nbody):
    """Starting size of the contact and pair arrays; they double whenever a step overflows."""
    return max(64, 8 * nbody)


_COMPILED = set()  # (id(kernel), contact kind) pairs known to be compiled in this process


def compile_notice(enabled, kernel, kind, what):
    """Say so on stderr when this call will compile ``kernel`` for the contact model ``kind``
    (no build for these sources in this process or in the cache yet): minutes of silence
    otherwise look like a hang. Returns whether it will compile."""
    if enabled is False or (id(kernel), type(kind)) in _COMPILED:
        return False
    kind_type = numba.typeof(kind)
    if any(sig[0] == kind_type for sig in kernel.signatures):
        _COMPILED.add((id(kernel), type(kind)))
        return False
    try:  # numba's cache layout is not public API: if it changes, stay quiet
        index = kernel._cache._cache_file._load_index()
    except Exception:  # noqa: BLE001 (anything: the notice is a courtesy)
        return False
    if any(key[0][0] == kind_type for key in index):
        return False
    sys.stderr.write(f"simcore: compiling the {what} for {type(kind).__name__}Contact, once per "
                     "machine (a minute or two; cached afterwards) ...\n")
    sys.stderr.flush()
    return True


class _Progress:
    """A text progress bar on stderr, shown only once a run has taken PROGRESS_AFTER seconds."""

    def __init__(self, total, enabled, label="rollout"):
        self.total, self.enabled, self.start, self.shown = total, enabled, time.time(), False
        self.label = label
        self.base = 0

    def restart(self, done):
        # time and rate from here (after a first call that compiled the kernels)
        self.start, self.base = time.time(), done

    def update(self, done):
        if self.enabled is False:
            return
        elapsed = time.time() - self.start
        if not (self.enabled or elapsed > PROGRESS_AFTER) or self.total == 0:
            return
        self.shown = True
        frac = done / self.total
        bar = "#" * int(30 * frac)
        rate = (done - self.base) / elapsed if elapsed > 0 else 0.0
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} steps, {rate:,.0f} steps/s")
        sys.stderr.flush()

    def close(self):
        if self.shown:
            sys.stderr.write("\n")


def rollout(model, state, steps, controls=None, progress=None):
    """Simulate ``steps`` steps from ``state``.

    Args:
        model: a Model from ``Scene.build``.
        state: a State with arrays (n, 3) / (n, 4); not modified.
        steps: number of steps.
        controls: (steps, n, 6) per step and body: world force and torque for dynamic bodies,
            linear and angular velocity for kinematic bodies, ignored for static ones. None:
            no force, and kinematic bodies keep the velocity they have in ``state``.
        progress: True always shows a progress bar, False never, None after 2 s.

    Returns:
        Trajectory with ``pos`` (steps+1, n, 3) etc., the start included.

    Raises:
        SimulationError: the state became non-finite, or a penalty spring is too stiff for the
            step (names the step and what to change).
    """
    check_model(model)
    steps = check_steps(steps, model)
    state = check_state(model, state)
    ctrl = check_controls(model, state, steps, controls)
    return forward(model, state, steps, ctrl, progress)[0]


# the contents of the last models that passed validate_model (every array's bytes, every
# option): a model unchanged since is not checked again, so that a control loop stepping one
# step per call pays microseconds, not a validation, per call
_VALIDATED = {}


def _contents(model):
    return tuple(v.tobytes() if isinstance(v, np.ndarray) else v for v in model)


def check_model(model):
    if not isinstance(model, Model):
        raise TypeError(f"model must be a simcore Model from Scene.build, got "
                        f"{type(model).__name__}")
    key = _contents(model)
    if _VALIDATED.get(id(model)) == key:
        return
    validate_model(model)
    if len(_VALIDATED) > 64:
        _VALIDATED.clear()
    _VALIDATED[id(model)] = key


def _failure_message(model, data, bounds, status, when):
    """What went wrong in a step that ended with a bad status, naming the body."""
    dyn = np.flatnonzero(model.body_kind == consts.BODY_DYNAMIC)
    spin = np.linalg.norm(data.ang_vel, axis=1)
    if status == consts.STATUS_ROTATION:
        i = int(dyn[np.argmax(spin[dyn])])
        return (f"the simulation diverged {when}: body {i} spins at {spin[i]:.4g} rad/s, "
                f"{spin[i] * model.opt_dt:.3g} rad per step, where its rotation step (a Newton "
                f"solve) found no solution")
    finite = np.all(np.isfinite(np.concatenate([data.pos, data.quat, data.vel, data.ang_vel],
                                               axis=1)), axis=1)
    if status == consts.STATUS_NONFINITE or not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        return f"the simulation diverged {when}: body {bad}'s state became non-finite"
    speed = np.linalg.norm(data.vel, axis=1)
    i = int(dyn[np.argmax(speed[dyn])])
    if speed[i] > model.opt_max_speed:
        return (f"body {i} exceeded the scene's max_speed {when}: it moves at {speed[i]:.4g} m/s "
                f"(max_speed = {model.opt_max_speed:g})")
    i, fastest = int(bounds[7]), bounds[8]  # by its kinetic energy's speed, sqrt(2 T / m)
    if fastest > consts.ABSURD_SPEED * bounds[3]:
        what = (f"over {consts.ABSURD_SPEED:g} times the {bounds[3]:.4g} m/s the scene explains "
                f"(its fastest start, kinematic bodies, controls and falls, and a floor for "
                f"slow starts and overlaps)")
    else:
        what = (f"and the bodies' kinetic energy is over {consts.ABSURD_ENERGY:g} times the "
                f"{bounds[6]:.4g} J the scene's energy explains")
    return (f"the simulation diverged {when}: body {i} moves at {fastest:.4g} m/s (the speed "
            f"of its kinetic energy, sqrt(2 T / m)), {what}"
            + (". PenaltyContact: more substeps or a softer spring may help"
               if model.opt_contact == consts.CONTACT_PENALTY else ""))


def _grown(arr, size):
    """arr extended to length size (new entries uninitialised)."""
    return np.concatenate([arr, np.empty((size - arr.shape[0],) + arr.shape[1:],
                                         dtype=arr.dtype)])


def forward(model, state, steps, ctrl, progress, tape=False):
    """The rollout on validated inputs. Returns (Trajectory, tape, ncon_max, npair_max): tape is
    None, or (``tape=True``) the model.Tape the reverse sweep reads; the capacities are those
    the run ended with."""
    n = model.nbody
    pos = np.empty((steps + 1, n, 3))
    quat = np.empty((steps + 1, n, 4))
    vel = np.empty((steps + 1, n, 3))
    ang_vel = np.empty((steps + 1, n, 3))
    ncon = np.zeros(steps, dtype=np.int64)
    resid = np.zeros(steps)
    fails = np.zeros(steps, dtype=np.int64)
    nsub = steps * model.opt_substeps if tape else 0
    wcap = 4 * nsub + (model.opt_substeps * initial_capacity(n) if tape else 0)
    taped = make_tape(n, nsub, wcap)
    pos[0], quat[0], vel[0], ang_vel[0] = state.pos, state.quat, state.vel, state.ang_vel
    ncon_max = npair_max = initial_capacity(n)
    # per step and contact: bodies, mode, margin (flat, step t at con_off[t]:con_off[t+1])
    con_off = np.zeros(steps + 1, dtype=np.int64)
    cap = 4 * steps + ncon_max
    record = (np.empty((cap, 2), dtype=np.int32), np.empty(cap, dtype=np.int8), np.empty(cap))
    data = make_data(model, state, ncon_max, npair_max)
    bounds = np.zeros(10)  # kernels/step.py: check_bounds
    kind = KIND[model.opt_contact]  # the contact model the kernels compile for
    # chunks keep the Python/numba crossings few while letting a progress bar move
    chunk = max(1, min(steps, 200_000 // max(n, 1)))
    bar = _Progress(steps, progress)
    compiling = compile_notice(progress, rollout_kernel, kind, "rollout kernels")
    t = 0
    while t < steps:
        t_end = min(steps, t + chunk)
        status, t_stop = rollout_kernel(kind, model, data, ctrl, t, t_end, pos, quat, vel,
                                        ang_vel, ncon, resid, fails, taped, con_off, *record,
                                        bounds)
        if compiling:
            compiling = False
            bar.restart(t_stop)
        if status == consts.STATUS_OK:
            t = t_end
            bar.update(t)
            continue
        if status == consts.STATUS_RECORD_OVERFLOW:
            # grow the contact record and the warm-start tape, go on from step t_stop
            cap = 2 * cap + ncon_max
            record = tuple(_grown(r, cap) for r in record)
            if tape:
                wcap = 2 * wcap + 2 * model.opt_substeps * data.prev_key.shape[0]
                taped = taped._replace(wkey=_grown(taped.wkey, wcap),
                                       wlam=_grown(taped.wlam, wcap))
            t = t_stop
            continue
        when = f"at step {t_stop} (t = {t_stop * model.opt_dt:.6g} s)"
        if status in (consts.STATUS_NONFINITE, consts.STATUS_ABSURD, consts.STATUS_ROTATION):
            bar.close()
            raise SimulationError(_failure_message(model, data, bounds, status, when))
        if status == consts.STATUS_UNSTABLE:
            bar.close()
            raise SimulationError(
                f"PenaltyContact is unstable {when}: a contact's spring is too stiff for the "
                f"substep h = dt / substeps (h^2 k_eff / m_eff > 4, so explicit integration "
                f"amplifies it). Raise substeps (now {model.opt_substeps}), or lower dt or the "
                f"stiffness.")
        # capacity exhausted: grow and resume from the last completed step
        if status == consts.STATUS_CONTACT_OVERFLOW:
            ncon_max *= 2
        elif status == consts.STATUS_PAIR_OVERFLOW:
            npair_max *= 2
        t = t_stop
        data = make_data(model, State(pos[t], quat[t], vel[t], ang_vel[t]), ncon_max, npair_max)
    bar.close()
    if fails.any():
        bad = np.flatnonzero(fails)
        warnings.warn(
            f"the contact solver did not converge in {int(fails.sum())} solve(s) over "
            f"{bad.size} step(s), first at step {bad[0]}; largest relative residual "
            f"{resid.max():.3g}. See Trajectory.solver_failures / solver_residual."
            + (" The gradient is taken at those unconverged impulses and can be wrong from "
               "there back (Gradient.solver_failures)." if tape else ""),
            RuntimeWarning, stacklevel=3)
    used = con_off[-1]
    traj = Trajectory(pos=pos, quat=quat, vel=vel, ang_vel=ang_vel, ncon=ncon, dt=model.opt_dt,
                      solver_residual=resid, solver_failures=fails, contact_offsets=con_off,
                      contact_bodies=record[0][:used].copy(), contact_mode=record[1][:used].copy(),
                      contact_margin=record[2][:used].copy())
    return traj, (taped if tape else None), ncon_max, npair_max
