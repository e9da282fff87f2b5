"""Brute-force references and shared helpers for the narrow-phase tests (test_collision*.py); not
a test module.

Reference signed distance of convex A, B: max over unit d of [min_{x in A} d.x - max_{y in B} d.y]
from analytic support functions, maximised over a Fibonacci sphere plus the zonotope face normals
(crosses of the shapes' edge directions), refined with Nelder-Mead; for rounded shapes whose cores
(point / segment / box) are apart, also the exact core distance from a bounded least-squares solve.

Also: random shapes and poses at a prescribed distance, ``call`` (the dispatcher with its output
rows checked), the pair routine tables and the central-difference check of a pair's vjp.
"""
import numpy as np
import pytest
from scipy.optimize import lsq_linear, minimize
from scipy.spatial.transform import Rotation

from simcore.kernels import collision as col
from simcore.kernels.collision_box import (collide_box_box, collide_box_box_vjp,
                                           collide_box_capsule, collide_box_capsule_vjp,
                                           collide_box_sphere, collide_box_sphere_vjp)
from simcore.kernels.collision_plane import (collide_box_plane, collide_box_plane_vjp,
                                             collide_capsule_plane, collide_capsule_plane_vjp,
                                             collide_sphere_plane, collide_sphere_plane_vjp)
from simcore.kernels.collision_round import (collide_capsule_capsule, collide_capsule_capsule_vjp,
                                             collide_capsule_sphere, collide_capsule_sphere_vjp,
                                             collide_sphere_sphere, collide_sphere_sphere_vjp)
from simcore.kernels.consts import GEOM_BOX, GEOM_CAPSULE, GEOM_PLANE, GEOM_SPHERE, MAXCON_PAIR

PAIRS = [(GEOM_SPHERE, GEOM_PLANE), (GEOM_CAPSULE, GEOM_PLANE), (GEOM_BOX, GEOM_PLANE),
         (GEOM_SPHERE, GEOM_SPHERE), (GEOM_CAPSULE, GEOM_SPHERE), (GEOM_BOX, GEOM_SPHERE),
         (GEOM_CAPSULE, GEOM_CAPSULE), (GEOM_BOX, GEOM_CAPSULE), (GEOM_BOX, GEOM_BOX)]
ROUTINES = {(GEOM_SPHERE, GEOM_PLANE): collide_sphere_plane,
            (GEOM_CAPSULE, GEOM_PLANE): collide_capsule_plane,
            (GEOM_BOX, GEOM_PLANE): collide_box_plane,
            (GEOM_SPHERE, GEOM_SPHERE): collide_sphere_sphere,
            (GEOM_CAPSULE, GEOM_SPHERE): collide_capsule_sphere,
            (GEOM_BOX, GEOM_SPHERE): collide_box_sphere,
            (GEOM_CAPSULE, GEOM_CAPSULE): collide_capsule_capsule,
            (GEOM_BOX, GEOM_CAPSULE): collide_box_capsule,
            (GEOM_BOX, GEOM_BOX): collide_box_box}
MARGIN = 0.1
I3 = np.eye(3)


def fibonacci(n):
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5 ** 0.5) * i
    rho = np.sqrt(1.0 - z * z)
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


DIRS = fibonacci(20000)
DIRS_COARSE = fibonacci(1000)


class Shape:
    def __init__(self, t, p, R, s):
        self.t, self.p, self.R, self.s = t, np.asarray(p, float), np.asarray(R, float), np.asarray(s, float)

    @property
    def radius(self):
        return self.s[0] if self.t in (GEOM_SPHERE, GEOM_CAPSULE) else 0.0

    def gens(self):
        # core = p + sum_i [-1, 1] * g_i (point, segment or box)
        if self.t == GEOM_CAPSULE:
            return [self.s[1] * self.R[:, 2]]
        if self.t == GEOM_BOX:
            return [self.s[i] * self.R[:, i] for i in range(3)]
        return []

    def ext(self, d):
        # support extent about p: max_{x in shape} d.(x - p)
        e = np.full(d.shape[0], self.radius)
        for g in self.gens():
            e += np.abs(d @ g)
        return e

    def core_points(self):
        pts = [self.p]
        for g in self.gens():
            pts = [q + s * g for q in pts for s in (-1.0, 1.0)]
        return np.array(pts)

    def sdf(self, x):
        if self.t == GEOM_PLANE:
            return self.R[:, 2] @ (x - self.p)
        if self.t == GEOM_SPHERE:
            return np.linalg.norm(x - self.p) - self.s[0]
        if self.t == GEOM_CAPSULE:
            u = self.R[:, 2]
            t = np.clip(u @ (x - self.p), -self.s[1], self.s[1])
            return np.linalg.norm(x - self.p - t * u) - self.s[0]
        q = np.abs(self.R.T @ (x - self.p)) - self.s
        return np.linalg.norm(np.maximum(q, 0.0)) + min(q.max(), 0.0)


