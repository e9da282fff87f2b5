"""viz/animate.py: GIF animations of trajectories (frame counts, views, series, bad input) and
the projected outlines they draw."""
import dataclasses
import shutil
import types

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import simcore as sc
from viz import animate as anim

STEPS = 100
SMALL = dict(figsize=(3.0, 2.2), dpi=60)


def _scene(ball_vel=(1.0, 0.0, 0.0)):
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0.0, 0.0, 0.1), vel=ball_vel, ang_vel=(0.0, 10.0, 0.0))
    scene.add_box((0.1, 0.08, 0.06), pos=(0.5, 0.0, 0.3), vel=(0.0, 0.0, -1.0),
                  ang_vel=(1.0, 4.0, 0.0))
    c, s = np.cos(0.4), np.sin(0.4)   # tilted 0.8 rad about y
    scene.add_capsule(0.05, 0.12, pos=(-0.5, 0.0, 0.25), quat=(c, 0.0, s, 0.0))
    return scene.build()


@pytest.fixture(scope="module")
def model():
    return _scene()


@pytest.fixture(scope="module")
def traj(model):
    return sc.rollout(model, model.initial_state(), STEPS)


def _assert_gif(path, frames):
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == frames
    assert anim.frame_count(path) == frames


def test_gif_with_stride_has_the_promised_frames(model, traj, tmp_path):
    path = tmp_path / "a.gif"
    out = anim.animate(model, traj, path, stride=7, fps=20, title="four shapes", **SMALL)
    assert out == path
    # states 0, 7, ..., 98, then the last state 100
    expected = list(range(0, STEPS + 1, 7)) + [STEPS]
    assert list(anim.frame_steps(STEPS, 7)) == expected
    _assert_gif(path, len(expected))
    with Image.open(path) as im:   # the bodies move: first and last frames differ
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert first.shape == (132, 180, 3)
    assert np.any(first != last)


def test_stride_dividing_the_steps_does_not_repeat_the_last_state(model, traj, tmp_path):
    assert list(anim.frame_steps(STEPS, 25)) == [0, 25, 50, 75, 100]
    anim.animate(model, traj, tmp_path / "b.gif", stride=25, **SMALL)
    _assert_gif(tmp_path / "b.gif", 5)


def test_max_frames_caps_the_frame_count(model, traj, tmp_path):
    # smallest stride with at most 6 frames over 100 steps: 20 -> 0, 20, ..., 100
    assert list(anim.frame_steps(STEPS, None, 6)) == [0, 20, 40, 60, 80, 100]
    # 5 frames: strides 21 .. 24 give 5 multiples plus the last state, 25 gives exactly 5
    assert list(anim.frame_steps(STEPS, None, 5)) == [0, 25, 50, 75, 100]
    assert len(anim.frame_steps(STEPS, None, 300)) == STEPS + 1
    for cap in (2, 3, 7, 13, 50):
        steps = anim.frame_steps(STEPS, None, cap)
        assert len(steps) <= cap and steps[0] == 0 and steps[-1] == STEPS
    anim.animate(model, traj, tmp_path / "c.gif", max_frames=4, **SMALL)
    _assert_gif(tmp_path / "c.gif", 4)
    with pytest.raises(ValueError, match="max_frames"):   # an explicit stride is not cut
        anim.frame_steps(STEPS, 1, 50)


def test_top_view_with_contacts_impulses_and_trails(model, traj, tmp_path):
    imp = np.full((STEPS, 2, 6), np.nan)
    imp[:, 0] = [0.0, 0.0, 0.0, 0.0, 0.0, 2.0]     # along the view direction: a point
    imp[:, 1] = [0.5, 0.0, 0.1, 1.0, 0.5, 0.0]
    imp[::2, 1] = np.nan                           # absent on even steps
    path = anim.animate(model, traj, tmp_path / "top.gif", view="xy", stride=20, contacts=True,
                        impulses=imp, trails=True, **SMALL)
    _assert_gif(path, 6)
    anim.animate(model, traj, tmp_path / "yz.gif", view="yz", stride=50, **SMALL)
    _assert_gif(tmp_path / "yz.gif", 3)


def test_contact_highlight_uses_the_recorded_active_contacts(model, traj):
    bodies, count = anim._active_contacts(traj, STEPS)
    assert 1 in bodies and 0 in bodies            # the ball rolls on the ground
    assert count >= 1
    # a trajectory-like object without a contact record has none
    bare = types.SimpleNamespace(pos=traj.pos, quat=traj.quat, dt=traj.dt)
    assert anim._active_contacts(bare, 0) == (set(), 0)


