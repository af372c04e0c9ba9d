"""``iiet-influence``: IIAD influence of a trained IIET checkpoint (fairseq LM or MT).

Prints the layer x iteration table of each score, the plan and its cost for each
threshold, writes JSON and a heatmap PNG:

    iiet-influence --path checkpoints/iiet/checkpoint_best.pt --data data-bin/web \\
        --scores update,loss --thresholds 0,0.05,0.1,0.2 --json influence.json --heatmap influence.png
"""
import argparse
import json
import math
import os
import sys
from typing import List

from ..atomic_io import atomic_write


def format_table(name: str, scores: List[List[float]]) -> str:
    width = max((len(r) for r in scores), default=0)
    lines = [f"### {name}", "", "| layer | " + " | ".join(f"iter {i}" for i in range(1, width + 1)) + " |",
             "|---|" + "---|" * width]
    for layer, row in enumerate(scores):
        cells = [f"{v:.4f}" for v in row] + ["" for _ in range(width - len(row))]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def draw_heatmap(report, path: str) -> None:
    import logging
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq turns the root logger up

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    kinds = [k for k in ("update", "loss") if getattr(report, k) is not None]
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.5 * len(kinds), 0.45 * report.teacher_plan.num_layers + 2),
                             squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        rows = report.scores(kind)
        width = max(len(r) for r in rows)
        grid = [[v for v in r] + [math.nan] * (width - len(r)) for r in rows]
        image = ax.imshow(grid, aspect="auto", cmap="viridis")
        ax.set_xticks(range(width), [str(i) for i in range(1, width + 1)])
        ax.set_yticks(range(len(rows)))
        ax.set_xlabel("iteration i")
        ax.set_ylabel("layer l")
        ax.set_title(f"IIAD influence: {kind}" + (f" ({report.loss_kind} rise)" if kind == "loss" else ""))
        for l, row in enumerate(rows):
            for i, v in enumerate(row):
                ax.text(i, l, f"{v:.3g}", ha="center", va="center", color="w", fontsize=7)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    run(argv)
    return 0


def run(argv=None):
    """Parse ``argv``, measure, print, write; return the ``InfluenceReport``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", required=True, help="IIET checkpoint (iiet_lm or iiet_transformer)")
    p.add_argument("--data", required=True, help="fairseq data-bin directory the model was trained on")
    p.add_argument("--subset", default="valid")
    p.add_argument("--batches", type=int, default=8, help="calibration batches")
    p.add_argument("--max-tokens", type=int, default=4096)
    p.add_argument("--scores", default="update,loss", help="comma list of: update, loss")
    p.add_argument("--thresholds", default="0,0.05,0.1,0.2", help="comma list of tau values")
    p.add_argument("--json", help="write the report here")
    p.add_argument("--heatmap", help="write a layer x iteration heatmap PNG here")
    p.add_argument("--cpu", action="store_true", help="stay on the CPU even when CUDA is available")
    args = p.parse_args(argv)

    kinds = [k.strip() for k in args.scores.split(",") if k.strip()]
    bad = [k for k in kinds if k not in ("update", "loss")]
    if bad or not kinds:
        p.error(f"--scores: unknown value {bad or args.scores!r}; allowed values: update, loss")
    try:
        taus = [float(t) for t in args.thresholds.split(",") if t.strip()]
    except ValueError:
        taus = []
    if not taus or not all(t >= 0 for t in taus):  # also refuses NaN
        p.error(f"--thresholds: expected comma-separated numbers >= 0, got {args.thresholds!r}")
    if args.batches < 1 or args.max_tokens < 1:
        p.error("--batches and --max-tokens must be >= 1")
    for flag, out in (("--json", args.json), ("--heatmap", args.heatmap)):
        folder = os.path.dirname(os.path.abspath(out)) if out else None
        if folder and not os.path.isdir(folder):
            p.error(f"{flag}: folder {folder} does not exist")
    if not os.path.isfile(args.path):
        p.error(f"--path: checkpoint {args.path} does not exist")
    if not os.path.isdir(args.data):
        p.error(f"--data: {args.data} is not a folder (a fairseq data-bin with dict.txt)")

    import torch

    import iiet_plugin  # noqa: F401  (registers the models)
    from iiet_plugin.seq.checkpoints import load_checkpoint
    from iiet_plugin.seq.influence import calibration_batches, decoder_solvers, measure

    models, _, task = load_checkpoint(args.path, arg_overrides={"data": args.data})
    model = models[0]
    decoder_solvers(model)  # an IIET model, before any measuring
    if torch.cuda.is_available() and not args.cpu:
        model.cuda()
    batches = calibration_batches(task, args.subset, args.batches, args.max_tokens)
    report = measure(model, task, batches, scores=kinds)
    print(f"teacher plan {report.teacher_plan} ({report.teacher_plan.evaluations} layer evaluations), "
          f"{len(batches)} calibration batches of {args.subset!r}\n")
    for kind in kinds:
        print(format_table(f"{kind} score" + (f" ({report.loss_kind} rise per token)" if kind == "loss" else ""),
                           report.scores(kind)))
        print()
    print("| score | tau | plan | evaluations | cost vs teacher | cost vs vanilla |\n|---|---|---|---|---|---|")
    for kind in kinds:
        for tau in taus:
            report.add_plan(kind, tau)
            s = report.plans[f"{kind}@{tau:g}"]
            print(f"| {kind} | {tau:g} | {s['plan']} | {s['evaluations']} | {s['cost_vs_teacher']:.3f} | "
                  f"{s['cost_vs_vanilla']:.3f} |")
    if args.json:
        text = json.dumps(dict(report.as_dict(), checkpoint=args.path, subset=args.subset, batches=len(batches)), indent=1)
        atomic_write(args.json, lambda f: f.write(text.encode("utf-8")))
    if args.heatmap:
        draw_heatmap(report, args.heatmap)
    return report


if __name__ == "__main__":
    sys.exit(main())
