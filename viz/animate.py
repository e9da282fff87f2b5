"""Animations of simcore trajectories: every body of a scene drawn in an orthographic 2D view,
saved as a GIF (matplotlib's PillowWriter) or, when ffmpeg is installed, as an MP4.

The viewer only draws what a Trajectory holds; it never runs a simulation.

- ``animate(model, traj, path, ...)``: one trajectory, optionally with contacts (bodies
  highlighted, points marked), impulse arrows and trails of the body centres.
- ``animate_series(model, trajs, path, labels=...)``: several trajectories of the same scene
  drawn over each other, one colour each, with a legend.
- ``frame_steps(steps, stride, max_frames)``: the state indices that become frames.
- ``frame_count(path)``: the number of frames of a GIF.

Views: ``"xz"`` (side view, looking along +y; the default), ``"xy"`` (top view) and ``"yz"``.
What each shape looks like (orthographic projection, body pose from the trajectory):

- sphere: its circle, with two spokes from the centre to the body-frame points (r, 0, 0)
  (solid) and (0, 0, r) (dashed), so that spin about any axis shows;
- box: the outline of its projection (convex hull of its 8 corners), with a spoke to the centre
  of its +x face;
- capsule: the outline of its projection (the segment's projection swept by a disc of its
  radius: two half circles joined by the tangent lines), its axis, and a spoke to (r, 0, 0);
- plane: the line where it crosses the view plane, the solid side shaded. A plane whose normal is
  oblique to the view direction crosses the view plane at a depth: it is taken at the mean depth
  of the non-plane bodies' initial positions. A plane parallel to the view (its normal along the
  view direction, like the ground seen from the top) is not drawn.

Static non-plane bodies are grey; kinematic bodies get a dashed outline.
"""
import math
import os
import sys
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    # files only, never a window (viz/__init__.py selects Agg too); a session that already
    # imported pyplot keeps its backend: saving a file works with any of them
    matplotlib.use("Agg")

import matplotlib.animation as manimation  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Circle, Patch, Polygon  # noqa: E402

from simcore.kernels import consts  # noqa: E402

VIEWS = {"xz": (0, 2, 1), "xy": (0, 1, 2), "yz": (1, 2, 0)}  # (horizontal, vertical, depth)
_AXIS = "xyz"
_BODY_COLOURS = ["C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9", "C7"]  # no red: highlights
_SERIES_COLOURS = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9"]
HIGHLIGHT = "red"
_CIRCLE_SAMPLES = 24


# ----------------------------------------------------------------------------- validation

def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_view(view):
    if view not in VIEWS:
        raise ValueError(f"view must be one of {sorted(VIEWS)}, got {view!r}")
    return VIEWS[view]


def _check_fps(fps):
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer,
                                                                  np.floating)):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _check_traj(model, traj, name="traj"):
    n = int(model.nbody)
    pos = np.asarray(traj.pos, dtype=float)
    quat = np.asarray(traj.quat, dtype=float)
    if pos.ndim != 3 or pos.shape[1:] != (n, 3) or pos.shape[0] < 1:
        raise ValueError(f"{name}.pos must have shape (steps+1, {n}, 3) for this model "
                         f"({n} bodies), got {pos.shape}")
    if quat.shape != (pos.shape[0], n, 4):
        raise ValueError(f"{name}.quat must have shape {(pos.shape[0], n, 4)}, got {quat.shape}")
    if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
        raise ValueError(f"{name} has non-finite positions or orientations")
    return pos, quat


def _check_path(path):
    p = Path(os.fspath(path))
    suffix = p.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"path must end in .gif or .mp4, got {str(path)!r}")
    if suffix == ".mp4" and not manimation.FFMpegWriter.isAvailable():
        raise RuntimeError(
            f"saving {str(path)!r} as MP4 needs ffmpeg, which was not found "
            f"(looked for {matplotlib.rcParams['animation.ffmpeg_path']!r} on PATH); "
            "install ffmpeg or save a .gif instead")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"the folder of {str(path)!r} does not exist")
    return p, suffix


def _check_impulses(impulses, steps):
    if impulses is None:
        return None
    arr = np.asarray(impulses, dtype=float)
    if arr.ndim != 3 or arr.shape[2] != 6 or arr.shape[0] not in (steps, steps + 1):
        raise ValueError(f"impulses must have shape ({steps}, k, 6) or ({steps + 1}, k, 6) "
                         f"(point xyz, vector xyz per arrow), got {arr.shape}")
    if np.any(np.isinf(arr)):
        raise ValueError("impulses must not contain inf (use NaN rows for absent arrows)")
    return arr