def proj_sep(A, B, d):
    """Separation of the projections on directions d (rows): min_A d.x - max_B d.y."""
    if B.t == GEOM_PLANE:
        return np.min(A.core_points() @ B.R[:, 2]) - B.R[:, 2] @ B.p - A.radius + 0 * d[:, 0]
    return d @ (A.p - B.p) - A.ext(d) - B.ext(d)


def candidate_axes(A, B):
    g = [v / np.linalg.norm(v) for v in A.gens() + B.gens()]
    out = list(g)
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            c = np.cross(g[i], g[j])
            if np.linalg.norm(c) > 1e-9:
                out.append(c / np.linalg.norm(c))
    out = np.array(out).reshape(-1, 3)
    return np.concatenate([out, -out])


def core_distance(A, B):
    """Exact distance between the cores (bounded least squares) and the closest direction B -> A."""
    G = np.array(A.gens() + [-g for g in B.gens()]).reshape(-1, 3).T
    rhs = B.p - A.p
    if G.shape[1] == 0:
        x = np.zeros(0)
    else:
        x = lsq_linear(G, rhs, bounds=(-1.0, 1.0), method="bvls", tol=1e-14).x
    v = A.p + G @ x - B.p
    return np.linalg.norm(v), v


def ref_dist(A, B, coarse=False):
    """Brute-force signed distance (and its direction d, from B to A)."""
    if B.t == GEOM_PLANE:
        return proj_sep(A, B, B.R[:, 2][None])[0], B.R[:, 2]
    dirs = np.concatenate([DIRS_COARSE if coarse else DIRS, candidate_axes(A, B)])
    vals = proj_sep(A, B, dirs)
    if coarse:
        return vals.max(), dirs[vals.argmax()]
    best, bestd = vals.max(), dirs[vals.argmax()]
    for i0 in np.argsort(vals)[-2:]:
        # Nelder-Mead on the tangent plane of the sphere at the start direction
        d0 = dirs[i0]
        t1 = np.cross(d0, [1.0, 0, 0] if abs(d0[0]) < 0.9 else [0, 1.0, 0])
        t1 /= np.linalg.norm(t1)
        T = np.stack([t1, np.cross(d0, t1)], axis=1)
        unit = lambda ab: (d0 + T @ ab) / np.linalg.norm(d0 + T @ ab)
        res = minimize(lambda ab: -proj_sep(A, B, unit(ab)[None])[0], np.zeros(2), method="Nelder-Mead",
                       options=dict(xatol=1e-8, fatol=1e-12, maxiter=400,
                                    initial_simplex=[[0, 0], [0.03, 0], [0, 0.03]]))
        if -res.fun > best:
            best, bestd = -res.fun, unit(res.x)
    dc, v = core_distance(A, B)
    if dc > 1e-6:
        exact = dc - A.radius - B.radius
        # every direction gives a lower bound; the brute force must reach the exact value
        assert exact - 1e-6 <= best <= exact + 1e-9, (best, exact)
        return exact, v / dc
    return best, bestd


def call(A, B, margin=MARGIN, k0=0):
    K = k0 + MAXCON_PAIR
    dist = np.full(K, np.nan)
    nrm = np.full((K, 3), np.nan)
    pt = np.full((K, 3), np.nan)
    n = col.collide(A.t, B.t, A.p, A.R, A.s, B.p, B.R, B.s, margin, k0, dist, nrm, pt)
    assert 0 <= n <= MAXCON_PAIR
    # rows outside [k0, k0 + n) are untouched
    assert np.all(np.isnan(dist[:k0])) and np.all(np.isnan(dist[k0 + n:]))
    assert np.all(np.isnan(nrm[k0 + n:])) and np.all(np.isnan(pt[k0 + n:]))
    dist, nrm, pt = dist[k0:k0 + n], nrm[k0:k0 + n], pt[k0:k0 + n]
    assert np.all(np.isfinite(dist)) and np.all(np.isfinite(nrm)) and np.all(np.isfinite(pt))
    assert np.all(dist < margin)
    assert np.allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-12)
    return dist, nrm, pt


