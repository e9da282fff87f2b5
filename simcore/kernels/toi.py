"""Time of impact for hard contact: when a contact closes inside the step, the poses there.

A contact that closes inside the step at t* = phi / (-u_n) splits its bodies' motion: free
velocity until t*, post-contact velocity for the rest of the step (step.py integrates the split).
For an impact of a pair without a kinematic body, the pair's contact geometry (normals, points,
gaps) is taken at the poses of its earliest impact time, when the pair has as many contacts there,
each nearest to the one it replaces (refresh_at_impact). Impact times closer than TIE of the step
are a tie: a kink of the step map, taken by the kink convention in the vjp.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.collision import collide, collide_vjp, tangent_frame
from simcore.kernels.consts import BODY_DYNAMIC
from simcore.kernels.contact_space import contact_jacobian, frame_to_normal
from simcore.kernels.dynamics import (SPIN_TOL_FAIL, end_angular_velocity,
                                     end_angular_velocity_vjp, segment_rate, segment_rate_vjp)
from simcore.kernels.rotation import (quat_integrate, quat_integrate_vjp, quat_to_mat,
                                      rot_bar_to_twist)

TIE = 1e-12  # impact times closer than this fraction of the step are a tie (a kink), in the vjp


@jit
def impact_pose(d, i, t, x_out, q_out, R_out):
    # body i's pose at time t of the split step (mean velocity d.vel_pre over [0, t])
    for j in range(3):
        x_out[j] = d.pos[i, j] + t * d.vel_pre[i, j]
    quat_integrate(d.quat[i], d.ang_vel_pre[i], t, q_out)
    quat_to_mat(q_out, R_out)


@jit
def refresh_at_impact(m, d, k0, n, t, xa, Ra, qa, xb, Rb, qb, buf_d, buf_n, buf_p):
    # geometry of the pair of contacts k0 .. k0 + n - 1 at the poses its bodies reach at time t
    # of the split step (velocity d.vel_pre = v + t a over [0, t]); returns False (leaving the
    # contacts as they were) unless the pair has n contacts there, the j-th nearest to k0 + j
    a, b = d.con_body[k0, 0], d.con_body[k0, 1]
    impact_pose(d, a, t, xa, qa, Ra)
    impact_pose(d, b, t, xb, qb, Rb)
    margin = m.opt_margin + d.body_spec[a] + d.body_spec[b]
    if collide(m.geom_type[a], m.geom_type[b], xa, Ra, m.geom_size[a], xb, Rb,
               m.geom_size[b], margin, np.int64(0), buf_d, buf_n, buf_p) != n:
        return False
    for j in range(n):
        best, near = np.inf, -1
        for c in range(n):
            e = 0.0
            for i in range(3):
                e += (buf_p[j, i] - d.con_pos[k0 + c, i]) ** 2
            if e < best:
                best, near = e, c
        if near != j:
            return False
    for j in range(n):
        k = k0 + j
        d.con_dist[k] = buf_d[j]
        for i in range(3):
            d.con_normal[k, i] = buf_n[j, i]
            d.con_pos[k, i] = buf_p[j, i]
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
        contact_jacobian(m, d, k, xa, Ra, xb, Rb)
    return True


@jit(entry=True)
def impact_time(phi, b, a2, h):
    # earliest t in [0, h] with phi + b t + a2 t^2 = 0 (the gap along the step's parabola);
    # phi <= 0 is an impact at the start, no root in the step gives h
    if phi <= 0.0:
        return 0.0
    if a2 == 0.0:
        return min(phi / (-b), h) if b < 0.0 else h
    disc = b * b - 4.0 * a2 * phi
    if disc < 0.0:
        return h
    sq = np.sqrt(disc)
    q = -0.5 * (b - sq) if b < 0.0 else -0.5 * (b + sq)  # no cancellation
    best = h
    for t in (q / a2, phi / q if q != 0.0 else h):
        if 0.0 <= t < best:
            best = t
    return best


@jit
def set_hit(m, d, i, t, h, hit, acc_v, acc_w, V, W, Rt):
    # body i first takes part in an impact at time t of the step. Semi-implicit Euler is exact
    # for constant acceleration a when its velocity v is read at the half step before (t_k -
    # h/2), so the instantaneous velocity at t is v + a (t + h/2) and the mean over [0, t] is
    # v + a (h + t) / 2 (kept in vel_pre for the pose). A body with unequal moments turns over
    # [0, t] by the rotation step from that mean's momentum, to the pose Rt[i] at t, where its
    # instantaneous angular velocity is its momentum there through the inertia there
    # (impact_rate): the impact then keeps the kinetic energy the state stores. Returns False
    # when that rotation step did not solve
    if m.body_kind[i] != BODY_DYNAMIC or hit[i]:
        return True
    hit[i] = True
    d.body_toi[i] = t
    for j in range(3):
        V[i, j] = d.vel[i, j] + (t + 0.5 * h) * acc_v[i, j]
        W[i, j] = d.ang_vel[i, j] + (t + 0.5 * h) * acc_w[i, j]
        d.vel_pre[i, j] = d.vel[i, j] + 0.5 * (h + t) * acc_v[i, j]
        d.ang_vel_pre[i, j] = d.ang_vel[i, j] + 0.5 * (h + t) * acc_w[i, j]
    if not unequal_moments(m.body_inertia, i):
        return True
    # the rotation step over [0, t] from that mean's momentum (dynamics.segment_rate)
    w_lin = d.ang_vel_pre[i].copy()
    ok = segment_rate(d.xmat[i], d.xmat[i], m.body_inertia[i], w_lin, d.ang_mom_offset[i],
                      0.5 * (h + t) / h, np.zeros(3), 0.0, t, d.ang_vel_pre[i]) <= SPIN_TOL_FAIL
    q = np.empty(4)
    quat_integrate(d.quat[i], d.ang_vel_pre[i], t, q)
    quat_to_mat(q, Rt[i])
    w_lin[:] = W[i]
    impact_rate(d.xmat[i], Rt[i], m.body_inertia[i], d.ang_mom_offset[i], t, h, w_lin, W[i])
    return ok


@jit(inline="always")
def unequal_moments(inertia, i):
    return not (inertia[i, 0] == inertia[i, 1] == inertia[i, 2])


@jit(entry=True)
def impact_rate(R0, Rt, inertia, offset, t, h, w, out):
    # The instantaneous angular velocity at time t of the step of a body with unequal moments,
    # from the parabola's there (w = v + (t + h/2) a): out = I(Rt)^-1 L(t), its momentum L(t) =
    # I(R0) w + c offset, c = (t + h/2) / h (the start momentum plus (t + h/2) tau, tau the
    # torque; offset is spin_step's, R0 the start pose, Rt the pose at t)
    _rate_through(R0, Rt, inertia, offset, (t + 0.5 * h) / h, w, out)


@jit(entry=True)
def impact_rate_inverse(R0, Rt, inertia, offset, t, h, w, out):
    # impact_rate's inverse: the parabola's rate at t from the instantaneous w there
    _rate_through(Rt, R0, inertia, offset, -(t + 0.5 * h) / h, w, out)


@jit(entry=True)
def impact_rate_vjp(R0, Rt, inertia, offset, t, h, w, out_bar, R0_bar, Rt_bar, w_bar, offset_bar,
                    inertia_bar):
    # vjp of impact_rate (accumulated); returns t's cotangent
    return _rate_through_vjp(R0, Rt, inertia, offset, (t + 0.5 * h) / h, w, out_bar, R0_bar,
                             Rt_bar, w_bar, offset_bar, inertia_bar) / h


@jit(entry=True)
def impact_rate_inverse_vjp(R0, Rt, inertia, offset, t, h, w, out_bar, R0_bar, Rt_bar, w_bar,
                            offset_bar, inertia_bar):
    # vjp of impact_rate_inverse (accumulated); returns t's cotangent
    return -_rate_through_vjp(Rt, R0, inertia, offset, -(t + 0.5 * h) / h, w, out_bar, Rt_bar,
                              R0_bar, w_bar, offset_bar, inertia_bar) / h


@jit(inline="always")
def _rate_through(Ra, Rb, inertia, offset, c, w, out):
    # I(Rb)^-1 (I(Ra) w + c offset)
    off = np.empty(3)
    for j in range(3):
        off[j] = c * offset[j]
    end_angular_velocity(Ra, Rb, inertia, w, off, out)


@jit(inline="always")
def _rate_through_vjp(Ra, Rb, inertia, offset, c, w, out_bar, Ra_bar, Rb_bar, w_bar, offset_bar,
                      inertia_bar):
    # vjp of _rate_through (accumulated); returns c's cotangent
    off, ob = np.empty(3), np.zeros(3)
    for j in range(3):
        off[j] = c * offset[j]
    end_angular_velocity_vjp(Ra, Rb, inertia, w, off, out_bar, Ra_bar, Rb_bar, w_bar, ob,
                             inertia_bar)
    c_bar = 0.0
    for j in range(3):
        offset_bar[j] += c * ob[j]
        c_bar += offset[j] * ob[j]
    return c_bar


@jit(inline="always")
def tied(t1, t2, h):
    # two impact times of a step equal up to the rounding of their roots
    return abs(t1 - t2) <= TIE * h


@jit(entry=True)
def impact_time_vjp(phi, u0n, un, h, t_bar):
    # vjp of t = impact_time(phi, b, a2, h), b = u0n + an h / 2, a2 = an / 2, an = (un - u0n) / h,
    # at a root inside (0, h): dt = -(dphi + t db + t^2 da2) / (b + 2 a2 t). Returns
    # (phi_bar, u0n_bar, un_bar); zero when t sits at a bound or the gap's rate there vanishes
    an = (un - u0n) / h
    b = u0n + 0.5 * an * h
    a2 = 0.5 * an
    t = impact_time(phi, b, a2, h)
    den = b + 2.0 * a2 * t
    if not (0.0 < t < h) or den == 0.0:
        return 0.0, 0.0, 0.0
    s = -t_bar / den
    b_bar = s * t
    an_bar = 0.5 * h * b_bar + 0.5 * s * t * t
    return s, b_bar - an_bar / h, an_bar / h


@jit
def vel_pre_vjp(m, d, a, i, h, vb, wb, acc_v, acc_w, acc_vb, acc_wb, toi_bar):
    # vjp of vel_pre = v + (h + t) acc / 2 (and ang_vel_pre) of body i, cotangent (vb, wb) (3,)
    # (unequal moments: segment_rate of that mean, see set_hit)
    t = d.body_toi[i]
    wl = wb  # the cotangent of the mean rate v + (h + t) acc / 2 of the rotation
    if unequal_moments(m.body_inertia, i):
        w_lin = np.empty(3)
        for j in range(3):
            w_lin[j] = d.ang_vel[i, j] + 0.5 * (h + t) * acc_w[i, j]
        wl = np.zeros(3)
        R_bar = np.zeros((3, 3))
        ok, c_bar, _, s_bar = segment_rate_vjp(d.xmat[i], d.xmat[i], m.body_inertia[i], w_lin,
                                               d.ang_mom_offset[i], 0.5 * (h + t) / h,
                                               np.zeros(3), 0.0, t, wb, R_bar, R_bar, wl,
                                               a.offset_bar[i], np.zeros(3), a.inertia_bar[i])
        a.R_bar[i] += R_bar
        # (a singular system: no derivative; reported as a non-finite gradient at this step)
        toi_bar[i] += s_bar + 0.5 * c_bar / h if ok else np.nan
    for j in range(3):
        a.vel_bar[i, j] += vb[j]
        a.ang_vel_bar[i, j] += wl[j]
        toi_bar[i] += 0.5 * (vb[j] * acc_v[i, j] + wl[j] * acc_w[i, j])
        acc_vb[i, j] += 0.5 * (h + t) * vb[j]
        acc_wb[i, j] += 0.5 * (h + t) * wl[j]


@jit
def refresh_vjp(m, d, a, k0, n, h, kink, geom0, P, acc_v, acc_w, acc_vb, acc_wb, t_bar, toi_bar):
    """vjp of refresh_at_impact for the pair of contacts k0 .. k0 + n - 1: their geometry and
    Jacobians at the impact poses x + t v_pre, Exp(t w_pre) R (t = d.con_toi[src], src the
    contact whose impact time they were taken at) -> those poses -> t (into t_bar[src]), the
    start poses and the pre-impact velocities. Then puts the start-of-step geometry back into
    d (and P's poses), for the impact time's own vjp."""
    cx, cR, cx_bar, cR_bar, tb = P
    ka, kb = d.con_body[k0, 0], d.con_body[k0, 1]
    src = d.con_refresh_src[k0]
    for k in range(k0, k0 + n):
        frame_to_normal(d, a, k, tb[k])
        tb[k] = 0.0
    xb = np.zeros((2, 3))
    Rb = np.zeros((2, 3, 3))
    margin = m.opt_margin + d.body_spec[ka] + d.body_spec[kb]
    collide_vjp(m.geom_type[ka], m.geom_type[kb], cx[k0, 0], cR[k0, 0], m.geom_size[ka],
                cx[k0, 1], cR[k0, 1], m.geom_size[kb], margin, k0, a.con_dist_bar,
                a.con_normal_bar, a.con_pos_bar, kink, xb[0], Rb[0], xb[1], Rb[1])
    for k in range(k0, k0 + n):
        a.con_dist_bar[k] = 0.0
        a.con_normal_bar[k] = 0.0
        a.con_pos_bar[k] = 0.0
    t = d.con_toi[src]
    th = np.empty(3)
    vb = np.empty(3)
    wb = np.zeros(3)
    for s in range(2):
        i = d.con_body[k0, s]
        th[:] = 0.0
        wb[:] = 0.0
        for k in range(k0, k0 + n):
            for j in range(3):
                xb[s, j] += cx_bar[k, s, j]
                for c in range(3):
                    Rb[s, j, c] += cR_bar[k, s, j, c]
            cx_bar[k, s] = 0.0
            cR_bar[k, s] = 0.0
        rot_bar_to_twist(cR[k0, s], Rb[s], th)
        if m.body_kind[i] != BODY_DYNAMIC:  # (a static body: its pose at t is its pose)
            for j in range(3):
                a.pos_bar[i, j] += xb[s, j]
                a.th_bar[i, j] += th[j]
        else:
            # x' = x + t v_pre
            for j in range(3):
                a.pos_bar[i, j] += xb[s, j]
                t_bar[src] += xb[s, j] * d.vel_pre[i, j]
                vb[j] = t * xb[s, j]
            # R' = Exp(t w_pre) R
            for j in range(3):
                t_bar[src] += th[j] * d.ang_vel_pre[i, j]
            quat_integrate_vjp(d.ang_vel_pre[i], t, th, wb)
            for j in range(3):
                a.th_bar[i, j] += th[j]
            vel_pre_vjp(m, d, a, i, h, vb, wb, acc_v, acc_w, acc_vb, acc_wb, toi_bar)
        for k in range(k0, k0 + n):
            cx[k, s] = d.pos[i]
            cR[k, s] = d.xmat[i]
    dist0, normal0, pos0 = geom0
    for k in range(k0, k0 + n):
        d.con_dist[k] = dist0[k]
        d.con_normal[k] = normal0[k]
        d.con_pos[k] = pos0[k]
        tangent_frame(d.con_normal[k], d.con_t1[k], d.con_t2[k])
        contact_jacobian(m, d, k, d.pos[ka], d.xmat[ka], d.pos[kb], d.xmat[kb])
