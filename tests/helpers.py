"""Helpers shared by tests: physics, and the outputs of a scenario run."""
import importlib.util
import re
from pathlib import Path

import numpy as np

import simcore as sc
from simcore.kernels import consts

G = 9.81


def peaks(z):
    """The local maxima of a sampled curve z (a plateau's last sample)."""
    return np.array([z[i] for i in range(1, len(z) - 1) if z[i] >= z[i - 1] and z[i] > z[i + 1]])


def drop(height, e, dt=1e-3, steps=None, toi=True):
    """Rollout of a ball (radius 0.1) dropped from height above a plane, restitution e for both,
    under HardContact(toi=toi)."""
    scene = sc.Scene(dt=dt)
    scene.add_plane(restitution=e)
    scene.add_sphere(0.1, pos=(0, 0, 0.1 + height), restitution=e)
    model = scene.build(contact=sc.HardContact(toi=toi))
    return sc.rollout(model, model.initial_state(), steps)


def body_momentum(model, traj, t):
    """Total linear momentum and angular momentum about the origin of the dynamic bodies."""
    dyn = model.body_kind == consts.BODY_DYNAMIC
    p = (model.body_mass[dyn, None] * traj.vel[t, dyn]).sum(axis=0)
    L = np.zeros(3)
    for i in np.flatnonzero(dyn):
        R = quat_to_matrix(traj.quat[t, i])
        Iw = R @ (model.body_inertia[i] * (R.T @ traj.ang_vel[t, i]))
        L += np.cross(traj.pos[t, i], model.body_mass[i] * traj.vel[t, i]) + Iw
    return p, L


def kinetic_energy(model, traj, i):
    """Body i's kinetic energy (translation and rotation) at every step of a rollout."""
    R = np.array([quat_to_matrix(q / np.linalg.norm(q)) for q in traj.quat[:, i]])
    wb = np.einsum("tji,tj->ti", R, traj.ang_vel[:, i])
    return 0.5 * (model.body_mass[i] * np.sum(traj.vel[:, i] ** 2, axis=1)
                  + np.sum(model.body_inertia[i] * wb * wb, axis=1))


def quat_to_matrix(q):
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def rotvec_to_matrix(th):
    """Exp(th): the rotation by |th| about th."""
    a = np.linalg.norm(th)
    K = np.array([[0, -th[2], th[1]], [th[2], 0, -th[0]], [-th[1], th[0], 0]])
    if a < 1e-12:
        return np.eye(3) + K
    return np.eye(3) + np.sin(a) / a * K + (1 - np.cos(a)) / a ** 2 * K @ K


def matrix_to_rotvec(R):
    """Log(R) for a rotation R near the identity."""
    c = np.clip((np.trace(R) - 1) / 2, -1, 1)
    a = np.arccos(c)
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]]) / 2
    return v if a < 1e-12 else v * a / np.sin(a)


def random_rotation(rng):
    return rotvec_to_matrix(rng.normal(size=3))


def check_vjp(fwd, vjp, x0, rng, eps=1e-6, rtol=1e-7, ntrials=3):
    """Check a vjp against central differences of its forward function, every input coordinate.

    fwd(x) -> y and vjp(x, y_bar) -> x_bar on flat float64 vectors. For random cotangents y_bar,
    x_bar_j must match y_bar . (fwd(x + eps e_j) - fwd(x - eps e_j)) / (2 eps) within rtol
    relative to the largest entry (and 1e-9 absolute). Returns the worst relative error."""
    x0 = np.asarray(x0, dtype=np.float64)
    y0 = np.asarray(fwd(x0))
    jac = np.empty((y0.size, x0.size))
    for j in range(x0.size):
        xp, xm = x0.copy(), x0.copy()
        xp[j] += eps
        xm[j] -= eps
        jac[:, j] = (np.asarray(fwd(xp)) - np.asarray(fwd(xm))).ravel() / (2 * eps)
    worst = 0.0
    for _ in range(ntrials):
        y_bar = rng.normal(size=y0.shape)
        x_bar = np.asarray(vjp(x0, y_bar), dtype=np.float64)
        fd = y_bar.ravel() @ jac
        err = np.max(np.abs(x_bar - fd)) / max(np.max(np.abs(fd)), 1e-9 / rtol)
        worst = max(worst, err)
        assert err < rtol, f"vjp {x_bar} vs central differences {fd}: relative error {err:.3g}"
    return worst


def rot_bar_to_twist_np(R, R_bar):
    """The kernel's rot_bar_to_twist on a fresh zero vector."""
    from simcore.kernels.rotation import rot_bar_to_twist
    out = np.zeros(3)
    rot_bar_to_twist(np.ascontiguousarray(R), np.ascontiguousarray(R_bar), out)
    return out


def load_benchmark(name="throughput"):
    """A script of benchmarks/ as a module."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_outputs(out, names):
    """A scenario's output folder ``out`` (a Path) holds every file in ``names``, none empty,
    and its index.md lists exactly the files in the folder besides itself."""
    index = (out / "index.md").read_text()
    listed = set(re.findall(r"^- `([^`]+)`", index, flags=re.M))
    on_disk = {p.name for p in out.iterdir()} - {"index.md"}
    assert listed == on_disk, (sorted(listed), sorted(on_disk))
    for name in names:
        assert name in listed, name
        assert (out / name).stat().st_size > 0, name