# ----------------------------------------------------------------------------- frames

def frame_steps(steps, stride=None, max_frames=300):
    """The state indices (0 .. steps) drawn as frames: 0, stride, 2*stride, ... and always the
    last state ``steps``. Without ``stride``, the smallest stride giving at most ``max_frames``
    frames. An explicit ``stride`` giving more than ``max_frames`` frames is a ValueError."""
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    stride = _check_positive_int("stride", stride, allow_none=True)
    max_frames = _check_positive_int("max_frames", max_frames)
    if steps > 0 and max_frames < 2:
        raise ValueError(f"max_frames must be at least 2 (first and last state), got {max_frames}")

    def count(s):
        return steps // s + 1 + (1 if steps % s else 0)

    if stride is None:
        stride = max(1, steps // max_frames)
        while count(stride) > max_frames:
            stride += 1
    elif count(stride) > max_frames:
        raise ValueError(f"stride={stride} gives {count(stride)} frames over {steps} steps, "
                         f"more than max_frames={max_frames}; raise max_frames or the stride")
    idx = list(range(0, steps + 1, stride))
    if idx[-1] != steps:
        idx.append(steps)
    return np.asarray(idx, dtype=np.int64)


def frame_count(path):
    """Number of frames of the GIF at ``path`` (opened with Pillow)."""
    from PIL import Image
    with Image.open(path) as im:
        if im.format != "GIF":
            raise ValueError(f"{str(path)!r} is not a GIF (Pillow reads it as {im.format})")
        return int(getattr(im, "n_frames", 1))


# ----------------------------------------------------------------------------- geometry

def _quat_to_matrix(q):
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3, 3) body-to-world rotation matrices."""
    q = np.asarray(q, dtype=float)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - w * z)
    R[..., 0, 2] = 2 * (x * z + w * y)
    R[..., 1, 0] = 2 * (x * y + w * z)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - w * x)
    R[..., 2, 0] = 2 * (x * z - w * y)
    R[..., 2, 1] = 2 * (y * z + w * x)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def _hull(points):
    """Convex hull of (m, 2) points, counter-clockwise (monotone chain)."""
    pts = np.unique(np.round(points, 12), axis=0)
    if len(pts) <= 2:
        return pts
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out
    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


_BOX_SIGNS = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                      dtype=float)
_THETA = np.linspace(-np.pi / 2, np.pi / 2, _CIRCLE_SAMPLES + 1)


def _box_outline(c, R, half, ax2):
    corners = c + (_BOX_SIGNS * half) @ R.T
    return _hull(corners[:, ax2])


def _capsule_outline(c, R, r, hl, ax2):
    a = (c - hl * R[:, 2])[ax2]
    b = (c + hl * R[:, 2])[ax2]
    d = b - a
    L = np.hypot(d[0], d[1])
    d = d / L if L > 1e-12 * max(r, 1e-300) else np.array([1.0, 0.0])
    p = np.array([-d[1], d[0]])
    cos, sin = np.cos(_THETA)[:, None], np.sin(_THETA)[:, None]
    cap_b = b + r * (cos * d + sin * p)      # from -p round the +d side to +p
    cap_a = a + r * (-cos * d - sin * p)     # from +p round the -d side to -p
    return np.vstack([cap_b, cap_a])


def _clip_halfplane(poly, n2, c):
    """Part of polygon ``poly`` (m, 2) with n2 . x <= c (Sutherland-Hodgman, one edge)."""
    out = []
    m = len(poly)
    for i in range(m):
        p, q = poly[i], poly[(i + 1) % m]
        fp, fq = n2 @ p - c, n2 @ q - c
        if fp <= 0:
            out.append(p)
        if fp * fq < 0:
            out.append(p + (q - p) * (fp / (fp - fq)))
    return np.array(out) if out else np.zeros((0, 2))


# ----------------------------------------------------------------------------- the scene drawer

class _Scene:
    """Artists of one trajectory's bodies (planes excluded) in one axes, updated per state."""

    def __init__(self, ax, model, pos, quat, ax2, colour=None, alpha=0.55, trails=False):
        self.ax, self.model, self.pos, self.quat, self.ax2 = ax, model, pos, quat, ax2
        self.R = _quat_to_matrix(quat)                            # (T+1, n, 3, 3)
        self.bodies = [i for i in range(model.nbody) if model.geom_type[i] != consts.GEOM_PLANE]
        self.patches, self.spokes, self.trails, self.colours = {}, {}, {}, {}
        for k, i in enumerate(self.bodies):
            kind = int(model.body_kind[i])
            if colour is not None:
                col = colour
            elif kind == consts.BODY_STATIC:
                col = "0.55"
            else:
                col = _BODY_COLOURS[k % len(_BODY_COLOURS)]
            self.colours[i] = col
            ls = "--" if kind == consts.BODY_KINEMATIC else "-"
            gtype = int(model.geom_type[i])
            if gtype == consts.GEOM_SPHERE:
                patch = Circle((0, 0), float(model.geom_size[i, 0]))
            else:
                patch = Polygon(np.zeros((3, 2)), closed=True)
            patch.set(facecolor=col, edgecolor="k", alpha=alpha, lw=1.0, ls=ls, zorder=2)
            ax.add_patch(patch)
            self.patches[i] = patch
            lines = [ax.plot([], [], "-", color="k", lw=1.2, zorder=3)[0]]
            if gtype in (consts.GEOM_SPHERE, consts.GEOM_CAPSULE):
                lines.append(ax.plot([], [], "--" if gtype == consts.GEOM_SPHERE else ":",
                                     color="k", lw=0.9, zorder=3)[0])
            self.spokes[i] = lines
            if trails and kind != consts.BODY_STATIC:
                self.trails[i] = ax.plot([], [], "-", color=col, lw=0.9, alpha=0.8,
                                         zorder=1)[0]

    def artists(self):
        """Every artist that changes from frame to frame."""
        out = list(self.trails.values()) + list(self.patches.values())
        for lines in self.spokes.values():
            out += lines
        return out

    def update(self, t, highlight=()):
        m, ax2 = self.model, self.ax2
        for i in self.bodies:
            c, R = self.pos[t, i], self.R[t, i]
            c2 = c[ax2]
            size = m.geom_size[i]
            gtype = int(m.geom_type[i])
            patch, lines = self.patches[i], self.spokes[i]
            if gtype == consts.GEOM_SPHERE:
                r = float(size[0])
                patch.set_center(c2)
                ends = [c + r * R[:, 0], c + r * R[:, 2]]
            elif gtype == consts.GEOM_BOX:
                patch.set_xy(_box_outline(c, R, size[:3], ax2))
                ends = [c + size[0] * R[:, 0]]
            else:  # capsule: spoke to (r, 0, 0) and its axis
                r, hl = float(size[0]), float(size[1])
                patch.set_xy(_capsule_outline(c, R, r, hl, ax2))
                ends = [c + r * R[:, 0]]
                a, b = (c - hl * R[:, 2])[ax2], (c + hl * R[:, 2])[ax2]
                lines[1].set_data([a[0], b[0]], [a[1], b[1]])
            for line, e in zip(lines, ends):
                e2 = e[ax2]
                line.set_data([c2[0], e2[0]], [c2[1], e2[1]])
            if i in highlight:
                patch.set(facecolor=HIGHLIGHT, lw=2.0)
            else:
                patch.set(facecolor=self.colours[i], lw=1.0)
            if i in self.trails:
                path = self.pos[:t + 1, i][:, ax2]
                self.trails[i].set_data(path[:, 0], path[:, 1])


