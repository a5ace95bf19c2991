"""The planner's picture of one replica: TTFT and TPOT against request rate, with the SLOs.

The knee of these curves is what capacity is sized against: below it latency is flat (one
prefill, the batch-1 step), above it queues and batch interference lift the tail. The SLO
lines and the capacity point (the largest rate whose statistic meets them) are marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from advisor.errors import OutputError
from advisor.files import check_out_file, write_atomically
from advisor.serving import SLO, Capacity, Replica, Traffic, load_curve

#: The figure's one format, and so the suffix of the file it is written to (any case).
FIGURE_SUFFIX = ".png"


def check_figure_path(path: Path | str, option: str) -> Path:
    """Fail before any work where ``path`` (the value of ``option``) cannot take the figure:
    a path that cannot become a file, or a name that does not end in :data:`FIGURE_SUFFIX`
    (a PNG under another name)."""
    path = check_out_file(path, option)
    if path.suffix.lower() != FIGURE_SUFFIX:
        raise OutputError(
            f"{option} '{path}': the figure is a PNG, so its file name must end in "
            f"{FIGURE_SUFFIX} (e.g. '{path.with_suffix(FIGURE_SUFFIX)}')."
        )
    return path


def load_figure(
    replica: Replica,
    traffic: Traffic,
    slo: SLO,
    capacity: Capacity,
    path: Path | str,
    *,
    title: str | None = None,
    points: int = 12,
) -> Path:
    """Plot TTFT and TPOT (p50 and p99) against the arrival rate and save a PNG at ``path``
    (a name ending in .png)."""
    out = check_figure_path(path, "the figure's path")
    png = load_figure_png(replica, traffic, slo, capacity, title=title, points=points)
    return write_atomically(out, png)


def load_figure_png(
    replica: Replica,
    traffic: Traffic,
    slo: SLO,
    capacity: Capacity,
    *,
    title: str | None = None,
    points: int = 12,
) -> bytes:
    """``load_figure``'s picture as PNG bytes."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = capacity.upper_bound_rps or capacity.requests_per_s
    if not top > 0:
        raise ValueError("nothing to plot: the replica serves no load")
    rates = np.linspace(top / points, top, points)
    curve = load_curve(replica, traffic, list(rates))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, which, limit, label in (
        (axes[0], "ttft_ms", slo.ttft_ms, "TTFT [ms]"),
        (axes[1], "tpot_ms", slo.tpot_ms, "TPOT [ms]"),
    ):
        for stat, style in (("p50", "-"), ("p99", "--")):
            ax.plot(rates, [getattr(c, which)[stat] for c in curve], style, label=stat)
        if limit is not None:
            ax.axhline(limit, color="red", lw=1, label=f"SLO ({slo.stat})")
        if capacity.requests_per_s > 0 and capacity.meets_slo:
            ax.axvline(capacity.requests_per_s, color="green", lw=1, ls=":", label="capacity")
            ax.plot(
                [capacity.requests_per_s],
                [getattr(capacity, which)],
                "o",
                color="green",
            )
        ax.set_xlabel("arrival rate [requests/s per replica]")
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    name = title or (
        f"{replica.model.name} {replica.quant.name} on {replica.tp}x {replica.gpu.name}: "
        f"prompt {traffic.prompt_tokens:g}, completion {traffic.completion_tokens:g}"
    )
    fig.suptitle(name, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
