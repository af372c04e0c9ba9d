"""``iiet-demo``: the core on its own.  For each solver, a small pre-norm stack: layer
evaluations per forward, parameters, and forward time relative to vanilla (median of repeats)."""
import argparse
import statistics
import time

import torch

from iiet_plugin.ode import ODEConfig, evaluations, solvers_of
from iiet_plugin.ode.reference import ReferenceStack

SETTINGS = [("euler", None, 0), ("rk2", "gated", 0), ("rk4", "standard", 0), ("pc", None, 0),
            ("iie", None, 1), ("iie", None, 2)]


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(8, 64, args.dim)
    rows, base = [], None
    for solver, coef, r in SETTINGS:
        model = ReferenceStack(ODEConfig(solver=solver, coef=coef, iters=r), args.layers, args.dim, 4, 4 * args.dim).eval()
        with torch.no_grad():
            model(x)
            t = _median_time(lambda: model(x), args.repeats)
        base = base or t
        evals = evaluations(solvers_of(model))
        name = solver + (f"({coef})" if coef else "") + (f" r={r}" if solver == "iie" else "")
        rows.append((name, evals, sum(p.numel() for p in model.parameters()), t / base, evals / args.layers))
    print("| solver | evals | params | time / vanilla | ideal |\n|---|---|---|---|---|")
    for name, evals, params, ratio, ideal in rows:
        print(f"| {name} | {evals} | {params} | {ratio:.2f} | {ideal:.2f} |")


if __name__ == "__main__":
    main()
