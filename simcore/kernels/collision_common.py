"""The narrow phase's shared pieces: 3-vector helpers on tuples, the contact tangent frame, the
closest points of segments and of balls, and the adjoints' accumulators and shared vjps.

Small vectors are 3-tuples of float64 (no heap); arguments may be length-3 arrays or 3-tuples,
results are tuples.
"""
import numpy as np

from simcore._jit import jit
from simcore.kernels.kink import clamp_slope, ramp_slope


@jit
def _dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@jit
def _cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@jit
def _sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@jit
def _axpy(s, x, y):
    # y + s x
    return (y[0] + s * x[0], y[1] + s * x[1], y[2] + s * x[2])


@jit
def _scale(s, x):
    return (s * x[0], s * x[1], s * x[2])


@jit
def _mid(a, b):
    return (0.5 * (a[0] + b[0]), 0.5 * (a[1] + b[1]), 0.5 * (a[2] + b[2]))


@jit
def _norm(a):
    return np.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


@jit
def _col(R, j):
    return (R[0, j], R[1, j], R[2, j])


@jit
def _tolocal(R, v):
    # R^T v
    return (R[0, 0] * v[0] + R[1, 0] * v[1] + R[2, 0] * v[2],
            R[0, 1] * v[0] + R[1, 1] * v[1] + R[2, 1] * v[2],
            R[0, 2] * v[0] + R[1, 2] * v[1] + R[2, 2] * v[2])


@jit
def _toworld(R, v):
    # R v
    return (R[0, 0] * v[0] + R[0, 1] * v[1] + R[0, 2] * v[2],
            R[1, 0] * v[0] + R[1, 1] * v[1] + R[1, 2] * v[2],
            R[2, 0] * v[0] + R[2, 1] * v[1] + R[2, 2] * v[2])


@jit
def _axis(k, s):
    # s * e_k
    return (s if k == 0 else 0.0, s if k == 1 else 0.0, s if k == 2 else 0.0)


@jit
def _setk(v, k, x):
    # v with component k replaced by x
    return (x if k == 0 else v[0], x if k == 1 else v[1], x if k == 2 else v[2])


@jit
def _sgn(x):
    # sign with sgn(0) = +1, so ties resolve deterministically
    return 1.0 if x >= 0.0 else -1.0


@jit
def _clamp(x, lo, hi):
    return min(max(x, lo), hi)


@jit
def _emit(k, d, n, x, dist_out, normal_out, point_out):
    dist_out[k] = d
    for i in range(3):
        normal_out[k, i] = n[i]
        point_out[k, i] = x[i]


@jit(entry=True, inline="always")  # per pair or contact
def tangent_frame(n, t1_out, t2_out):
    """Right-handed orthonormal frame (n, t1, t2) for a normal n (Duff et al. 2017 branch on sign(n_z)).

    Smooth in n except across the plane n_z = 0; a non-unit n is normalised, a zero one becomes +z.
    """
    t1, t2 = _frame(n)
    for i in range(3):
        t1_out[i] = t1[i]
        t2_out[i] = t2[i]


@jit(inline="always")  # per contact
def tangent_frame_row(normal, t1, t2, k):
    # tangent_frame of row k of (normal, t1, t2) (n, 3) in place, on scalars: no array views
    f1, f2 = _frame((normal[k, 0], normal[k, 1], normal[k, 2]))
    for i in range(3):
        t1[k, i] = f1[i]
        t2[k, i] = f2[i]


@jit(inline="always")
def _frame(n):
    # tangent_frame's (t1, t2) as tuples
    nn = _norm(n)
    if nn > 1e-12:
        x, y, z = n[0] / nn, n[1] / nn, n[2] / nn
    else:
        x, y, z = 0.0, 0.0, 1.0
    s = _sgn(z)
    a = -1.0 / (s + z)  # |s + z| >= 1, never singular
    b = x * y * a
    return (1.0 + s * x * x * a, s * b, -s * x), (b, s + y * y * a, -y)


@jit
def _seg_closest(bb, cc, ff, hla, hlb):
    """Closest parameters (s, t) of segments pa + s ua (|s| <= hla) and pb + t ub (|t| <= hlb), unit
    directions; bb = ua.ub, cc = ua.(pa - pb), ff = ub.(pa - pb). Closed form (clamp, project, clamp)."""
    s0, s1, t0, outside = _seg_closest_steps(bb, cc, ff, hla, hlb)
    if outside:
        t = _clamp(t0, -hlb, hlb)
        return _clamp(bb * t - cc, -hla, hla), t
    return s1, t0


@jit(inline="always")
def _seg_closest_steps(bb, cc, ff, hla, hlb):
    # _seg_closest's steps, shared with its vjp: s0 the lines' closest parameter on a (parallel:
    # every s of the overlap is optimal; the middle, continuous in the offset), s1 it clamped,
    # t0 = ff + bb s1 the projection on b, and whether t0 falls outside b (then t is clamped
    # and s projected back)
    den = 1.0 - bb * bb
    if den > 1e-12:
        s0 = (bb * ff - cc) / den
    else:
        s0 = 0.5 * (max(-hla, -cc - hlb) + min(hla, -cc + hlb))
    s1 = _clamp(s0, -hla, hla)
    t0 = ff + bb * s1
    return s0, s1, t0, t0 < -hlb or t0 > hlb


