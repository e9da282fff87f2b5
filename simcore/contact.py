"""Contact model configurations (contract names: PenaltyContact, HardContact, SmoothedContact).

A model's parameters live in its config class; ``Scene.build(contact=...)`` copies them into the
Model's ``pen_*`` / ``hard_*`` / ``smooth_*`` fields.
"""
import dataclasses
import math
from typing import Optional

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
    """Compliant contact: a spring-damper per contact and regularised Coulomb friction.

    **The time-constant form** (the default). Each contact's spring and damper follow from the
    pair's effective mass along the normal, m_eff = 1 / (n^T W n): ``k = m_eff / tau^2`` and
    ``c = 2 zeta m_eff / tau``, so one setting behaves the same for a 10 g ball and a 100 kg
    crate. A contact alone oscillates at 1 / tau rad/s (it lasts about pi tau when elastic)
    and a resting body sinks about g tau^2. zeta follows from the pair's restitution e =
    max(e_a, e_b) (the linear spring-dashpot that may not pull rebounds with
    ``e = exp(-2 zeta acos(zeta) / sqrt(1 - zeta^2))``; e below 1e-3 counts as 1e-3), unless
    ``damping_ratio`` sets it. The spring is explicit (symplectic Euler) up to the stiffness the
    step can carry (1 / (w h^2 n), n the contacts on a body), its excess and the damper and
    friction implicit over all contacts at once (one solve per step, like SmoothedContact): stable
    for any mass and any step. A step too long for ``time_constant`` damps the contact
    numerically (bounces lose energy), never softens it or diverges; restitution is honoured
    well when dt <= tau / 5. Friction ``|f_t| <= mu f_n`` always; below the speed v_s it is
    viscous. See ``simcore/kernels/penalty.py``.

    **The fixed spring** (``stiffness=...``): Hunt-Crossley ``f_n = max(0, k pen^p (1 + d
    pen_rate))``, ``f_t = -mu f_n u_t / sqrt(|u_t|^2 + v_s^2)``, explicit in time: a stiff
    spring needs ``dt / substeps`` below about ``2 sqrt(m / k)`` (a step beyond it is refused,
    naming the step), and a small v_s needs it below about ``2 v_s m / (mu f_n)``. Restitution
    is not modelled in this form.

    Args:
        time_constant: tau in s (default 5e-3); not with ``stiffness``.
        damping_ratio: zeta (0: lossless); None: from each pair's restitution.
        stiffness: k in N/m^p; selects the fixed spring.
        damping: d in s/m (default 1.0; 0 is a lossless spring); the fixed spring's.
        exponent: p (1: linear spring; 1.5: Hertzian sphere); the fixed spring's.
        friction_smoothing: v_s, the tangential speed (m/s) below which friction turns viscous.
        substeps: each step is split into this many substeps, each colliding again.
    """
    time_constant: Optional[float] = None
    damping_ratio: Optional[float] = None
    stiffness: Optional[float] = None
    damping: Optional[float] = None
    exponent: float = 1.0
    friction_smoothing: float = 1e-2
    substeps: int = 1

    def __post_init__(self):
        if self.stiffness is None:
            if self.damping is not None:
                raise ValueError("damping belongs to the fixed spring (stiffness=...); the "
                                 "time-constant form takes damping_ratio")
            if self.exponent != 1.0:
                raise ValueError("exponent belongs to the fixed spring (stiffness=...); the "
                                 "time-constant form is a linear spring")
            if self.time_constant is None:
                object.__setattr__(self, "time_constant", 5e-3)
            _check_positive(self, "time_constant")
            if self.damping_ratio is not None:
                _check_positive(self, "damping_ratio", allow_zero=True)
        else:
            for name in ("time_constant", "damping_ratio"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} belongs to the time-constant form; the fixed "
                                     "spring (stiffness=...) takes damping")
            _check_positive(self, "stiffness")
            if self.damping is None:
                object.__setattr__(self, "damping", 1.0)
            _check_positive(self, "damping", allow_zero=True)
        _check_positive(self, "exponent")
        if self.exponent < 1.0:
            raise ValueError(f"exponent must be >= 1 (a force finite in slope at touch), "
                             f"got {self.exponent!r}")
        _check_positive(self, "friction_smoothing")
        _check_int(self, "substeps")

    @property
    def fixed_spring(self):
        """True for the fixed spring (``stiffness=...``), False for the time-constant form."""
        return self.stiffness is not None


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
            to a residual near rounding. A larger island where Gauss-Seidel stalls gets the
            same Newton with its steps solved through the island's bodies, when their
            system is affordable (``simcore/kernels/body_space.py``), and Gauss-Seidel goes on
            where that does not converge. A larger island whose solve would still fail (above
            the failure line, 1e-6) gets dense Newton from there, up to 512 contacts.
            0: Gauss-Seidel only.
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
    polish_max_contacts: int = 64
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
