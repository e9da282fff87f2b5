"""Dense linear solves that report failure instead of raising (numpy's raise LinAlgError from
compiled code, which would reach the user as a raw exception)."""
import numpy as np

from simcore._jit import jit


@jit(entry=True)
def solve_dense(A, b):
    # (ok, x) with A x = b by Gaussian elimination with partial pivoting; ok is False (x
    # undefined) when a pivot is exactly zero (as LAPACK's gesv) or anything is non-finite.
    # in: A (n, n), b (n,), neither modified
    n = b.shape[0]
    M = A.copy()
    x = b.copy()
    for i in range(n):
        for j in range(n):
            if not np.isfinite(M[i, j]):
                return False, x
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(M[r, c]) > abs(M[p, c]):
                p = r
        if M[p, c] == 0.0:
            return False, x
        if p != c:
            for j in range(c, n):
                M[c, j], M[p, j] = M[p, j], M[c, j]
            x[c], x[p] = x[p], x[c]
        for r in range(c + 1, n):
            f = M[r, c] / M[c, c]
            if f != 0.0:
                for j in range(c + 1, n):
                    M[r, j] -= f * M[c, j]
                x[r] -= f * x[c]
    for c in range(n - 1, -1, -1):
        acc = x[c]
        for j in range(c + 1, n):
            acc -= M[c, j] * x[j]
        x[c] = acc / M[c, c]
    for c in range(n):
        if not np.isfinite(x[c]):
            return False, x
    return True, x


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
