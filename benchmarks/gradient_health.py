"""Gradient health: how much the state's cotangent grows through a rollout (Gradient.amplification)
where the gradient is the physics and where it is not.

    python benchmarks/gradient_health.py

Prints, from one run:
1. a box sliding to rest (0.2 m cube, mu = 0.5, dt = 1 ms, 1.5 stopping times; x_stop =
   v0^2 / (2 mu g)): dx/dv0 by the adjoint against v0 / (mu g), and the amplification, for the
   fixed penalty spring (stiffness 1e5, no damping), the time-constant form (the default) and
   hard contact;
2. the amplification of tests/test_grad.py's scenes (mixed shapes, a stacked pile, the stack
   away from switches) under each of its contact settings, whose gradients its tests check
   against central differences.
value_and_grad warns above simcore.grad.AMPLIFICATION_WARN.
"""
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import simcore as sc  # noqa: E402
from simcore.grad import AMPLIFICATION_WARN  # noqa: E402
from tests.test_grad import MODELS, SCENES, _linear_loss  # noqa: E402

G, MU = 9.81, 0.5
SLIDERS = {"penalty, fixed spring k=1e5": lambda: sc.PenaltyContact(stiffness=1e5, damping=0.0),
           "penalty, time constant (default)": lambda: sc.PenaltyContact(),
           "hard": lambda: sc.HardContact()}


def sliding_box(contact, v0):
    """(dx/dv0 by the adjoint, Gradient.amplification) of the box sliding to rest."""
    scene = sc.Scene(dt=1e-3)
    scene.add_plane(friction=MU)
    scene.add_box((0.1, 0.1, 0.1), pos=(0, 0, 0.1), vel=(v0, 0, 0), friction=MU)
    model = scene.build(contact=contact)
    steps = int(1.5 * v0 / (MU * G) / 1e-3)

    def loss(traj):
        cot = np.zeros_like(traj.pos)
        cot[-1, 1, 0] = 1.0
        return traj.pos[-1, 1, 0], {"pos": cot}
    grad = sc.value_and_grad(model, model.initial_state(), steps, loss, progress=False)[1]
    return grad.vel[1, 0], grad.amplification


def main():
    warnings.simplefilter("ignore")  # the warnings are what this measures
    print(f"value_and_grad warns above an amplification of {AMPLIFICATION_WARN:g}\n")
    print("| box sliding to rest | v0 (m/s) | dx/dv0 | v0 / (mu g) | ratio | amplification |")
    print("|---|---|---|---|---|---|")
    for name, contact in SLIDERS.items():
        for v0 in (0.5, 1.0, 3.0):
            g, amp = sliding_box(contact(), v0)
            exact = v0 / (MU * G)
            print(f"| {name} | {v0:g} | {g:.4g} | {exact:.4g} | {g / exact:.3g} | {amp:.3g} |")
    print("\n| tests/test_grad.py scene | " + " | ".join(MODELS) + " |")
    print("|---|" + "---|" * len(MODELS))
    for scene_name, (build, steps, _) in SCENES.items():
        row = []
        for model_name, (contact, _) in MODELS.items():
            model = build().build(contact=contact())
            grad = sc.value_and_grad(model, model.initial_state(), steps,
                                     _linear_loss(steps, model.nbody), progress=False)[1]
            row.append(f"{grad.amplification:.3g}")
        print(f"| {scene_name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
