"""One step = free velocities -> collision -> contact model -> integrate; and the rollout loop.

Stage functions take the Model / Data records (model.py, simcore/_jit.py). The whole rollout
runs here, so Python crosses into compiled code once per rollout (or per chunk of steps when
progress is shown).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.broadphase import broadphase
from simcore.kernels.collision import collide, collide_vjp, tangent_frame_row
from simcore.kernels.collision_box import BOX_SAT, box_box_sat, box_box_vjp_sat, box_scratch
from simcore.kernels.consts import (ABSURD_ENERGY, ABSURD_SPEED, BODY_DYNAMIC, BODY_KINEMATIC,
                                    BODY_STATIC, CONTACT_HARD, CONTACT_PENALTY,
                                    CONTACT_SMOOTHED, FLOOR_SPEED, GEOM_BOX, GEOM_CAPSULE,
                                    MAXCON_PAIR, MODE_SEPARATED, MODE_SLIDING, MODE_STICKING,
                                    MODE_WEAK, STATUS_ABSURD, STATUS_CONTACT_OVERFLOW,
                                    STATUS_NONFINITE, STATUS_OK, STATUS_RECORD_OVERFLOW,
                                    STATUS_ROTATION, WEAK_MARGIN)
from simcore.kernels.contact_space import body_roots, nonzero3, union_root, velocity
from simcore.kernels.dynamics import (SPIN_TOL_FAIL, end_angular_velocity,
                                      end_angular_velocity_vjp, integrate_pose, point_velocity,
                                      segment_rate, segment_rate_vjp, spin_step, spin_step_vjp)
from simcore.kernels.factors import MEMO_COLLISION, memo_find, memo_keep, memo_key, memo_room
from simcore.kernels.kink import ramp_slope
from simcore.kernels.models import contact_impulses, contact_impulses_vjp
from simcore.kernels.rotation import (quat_bar_to_twist, quat_integrate, quat_integrate_vjp,
                                      quat_to_mat, rot_bar_to_twist)
from simcore.kernels.smoothed import contact_scales


@jit(entry=True, inline="always")  # a wrapper
def update_xmat(m, d):
    _update_xmat(d.quat, d.xmat)


@jit
def _update_xmat(quat, xmat):
    for i in range(quat.shape[0]):
        quat_to_mat(quat[i], xmat[i])


@jit(entry=True, inline="always")  # a wrapper
def free_velocities(m, d, ctrl, h):
    return _free_velocities(m.body_kind, m.opt_gravity, m.body_invmass, m.body_inertia,
                            m.geom_rbound, d.xmat, d.vel, d.ang_vel, ctrl, h, d.vel_free,
                            d.ang_vel_free, d.ang_mom_offset, d.body_spec)


@jit
def _free_velocities(kind, gravity, invmass, inertia, rbound, xmat, vel, ang_vel, ctrl, h,
                     vel_free, ang_vel_free, offset, spec):
    # dynamic: gravity, control force/torque, the rotation step; kinematic: velocity = control;
    # static: zero. Also the motion bound used for speculative margins (spec). Returns a
    # status (STATUS_ROTATION when a body's rotation step failed)
    status = STATUS_OK
    for i in range(kind.shape[0]):
        if kind[i] == BODY_DYNAMIC:
            for j in range(3):  # v* = v + h (g + f / m)
                vel_free[i, j] = vel[i, j] + h * (gravity[j] + invmass[i] * ctrl[i, j])
            if inertia[i, 0] == inertia[i, 1] == inertia[i, 2]:
                # spin_step for equal moments, w* = w + h tau / I, without the call (a call
                # passing array views reference-counts them: a tenth of a sphere pile's time)
                for j in range(3):
                    ang_vel_free[i, j] = ang_vel[i, j] + h * ctrl[i, 3 + j] / inertia[i, 0]
                    offset[i, j] = 0.0
            elif not spin_step(xmat[i], ang_vel[i], ctrl[i, 3:], inertia[i], h, ang_vel_free[i],
                               offset[i]) <= SPIN_TOL_FAIL:
                status = STATUS_ROTATION
        elif kind[i] == BODY_KINEMATIC:
            # prescribed for the whole step, so contact forces see it from the start
            vel[i, :] = ctrl[i, :3]
            ang_vel[i, :] = ctrl[i, 3:]
            vel_free[i, :] = ctrl[i, :3]
            ang_vel_free[i, :] = ctrl[i, 3:]
        else:
            vel_free[i, :] = 0.0
            ang_vel_free[i, :] = 0.0
        if kind[i] != BODY_DYNAMIC:
            for j in range(3):
                offset[i, j] = 0.0
        v = np.sqrt(vel_free[i, 0] ** 2 + vel_free[i, 1] ** 2 + vel_free[i, 2] ** 2)
        w = np.sqrt(ang_vel_free[i, 0] ** 2 + ang_vel_free[i, 1] ** 2 + ang_vel_free[i, 2] ** 2)
        spec[i] = h * (v + w * rbound[i])
    return status


@jit(entry=True, inline="always")  # a wrapper
def collision(m, d):
    # broad phase, then every candidate pair's narrow phase; returns a status
    status = broadphase(m, d)
    if status != STATUS_OK:
        return status
    return narrowphase(m, d)


@jit(inline="always")  # a wrapper
def narrowphase(m, d):
    # the contacts of the pairs d.pair[:d.npair[0]], in pair order; returns a status
    return narrowphase_arrays(m.geom_type, m.geom_size, m.body_friction, m.body_restitution,
                              m.opt_margin, d.pair, d.npair, d.body_spec, d.pos, d.xmat,
                              d.con_dist, d.con_normal, d.con_pos, d.con_t1, d.con_t2,
                              d.con_body, d.con_mu, d.con_e, d.con_lambda, d.ncon)


@jit
def narrowphase_arrays(gtype, size, friction, restitution, margin0, pair, npair, spec, pos,
                       xmat, con_dist, con_normal, con_pos, con_t1, con_t2, con_body, con_mu,
                       con_e, con_lambda, ncon):
    # narrowphase on the arrays (the per-step path)
    nc = np.int64(0)
    cap = con_dist.shape[0]
    for p in range(npair[0]):
        a, b = pair[p, 0], pair[p, 1]
        if nc + MAXCON_PAIR > cap:
            return STATUS_CONTACT_OVERFLOW
        margin = margin0 + spec[a] + spec[b]
        n = collide(gtype[a], gtype[b], pos[a], xmat[a], size[a], pos[b], xmat[b], size[b],
                    margin, nc, con_dist, con_normal, con_pos)
        mu = np.sqrt(friction[a] * friction[b])
        e = max(restitution[a], restitution[b])
        for k in range(nc, nc + n):
            con_body[k, 0] = a
            con_body[k, 1] = b
            con_mu[k] = mu
            con_e[k] = e
            tangent_frame_row(con_normal, con_t1, con_t2, k)
            for j in range(3):
                con_lambda[k, j] = 0.0
        nc += n
    ncon[0] = nc
    return STATUS_OK


@jit
def step(kind, m, d, ctrl, h, stats):
    # one (sub)step of length h with controls ctrl (nbody, 6), contact model kind (models.py);
    # d.xmat must match d.quat.
    # stats (2,): largest solver residual and failed solves, accumulated
    # (the parts are inlined wrappers calling compiled functions on the arrays they need)
    status = free_velocities(m, d, ctrl, h)
    if status != STATUS_OK:
        return status
    status = collision(m, d)
    if status != STATUS_OK:
        return status
    status = contact_impulses(kind, m, d, h, stats)
    if status != STATUS_OK:
        return status
    split = m.opt_contact == CONTACT_HARD and m.hard_toi == 1
    Ib, bkind = m.body_inertia, m.body_kind
    # (the records' arrays read before the loop: simcore/_jit.py, records)
    vel, ang_vel, vfree, wfree, btoi = d.vel, d.ang_vel, d.vel_free, d.ang_vel_free, d.body_toi
    pos, quat = d.pos, d.quat
    for i in range(m.nbody):
        if bkind[i] == BODY_STATIC:
            continue
        for j in range(3):
            vel[i, j] = vfree[i, j]
            ang_vel[i, j] = wfree[i, j]
        aniso = bkind[i] == BODY_DYNAMIC and not (Ib[i, 0] == Ib[i, 1] == Ib[i, 2])
        if split and btoi[i] >= 0.0:
            # time of impact t: mean velocity before it over [0, t], after it over [t, h]
            # (for unequal moments the rotation step's, rerun from the pose at t)
            t = d.body_toi[i]
            integrate_pose(d.pos[i], d.quat[i], d.vel_pre[i], d.ang_vel_pre[i], t,
                           d.pos[i], d.quat[i])
            if aniso:
                Rt = np.empty((3, 3))
                quat_to_mat(d.quat[i], Rt)
                if not segment_rate(d.xmat[i], Rt, Ib[i], d.ang_vel_free[i], d.ang_mom_offset[i],
                                    1.0, ctrl[i, 3:], 0.5 * t, h - t,
                                    d.ang_vel_post[i]) <= SPIN_TOL_FAIL:
                    return STATUS_ROTATION
            integrate_pose(d.pos[i], d.quat[i], d.vel_post[i], d.ang_vel_post[i], h - t,
                           d.pos[i], d.quat[i])
        else:
            integrate_pose(pos[i], quat[i], vel[i], ang_vel[i], h, pos[i], quat[i])
        if aniso:
            # the angular velocity at the end, from the momentum (isotropic: w+ itself)
            R1 = np.empty((3, 3))
            quat_to_mat(d.quat[i], R1)
            end_angular_velocity(d.xmat[i], R1, m.body_inertia[i], d.ang_vel_free[i],
                                 d.ang_mom_offset[i], d.ang_vel[i])
    update_xmat(m, d)
    return STATUS_OK


@jit
def _finite_state(pos, quat, vel, ang_vel):
    for i in range(pos.shape[0]):
        for k in range(3):
            if not (np.isfinite(pos[i, k]) and np.isfinite(vel[i, k])
                    and np.isfinite(ang_vel[i, k]) and np.isfinite(quat[i, k])):
                return False
        if not np.isfinite(quat[i, 3]):
            return False
    return True


@jit(inline="always")  # per body; on arrays (a tuple argument is reference-counted whole)
def _point_speed(vel, ang_vel, rbound, i):
    # the speed of body i's fastest point: |v| + |w| rbound
    v = np.sqrt(vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2)
    w = np.sqrt(ang_vel[i, 0] ** 2 + ang_vel[i, 1] ** 2 + ang_vel[i, 2] ** 2)
    return v + w * rbound[i]


@jit(inline="always")  # per body
def _kinetic(mass, inertia, xmat, vel, ang_vel, i):
    # body i's kinetic energy (xmat current)
    T = 0.0
    for j in range(3):
        wb = xmat[i, 0, j] * ang_vel[i, 0] + xmat[i, 1, j] * ang_vel[i, 1] \
            + xmat[i, 2, j] * ang_vel[i, 2]
        T += 0.5 * (mass[i] * vel[i, j] ** 2 + inertia[i, j] * wb * wb)
    return T


@jit(inline="always")  # a wrapper
def start_bounds(m, d, bounds):
    _start_bounds(m.body_kind, m.body_mass, m.body_invmass, m.body_inertia, m.geom_rbound,
                  m.opt_gravity, d.xmat, d.pos, d.vel, d.ang_vel, bounds)


@jit
def _start_bounds(kind, mass, invmass, inertia, rbound, gravity, xmat, pos, vel, ang_vel,
                  bounds):
    # check_bounds's record for a rollout starting from this state (xmat current)
    bounds[:] = 0.0
    for i in range(kind.shape[0]):
        if kind[i] == BODY_DYNAMIC:
            T = _kinetic(mass, inertia, xmat, vel, ang_vel, i)
            bounds[0] = max(bounds[0], np.sqrt(2.0 * T * invmass[i]))
            bounds[4] += T - mass[i] * (gravity[0] * pos[i, 0] + gravity[1] * pos[i, 1]
                                        + gravity[2] * pos[i, 2])
        elif kind[i] == BODY_KINEMATIC:
            bounds[1] = max(bounds[1], _point_speed(vel, ang_vel, rbound, i))


@jit(inline="always")  # a wrapper
def check_bounds(m, d, ctrl, h, pos0, bounds):
    # (the speed at which the contact model pushes overlapping bodies apart: the hard and
    # smoothed models' cap; for PenaltyContact's time-constant form pen / tau, the speed a
    # penetration pen stores (1/2 k pen^2 = 1/2 m_eff (pen / tau)^2), the deepest so far in
    # bounds[9]; the fixed spring's energy is not explained)
    vdep = 0.0
    if m.opt_contact == CONTACT_HARD:
        vdep = m.hard_depenetration_speed
    elif m.opt_contact == CONTACT_SMOOTHED:
        vdep = m.smooth_depenetration_speed
    elif m.pen_time_constant > 0.0:
        for k in range(d.ncon[0]):
            bounds[9] = max(bounds[9], -d.con_dist[k] / m.pen_time_constant)
        vdep = bounds[9]
    return _check_bounds(m.body_kind, m.body_mass, m.body_invmass, m.body_inertia,
                         m.geom_rbound, m.opt_gravity, m.opt_max_speed, vdep, d.xmat, d.pos,
                         d.quat, d.vel, d.ang_vel, ctrl, h, pos0, bounds)


@jit(inline="always")  # once per step, inlined into rollout_kernel
def _check_bounds(kind, mass, invmass, inertia, rbound, gravity, max_speed, vdep, xmat, pos,
                  quat, vel, ang_vel, ctrl, h, pos0, bounds):
    """Whether the state, after a step of length h with controls ctrl, is plausible:
    finite; no dynamic body faster than max_speed; none whose kinetic energy's speed,
    sqrt(2 T / m), is over ABSURD_SPEED times the speed the scene explains: the fastest
    dynamic body's at the start, twice the fastest point of a kinematic body so far, what the
    controls can add to a body, the fall of the body that fell farthest below its start pos0
    (nbody, 3), and a floor (FLOOR_SPEED plus, for every dynamic body, the speed vdep at which
    the contact model pushes overlapping bodies apart); and a kinetic energy at most
    ABSURD_ENERGY times what the scene's energy explains (the start's kinetic and potential
    energy, the controls' work, and every body at twice the fastest kinematic speed and at the
    floor). bounds (10,), kept across calls (start_bounds): the fastest dynamic and kinematic
    speeds, the controls' speed, (out) the speed explained; the start's mechanical energy, the
    controls' work, (out) the kinetic energy explained; (out) the fastest dynamic body and its
    speed; check_bounds's penalty depenetration speed. Returns a status."""
    if not _finite_state(pos, quat, vel, ang_vel):
        return STATUS_NONFINITE
    fall, push, fastest, total, ndyn = 0.0, 0.0, 0.0, 0.0, 0
    ke, pe = 0.0, 0.0
    for i in range(kind.shape[0]):
        if kind[i] == BODY_KINEMATIC:
            bounds[1] = max(bounds[1], _point_speed(vel, ang_vel, rbound, i))
        elif kind[i] == BODY_DYNAMIC:
            if vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2 > max_speed * max_speed:
                return STATUS_ABSURD
            ndyn += 1
            total += mass[i]
            T = _kinetic(mass, inertia, xmat, vel, ang_vel, i)
            ke += T
            v = np.sqrt(2.0 * T * invmass[i])  # its energy's speed
            if v > fastest:
                fastest = v
                bounds[7] = i
            drop = 0.0  # g . dx, the potential energy per unit mass released
            for j in range(3):
                drop += gravity[j] * (pos[i, j] - pos0[i, j])
                pe -= mass[i] * gravity[j] * pos[i, j]
                bounds[5] += h * (ctrl[i, j] * vel[i, j] + ctrl[i, 3 + j] * ang_vel[i, j])
            fall = max(fall, drop)
            f = np.sqrt(ctrl[i, 0] ** 2 + ctrl[i, 1] ** 2 + ctrl[i, 2] ** 2)
            tau = np.sqrt(ctrl[i, 3] ** 2 + ctrl[i, 4] ** 2 + ctrl[i, 5] ** 2)
            least = min(inertia[i, 0], inertia[i, 1], inertia[i, 2])
            push = max(push, h * (f * invmass[i] + tau * rbound[i] / least))
    bounds[2] += push
    floor = FLOOR_SPEED + ndyn * vdep
    bounds[3] = bounds[0] + 2.0 * bounds[1] + bounds[2] + np.sqrt(2.0 * fall) + floor
    bounds[6] = bounds[4] + bounds[5] - pe + 0.5 * total * (
        4.0 * bounds[1] * bounds[1] + floor * floor)
    bounds[8] = fastest
    if fastest > ABSURD_SPEED * bounds[3] or ke > ABSURD_ENERGY * bounds[6]:
        return STATUS_ABSURD
    return STATUS_OK