def _limits(model, positions, ax2):
    """Fixed (xlim, ylim) covering every non-plane body over every state of every trajectory."""
    bodies = [i for i in range(model.nbody) if model.geom_type[i] != consts.GEOM_PLANE]
    if not bodies:
        return (-1.0, 1.0), (-1.0, 1.0)
    rb = np.asarray(model.geom_rbound, dtype=float)[bodies]
    lo = np.full(2, np.inf)
    hi = np.full(2, -np.inf)
    for pos in positions:
        p = pos[:, bodies][:, :, ax2]                              # (T+1, nb, 2)
        lo = np.minimum(lo, (p - rb[None, :, None]).min(axis=(0, 1)))
        hi = np.maximum(hi, (p + rb[None, :, None]).max(axis=(0, 1)))
    span = hi - lo
    # no absurdly thin view: each side at least 30 % of the other
    need = np.maximum(span, 0.3 * span.max())
    mid = 0.5 * (lo + hi)
    pad = 0.08 * need.max()
    lo, hi = mid - need / 2 - pad, mid + need / 2 + pad
    return (lo[0], hi[0]), (lo[1], hi[1])


def _draw_planes(ax, model, pos0, quat0, ax2, depth_axis, xlim, ylim):
    """Static planes: their line in the view and the solid side shaded (from the first state)."""
    planes = [i for i in range(model.nbody) if model.geom_type[i] == consts.GEOM_PLANE]
    others = [i for i in range(model.nbody) if model.geom_type[i] != consts.GEOM_PLANE]
    depth = float(np.mean(pos0[others, depth_axis])) if others else 0.0
    R = _quat_to_matrix(quat0)
    # a rectangle far larger than the view, so the shading survives any aspect adjustment
    cx, cy = np.mean(xlim), np.mean(ylim)
    big = 10.0 * max(xlim[1] - xlim[0], ylim[1] - ylim[0])
    rect = np.array([[cx - big, cy - big], [cx + big, cy - big], [cx + big, cy + big],
                     [cx - big, cy + big]])
    for i in planes:
        n = R[i][:, 2]
        n2 = n[list(ax2)]
        norm = np.hypot(n2[0], n2[1])
        if norm < 1e-9:
            continue  # parallel to the view plane: nothing to draw
        c = float(n @ pos0[i]) - n[depth_axis] * depth     # solid side: n2 . x <= c
        n2, c = n2 / norm, c / norm
        solid = _clip_halfplane(rect, n2, c)
        if len(solid) >= 3:
            ax.add_patch(Polygon(solid, closed=True, facecolor="0.88", edgecolor="none",
                                 zorder=0))
        foot = n2 * c
        tangent = np.array([-n2[1], n2[0]])
        ends = np.array([foot - big * tangent, foot + big * tangent])
        ax.plot(ends[:, 0], ends[:, 1], "-", color="0.3", lw=1.5, zorder=0.5)