def random_shape(rng, t):
    R = Rotation.random(random_state=rng).as_matrix()
    if t == GEOM_SPHERE:
        s = [rng.uniform(0.1, 0.5), 0, 0]
    elif t == GEOM_CAPSULE:
        s = [rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.6), 0]
    elif t == GEOM_BOX:
        s = rng.uniform(0.05, 0.6, 3)
    else:
        s = [0, 0, 0]
    return Shape(t, rng.normal(0, 0.3, 3), R, s)


def random_pose(rng, ta, tb, lo_d=None, hi_d=MARGIN):
    """Random pair with a signed distance spread over [lo_d, hi_d] (bisection along a ray); by default
    from deeper than the radii (cores overlapping) to the margin."""
    A, B = random_shape(rng, ta), random_shape(rng, tb)
    target = rng.uniform(-0.25 - A.radius - B.radius if lo_d is None else lo_d, hi_d)
    if tb == GEOM_PLANE:
        n = B.R[:, 2]
        A.p = B.p + rng.normal(0, 0.5, 3)
        A.p = A.p - (n @ (A.p - B.p)) * n + (target + A.ext(n[None])[0]) * n
        return A, B
    u = rng.normal(size=3)
    u /= np.linalg.norm(u)
    lo, hi = 0.0, 3.0
    for _ in range(22):  # the distance is even and convex along the ray, so monotone for lam > 0
        A.p = B.p + 0.5 * (lo + hi) * u
        if ref_dist(A, B, coarse=True)[0] < target:
            lo = 0.5 * (lo + hi)
        else:
            hi = 0.5 * (lo + hi)
    A.p = B.p + lo * u
    return A, B


def exact_for(ta, tb):
    # routines whose minimum gap is the exact signed distance also when separated, with the
    # normal along the optimal direction (box-box: SAT, conservative when separated)
    return (ta, tb) != (GEOM_BOX, GEOM_BOX)


def perp_tilt(rng, u, angle):
    # rotation by angle about a random axis perpendicular to u
    w = np.cross(u, rng.normal(size=3))
    return Rotation.from_rotvec(angle * w / np.linalg.norm(w)).as_matrix()


def rz(a):
    return Rotation.from_rotvec([0, 0, a]).as_matrix()


def rx(a):
    return Rotation.from_rotvec([a, 0, 0]).as_matrix()


def ry(a):
    return Rotation.from_rotvec([0, a, 0]).as_matrix()


PLANE = Shape(GEOM_PLANE, [0, 0, 0], I3, [0, 0, 0])


# ----------------------------------------------------------------------------------------------
# adjoints: (dist, normal, point) of every contact against central differences in the poses
# (rotations perturbed as Exp(th) R0)

VJP_ROUTINES = {(GEOM_SPHERE, GEOM_PLANE): collide_sphere_plane_vjp,
                (GEOM_CAPSULE, GEOM_PLANE): collide_capsule_plane_vjp,
                (GEOM_BOX, GEOM_PLANE): collide_box_plane_vjp,
                (GEOM_SPHERE, GEOM_SPHERE): collide_sphere_sphere_vjp,
                (GEOM_CAPSULE, GEOM_SPHERE): collide_capsule_sphere_vjp,
                (GEOM_BOX, GEOM_SPHERE): collide_box_sphere_vjp,
                (GEOM_CAPSULE, GEOM_CAPSULE): collide_capsule_capsule_vjp,
                (GEOM_BOX, GEOM_CAPSULE): collide_box_capsule_vjp,
                (GEOM_BOX, GEOM_BOX): collide_box_box_vjp}
SIZES = {GEOM_PLANE: (0.0, 0.0, 0.0), GEOM_SPHERE: (0.3, 0.0, 0.0),
         GEOM_CAPSULE: (0.2, 0.4, 0.0), GEOM_BOX: (0.3, 0.2, 0.25)}