@jit
def _tape_memory(d, k, tape_woff, tape_wkey, tape_wlam):
    # the contact solver's warm-start memory, as substep k's entry of the tape
    n, o = d.nprev[0], tape_woff[k]
    tape_wkey[o:o + n] = d.prev_key[:n]
    tape_wlam[o:o + n] = d.prev_lam[:n]
    tape_woff[k + 1] = o + n


@jit
def _tape_force_pairs(m, d, k, tape_woff, tape_wkey, tape_wlam):
    # PenaltyContact's entry of the tape for substep k, after its solver's memory at the start
    # (_tape_memory): the pairs with a contact at gap <= 0, in pair order, each as the key
    # -1 - (a * nbody + b) (negative: never a contact's). The others have no force, and so no
    # cotangent: the reverse sweep re-runs the narrow phase of these pairs only, without the
    # broad phase (_load_substep)
    o = tape_woff[k + 1]
    n = 0
    for k0 in range(d.ncon[0]):
        if d.con_dist[k0] > 0.0:
            continue
        key = -1 - (d.con_body[k0, 0] * m.nbody + d.con_body[k0, 1])
        if n == 0 or tape_wkey[o + n - 1] != key:
            tape_wkey[o + n] = key
            tape_wlam[o + n, :] = 0.0
            n += 1
    tape_woff[k + 1] = o + n


