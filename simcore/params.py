"""The differentiable parameters: one table read by ``value_and_grad`` (which models own each, and
where the reverse sweep accumulates it), ``Problem`` (the Model field it sets, its bounds) and
``gradcheck``. A new parameter is a row here, its accumulation in the kernels' vjps and, for a
model's scalar, its slot in ``kernels/consts.py``."""
from typing import NamedTuple, Optional

from simcore.kernels import consts


class Param(NamedTuple):
    field: str              # the Model field it is
    per_body: bool          # one value per body (else one scalar of the contact model)
    contact: Optional[int]  # the contact model it belongs to (None: every model)
    slot: int               # a scalar's index into Adjoint.scalar_bar (-1: per body)
    bounds: tuple           # (low, high) for Problem.bounds; None: unbounded on that side
    form: str = ""          # the form of the contact model it needs ("" any; see applies)


PARAMS = {
    "mass": Param("body_mass", True, None, -1, (1e-12, None)),
    "friction": Param("body_friction", True, None, -1, (0.0, None)),
    "restitution": Param("body_restitution", True, None, -1, (0.0, 1.0)),
    "torsional_friction": Param("body_torsional_friction", True, None, -1, (0.0, None)),
    "rolling_friction": Param("body_rolling_friction", True, None, -1, (0.0, None)),
    "stiffness": Param("pen_stiffness", False, consts.CONTACT_PENALTY, consts.SLOT_STIFFNESS,
                       (1e-12, None), "fixed spring"),
    "damping": Param("pen_damping", False, consts.CONTACT_PENALTY, consts.SLOT_DAMPING,
                     (0.0, None), "fixed spring"),
    "time_constant": Param("pen_time_constant", False, consts.CONTACT_PENALTY,
                           consts.SLOT_TIMECONST, (1e-12, None), "time constant"),
    "damping_ratio": Param("pen_damping_ratio", False, consts.CONTACT_PENALTY,
                           consts.SLOT_DAMPRATIO, (0.0, None), "damping ratio"),
    "kappa": Param("smooth_kappa", False, consts.CONTACT_SMOOTHED, consts.SLOT_KAPPA,
                   (1e-300, None)),
}


FORMS = {
    "fixed spring": (lambda m: m.pen_time_constant == 0.0,
                     "PenaltyContact(stiffness=...) (the fixed spring)"),
    "time constant": (lambda m: m.pen_time_constant > 0.0,
                      "PenaltyContact's time-constant form (no stiffness=...)"),
    "damping ratio": (lambda m: m.pen_time_constant > 0.0 and m.pen_damping_ratio >= 0.0,
                      "PenaltyContact(damping_ratio=...) (without it, the ratio follows "
                      "restitution: differentiate \"restitution\")"),
}


def applies(name, model):
    """Whether parameter ``name`` acts in ``model`` (its contact model, and the form of it that
    the parameter belongs to)."""
    param = PARAMS[name]
    return (param.contact is None or model.opt_contact == param.contact) and (
        not param.form or FORMS[param.form][0](model))


def check_applies(name, model):
    """Raise ValueError, saying why, unless parameter ``name`` acts in ``model``."""
    if name not in PARAMS:
        raise ValueError(f"unknown parameter {name!r}; known: {sorted(PARAMS)}")
    param = PARAMS[name]
    if param.contact is not None and model.opt_contact != param.contact:
        raise ValueError(f"parameter {name!r} does not belong to this model's contact model")
    if not applies(name, model):
        raise ValueError(f"parameter {name!r} acts only in {FORMS[param.form][1]}")
