"""Contact model configurations (contract names: PenaltyContact, HardContact, SmoothedContact).

A model's parameters live in its config class; ``Scene.build(contact=...)`` copies them into the
Model's ``pen_*`` / ``hard_*`` / ``smooth_*`` fields.
"""
import dataclasses
import math

import numpy as np


def _check_positive(config, name, allow_zero=False):
    # a real number (numpy's scalars too), kept as a Python float
    value = getattr(config, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be finite and {need}, got {value!r}")
    object.__setattr__(config, name, float(value))


def _check_int(config, name, lo=1):
    # an integer (numpy's too), kept as a Python int
    value = getattr(config, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    object.__setattr__(config, name, int(value))


@dataclasses.dataclass(frozen=True)
class PenaltyContact:
    """Compliant contact: Hunt-Crossley normal force and regularised Coulomb friction.

    ``f_n = max(0, k pen^p (1 + d pen_rate))`` (pen = penetration depth, pen_rate its rate),
    ``f_t = -mu f_n u_t / sqrt(|u_t|^2 + v_s^2)``. Explicit in time: a stiff spring needs
    ``dt / substeps`` below about ``2 sqrt(m / k)``, and a small ``friction_smoothing`` v_s needs
    ``dt / substeps`` below about ``2 v_s m / (mu f_n)``; a rollout that diverges raises an error
    naming the step.

    Args:
        stiffness: k, in N/m^p.
        damping: d, in s/m (0 is a lossless spring).
        exponent: p (1: linear spring; 1.5: Hertzian sphere).
        friction_smoothing: v_s, the tangential speed (m/s) below which friction turns viscous.
        substeps: each step is split into this many substeps, each colliding again.
    """
    stiffness: float = 1e5
    damping: float = 1.0
    exponent: float = 1.0
    friction_smoothing: float = 1e-2
    substeps: int = 1

    def __post_init__(self):
        _check_positive(self, "stiffness")
        _check_positive(self, "damping", allow_zero=True)
        _check_positive(self, "exponent")
        if self.exponent < 1.0:
            raise ValueError(f"exponent must be >= 1 (a force finite in slope at touch), "
                             f"got {self.exponent!r}")
        _check_positive(self, "friction_smoothing")
        _check_int(self, "substeps")


@dataclasses.dataclass(frozen=True)
class HardContact:
    """Impulse-based complementarity contact with the Coulomb cone and restitution.

    Velocity-level complementarity (no penetration, Coulomb cone with maximal dissipation),
    Newton restitution ``u+_n >= -e u-_n`` for impacts faster than ``restitution_threshold``,
    speculative contacts (a body may approach exactly to the surface within a step) and
    Baumgarte correction of penetration. See ``simcore/kernels/hard.py`` (the model) and
    ``hard_solver.py`` (the solve).

    Args:
        toi: split a step at the time of impact of a closing contact (continuous post-step
            pose); False gives plain time stepping.
        restitution_threshold: approach speed (m/s) below which an impact is plastic; must
            exceed the speed gravity adds in one step, else resting contacts jitter.
        baumgarte: fraction of a penetration removed per step.
        regularization: eps relative to each contact's Delassus scale (unique impulses for
            redundant contacts such as a box face on a plane).
        tol: relative impulse change at which projected Gauss-Seidel stops.
        max_iter: Gauss-Seidel sweeps at most.
        polish_max_contacts: islands (contacts coupled through shared bodies; each solve
            splits into them) of at most this many contacts are finished by semismooth Newton,
            to a residual near rounding.
        depenetration_speed: the fastest (m/s) a penetration is corrected: Baumgarte's rate
            is capped there, so bodies that start deep in each other are pushed apart over
            several steps instead of launched.
    """
    toi: bool = True
    restitution_threshold: float = 0.1
    baumgarte: float = 0.2
    regularization: float = 1e-9
    tol: float = 1e-12
    max_iter: int = 2000
    polish_max_contacts: int = 32
    depenetration_speed: float = 1.0

    def __post_init__(self):
        if not isinstance(self.toi, (bool, np.bool_)):
            raise ValueError(f"toi must be True or False, got {self.toi!r}")
        object.__setattr__(self, "toi", bool(self.toi))
        _check_positive(self, "restitution_threshold")
        _check_positive(self, "baumgarte", allow_zero=True)
        if self.baumgarte > 1.0:
            raise ValueError(f"baumgarte must be in [0, 1], got {self.baumgarte!r}")
        _check_positive(self, "regularization")
        _check_positive(self, "tol")
        _check_int(self, "max_iter")
        _check_int(self, "polish_max_contacts", lo=0)
        _check_positive(self, "depenetration_speed")


@dataclasses.dataclass(frozen=True)
class SmoothedContact:
    """Relaxed complementarity (``lambda_n * s_n = kappa``), solved by Newton's method.

    Every contact within its distance band takes part with a small impulse that fades smoothly
    to zero at the band's edge; friction is Coulomb's law smoothed below the speed
    ``sqrt(kappa * A_tt)``. The step is smooth in every input, and kappa -> 0 recovers
    ``HardContact(toi=False)`` with no restitution (restitution is not modelled here: a bounce
    needs a switch, which this model exists to avoid). A body at rest floats at a gap of about
    ``kappa / (m g)``. See ``simcore/kernels/smoothed.py``.

    Args:
        kappa: the relaxation, in J (impulse times speed).
        max_iter: Gauss-Seidel sweeps at most.
        polish_max_contacts: solves with at most this many contacts finish with global Newton
            on the dense contact system; a larger solve does too when the band of its bodies'
            system is within budget (``simcore/kernels/body_space.py``), solving each Newton
            step through the bodies, and else runs Gauss-Seidel to convergence.
        depenetration_speed: v, the fastest (m/s) a penetration phi < 0 is corrected: its bias
            is v tanh(phi / (h v)) instead of phi / h (smooth at contact, as the model is).
    """
    kappa: float = 1e-4
    max_iter: int = 500
    polish_max_contacts: int = 32
    depenetration_speed: float = 1.0

    def __post_init__(self):
        _check_positive(self, "kappa")
        _check_positive(self, "depenetration_speed")
        _check_int(self, "max_iter")
        _check_int(self, "polish_max_contacts", lo=0)


CONTACT_MODELS = (PenaltyContact, HardContact, SmoothedContact)