@jit(entry=True)
def rollout_kernel(kind, m, d, controls, t0, t1, pos_out, quat_out, vel_out, ang_vel_out,
                   ncon_out, resid_out, fail_out, tape, con_off, con_bodies, con_mode, con_margin,
                   bounds):
    """Steps t0 .. t1-1 from the state in d with the contact model kind (models.KIND); writes
    states t0+1 .. t1, contact counts and the contact solver's residual and failures per step,
    and each step's contacts (last substep) with their mode and margin (contact_modes) at
    con_off[t] .. con_off[t+1] of con_bodies, con_mode, con_margin (STATUS_RECORD_OVERFLOW,
    before step t, when these might not hold its contacts).

    controls: (steps, nbody, 6), or (1, nbody, 6) held for every step.
    tape: the model.Tape for the reverse sweep (length 0 when no gradient is wanted).
    bounds (10,): check_bounds's record, kept across calls (set up at step 0).
    Returns (status, t): t is the step that failed, or t1.
    """
    S = m.opt_substeps
    h = m.opt_dt / S
    update_xmat(m, d)
    if t0 == 0:
        start_bounds(m, d, bounds)
    stats = np.zeros(2)
    taping = tape.pos.shape[0] > 0
    hard = m.opt_contact == CONTACT_HARD
    penalty = m.opt_contact == CONTACT_PENALTY
    # a substep's most entries on the tape (PenaltyContact's: its memory and its force pairs)
    wmax = d.prev_key.shape[0] * (2 if penalty else 1)
    for t in range(t0, t1):
        if con_off[t] + d.con_dist.shape[0] > con_mode.shape[0] or (
                taping and tape.woff[t * S] + S * wmax > tape.wkey.shape[0]):
            return STATUS_RECORD_OVERFLOW, t  # before the step: resumable as it is
        ctrl = controls[t] if controls.shape[0] > 1 else controls[0]
        stats[:] = 0.0
        for s in range(S):
            if taping:
                k = t * S + s
                tape.pos[k] = d.pos
                tape.quat[k] = d.quat
                tape.vel[k] = d.vel
                tape.ang_vel[k] = d.ang_vel
                if not hard:
                    _tape_memory(d, k, tape.woff, tape.wkey, tape.wlam)
            status = step(kind, m, d, ctrl, h, stats)
            if status != STATUS_OK:
                return status, t
            if taping and hard:
                _tape_memory(d, k, tape.woff, tape.wkey, tape.wlam)
            elif taping and penalty:
                _tape_force_pairs(m, d, k, tape.woff, tape.wkey, tape.wlam)
        status = check_bounds(m, d, ctrl, m.opt_dt, pos_out[0], bounds)
        if status != STATUS_OK:
            return status, t
        start = con_off[t]
        contact_modes(m, d, h, con_mode, con_margin, con_bodies, start)
        con_off[t + 1] = start + d.ncon[0]
        pos_out[t + 1] = d.pos
        quat_out[t + 1] = d.quat
        vel_out[t + 1] = d.vel
        ang_vel_out[t + 1] = d.ang_vel
        ncon_out[t] = d.ncon[0]
        resid_out[t] = stats[0]
        fail_out[t] = int(stats[1])
    return STATUS_OK, t1


# ----------------------------------------------------------------------------------------------
# Reverse sweep. Each substep is re-run forward from its taped start state (contacts included;
# the hard resting solve warm-started from its own taped solution, see rollout_kernel) and then
# differentiated; cotangents live in an Adjoint (model.py).


@jit
def free_velocities_vjp(m, d, a, ctrl, h, ctrl_bar):
    # vjp of free_velocities: a.vfree_bar / a.wfree_bar / a.offset_bar -> state, a.R_bar,
    # controls, parameters. Returns a status
    status = STATUS_OK
    # (the records' arrays read before the loop: simcore/_jit.py, records)
    body_kind, invmass, Ib = m.body_kind, m.body_invmass, m.body_inertia
    vel_bar, ang_vel_bar, vfree_bar, wfree_bar = a.vel_bar, a.ang_vel_bar, a.vfree_bar, a.wfree_bar
    invmass_bar, inertia_bar, offset_bar, R_bar = a.invmass_bar, a.inertia_bar, a.offset_bar, \
        a.R_bar
    xmat, ang_vel = d.xmat, d.ang_vel
    for i in range(m.nbody):
        kind = body_kind[i]
        if kind == BODY_DYNAMIC:
            for q in range(3):  # v* = v + h (g + f / m)
                vel_bar[i, q] += vfree_bar[i, q]
                ctrl_bar[i, q] += h * invmass[i] * vfree_bar[i, q]
                invmass_bar[i] += h * ctrl[i, q] * vfree_bar[i, q]
            if Ib[i, 0] == Ib[i, 1] == Ib[i, 2]:
                # w* = w + h tau / I: the derivative along I is shared equally by the three
                # moments (what the mass, which scales them together, needs)
                c = 0.0
                for q in range(3):
                    ang_vel_bar[i, q] += wfree_bar[i, q]
                    ctrl_bar[i, 3 + q] += h * wfree_bar[i, q] / Ib[i, 0]
                    c -= h * ctrl[i, 3 + q] * wfree_bar[i, q] / (Ib[i, 0] * Ib[i, 0])
                for q in range(3):
                    inertia_bar[i, q] += c / 3.0
            elif (nonzero3(wfree_bar[i]) or nonzero3(offset_bar[i])) and \
                    not spin_step_vjp(xmat[i], ang_vel[i], ctrl[i, 3:], Ib[i], h,
                                      wfree_bar[i], offset_bar[i], R_bar[i],
                                      ang_vel_bar[i], ctrl_bar[i, 3:], inertia_bar[i]):
                status = STATUS_ROTATION
        elif kind == BODY_KINEMATIC:
            # velocity = control for the whole step (the contacts saw it too)
            for q in range(3):
                ctrl_bar[i, q] += vfree_bar[i, q] + vel_bar[i, q]
                ctrl_bar[i, 3 + q] += wfree_bar[i, q] + ang_vel_bar[i, q]
            vel_bar[i, :] = 0.0
            ang_vel_bar[i, :] = 0.0
    return status


@jit(inline="always")  # per pair; on arrays (an inlined tuple argument can be counted whole)
def _pair_end(body, nc, k0, i, j):
    # one past the last contact of body pair (i, j) from k0 on (collision stores them together)
    k = k0
    while k < nc and body[k, 0] == i and body[k, 1] == j:
        k += 1
    return k


