"""One prepared GPU check: bf16 training-step time, MFU and peak memory per solver for the
small presets, as ratios against vanilla measured in the same run.

    PYTHONPATH=. python bench/gpu_check.py [--smoke] [--modes eager,compiled]
        # --smoke: tiny sizes, CPU-friendly; PYTHONPATH: the plugin need not be installed
    bash bench/gpu_run.sh      # on a lent device: installs the carried wheels, runs this, keeps the table

Modes: eager, and compiled (``torch.compile(model, fullgraph=True)``, inductor); both in bf16
autocast on CUDA.  The first step of each model (compilation) is reported on its own.

ViT: iiet_vit_small_patch16_224 and iiet_vit_base_patch16_224 (timm), batch 128, 224 px.
LM:  the core's pre-norm causal stack at GPT-2 small sizes (768-d, 12 layers, 12 heads,
     1024 tokens x 16) with an embedding and a 50257-way head (fairseq is not needed).
MFU = FLOPs of the step (torch's FlopCounterMode) / step time / the GPU's measured bf16
matmul throughput (8192^3), reported next to the vendor's dense bf16 peak (989 TFLOP/s, H200).
"""
import argparse
import time

import torch
import torch.nn.functional as F

from iiet_plugin.experiments.models import BENCH_MODELS
from iiet_plugin.experiments.timing import machine_line, matmul_peak_flops, median_time, step_flops
from iiet_plugin.ode import ODEConfig
from iiet_plugin.ode.reference import ReferenceStack

SOLVERS = [(m.name, m.options) for m in BENCH_MODELS if m.name in ("vanilla (euler)", "iie r=1", "iie r=2",
                                                                    "rk2 (gated)", "pc (rk2 predictor)")]


class CausalLM(torch.nn.Module):
    def __init__(self, kw, vocab, dim, layers, heads):
        super().__init__()
        cfg = ODEConfig.from_options(kw)
        self.embed = torch.nn.Embedding(vocab, dim)
        self.stack = ReferenceStack(cfg, layers, dim, heads, 4 * dim, causal=True)
        self.head = torch.nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens):
        return self.head(self.stack(self.embed(tokens)))


def bench_step(model, batch_fn, device, repeats, warmup=3):
    """(median step seconds, FLOPs of a step, peak GiB, first-step seconds) of an AdamW step in
    bf16 autocast (CUDA)."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    def loss():
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            return batch_fn()

    def step():
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    first = time.perf_counter() - t0
    seconds = median_time(step, repeats, warmup=warmup - 1)
    flops = step_flops(lambda: loss().backward())
    peak = float("nan")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2 ** 30
    return seconds, flops, peak, first


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default="")
    p.add_argument("--modes", default="eager,compiled", help="comma list of eager, compiled")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    if not modes or any(m not in ("eager", "compiled") for m in modes):
        p.error(f"--modes: allowed values eager, compiled; got {args.modes!r}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    peak = matmul_peak_flops(1024 if args.smoke else 8192, repeats=10,
                             dtype=torch.bfloat16 if device.type == "cuda" else torch.float32, device=device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    lines = [f"# GPU check: bf16 training step per solver ({name}, torch {torch.__version__}, "
             f"{time.strftime('%Y-%m-%d')})", "", f"machine: {machine_line()}", "",
             f"measured bf16 matmul: {peak / 1e12:.0f} TFLOP/s (vendor dense bf16 peak of an H200: 989 TFLOP/s)", ""]
    print("\n".join(lines), flush=True)

    def save(text_lines):
        if args.out:
            from iiet_plugin.atomic_io import atomic_write
            atomic_write(args.out, lambda f: f.write(("\n".join(text_lines) + "\n").encode("utf-8")))

    import timm

    import iiet_plugin  # noqa: F401
    cases = []
    for vit in ("iiet_vit_small_patch16_224", "iiet_vit_base_patch16_224"):
        bsz, size = (2, 64) if args.smoke else (128, 224)

        def make(kw, compiled, vit=vit, bsz=bsz, size=size):
            model = timm.create_model(vit, img_size=size, **kw).to(device).train()
            run = torch.compile(model, fullgraph=True) if compiled else model
            x = torch.randn(bsz, 3, size, size, device=device)
            y = torch.randint(0, 1000, (bsz,), device=device)
            return model, lambda: F.cross_entropy(run(x).float(), y)
        cases.append((f"{vit}, batch {bsz}, {size} px", make))
    dims = (64, 2, 2, 64, 2) if args.smoke else (768, 12, 12, 1024, 16)

    def make_lm(kw, compiled, dims=dims):
        dim, layers, heads, seq, bsz = dims
        model = CausalLM(kw, 50257, dim, layers, heads).to(device).train()
        run = torch.compile(model, fullgraph=True) if compiled else model
        tokens = torch.randint(0, 50257, (bsz, seq + 1), device=device)
        return model, lambda: F.cross_entropy(run(tokens[:, :-1]).flatten(0, 1).float(), tokens[:, 1:].flatten())
    cases.append((f"causal LM {dims[0]}-d x {dims[1]} layers, {dims[4]} x {dims[3]} tokens", make_lm))

    for mode in modes:
        for title, make in cases:
            rows, base = [], None
            for label, kw in SOLVERS:
                torch.manual_seed(0)
                model, batch_fn = make(kw, mode == "compiled")
                seconds, flops, mem, first = bench_step(model, batch_fn, device, args.repeats)
                base = base or (seconds, flops, mem)
                rows.append(f"| {label} | {seconds * 1000:.1f} | {seconds / base[0]:.2f} | {flops / base[1]:.2f} | "
                            f"{(seconds / base[0]) / (flops / base[1]):.3f} | {100 * flops / seconds / peak:.1f}% | "
                            f"{mem:.1f} | {mem / base[2]:.2f} | {first:.0f} |")
                del model, batch_fn
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            lines += [f"## {title}, {mode}", "",
                      "| solver | step ms (median) | time / vanilla | FLOPs / vanilla | measured / ideal | MFU (of "
                      "measured matmul) | peak GiB | memory / vanilla | first step s |",
                      "|---|---|---|---|---|---|---|---|---|", *rows, ""]
            print("\n".join(lines[-len(rows) - 4:]), flush=True)  # each table as it is done
            save(lines)  # and on disk: a run stopped by its time limit keeps the tables it finished
    lines.append(f"command: python bench/gpu_check.py --repeats {args.repeats} --modes {args.modes}")
    print(lines[-1], flush=True)
    save(lines)


if __name__ == "__main__":
    main()
