"""Line plots of rollouts and sweeps, saved as PNG."""
import matplotlib.pyplot as plt
import numpy as np


def _draw(ax, x, series, reference, markers, vline):
    for label, y in series.items():
        ax.plot(x, y, ".-" if markers else "-", lw=1.3, ms=3, label=label)
    if reference is not None:
        label, rx, ry = reference
        ax.plot(rx, ry, "k--", lw=1.2, label=label)
    if vline is not None:
        ax.axvline(vline, color="grey", lw=0.8, ls=":")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _save(fig, ax, path, xlabel, ylabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_lines(x, series, path, xlabel, ylabel, title, reference=None, markers=False,
               loglog=False, logy=False, vline=None):
    """One figure: ``series`` maps a label to y values over x; ``reference`` (label, x, y) is
    drawn dashed in black; ``loglog`` / ``logy`` put both axes / the y axis on a log scale;
    ``vline`` marks an x value. Saved to ``path``; returns the path."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    _draw(ax, x, series, reference, markers, vline)
    if loglog:
        ax.set_xscale("log")
    if loglog or logy:
        ax.set_yscale("log")
    return _save(fig, ax, path, xlabel, ylabel, title)


def plot_panels(x, panels, path, xlabel, ylabel, title, vline=None, ylim=None, columns=2):
    """A grid of panels sharing x: ``panels`` maps a panel title to (series, reference), as for
    ``plot_lines``. Saved to ``path``; returns the path."""
    rows = (len(panels) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 3.0 * rows), dpi=110,
                             sharex=True, squeeze=False)
    for ax, (name, (series, reference)) in zip(axes.flat, panels.items()):
        _draw(ax, x, series, reference, True, vline)
        ax.set_title(name, fontsize=9)
        if ylim is not None:
            ax.set_ylim(*ylim)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_scatter(groups, path, xlabel, ylabel, title, loglog=False):
    """Points of several groups (label -> (x, y)), one colour each; ``loglog`` puts both axes on
    a log scale. Saved to ``path``; returns the path."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, (x, y) in groups.items():
        ax.plot(x, y, ".", ms=3, alpha=0.6, label=f"{label} ({len(x)})")
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, ax, path, xlabel, ylabel, title)


def plot_convergence(histories, path, xlabel, ylabel, title):
    """Loss histories of several runs (label -> 1D array) on a log scale; shorter runs hold
    their last value. Saved to ``path``; returns the path."""
    width = max(len(h) for h in histories.values())
    series = {k: np.pad(np.maximum(np.asarray(h, dtype=float), 1e-300), (0, width - len(h)),
                        mode="edge") for k, h in histories.items()}
    return plot_lines(np.arange(width), series, path, xlabel, ylabel, title, logy=True)


def plot_paths(runs, path, xlabel, ylabel, title, reference=None, points=(), circles=(),
               hlines=(), vlines=(), end_dots=False):
    """Paths in a plane, at equal scale. ``runs`` maps a label to an array (T, 2), or (T, k, 2)
    for k bodies of one run: the last body drawn solid and labelled, the others dashed, one
    colour per run, with a dot at the last body's end when ``end_dots``. ``reference``
    (label, array) is drawn the same way in grey. ``points``: (x, y, fmt, label) markers;
    ``circles``: (x, y, radius, label, filled), a filled one red and in the legend (a goal), an
    outline labelled by text below it (a body); ``hlines`` / ``vlines``: walls and floors, in
    black. Saved to ``path``; returns the path."""
    from matplotlib.patches import Circle

    def draw(xy, colour, label):
        xy = np.asarray(xy, dtype=float).reshape(len(xy), -1, 2)
        for j in range(xy.shape[1] - 1):
            ax.plot(xy[:, j, 0], xy[:, j, 1], "--", color=colour, lw=1)
        ax.plot(xy[:, -1, 0], xy[:, -1, 1], "-", color=colour, lw=1.4, label=label)
        return xy

    fig, ax = plt.subplots(figsize=(7, 4.8), dpi=120)
    if reference is not None:
        draw(reference[1], "0.6", reference[0])
    for k, (label, xy) in enumerate(runs.items()):
        xy = draw(xy, f"C{k}", label)
        if end_dots:
            ax.plot(*xy[-1, -1], "o", color=f"C{k}", ms=4)
    for y in hlines:
        ax.axhline(y, color="k", lw=1)
    for x in vlines:
        ax.axvline(x, color="k", lw=1)
    for x, y, fmt, label in points:
        ax.plot(x, y, fmt, ms=8, label=label)
    for x, y, r, label, filled in circles:
        if filled:
            ax.add_patch(Circle((x, y), r, facecolor="red", alpha=0.25, edgecolor="red",
                                label=label))
        else:
            ax.add_patch(Circle((x, y), r, facecolor="none", edgecolor="k"))
            ax.annotate(label, (x, y - 2.2 * r), ha="center", fontsize=8)
    ax.set_aspect("equal")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, ax, path, xlabel, ylabel, title)