@jit(inline="always")  # per pair
def _zero_cotangents(dist_bar, normal_bar, pos_bar, mu_bar, e_bar, k0, k1):
    for k in range(k0, k1):
        if dist_bar[k] != 0.0 or mu_bar[k] != 0.0 or e_bar[k] != 0.0:
            return False
        for q in range(3):
            if normal_bar[k, q] != 0.0 or pos_bar[k, q] != 0.0:
                return False
    return True


@jit
def collision_vjp(m, d, a, kink):
    # vjp of collision: a.con_{dist,normal,pos,mu,e}_bar -> a.pos_bar, a.R_bar, friction and
    # restitution. For transition_kernel's rows (d.fac_on), a pair that more rows reach than
    # building its Jacobian costs is taken through its Jacobian, built once per substep
    # (_pair_jacobians); otherwise through the pair's vjp.
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    dist_bar, normal_bar, pos_bar = a.con_dist_bar, a.con_normal_bar, a.con_pos_bar
    mu_bar, e_bar = a.con_mu_bar, a.con_e_bar
    friction_bar, restitution_bar = a.friction_bar, a.restitution_bar
    pos, xmat, con_mu = d.pos, d.xmat, d.con_mu
    gtype, gsize, spec = m.geom_type, m.geom_size, d.body_spec
    pair, body, nc = d.pair, d.con_body, d.ncon[0]
    jacs = _pair_jacobians(m, d, kink) if d.fac_on[0] == 1 else np.empty(0)
    sats = _box_sats(m, d) if d.fac_on[0] == 1 else np.empty(0)
    sat = np.empty(BOX_SAT)
    scratch = box_scratch()
    out = np.empty(24)
    k0 = np.int64(0)
    for p in range(d.npair[0]):
        i, j = pair[p, 0], pair[p, 1]
        k1 = _pair_end(body, nc, k0, i, j)
        if _zero_cotangents(dist_bar, normal_bar, pos_bar, mu_bar, e_bar, k0, k1):
            k0 = k1  # (the vjp is linear in them: nothing to pass back)
            continue
        margin = m.opt_margin + spec[i] + spec[j]
        n = k1 - k0
        at = np.int64(jacs[p]) if jacs.shape[0] > 0 else -1
        if at >= 0:  # out = the Jacobian's transpose times the contacts' cotangents
            out[:] = 0.0
            for c in range(n):
                k = k0 + c
                for q in range(7):
                    v = dist_bar[k] if q == 0 else (normal_bar[k, q - 1] if q < 4
                                                    else pos_bar[k, q - 4])
                    if v != 0.0:
                        r = at + 24 * (7 * c + q)
                        for e in range(24):
                            out[e] += v * jacs[r + e]
            _add_pose_bars(a.pos_bar[i], a.R_bar[i], a.pos_bar[j], a.R_bar[j], out)
        elif gtype[i] == GEOM_BOX and gtype[j] == GEOM_BOX:  # (its test kept, or run once)
            if sats.shape[0] > 0:
                sat = sats[BOX_SAT * p:BOX_SAT * (p + 1)]
            else:
                box_box_sat(pos[i], xmat[i], gsize[i], pos[j], xmat[j], gsize[j], margin, sat)
            n = box_box_vjp_sat(pos[i], xmat[i], gsize[i], pos[j], xmat[j], gsize[j], margin,
                                k0, dist_bar, normal_bar, pos_bar, kink, a.pos_bar[i],
                                a.R_bar[i], a.pos_bar[j], a.R_bar[j], sat, scratch)
        else:
            n = collide_vjp(gtype[i], gtype[j], pos[i], xmat[i], gsize[i], pos[j], xmat[j],
                            gsize[j], margin, k0, dist_bar, normal_bar, pos_bar, kink,
                            a.pos_bar[i], a.R_bar[i], a.pos_bar[j], a.R_bar[j])
        fi, fj = m.body_friction[i], m.body_friction[j]
        ei, ej = m.body_restitution[i], m.body_restitution[j]
        for k in range(k0, k0 + n):
            mu = con_mu[k]
            if mu > 0.0:  # mu = sqrt(fi fj); at mu = 0 the slope is infinite: reported as 0
                friction_bar[i] += mu_bar[k] * 0.5 * mu / fi
                friction_bar[j] += mu_bar[k] * 0.5 * mu / fj
            w = ramp_slope(ei - ej, kink)  # e = max(ei, ej)
            restitution_bar[i] += e_bar[k] * w
            restitution_bar[j] += e_bar[k] * (1.0 - w)
        k0 += n
    return STATUS_OK


# a pair's Jacobian costs 7 vjps per contact (the unit cotangents of its distance, normal and
# point); _pair_jacobians builds it where more rows than that reach the pair
PAIR_JACOBIAN_COST = 7
# the rows of transition_kernel that reach a pair, per dynamic body of its island: 6 under
# SmoothedContact and PenaltyContact (a body's velocity rows, at least); under HardContact,
# measured, about half of them (24 of 48 on the 8-cube pile of benchmarks/transition_cost.py,
# where building the Jacobians made its rows 5% slower)
PAIR_REACH = 6.0
PAIR_REACH_HARD = 3.0


@jit
def _pair_jacobians(m, d, kink):
    """The Jacobians of the pairs whose vjp is dear (a box against a box or a capsule: a
    separating-axis test and clipping; a plane's or a sphere's vjp costs about what the product
    with its Jacobian does) and that transition_kernel's rows reach more often than building
    them costs, kept once per substep (factors.py, memo) in one block: entry p is where pair
    p's starts in it, or -1. Pair p's (7 n x 24 for its n contacts, row-major) holds per contact
    c its distance, normal (3) and point (3) (rows 7 c ..) against the poses of its two bodies
    (pos 3, R 9 row-major, each), each row the pair's vjp of a unit cotangent. The rows that
    reach a pair are estimated per dynamic body of its island (the contacts' dynamic bodies,
    coupled through the solve): PAIR_REACH."""
    npair, nc, nb = d.npair[0], d.ncon[0], m.nbody
    key = memo_key(np.int64(MEMO_COLLISION), np.int64(0), np.empty(0, np.int64), np.int64(0))
    found, kept = memo_find(d, key, -1)
    if found:
        return kept
    if not memo_room(d):  # (each row would build them again: none)
        return np.empty(0)
    bkind, pair, body, gtype = m.body_kind, d.pair, d.con_body, m.geom_type
    root = body_roots(m, d, np.arange(nc), nc)
    rows = np.zeros(nb)
    per = PAIR_REACH_HARD if m.opt_contact == CONTACT_HARD else PAIR_REACH
    for i in range(nb):
        if bkind[i] == BODY_DYNAMIC:
            rows[root[i]] += per
    at = np.full(npair, -1, dtype=np.int64)
    size = npair
    k0 = np.int64(0)
    for p in range(npair):
        i, j = pair[p, 0], pair[p, 1]
        k1 = _pair_end(body, nc, k0, i, j)
        n = k1 - k0
        reach = max(rows[root[i]] if bkind[i] == BODY_DYNAMIC else 0.0,
                    rows[root[j]] if bkind[j] == BODY_DYNAMIC else 0.0)
        clipped = gtype[i] == GEOM_BOX and (gtype[j] == GEOM_BOX or gtype[j] == GEOM_CAPSULE)
        if clipped and n > 0 and reach > PAIR_JACOBIAN_COST * n:
            at[p] = size
            size += 168 * n
        k0 = k1
    blk = np.empty(size)
    gsize, spec, pos, xmat = m.geom_size, d.body_spec, d.pos, d.xmat
    dist_u = np.zeros(MAXCON_PAIR)
    normal_u = np.zeros((MAXCON_PAIR, 3))
    point_u = np.zeros((MAXCON_PAIR, 3))
    pi_bar, pj_bar = np.empty(3), np.empty(3)
    Ri_bar, Rj_bar = np.empty((3, 3)), np.empty((3, 3))
    sat = np.empty(BOX_SAT)
    scratch = box_scratch()
    k0 = np.int64(0)
    for p in range(npair):
        i, j = pair[p, 0], pair[p, 1]
        k1 = _pair_end(body, nc, k0, i, j)
        blk[p] = at[p]
        if at[p] >= 0:
            margin = m.opt_margin + spec[i] + spec[j]
            boxes = gtype[j] == GEOM_BOX
            if boxes:
                box_box_sat(pos[i], xmat[i], gsize[i], pos[j], xmat[j], gsize[j], margin, sat)
            for c in range(k1 - k0):
                for q in range(7):
                    if q == 0:
                        dist_u[c] = 1.0
                    elif q < 4:
                        normal_u[c, q - 1] = 1.0
                    else:
                        point_u[c, q - 4] = 1.0
                    pi_bar[:] = 0.0
                    pj_bar[:] = 0.0
                    Ri_bar[:, :] = 0.0
                    Rj_bar[:, :] = 0.0
                    if boxes:
                        box_box_vjp_sat(pos[i], xmat[i], gsize[i], pos[j], xmat[j], gsize[j],
                                        margin, np.int64(0), dist_u, normal_u, point_u, kink,
                                        pi_bar, Ri_bar, pj_bar, Rj_bar, sat, scratch)
                    else:
                        collide_vjp(gtype[i], gtype[j], pos[i], xmat[i], gsize[i], pos[j],
                                    xmat[j], gsize[j], margin, np.int64(0), dist_u, normal_u,
                                    point_u, kink, pi_bar, Ri_bar, pj_bar, Rj_bar)
                    r = at[p] + 24 * (7 * c + q)
                    for e in range(3):
                        blk[r + e] = pi_bar[e]
                        blk[r + 12 + e] = pj_bar[e]
                        for f in range(3):
                            blk[r + 3 + 3 * e + f] = Ri_bar[e, f]
                            blk[r + 15 + 3 * e + f] = Rj_bar[e, f]
                    dist_u[c] = 0.0
                    normal_u[c, :] = 0.0
                    point_u[c, :] = 0.0
        k0 = k1
    memo_keep(d, key, blk)
    return blk


