"""Runnable studies: ``python -m scenarios`` lists them, ``python -m scenarios run NAME`` runs one.

A scenario module exposes ``build(**params)``, ``loss(traj)`` and ``main(argv)``; scenarios
compute and save data, ``viz`` draws.
"""
import importlib

SCENARIOS = {
    "bounce_onset": "the flagship gradient study: a dropped ball's final height against its drop "
                    "height across contact onset; adjoint, differences and the closed form per "
                    "contact model, errors by region",
    "drop": "a ball dropped from a sweep of heights onto the ground: trajectories and the final "
            "height against the drop height, per contact setting",
    "published": "gradient cases from papers and issue reports (Zhong et al. 2022, DiffTaichi, "
                 "Nimble issue 97, Brax issue 317) beside the numbers their authors reported",
    "throw_wall": "optimisation: a ball's launch velocity so it bounces off the ground and a wall "
                  "onto a target (Zhong et al. 2022, task 2), per contact model",
    "sysid_toss": "optimisation: friction and restitution of a tossed, tumbling box recovered "
                  "from a noisy recording, per contact model",
    "push_box": "optimisation: per-step pusher velocities bring a box to a goal; the hard model "
                "has no gradient before first touch, the smoothed one pulls the pusher in",
    "billiards_shot": "optimisation: the cue ball's velocity so the struck ball ends in a goal "
                      "(a cut shot on a table with friction: slide, then roll), per contact "
                      "model",
    "kappa_gap": "SmoothedContact against the hard model for a range of kappa on a drop, a slide "
                 "and a toss: the table of gaps",
    "slide_stick": "a box sliding to rest: its final position's gradient in launch speed and "
                   "friction as the stop crosses the horizon; adjoint, differences and the closed "
                   "form per contact model, errors by region",
    "gradient_audit": "the adjoint against central differences for every input of seeded random "
                      "scenes (mixed shapes, stacks, spins, controls), per contact model: "
                      "matches, mismatches, kinks, with replay commands",
    "ilqr_push": "control: iLQR on exact per-step Jacobians pushes a box to a goal position and "
                 "yaw (smoothed, then hard contact), then MPC through a kick; beside it L-BFGS "
                 "over all controls",
    "billiards_graze": "an elastic ball striking a resting one at a sweep of impact parameters "
                       "through grazing to a miss: the struck ball's exit velocity and its "
                       "gradient per contact model, errors by region",
}


def load(name):
    if name not in SCENARIOS:
        raise SystemExit(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}")
    return importlib.import_module(f"scenarios.{name}")