@jit(inline="always")  # per pair or contact
def _balls(xa, ra, xb, rb, fallback, margin, k0, dist_out, normal_out, point_out):
    """Contact between balls (xa, ra) of a and (xb, rb) of b; fallback = normal for coincident centres."""
    dv = _sub(xa, xb)
    L = _norm(dv)
    d = L - ra - rb
    if d >= margin:
        return 0
    # coincident centres: any direction is a minimum-penetration direction; use the given one
    n = _scale(1.0 / L, dv) if L > 1e-12 else fallback
    _emit(k0, d, n, _axpy(0.5 * (rb - ra), n, _mid(xa, xb)), dist_out, normal_out, point_out)
    return 1


@jit
def _add(arr, v):
    arr[0] += v[0]
    arr[1] += v[1]
    arr[2] += v[2]


@jit
def _add_col(M, j, v):
    M[0, j] += v[0]
    M[1, j] += v[1]
    M[2, j] += v[2]


@jit
def _add_outer(M, u, v):
    # M += u v^T
    for i in range(3):
        for j in range(3):
            M[i, j] += u[i] * v[j]


@jit
def _bars(k, dist_bar, normal_bar, point_bar):
    return (dist_bar[k], (normal_bar[k, 0], normal_bar[k, 1], normal_bar[k, 2]),
            (point_bar[k, 0], point_bar[k, 1], point_bar[k, 2]))


@jit(inline="always")  # per pair or contact
def _point_plane_vjp(X, r, n, pb, d_bar, n_bar, p_bar):
    # vjp of: c = n.(X - pb), dist = c - r, point = X - (r + c) n / 2 (a ball (X, r) on a plane)
    # returns (X_bar, n_bar, pb_bar)
    c = _dot(n, _sub(X, pb))
    c_bar = d_bar - 0.5 * _dot(n, p_bar)
    nb = _axpy(-0.5 * (r + c), p_bar, n_bar)
    nb = _axpy(c_bar, _sub(X, pb), nb)
    return _axpy(c_bar, n, p_bar), nb, _scale(-c_bar, n)


@jit(inline="always")  # per pair or contact
def _balls_vjp(xa, ra, xb, rb, d_bar, n_bar, p_bar):
    # vjp of _balls' contact: returns (xa_bar, xb_bar, fallback_bar)
    dv = _sub(xa, xb)
    L = _norm(dv)
    half = _scale(0.5, p_bar)
    nb = _axpy(0.5 * (rb - ra), p_bar, n_bar)
    if L > 1e-12:
        n = _scale(1.0 / L, dv)
        dvb = _axpy(-_dot(n, nb), n, nb)
        dvb = _axpy(d_bar, n, _scale(1.0 / L, dvb))
        return _axpy(1.0, dvb, half), _sub(half, dvb), (0.0, 0.0, 0.0)
    # coincident centres: |dv| has no slope (the mean of opposite sides is 0)
    return half, half, nb


@jit
def _abs_slope(x, kink):
    # d|x| / dx, from |x| = 2 max(0, x) - x: sign(x); at x == 0 the mean 0, or -1 / +1 (left / right)
    return 2.0 * ramp_slope(x, kink) - 1.0


@jit
def _unit_vjp(v, n_bar):
    # vjp of n = v / |v| (|v| > 0): v_bar = (n_bar - (n.n_bar) n) / |v|
    L = _norm(v)
    n = _scale(1.0 / L, v)
    return _scale(1.0 / L, _axpy(-_dot(n, n_bar), n, n_bar))


@jit
def _seg_closest_vjp(bb, cc, ff, hla, hlb, s_bar, t_bar, kink):
    # vjp of _seg_closest: (s_bar, t_bar) -> (bb_bar, cc_bar, ff_bar). Its branch (t projected
    # inside, or clamped and s re-projected) is held fixed; the clamps follow the kink convention
    s0, s1, t0, outside = _seg_closest_steps(bb, cc, ff, hla, hlb)
    den = 1.0 - bb * bb
    if outside:
        # t = +-hlb (constant), s = clamp(bb t - cc)
        t = _clamp(t0, -hlb, hlb)
        a_bar = s_bar * clamp_slope(bb * t - cc, -hla, hla, kink)
        return a_bar * t, -a_bar, 0.0
    # t = ff + bb s1, s = s1 = clamp(s0)
    s0_bar = (s_bar + t_bar * bb) * clamp_slope(s0, -hla, hla, kink)
    bb_bar = t_bar * s1
    ff_bar = t_bar
    if den > 1e-12:  # s0 = (bb ff - cc) / (1 - bb^2)
        ff_bar += s0_bar * bb / den
        cc_bar = -s0_bar / den
        bb_bar += s0_bar * (ff + 2.0 * bb * s0) / den
    else:  # parallel: s0 = (max(-hla, -cc - hlb) + min(hla, -cc + hlb)) / 2
        w1 = ramp_slope(hla - cc - hlb, kink)  # weight of -cc - hlb in the max
        w2 = ramp_slope(hla + cc - hlb, kink)  # weight of -cc + hlb in the min
        cc_bar = -0.5 * s0_bar * (w1 + w2)
    return bb_bar, cc_bar, ff_bar
