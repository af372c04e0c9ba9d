"""Pictures of the benchmark and study tables (iiet_plugin.experiments.plots).

    python bench/plot.py [--cpu bench/results_cpu.md] [--study bench/results_study.md] [--out bench]
"""
import argparse
import os

from iiet_plugin.experiments.plots import plot_study, plot_train_step

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", default=os.path.join(HERE, "results_cpu.md"))
    p.add_argument("--study", default=os.path.join(HERE, "results_study.md"))
    p.add_argument("--out", default=HERE)
    args = p.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    os.makedirs(args.out, exist_ok=True)
    with open(args.cpu, encoding="utf-8") as f:
        plot_train_step(f.read(), os.path.join(args.out, "train_step.png"))
    with open(args.study, encoding="utf-8") as f:
        plot_study(f.read(), os.path.join(args.out, "study.png"))
    print(f"wrote {os.path.join(args.out, 'train_step.png')} and {os.path.join(args.out, 'study.png')}")


if __name__ == "__main__":
    main()
