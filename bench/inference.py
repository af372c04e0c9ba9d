"""Inference cost per solver, as ratios against vanilla measured in the same run.

    python bench/inference.py [--repeats 5] [--teacher iiet.pt --thresholds 0.05,0.1,0.2,0.3]

LM (iiet_lm_tiny widened to 256/1024, 4 layers, vocab 8000; or the architecture of --teacher):
full-sequence scoring of 8 x 256 tokens; incremental greedy generation (64 new tokens after an
8-token prompt) at batch 1 and 8 in tokens/s, with the size of the per-evaluation key/value
caches after generation.  E-IIET rows: with --teacher (a trained IIET LM checkpoint, e.g. from
bench/teacher_lm.py), the plans IIAD derives from the teacher's measured `update` influence at
each of --thresholds (calibration: the teacher's valid split); without it, example plans.
ViT: images/s of iiet_vit_tiny_patch16_224 at batch 8 (the E-IIET row is an example plan).
"""
import argparse
import os

import torch

from iiet_plugin.experiments.builders import LM_BENCH_SIZES, build_lm
from iiet_plugin.experiments.models import flags
from iiet_plugin.experiments.timing import machine_line, median_time, table
LM_CASES = [
    ("vanilla (euler)", dict(ode_solver="euler")),
    ("rk2 (gated)", dict(ode_solver="rk2", ode_coef="gated")),
    ("pc", dict(ode_solver="pc")),
    ("IIET r=2", dict(ode_solver="iie", iie_iters=2)),
    ("E-IIET example plan 2,1,1,0", dict(ode_solver="iie", iie_layer_iters="2,1,1,0")),
    ("E-IIET example plan 1,1,0,0", dict(ode_solver="iie", iie_layer_iters="1,1,0,0")),
    ("E-IIET example plan 1,0,0,0", dict(ode_solver="iie", iie_layer_iters="1,0,0,0")),
]


def cache_bytes(state) -> int:
    total = 0
    for buffer in state.values():
        for t in buffer.values():
            if torch.is_tensor(t):
                total += t.numel() * t.element_size()
    return total


def generate(model, batch, prompt=8, new=64):
    tokens = torch.randint(4, len(model.decoder.dictionary), (batch, prompt))
    state = {}
    with torch.no_grad():
        for t in range(prompt + new - 1):
            logits = model.decoder(tokens[:, : t + 1], incremental_state=state)[0][:, -1]
            if t >= prompt - 1:
                tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return state


