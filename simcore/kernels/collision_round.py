"""Narrow phase, pairs of round shapes: sphere-sphere, capsule-sphere, capsule-capsule, each forward
with its vjp (collision.py holds the contract)."""
from simcore._jit import jit
from simcore.kernels.collision_common import (_abs_slope, _add, _add_col, _axpy, _balls, _balls_vjp,
                                              _bars, _clamp, _col, _cross, _dot, _emit, _mid, _norm,
                                              _scale, _seg_closest, _seg_closest_vjp, _sgn, _sub,
                                              _unit_vjp)
from simcore.kernels.kink import clamp_slope, ramp_slope


@jit(entry=True, inline="always")  # per pair or contact
def collide_sphere_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Sphere a vs sphere b: centre line; coincident centres push a along +z."""
    return _balls(pa, sa[0], pb, sb[0], (0.0, 0.0, 1.0), margin, k0, dist_out, normal_out, point_out)


@jit(entry=True, inline="always")  # per pair or contact
def collide_sphere_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar,
                              point_bar, kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    if _norm(_sub(pa, pb)) - sa[0] - sb[0] >= margin:
        return 0
    db, nb, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
    xab, xbb, fb = _balls_vjp(pa, sa[0], pb, sb[0], db, nb, ptb)
    _add(pa_bar, xab)
    _add(pb_bar, xbb)
    return 1


@jit(entry=True)
def collide_capsule_sphere(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Capsule a vs sphere b: sphere against the closest point of the segment."""
    u = _col(Ra, 2)
    t = _clamp(_dot(u, _sub(pb, pa)), -sa[1], sa[1])
    # centre on the axis: the capsule body x axis is perpendicular to the segment (depth ra + rb)
    return _balls(_axpy(t, u, pa), sa[0], pb, sb[0], _col(Ra, 0), margin, k0,
                  dist_out, normal_out, point_out)


@jit(entry=True)
def collide_capsule_sphere_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar,
                               point_bar, kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    u = _col(Ra, 2)
    t0 = _dot(u, _sub(pb, pa))
    t = _clamp(t0, -sa[1], sa[1])
    xa = _axpy(t, u, pa)
    if _norm(_sub(xa, pb)) - sa[0] - sb[0] >= margin:
        return 0
    db, nb, ptb = _bars(k0, dist_bar, normal_bar, point_bar)
    xab, xbb, fb = _balls_vjp(xa, sa[0], pb, sb[0], db, nb, ptb)
    _add_col(Ra_bar, 0, fb)
    _add(pb_bar, xbb)
    # xa = pa + t u, t = clamp(u.(pb - pa))
    _add(pa_bar, xab)
    t_bar = _dot(u, xab) * clamp_slope(t0, -sa[1], sa[1], kink)
    ub = _axpy(t_bar, _sub(pb, pa), _scale(t, xab))
    _add_col(Ra_bar, 2, ub)
    _add(pb_bar, _scale(t_bar, u))
    _add(pa_bar, _scale(-t_bar, u))
    return 1


@jit
def _capsules(pa, Ra, sa, pb, Rb, sb):
    """The closest points of capsules a and b's segments and the normal, shared by
    collide_capsule_capsule and its vjp. Returns (bb, cc, ff, s, t, x, y, L, g, w, sw, n):
    _seg_closest's inputs and parameters, the closest points x (on a) and y, their distance L,
    the gap g, w = ua x ub and |w|, and the normal: along x - y where they are apart, else the
    common perpendicular of crossing axes (oriented from b to a), else a's body x axis
    (coincident parallel axes: any perpendicular)."""
    ua = _col(Ra, 2)
    ub = _col(Rb, 2)
    r = _sub(pa, pb)
    bb = _dot(ua, ub)
    cc = _dot(ua, r)
    ff = _dot(ub, r)
    s, t = _seg_closest(bb, cc, ff, sa[1], sb[1])
    x = _axpy(s, ua, pa)
    y = _axpy(t, ub, pb)
    dv = _sub(x, y)
    L = _norm(dv)
    w = _cross(ua, ub)
    sw = _norm(w)
    if L > 1e-12:
        n = _scale(1.0 / L, dv)
    elif sw > 1e-9:
        n = _scale(_sgn(_dot(w, r)) / sw, w)
    else:
        n = _col(Ra, 0)
    return bb, cc, ff, s, t, x, y, L, L - sa[0] - sb[0], w, sw, n


