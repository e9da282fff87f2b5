"""Linear solves that report failure instead of raising (numpy's raise LinAlgError from
compiled code, which would reach the user as a raw exception): dense and banded LU with partial
pivoting (factor and solve apart, so that a factorization can be kept: factors.py), the least-
squares fallback, and GMRES's steps."""
import numpy as np

from simcore._jit import jit


@jit(entry=True)
def solve_dense(A, b):
    # (ok, x) with A x = b by Gaussian elimination with partial pivoting; ok is False (x
    # undefined) when a pivot is exactly zero (as LAPACK's gesv) or anything is non-finite.
    # in: A (n, n), b (n,), neither modified
    M = A.copy()
    x = b.copy()
    piv = np.empty(b.shape[0], dtype=np.int64)
    if not lu_factor(M, piv):
        return False, x
    return lu_solve(M, piv, x), x


@jit(inline="always")
def solve_dense_in(A, M, x, piv):
    """solve_dense into the caller's scratch, for small systems solved in inner loops: x holds b
    on entry and A^-1 b on return, M (like A) and piv (n) are overwritten. The same arithmetic,
    without allocating. Returns ok (False as solve_dense's)."""
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            M[i, j] = A[i, j]
    if not lu_factor(M, piv):
        return False
    return lu_solve(M, piv, x)


@jit
def lu_factor(M, piv):
    """M = P L U in place by Gaussian elimination with partial pivoting, in band_factor's
    layout (the multipliers of column c in its rows below the diagonal, rows swapped right of
    the diagonal only, piv[c] the row swapped with c). False at an exactly zero pivot (as
    LAPACK's getrf) or a non-finite entry."""
    n = M.shape[0]
    for i in range(n):
        for j in range(n):
            if not np.isfinite(M[i, j]):
                return False
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(M[r, c]) > abs(M[p, c]):
                p = r
        if M[p, c] == 0.0:
            return False
        piv[c] = p
        if p != c:
            for j in range(c, n):
                M[c, j], M[p, j] = M[p, j], M[c, j]
        for r in range(c + 1, n):
            f = M[r, c] / M[c, c]
            M[r, c] = f
            if f != 0.0:
                for j in range(c + 1, n):
                    M[r, j] -= f * M[c, j]
    return True


@jit
def lu_solve(M, piv, x):
    """x <- A^-1 x in place with lu_factor's factors of A; False when x is not finite."""
    n = x.shape[0]
    for c in range(n):
        p = piv[c]
        if p != c:
            x[c], x[p] = x[p], x[c]
        for r in range(c + 1, n):
            f = M[r, c]
            if f != 0.0:
                x[r] -= f * x[c]
    for c in range(n - 1, -1, -1):
        acc = x[c]
        for j in range(c + 1, n):
            acc -= M[c, j] * x[j]
        x[c] = acc / M[c, c]
    for c in range(n):
        if not np.isfinite(x[c]):
            return False
    return True


@jit(entry=True)
def solve_or_lstsq(A, b):
    # x with A x = b, or where A is singular, the least-squares solution of least norm (the
    # convention of the adjoints for a solve whose Jacobian is singular at its solution: the
    # implicit derivative is not unique there, and this picks the smallest); zeros when
    # anything is non-finite (the caller's finiteness check then reports it)
    ok, x = solve_dense(A, b)
    if ok:
        return x
    for i in range(b.shape[0]):
        if not np.isfinite(b[i]):
            return np.zeros(b.shape[0])
        for j in range(b.shape[0]):
            if not np.isfinite(A[i, j]):
                return np.zeros(b.shape[0])
    return np.linalg.lstsq(A, b, rcond=-1.0)[0]


@jit(inline="always")
def arnoldi_start(Q, e, r):
    # GMRES's restart from the residual r: Q[0] = r / |r|, e = (|r|, 0, ...); returns |r|
    acc = 0.0
    for i in range(r.shape[0]):
        acc += r[i] * r[i]
    beta = np.sqrt(acc)
    e[:] = 0.0
    e[0] = beta
    if beta > 0.0:
        for i in range(r.shape[0]):
            Q[0, i] = r[i] / beta
    return beta