@jit
def _box_sats(m, d):
    """The box-box pairs' separating-axis tests (collision_box.box_box_sat), which every row of
    transition_kernel's vjps would run again, kept once per substep (factors.py, memo) in one
    block: pair p's at BOX_SAT p. Empty where there are none or none could be kept."""
    key = memo_key(np.int64(MEMO_COLLISION), np.int64(1), np.empty(0, np.int64), np.int64(0))
    found, kept = memo_find(d, key, -1)
    if found:
        return kept
    npair, gtype, pair = d.npair[0], m.geom_type, d.pair
    boxes = False
    for p in range(npair):
        boxes = boxes or (gtype[pair[p, 0]] == GEOM_BOX and gtype[pair[p, 1]] == GEOM_BOX)
    if not boxes or not memo_room(d):
        return np.empty(0)
    gsize, spec, pos, xmat = m.geom_size, d.body_spec, d.pos, d.xmat
    blk = np.zeros(BOX_SAT * npair)
    for p in range(npair):
        i, j = pair[p, 0], pair[p, 1]
        if gtype[i] == GEOM_BOX and gtype[j] == GEOM_BOX:
            box_box_sat(pos[i], xmat[i], gsize[i], pos[j], xmat[j], gsize[j],
                        m.opt_margin + spec[i] + spec[j], blk[BOX_SAT * p:BOX_SAT * (p + 1)])
    memo_keep(d, key, blk)
    return blk


@jit(inline="always")
def _add_pose_bars(pi_bar, Ri_bar, pj_bar, Rj_bar, out):
    # a pair's pose cotangents in _pair_jacobian's flat form (out: pos 3, R 9, each body) added
    # to its bodies'
    for q in range(3):
        pi_bar[q] += out[q]
        pj_bar[q] += out[12 + q]
        for c in range(3):
            Ri_bar[q, c] += out[3 + 3 * q + c]
            Rj_bar[q, c] += out[15 + 3 * q + c]


@jit(inline="always")
def _zero_state_cotangent(pos_bar, th_bar, vel_bar, ang_vel_bar, i):
    # (on the arrays, without views: per body and per row of transition_kernel)
    for q in range(3):
        if pos_bar[i, q] != 0.0 or th_bar[i, q] != 0.0 or vel_bar[i, q] != 0.0 \
                or ang_vel_bar[i, q] != 0.0:
            return False
    return True


@jit
def step_replay(kind, m, d, ctrl, h):
    """Re-run the forward (sub)step on the state in d up to its integration (PenaltyContact:
    the pairs with a force only, from the tape; its other contacts add nothing, exactly).
    Returns (status, Vstar, Wstar, geom0): the free velocities and the contacts' geometry
    (dist, normal, point) before the contact model, which step_vjp_replayed needs."""
    free_velocities(m, d, ctrl, h)
    if m.opt_contact == CONTACT_PENALTY:  # (d.pair: _load_substep's)
        status = narrowphase(m, d)
    else:
        status = collision(m, d)
    Vstar = d.vel_free.copy()
    Wstar = d.ang_vel_free.copy()
    nc = d.ncon[0] if status == STATUS_OK else 0
    geom0 = (d.con_dist[:nc].copy(), d.con_normal[:nc].copy(), d.con_pos[:nc].copy())
    if status == STATUS_OK:  # (the forward grew ncon_max until the step fitted)
        status = contact_impulses(kind, m, d, h, np.zeros(2))
    return status, Vstar, Wstar, geom0


@jit
def step_vjp(kind, m, d, a, ctrl, h, kink, ctrl_bar):
    """Cotangent of the state after one (sub)step -> before it (in place in a), for the state
    in d (the step's start, d.xmat current); controls' cotangents added to ctrl_bar (nbody, 6)."""
    status, Vstar, Wstar, geom0 = step_replay(kind, m, d, ctrl, h)
    if status != STATUS_OK:
        return status
    return step_vjp_replayed(kind, m, d, a, ctrl, h, kink, ctrl_bar, Vstar, Wstar, geom0)