def _setup_axes(model, positions, quat0, pos0, view, title, figsize, dpi):
    ax2 = VIEWS[view][:2]
    xlim, ylim = _limits(model, positions, ax2)
    if figsize is None:
        w = 6.0
        ratio = (ylim[1] - ylim[0]) / (xlim[1] - xlim[0])
        figsize = (w, float(np.clip(w * ratio, 2.5, 6.0)) + 0.6)
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(f"{_AXIS[ax2[0]]} (m)")
    ax.set_ylabel(f"{_AXIS[ax2[1]]} (m)")
    ax.grid(alpha=0.25)
    if title is not None:
        ax.set_title(title, fontsize=10)
    _draw_planes(ax, model, pos0, quat0, list(ax2), VIEWS[view][2], xlim, ylim)
    label = ax.text(0.02, 0.97, "", transform=ax.transAxes, ha="left", va="top", fontsize=8,
                    family="monospace", zorder=5,
                    bbox=dict(boxstyle="round,pad=0.25", facecolor="white", alpha=0.8,
                              edgecolor="none"))
    return fig, ax, list(ax2), xlim, ylim, label


def _time_text(t, steps, dt, decimals):
    return f"t = {t * dt:.{decimals}f} s  (step {t}/{steps})"


def _decimals(dt, frames):
    gap = dt * (np.min(np.diff(frames)) if len(frames) > 1 else 1)
    return int(min(9, max(2, math.ceil(-math.log10(gap)) if gap > 0 else 3)))


