"""One step = free velocities -> collision -> contact model -> integrate; and the rollout loop.

Stage functions take the Model / Data tuples (model.py). The whole rollout runs here, so Python
crosses into compiled code once per rollout (or per chunk of steps when progress is shown).
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.broadphase import broadphase
from simcore.kernels.collision import collide, tangent_frame
from simcore.kernels.consts import (BODY_DYNAMIC, BODY_KINEMATIC, BODY_STATIC, CONTACT_HARD,
                                    CONTACT_PENALTY, CONTACT_SMOOTHED,
                                    MAXCON_PAIR, STATUS_CONTACT_OVERFLOW, STATUS_NONFINITE,
                                    STATUS_OK, STATUS_UNSTABLE)
from simcore.kernels.dynamics import free_velocity, integrate_pose
from simcore.kernels.hard import hard_contacts
from simcore.kernels.penalty import penalty_impulses
from simcore.kernels.rotation import quat_to_mat
from simcore.kernels.smoothed import smoothed_contacts


@jit
def update_xmat(m, d):
    for i in range(m.nbody):
        quat_to_mat(d.quat[i], d.xmat[i])


@jit
def free_velocities(m, d, ctrl, h):
    # dynamic: gravity, control force/torque, gyroscopic term; kinematic: velocity = control;
    # static: zero. Also the motion bound used for speculative margins.
    for i in range(m.nbody):
        kind = m.body_kind[i]
        if kind == BODY_DYNAMIC:
            free_velocity(d.xmat[i], d.vel[i], d.ang_vel[i], ctrl[i, :3], ctrl[i, 3:],
                          m.opt_gravity, m.body_invmass[i], m.body_inertia[i], h,
                          d.vel_free[i], d.ang_vel_free[i])
        elif kind == BODY_KINEMATIC:
            # prescribed for the whole step, so contact forces see it from the start
            d.vel[i, :] = ctrl[i, :3]
            d.ang_vel[i, :] = ctrl[i, 3:]
            d.vel_free[i, :] = ctrl[i, :3]
            d.ang_vel_free[i, :] = ctrl[i, 3:]
        else:
            d.vel_free[i, :] = 0.0
            d.ang_vel_free[i, :] = 0.0
        v = np.sqrt(d.vel_free[i, 0] ** 2 + d.vel_free[i, 1] ** 2 + d.vel_free[i, 2] ** 2)
        w = np.sqrt(d.ang_vel_free[i, 0] ** 2 + d.ang_vel_free[i, 1] ** 2
                    + d.ang_vel_free[i, 2] ** 2)
        d.body_spec[i] = h * (v + w * m.geom_rbound[i])


@jit
def collision(m, d):
    # broad phase, then every candidate pair's narrow phase; returns a status
    status = broadphase(m, d)
    if status != STATUS_OK:
        return status
    nc = 0
    cap = d.con_dist.shape[0]
    for p in range(d.npair[0]):
        a, b = d.pair[p, 0], d.pair[p, 1]
        if nc + MAXCON_PAIR > cap:
            return STATUS_CONTACT_OVERFLOW
        margin = m.opt_margin + d.body_spec[a] + d.body_spec[b]
        n = collide(m.geom_type[a], m.geom_type[b], d.pos[a], d.xmat[a], m.geom_size[a],
                    d.pos[b], d.xmat[b], m.geom_size[b], margin, nc,
                    d.con_dist, d.con_normal, d.con_pos)
        mu = np.sqrt(m.body_friction[a] * m.body_friction[b])
        e = max(m.body_restitution[a], m.body_restitution[b])
        for k in range(nc, nc + n):
            d.con_body[k, 0] = a
            d.con_body[k, 1] = b
            d.con_mu[k] = mu
            d.con_e[k] = e
            tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
            d.con_lambda[k, :] = 0.0
        nc += n
    d.ncon[0] = nc
    return STATUS_OK


@jit
def step(m, d, ctrl, h, stats):
    # one (sub)step of length h with controls ctrl (nbody, 6); d.xmat must match d.quat.
    # stats (2,): largest solver residual and failed solves, accumulated
    free_velocities(m, d, ctrl, h)
    status = collision(m, d)
    if status != STATUS_OK:
        return status
    split = False
    if m.opt_contact == CONTACT_PENALTY:
        if penalty_impulses(m, d, h) > 4.0:
            return STATUS_UNSTABLE
    elif m.opt_contact == CONTACT_HARD:
        res, fails = hard_contacts(m, d, h)
        stats[0] = max(stats[0], res)
        stats[1] += fails
        split = m.hard_toi == 1
    elif m.opt_contact == CONTACT_SMOOTHED:
        res, fails = smoothed_contacts(m, d, h)
        stats[0] = max(stats[0], res)
        stats[1] += fails
    for i in range(m.nbody):
        if m.body_kind[i] == BODY_STATIC:
            continue
        d.vel[i, :] = d.vel_free[i]
        d.ang_vel[i, :] = d.ang_vel_free[i]
        if split and d.body_toi[i] >= 0.0:
            # time of impact t: mean velocity before it over [0, t], after it over [t, h]
            t = d.body_toi[i]
            integrate_pose(d.pos[i], d.quat[i], d.vel_pre[i], d.ang_vel_pre[i], t,
                           d.pos[i], d.quat[i])
            integrate_pose(d.pos[i], d.quat[i], d.vel_post[i], d.ang_vel_post[i], h - t,
                           d.pos[i], d.quat[i])
        else:
            integrate_pose(d.pos[i], d.quat[i], d.vel[i], d.ang_vel[i], h, d.pos[i], d.quat[i])
    update_xmat(m, d)
    return STATUS_OK


@jit
def _finite_state(m, d):
    for i in range(m.nbody):
        for k in range(3):
            if not (np.isfinite(d.pos[i, k]) and np.isfinite(d.vel[i, k])
                    and np.isfinite(d.ang_vel[i, k])):
                return False
    return True


@jit
def rollout_kernel(m, d, controls, t0, t1, pos_out, quat_out, vel_out, ang_vel_out, ncon_out,
                   resid_out, fail_out):
    """Steps t0 .. t1-1 from the state in d; writes states t0+1 .. t1, contact counts and the
    contact solver's residual and failures per step.

    controls: (steps, nbody, 6), or (1, nbody, 6) held for every step.
    Returns (status, t): t is the step that failed, or t1.
    """
    h = m.opt_dt / m.opt_substeps
    update_xmat(m, d)
    stats = np.zeros(2)
    for t in range(t0, t1):
        ctrl = controls[t] if controls.shape[0] > 1 else controls[0]
        stats[:] = 0.0
        for _ in range(m.opt_substeps):
            status = step(m, d, ctrl, h, stats)
            if status != STATUS_OK:
                return status, t
        if not _finite_state(m, d):
            return STATUS_NONFINITE, t
        pos_out[t + 1] = d.pos
        quat_out[t + 1] = d.quat
        vel_out[t + 1] = d.vel
        ang_vel_out[t + 1] = d.ang_vel
        ncon_out[t] = d.ncon[0]
        resid_out[t] = stats[0]
        fail_out[t] = int(stats[1])
    return STATUS_OK, t1
