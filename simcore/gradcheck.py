"""Check an adjoint gradient against finite differences, with a verdict on what each difference
measured (DESIGN.md section 4; the rules of ``../shared/background``).

A central difference with a small step agrees with the adjoint wherever the loss is smooth. Near
contact it can agree with a *wrong* gradient: under plain time stepping the loss is piecewise
smooth with a jump each time an impact moves to another time step, and a step too small to move
the impact sees only the piece's slope. ``gradcheck`` therefore sweeps the step from large to
tiny and reads the Trajectory's contact modes at both ends of every stencil and its centre:

- ``"smooth"``: no contact changes mode anywhere in the horizon, at either end or the centre.
- ``"event in horizon"``: contacts change mode inside the horizon, at the same steps at both
  ends and the centre. The difference holds every contact event to its time step: it confirms
  the adjoint only if the event's timing does not matter, which wider steps must show.
- ``"kink inside stencil"``: the mode switches differ across the stencil (an event moved to
  another step, or appeared or vanished), and the loss is continuous there.
- ``"discontinuity"``: the switches differ and the loss jumps: bisecting towards the larger
  change, the change stays finite as the interval shrinks to 1e-8 of the step (where a
  continuous loss's change would halve with every halving). The difference
  measures a jump, not a slope.

The overall ``verdict``:

- ``"confirmed"``: the adjoint agrees (``rtol``) with the central difference on a stencil that
  keeps every mode, no stencil jumps, and where contact events lie in the horizon the smallest
  stencil that moves one agrees too (``scale_rtol``): the event's timing is in the gradient.
- ``"local only"``: as confirmed within one piece, but the secant over the smallest
  event-moving stencil differs: the loss's slope changes at the scale of one time step (plain
  time stepping at an impact, penalty contact switching on between steps). The adjoint is the
  exact slope of the computed loss there, and an optimiser taking wider steps sees another.
- ``"disagrees"``: the adjoint disagrees with every mode-keeping stencil (whatever the others
  show).
- ``"discontinuous"``: some stencil jumps; small-step agreement is no evidence.
- ``"unresolved"``: no stencil keeps the modes, or contact events lie in the horizon and no
  stencil moved one (widen the sweep).
- ``"kink at the point"``: on mode-keeping stencils the forward and the backward differences
  settle on two different slopes (two impacts tied up to rounding, such as a level capsule's
  ends landing): the summary gives both, and whether the adjoint took their mean
  (``kink="mean"``) or one side.
"""
import dataclasses

import numpy as np

from simcore.optim import Problem
from simcore.params import PARAMS
from simcore.rollout import rollout

#: the default sweep of difference steps, largest first
FD_STEPS = tuple(10.0 ** -k for k in range(1, 10))
VERDICTS = ("smooth", "event in horizon", "kink inside stencil", "discontinuity",
            "outside the variable's range")
# room for curvature within one stencil, relative to h * (largest adjoint slope)
_CURVATURE_ALLOWANCE = 0.05


@dataclasses.dataclass
class GradCheck:
    """Result of ``gradcheck``; ``str()`` gives a table.

    Attributes:
        variable, body, index: the input checked (``index`` into the body's entries).
        x: its value; value: the loss there; adjoint: d loss / d x by ``value_and_grad``.
        steps: (K,) difference steps h, largest first.
        central, forward, backward: (K,) the differences at each step (nan where a stencil
            leaves the variable's range).
        verdicts: (K,) one of ``VERDICTS`` per step.
        rel_error: (K,) |central - adjoint| / max(|central|, |adjoint|).
        verdict: "confirmed", "local only", "discontinuous", "disagrees", "unresolved" or
            "kink at the point" (forward and backward differences settle on different slopes;
            the summary gives both and says which the adjoint took).
        summary: one sentence saying why.
        min_margin: the smallest distance to a mode switch at x (m/s; Gradient.min_margin).
        mode_switches: (M, 5) the switches the rollout at x crossed (Trajectory.mode_switches).
    """
    variable: str
    body: int
    index: int
    x: float
    value: float
    adjoint: float
    steps: np.ndarray
    central: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    verdicts: list
    rel_error: np.ndarray
    verdict: str
    summary: str
    min_margin: float
    mode_switches: np.ndarray

    def rows(self):
        """The sweep as a list of dicts (for tables)."""
        return [{"step": float(h), "central": float(c), "forward": float(f),
                 "backward": float(b), "adjoint": self.adjoint, "relative error": float(e),
                 "verdict": v}
                for h, c, f, b, e, v in zip(self.steps, self.central, self.forward,
                                            self.backward, self.rel_error, self.verdicts)]

    def __str__(self):
        head = (f"gradcheck {self.variable}[body {self.body}, entry {self.index}] at "
                f"{self.x:.6g}: loss {self.value:.9g}, adjoint {self.adjoint:.9g}\n")
        lines = [f"{'step':>8} {'central':>14} {'forward':>14} {'backward':>14} {'rel err':>9}  "
                 f"verdict"]
        for r in self.rows():
            lines.append(f"{r['step']:8.0e} {r['central']:14.7g} {r['forward']:14.7g} "
                         f"{r['backward']:14.7g} {r['relative error']:9.2e}  {r['verdict']}")
        return head + "\n".join(lines) + f"\n{self.verdict}: {self.summary}"


