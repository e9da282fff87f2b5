"""simcore: a differentiable contact-physics simulator (numba rigid bodies, three contact models).

Public API (see README.md): Scene, Model, State, Trajectory, rollout, and the contact models
PenaltyContact, HardContact, SmoothedContact; gradients: value_and_grad, Gradient, Problem,
gradcheck, GradCheck, and ready-made losses in simcore.losses; per-step Jacobians:
transition_jacobians, TransitionJacobians, perturb_state, state_difference; sweeps of
independent runs on threads, processes or Dask: sweep.
"""
from simcore.contact import HardContact, PenaltyContact, SmoothedContact
from simcore import losses
from simcore.grad import Gradient, value_and_grad
from simcore.gradcheck import GradCheck, gradcheck
from simcore.model import Model, State, Trajectory
from simcore.optim import Problem
from simcore.parallel import sweep
from simcore.rollout import SimulationError, rollout
from simcore.scene import Scene
from simcore.transition import (TransitionJacobians, perturb_state, state_difference,
                                transition_jacobians)

__all__ = ["Scene", "Model", "State", "Trajectory", "rollout", "SimulationError", "PenaltyContact", "HardContact",
           "SmoothedContact", "value_and_grad", "Gradient", "Problem", "gradcheck", "GradCheck",
           "losses", "transition_jacobians", "TransitionJacobians", "perturb_state",
           "state_difference", "sweep"]
__version__ = "0.1.0"
