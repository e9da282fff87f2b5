"""Free rigid-body velocity update and pose integration: semi-implicit Euler for the
translation, and a rotation step that keeps angular momentum and kinetic energy exactly."""

import numpy as np

from simcore._jit import jit
from simcore.kernels.linalg import solve_dense
from simcore.kernels.rotation import exp_apply, left_jacobian, quat_integrate


# a rotation step whose Newton solve ends above this relative residual has failed
SPIN_TOL_FAIL = 1e-10


@jit(inline="always")  # per body
def _spin_momentum(R, w, tau, inertia, h):
    # body-frame angular momentum after the step's torque impulse: Ib R^T w + h R^T tau
    p = np.empty(3)
    for j in range(3):
        p[j] = inertia[j] * (R[0, j] * w[0] + R[1, j] * w[1] + R[2, j] * w[2]) + h * (
            R[0, j] * tau[0] + R[1, j] * tau[1] + R[2, j] * tau[2])
    return p


@jit(inline="always")  # per body
def _spin_jacobian(inertia, h, Om, pi1, K):
    # K = dG/dOm of G(Om) = Ib Om - (pi0 + Exp(-h Om) pi0) / 2 at pi1 = Exp(-h Om) pi0:
    # Ib - (h / 2) [pi1]x J_l(-h Om)  (d Exp(q) x / dq = -[Exp(q) x]x J_l(q))
    q = np.empty(3)
    for j in range(3):
        q[j] = -h * Om[j]
    J = np.empty((3, 3))
    left_jacobian(q, J)
    for c in range(3):
        K[0, c] = -0.5 * h * (pi1[1] * J[2, c] - pi1[2] * J[1, c])
        K[1, c] = -0.5 * h * (pi1[2] * J[0, c] - pi1[0] * J[2, c])
        K[2, c] = -0.5 * h * (pi1[0] * J[1, c] - pi1[1] * J[0, c])
        K[c, c] += inertia[c]


@jit(inline="always")  # per body
def _spin_residual(inertia, h, pi0, Om, pi1, G):
    # pi1 = Exp(-h Om) pi0, G = Ib Om - (pi0 + pi1) / 2; returns |G|
    q = np.empty(3)
    for j in range(3):
        q[j] = -h * Om[j]
    exp_apply(q, pi0, pi1)
    r = 0.0
    for j in range(3):
        G[j] = inertia[j] * Om[j] - 0.5 * (pi0[j] + pi1[j])
        r += G[j] * G[j]
    return np.sqrt(r)


@jit
def spin_solve(inertia, h, pi0, Om):
    # The mean body-frame rate Om of the step from body momentum pi0: Ib Om = (pi0 + pi1) / 2,
    # pi1 = Exp(-h Om) pi0, by Newton with backtracking from Om = pi0 / Ib. Returns the
    # residual |G| / |pi0| (0 at rest). Any solution keeps |pi| and the energy pi.Ib^-1 pi / 2
    # exactly (pi1 - pi0 is a rotation of pi0 about Om, so orthogonal to Om = Ib^-1 (pi0 +
    # pi1) / 2); with R+ = R Exp(h Om) the world momentum R+ pi1 = R pi0 is kept too.
    scale = np.sqrt(pi0[0] * pi0[0] + pi0[1] * pi0[1] + pi0[2] * pi0[2])
    for j in range(3):
        Om[j] = pi0[j] / inertia[j]
    if scale == 0.0:
        return 0.0
    pi1, G, K = np.empty(3), np.empty(3), np.empty((3, 3))
    trial, pt, Gt = np.empty(3), np.empty(3), np.empty(3)
    r = _spin_residual(inertia, h, pi0, Om, pi1, G)
    for _ in range(60):
        if r <= 1e-15 * scale:
            break
        _spin_jacobian(inertia, h, Om, pi1, K)
        ok, step = solve_dense(K, G)
        if not ok:
            break
        s = 1.0
        while True:
            for j in range(3):
                trial[j] = Om[j] - s * step[j]
            rt = _spin_residual(inertia, h, pi0, trial, pt, Gt)
            if rt < (1.0 - 1e-4 * s) * r or s < 1e-6:
                break
            s *= 0.5
        if not rt < r:
            break  # no decrease left: at rounding level
        for j in range(3):
            Om[j] = trial[j]
            pi1[j] = pt[j]
            G[j] = Gt[j]
        r = rt
    return r / scale


