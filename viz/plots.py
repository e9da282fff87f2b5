"""Line plots of rollouts and sweeps, saved as PNG."""
import matplotlib.pyplot as plt


def plot_lines(x, series, path, xlabel, ylabel, title, reference=None, markers=False,
               loglog=False):
    """One figure: ``series`` maps a label to y values over x; ``reference`` (label, x, y) is
    drawn dashed in black; ``loglog`` puts both axes on a log scale. Saved to ``path``; returns
    the path."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, y in series.items():
        ax.plot(x, y, ".-" if markers else "-", lw=1.3, ms=3, label=label)
    if reference is not None:
        label, rx, ry = reference
        ax.plot(rx, ry, "k--", lw=1.2, label=label)
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
