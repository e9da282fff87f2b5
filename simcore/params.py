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


PARAMS = {
    "mass": Param("body_mass", True, None, -1, (1e-12, None)),
    "friction": Param("body_friction", True, None, -1, (0.0, None)),
    "restitution": Param("body_restitution", True, None, -1, (0.0, 1.0)),
    "stiffness": Param("pen_stiffness", False, consts.CONTACT_PENALTY, consts.SLOT_STIFFNESS,
                       (1e-12, None)),
    "damping": Param("pen_damping", False, consts.CONTACT_PENALTY, consts.SLOT_DAMPING,
                     (0.0, None)),
    "kappa": Param("smooth_kappa", False, consts.CONTACT_SMOOTHED, consts.SLOT_KAPPA,
                   (1e-300, None)),
}