@jit(entry=True)
def spin_step(R, w, tau, inertia, h, w_out, offset_out):
    # The rotation over a step, exact in angular momentum and kinetic energy for any inertia:
    # the torque adds h tau to the momentum, then the body turns at the mean rate Om of
    # spin_solve, R+ = R Exp(h Om), and ends with the body momentum pi1 = Exp(-h Om) pi0.
    # out: w_out = R Om (the world mean rate, the pose's: Exp(h w_out) R = R Exp(h Om)),
    # offset_out = R (pi0 - pi1) / 2, the world momentum at the end less I(R) w_out; the
    # end-of-step angular velocity is end_angular_velocity's. Returns the solve's residual.
    # (Equal moments: Om = pi0 / I solves it at once, pi1 = pi0 and no offset, i.e.
    # w_out = w + h I^-1 tau; the stepper takes that closed form without calling this.)
    pi0 = _spin_momentum(R, w, tau, inertia, h)
    Om = np.empty(3)
    res = spin_solve(inertia, h, pi0, Om)
    q, pi1 = np.empty(3), np.empty(3)
    for j in range(3):
        q[j] = -h * Om[j]
    exp_apply(q, pi0, pi1)
    for i in range(3):
        w_out[i] = R[i, 0] * Om[0] + R[i, 1] * Om[1] + R[i, 2] * Om[2]
        offset_out[i] = 0.5 * (R[i, 0] * (pi0[0] - pi1[0]) + R[i, 1] * (pi0[1] - pi1[1])
                               + R[i, 2] * (pi0[2] - pi1[2]))
    return res


@jit(entry=True, inline="always")  # per body
def end_angular_velocity(R0, R1, inertia, w, offset, out):
    # The angular velocity stored at the end of a step: I(R1)^-1 (I(R0) w + offset), for the
    # step's start and end rotations R0, R1, its post-contact mean rate w and spin_step's
    # offset. The world momentum it carries is the free step's (kept exactly) plus what the
    # contact impulses added to I(R0) w (those act at the step's start), so angular momentum is
    # exact through impacts too. (Equal moments: I^-1 (I w + 0) = w, which step takes directly.)
    z = np.empty(3)
    for j in range(3):  # I(R0) w, in R0's body frame
        z[j] = inertia[j] * (R0[0, j] * w[0] + R0[1, j] * w[1] + R0[2, j] * w[2])
    L = np.empty(3)
    for i in range(3):
        L[i] = R0[i, 0] * z[0] + R0[i, 1] * z[1] + R0[i, 2] * z[2] + offset[i]
    for j in range(3):
        z[j] = (R1[0, j] * L[0] + R1[1, j] * L[1] + R1[2, j] * L[2]) / inertia[j]
    for i in range(3):
        out[i] = R1[i, 0] * z[0] + R1[i, 1] * z[1] + R1[i, 2] * z[2]


@jit(entry=True)
def segment_rate(R0, Rs, inertia, w, offset, c_off, tau, c_tau, s, out):
    # The mean rate over a part of length s of a step split by an impact (hard contact with
    # toi), the rotation step run from the pose Rs where the part starts with the world
    # momentum L = I(R0) w + c_off offset + c_tau tau (R0 the step's start, offset
    # spin_step's): so the torque-free turn before and after an impact keeps momentum and
    # energy like any other. out = Rs Om; returns the solve's residual. (Equal moments, no
    # offset: exactly L / I.) The step's parts:
    # - before the impact at t: from R0, s = t, w the parabola's mean rate over [0, t] and
    #   c_off = (h + t) / 2h, i.e. the start momentum plus (h + t) tau / 2, the torque's
    #   impulse by the middle of [0, t] in the staggered integrator (t = h: the free step);
    # - after it: from the pose at t, s = h - t, w the post-contact mean rate, c_off = 1 and
    #   c_tau = t / 2: the step's end momentum plus the torque's by the middle of [t, h].
    L = np.empty(3)
    _segment_momentum(R0, inertia, w, offset, c_off, tau, c_tau, L)
    pi, Om = np.empty(3), np.empty(3)
    for j in range(3):
        pi[j] = Rs[0, j] * L[0] + Rs[1, j] * L[1] + Rs[2, j] * L[2]
    res = spin_solve(inertia, s, pi, Om)
    for i in range(3):
        out[i] = Rs[i, 0] * Om[0] + Rs[i, 1] * Om[1] + Rs[i, 2] * Om[2]
    return res