def teacher_cases(path, thresholds, batches):
    """LM models at the teacher's architecture: baselines, the teacher, and one E-IIET per distinct plan.

    Returns (title, [(label, build)]) where ``build()`` gives a model in eval mode."""
    import copy

    from fairseq import checkpoint_utils

    from iiet_plugin.seq.influence import calibration_batches, measure
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([path])
    teacher = models[0].eval()
    report = measure(teacher, task, calibration_batches(task, "valid", batches), scores=("update",))
    plans = {}
    for tau in thresholds:
        plans.setdefault(report.add_plan("update", tau).to_string(), []).append(f"{tau:g}")

    def builder(**overrides):
        def build():
            model_cfg = copy.deepcopy(cfg.model)
            for key, value in overrides.items():
                setattr(model_cfg, key, value)
            model = task.build_model(model_cfg)
            if overrides.get("ode_solver", "iie") == "iie":
                model.load_state_dict(teacher.state_dict())
            return model.eval()
        return build

    teacher_plan = report.teacher_plan.to_string()
    cases = [("vanilla (euler)", builder(ode_solver="euler", iie_layer_iters=None)),
             ("rk2 (gated)", builder(ode_solver="rk2", ode_coef="gated", iie_layer_iters=None)),
             ("pc", builder(ode_solver="pc", iie_layer_iters=None)),
             (f"IIET teacher (plan {teacher_plan})", builder())]
    for plan, taus in plans.items():
        if plan != teacher_plan:
            cases.append((f"E-IIET tau={'/'.join(taus)}: plan {plan}", builder(iie_layer_iters=plan)))
    scores = "; ".join(" ".join(f"{x:.3f}" for x in layer) for layer in report.update)
    d = cfg.model
    title = (f"LM ({d.decoder_embed_dim}-d, {d.decoder_layers} layers, vocab {len(task.target_dictionary)}; "
             f"E-IIET plans from the teacher {os.path.basename(path)} at thresholds "
             f"{','.join(f'{t:g}' for t in thresholds)} of its `update` influence, per layer: {scores})")
    return title, cases


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--teacher", help="trained IIET LM checkpoint: its architecture and IIAD plans for the LM rows")
    p.add_argument("--thresholds", default="0.05,0.1,0.2,0.3", help="IIAD thresholds with --teacher")
    p.add_argument("--calibration-batches", type=int, default=8)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    rows, base = [], None
    if args.teacher:
        title, cases = teacher_cases(args.teacher, [float(t) for t in args.thresholds.split(",")],
                                     args.calibration_batches)
    else:
        title = "LM (256-d, 4 layers, vocab 8000; E-IIET rows are example plans)"
        cases = [(label, lambda kwargs=kwargs: build_lm(*LM_BENCH_SIZES, *flags(kwargs), "--dropout", "0", num_words=8000,
                                                                 tokens_per_sample=512)[0].eval())
                 for label, kwargs in LM_CASES]
    for label, build in cases:
        model = build()
        evals = model.decoder.evaluations()
        scoring = torch.randint(4, len(model.decoder.dictionary), (8, 256))
        with torch.no_grad():
            t_score = median_time(lambda: model(scoring), args.repeats)
        t_b1 = median_time(lambda: generate(model, 1), max(1, args.repeats // 2))
        t_b8 = median_time(lambda: generate(model, 8), max(1, args.repeats // 2))
        kv = cache_bytes(generate(model, 8)) / 2 ** 20
        now = (t_score, 64 / t_b1, 8 * 64 / t_b8, kv, evals)
        base = base or now
        rows.append((label, f"{evals} ({evals / base[4]:.2f}x)", f"{now[0] * 1000:.0f}", f"{now[0] / base[0]:.2f}",
                     f"{now[1]:.0f}", f"{now[1] / base[1]:.2f}", f"{now[2]:.0f}", f"{now[2] / base[2]:.2f}",
                     f"{kv:.1f}", f"{kv / base[3]:.2f}"))
    print(f"# Inference per solver ({machine_line()})\n")
    print(f"## {title}\n")
    print(table(["model", "layer evaluations", "scoring 8x256 ms", "/ vanilla", "gen tok/s b=1", "/ vanilla",
                 "gen tok/s b=8", "/ vanilla", "KV cache MiB (b=8, 72 tok)", "/ vanilla"], rows))
    import timm
    vit_rows, vbase = [], None
    images = torch.randn(8, 3, 224, 224)
    for label, kw in [("vanilla (euler)", dict(ode_solver="euler")), ("IIET r=1", dict(iie_iters=1)),
                      ("IIET r=2", dict(iie_iters=2)), ("E-IIET example plan 2x6,1x3,0x3",
                                                        dict(iie_iters=2, iie_layer_iters="2,2,2,2,2,2,1,1,1,0,0,0")),
                      ("pc", dict(ode_solver="pc"))]:
        model = timm.create_model("iiet_vit_tiny_patch16_224", **kw).eval()
        with torch.no_grad():
            ips = 8 / median_time(lambda: model(images), args.repeats)
        vbase = vbase or ips
        vit_rows.append((label, f"{model.evaluations()}", f"{ips:.1f}", f"{ips / vbase:.2f}"))
    print("\n## ViT-Ti/16, batch 8, 224 px\n")
    print(table(["model", "layer evaluations", "images/s", "/ vanilla"], vit_rows))
    teacher = f" --teacher {os.path.relpath(args.teacher)} --thresholds {args.thresholds}" if args.teacher else ""
    print(f"\ncommand: python bench/inference.py --repeats {args.repeats}{teacher}")


if __name__ == "__main__":
    main()