def test_series_of_three(tmp_path):
    model = _scene()
    trajs = [sc.rollout(model, dataclasses.replace(model.initial_state(), vel=_vel(model, v)), 60)
             for v in (0.5, 1.0, 2.0)]
    path = anim.animate_series(model, trajs, tmp_path / "s.gif",
                               labels=["v=0.5", "v=1", "v=2"], stride=15, trails=True, **SMALL)
    _assert_gif(path, 5)   # 0, 15, 30, 45, 60
    # a shorter trajectory holds its last state; frames run over the longest
    short = sc.rollout(model, model.initial_state(), 30)
    anim.animate_series(model, [trajs[0], short], tmp_path / "s2.gif", stride=20, **SMALL)
    _assert_gif(tmp_path / "s2.gif", 4)   # 0, 20, 40, 60


def _vel(model, vx):
    vel = model.init_vel.copy()
    vel[1, 0] = vx
    return vel


def _other_traj():
    scene = sc.Scene()
    scene.add_plane()
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    m = scene.build()
    return sc.rollout(m, m.initial_state(), 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(view="zx"), "view"),
    (dict(view="XZ"), "view"),
    (dict(fps=0), "fps"),
    (dict(fps=-5), "fps"),
    (dict(fps=float("nan")), "fps"),
    (dict(stride=0), "stride"),
    (dict(stride=-2), "stride"),
    (dict(stride=2.5), "stride"),
    (dict(max_frames=0), "max_frames"),
    (dict(max_frames=1), "max_frames"),
    (dict(impulses=np.zeros((STEPS, 2, 3))), "impulses"),
    (dict(impulses=np.zeros((7, 2, 6))), "impulses"),
])
def test_bad_input_raises_before_drawing(model, traj, tmp_path, kwargs, match):
    path = tmp_path / "bad.gif"
    figs = plt.get_fignums()
    with pytest.raises(ValueError, match=match):
        anim.animate(model, traj, path, **kwargs)
    assert not path.exists()
    assert plt.get_fignums() == figs


def test_bad_trajectories_and_paths(model, traj, tmp_path):
    path = tmp_path / "bad.gif"
    other = _other_traj()
    with pytest.raises(ValueError, match="4 bodies"):
        anim.animate(model, other, path)
    with pytest.raises(ValueError, match="trajs\\[1\\]"):
        anim.animate_series(model, [traj, other], path)
    with pytest.raises(ValueError, match="labels"):
        anim.animate_series(model, [traj, traj], path, labels=["one"])
    with pytest.raises(ValueError, match="at least one"):
        anim.animate_series(model, [], path)
    with pytest.raises(ValueError, match="fps"):
        anim.animate_series(model, [traj], path, fps=0)
    with pytest.raises(ValueError, match="view"):
        anim.animate_series(model, [traj], path, view="top")
    with pytest.raises(ValueError, match=".gif or .mp4"):
        anim.animate(model, traj, tmp_path / "a.png")
    with pytest.raises(FileNotFoundError):
        anim.animate(model, traj, tmp_path / "missing" / "a.gif")
    assert not path.exists()
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    with pytest.raises(ValueError, match="not a GIF"):
        anim.frame_count(tmp_path / "x.png")


@pytest.mark.skipif(shutil.which("ffmpeg") is not None, reason="ffmpeg is installed")
def test_mp4_without_ffmpeg_names_it(model, traj, tmp_path):
    path = tmp_path / "a.mp4"
    with pytest.raises(RuntimeError, match="ffmpeg"):
        anim.animate(model, traj, path)
    with pytest.raises(RuntimeError, match="ffmpeg"):
        anim.animate_series(model, [traj], path)
    assert not path.exists()


def test_mp4_goes_through_the_ffmpeg_writer(model, traj, tmp_path, monkeypatch):
    """The MP4 branch (with a stand-in for matplotlib's FFMpegWriter, which needs ffmpeg):
    every frame is a full redraw of the figure, bodies included."""
    import contextlib
    import io

    grabbed = []

    class FakeFFMpegWriter:
        def __init__(self, fps):
            self.fps = fps

        @classmethod
        def isAvailable(cls):
            return True

        @contextlib.contextmanager
        def saving(self, fig, path, dpi):
            self.fig = fig
            yield self
            with open(path, "wb") as f:
                f.write(b"fake mp4")

        def grab_frame(self):
            buf = io.BytesIO()
            self.fig.savefig(buf, format="rgba")
            grabbed.append(buf.getvalue())

    monkeypatch.setattr(anim.manimation, "FFMpegWriter", FakeFFMpegWriter)
    path = anim.animate(model, traj, tmp_path / "a.mp4", stride=50, **SMALL)
    assert path.read_bytes() == b"fake mp4"
    assert len(grabbed) == 3 and grabbed[0] != grabbed[-1]