@jit(inline="always")  # per body
def _segment_momentum(R0, inertia, w, offset, c_off, tau, c_tau, L):
    # segment_rate's world momentum L = R0 Ib R0^T w + c_off offset + c_tau tau
    z = np.empty(3)
    for j in range(3):
        z[j] = inertia[j] * (R0[0, j] * w[0] + R0[1, j] * w[1] + R0[2, j] * w[2])
    for i in range(3):
        L[i] = R0[i, 0] * z[0] + R0[i, 1] * z[1] + R0[i, 2] * z[2] + c_off * offset[i] \
            + c_tau * tau[i]


@jit(entry=True, inline="always")  # per contact
def apply_impulse(R, invmass, inertia, r, imp, v_io, w_io):
    # v += imp / m;  w += I^-1 (r x imp), for an impulse imp applied at offset r from the centre
    for i in range(3):
        v_io[i] += invmass * imp[i]
    t0 = r[1] * imp[2] - r[2] * imp[1]
    t1 = r[2] * imp[0] - r[0] * imp[2]
    t2 = r[0] * imp[1] - r[1] * imp[0]
    b0 = (R[0, 0] * t0 + R[1, 0] * t1 + R[2, 0] * t2) / inertia[0]
    b1 = (R[0, 1] * t0 + R[1, 1] * t1 + R[2, 1] * t2) / inertia[1]
    b2 = (R[0, 2] * t0 + R[1, 2] * t1 + R[2, 2] * t2) / inertia[2]
    for i in range(3):
        w_io[i] += R[i, 0] * b0 + R[i, 1] * b1 + R[i, 2] * b2


@jit(inline="always")  # per body
def integrate_pose(x, q, v, w, h, x_out, q_out):
    # x+ = x + h v+;  q+ = normalize(exp(h w+ / 2) * q)
    for i in range(3):
        x_out[i] = x[i] + h * v[i]
    quat_integrate(q, w, h, q_out)


@jit(entry=True, inline="always")  # per contact
def point_velocity(v, w, r, out):
    # velocity of the material point at offset r: v + w x r
    out[0] = v[0] + w[1] * r[2] - w[2] * r[1]
    out[1] = v[1] + w[2] * r[0] - w[0] * r[2]
    out[2] = v[2] + w[0] * r[1] - w[1] * r[0]


# ----------------------------------------------------------------------------------------------
# Adjoints (cotangents end in _bar and are accumulated with +=)


@jit(inline="always")  # per body
def _spin_solve_vjp(inertia, h, Om, pi1, Om_bar, pi0_bar, inertia_bar):
    # vjp of spin_solve's Om, implicitly at G(Om, pi0, Ib, h) = Ib Om - (pi0 + pi1) / 2 = 0,
    # pi1 = Exp(-h Om) pi0: K^T mu = Om_bar, then p_bar = -mu^T dG/dp: pi0_bar += (mu +
    # Exp(h Om) mu) / 2, inertia_bar -= Om mu, and (d pi1 / dh = pi1 x Om) h_bar = mu.(pi1 x
    # Om) / 2. Returns (False, 0) where K is singular, else (True, h_bar)
    K = np.empty((3, 3))
    _spin_jacobian(inertia, h, Om, pi1, K)
    ok, mu = solve_dense(K.T.copy(), Om_bar)
    if not ok:
        return False, 0.0
    q, emu = np.empty(3), np.empty(3)
    for j in range(3):
        q[j] = h * Om[j]
    exp_apply(q, mu, emu)
    for j in range(3):
        pi0_bar[j] += 0.5 * (mu[j] + emu[j])
        inertia_bar[j] -= Om[j] * mu[j]
    c = _cross(pi1, Om)
    return True, 0.5 * (mu[0] * c[0] + mu[1] * c[1] + mu[2] * c[2])


