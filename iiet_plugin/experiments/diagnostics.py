"""Diagnostics over training: ``seq.diagnostics`` (fairseq) or ``vision.diagnostics`` (timm)
applied to every checkpoint a run kept (``checkpoint_E_U.pt``: fairseq-train every
``--curve-interval`` updates, iiet-vit-train every ``--save-interval-steps`` steps), on the same
held-out batches for every run, and their pictures."""
import os
import re
from typing import Callable, Dict, List

CHECKPOINT = re.compile(r"checkpoint_\d+_(\d+)\.pt$")


def kept_checkpoints(folder: str) -> List[tuple]:
    """``[(updates, path)]`` of a run's interval checkpoints, in update order."""
    found = []
    for name in os.listdir(folder):
        m = CHECKPOINT.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(folder, name)))
    return sorted(found)


def series_over_checkpoints(folder: str, diagnose: Callable[[str], dict]) -> List[dict]:
    """``[{"updates": U, **diagnose(path)}]`` over the run's kept checkpoints, in update order."""
    return [dict(updates=updates, **diagnose(path)) for updates, path in kept_checkpoints(folder)]


def run_diagnostics(folder: str, data: str, subset: str = "valid", batches: int = 4,
                    max_tokens: int = 2048) -> List[dict]:
    """``[{"updates": U, "side": ..., "residual": ..., "loss_by_iteration": ...,
    "gradient_norms": ...}]`` of every kept checkpoint of the fairseq run in ``folder`` (the same
    first ``batches`` batches of ``subset`` each time), on the stack that iterates
    (``seq.diagnostics.iterating_side``: the decoder unless only a translation model's encoder does)."""
    from ..seq.checkpoints import load_checkpoint
    from ..seq.diagnostics import model_diagnostics
    from ..seq.influence import calibration_batches
    samples = []

    def diagnose(path):
        models, _, task = load_checkpoint(path, arg_overrides={"data": data})
        if not samples:
            samples.extend(calibration_batches(task, subset, batches, max_tokens))
        return model_diagnostics(models[0], task, samples)
    return series_over_checkpoints(folder, diagnose)


def run_vision_diagnostics(folder: str, data: str, eval_limit: int, batches: int = 4,
                           batch_size: int = 64) -> List[dict]:
    """The same for an ``iiet-vit-train`` run that kept checkpoints (``--save-interval-steps``):
    the first ``batches`` batches of its evaluation images (Fashion-MNIST: the test split; no
    rate or checkpoint is chosen on these losses), through the model's own eval transforms; "updates" are steps."""
    from types import SimpleNamespace

    from ..vision.checkpoints import model_from_checkpoint, read_checkpoint
    from ..vision.diagnostics import vit_diagnostics
    from ..vision.train import build_datasets, make_loader
    options = SimpleNamespace(data=data, train_limit=1, valid_images=0, eval_limit=eval_limit, batch_size=batch_size,
                              workers=0)
    _, _, images = build_datasets(options)
    samples = []

    def diagnose(path):
        model = model_from_checkpoint(read_checkpoint(path, "checkpoint"), len(images.classes), 1)
        if not samples:
            loader = make_loader(model, images, options, "cpu", training=False)
            samples.extend(b for _, b in zip(range(batches), loader))
        return vit_diagnostics(model, samples)
    return series_over_checkpoints(folder, diagnose)


def series_label(name: str, points: List[dict]) -> str:
    """A model's name in the pictures and tables, with the stack measured when it is not the
    decoder (a translation model iterating only in its encoder: ``name [encoder]``)."""
    side = points[-1].get("side") if points else None
    return f"{name} [{side}]" if side and side != "decoder" else name


def plot_diagnostics(series: Dict[str, List[dict]], path: str, title: str = "",
                     loss_label: str = "valid loss (nats/token)") -> None:
    """Three panels: (a) fixed-point residual of the last iteration per layer vs updates (IIET
    runs); (b) the held-out loss (``loss_label``) when every layer stops after iteration i, at the last checkpoint;
    (c) gradient norm per layer vs updates.  Layers are line styles, models colours."""
    import logging

    import matplotlib
    matplotlib.use("Agg")
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib.pyplot as plt
    styles = ["-", "--", ":", "-.", (0, (1, 4)), (0, (5, 1))]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for c, (name, points) in enumerate(series.items()):
        if not points:
            continue
        xs = [p["updates"] for p in points]
        layers = len(points[0]["gradient_norms"])
        shown = series_label(name, points)
        for l in range(layers):
            label = shown if l == 0 else None
            style = styles[l % len(styles)]
            measured = [(p["updates"], p["residual"][l][-1]) for p in points if p["residual"][l]]
            if measured:  # IIET checkpoints that ran iterations (not those of a vanilla warm-up)
                axes[0].plot(*zip(*measured), color=f"C{c}", linestyle=style, label=label)
            axes[2].plot(xs, [p["gradient_norms"][l] for p in points], color=f"C{c}", linestyle=style, label=label)
        losses = points[-1]["loss_by_iteration"]
        axes[1].plot(range(len(losses)), losses, marker="o", color=f"C{c}", label=shown)
    axes[0].set(xlabel="updates", ylabel="||y(r) - y(r-1)|| / ||y(r) - y||", title="fixed-point residual, last iteration")
    axes[1].set(xlabel="iterations i run in every layer", ylabel=loss_label,
                title="loss when stopping after iteration i (final)")
    axes[2].set(xlabel="updates", ylabel="||grad||", title="gradient norm per layer (line style)")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summary_lines(series: Dict[str, List[dict]], loss_label: str = "valid loss (nats/token)") -> List[str]:
    """Markdown rows: per model, the last-iteration residual per layer at the first and last
    kept checkpoint, and the final loss after each iteration count (``series_label``: the stack
    measured, where not the decoder)."""
    lines = ["| model | residual of the last iteration per layer (first → last checkpoint) "
             f"| {loss_label} stopping after iteration 0, 1, ... (final) | gradient norm per layer (final) |",
             "|---|---|---|---|"]
    for name, points in series.items():
        if not points:
            continue
        first, last = points[0], points[-1]

        def res(p):
            return ", ".join(f"{r[-1]:.3f}" for r in p["residual"] if r) or "–"
        residual = f"{res(first)} (update {first['updates']}) → {res(last)} (update {last['updates']})" \
            if last["residual"] and last["residual"][0] else "–"
        losses = ", ".join(f"{x:.3f}" for x in last["loss_by_iteration"])
        grads = ", ".join(f"{g:.3g}" for g in last["gradient_norms"])
        lines.append(f"| {series_label(name, points)} | {residual} | {losses} | {grads} |")
    return lines