def _jump(value_at, a, fa, b, fb, x=0.0, rel_width=1e-8):
    """Whether the loss jumps inside [a, b] (offsets from x): bisect towards the larger change
    down to ``rel_width`` of the interval (or the resolution of x). A continuous loss's change
    there shrinks with the interval (to 1/32 over the last five halvings), a jump's stays."""
    stop = max(rel_width * (b - a), 1e-12 * (1.0 + abs(x)))
    changes = [abs(fb - fa)]
    while b - a > stop:
        m = 0.5 * (a + b)
        fm = value_at(m)
        if abs(fm - fa) >= abs(fb - fm):
            b, fb = m, fm
        else:
            a, fa = m, fm
        changes.append(abs(fb - fa))
    return (len(changes) > 5 and changes[-1] > 0.5 * changes[-6]
            and changes[-1] > 1e-13 * (1.0 + abs(fa)))


def gradcheck(model, state, steps, loss, variable, body=None, index=0, controls=None,
              fd_steps=FD_STEPS, rtol=1e-5, atol=1e-9, scale_rtol=1e-2, kink="mean"):
    """Compare the adjoint derivative of ``loss`` in one input with finite differences.

    Args:
        model, state, steps, loss, controls, kink: as for ``value_and_grad``.
        variable: "pos", "vel", "ang_vel", "controls", a per-body parameter ("mass", "friction",
            "restitution", "torsional_friction", "rolling_friction") or a
            contact model's scalar ("stiffness", "damping", "kappa"), as for ``Problem``.
        body: the body whose entry is checked (not needed for a model's scalars).
        index: which of the body's entries: the axis for "pos", "vel", "ang_vel";
            ``6 * step + k`` for "controls" (k: force x, y, z, torque x, y, z); 0 otherwise.
        fd_steps: the difference steps h to sweep (absolute, in the variable's units).
        rtol, atol: the adjoint agrees with a central difference c when
            |c - adjoint| <= rtol max(|c|, |adjoint|) + atol.
        scale_rtol: the same test, with scale_rtol for rtol, on the smallest stencil that moves
            a contact event to another time step (see "local only").

    Returns:
        GradCheck. Costs one adjoint evaluation, two rollouts per step, and a bisection (up to
        27 rollouts) on each stencil half where the contact modes change.
    """
    scalar = variable in PARAMS and not PARAMS[variable].per_body
    if body is None:
        if not scalar:
            raise ValueError(f"gradcheck: pass body= for the per-body variable {variable!r}")
        body = 0
    prob = Problem(model, state, steps, loss, variables=(variable,), bodies=[body],
                   controls=controls, kink=kink)
    if not (isinstance(index, (int, np.integer)) and 0 <= index < prob.x0.size):
        raise ValueError(f"index must be an integer in 0..{prob.x0.size - 1} for {variable!r}, "
                         f"got {index!r}")
    hs = np.asarray(fd_steps, dtype=np.float64).ravel()
    if hs.size == 0 or not np.all(np.isfinite(hs)) or np.any(hs <= 0):
        raise ValueError(f"fd_steps must be positive finite numbers, got {fd_steps!r}")
    lo, hi = prob.bounds[index]
    unit = np.zeros(prob.x0.size)
    unit[index] = 1.0

    def run(h):  # (loss, mode switches) at x + h, or None outside the variable's range
        x = prob.x0[index] + h
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            return None
        model_h, state_h, controls_h = prob.unpack(prob.x0 + h * unit)
        traj = rollout(model_h, state_h, steps, controls_h, progress=False)
        return float(loss(traj)[0]), tuple(map(tuple, traj.mode_switches().tolist()))

    f0, flat, grad0 = prob.evaluate(prob.x0)
    g0 = flat[index]
    key0 = tuple(map(tuple, grad0.mode_switches.tolist()))
    K = hs.size
    central, forward, backward, rel = (np.full(K, np.nan) for _ in range(4))
    verdicts = []
    for k, h in enumerate(hs):
        plus, minus = run(h), run(-h)
        if plus is None or minus is None:
            verdicts.append(VERDICTS[4])
            continue
        (fp, keyp), (fm, keym) = plus, minus
        central[k], forward[k], backward[k] = (fp - fm) / (2 * h), (fp - f0) / h, (f0 - fm) / h
        rel[k] = abs(central[k] - g0) / max(abs(central[k]), abs(g0), 1e-300)
        if keyp == key0 == keym:
            verdicts.append(VERDICTS[0] if not key0 else VERDICTS[1])
            continue
        # continuity, on each half whose switches differ from the centre's
        value_at = lambda off: run(off)[0]  # noqa: E731
        x = prob.x0[index]
        jump = (keyp != key0 and _jump(value_at, 0.0, f0, h, fp, x)) or \
            (keym != key0 and _jump(value_at, -h, fm, 0.0, f0, x))
        verdicts.append(VERDICTS[3] if jump else VERDICTS[2])
    diff = np.abs(central - g0)
    bound = np.maximum(np.abs(central), abs(g0))
    verdict, summary = _overall(hs, central, diff, diff <= rtol * bound + atol,
                                diff <= scale_rtol * bound + atol, verdicts, g0)
    kink = _kink_at_point(forward, backward, verdicts, rtol)
    if kink is not None and verdict in ("confirmed", "disagrees", "discontinuous"):
        fwd, bwd = kink
        mean = 0.5 * (fwd + bwd)
        side = ("their mean (kink='mean')" if abs(g0 - mean) <= 1e-3 * max(abs(fwd), abs(bwd))
                else "the forward one (one side)" if abs(g0 - fwd) <= 1e-3 * abs(fwd)
                else "the backward one (one side)" if abs(g0 - bwd) <= 1e-3 * abs(bwd)
                else "none of them")
        verdict, summary = "kink at the point", (
            f"the loss has a kink at x: forward differences converge to {fwd:.9g} and backward "
            f"ones to {bwd:.9g} (mean {mean:.9g}); the adjoint's {g0:.9g} is {side}. "
            + ("" if verdict == "confirmed" else f"(Without the kink: {summary}.)"))
    if grad0.solver_failures.size:
        summary += (f" (the rollout has {grad0.solver_failures.size} step(s) whose contact solve "
                    "did not converge, where the adjoint is unreliable: Gradient.solver_failures)")
    return GradCheck(variable=variable, body=int(body), index=int(index),
                     x=float(prob.x0[index]), value=f0, adjoint=float(g0), steps=hs,
                     central=central, forward=forward, backward=backward, verdicts=verdicts,
                     rel_error=rel, verdict=verdict, summary=summary, min_margin=grad0.min_margin,
                     mode_switches=grad0.mode_switches)


