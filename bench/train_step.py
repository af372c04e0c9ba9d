"""Training-step time and memory per solver, as ratios against vanilla measured in the same run
and mode.

    python bench/train_step.py [--repeats 5] [--hosts lm,mt,vit,vits] [--modes eager,compiled,bf16,compiled-bf16]

For the LM (iiet_lm_tiny widened to 256/1024, 4 layers, 256 tokens x 8), MT
(iiet_transformer_tiny widened likewise, 32x32 tokens x 8) and ViT (iiet_vit_tiny_patch16_224 at
224 px x 4, iiet_vit_small_patch16_224 at 224 px x 2): median time of a forward+backward+optimizer
step and memory (activation memory saved for backward on CPU; peak allocated on CUDA).  The
ideal ratio is the step's FLOPs relative to vanilla (torch's FlopCounterMode: extra layer
evaluations, not the embedding and output layers, are what IIET repeats); "measured / ideal"
near 1.00 means the solver costs only its extra arithmetic.  Efficiency = achieved FLOP/s of
the step relative to this machine's own matmul throughput in the mode's precision.

Steps are timed interleaved: every model of a host is built (and compiled) first, then each
round steps every model once; the median over rounds is reported.

Modes: ``eager`` (fp32), ``compiled`` (fp32; timm: ``torch.compile(model, fullgraph=True)``;
fairseq: ``--compile-layers inductor``), ``bf16`` and ``compiled-bf16`` (autocast).  bf16 modes
run only where this device has native bf16 matmuls (``iiet_plugin.precision``) unless
``--force-bf16``: emulated bf16 would measure the emulation.  Compiled modes report the first
step's seconds (compilation) separately from the median.
"""
import argparse
import time

import torch
import torch.nn.functional as F

from iiet_plugin.experiments.builders import LM_BENCH_SIZES, MT_BENCH_SIZES, build_lm, build_mt
from iiet_plugin.experiments.models import BENCH_MODELS, flags, layer_evaluations
from iiet_plugin.experiments.timing import (machine_line, matmul_peak_flops, round_robin_times, step_flops, table,
                                            train_step_memory)
from iiet_plugin.precision import autocast, native_low_precision

MODES = {"eager": (False, None), "compiled": (True, None), "bf16": (False, torch.bfloat16),
         "compiled-bf16": (True, torch.bfloat16)}


def lm_case(kwargs, device, compiled):
    extra = ["--compile-layers", "inductor"] if compiled else []
    model = build_lm(*LM_BENCH_SIZES, *flags(kwargs), "--dropout", "0", *extra, num_words=8000,
                     tokens_per_sample=512)[0].to(device).train()
    tokens = torch.randint(4, 8000, (8, 257), device=device)
    return model, lambda: F.cross_entropy(model(tokens[:, :-1])[0].flatten(0, 1).float(), tokens[:, 1:].flatten())


def mt_case(kwargs, device, compiled):
    extra = ["--compile-layers", "inductor"] if compiled else []
    model = build_mt(*MT_BENCH_SIZES, *flags(kwargs, ("encoder-", "decoder-")), "--dropout", "0",
                     "--share-all-embeddings", *extra, num_words=8000)[0].to(device).train()
    src = torch.randint(4, 8000, (8, 32), device=device)
    tgt = torch.randint(4, 8000, (8, 33), device=device)
    lengths = torch.full((8,), 32, device=device)
    return model, lambda: F.cross_entropy(model(src, lengths, tgt[:, :-1])[0].flatten(0, 1).float(),
                                          tgt[:, 1:].flatten())


