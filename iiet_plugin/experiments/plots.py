"""Pictures of the benchmark and study tables, read back from the Markdown the bench scripts
and the study driver write.

``plot_train_step``: per host, each solver's measured training-step time relative to vanilla
against its ideal ratio (step FLOPs relative to vanilla); points on the diagonal cost exactly
their extra arithmetic.  ``plot_study``: per task, quality (mean +- std over seeds) against the
measured speed relative to vanilla, one point per model.
"""
import re
from typing import List, Tuple

Table = Tuple[str, List[str], List[List[str]]]


def tables(markdown: str) -> List[Table]:
    """Every markdown table with the nearest ``##`` heading above it."""
    found, heading, lines = [], "", markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            heading = line[3:].strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|(\s*-+\s*\|)+\s*$", lines[i + 1]):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            found.append((heading, header, rows))
            continue
        i += 1
    return found


def column(header: List[str], *names: str) -> int:
    for name in names:
        for i, h in enumerate(header):
            if h.startswith(name):
                return i
    raise KeyError(f"none of {names} in {header}")


def mean_std(cell: str) -> Tuple[float, float]:
    mean, _, std = cell.partition("±")
    return float(mean), float(std or 0)


def plot_train_step(markdown: str, path: str) -> None:
    import matplotlib.pyplot as plt
    steps = [t for t in tables(markdown) if "ideal (FLOPs / vanilla)" in t[1]]
    if not steps:
        raise ValueError("no training-step tables found")
    fig, axes = plt.subplots(1, len(steps), figsize=(4.2 * len(steps), 4), squeeze=False)
    for ax, (heading, header, rows) in zip(axes[0], steps):
        ideal = [float(r[column(header, "ideal")]) for r in rows]
        measured = [float(r[column(header, "time / vanilla")]) for r in rows]
        top = max(ideal + measured) * 1.08
        ax.plot([1, top], [1, top], color="grey", lw=1, ls="--", label="measured = ideal")
        for row, x, y in zip(rows, ideal, measured):
            ax.scatter(x, y, color="C1" if row[0].startswith("iie") else "C0", zorder=3)
            ax.annotate(row[0].replace(" (gated)", "").replace(" (rk2 predictor)", ""), (x, y), fontsize=7,
                        xytext=(3, -9), textcoords="offset points")
        ax.set_title(heading, fontsize=8)
        ax.set_xlabel("ideal ratio (step FLOPs / vanilla)")
        ax.set_ylabel("step time / vanilla")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_study(markdown: str, path: str) -> None:
    import matplotlib.pyplot as plt
    studies = [t for t in tables(markdown) if "(mean ± std)" in " ".join(t[1])]
    if not studies:
        raise ValueError("no study tables found")
    fig, axes = plt.subplots(1, len(studies), figsize=(4.6 * len(studies), 4), squeeze=False)
    for ax, (heading, header, rows) in zip(axes[0], studies):
        metric = column(header, "valid ppl", "top-1", "sacreBLEU")
        speed = next(i for i, h in enumerate(header) if h.endswith("/ vanilla"))
        for k, row in enumerate(rows):
            mean, std = mean_std(row[metric])
            x = float(row[speed])
            ax.errorbar(x, mean, yerr=std, fmt="o", color=f"C{k}", capsize=3)
            ax.annotate(row[0].replace("ODE Transformer ", "").replace(" (rk2 predictor)", "")
                        .replace("(IIAD tau=", "(τ=").replace(" (gated)", ""), (x, mean), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
        ax.set_title(heading.split("(")[0].replace("study: ", "").strip(), fontsize=9)
        ax.set_xlabel(header[speed])
        ax.set_ylabel(header[metric] + (" (lower is better)" if "ppl" in header[metric] else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(curves, metric: str, path: str, title: str = "", xlabel: str = "updates") -> None:
    """Learning curves: ``curves = {model: [curve of seed 1, curve of seed 2, ...]}``, each curve a
    list of (x, value), x being updates unless ``xlabel`` says otherwise.  One line per model (the mean over seeds at each validation) with
    a band from the lowest to the highest seed; overlapping bands mean no measured difference."""
    import logging

    import matplotlib
    matplotlib.use("Agg")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq may have set the root logger to DEBUG
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for k, (model, runs) in enumerate(curves.items()):
        runs = [r for r in runs if r]
        if not runs:
            continue
        n = min(len(r) for r in runs)
        xs = [runs[0][i][0] for i in range(n)]
        values = [[r[i][1] for r in runs] for i in range(n)]
        mean = [sum(v) / len(v) for v in values]
        ax.plot(xs, mean, color=f"C{k}", label=f"{model} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        if len(runs) > 1:
            ax.fill_between(xs, [min(v) for v in values], [max(v) for v in values], color=f"C{k}", alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    if "ppl" in metric:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