# ------------------------------------------------------------------ outlines against sampling

def _random_rotation(rng):
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


@pytest.mark.parametrize("view", ["xz", "xy", "yz"])
def test_outlines_bound_the_projected_shapes(rng, view):
    """The drawn outline of a box / capsule has the extent of the projected solid, in any
    direction (support function), for random poses."""
    ax2 = list(anim.VIEWS[view][:2])
    dirs = np.stack([np.cos(np.linspace(0, 2 * np.pi, 37)),
                     np.sin(np.linspace(0, 2 * np.pi, 37))], axis=1)
    for _ in range(20):
        R = anim._quat_to_matrix(_random_rotation(rng))
        c = rng.normal(size=3)
        half = rng.uniform(0.05, 0.5, size=3)
        outline = anim._box_outline(c, R, half, ax2)
        # support of the box projected on direction u: c.u + sum |h_k (R e_k)_2 . u|
        Rk = R[ax2]                                # (2, 3): projected body axes
        want = dirs @ c[ax2] + np.abs(dirs @ Rk) @ half
        assert np.allclose((outline @ dirs.T).max(axis=0), want, atol=1e-12)
        r, hl = rng.uniform(0.02, 0.3), rng.uniform(0.0, 0.5)
        outline = anim._capsule_outline(c, R, r, hl, ax2)
        want = dirs @ c[ax2] + hl * np.abs(dirs @ Rk[:, 2]) + r
        got = (outline @ dirs.T).max(axis=0)
        # a polygon of the sampled half circles: within r (1 - cos(pi / 24)) below the truth
        assert np.all(got <= want + 1e-12)
        assert np.all(got >= want - r * (1 - np.cos(np.pi / anim._CIRCLE_SAMPLES)) - 1e-12)


def test_planes_are_lines_unless_parallel_to_the_view(tmp_path):
    scene = sc.Scene()
    scene.add_plane(normal=(0, 0, 1), offset=0.0)
    scene.add_plane(normal=(1, 0, 1), offset=1.0)
    scene.add_sphere(0.1, pos=(0, 0, 0.1))
    m = scene.build()
    st = m.initial_state()
    counts = {}
    for view in ("xz", "xy"):
        fig, ax = plt.subplots()
        anim._draw_planes(ax, m, st.pos, st.quat, list(anim.VIEWS[view][:2]),
                          anim.VIEWS[view][2], (-1, 1), (-1, 1))
        counts[view] = len(ax.lines)
        if view == "xz":
            # the tilted plane's line: x + z = sqrt(2) * offset / sqrt(2) = 1
            x, z = ax.lines[1].get_data()
            assert np.allclose(np.asarray(x) + np.asarray(z), 1.0)
        plt.close(fig)
    assert counts == {"xz": 2, "xy": 1}   # the ground seen from the top is not drawn


def test_contact_points_are_the_narrow_phase_points_of_the_pairs_in_contact():
    scene = sc.Scene(dt=1e-3)
    scene.add_plane()
    box = scene.add_box((0.1, 0.05, 0.05), pos=(0, 0, 0.05))
    ball = scene.add_sphere(0.05, pos=(0.5, 0.2, 0.05))
    scene.add_sphere(0.05, pos=(-0.5, 0, 0.5))            # in the air: no points
    model = scene.build(contact=sc.HardContact())
    traj = sc.rollout(model, model.initial_state(), 5)
    pairs = anim._active_pairs(traj, 5)
    assert pairs == [(box, 0), (ball, 0)]
    pts = anim.contact_points(model, traj.pos[5], traj.quat[5], pairs)
    # the box's four bottom corners and the ball's lowest point, on the ground
    expected = np.array([[x, y, 0.0] for x in (-0.1, 0.1) for y in (-0.05, 0.05)]
                        + [[0.5, 0.2, 0.0]])
    assert pts.shape == (5, 3)
    assert np.allclose(np.sort(pts, axis=0), np.sort(expected, axis=0), atol=1e-6)