@jit
def _capsules_overlap(pa, Ra, sa, pb, Rb, sb, bb, cc, ff, s):
    """Nearly parallel capsules (_capsules' bb, cc, ff, s): the overlap [lo, hi] of a's segment
    along b's, its ends on a (x0, x1) and their partners on b (y0, y1 at the clamped parameters
    a0, a1), the ends' distances D0, D1, and whether end 0 is the near one (the one that takes the
    exact gap): the closest point's side, else the closer end. Empty when hi - lo <= 1e-9."""
    ua = _col(Ra, 2)
    ub = _col(Rb, 2)
    hla, hlb = sa[1], sb[1]
    ab = abs(bb)
    lo = max(-hla, -cc - hlb * ab)
    hi = min(hla, -cc + hlb * ab)
    a0 = ff + bb * lo
    a1 = ff + bb * hi
    x0 = _axpy(lo, ua, pa)
    x1 = _axpy(hi, ua, pa)
    y0 = _axpy(_clamp(a0, -hlb, hlb), ub, pb)
    y1 = _axpy(_clamp(a1, -hlb, hlb), ub, pb)
    D0 = _norm(_sub(x0, y0))
    D1 = _norm(_sub(x1, y1))
    near0 = s < lo - 1e-9 or (s <= hi + 1e-9 and D0 <= D1)
    return lo, hi, a0, a1, x0, x1, y0, y1, D0, D1, near0


@jit(entry=True)
def collide_capsule_capsule(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_out, normal_out, point_out):
    """Capsule a vs capsule b: closest points of the segments; 2 contacts at the ends of the overlap
    when the segments are nearly parallel (|ua x ub| < 0.02) and overlap along their length."""
    ra, rb = sa[0], sb[0]
    bb, cc, ff, s, t, x, y, L, g, w, sw, n = _capsules(pa, Ra, sa, pb, Rb, sb)
    if g >= margin:
        return 0
    if sw < 0.02:
        lo, hi, a0, a1, x0, x1, y0, y1, D0, D1, near0 = _capsules_overlap(pa, Ra, sa, pb, Rb, sb,
                                                                          bb, cc, ff, s)
        if hi - lo > 1e-9:
            # line contact at the overlap ends: the nearer end gets the exact gap g (and the exact
            # closest points if they lie beyond the overlap), the other its own gap (at least g)
            if near0:
                if s < lo - 1e-9:
                    x0, y0, D0 = x, y, L
                g0, g1 = g, max(D1 - ra - rb, g)
            else:
                if s > hi + 1e-9:
                    x1, y1, D1 = x, y, L
                g0, g1 = max(D0 - ra - rb, g), g
            cnt = 0
            if g0 < margin:
                _emit(k0, g0, n, _axpy(0.5 * (rb - ra), n, _mid(x0, y0)), dist_out, normal_out, point_out)
                cnt += 1
            if g1 < margin:
                _emit(k0 + cnt, g1, n, _axpy(0.5 * (rb - ra), n, _mid(x1, y1)),
                      dist_out, normal_out, point_out)
                cnt += 1
            return cnt
    _emit(k0, g, n, _axpy(0.5 * (rb - ra), n, _mid(x, y)), dist_out, normal_out, point_out)
    return 1


