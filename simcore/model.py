"""Model (static, after Scene.build), Data (per-rollout scratch) and the user-facing State and
Trajectory. Model and Data are NamedTuples of float64 / int64 C-contiguous arrays and scalars, so
every kernel compiles to one signature; they cross into compiled code once per rollout, each as one
reference (``@record``: simcore/_jit.py)."""
import dataclasses
from typing import NamedTuple

import numpy as np

from simcore._jit import record
from simcore.kernels import consts


@record
class Model(NamedTuple):
    """Everything fixed after ``Scene.build()``. Use ``initial_state()`` for the scene's start.

    Fields are ``<entity>_<attr>``; shapes use ``nbody`` (planes are bodies too, one geom each).
    ``dataclasses``-style edits: ``model._replace(body_friction=...)`` (arrays stay float64).
    """
    nbody: int
    # options (Scene / contact config)
    opt_dt: float                      # step length h
    opt_gravity: np.ndarray            # (3,)
    opt_margin: float                  # base speculative contact margin, added to the motion bound
    opt_contact: int                   # consts.CONTACT_* switch
    opt_substeps: int                  # substeps per step (each collides and integrates)
    opt_max_iter: int                  # contact solver sweeps at most (hard, smoothed)
    opt_polish_max_contacts: int       # Newton polish for solves of at most this many contacts
    opt_tol_fail: float                # a solve whose relative residual exceeds this is a failure
    opt_max_speed: float               # a dynamic body faster than this is an error (m/s)
    # penalty contact (PenaltyContact)
    pen_time_constant: float           # tau (s) of the time-constant form; 0: fixed spring
    pen_damping_ratio: float           # zeta of the time-constant form; < 0: from each pair's e
    pen_stiffness: float               # k in f_n = k pen^p (1 + d pen_rate) (the fixed spring)
    pen_damping: float                 # d (s/m), Hunt-Crossley damping (the fixed spring)
    pen_exponent: float                # p (the fixed spring)
    pen_friction_smoothing: float      # friction regularisation speed (m/s)
    # hard contact (HardContact)
    hard_toi: int                      # 1: split steps at the time of impact
    hard_regularization: float         # eps_k = hard_regularization * trace(A_kk) / 3
    hard_baumgarte: float              # Baumgarte factor for penetration
    hard_restitution_threshold: float  # approach speed (m/s) below which there is no restitution
    hard_tol: float                    # PGS stops below this impulse change (relative)
    hard_depenetration_speed: float    # a penetration is corrected no faster than this (m/s)
    # smoothed contact (SmoothedContact)
    smooth_kappa: float                # relaxation kappa in lambda_n s_n = kappa
    smooth_depenetration_speed: float  # a penetration is corrected no faster than this (m/s)
    # bodies
    body_kind: np.ndarray              # (nbody,) int: consts.BODY_*
    body_mass: np.ndarray              # (nbody,) inf for static/kinematic bodies
    body_invmass: np.ndarray           # (nbody,) 0 for static/kinematic bodies
    body_inertia: np.ndarray           # (nbody, 3) principal moments, body frame (1: not dynamic)
    body_invinertia: np.ndarray        # (nbody, 3) 0 for static/kinematic bodies
    body_friction: np.ndarray          # (nbody,) mu; a pair uses sqrt(mu_a mu_b)
    body_restitution: np.ndarray       # (nbody,) e; a pair uses max(e_a, e_b)
    body_torsional_friction: np.ndarray  # (nbody,) m; a pair uses the max (kernels/rolling.py)
    body_rolling_friction: np.ndarray  # (nbody,) m; a pair uses the max
    geom_type: np.ndarray              # (nbody,) int: consts.GEOM_*
    geom_size: np.ndarray              # (nbody, 3) sphere (r,0,0), capsule (r,hl,0), box (hx,hy,hz)
    geom_rbound: np.ndarray            # (nbody,) bounding-sphere radius (0 for planes)
    # initial state (Scene's add_* arguments)
    init_pos: np.ndarray               # (nbody, 3)
    init_quat: np.ndarray              # (nbody, 4)
    init_vel: np.ndarray               # (nbody, 3)
    init_ang_vel: np.ndarray           # (nbody, 3)

    def initial_state(self):
        """Fresh copies of the state given to the ``Scene.add_*`` calls."""
        return State(pos=self.init_pos.copy(), quat=self.init_quat.copy(),
                     vel=self.init_vel.copy(), ang_vel=self.init_ang_vel.copy())

    def __repr__(self):
        kinds = {consts.CONTACT_PENALTY: "penalty", consts.CONTACT_HARD: "hard",
                 consts.CONTACT_SMOOTHED: "smoothed"}
        return (f"Model(nbody={self.nbody}, dt={self.opt_dt}, "
                f"contact={kinds.get(self.opt_contact, self.opt_contact)})")