def _kink_at_point(forward, backward, verdicts, rtol):
    # (forward slope, backward slope) when, on two consecutive mode-keeping stencils, the forward
    # and the backward differences each settle and the two differ: a kink at the point itself
    # (two impacts tied to rounding); else None
    keep = [k for k, v in enumerate(verdicts) if v in VERDICTS[:2]]
    for a, b in zip(keep[:-1], keep[1:]):
        if b != a + 1:
            continue
        fa, fb, ba, bb = forward[a], forward[b], backward[a], backward[b]
        spread = abs(fa - fb) + abs(ba - bb)
        if abs(fb - bb) > 10.0 * spread + rtol * max(abs(fb), abs(bb)):
            return float(fb), float(bb)
    return None


def _overall(hs, central, diff, agree, agree_wide, verdicts, g0):
    keep = [k for k, v in enumerate(verdicts) if v in VERDICTS[:2]]
    moved = [k for k, v in enumerate(verdicts) if v == VERDICTS[2]]
    jumps = [k for k, v in enumerate(verdicts) if v == VERDICTS[3]]
    best = min(keep, key=lambda k: (not agree[k], diff[k])) if keep else None
    if best is not None and not agree[best]:
        return "disagrees", (f"the closest mode-keeping central difference (step {hs[best]:g}) "
                             f"is {central[best]:.9g} against the adjoint's {g0:.9g}")
    if jumps:
        k = jumps[0]
        return "discontinuous", (
            f"the loss jumps within +-{hs[k]:g} as contact events change time step; that "
            f"stencil measures a slope of {central[k]:.6g} against the adjoint's {g0:.6g}, and "
            "agreement at smaller steps (within one piece) is no evidence")
    if not keep:
        return "unresolved", ("every stencil crosses a mode switch: the point sits on a kink "
                              f"(the adjoint gives the kink convention's {g0:.6g})")
    text = (f"the central difference with step {hs[best]:g} agrees with the adjoint "
            f"{g0:.9g} (difference {diff[best]:.1e})")
    if verdicts[best] == VERDICTS[1] and not moved:
        return "unresolved", (text + ", but contact events lie in the horizon and no step of the "
                              "sweep moved one: add wider steps to check their timing")
    if moved and not agree_wide[moved[-1]]:
        k = moved[-1]
        return "local only", (
            text + f", but the loss's slope changes at the scale where contact events move a "
            f"time step: the secant over +-{hs[k]:g}, the smallest stencil that moves one, is "
            f"{central[k]:.6g}. The adjoint is the slope within one piece (as with plain time "
            "stepping at an impact, or penalty contact switching on between steps); an "
            "optimiser taking wider steps sees the secant")
    if moved:
        text += (f"; stencils up to +-{hs[moved[0]]:g} move contact events, and the loss stays "
                 f"continuous with secants approaching the adjoint (within {diff[moved[-1]]:.1e} "
                 f"at step {hs[moved[-1]]:g})")
    return "confirmed", text
