"""Training-step time and memory per solver, as ratios against vanilla measured in the same run.

    python bench/train_step.py [--repeats 5] [--hosts lm,mt,vit,vits]

For the LM (iiet_lm_tiny widened to 256/1024, 4 layers, 256 tokens x 8), MT
(iiet_transformer_tiny widened likewise, 32x32 tokens x 8) and ViT (iiet_vit_tiny_patch16_224 at
224 px x 4, iiet_vit_small_patch16_224 at 224 px x 2): median time of a forward+backward+optimizer step and memory (activation memory
saved for backward on CPU; peak allocated on CUDA).  The ideal ratio is the step's FLOPs
relative to vanilla (counted by torch's FlopCounterMode: extra layer evaluations, not the
embedding and output layers, are what IIET repeats); "measured / ideal" near 1.00 means the
solver costs only its extra arithmetic.  Efficiency = achieved FLOP/s of the step relative to
this machine's own matmul throughput, measured by the script.
"""
import argparse

import torch
import torch.nn.functional as F

from iiet_plugin.experiments.builders import LM_BENCH_SIZES, MT_BENCH_SIZES, build_lm, build_mt
from iiet_plugin.experiments.models import BENCH_MODELS, flags, layer_evaluations
from iiet_plugin.experiments.timing import (machine_line, matmul_peak_flops, median_time, step_flops, table,
                                            train_step_memory)


def lm_case(kwargs, device):
    model = build_lm(*LM_BENCH_SIZES, *flags(kwargs), "--dropout", "0", num_words=8000,
                     tokens_per_sample=512)[0].to(device).train()
    tokens = torch.randint(4, 8000, (8, 257), device=device)
    return model, lambda: F.cross_entropy(model(tokens[:, :-1])[0].flatten(0, 1), tokens[:, 1:].flatten())


def mt_case(kwargs, device):
    model = build_mt(*MT_BENCH_SIZES, *flags(kwargs, ("encoder-", "decoder-")), "--dropout", "0",
                     "--share-all-embeddings", num_words=8000)[0].to(device).train()
    src = torch.randint(4, 8000, (8, 32), device=device)
    tgt = torch.randint(4, 8000, (8, 33), device=device)
    lengths = torch.full((8,), 32, device=device)
    return model, lambda: F.cross_entropy(model(src, lengths, tgt[:, :-1])[0].flatten(0, 1), tgt[:, 1:].flatten())


def vit_case(kwargs, device, name="iiet_vit_tiny_patch16_224", batch=4):
    import timm
    model = timm.create_model(name, **kwargs).to(device).train()
    images = torch.randn(batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    return model, lambda: F.cross_entropy(model(images), labels)


def vit_small_case(kwargs, device):
    return vit_case(kwargs, device, "iiet_vit_small_patch16_224", batch=2)


CASES = {"lm": ("LM (256-d, 4 layers, 8x256 tokens)", lm_case), "mt": ("MT (256-d, 4+4 layers, 8x32 tokens)", mt_case),
         "vit": ("ViT-Ti/16 (12 layers, 4 images 224 px)", vit_case),
         "vits": ("ViT-S/16 (12 layers, 384-d, 2 images 224 px)", vit_small_case)}


def measure(case, kwargs, device, repeats):
    torch.manual_seed(0)
    model, loss_fn = case(kwargs, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn().backward()
        opt.step()

    seconds = median_time(step, repeats)
    flops = step_flops(lambda: loss_fn().backward())
    opt.zero_grad(set_to_none=True)
    memory = train_step_memory(loss_fn)
    return seconds, memory, flops


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hosts", default="lm,mt,vit,vits", help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--solvers", default="", help="comma list of labels to keep (default: all)")
    args = p.parse_args(argv)
    unknown = [h for h in args.hosts.split(",") if h not in CASES]
    if unknown:
        p.error(f"--hosts: unknown {', '.join(unknown)}; allowed: {', '.join(CASES)}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    keep = [m for m in BENCH_MODELS if not args.solvers or m.name.split(" ")[0] in args.solvers.split(",")]
    peak = matmul_peak_flops()
    print(f"# Training step per solver ({device}; {machine_line()})\n")
    for host in args.hosts.split(","):
        title, case = CASES[host]
        rows, base = [], None
        for model_spec in keep:
            label, kwargs, evals = model_spec.name, model_spec.options, layer_evaluations(model_spec.options, 1)
            seconds, memory, flops = measure(case, kwargs, device, args.repeats)
            base = base or (seconds, memory, flops)
            ideal = flops / base[2]
            rows.append((label, evals, f"{seconds * 1000:.1f}", f"{seconds / base[0]:.2f}", f"{ideal:.2f}",
                         f"{(seconds / base[0]) / ideal:.3f}", f"{memory:.1f}", f"{memory / base[1]:.2f}",
                         f"{flops / seconds / 1e9:.1f}", f"{100 * flops / seconds / peak:.0f}%"))
        mem = "peak MiB" if device.type == "cuda" else "activation MiB"
        print(f"## {title}\n")
        print(table(["solver", "evals/layer", "step ms (median)", "time / vanilla", "ideal (FLOPs / vanilla)",
                     "measured / ideal", mem, "memory / vanilla", "GFLOP/s", "of matmul peak"], rows))
        print()
    print(f"matmul peak measured here: {peak / 1e9:.1f} GFLOP/s (2048x2048 fp32)")
    print(f"command: python bench/train_step.py --repeats {args.repeats} --hosts {args.hosts}")


if __name__ == "__main__":
    main()