_EDIT_HINT = ("(a Model is not edited in place: change the Scene and build it again, or "
              "model._replace(...) with every field that depends on the one changed)")


def _bad(field, what, value, where=""):
    return ValueError(f"model.{field}{where} must be {what}, got {value!r} {_EDIT_HINT}")


def validate_model(model):
    """Raise ValueError, naming the field, if a Model's arrays or options are not what
    ``Scene.build`` makes (a Model edited after build is checked again before every run)."""
    n = model.nbody
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise _bad("nbody", "a positive integer", n)
    shapes = {"opt_gravity": (3,), "body_kind": (n,), "body_mass": (n,), "body_invmass": (n,),
              "body_inertia": (n, 3), "body_invinertia": (n, 3), "body_friction": (n,),
              "body_restitution": (n,), "body_torsional_friction": (n,),
              "body_rolling_friction": (n,), "geom_type": (n,), "geom_size": (n, 3),
              "geom_rbound": (n,), "init_pos": (n, 3), "init_quat": (n, 4), "init_vel": (n, 3),
              "init_ang_vel": (n, 3)}
    for field, shape in shapes.items():
        arr = getattr(model, field)
        dtype = np.int64 if field in ("body_kind", "geom_type") else np.float64
        if not (isinstance(arr, np.ndarray) and arr.shape == shape and arr.dtype == dtype
                and arr.flags.c_contiguous):
            raise _bad(field, f"a C-contiguous {np.dtype(dtype).name} array of shape {shape}",
                       arr)
    positive = ("opt_dt", "opt_tol_fail", "opt_max_speed", "pen_stiffness",
                "pen_friction_smoothing", "hard_regularization", "hard_restitution_threshold",
                "hard_tol", "hard_depenetration_speed", "smooth_kappa",
                "smooth_depenetration_speed")
    for field in positive + ("opt_margin", "pen_time_constant", "pen_damping", "pen_exponent",
                             "hard_baumgarte"):
        v = getattr(model, field)
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
            and not np.isnan(v) and (v > 0 if field in positive else v >= 0)
        if not ok or (np.isinf(v) and field != "opt_max_speed"):
            raise _bad(field, "positive" if field in positive else "non-negative", v)
    if not model.pen_exponent >= 1.0:
        raise _bad("pen_exponent", ">= 1", model.pen_exponent)
    dr = model.pen_damping_ratio
    if isinstance(dr, bool) or not isinstance(dr, (int, float, np.integer, np.floating)) \
            or not np.isfinite(dr) or (dr < 0 and dr != -1.0):
        raise _bad("pen_damping_ratio", "finite and non-negative, or -1 (from restitution)", dr)
    if model.hard_baumgarte > 1.0:
        raise _bad("hard_baumgarte", "in [0, 1]", model.hard_baumgarte)
    for field, lo in (("opt_substeps", 1), ("opt_max_iter", 1), ("opt_polish_max_contacts", 0)):
        v = getattr(model, field)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise _bad(field, f"an integer >= {lo}", v)
    if model.hard_toi not in (0, 1) or model.opt_contact not in (
            consts.CONTACT_PENALTY, consts.CONTACT_HARD, consts.CONTACT_SMOOTHED):
        raise _bad("hard_toi / opt_contact", "one of their codes",
                   (model.hard_toi, model.opt_contact))
    for field in shapes:
        arr = getattr(model, field)
        if not np.all(np.isfinite(arr)) and field not in ("body_mass",):
            i = np.argwhere(~np.isfinite(arr))[0]
            raise _bad(field, "finite", arr[tuple(i)], list(i))
    kind, gtype = model.body_kind, model.geom_type
    if np.any((kind < 0) | (kind > 2)) or np.any((gtype < 0) | (gtype > 3)):
        raise _bad("body_kind / geom_type", "valid codes", (kind, gtype))
    dyn = kind == consts.BODY_DYNAMIC

    def check(field, ok, what):
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = int(bad[0])
            raise _bad(field, what, getattr(model, field)[i], f"[{i}]")
    check("body_mass", ~dyn | (np.isfinite(model.body_mass) & (model.body_mass > 0)),
          "finite and positive for a dynamic body")
    with np.errstate(invalid="ignore"):  # (inf * 0 for the others: not looked at)
        inv_ok = np.isclose(model.body_invmass * model.body_mass, 1.0, rtol=1e-12, atol=0)
    check("body_invmass", np.where(dyn, inv_ok, model.body_invmass == 0),
          "1 / body_mass for a dynamic body (0 otherwise)")
    check("body_inertia", np.all(model.body_inertia > 0, axis=1), "positive")
    check("body_invinertia", ~dyn | np.all(np.isclose(
        model.body_invinertia * model.body_inertia, 1.0, rtol=1e-12, atol=0), axis=1),
          "1 / body_inertia for a dynamic body")
    for field in ("body_friction", "body_torsional_friction", "body_rolling_friction"):
        check(field, getattr(model, field) >= 0, "non-negative")
    size = model.geom_size
    need = np.where(gtype[:, None] == consts.GEOM_BOX, size > 0, True) & np.where(
        (gtype[:, None] == consts.GEOM_SPHERE) & (np.arange(3) == 0), size > 0, True) & np.where(
        (gtype[:, None] == consts.GEOM_CAPSULE) & (np.arange(3) < 2), size > 0, True)
    check("geom_size", np.all(need, axis=1), "positive for the shape's sizes")
    check("geom_rbound", np.isclose(model.geom_rbound, bounding_radius(gtype, size), rtol=1e-12,
                                    atol=0), "the shape's bounding radius (from geom_size)")


