"""Inference cost per solver, as ratios against vanilla measured in the same run.

    python bench/inference.py [--repeats 5]

LM (iiet_lm_tiny widened to 256/1024, 4 layers, vocab 8000): full-sequence scoring of 8 x 256
tokens; incremental greedy generation (64 new tokens after an 8-token prompt) at batch 1 and 8
in tokens/s, with the size of the per-evaluation key/value caches after generation; IIET and
E-IIET plans (per-layer iteration counts as IIAD produces them).  ViT: images/s of
iiet_vit_tiny_patch16_224 at batch 8.
"""
import argparse

import torch

from common import build_lm, flags, median_time, table

LM_SIZES = ["--decoder-embed-dim", "256", "--decoder-ffn-embed-dim", "1024", "--decoder-layers", "4",
            "--decoder-attention-heads", "4", "--decoder-input-dim", "256", "--decoder-output-dim", "256"]
LM_CASES = [
    ("vanilla (euler)", dict(ode_solver="euler")),
    ("rk2 (gated)", dict(ode_solver="rk2", ode_coef="gated")),
    ("pc", dict(ode_solver="pc")),
    ("IIET r=2", dict(ode_solver="iie", iie_iters=2)),
    ("E-IIET plan 2,1,1,0", dict(ode_solver="iie", iie_layer_iters="2,1,1,0")),
    ("E-IIET plan 1,1,0,0", dict(ode_solver="iie", iie_layer_iters="1,1,0,0")),
    ("E-IIET plan 1,0,0,0", dict(ode_solver="iie", iie_layer_iters="1,0,0,0")),
]


def cache_bytes(state) -> int:
    total = 0
    for buffer in state.values():
        for t in buffer.values():
            if torch.is_tensor(t):
                total += t.numel() * t.element_size()
    return total


def generate(model, batch, prompt=8, new=64):
    tokens = torch.randint(4, 8000, (batch, prompt))
    state = {}
    with torch.no_grad():
        for t in range(prompt + new - 1):
            logits = model.decoder(tokens[:, : t + 1], incremental_state=state)[0][:, -1]
            if t >= prompt - 1:
                tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return state


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    rows, base = [], None
    scoring = torch.randint(4, 8000, (8, 256))
    for label, kwargs in LM_CASES:
        model = build_lm("iiet_lm_tiny", LM_SIZES + flags(kwargs)).eval()
        evals = model.decoder.evaluations()
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
    print(f"# Inference per solver (CPU, {torch.get_num_threads()} threads, torch {torch.__version__})\n")
    print("## LM (256-d, 4 layers, vocab 8000)\n")
    print(table(["model", "layer evaluations", "scoring 8x256 ms", "/ vanilla", "gen tok/s b=1", "/ vanilla",
                 "gen tok/s b=8", "/ vanilla", "KV cache MiB (b=8, 72 tok)", "/ vanilla"], rows))
    import timm
    vit_rows, vbase = [], None
    images = torch.randn(8, 3, 224, 224)
    for label, kw in [("vanilla (euler)", dict(ode_solver="euler")), ("IIET r=1", dict(iie_iters=1)),
                      ("IIET r=2", dict(iie_iters=2)), ("E-IIET plan 2x6,1x3,0x3",
                                                        dict(iie_iters=2, layer_iters="2,2,2,2,2,2,1,1,1,0,0,0")),
                      ("pc", dict(ode_solver="pc"))]:
        model = timm.create_model("iiet_vit_tiny_patch16_224", **kw).eval()
        with torch.no_grad():
            ips = 8 / median_time(lambda: model(images), args.repeats)
        vbase = vbase or ips
        vit_rows.append((label, f"{model.evaluations()}", f"{ips:.1f}", f"{ips / vbase:.2f}"))
    print("\n## ViT-Ti/16, batch 8, 224 px\n")
    print(table(["model", "layer evaluations", "images/s", "/ vanilla"], vit_rows))
    print(f"\ncommand: python bench/inference.py --repeats {args.repeats}")


if __name__ == "__main__":
    main()