@jit(entry=True)
def spin_step_vjp(R, w, tau, inertia, h, w_out_bar, offset_bar, R_bar, w_bar, tau_bar,
                  inertia_bar):
    # vjp of spin_step: (R, w, tau, inertia) -> (w_out, offset), the mean rate Om
    # differentiated implicitly at its solution (K^T mu = Om_bar). Returns False, passing
    # nothing back, where K is singular (a fold of the implicit step: Om not differentiable).
    pi0 = _spin_momentum(R, w, tau, inertia, h)
    Om = np.empty(3)
    spin_solve(inertia, h, pi0, Om)
    q = np.empty(3)
    for j in range(3):
        q[j] = -h * Om[j]
    pi1 = np.empty(3)
    exp_apply(q, pi0, pi1)
    # w_out = R Om, offset = R (pi0 - pi1) / 2
    Omb, pb, p0b = np.empty(3), np.empty(3), np.empty(3)
    for j in range(3):
        Omb[j] = R[0, j] * w_out_bar[0] + R[1, j] * w_out_bar[1] + R[2, j] * w_out_bar[2]
        p0b[j] = 0.5 * (R[0, j] * offset_bar[0] + R[1, j] * offset_bar[1]
                        + R[2, j] * offset_bar[2])
        pb[j] = -p0b[j]
    # pi1 = Exp(-h Om) pi0:  Om_bar -= h J_l(h Om) (pi1 x pi1_bar), pi0_bar += Exp(h Om) pi1_bar
    J = np.empty((3, 3))
    left_jacobian(q, J)  # J_l(-h Om), whose transpose is J_l(h Om)
    c = _cross(pi1, pb)
    for j in range(3):
        Omb[j] -= h * (J[0, j] * c[0] + J[1, j] * c[1] + J[2, j] * c[2])
        q[j] = h * Om[j]
    e = np.empty(3)
    exp_apply(q, pb, e)
    for j in range(3):
        p0b[j] += e[j]
    ok, _ = _spin_solve_vjp(inertia, h, Om, pi1, Omb, p0b, inertia_bar)
    if not ok:
        return False
    # pi0 = Ib R^T w + h R^T tau
    for j in range(3):
        wb_j = R[0, j] * w[0] + R[1, j] * w[1] + R[2, j] * w[2]
        inertia_bar[j] += wb_j * p0b[j]
    for i in range(3):
        for j in range(3):
            R_bar[i, j] += (w_out_bar[i] * Om[j] + 0.5 * offset_bar[i] * (pi0[j] - pi1[j])
                            + (w[i] * inertia[j] + h * tau[i]) * p0b[j])
        w_bar[i] += R[i, 0] * inertia[0] * p0b[0] + R[i, 1] * inertia[1] * p0b[1] \
            + R[i, 2] * inertia[2] * p0b[2]
        tau_bar[i] += h * (R[i, 0] * p0b[0] + R[i, 1] * p0b[1] + R[i, 2] * p0b[2])
    return True


@jit(entry=True, inline="always")  # per body
def end_angular_velocity_vjp(R0, R1, inertia, w, offset, out_bar, R0_bar, R1_bar, w_bar,
                             offset_bar, inertia_bar):
    # vjp of end_angular_velocity: (R0, R1, inertia, w, offset) -> out (accumulated)
    z = np.empty(3)
    for j in range(3):
        z[j] = inertia[j] * (R0[0, j] * w[0] + R0[1, j] * w[1] + R0[2, j] * w[2])
    L = np.empty(3)
    for i in range(3):
        L[i] = R0[i, 0] * z[0] + R0[i, 1] * z[1] + R0[i, 2] * z[2] + offset[i]
    # out = R1 D R1^T L, D = Ib^-1:  L_bar = R1 D R1^T out_bar,
    # R1_bar = out_bar (D R1^T L)^T + L (D R1^T out_bar)^T, Ib_bar = -(R1^T out_bar)(R1^T L) / Ib^2
    a, b = np.empty(3), np.empty(3)
    for j in range(3):
        a[j] = (R1[0, j] * L[0] + R1[1, j] * L[1] + R1[2, j] * L[2]) / inertia[j]
        b[j] = (R1[0, j] * out_bar[0] + R1[1, j] * out_bar[1] + R1[2, j] * out_bar[2]) / inertia[j]
        inertia_bar[j] -= a[j] * b[j]
    Lb = np.empty(3)
    for i in range(3):
        Lb[i] = R1[i, 0] * b[0] + R1[i, 1] * b[1] + R1[i, 2] * b[2]
        offset_bar[i] += Lb[i]
        for j in range(3):
            R1_bar[i, j] += out_bar[i] * a[j] + L[i] * b[j]
    _momentum_vjp(R0, inertia, w, Lb, R0_bar, w_bar, inertia_bar)  # L = I(R0) w + offset