@jit
def step_vjp_replayed(kind, m, d, a, ctrl, h, kink, ctrl_bar, Vstar, Wstar, geom0):
    """step_vjp's vjp proper, after step_replay (its results passed on). HardContact's vjp
    walks contacts' geometry and Jacobians in d back through the step's impact phases: a second
    call on the same replay needs them put back first (_save_contacts / _restore_contacts)."""
    nb = m.nbody
    nc = d.ncon[0]
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    body_kind = m.body_kind
    ang_mom_offset, ang_vel_free, ang_vel_post = d.ang_mom_offset, d.ang_vel_free, d.ang_vel_post
    ang_vel_pre, body_toi, quat, vel_post = d.ang_vel_pre, d.body_toi, d.quat, d.vel_post
    vel_pre, xmat = d.vel_pre, d.xmat
    R_bar, ang_vel_bar, inertia_bar = a.R_bar, a.ang_vel_bar, a.inertia_bar
    offset_bar, pos_bar, th_bar, vel_bar = a.offset_bar, a.pos_bar, a.th_bar, a.vel_bar
    vfree_bar, wfree_bar, Ib = a.vfree_bar, a.wfree_bar, m.body_inertia
    split = m.opt_contact == CONTACT_HARD and m.hard_toi == 1
    # cotangents of the split step's mean velocities before / after the impact and its time
    vpre_bar, wpre_bar = np.zeros((nb, 3)), np.zeros((nb, 3))
    vpost_bar, wpost_bar = np.zeros((nb, 3)), np.zeros((nb, 3))
    toi_bar = np.zeros(nb)
    a.con_dist_bar[:nc] = 0.0
    a.con_normal_bar[:nc] = 0.0
    a.con_pos_bar[:nc] = 0.0
    a.con_mu_bar[:nc] = 0.0
    a.con_e_bar[:nc] = 0.0
    # integration: x+ = x + h v+, R+ = Exp(h w+) R; for a body in an impact at t (hard, toi)
    # x+ = x + t v_pre + (h - t) v_post, R+ = Exp((h - t) w_post) R_t, R_t = Exp(t w_pre) R
    # (for unequal moments w_post = segment_rate(R, R_t, ...), step's)
    q1, qt = np.empty(4), np.empty(4)
    R1, R1_bar = np.empty((3, 3)), np.empty((3, 3))
    Rt, Rt_bar = np.empty((3, 3)), np.empty((3, 3))
    for i in range(nb):
        if body_kind[i] == BODY_STATIC or _zero_state_cotangent(pos_bar, th_bar, vel_bar,
                                                                ang_vel_bar, i):
            # (a static body; or, all linear in it, a body whose cotangent is zero: a row of
            # transition_kernel away from its island)
            for q in range(3):
                vfree_bar[i, q] = 0.0
                wfree_bar[i, q] = 0.0
                offset_bar[i, q] = 0.0
            continue
        for q in range(3):
            vfree_bar[i, q] = vel_bar[i, q]
        aniso = body_kind[i] == BODY_DYNAMIC and not (Ib[i, 0] == Ib[i, 1] == Ib[i, 2])
        hit = split and body_toi[i] >= 0.0
        if aniso:
            # the end's angular velocity I(R1)^-1 (I(R0) w+ + offset), R1 the end rotation
            if hit:
                t = body_toi[i]
                quat_integrate(quat[i], ang_vel_pre[i], t, qt)
                quat_to_mat(qt, Rt)
                segment_rate(xmat[i], Rt, Ib[i], ang_vel_free[i], ang_mom_offset[i], 1.0,
                             ctrl[i, 3:], 0.5 * t, h - t, ang_vel_post[i])
                quat_integrate(qt, ang_vel_post[i], h - t, q1)
            else:
                quat_integrate(quat[i], ang_vel_free[i], h, q1)
            quat_to_mat(q1, R1)
            wfree_bar[i, :] = 0.0
            offset_bar[i, :] = 0.0
            R1_bar[:, :] = 0.0
            end_angular_velocity_vjp(xmat[i], R1, Ib[i], ang_vel_free[i],
                                     ang_mom_offset[i], ang_vel_bar[i], R_bar[i], R1_bar,
                                     wfree_bar[i], offset_bar[i], inertia_bar[i])
            rot_bar_to_twist(R1, R1_bar, th_bar[i])
        else:
            for q in range(3):
                wfree_bar[i, q] = ang_vel_bar[i, q]
        if hit:
            t = body_toi[i]
            for q in range(3):
                vpre_bar[i, q] = t * pos_bar[i, q]
                vpost_bar[i, q] = (h - t) * pos_bar[i, q]
                toi_bar[i] += pos_bar[i, q] * (vel_pre[i, q] - vel_post[i, q])
                toi_bar[i] -= th_bar[i, q] * ang_vel_post[i, q]  # d/dt Exp((h - t) w) R1
            quat_integrate_vjp(ang_vel_post[i], h - t, th_bar[i], wpost_bar[i])
            if aniso:  # w_post = segment_rate(R, R_t, ...), not the contact model's
                Rt_bar[:, :] = 0.0
                ok, _, ctau_bar, s_bar = segment_rate_vjp(
                    xmat[i], Rt, Ib[i], ang_vel_free[i], ang_mom_offset[i], 1.0,
                    ctrl[i, 3:], 0.5 * t, h - t, wpost_bar[i], R_bar[i], Rt_bar,
                    wfree_bar[i], offset_bar[i], ctrl_bar[i, 3:], inertia_bar[i])
                if not ok:
                    return STATUS_ROTATION
                toi_bar[i] += 0.5 * ctau_bar - s_bar
                wpost_bar[i, :] = 0.0
                rot_bar_to_twist(Rt, Rt_bar, th_bar[i])
            for q in range(3):
                toi_bar[i] += th_bar[i, q] * ang_vel_pre[i, q]
            quat_integrate_vjp(ang_vel_pre[i], t, th_bar[i], wpre_bar[i])
        else:
            for q in range(3):
                vfree_bar[i, q] += h * pos_bar[i, q]
            quat_integrate_vjp(ang_vel_free[i], h, th_bar[i], wfree_bar[i])
        vel_bar[i, :] = 0.0
        ang_vel_bar[i, :] = 0.0
    contact_impulses_vjp(kind, m, d, a, h, kink, Vstar, Wstar, geom0, vpre_bar, wpre_bar,
                         vpost_bar, wpost_bar, toi_bar)
    collision_vjp(m, d, a, kink)
    status = free_velocities_vjp(m, d, a, ctrl, h, ctrl_bar)
    if status != STATUS_OK:
        return status
    for i in range(nb):
        if body_kind[i] == BODY_STATIC:
            pos_bar[i, :] = 0.0
            th_bar[i, :] = 0.0
            vel_bar[i, :] = 0.0
            ang_vel_bar[i, :] = 0.0
        else:
            rot_bar_to_twist(xmat[i], R_bar[i], th_bar[i])
        R_bar[i, :, :] = 0.0
    return STATUS_OK


@jit
def _finite_adjoint(m, a):
    pos_bar, th_bar, vel_bar, ang_vel_bar = a.pos_bar, a.th_bar, a.vel_bar, a.ang_vel_bar
    for i in range(m.nbody):
        for k in range(3):
            if not (np.isfinite(pos_bar[i, k]) and np.isfinite(th_bar[i, k])
                    and np.isfinite(vel_bar[i, k]) and np.isfinite(ang_vel_bar[i, k])):
                return False
    return True


@jit
def _add_cotangent(m, a, quat, cot_pos, cot_quat, cot_vel, cot_ang_vel, t):
    # the loss's cotangent of the state at step t (quaternion part as a twist)
    for i in range(m.nbody):
        if m.body_kind[i] == BODY_STATIC:
            continue
        for q in range(3):
            a.pos_bar[i, q] += cot_pos[t, i, q]
            a.vel_bar[i, q] += cot_vel[t, i, q]
            a.ang_vel_bar[i, q] += cot_ang_vel[t, i, q]
        quat_bar_to_twist(quat[t, i], cot_quat[t, i], a.th_bar[i])


@jit
def _load_substep(m, d, tape, k, kmem):
    # the state at the start of substep k from the tape, and the contact solver's memory the
    # tape kept at the start of substep kmem for its re-run: k itself (the step the forward
    # took, to the bit), or under PenaltyContact k + 1 (the end of k: the re-run starts from
    # the solution the forward reached)
    d.pos[:, :] = tape.pos[k]
    d.quat[:, :] = tape.quat[k]
    d.vel[:, :] = tape.vel[k]
    d.ang_vel[:, :] = tape.ang_vel[k]
    penalty = m.opt_contact == CONTACT_PENALTY
    wkey, wlam = tape.wkey, tape.wlam
    npair = 0
    for o in range(tape.woff[k], tape.woff[k + 1]):
        key = wkey[o]
        if key < 0 and penalty:  # a force pair (_tape_force_pairs)
            d.pair[npair, 0] = (-1 - key) // m.nbody
            d.pair[npair, 1] = (-1 - key) % m.nbody
            npair += 1
    n = 0
    for o in range(tape.woff[kmem], tape.woff[kmem + 1]):
        key = wkey[o]
        if key >= 0 or not penalty:
            d.prev_key[n] = key
            d.prev_lam[n] = wlam[o]
            n += 1
    d.nprev[0] = n
    if penalty:
        d.npair[0] = npair
    update_xmat(m, d)


@jit
def _step_back(kind, m, d, a, ctrl, tape, t, kink, ctrl_bar):
    # the state cotangent in a after step t -> before it, re-running its substeps from the
    # tape; the controls' cotangents added to ctrl_bar (nbody, 6)
    S = m.opt_substeps
    h = m.opt_dt / S
    for s in range(S - 1, -1, -1):
        _load_substep(m, d, tape, t * S + s, t * S + s)
        status = step_vjp(kind, m, d, a, ctrl, h, kink, ctrl_bar)
        if status != STATUS_OK:
            return status
    return STATUS_OK


@jit(entry=True)
def reverse_kernel(kind, m, d, a, controls, tape, quat, cot_pos, cot_quat, cot_vel, cot_ang_vel,
                   kink, ctrl_bar, gain, t0, t1):
    """Reverse sweep over steps t1-1 .. t0, with the state cotangent carried in a.

    quat: (steps+1, nbody, 4) the trajectory's orientations; cot_*: (steps+1, nbody, 3 or 4) the
    loss's cotangents of the trajectory, added at every step (at t1 too when t1 is the last
    state). ctrl_bar: (steps, nbody, 6) out. gain: (steps,) out, each step's growth of the state
    cotangent (adjoint_norm after its vjp over before; 1 while it is zero).
    Returns (status, t): t is the step that failed, or t0.
    """
    horizon = m.opt_dt * (cot_pos.shape[0] - 1)
    if t1 == cot_pos.shape[0] - 1:
        _add_cotangent(m, a, quat, cot_pos, cot_quat, cot_vel, cot_ang_vel, t1)
    for t in range(t1 - 1, t0 - 1, -1):
        before = adjoint_norm(m, a, horizon)
        ctrl = controls[t] if controls.shape[0] > 1 else controls[0]
        status = _step_back(kind, m, d, a, ctrl, tape, t, kink, ctrl_bar[t])
        if status != STATUS_OK:
            return status, t
        if not _finite_adjoint(m, a):
            return STATUS_NONFINITE, t
        gain[t] = adjoint_norm(m, a, horizon) / before if before > 0.0 else 1.0
        _add_cotangent(m, a, quat, cot_pos, cot_quat, cot_vel, cot_ang_vel, t)
    return STATUS_OK, t0