class _Recorder:
    """Collects frames and writes the file. A GIF draws the static parts (axes, ticks, planes,
    title) once and then only the changing artists per frame (blitting on the Agg canvas), keeps
    each frame as a palette image and saves them with Pillow; an MP4 goes through matplotlib's
    FFMpegWriter, which redraws the whole figure per frame.

    ``overlays`` are unchanging artists drawn over the moving ones (legends): a GIF renders them
    once and pastes their pixels over every frame (drawing a legend costs more than all the
    bodies), so they hide what moves behind them."""

    def __init__(self, fig, path, suffix, fps, dpi, artists, overlays=()):
        self.fig, self.path, self.suffix, self.fps, self.dpi = fig, os.fspath(path), suffix, \
            fps, dpi
        self.artists = sorted(artists, key=lambda a: a.get_zorder())
        self.overlays = list(overlays)
        self.frames = []

    def __enter__(self):
        if self.suffix == ".gif":
            for a in self.artists + self.overlays:
                a.set_animated(True)
            self.canvas = self.fig.canvas
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
            renderer = self.canvas.get_renderer()
            self.pasted = []
            for a in self.overlays:
                a.draw(renderer)
                self.pasted.append(self.canvas.copy_from_bbox(
                    a.get_window_extent(renderer).padded(2)))
        else:
            self.writer = manimation.FFMpegWriter(fps=self.fps)
            self._saving = self.writer.saving(self.fig, self.path, self.dpi)
            self._saving.__enter__()
        return self

    def grab(self):
        if self.suffix == ".gif":
            from PIL import Image
            self.canvas.restore_region(self.background)
            renderer = self.canvas.get_renderer()
            for a in self.artists:
                a.draw(renderer)
            for region in self.pasted:
                self.canvas.restore_region(region)
            rgba = np.asarray(self.canvas.buffer_rgba())
            im = Image.fromarray(rgba[..., :3].copy(), "RGB")
            self.frames.append(im.convert("P", palette=Image.Palette.ADAPTIVE))
        else:
            self.writer.grab_frame()

    def __exit__(self, exc_type, exc, tb):
        if self.suffix == ".gif":
            if exc_type is None:
                self.frames[0].save(self.path, format="GIF", save_all=True,
                                    append_images=self.frames[1:],
                                    duration=max(1, round(1000.0 / self.fps)), loop=0)
            self.frames = []
            return False
        return self._saving.__exit__(exc_type, exc, tb)


def _active_bodies(traj, t):
    """(k, 2) body pairs of the contacts that are not separated (sticking, sliding or weakly
    active) in the record of step min(t, steps-1): the contacts found from state t (last
    substep of step t). Trajectories without a contact record have none."""
    offsets = getattr(traj, "contact_offsets", None)
    if offsets is None or len(offsets) < 2:
        return np.zeros((0, 2), dtype=int)
    s = min(t, len(offsets) - 2)
    sl = slice(int(offsets[s]), int(offsets[s + 1]))
    bodies = np.asarray(traj.contact_bodies)[sl]
    return bodies[np.asarray(traj.contact_mode)[sl] != consts.MODE_SEPARATED]


def _active_contacts(traj, t):
    """(bodies, count) of the contacts of ``_active_bodies``."""
    active = _active_bodies(traj, t)
    return set(int(b) for b in active.ravel()), len(active)


def _active_pairs(traj, t):
    """The distinct body pairs (a, b) of ``_active_bodies``."""
    return sorted({(int(a), int(b)) for a, b in _active_bodies(traj, t)})


def contact_points(model, pos, quat, pairs, touch=None):
    """World points (k, 3) of the contacts of the body ``pairs`` at the poses ``pos`` (n, 3),
    ``quat`` (n, 4): the engine's own narrow phase (``simcore.kernels.collision.collide``),
    keeping the points within ``touch`` metres of touching (default the model's base contact
    margin). The Trajectory records each contact's bodies and mode, not its point; this
    recomputes the points from the recorded poses."""
    from simcore.kernels.collision import collide
    from simcore.kernels.consts import MAXCON_PAIR
    from simcore.kernels.rotation import quat_to_mat
    touch = float(model.opt_margin) if touch is None else float(touch)
    dist, nrm, pt = np.zeros(MAXCON_PAIR), np.zeros((MAXCON_PAIR, 3)), np.zeros((MAXCON_PAIR, 3))
    Ra, Rb = np.empty((3, 3)), np.empty((3, 3))
    out = []
    for a, b in pairs:
        ta, tb = int(model.geom_type[a]), int(model.geom_type[b])
        if ta < tb:  # the narrow phase takes the pair in type order
            a, b, ta, tb = b, a, tb, ta
        quat_to_mat(np.ascontiguousarray(quat[a], dtype=np.float64), Ra)
        quat_to_mat(np.ascontiguousarray(quat[b], dtype=np.float64), Rb)
        n = collide(ta, tb, np.ascontiguousarray(pos[a], dtype=np.float64), Ra,
                    model.geom_size[a], np.ascontiguousarray(pos[b], dtype=np.float64), Rb,
                    model.geom_size[b], touch, 0, dist, nrm, pt)
        out.extend(pt[k].copy() for k in range(n) if dist[k] <= touch)
    return np.array(out).reshape(-1, 3)


