"""Flat-vector view of chosen rollout inputs, for ``scipy.optimize.minimize(..., jac=True)``."""
import dataclasses
import warnings

import numpy as np

from simcore.grad import AMPLIFICATION_WARN, health_message, value_and_grad
from simcore.kernels import consts
from simcore.params import PARAMS, check_applies
from simcore.rollout import check_controls, check_model, check_state, check_steps

STATE_VARS = ("pos", "vel", "ang_vel")


class Problem:
    """A loss of a rollout as a function of a flat vector of chosen inputs, with its gradient.

    ``Problem(...)(x)`` returns ``(value, gradient)``, the form ``scipy.optimize.minimize`` takes
    with ``jac=True``; ``x0`` is the starting vector and ``unpack(x)`` gives the
    ``(model, state, controls)`` it stands for.

    Args:
        model, state, steps, loss, controls: as for ``value_and_grad``.
        variables: names among "pos", "vel", "ang_vel" (initial state), "controls" (every step's
            force and torque), "mass", "friction", "restitution", "torsional_friction",
            "rolling_friction" (per body), and the contact
            model's scalars ("stiffness", "damping" for PenaltyContact).
        bodies: the bodies whose entries are variables (default: every non-static body).
        kink: as for ``value_and_grad``.

    An optimiser evaluates many times: where a gradient's ``amplification`` exceeds
    ``AMPLIFICATION_WARN``, the Problem warns the first time, and ``ill_conditioned`` counts
    the evaluations that did.

    Example:
        >>> prob = Problem(model, state, 300, loss, variables=("vel",), bodies=[1])
        >>> res = scipy.optimize.minimize(prob, prob.x0, jac=True, method="L-BFGS-B")
        >>> model_opt, state_opt, controls_opt = prob.unpack(res.x)
    """

    def __init__(self, model, state, steps, loss, variables, controls=None, bodies=None,
                 kink="mean"):
        check_model(model)
        self.model, self.steps, self.loss, self.kink = model, check_steps(steps), loss, kink
        self.state = check_state(model, state)
        self.controls = check_controls(model, self.state, self.steps, controls)
        if self.controls.shape[0] != self.steps:  # per-step controls, so each can vary
            self.controls = np.repeat(self.controls, self.steps, axis=0)
        if isinstance(variables, str):
            variables = (variables,)
        self.variables = tuple(variables)
        if not self.variables:
            raise ValueError("variables must name at least one input")
        for name in self.variables:
            if name not in STATE_VARS + ("controls",) and name not in PARAMS:
                hint = " (orientations are not a vector space: optimise ang_vel or controls)" \
                    if name == "quat" else ""
                raise ValueError(f"unknown variable {name!r}{hint}; known: "
                                 f"{list(STATE_VARS) + ['controls'] + sorted(PARAMS)}")
            if name in PARAMS:
                check_applies(name, model)
        if bodies is None:
            bodies = np.flatnonzero(model.body_kind != consts.BODY_STATIC)
        self.bodies = np.asarray(bodies, dtype=np.int64).ravel()
        if self.bodies.size == 0 or self.bodies.min() < 0 or self.bodies.max() >= model.nbody:
            raise ValueError(f"bodies must be body ids in 0..{model.nbody - 1}, got {bodies!r}")
        if "mass" in self.variables and np.any(model.body_kind[self.bodies] != consts.BODY_DYNAMIC):
            raise ValueError("mass is a variable only of dynamic bodies: pass bodies=")
        self.params = tuple(v for v in self.variables if v in PARAMS)
        self.ill_conditioned = 0
        self.x0 = self._pack(model, self.state, self.controls)
        #: per-entry (low, high) limits of x, for minimize(..., bounds=prob.bounds)
        self.bounds = [PARAMS[name].bounds if name in PARAMS else (None, None)
                       for name, v in self._pieces(model, self.state, self.controls)
                       for _ in range(np.size(v))]

    def _pieces(self, model, state, controls):
        b = self.bodies
        for name in self.variables:
            if name in STATE_VARS:
                yield name, getattr(state, name)[b]
            elif name == "controls":
                yield name, controls[:, b]
            elif PARAMS[name].per_body:
                yield name, getattr(model, PARAMS[name].field)[b]
            else:
                yield name, np.array([getattr(model, PARAMS[name].field)])

    def _pack(self, model, state, controls):
        return np.concatenate([np.ravel(v) for _, v in self._pieces(model, state, controls)])

    def unpack(self, x):
        """(model, state, controls) with the variables set from the flat vector x."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != self.x0.shape:
            raise ValueError(f"x must have shape {self.x0.shape}, got {x.shape}")
        model, b = self.model, self.bodies
        state = dataclasses.replace(self.state, pos=self.state.pos.copy(),
                                    vel=self.state.vel.copy(), ang_vel=self.state.ang_vel.copy())
        controls = self.controls.copy()
        off = 0
        for name, ref in self._pieces(self.model, self.state, self.controls):
            v = x[off:off + ref.size].reshape(ref.shape)
            off += ref.size
            if name in STATE_VARS:
                getattr(state, name)[b] = v
            elif name == "controls":
                controls[:, b] = v
            elif name == "mass":
                if np.any(v <= 0):
                    raise ValueError(f"mass must stay positive, got {v}")
                scale = np.ones(model.nbody)
                scale[b] = v / model.body_mass[b]
                model = model._replace(body_mass=model.body_mass * scale,
                                       body_invmass=model.body_invmass / scale,
                                       body_inertia=model.body_inertia * scale[:, None],
                                       body_invinertia=model.body_invinertia / scale[:, None])
            elif PARAMS[name].per_body:
                lo, hi = PARAMS[name].bounds
                lo, hi = -np.inf if lo is None else lo, np.inf if hi is None else hi
                if np.any(v < lo) or np.any(v > hi):
                    raise ValueError(f"{name} must stay in [{lo}, {hi}], got {v} "
                                     f"(use minimize(..., bounds=prob.bounds))")
                field = PARAMS[name].field
                arr = getattr(model, field).copy()
                arr[b] = v
                model = model._replace(**{field: arr})
            else:
                if not v[0] >= 0 or (name != "damping" and v[0] == 0):
                    raise ValueError(f"{name} must stay positive, got {v[0]}")
                model = model._replace(**{PARAMS[name].field: float(v[0])})
        return model, state, controls

    def evaluate(self, x):
        """(value, flat gradient, Gradient) at x; the Gradient also carries the rollout's
        contact margins and mode switches."""
        model, state, controls = self.unpack(x)
        value, grad = value_and_grad(model, state, self.steps, self.loss, controls=controls,
                                     params=self.params, kink=self.kink, warn=False)
        if grad.amplification > AMPLIFICATION_WARN:
            self.ill_conditioned += 1
            if self.ill_conditioned == 1:
                warnings.warn(health_message(grad.amplification, grad.amplification_window)
                              + " (this Problem warns once; Problem.ill_conditioned counts the "
                              "evaluations)", RuntimeWarning, stacklevel=3)
        b = self.bodies
        parts = []
        for name in self.variables:
            if name in STATE_VARS:
                parts.append(getattr(grad, name)[b].ravel())
            elif name == "controls":
                parts.append(grad.controls[:, b].ravel())
            elif PARAMS[name].per_body:
                parts.append(grad.params[name][b])
            else:
                parts.append(np.array([grad.params[name]]))
        return float(value), np.concatenate(parts), grad

    def __call__(self, x):
        value, flat, _ = self.evaluate(x)
        return value, flat
