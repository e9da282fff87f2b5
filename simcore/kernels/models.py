"""The contact model, chosen when the kernels compile.

``rollout_kernel`` and ``reverse_kernel`` take a ``kind`` besides the Model: an empty named tuple
whose class names the contact model (``KIND[model.opt_contact]``). numba compiles a function for
each type of its arguments, so the steps compiled for one model hold only that model's impulses
and their vjp (``contact_impulses``, ``contact_impulses_vjp``): a first rollout with
``HardContact()`` compiles no penalty or smoothed code. The Model's own type is the same for
every model, so the stages that do not depend on it (collision, free velocities, integration)
compile once for all three.
"""
from typing import NamedTuple

from numba.extending import overload

from simcore._jit import OVERLOAD_OPTIONS
from simcore.kernels.consts import (CONTACT_HARD, CONTACT_PENALTY, CONTACT_SMOOTHED,
                                    STATUS_CONTACT_OVERFLOW, STATUS_OK, STATUS_UNSTABLE)
from simcore.kernels.hard import hard_contacts, hard_contacts_vjp
from simcore.kernels.penalty import (penalty_impulses, penalty_impulses_vjp, tc_contacts,
                                     tc_contacts_vjp)
from simcore.kernels.smoothed import smoothed_contacts, smoothed_contacts_vjp


class Penalty(NamedTuple):
    pass


class Hard(NamedTuple):
    pass


class Smoothed(NamedTuple):
    pass


KIND = {CONTACT_PENALTY: Penalty(), CONTACT_HARD: Hard(), CONTACT_SMOOTHED: Smoothed()}


def contact_impulses(kind, m, d, h, stats):
    """The contact model's impulses for the step's contacts (compiled code only).

    In: d.con_* from collision, d.vel_free / d.ang_vel_free; out: the post-contact velocities
    in d.vel_free / d.ang_vel_free (and the model's records in d). stats (2,): the largest solver
    residual and the failed solves, accumulated. Returns a status: STATUS_UNSTABLE for a penalty
    spring too stiff for the step, STATUS_CONTACT_OVERFLOW for an impact record too small.
    """
    raise TypeError("contact_impulses is called from compiled code only")


def contact_impulses_vjp(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar,
                         vpost_bar, wpost_bar, toi_bar):
    """vjp of contact_impulses, after it re-ran on the substep (compiled code only).

    Vstar, Wstar, geom0 (the free velocities and contact geometry before the impulses) and the
    cotangents of the split step's velocities and impact times are HardContact's (hard.py).
    """
    raise TypeError("contact_impulses_vjp is called from compiled code only")


@overload(contact_impulses, jit_options=OVERLOAD_OPTIONS)
def _contact_impulses(kind, m, d, h, stats):
    model = getattr(kind, "instance_class", None)
    if model is Penalty:
        def penalty(kind, m, d, h, stats):
            if m.pen_time_constant > 0.0:  # the time-constant form: a solve
                res, fails = tc_contacts(m, d, h)
                stats[0] = max(stats[0], res)
                stats[1] += fails
                return STATUS_OK
            if penalty_impulses(m, d, h) > 4.0:
                return STATUS_UNSTABLE
            return STATUS_OK
        return penalty
    if model is Hard:
        def hard(kind, m, d, h, stats):
            res, fails = hard_contacts(m, d, h)
            if d.nlog[0] < 0:
                return STATUS_CONTACT_OVERFLOW  # the impact-phase record (sized by ncon_max)
            stats[0] = max(stats[0], res)
            stats[1] += fails
            return STATUS_OK
        return hard
    if model is Smoothed:
        def smoothed(kind, m, d, h, stats):
            res, fails = smoothed_contacts(m, d, h)
            stats[0] = max(stats[0], res)
            stats[1] += fails
            return STATUS_OK
        return smoothed
    return None


@overload(contact_impulses_vjp, jit_options=OVERLOAD_OPTIONS)
def _contact_impulses_vjp(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar,
                          vpost_bar, wpost_bar, toi_bar):
    model = getattr(kind, "instance_class", None)
    if model is Penalty:
        def penalty(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar, vpost_bar,
                    wpost_bar, toi_bar):
            if m.pen_time_constant > 0.0:
                tc_contacts_vjp(m, d, a, h, kink)
            else:
                penalty_impulses_vjp(m, d, a, h, kink)
        return penalty
    if model is Hard:
        def hard(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar, vpost_bar,
                 wpost_bar, toi_bar):
            hard_contacts_vjp(m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar,
                              vpost_bar, wpost_bar, toi_bar)
        return hard
    if model is Smoothed:
        def smoothed(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar, vpost_bar,
                     wpost_bar, toi_bar):
            smoothed_contacts_vjp(m, d, a, h, kink)
        return smoothed
    return None