# ----------------------------------------------------------------------------- public API

def animate(model, traj, path, view="xz", fps=30, stride=None, contacts=False, impulses=None,
            title=None, trails=False, max_frames=300, figsize=None, dpi=80):
    """Animate one trajectory of ``model`` and save it to ``path`` (.gif, or .mp4 with ffmpeg).

    Args:
        model: the ``sc.Model`` the trajectory was rolled out with (shapes, sizes, kinds).
        traj: a ``sc.Trajectory`` (or anything with ``pos`` (T+1, n, 3), ``quat`` (T+1, n, 4)
            and ``dt``) with ``n == model.nbody``.
        path: output file; ``.gif`` is written with Pillow, ``.mp4`` needs ffmpeg on PATH (a
            RuntimeError naming ffmpeg otherwise).
        view: ``"xz"`` (side view, default), ``"xy"`` (top view) or ``"yz"``.
        fps: frames per second of the file (a GIF stores each frame's duration in hundredths of
            a second, so fps above 50 or between steps of that grid are rounded).
        stride: steps between frames; default the smallest giving at most ``max_frames``
            frames. The frames are states 0, stride, 2*stride, ... and always the last state
            (``frame_steps``).
        contacts: show contacts. A frame showing state t fills in red every body that takes
            part in a contact that is not separated (sticking, sliding or weakly active;
            speculative separated contacts are left out) in the record of step t (the
            contacts found from state t; the last state uses the last step's record), marks
            those pairs' contact points (``contact_points``: the narrow phase on the frame's
            poses, as the Trajectory records bodies and modes but not points) as black dots,
            and the time label counts the contacts.
        impulses: optional arrows, an array (T, k, 6) or (T+1, k, 6): row t holds k arrows
            (point x, y, z, vector x, y, z, world frame) drawn on the frame of state t (with T
            rows the last state shows none). NaN rows are absent arrows. Vectors are projected
            on the view and scaled together so that the longest projected one over the whole
            animation spans a quarter of the view.
        title: figure title.
        trails: draw the path of every moving body's centre up to the current state.
        max_frames: most frames of the file.
        figsize: figure size in inches (default: 6 wide, height from the view's aspect).
        dpi: resolution of the frames.

    The axis limits are fixed over the animation: every non-plane body over every state, plus
    its bounding radius, with equal aspect. Each frame carries its time and step. Bad input
    (unknown view, a trajectory of another body count, non-positive fps, stride or max_frames,
    badly shaped impulses, another file type) raises ValueError before anything is drawn.

    Returns:
        ``path``.
    """
    _check_view(view)
    fps = _check_fps(fps)
    pos, quat = _check_traj(model, traj)
    steps = pos.shape[0] - 1
    frames = frame_steps(steps, stride, max_frames)
    imp = _check_impulses(impulses, steps)
    _, suffix = _check_path(path)
    dt = float(traj.dt)

    fig, ax, ax2, xlim, ylim, label = _setup_axes(model, [pos], quat[0], pos[0], view, title,
                                                  figsize, dpi)
    scene = _Scene(ax, model, pos, quat, ax2, trails=trails)
    quiver = None
    if imp is not None and imp.shape[1] > 0:
        vec2 = imp[:, :, 3:][:, :, ax2]
        longest = np.nanmax(np.hypot(vec2[..., 0], vec2[..., 1])) if np.any(
            np.isfinite(vec2)) else 0.0
        scale = 0.25 * max(xlim[1] - xlim[0], ylim[1] - ylim[0]) / longest if longest > 0 \
            else 1.0
        quiver = ax.quiver(np.zeros(imp.shape[1]), np.zeros(imp.shape[1]),
                           np.zeros(imp.shape[1]), np.zeros(imp.shape[1]), angles="xy",
                           scale_units="xy", scale=1.0 / scale, color="C3", width=0.006,
                           zorder=4)
    legend = dots = None
    if contacts:
        dots, = ax.plot([], [], "o", color="k", ms=3.5, zorder=5, label="contact point")
        legend = ax.legend(handles=[Patch(facecolor=HIGHLIGHT, alpha=0.55, edgecolor="k",
                                          label="in contact"), dots],
                           fontsize=7, loc="upper right")
    decimals = _decimals(dt, frames)
    fig.tight_layout()

    dynamic = scene.artists() + [label] + ([quiver] if quiver is not None else []) \
        + ([dots] if dots is not None else [])
    try:
        with _Recorder(fig, path, suffix, fps, dpi, dynamic,
                       [legend] if legend is not None else []) as recorder:
            for t in frames:
                t = int(t)
                highlight, n_active = _active_contacts(traj, t) if contacts else (set(), 0)
                scene.update(t, highlight)
                text = _time_text(t, steps, dt, decimals)
                if contacts:
                    text += f"\n{n_active} contact{'s' if n_active != 1 else ''}"
                    pts = contact_points(model, pos[t], quat[t], _active_pairs(traj, t))
                    dots.set_data(pts[:, ax2[0]], pts[:, ax2[1]])
                label.set_text(text)
                if quiver is not None:
                    if t < imp.shape[0]:
                        row = imp[t]
                    else:
                        row = np.full_like(imp[0], np.nan)
                    p2 = row[:, :3][:, ax2]
                    v2 = row[:, 3:][:, ax2]
                    bad = ~np.all(np.isfinite(row), axis=1)
                    quiver.set_offsets(np.where(bad[:, None], 0.0, p2))
                    quiver.set_UVC(np.ma.masked_array(v2[:, 0], bad),
                                   np.ma.masked_array(v2[:, 1], bad))
                recorder.grab()
    finally:
        plt.close(fig)
    return path


