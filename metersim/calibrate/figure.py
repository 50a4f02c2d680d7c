"""A picture of the 9 BDEW cells: each electricity group's mean daily profile against its reference.

Both curves are drawn as multiples of their own daily mean (what the report's r and MAD compare).
matplotlib is an optional dependency, imported only when drawing (as for ``metersim plot``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from metersim.calibrate.references import DAYS, SEASONS
from metersim.errors import MissingDependencyError

_DAY_TITLES = {"workday": "workday", "saturday": "Saturday", "sunday": "Sunday / holiday"}


def draw_cells(report: dict[str, Any], path: str | Path) -> None:
    """Draw the cells of every group that has a BDEW reference; raises MissingDependencyError without
    matplotlib."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError("plotting", "matplotlib", "plot") from None
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 10), dpi=100)
    axes = fig.subplots(3, 3, sharex=True, sharey=True)
    fig.suptitle(f"{report['scenario']}: mean daily profile per BDEW cell, ours against the reference", fontsize=13)
    drawn: set[str] = set()
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    groups = [g for g in report["groups"] if g.get("reference")]
    for n, g in enumerate(groups):
        code = g["reference"]["profile"].upper()
        for c in g["cells"]:
            ax = axes[SEASONS.index(c["season"])][DAYS.index(c["day"])]
            if "ours" not in c:
                continue
            # one more point at 24 h, so that the last slot is drawn to the end of the day
            hours = np.arange(len(c["ours"]) + 1) * 24 / len(c["ours"])
            ax.step(
                hours,
                [*c["ours"], c["ours"][-1]],
                where="post",
                color=colors[n % len(colors)],
                lw=1.3,
                label=f"{g['group']} ({g['profile']})",
            )
            # the cell's scores in the top left corner (the night is low: nothing is drawn there)
            ax.text(
                0.02,
                0.96 - 0.07 * n,
                f"r {c['r']:.3f}, MAD {c['mad']:.3f}",
                color=colors[n % len(colors)],
                fontsize=8,
                va="top",
                transform=ax.transAxes,
            )
            key = f"{code} {c['season']} {c['day']}"
            if key not in drawn:  # each reference cell once, even when two groups share it
                ax.step(
                    hours,
                    [*c["bdew"], c["bdew"][-1]],
                    where="post",
                    color="black" if len(groups) == 1 else colors[n % len(colors)],
                    lw=1.0,
                    ls="--",
                    alpha=0.8,
                    label=f"BDEW {code}",
                )
                drawn.add(key)
    for i, season in enumerate(SEASONS):
        for j, day in enumerate(DAYS):
            ax = axes[i][j]
            ax.set_title(f"{season}, {_DAY_TITLES[day]}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.set_xticks(range(0, 25, 6))
            if j == 0:
                ax.set_ylabel("x daily mean")
            if i == 2:
                ax.set_xlabel("local hour")
    handles, labels = [], []
    for ax in axes.flat:  # one legend for the figure: every line once
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.955), fontsize=9, ncol=len(handles))
    if not groups:
        axes[1][1].text(
            0.5, 0.5, "no electricity group with a BDEW reference", ha="center", transform=axes[1][1].transAxes
        )
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(str(path))