def bounding_radius(gtype, size):
    """(n,) bounding-sphere radius of each geom about its centre (0 for planes)."""
    r = np.zeros(gtype.shape[0])
    sph, cap, box = (gtype == consts.GEOM_SPHERE, gtype == consts.GEOM_CAPSULE,
                     gtype == consts.GEOM_BOX)
    r[sph] = size[sph, 0]
    r[cap] = size[cap, 0] + size[cap, 1]
    r[box] = np.linalg.norm(size[box], axis=1)
    return r


@record
class Data(NamedTuple):
    """Per-rollout scratch: current state, contacts of the current (sub)step, broad-phase pairs.
    Written by the stepper (kernels/step.py); capacities grow in Python on overflow."""
    pos: np.ndarray         # (nbody, 3)
    quat: np.ndarray        # (nbody, 4)
    vel: np.ndarray         # (nbody, 3)
    ang_vel: np.ndarray     # (nbody, 3)
    xmat: np.ndarray        # (nbody, 3, 3) rotation matrices of quat, by step.update_xmat
    vel_free: np.ndarray    # (nbody, 3) v* before contact impulses, by step.free_velocities
    ang_vel_free: np.ndarray  # (nbody, 3) w*, the mean rate of the free rotation step
    ang_mom_offset: np.ndarray  # (nbody, 3) the free rotation's end momentum less I(R) w*
    #                             (dynamics.spin_step; dynamics.end_angular_velocity uses it)
    body_spec: np.ndarray   # (nbody,) motion bound h (|v*| + |w*| rbound), for margins
    aabb: np.ndarray        # (nbody, 6) lo, hi, by broadphase
    order: np.ndarray       # (nbody,) int scratch for the sweep
    pair: np.ndarray        # (npair_max, 2) int, by broadphase: (a, b), type(a) >= type(b)
    npair: np.ndarray       # (1,) int
    con_body: np.ndarray    # (nrow_max, 2) int (a, b); normal points from b to a (nrow_max: below)
    con_dist: np.ndarray    # (ncon_max,) signed gap, negative = penetration
    con_normal: np.ndarray  # (ncon_max, 3)
    con_t1: np.ndarray      # (ncon_max, 3) tangent frame (normal, t1, t2) right-handed
    con_t2: np.ndarray      # (ncon_max, 3)
    con_pos: np.ndarray     # (ncon_max, 3) contact point, midway between the surfaces
    con_mu: np.ndarray      # (ncon_max,) pair friction
    con_e: np.ndarray       # (ncon_max,) pair restitution
    con_lambda: np.ndarray  # (ncon_max, 3) impulse on a in the contact frame (n, t1, t2)
    con_torque: np.ndarray  # (ncon_max, 3) torque impulse on a, world (rolling.py's stage)
    ncon: np.ndarray        # (1,) int
    # hard contact (kernels/hard.py). Arrays of nrow_max = ncon_max entries, 2 ncon_max when
    # HardContact has rolling or torsional friction: its resting solve then holds, after the
    # ncon contacts, ntorque[0] blocks of torque rows (kernels/rolling.py, torque_rows)
    con_J: np.ndarray       # (nrow_max, 2, 3, 6) Jacobian rows per side (a: +, b: -)
    con_MJ: np.ndarray      # (nrow_max, 2, 6, 3) M^-1 J^T per side
    con_A: np.ndarray       # (nrow_max, 3, 3) diagonal Delassus block
    con_bias: np.ndarray    # (nrow_max,) normal bias b_n of the latest solve
    con_parent: np.ndarray  # (nrow_max,) int: a torque block's contact, -1 for a contact
    con_resist: np.ndarray  # (nrow_max, 2) a torque block's (torsional, rolling) friction, m
    ntorque: np.ndarray     # (1,) int torque blocks of the latest resting solve
    con_phase: np.ndarray   # (ncon_max,) int first impact phase, -1 when not an impact
    con_toi: np.ndarray     # (ncon_max,) time of impact within the step (its first phase)
    con_toi_root: np.ndarray  # (ncon_max,) the root of its gap's parabola then (con_toi is
    #                           later when a body of the contact was hit before)
    con_refresh_src: np.ndarray  # (ncon_max,) int: -1, or the contact of the same pair at whose
    #                              impact time (hard, toi) the pair's geometry was taken
    con_cap_margin: np.ndarray  # (ncon_max,) how far its impact phases were from the switch
    #                             of their work cap (m/s; hard.hard_contacts), inf: no impact
    con_lam_phase: np.ndarray  # (nrow_max, 3) impulses of the current solve
    con_sel: np.ndarray     # (nrow_max,) int contacts of the current solve
    vel_pre: np.ndarray     # (nbody, 3) mean velocity before the impact (hard.hard_contacts)
    ang_vel_pre: np.ndarray  # (nbody, 3)
    vel_post: np.ndarray    # (nbody, 3) mean velocity after the impact, to the end of the step
    ang_vel_post: np.ndarray  # (nbody, 3)
    body_toi: np.ndarray    # (nbody,) impact time within the step, -1 for none (hard, toi)
    prev_key: np.ndarray    # (nrow_max,) int contact identities of the previous resting solve
    prev_lam: np.ndarray    # (nrow_max, 3) its impulses (warm start)
    nprev: np.ndarray       # (1,) int
    # the impact phases of the latest hard step, in order (for the adjoint): entry e is contact
    # log_con[e] in phase log_phase[e] with Newton's impulse log_lam[e] (the impulse applied:
    # log_lam0[e] + log_alpha[e] (log_lam[e] - log_lam0[e]), hard.hard_contacts); nlog[0]
    # entries, -1 when they did not fit (the rollout then grows ncon_max and repeats the step)
    log_con: np.ndarray     # (4 ncon_max,) int
    log_phase: np.ndarray   # (4 ncon_max,) int
    log_lam: np.ndarray     # (4 ncon_max, 3)
    log_alpha: np.ndarray   # (4 ncon_max,)
    log_lam0: np.ndarray    # (4 ncon_max, 3) the phase's plastic impulse (when log_alpha < 1)
    nlog: np.ndarray        # (1,) int
    # factorizations kept while a caller solves with the same matrices again and again
    # (kernels/factors.py): on while fac_on[0] is 1; entry e < fac_count[0] is a matrix of order
    # fac_meta[e, 0], kind fac_meta[e, 1] (a bandwidth, or factors.DENSE / BLOCK_SPARSE) and
    # fac_meta[e, 4] entries: its key (fac_meta[e, 5] entries) then its factors at
    # fac_float[fac_meta[e, 2]:], its pivots at fac_int[fac_meta[e, 3]:]
    fac_on: np.ndarray      # (1,) int
    fac_count: np.ndarray   # (1,) int
    fac_meta: np.ndarray    # (FACTOR_ENTRIES, 6) int
    fac_float: np.ndarray   # grown by factors.keep
    fac_int: np.ndarray     # (int) grown by factors.keep
    fac_tag: np.ndarray     # (1,) int: the memo slot of the solve running, or -1 (factors.py)