@jit(inline="always")  # per body
def _momentum_vjp(R0, inertia, w, Lb, R0_bar, w_bar, inertia_bar):
    # vjp of the world momentum L = R0 Ib R0^T w for L's cotangent Lb (accumulated)
    wb0, z = np.empty(3), np.empty(3)
    for j in range(3):
        wb0[j] = R0[0, j] * w[0] + R0[1, j] * w[1] + R0[2, j] * w[2]
        z[j] = R0[0, j] * Lb[0] + R0[1, j] * Lb[1] + R0[2, j] * Lb[2]  # R0^T L_bar
        inertia_bar[j] += z[j] * wb0[j]
    for i in range(3):
        w_bar[i] += R0[i, 0] * inertia[0] * z[0] + R0[i, 1] * inertia[1] * z[1] \
            + R0[i, 2] * inertia[2] * z[2]
        for j in range(3):
            R0_bar[i, j] += Lb[i] * inertia[j] * wb0[j] + w[i] * inertia[j] * z[j]


@jit(entry=True)
def segment_rate_vjp(R0, Rs, inertia, w, offset, c_off, tau, c_tau, s, out_bar, R0_bar, Rs_bar,
                     w_bar, offset_bar, tau_bar, inertia_bar):
    # vjp of segment_rate: (R0, Rs, inertia, w, offset, c_off, tau, c_tau, s) -> out
    # (accumulated), its Om implicitly at the solution. Returns (ok, c_off_bar, c_tau_bar,
    # s_bar); ok False, passing nothing back, where the solve's system is singular
    L = np.empty(3)
    _segment_momentum(R0, inertia, w, offset, c_off, tau, c_tau, L)
    pi, Om, pi1, q = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    for j in range(3):
        pi[j] = Rs[0, j] * L[0] + Rs[1, j] * L[1] + Rs[2, j] * L[2]
    spin_solve(inertia, s, pi, Om)
    for j in range(3):
        q[j] = -s * Om[j]
    exp_apply(q, pi, pi1)
    # out = Rs Om, pi = Rs^T L
    Omb, pib = np.empty(3), np.zeros(3)
    for j in range(3):
        Omb[j] = Rs[0, j] * out_bar[0] + Rs[1, j] * out_bar[1] + Rs[2, j] * out_bar[2]
    ok, s_bar = _spin_solve_vjp(inertia, s, Om, pi1, Omb, pib, inertia_bar)
    if not ok:
        return False, 0.0, 0.0, 0.0
    Lb = np.empty(3)
    for i in range(3):
        Lb[i] = Rs[i, 0] * pib[0] + Rs[i, 1] * pib[1] + Rs[i, 2] * pib[2]
        for j in range(3):
            Rs_bar[i, j] += out_bar[i] * Om[j] + L[i] * pib[j]
    c_off_bar = c_tau_bar = 0.0
    for i in range(3):
        offset_bar[i] += c_off * Lb[i]
        tau_bar[i] += c_tau * Lb[i]
        c_off_bar += offset[i] * Lb[i]
        c_tau_bar += tau[i] * Lb[i]
    _momentum_vjp(R0, inertia, w, Lb, R0_bar, w_bar, inertia_bar)  # L = I(R0) w + ...
    return True, c_off_bar, c_tau_bar, s_bar