def _pair_vjp_check(ta, tb, pa0, Ra0, pb0, Rb0, rng, margin=0.5, rotations=True, kink=0,
                    sizes=None):
    """Central differences of a pair's contacts against its vjp, in all 12 pose coordinates (or
    only the 6 position coordinates with rotations=False). Returns the worst relative error."""
    from tests.helpers import check_vjp, rot_bar_to_twist_np, rotvec_to_matrix
    sa, sb = (np.array(SIZES[ta]), np.array(SIZES[tb])) if sizes is None else sizes
    fwd_routine, vjp_routine = ROUTINES[(ta, tb)], VJP_ROUTINES[(ta, tb)]
    free = np.arange(12) if rotations else np.r_[0:3, 6:9]

    def poses(x):
        full = np.zeros(12)
        full[free] = x
        full[0:3] += pa0
        full[6:9] += pb0
        return (full[0:3], rotvec_to_matrix(full[3:6]) @ Ra0, full[6:9],
                rotvec_to_matrix(full[9:12]) @ Rb0)

    def run(x):
        pa, Ra, pb, Rb = poses(x)
        d, nrm, pt = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
        cnt = fwd_routine(pa, Ra, sa, pb, Rb, sb, margin, 0, d, nrm, pt)
        return cnt, np.concatenate([d[:cnt], nrm[:cnt].ravel(), pt[:cnt].ravel()])

    x0 = np.zeros(free.size)
    cnt0, _ = run(x0)
    assert cnt0 > 0

    def fwd(x):
        cnt, y = run(x)
        assert cnt == cnt0, "the perturbation changed the contact count"
        return y

    def vjp(x, y_bar):
        pa, Ra, pb, Rb = poses(x)
        db = np.zeros(MAXCON_PAIR)
        nb, pnb = np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
        db[:cnt0] = y_bar[:cnt0]
        nb[:cnt0] = y_bar[cnt0:4 * cnt0].reshape(cnt0, 3)
        pnb[:cnt0] = y_bar[4 * cnt0:].reshape(cnt0, 3)
        pab, Rab, pbb, Rbb = np.zeros(3), np.zeros((3, 3)), np.zeros(3), np.zeros((3, 3))
        cnt = vjp_routine(pa, Ra, sa, pb, Rb, sb, margin, 0, db, nb, pnb, kink, pab, Rab, pbb,
                          Rbb)
        assert cnt == cnt0
        full = np.concatenate([pab, rot_bar_to_twist_np(Ra, Rab), pbb,
                               rot_bar_to_twist_np(Rb, Rbb)])
        return full[free]

    return check_vjp(fwd, vjp, x0, rng)


def _stable_count(ta, tb, pa, Ra, pb, Rb, margin=0.5, eps=1e-5):
    """The pair's contact count is the same under +-eps perturbations of each pose coordinate."""
    from tests.helpers import rotvec_to_matrix
    sa, sb = np.array(SIZES[ta]), np.array(SIZES[tb])
    out = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
    cnt0 = ROUTINES[(ta, tb)](pa, Ra, sa, pb, Rb, sb, margin, 0, *out)
    for j in range(12):
        for e in (eps, -eps):
            x = np.zeros(12)
            x[j] = e
            cnt = ROUTINES[(ta, tb)](pa + x[0:3], rotvec_to_matrix(x[3:6]) @ Ra, sa, pb + x[6:9],
                                     rotvec_to_matrix(x[9:12]) @ Rb, sb, margin, 0, *out)
            if cnt != cnt0:
                return False
    return cnt0 > 0


MANIFOLD_PAIRS = {(GEOM_CAPSULE, GEOM_CAPSULE), (GEOM_BOX, GEOM_CAPSULE), (GEOM_BOX, GEOM_BOX)}


def _contacts(ta, tb, pa, Ra, pb, Rb, margin=0.5, sizes=None):
    sa, sb = (np.array(SIZES[ta]), np.array(SIZES[tb])) if sizes is None else sizes
    d, nrm, pt = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
    cnt = ROUTINES[(ta, tb)](np.asarray(pa, float), Ra, sa, np.asarray(pb, float), Rb, sb, margin,
                             0, d, nrm, pt)
    return d[:cnt], nrm[:cnt], pt[:cnt]


TILT = Rotation.from_rotvec([0.003, -0.002, 0.004]).as_matrix()  # breaks symmetric ties


# ---- checks that each family's test file runs over its own pairs