FACTOR_ENTRIES = 32  # factorizations and memos kept at most (Data.fac_meta)


def make_data(model, state, ncon_max, npair_max):
    n = model.nbody
    nr = ncon_max  # the hard solves' entries: contacts, and torque blocks where there are some
    if model.opt_contact == consts.CONTACT_HARD and (np.any(model.body_torsional_friction > 0.0)
                                                     or np.any(model.body_rolling_friction > 0.0)):
        nr = 2 * ncon_max
    z3 = lambda: np.zeros((n, 3))
    return Data(
        pos=np.array(state.pos, dtype=np.float64, order="C"),
        quat=np.array(state.quat, dtype=np.float64, order="C"),
        vel=np.array(state.vel, dtype=np.float64, order="C"),
        ang_vel=np.array(state.ang_vel, dtype=np.float64, order="C"),
        xmat=np.zeros((n, 3, 3)), vel_free=z3(), ang_vel_free=z3(), ang_mom_offset=z3(),
        body_spec=np.zeros(n), aabb=np.zeros((n, 6)), order=np.zeros(n, dtype=np.int64),
        pair=np.zeros((npair_max, 2), dtype=np.int64), npair=np.zeros(1, dtype=np.int64),
        con_body=np.zeros((nr, 2), dtype=np.int64), con_dist=np.zeros(ncon_max),
        con_normal=np.zeros((ncon_max, 3)), con_t1=np.zeros((ncon_max, 3)),
        con_t2=np.zeros((ncon_max, 3)), con_pos=np.zeros((ncon_max, 3)),
        con_mu=np.zeros(ncon_max), con_e=np.zeros(ncon_max), con_lambda=np.zeros((ncon_max, 3)),
        con_torque=np.zeros((ncon_max, 3)), ncon=np.zeros(1, dtype=np.int64),
        con_J=np.zeros((nr, 2, 3, 6)), con_MJ=np.zeros((nr, 2, 6, 3)),
        con_A=np.zeros((nr, 3, 3)), con_bias=np.zeros(nr),
        con_parent=np.full(nr, -1, dtype=np.int64), con_resist=np.zeros((nr, 2)),
        ntorque=np.zeros(1, dtype=np.int64),
        con_phase=np.zeros(ncon_max, dtype=np.int64), con_toi=np.zeros(ncon_max),
        con_toi_root=np.zeros(ncon_max),
        con_refresh_src=np.full(ncon_max, -1, dtype=np.int64),
        con_cap_margin=np.full(ncon_max, np.inf), con_lam_phase=np.zeros((nr, 3)),
        con_sel=np.zeros(nr, dtype=np.int64),
        vel_pre=z3(), ang_vel_pre=z3(), vel_post=z3(), ang_vel_post=z3(),
        body_toi=np.zeros(n),
        prev_key=np.zeros(nr, dtype=np.int64), prev_lam=np.zeros((nr, 3)),
        nprev=np.zeros(1, dtype=np.int64),
        log_con=np.zeros(4 * ncon_max, dtype=np.int64),
        log_phase=np.zeros(4 * ncon_max, dtype=np.int64), log_lam=np.zeros((4 * ncon_max, 3)),
        log_alpha=np.ones(4 * ncon_max), log_lam0=np.zeros((4 * ncon_max, 3)),
        nlog=np.zeros(1, dtype=np.int64), fac_on=np.zeros(1, dtype=np.int64),
        fac_count=np.zeros(1, dtype=np.int64),
        fac_meta=np.zeros((FACTOR_ENTRIES, 6), dtype=np.int64), fac_float=np.zeros(0),
        fac_int=np.zeros(0, dtype=np.int64), fac_tag=np.full(1, -1, dtype=np.int64))