@jit(inline="always")
def arnoldi_step(Q, H, cs, sn, e, j, w):
    # step j of GMRES: w = A q_j (overwritten) orthogonalized against Q[:j+1] (modified
    # Gram-Schmidt) into Q[j+1] and H[:, j], then the Givens rotations that keep H upper
    # triangular applied to H[:, j] and to e. Returns |e[j+1]|, the residual's 2-norm
    n = w.shape[0]
    for i in range(j + 1):
        acc = 0.0
        for r in range(n):
            acc += w[r] * Q[i, r]
        H[i, j] = acc
        for r in range(n):
            w[r] -= acc * Q[i, r]
    acc = 0.0
    for r in range(n):
        acc += w[r] * w[r]
    H[j + 1, j] = np.sqrt(acc)
    if H[j + 1, j] > 0.0:
        for r in range(n):
            Q[j + 1, r] = w[r] / H[j + 1, j]
    for i in range(j):  # the previous rotations
        t = cs[i] * H[i, j] + sn[i] * H[i + 1, j]
        H[i + 1, j] = -sn[i] * H[i, j] + cs[i] * H[i + 1, j]
        H[i, j] = t
    den = np.sqrt(H[j, j] ** 2 + H[j + 1, j] ** 2)
    cs[j], sn[j] = (H[j, j] / den, H[j + 1, j] / den) if den > 0.0 else (1.0, 0.0)
    H[j, j] = den
    H[j + 1, j] = 0.0
    e[j + 1] = -sn[j] * e[j]
    e[j] = cs[j] * e[j]
    return abs(e[j + 1])


@jit(inline="always")
def arnoldi_update(Q, H, e, j_end, x):
    # x += Q[:j_end]^T c with H[:j_end, :j_end] c = e[:j_end] (back substitution)
    coef = np.zeros(j_end)
    for i in range(j_end - 1, -1, -1):
        acc = e[i]
        for c in range(i + 1, j_end):
            acc -= H[i, c] * coef[c]
        coef[i] = acc / H[i, i] if H[i, i] != 0.0 else 0.0
    for i in range(j_end):
        for r in range(x.shape[0]):
            x[r] += coef[i] * Q[i, r]


@jit
def band_factor(B, n, w, piv):
    """LU with partial pivoting of the n x n matrix of lower and upper bandwidth w held in B
    (n, 3w + 1): entry (i, j) at B[i, j - i + w], j - i in [-w, 2w] (the upper w for fill-in).
    In place, LINPACK's layout: the multipliers of column c stay in its rows below the
    diagonal, rows are swapped right of the diagonal only, piv[c] the row swapped with c.
    Returns False at a zero or non-finite pivot. The fill reaches past the upper band only
    where rows were swapped (ju, as LINPACK's dgbfa tracks it), and each row's update runs on
    a copy of the pivot row, which lets the compiler vectorise it (the arithmetic is the same
    as updating in place)."""
    ju = 0  # the rightmost column a pivot row reaches
    row = np.empty(2 * w + 1)
    for c in range(n):
        last = min(c + w, n - 1)
        p = c
        big = abs(B[c, w])
        for r in range(c + 1, last + 1):
            v = abs(B[r, c - r + w])
            if v > big:
                big, p = v, r
        if big == 0.0 or not np.isfinite(big):
            return False
        piv[c] = p
        ju = max(ju, p + w)
        right = min(ju, n - 1)
        if p != c:
            for j in range(c, right + 1):
                t = B[c, j - c + w]
                B[c, j - c + w] = B[p, j - p + w]
                B[p, j - p + w] = t
        inv = 1.0 / B[c, w]
        width = right - c
        for j in range(width):
            row[j] = B[c, w + 1 + j]
        for r in range(c + 1, last + 1):
            f = B[r, c - r + w] * inv
            B[r, c - r + w] = f
            if f != 0.0:
                o = c + 1 - r + w
                for j in range(width):
                    B[r, o + j] -= f * row[j]
    return True


@jit
def band_solve(B, n, w, piv, x, trans):
    """x <- H^-1 x (trans: H^-T x) in place, with band_factor's factors of H."""
    # U's upper bandwidth: w, and up to w more where rows were swapped (band_factor's ju)
    wu = w
    for c in range(n):
        wu = max(wu, piv[c] - c + w)
    if not trans:
        for c in range(n):
            p = piv[c]
            if p != c:
                x[c], x[p] = x[p], x[c]
            xc = x[c]
            if xc != 0.0:
                for r in range(c + 1, min(c + w, n - 1) + 1):
                    x[r] -= B[r, c - r + w] * xc
        for c in range(n - 1, -1, -1):
            acc = x[c]
            for j in range(c + 1, min(c + wu, n - 1) + 1):
                acc -= B[c, j - c + w] * x[j]
            x[c] = acc / B[c, w]
        return
    # H = P_0 L_0 ... P_{n-1} L_{n-1} U: U^T first, then each L_c^T and P_c from the last
    for c in range(n):
        acc = x[c]
        for i in range(max(0, c - wu), c):
            acc -= B[i, c - i + w] * x[i]
        x[c] = acc / B[c, w]
    for c in range(n - 1, -1, -1):
        acc = x[c]
        for r in range(c + 1, min(c + w, n - 1) + 1):
            acc -= B[r, c - r + w] * x[r]
        x[c] = acc
        p = piv[c]
        if p != c:
            x[c], x[p] = x[p], x[c]