@jit(inline="always")
def _cross(a, b):
    out = np.empty(3)
    out[0] = a[1] * b[2] - a[2] * b[1]
    out[1] = a[2] * b[0] - a[0] * b[2]
    out[2] = a[0] * b[1] - a[1] * b[0]
    return out


@jit(entry=True, inline="always")  # per contact
def apply_impulse_vjp(R, invmass, inertia, r, imp, v_io_bar, w_io_bar,
                      R_bar, r_bar, imp_bar, invmass_bar, inertia_bar):
    # vjp of apply_impulse: (R, invmass, inertia, r, imp) -> increments of v, w
    # (v, w pass through unchanged, so their cotangents are only read)
    for i in range(3):
        imp_bar[i] += invmass * v_io_bar[i]
        invmass_bar[0] += imp[i] * v_io_bar[i]
    t0 = r[1] * imp[2] - r[2] * imp[1]
    t1 = r[2] * imp[0] - r[0] * imp[2]
    t2 = r[0] * imp[1] - r[1] * imp[0]
    b0 = (R[0, 0] * t0 + R[1, 0] * t1 + R[2, 0] * t2) / inertia[0]
    b1 = (R[0, 1] * t0 + R[1, 1] * t1 + R[2, 1] * t2) / inertia[1]
    b2 = (R[0, 2] * t0 + R[1, 2] * t1 + R[2, 2] * t2) / inertia[2]
    bb0 = R[0, 0] * w_io_bar[0] + R[1, 0] * w_io_bar[1] + R[2, 0] * w_io_bar[2]
    bb1 = R[0, 1] * w_io_bar[0] + R[1, 1] * w_io_bar[1] + R[2, 1] * w_io_bar[2]
    bb2 = R[0, 2] * w_io_bar[0] + R[1, 2] * w_io_bar[1] + R[2, 2] * w_io_bar[2]
    inertia_bar[0] -= b0 * bb0 / inertia[0]
    inertia_bar[1] -= b1 * bb1 / inertia[1]
    inertia_bar[2] -= b2 * bb2 / inertia[2]
    lb0, lb1, lb2 = bb0 / inertia[0], bb1 / inertia[1], bb2 / inertia[2]
    for i in range(3):
        ti = t0 if i == 0 else (t1 if i == 1 else t2)
        R_bar[i, 0] += w_io_bar[i] * b0 + ti * lb0
        R_bar[i, 1] += w_io_bar[i] * b1 + ti * lb1
        R_bar[i, 2] += w_io_bar[i] * b2 + ti * lb2
    tb0 = R[0, 0] * lb0 + R[0, 1] * lb1 + R[0, 2] * lb2
    tb1 = R[1, 0] * lb0 + R[1, 1] * lb1 + R[1, 2] * lb2
    tb2 = R[2, 0] * lb0 + R[2, 1] * lb1 + R[2, 2] * lb2
    # t = r x imp: r_bar = imp x t_bar, imp_bar = t_bar x r
    r_bar[0] += imp[1] * tb2 - imp[2] * tb1
    r_bar[1] += imp[2] * tb0 - imp[0] * tb2
    r_bar[2] += imp[0] * tb1 - imp[1] * tb0
    imp_bar[0] += tb1 * r[2] - tb2 * r[1]
    imp_bar[1] += tb2 * r[0] - tb0 * r[2]
    imp_bar[2] += tb0 * r[1] - tb1 * r[0]


@jit(entry=True, inline="always")  # per contact
def point_velocity_vjp(w, r, out_bar, v_bar, w_bar, r_bar):
    # vjp of point_velocity: (v, w, r) -> v + w x r
    for i in range(3):
        v_bar[i] += out_bar[i]
    w_bar[0] += r[1] * out_bar[2] - r[2] * out_bar[1]
    w_bar[1] += r[2] * out_bar[0] - r[0] * out_bar[2]
    w_bar[2] += r[0] * out_bar[1] - r[1] * out_bar[0]
    r_bar[0] += out_bar[1] * w[2] - out_bar[2] * w[1]
    r_bar[1] += out_bar[2] * w[0] - out_bar[0] * w[2]
    r_bar[2] += out_bar[0] * w[1] - out_bar[1] * w[0]