@record
class Adjoint(NamedTuple):
    """Reverse-sweep scratch (kernels/step.py: reverse_kernel). Orientation cotangents are
    world-frame twists (kernels/rotation.py), so every body's state cotangent is four 3-vectors."""
    pos_bar: np.ndarray       # (nbody, 3) cotangent of the current state ...
    th_bar: np.ndarray        # (nbody, 3) ... orientation, as a twist
    vel_bar: np.ndarray       # (nbody, 3)
    ang_vel_bar: np.ndarray   # (nbody, 3)
    vfree_bar: np.ndarray     # (nbody, 3) of the post-contact velocities of the (sub)step
    wfree_bar: np.ndarray     # (nbody, 3)
    offset_bar: np.ndarray    # (nbody, 3) of Data.ang_mom_offset
    R_bar: np.ndarray         # (nbody, 3, 3) of the rotation matrices (folded into th_bar)
    con_dist_bar: np.ndarray  # (ncon_max,) of the contacts' gap, normal, point, mu, e
    con_normal_bar: np.ndarray  # (ncon_max, 3)
    con_pos_bar: np.ndarray   # (ncon_max, 3)
    con_mu_bar: np.ndarray    # (ncon_max,)
    con_e_bar: np.ndarray     # (ncon_max,)
    invmass_bar: np.ndarray   # (nbody,) parameters, accumulated over the whole sweep
    inertia_bar: np.ndarray   # (nbody, 3)
    friction_bar: np.ndarray  # (nbody,)
    restitution_bar: np.ndarray  # (nbody,)
    torsional_friction_bar: np.ndarray  # (nbody,)
    rolling_friction_bar: np.ndarray  # (nbody,)
    scalar_bar: np.ndarray    # (NSLOT,) the contact models' scalars, by consts.SLOT_*