def check_against_reference(ta, tb):
    # random poses' contacts against the reference distance
    rng = np.random.default_rng(1000 * ta + tb)
    for it in range(40):
        A, B = random_pose(rng, ta, tb)
        D, dstar = ref_dist(A, B)
        dist, nrm, pt = call(A, B)
        if D < MARGIN - 1e-6:
            assert len(dist) >= 1, (it, D)
        if len(dist) == 0:
            assert D > MARGIN - 1e-6
            continue
        k = np.argmin(dist)
        d, n, p = dist[k], nrm[k], pt[k]
        if (ta, tb) == (GEOM_BOX, GEOM_BOX):
            if D <= 0.0:  # penetration: SAT is exact
                assert abs(d - D) <= 1e-7, (it, d, D)
            else:  # separated: conservative, and still separated
                assert 0.0 < d <= D + 1e-7, (it, d, D)
        else:
            assert abs(d - D) <= 1e-7, (it, d, D)
        # the normal is the direction whose projection separation is the reported gap (b -> a); for
        # box-box it may be a face normal within 3 deg of the exact edge axis (stable manifolds)
        if (ta, tb) == (GEOM_BOX, GEOM_BOX):
            assert proj_sep(A, B, n[None])[0] <= d + 1e-9
        else:
            assert proj_sep(A, B, n[None])[0] == pytest.approx(d, abs=1e-9)
        if tb == GEOM_PLANE:
            assert np.allclose(nrm, B.R[:, 2], atol=1e-14)
        elif abs(D) > 1e-3 and (exact_for(ta, tb) or D < 0) and np.linalg.norm(A.p - B.p) > 1e-9:
            # the optimal direction is unique in generic poses (not with coincident centres); box-box
            # may prefer a face within 3 deg, or within 0.1 % of the depth (face bias on near-ties)
            assert n @ dstar > 0.99 or (exact_for(ta, tb) is False
                                        and proj_sep(A, B, n[None])[0] >= d - 1e-3 * abs(d)), (it, n, dstar)
        # moving a along +n opens the gap
        eps = 1e-4
        A2 = Shape(A.t, A.p + eps * n, A.R, A.s)
        d2, _, _ = call(A2, B, margin=MARGIN + 1.0)
        assert d2.min() > d + 0.5 * eps
        # the point is the midpoint of a's surface point p + d/2 n and b's surface point p - d/2 n
        if exact_for(ta, tb) or (D <= 0 and proj_sep(A, B, n[None])[0] > d - 1e-9):
            assert abs(A.sdf(p + 0.5 * d * n)) < 1e-6, (it, A.sdf(p + 0.5 * d * n))
            assert abs(B.sdf(p - 0.5 * d * n)) < 1e-6, (it, B.sdf(p - 0.5 * d * n))
        # no contact point lies outside either shape by more than |dist|/2
        for dk, pk in zip(dist, pt):
            if (ta, tb) == (GEOM_BOX, GEOM_BOX) and D > 0:
                break  # separated boxes: gaps are shifted down to the SAT separation
            assert A.sdf(pk) <= 0.5 * abs(dk) + 1e-9 and B.sdf(pk) <= 0.5 * abs(dk) + 1e-9, (it, dk)


def check_beyond_margin(ta, tb):
    # nothing reported beyond the margin
    rng = np.random.default_rng(7 + 10 * ta + tb)
    for _ in range(20):
        A, B = random_pose(rng, ta, tb, MARGIN, MARGIN + 0.1)
        D = ref_dist(A, B)[0]
        dist, nrm, pt = call(A, B)
        if D > MARGIN + 1e-7 and (ta, tb) != (GEOM_BOX, GEOM_BOX):
            assert len(dist) == 0, (D, dist)
        if len(dist):  # box-box: only a SAT underestimate below the margin may report
            assert (ta, tb) == (GEOM_BOX, GEOM_BOX) and dist.min() <= D


def check_pair_vjp_random_poses(pair, rng):
    # the pair's vjp against central differences at random poses
    from tests.helpers import random_rotation
    ta, tb = pair
    for _ in range(5):
        Ra0, Rb0 = random_rotation(rng), random_rotation(rng)
        pb0 = rng.normal(size=3)
        # a's centre near b: inside the margin, penetrating or not
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        if tb == GEOM_PLANE:
            direction = Rb0[:, 2]
        reach = SIZES[tb][0] + (0.15 if ta == GEOM_SPHERE else 0.1)
        pa0 = pb0 + rng.uniform(0.5, 1.2) * reach * direction + 0.3 * rng.normal(size=3) * (
            tb == GEOM_PLANE)
        if pair in MANIFOLD_PAIRS and not _stable_count(ta, tb, pa0, Ra0, pb0, Rb0):
            continue  # a pose on a contact-count switch (rare): not differentiable there
        _pair_vjp_check(ta, tb, pa0, Ra0, pb0, Rb0, rng)
