"""Figure helpers shared by the library's and the binaries' plots: matplotlib on its
non-interactive Agg backend (binaries write PNGs; no display is assumed), imported only when a
figure is drawn, so that nothing else pays for matplotlib."""

from __future__ import annotations

import os


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 120) -> None:
    """Lay ``fig`` out, write it to ``path`` (its folder made if missing) and close it."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