def make_adjoint(nbody, ncon_max):
    z = lambda *shape: np.zeros(shape)
    n = nbody
    return Adjoint(pos_bar=z(n, 3), th_bar=z(n, 3), vel_bar=z(n, 3), ang_vel_bar=z(n, 3),
                   vfree_bar=z(n, 3), wfree_bar=z(n, 3), offset_bar=z(n, 3), R_bar=z(n, 3, 3),
                   con_dist_bar=z(ncon_max), con_normal_bar=z(ncon_max, 3),
                   con_pos_bar=z(ncon_max, 3), con_mu_bar=z(ncon_max), con_e_bar=z(ncon_max),
                   invmass_bar=z(n), inertia_bar=z(n, 3), friction_bar=z(n),
                   restitution_bar=z(n), torsional_friction_bar=z(n),
                   rolling_friction_bar=z(n), scalar_bar=z(consts.NSLOT))


@record
class Tape(NamedTuple):
    """What the forward rollout records for the reverse sweep (kernels/step.py: rollout_kernel
    writes it, reverse_kernel reads it), per substep k of the rollout.

    The state at the start of every substep, and the contact solver's memory the reverse
    sweep's re-run of substep k starts from, at woff[k] .. woff[k+1] of wkey, wlam (loaded into
    Data.prev_key, prev_lam): HardContact's at the end of the substep, i.e. its own resting
    impulses, so that the resting solve starts converged (a sweep confirms it) instead of
    solving again; SmoothedContact's at its start, so that its Newton solve re-runs exactly
    (continued from its own solution it would move within its tolerance, which its stiff
    adjoint can amplify); PenaltyContact's time-constant form likewise, followed by the pairs
    with a force, as negative keys (step._tape_force_pairs). Length 0 when no gradient is
    wanted (make_tape(..., 0)).
    """
    pos: np.ndarray      # (steps * substeps, nbody, 3)
    quat: np.ndarray     # (steps * substeps, nbody, 4)
    vel: np.ndarray      # (steps * substeps, nbody, 3)
    ang_vel: np.ndarray  # (steps * substeps, nbody, 3)
    woff: np.ndarray     # (steps * substeps + 1,) int64 offsets into wkey, wlam
    wkey: np.ndarray     # (capacity,) int64 contact keys (memory.py)
    wlam: np.ndarray     # (capacity, 3) their impulses