@jit(entry=True)
def collide_capsule_capsule_vjp(pa, Ra, sa, pb, Rb, sb, margin, k0, dist_bar, normal_bar,
                                point_bar, kink, pa_bar, Ra_bar, pb_bar, Rb_bar):
    # Branches held fixed: the normal's case (closest points apart / crossing axes / coincident
    # parallel axes), line contact or not, which end is near, an end replaced by the closest
    # points. Zero-length distances (|dv| at coincident points) have slope 0, as in _balls_vjp.
    ua = _col(Ra, 2)
    ub = _col(Rb, 2)
    ra, hla, rb, hlb = sa[0], sa[1], sb[0], sb[1]
    bb, cc, ff, s, t, x, y, L, g, w, sw, n = _capsules(pa, Ra, sa, pb, Rb, sb)
    if g >= margin:
        return 0
    r = _sub(pa, pb)
    dv = _sub(x, y)
    sgw = _sgn(_dot(w, r))
    z = (0.0, 0.0, 0.0)
    g_bar = 0.0
    n_bar = z
    x_bar = z
    y_bar = z
    pab = z
    pbb = z
    uab = z
    ubb = z
    bbb = 0.0
    ccb = 0.0
    ffb = 0.0
    cnt = -1
    if sw < 0.02:
        ab = abs(bb)
        lo, hi, a0, a1, x0, x1, y0, y1, D0, D1, near0 = _capsules_overlap(pa, Ra, sa, pb, Rb, sb,
                                                                          bb, cc, ff, s)
        if hi - lo > 1e-9:
            tc0 = _clamp(a0, -hlb, hlb)
            tc1 = _clamp(a1, -hlb, hlb)
            rep0 = near0 and s < lo - 1e-9  # end 0 is the exact closest pair (x, y)
            rep1 = (not near0) and s > hi + 1e-9
            if near0:
                g0, g1 = g, max(D1 - ra - rb, g)
            else:
                g0, g1 = max(D0 - ra - rb, g), g
            x0b, y0b, x1b, y1b = z, z, z, z
            g0b = 0.0
            g1b = 0.0
            cnt = 0
            if g0 < margin:
                g0b, nk, pk = _bars(k0, dist_bar, normal_bar, point_bar)
                n_bar = _axpy(1.0, nk, _axpy(0.5 * (rb - ra), pk, n_bar))
                x0b = _scale(0.5, pk)
                y0b = x0b
                cnt += 1
            if g1 < margin:
                g1b, nk, pk = _bars(k0 + cnt, dist_bar, normal_bar, point_bar)
                n_bar = _axpy(1.0, nk, _axpy(0.5 * (rb - ra), pk, n_bar))
                x1b = _scale(0.5, pk)
                y1b = x1b
                cnt += 1
            # g_far = max(D_far - ra - rb, g)
            D0b = 0.0
            D1b = 0.0
            if near0:
                g_bar += g0b
                wf = ramp_slope(D1 - ra - rb - g, kink)
                D1b = wf * g1b
                g_bar += (1.0 - wf) * g1b
            else:
                g_bar += g1b
                wf = ramp_slope(D0 - ra - rb - g, kink)
                D0b = wf * g0b
                g_bar += (1.0 - wf) * g0b
            ab_bar = 0.0
            for e in range(2):
                if e == 0:
                    rep, xe, ye, De, xeb, yeb, Deb, te, ae = rep0, x0, y0, D0, x0b, y0b, D0b, tc0, a0
                    le = lo
                else:
                    rep, xe, ye, De, xeb, yeb, Deb, te, ae = rep1, x1, y1, D1, x1b, y1b, D1b, tc1, a1
                    le = hi
                if rep:
                    x_bar = _axpy(1.0, xeb, x_bar)
                    y_bar = _axpy(1.0, yeb, y_bar)
                    continue
                if De > 0.0:  # De = |xe - ye|
                    ev = _scale(Deb / De, _sub(xe, ye))
                    xeb = _axpy(1.0, ev, xeb)
                    yeb = _sub(yeb, ev)
                # xe = pa + le ua, ye = pb + te ub, te = clamp(ff + bb le)
                pab = _axpy(1.0, xeb, pab)
                uab = _axpy(le, xeb, uab)
                le_bar = _dot(ua, xeb)
                pbb = _axpy(1.0, yeb, pbb)
                ubb = _axpy(te, yeb, ubb)
                a_bar = _dot(ub, yeb) * clamp_slope(ae, -hlb, hlb, kink)
                ffb += a_bar
                bbb += a_bar * le
                le_bar += a_bar * bb
                if e == 0:  # lo = max(-hla, -cc - hlb |bb|)
                    wl = ramp_slope(hla - cc - hlb * ab, kink)
                    ccb -= wl * le_bar
                    ab_bar -= wl * hlb * le_bar
                else:  # hi = min(hla, -cc + hlb |bb|)
                    wl = ramp_slope(hla + cc - hlb * ab, kink)
                    ccb -= wl * le_bar
                    ab_bar += wl * hlb * le_bar
            bbb += ab_bar * _abs_slope(bb, kink)
    if cnt < 0:
        g_bar, nk, pk = _bars(k0, dist_bar, normal_bar, point_bar)
        n_bar = _axpy(1.0, nk, _scale(0.5 * (rb - ra), pk))
        x_bar = _axpy(0.5, pk, x_bar)
        y_bar = _axpy(0.5, pk, y_bar)
        cnt = 1
    if L > 1e-12:  # n = dv / L, g = L - ra - rb
        dvb = _axpy(g_bar, n, _unit_vjp(dv, n_bar))
        x_bar = _axpy(1.0, dvb, x_bar)
        y_bar = _sub(y_bar, dvb)
    elif sw > 1e-9:  # n = sgn(w.r) w / |w|, w = ua x ub
        wb = _scale(sgw, _unit_vjp(w, n_bar))
        uab = _axpy(1.0, _cross(ub, wb), uab)
        ubb = _axpy(1.0, _cross(wb, ua), ubb)
    else:
        _add_col(Ra_bar, 0, n_bar)
    # x = pa + s ua, y = pb + t ub, (s, t) = _seg_closest(ua.ub, ua.r, ub.r)
    pab = _axpy(1.0, x_bar, pab)
    uab = _axpy(s, x_bar, uab)
    pbb = _axpy(1.0, y_bar, pbb)
    ubb = _axpy(t, y_bar, ubb)
    b2, c2, f2 = _seg_closest_vjp(bb, cc, ff, hla, hlb, _dot(ua, x_bar), _dot(ub, y_bar), kink)
    bbb += b2
    ccb += c2
    ffb += f2
    uab = _axpy(bbb, ub, _axpy(ccb, r, uab))
    ubb = _axpy(bbb, ua, _axpy(ffb, r, ubb))
    rbar = _axpy(ccb, ua, _scale(ffb, ub))
    _add(pa_bar, _axpy(1.0, rbar, pab))
    _add(pb_bar, _sub(pbb, rbar))
    _add_col(Ra_bar, 2, uab)
    _add_col(Rb_bar, 2, ubb)
    return cnt