def animate_series(model, trajs, path, labels=None, view="xz", fps=30, stride=None,
                   title=None, trails=False, max_frames=300, figsize=None, dpi=80):
    """Several trajectories of the same scene (an optimisation's iterates, a sweep) drawn over
    each other in one animation, each in its own colour (translucent, so overlaps show), with a
    legend; saved to ``path`` like ``animate``.

    Args:
        model: the scene's ``sc.Model``.
        trajs: a non-empty sequence of trajectories of ``model`` (same body count and dt). They
            may differ in length: frames run over the longest, and a shorter one holds its last
            state.
        labels: legend entries, one per trajectory (default "0", "1", ...).
        view, fps, stride, title, trails, max_frames, figsize, dpi: as for ``animate``.

    Bodies are outlined and spoked as in ``animate``; planes are drawn once (from the first
    trajectory). Bad input raises ValueError before anything is drawn. Returns ``path``.
    """
    _check_view(view)
    fps = _check_fps(fps)
    trajs = list(trajs)
    if not trajs:
        raise ValueError("trajs must hold at least one trajectory")
    data = [_check_traj(model, tr, name=f"trajs[{k}]") for k, tr in enumerate(trajs)]
    dts = [float(tr.dt) for tr in trajs]
    if any(not np.isclose(d, dts[0], rtol=1e-12, atol=0) for d in dts):
        raise ValueError(f"trajs must share one dt, got {dts}")
    if labels is None:
        labels = [str(k) for k in range(len(trajs))]
    labels = [str(lab) for lab in labels]
    if len(labels) != len(trajs):
        raise ValueError(f"labels must have one entry per trajectory ({len(trajs)}), "
                         f"got {len(labels)}")
    steps = max(p.shape[0] for p, _ in data) - 1
    frames = frame_steps(steps, stride, max_frames)
    _, suffix = _check_path(path)

    pos0, quat0 = data[0][0][0], data[0][1][0]
    fig, ax, ax2, _, _, label = _setup_axes(model, [p for p, _ in data], quat0, pos0, view,
                                            title, figsize, dpi)
    scenes, handles = [], []
    for k, ((pos, quat), lab) in enumerate(zip(data, labels)):
        col = _SERIES_COLOURS[k % len(_SERIES_COLOURS)]
        scenes.append(_Scene(ax, model, pos, quat, ax2, colour=col, alpha=0.4, trails=trails))
        handles.append(Patch(facecolor=col, alpha=0.6, edgecolor="k", label=lab))
    legend = ax.legend(handles=handles, fontsize=7, loc="upper right")
    decimals = _decimals(dts[0], frames)
    fig.tight_layout()

    dynamic = [a for scene in scenes for a in scene.artists()] + [label]
    try:
        with _Recorder(fig, path, suffix, fps, dpi, dynamic, [legend]) as recorder:
            for t in frames:
                t = int(t)
                for scene in scenes:
                    scene.update(min(t, scene.pos.shape[0] - 1))
                label.set_text(_time_text(t, steps, dts[0], decimals))
                recorder.grab()
    finally:
        plt.close(fig)
    return path