def make_tape(nbody, nsub, capacity):
    """A Tape of nsub substeps (0: no gradient) whose memory holds capacity entries to start."""
    return Tape(pos=np.empty((nsub, nbody, 3)), quat=np.empty((nsub, nbody, 4)),
                vel=np.empty((nsub, nbody, 3)), ang_vel=np.empty((nsub, nbody, 3)),
                woff=np.zeros(nsub + 1, dtype=np.int64),
                wkey=np.empty(capacity, dtype=np.int64), wlam=np.empty((capacity, 3)))


@dataclasses.dataclass
class State:
    """State of every body (planes included). ``dataclasses.replace(state, vel=...)`` perturbs it.

    Attributes:
        pos: (n, 3) centre of mass, world frame.
        quat: (n, 4) unit quaternion (w, x, y, z), body to world.
        vel: (n, 3) linear velocity, world frame.
        ang_vel: (n, 3) angular velocity, world frame.
    """
    pos: np.ndarray
    quat: np.ndarray
    vel: np.ndarray
    ang_vel: np.ndarray


@dataclasses.dataclass
class Trajectory:
    """A rollout: the state at every step, start included, and per-step contact counts.

    Attributes:
        pos: (steps+1, n, 3); quat: (steps+1, n, 4); vel, ang_vel: (steps+1, n, 3).
        ncon: (steps,) contacts found in each step (speculative ones included; last substep).
        dt: step length.
        solver_residual: (steps,) largest relative fixed-point residual of the step's contact
            solves (hard and smoothed models; 0 for penalty).
        solver_failures: (steps,) solves in the step that did not converge.
        contact_offsets: (steps+1,) the contacts of step t (its last substep) are entries
            contact_offsets[t] : contact_offsets[t+1] of the three arrays below (``contacts(t)``).
        contact_bodies: (N, 2) the contact's bodies (a, b), its normal pointing from b to a.
        contact_mode: (N,) index into ``Trajectory.MODES``: separated, sticking, sliding,
            weakly active (impulse and separation speed both within 1e-9 m/s of zero).
        contact_margin: (N,) distance to the nearest mode switch, in m/s. HardContact: the
            separation speed of a separated contact; for an active one the least of its normal
            impulse as a velocity (lambda_n A_nn) and its friction's margin (impulse left to the
            cone when sticking, slip speed when sliding), and for an impact the distance to the
            switch of its phase's work cap (work per unit normal impulse). PenaltyContact:
            |gap| / dt, the force switching on at zero gap. SmoothedContact (smooth everywhere
            but at the C1 edge of its distance band): |band - gap| / dt.
    """
    MODES = ("separated", "sticking", "sliding", "weakly active")

    pos: np.ndarray
    quat: np.ndarray
    vel: np.ndarray
    ang_vel: np.ndarray
    ncon: np.ndarray
    dt: float
    solver_residual: np.ndarray
    solver_failures: np.ndarray
    contact_offsets: np.ndarray
    contact_bodies: np.ndarray
    contact_mode: np.ndarray
    contact_margin: np.ndarray

    @property
    def steps(self):
        return self.pos.shape[0] - 1

    @property
    def time(self):
        """(steps+1,) time of each stored state."""
        return np.arange(self.pos.shape[0]) * self.dt

    def contacts(self, t):
        """Step t's contacts: (bodies (k, 2), mode names (k,), margins (k,))."""
        sl = slice(self.contact_offsets[t], self.contact_offsets[t + 1])
        return (self.contact_bodies[sl], [self.MODES[i] for i in self.contact_mode[sl]],
                self.contact_margin[sl])

    def smallest_margin(self):
        """(margin, step, (a, b)) of the contact closest to a mode switch over the whole
        rollout, or (inf, -1, None) without contacts."""
        if self.contact_margin.size == 0:
            return np.inf, -1, None
        j = int(np.argmin(self.contact_margin))
        step = int(np.searchsorted(self.contact_offsets, j, side="right")) - 1
        return float(self.contact_margin[j]), step, tuple(int(b) for b in self.contact_bodies[j])

    def mode_switches(self):
        """(M, 5) int rows (step, a, b, from mode, to mode), by step: a contact's mode differs
        from the previous step's (a contact absent from a step counts as separated). A contact
        is its body pair and its rank among the pair's contacts in the step."""
        nb = self.pos.shape[1]
        counts = np.diff(self.contact_offsets)
        step = np.repeat(np.arange(counts.size), counts)
        pair = self.contact_bodies[:, 0] * nb + self.contact_bodies[:, 1]
        first = np.ones(step.size, dtype=bool)  # a pair's contacts come together in a step
        first[1:] = (step[1:] != step[:-1]) | (pair[1:] != pair[:-1])
        rank = np.arange(step.size) - np.maximum.accumulate(np.where(first, np.arange(step.size),
                                                                     0))
        span = nb * nb * consts.MAXCON_PAIR
        ident = step * span + pair * consts.MAXCON_PAIR + rank
        order = np.argsort(ident)
        sid, smode = ident[order], self.contact_mode[order]

        def mode_of(probe):  # mode of the contact identities probe; separated when absent
            if sid.size == 0:
                return np.zeros(probe.shape, dtype=np.int64), np.zeros(probe.shape, dtype=bool)
            i = np.minimum(np.searchsorted(sid, probe), sid.size - 1)
            found = sid[i] == probe
            return np.where(found, smode[i], consts.MODE_SEPARATED), found
        mode = self.contact_mode
        prev, _ = mode_of(ident - span)
        changed = (prev != mode) & (step > 0)
        _, stays = mode_of(ident + span)
        gone = ~stays & (mode != consts.MODE_SEPARATED) & (step + 1 < counts.size)
        rows = np.concatenate([
            np.column_stack([step, self.contact_bodies, prev, mode])[changed],
            np.column_stack([step + 1, self.contact_bodies, mode,
                             np.full_like(mode, consts.MODE_SEPARATED)])[gone]]).astype(np.int64)
        return rows[np.argsort(rows[:, 0], kind="stable")]

    def state(self, t):
        """The State at step index t (copies)."""
        return State(pos=self.pos[t].copy(), quat=self.quat[t].copy(),
                     vel=self.vel[t].copy(), ang_vel=self.ang_vel[t].copy())