@jit
def _save_contacts(d, nc):
    # what a HardContact vjp moves in d: the contacts' geometry, frames and Jacobians
    return (d.con_dist[:nc].copy(), d.con_normal[:nc].copy(), d.con_pos[:nc].copy(),
            d.con_t1[:nc].copy(), d.con_t2[:nc].copy(), d.con_J[:nc].copy(),
            d.con_MJ[:nc].copy(), d.con_A[:nc].copy())


@jit
def _restore_contacts(d, saved):
    nc = saved[0].shape[0]
    d.con_dist[:nc] = saved[0]
    d.con_normal[:nc] = saved[1]
    d.con_pos[:nc] = saved[2]
    d.con_t1[:nc] = saved[3]
    d.con_t2[:nc] = saved[4]
    d.con_J[:nc] = saved[5]
    d.con_MJ[:nc] = saved[6]
    d.con_A[:nc] = saved[7]


@jit(inline="always")  # per body and substep
def _integrates_simply(body_kind, inertia, body_toi, split, i):
    # whether a body's end pose is x + h v+, Exp(h w+) R with v+, w+ its end velocities (a
    # moving body with equal moments, without an impact in the substep): then the step's
    # cotangents of its end pose are those of its end velocities, up to the pose's own
    # pass-through (transition_kernel, _derive_pose_rows)
    if body_kind[i] == BODY_STATIC or (split and body_toi[i] >= 0.0):
        return False
    return body_kind[i] != BODY_DYNAMIC or inertia[i, 0] == inertia[i, 1] == inertia[i, 2]


@jit
def _derive_pose_rows(At, Bt, i, h, w):
    # rows 12 i + 0..5 (end position, end orientation) of a body that _integrates_simply,
    # from its rows 12 i + 6..11 (end velocities), the substep's vjp being linear in its
    # cotangent: x+ = x + h v+ gives row(x+_q) = e(x_q) + h row(v+_q); R+ = Exp(h w+) R gives
    # row(th+_q) = (Exp(h w+)^T e_q at th) + sum_c (h J_l(h w+)^T e_q)_c row(w+_c)
    # (quat_integrate_vjp). Only while the rows are still unit vectors (the last substep)
    nr = At.shape[1]
    nu = Bt.shape[1]
    g = np.empty(3)
    wb = np.empty(3)
    for q in range(3):
        rp, rv = 12 * i + q, 12 * i + 6 + q
        for c in range(nr):
            At[rp, c] = h * At[rv, c]
        At[rp, rp] += 1.0
        for c in range(nu):
            Bt[rp, c] = h * Bt[rv, c]
    for q in range(3):
        g[:] = 0.0
        g[q] = 1.0
        wb[:] = 0.0
        quat_integrate_vjp(w, h, g, wb)
        rt, rw = 12 * i + 3 + q, 12 * i + 9
        for c in range(nr):
            At[rt, c] = wb[0] * At[rw, c] + wb[1] * At[rw + 1, c] + wb[2] * At[rw + 2, c]
        for c in range(nu):
            Bt[rt, c] = wb[0] * Bt[rw, c] + wb[1] * Bt[rw + 1, c] + wb[2] * Bt[rw + 2, c]
        for c in range(3):
            At[rt, 12 * i + 3 + c] += g[c]


@jit
def _vjp_moves_contacts(m, d):
    # whether the substep's vjp moves contacts in d (HardContact, an impact: their geometry
    # and Jacobians are taken back to the impact poses), so that a second vjp on the same
    # replay needs them put back (_save_contacts / _restore_contacts)
    if m.opt_contact != CONTACT_HARD:
        return False
    body_toi, src = d.body_toi, d.con_refresh_src
    for i in range(m.nbody):
        if body_toi[i] >= 0.0:
            return True
    for k in range(d.ncon[0]):
        if src[k] >= 0:
            return True
    return False


@jit
def _join_contacts(m, d, parent):
    # joins, in the union-find parent, the bodies of the substep's contacts (d, after its
    # replay) that are not static: bodies in different sets after every substep of a step have
    # not met in it, and transition_kernel carries their rows back together
    body, bkind = d.con_body, m.body_kind  # (read before the loop)
    for k in range(d.ncon[0]):
        a, b = body[k, 0], body[k, 1]
        if bkind[a] != BODY_STATIC and bkind[b] != BODY_STATIC:
            ra, rb = union_root(parent, a), union_root(parent, b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)


@jit
def _row_groups(m, parent, root, rank):
    # per moving body its set's root and its rank in the set (0, 1, ...; static bodies -1):
    # bodies of equal rank are in different sets, and their rows are carried back together.
    # Returns the number of ranks (the largest set's size)
    count = np.zeros(m.nbody, dtype=np.int64)
    body_kind = m.body_kind
    ng = 0
    for i in range(m.nbody):
        root[i] = rank[i] = -1
        if body_kind[i] == BODY_STATIC:
            continue
        root[i] = union_root(parent, i)
        rank[i] = count[root[i]]
        count[root[i]] += 1
        ng = max(ng, count[root[i]])
    return ng