def vit_case(kwargs, device, compiled, name="iiet_vit_tiny_patch16_224", batch=4):
    import timm
    model = timm.create_model(name, **kwargs).to(device).train()
    run = torch.compile(model, fullgraph=True) if compiled else model
    images = torch.randn(batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    return model, lambda: F.cross_entropy(run(images).float(), labels)


def vit_small_case(kwargs, device, compiled):
    return vit_case(kwargs, device, compiled, "iiet_vit_small_patch16_224", batch=2)


CASES = {"lm": ("LM (256-d, 4 layers, 8x256 tokens)", lm_case), "mt": ("MT (256-d, 4+4 layers, 8x32 tokens)", mt_case),
         "vit": ("ViT-Ti/16 (12 layers, 4 images 224 px)", vit_case),
         "vits": ("ViT-S/16 (12 layers, 384-d, 2 images 224 px)", vit_small_case)}


def measure_host(case, specs, device, repeats, compiled, dtype):
    """Per model: (median step seconds, activation MiB, step FLOPs, first-step seconds).

    Every model is built and stepped once (compilation, in compiled modes), then the steps are
    timed round-robin (``timing.round_robin_times``: each round steps every model once), so
    load changes fall on all models alike.  FLOPs and memory are counted on eager models
    (FlopCounterMode and saved-tensor hooks do not run inside a compiled graph; the arithmetic
    is the same); memory is reported for eager modes only."""

    def with_autocast(fn):
        def run():
            with autocast(device, dtype):
                return fn()
        return run

    steps, firsts = {}, {}
    for spec in specs:
        torch.manual_seed(0)
        model, loss_fn = case(spec.options, device, compiled)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss = with_autocast(loss_fn)

        def step(opt=opt, loss=loss):
            opt.zero_grad(set_to_none=True)
            loss().backward()
            opt.step()

        t0 = time.perf_counter()
        step()  # compiles in compiled modes
        firsts[spec.name] = time.perf_counter() - t0
        steps[spec.name] = step
    seconds = round_robin_times(steps, repeats)
    del steps
    results = {}
    for spec in specs:
        torch.manual_seed(0)
        _, eager_fn = case(spec.options, device, False)
        loss = with_autocast(eager_fn)
        flops = step_flops(lambda: loss().backward())
        memory = float("nan") if compiled else train_step_memory(loss)
        results[spec.name] = (seconds[spec.name], memory, flops, firsts[spec.name])
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hosts", default="lm,mt,vit,vits", help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--solvers", default="", help="comma list of labels to keep: whole labels ('iie r=1') or first words ('iie') (default: all)")
    p.add_argument("--modes", default="eager", help=f"comma list of {', '.join(MODES)}")
    p.add_argument("--force-bf16", action="store_true", help="run bf16 modes on hardware without native bf16")
    args = p.parse_args(argv)
    for option, given, allowed in (("--hosts", args.hosts, CASES), ("--modes", args.modes, MODES)):
        unknown = [x for x in given.split(",") if x not in allowed]
        if unknown:
            p.error(f"{option}: unknown {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    wanted = args.solvers.split(",") if args.solvers else []
    keep = [m for m in BENCH_MODELS if not wanted or m.name in wanted or m.name.split(" ")[0] in wanted]
    native_bf16 = native_low_precision(torch.bfloat16, device)
    print(f"# Training step per solver ({device}; {machine_line()}; native bf16 matmul: "
          f"{'yes' if native_bf16 else 'no'})\n")
    for mode in args.modes.split(","):
        compiled, dtype = MODES[mode]
        if dtype is not None and not native_bf16 and not args.force_bf16:
            print(f"## mode {mode}: skipped: this {device.type} has no native bf16 matmul (emulated bf16 measures "
                  f"the emulation; --force-bf16 runs it anyway)\n")
            continue
        peak = matmul_peak_flops(dtype=dtype or torch.float32, device=device)
        for host in args.hosts.split(","):
            title, case = CASES[host]
            rows, base = [], None
            measured = measure_host(case, keep, device, args.repeats, compiled, dtype)
            for spec in keep:
                seconds, memory, flops, first = measured[spec.name]
                base = base or (seconds, memory, flops)
                ideal = flops / base[2]
                row = [spec.name, layer_evaluations(spec.options, 1), f"{seconds * 1000:.1f}",
                       f"{seconds / base[0]:.2f}", f"{ideal:.2f}", f"{(seconds / base[0]) / ideal:.3f}",
                       "—" if compiled else f"{memory:.1f}", "—" if compiled else f"{memory / base[1]:.2f}",
                       f"{flops / seconds / 1e9:.1f}",
                       f"{100 * flops / seconds / peak:.0f}%"]
                if compiled:
                    row.append(f"{first:.0f}")
                rows.append(row)
            mem = "peak MiB" if device.type == "cuda" else "activation MiB"
            headers = ["solver", "evals/layer", "step ms (median)", "time / vanilla", "ideal (FLOPs / vanilla)",
                       "measured / ideal", mem, "memory / vanilla", "GFLOP/s", "of matmul peak"]
            print(f"## {title}, mode {mode}\n")
            print(table(headers + (["first step s (compile)"] if compiled else []), rows))
            print()
        print(f"matmul peak measured here ({mode}): {peak / 1e9:.1f} GFLOP/s (2048x2048 "
              f"{'bf16' if dtype else 'fp32'})\n")
    print(f"command: python bench/train_step.py --repeats {args.repeats} --hosts {args.hosts} --modes {args.modes}"
          + (f" --solvers '{args.solvers}'" if args.solvers else ""))


if __name__ == "__main__":
    main()