@jit(entry=True)
def transition_kernel(kind, m, d, a, controls, tape, kink, A, B, ctrl_bar, t0, t1, derive,
                      together):
    """Each step's Jacobians, for steps t0 .. t1-1, into A[t - t0] (12 nbody, 12 nbody) and
    B[t - t0] (12 nbody, 6 nbody). Per body the tangent coordinates are pos, the orientation as
    a world-frame twist, vel, ang_vel; static bodies' rows and columns stay zero.

    Row r of A[t] is the cotangent, before the step, of the r-th coordinate after it: each
    substep is re-run once from the tape (step_replay; PenaltyContact's solve starts from the
    impulses the forward ended it with, the tape's memory for the next substep: the same
    solution to rounding, in few or no iterations), then every row's cotangent is carried back
    through it (step_vjp_replayed, with the contacts it moves put back in between).
    together: the rows of bodies that no contact of the step joins (directly or through other
    moving bodies) are carried back in one vjp, their cotangents summed: the vjp is linear,
    and each row's result lies on its own bodies (False: one row per vjp; the tests compare
    the two). derive: in the last substep, the pose rows of a body that _integrates_simply
    are combined from its velocity rows (_derive_pose_rows: half the vjps); False carries
    every row back. ctrl_bar: (nbody, 6) scratch. Returns (status, t): t is the step that
    failed, or t1.
    """
    nb = m.nbody
    S = m.opt_substeps
    h = m.opt_dt / S
    body_kind, inertia, body_toi = m.body_kind, m.body_inertia, d.body_toi
    ang_vel_free = d.ang_vel_free
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    pos_bar, th_bar, vel_bar, ang_vel_bar = a.pos_bar, a.th_bar, a.vel_bar, a.ang_vel_bar
    split = m.opt_contact == CONTACT_HARD and m.hard_toi == 1
    penalty = m.opt_contact == CONTACT_PENALTY
    nsub = tape.woff.shape[0] - 1
    parent = np.empty(nb, dtype=np.int64)
    root = np.empty(nb, dtype=np.int64)
    rank = np.empty(nb, dtype=np.int64)
    owner = np.empty(nb, dtype=np.int64)  # per set root, the row's body there (-1: none)
    short = np.zeros(nb, dtype=np.bool_)
    for t in range(t0, t1):
        At = A[t - t0]
        Bt = B[t - t0]
        At[:, :] = 0.0
        Bt[:, :] = 0.0
        for r in range(12 * nb):
            if body_kind[r // 12] != BODY_STATIC:
                At[r, r] = 1.0
        for i in range(nb):  # (not together: all in one set, one row per vjp)
            parent[i] = i if together else 0
        ctrl = controls[t] if controls.shape[0] > 1 else controls[0]
        for s in range(S - 1, -1, -1):
            k = t * S + s
            _load_substep(m, d, tape, k, k + 1 if penalty and k + 1 < nsub else k)
            status, Vstar, Wstar, geom0 = step_replay(kind, m, d, ctrl, h)
            if status != STATUS_OK:
                return status, t
            if together:
                _join_contacts(m, d, parent)
            ng = _row_groups(m, parent, root, rank)
            for i in range(nb):
                short[i] = derive and s == S - 1 and _integrates_simply(body_kind, inertia,
                                                                        body_toi, split, i)
            moves = _vjp_moves_contacts(m, d)
            saved = _save_contacts(d, d.ncon[0] if moves else 0)
            first = True
            d.fac_on[0] = 1  # (every row solves with the same matrices: kernels/factors.py)
            d.fac_count[0] = 0
            for g in range(ng):
                for q in range(12):
                    owner[:] = -1
                    rows = 0
                    for i in range(nb):
                        if rank[i] == g and (q >= 6 or not short[i]):
                            owner[root[i]] = i
                            rows += 1
                    if rows == 0:
                        continue
                    if moves and not first:
                        _restore_contacts(d, saved)
                    first = False
                    for j in range(nb):
                        i = owner[root[j]] if root[j] >= 0 else -1
                        for c in range(3):
                            pos_bar[j, c] = At[12 * i + q, 12 * j + c] if i >= 0 else 0.0
                            th_bar[j, c] = At[12 * i + q, 12 * j + 3 + c] if i >= 0 else 0.0
                            vel_bar[j, c] = At[12 * i + q, 12 * j + 6 + c] if i >= 0 else 0.0
                            ang_vel_bar[j, c] = At[12 * i + q, 12 * j + 9 + c] \
                                if i >= 0 else 0.0
                    ctrl_bar[:, :] = 0.0
                    status = step_vjp_replayed(kind, m, d, a, ctrl, h, kink, ctrl_bar, Vstar,
                                               Wstar, geom0)
                    if status == STATUS_OK and not _finite_adjoint(m, a):
                        status = STATUS_NONFINITE
                    if status != STATUS_OK:
                        d.fac_on[0] = 0
                        return status, t
                    for j in range(nb):  # (a body of no row's set: its cotangents are zero)
                        i = owner[root[j]] if root[j] >= 0 else -1
                        if i < 0:
                            continue
                        r = 12 * i + q
                        for c in range(3):
                            At[r, 12 * j + c] = pos_bar[j, c]
                            At[r, 12 * j + 3 + c] = th_bar[j, c]
                            At[r, 12 * j + 6 + c] = vel_bar[j, c]
                            At[r, 12 * j + 9 + c] = ang_vel_bar[j, c]
                        for c in range(6):
                            Bt[r, 6 * j + c] += ctrl_bar[j, c]
            for i in range(nb):
                if short[i]:
                    _derive_pose_rows(At, Bt, i, h, ang_vel_free[i])
            d.fac_on[0] = 0
    return STATUS_OK, t1


@jit
def adjoint_norm(m, a, horizon):
    """The state cotangent's size, sqrt(|pos_bar|^2 + |th_bar|^2 + (|vel_bar|^2 +
    |ang_vel_bar|^2) / horizon^2): the velocities' part over the rollout's duration, so that free
    flight (a velocity's cotangent growing to horizon times the position's) does not count as
    growth."""
    acc = 0.0
    for i in range(m.nbody):
        for k in range(3):
            acc += a.pos_bar[i, k] ** 2 + a.th_bar[i, k] ** 2 \
                + (a.vel_bar[i, k] ** 2 + a.ang_vel_bar[i, k] ** 2) / (horizon * horizon)
    return np.sqrt(acc)


# ----------------------------------------------------------------------------------------------
# Contact modes and margins (DESIGN.md section 4): after each step, per contact, the mode of its
# solve and the distance to the nearest mode switch, in m/s.


@jit
def _friction_mode(lam, u, mu, att):
    # (mode, margin) of an active contact's friction: sticking inside the cone (margin: the
    # impulse left to the cone, as a velocity), sliding on it (margin: the slip speed)
    lt = np.sqrt(lam[1] * lam[1] + lam[2] * lam[2])
    slip = np.sqrt(u[1] * u[1] + u[2] * u[2])
    inside = mu * lam[0] - lt
    if slip > 0.0 and inside <= 1e-12 * max(mu * lam[0], 1e-300):
        return MODE_SLIDING, slip
    return MODE_STICKING, inside * att


@jit
def contact_modes(m, d, h, mode_out, margin_out, bodies_out, start):
    """Mode and margin of each contact of the step just taken, into the records at start..

    Hard: separated (margin: the separation speed u_n + b_n of the resting solve) or active, as
    is every contact that took an impact in the step (margin: the normal impulse as a velocity,
    lambda_n A_nn, and the friction's: impulse left to the cone when sticking, slip speed when
    sliding, and an impact's distance to the switch of its work cap, hard.hard_contacts); weakly
    active when the normal margin is at most WEAK_MARGIN. Smoothed (smooth everywhere but for
    the C1 edge of its distance band): separated outside the band, else sticking / sliding as
    the slip speed is below / above the smoothing speed v_k; margin: distance to the band's
    edge per step, |band - phi| / h.
    Penalty: separated for phi >= 0, else sticking / sliding likewise (slip speed against the
    friction smoothing); margin |phi| / h, the gap closed per step.
    """
    u, ra, rb, pa, pb = np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    # (the records' arrays read before the loops: simcore/_jit.py, records)
    body, dist, A, J = d.con_body, d.con_dist, d.con_A, d.con_J
    vfree, wfree = d.vel_free, d.ang_vel_free
    lam_phase, phase, lam_sum, mu = d.con_lam_phase, d.con_phase, d.con_lambda, d.con_mu
    cbias, cap_margin = d.con_bias, d.con_cap_margin
    for k in range(d.ncon[0]):
        a, b = body[k, 0], body[k, 1]
        bodies_out[start + k, 0] = a
        bodies_out[start + k, 1] = b
        phi = dist[k]
        att = 0.0
        if m.opt_contact != CONTACT_PENALTY:  # (the Jacobian of the solve)
            velocity(J, body, k, vfree, wfree, u)
            att = 0.5 * (A[k, 1, 1] + A[k, 2, 2])
        if m.opt_contact == CONTACT_HARD:
            # an impact's contact is active in its step (its impulses summed over the phases)
            lam = lam_phase if phase[k] == -1 else lam_sum
            if lam[k, 0] > 0.0:
                mode, margin = _friction_mode(lam[k], u, mu[k], att)
                margin = min(margin, lam[k, 0] * A[k, 0, 0])
            else:
                mode, margin = MODE_SEPARATED, max(u[0] + cbias[k], 0.0)
            if lam[k, 0] * A[k, 0, 0] <= WEAK_MARGIN and u[0] + cbias[k] <= WEAK_MARGIN:
                mode = MODE_WEAK
            margin = min(margin, cap_margin[k])
        elif m.opt_contact == CONTACT_SMOOTHED:
            band = m.opt_margin + d.body_spec[a] + d.body_spec[b]
            kap, vs = contact_scales(m, d, k)
            margin = abs(band - phi) / h
            slip = np.sqrt(u[1] * u[1] + u[2] * u[2])
            if kap <= 0.0:
                mode = MODE_SEPARATED
            else:
                mode = MODE_SLIDING if slip > vs else MODE_STICKING
        else:
            margin = abs(phi) / h
            if phi > 0.0:
                mode = MODE_SEPARATED
            elif phi == 0.0:
                mode = MODE_WEAK
            else:  # slip speed after the step, against the friction smoothing speed
                slip = 0.0
                for j in range(3):
                    ra[j] = d.con_pos[k, j] - d.pos[a, j]
                    rb[j] = d.con_pos[k, j] - d.pos[b, j]
                point_velocity(d.vel_free[a], d.ang_vel_free[a], ra, pa)
                point_velocity(d.vel_free[b], d.ang_vel_free[b], rb, pb)
                un = 0.0
                for j in range(3):
                    un += (pa[j] - pb[j]) * d.con_normal[k, j]
                for j in range(3):
                    slip += (pa[j] - pb[j] - un * d.con_normal[k, j]) ** 2
                mode = MODE_SLIDING if np.sqrt(slip) > m.pen_friction_smoothing else MODE_STICKING
        mode_out[start + k] = mode
        margin_out[start + k] = margin
