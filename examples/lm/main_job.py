"""The README's main job: a real, CPU-sized comparison on the WEB Bible.

1. corpus: ../shared/data/lm/bible_web when present, else built offline from Debian
   packages by prepare_bible.py (``apt-get``);
2. fairseq-preprocess of a slice;
3. fairseq-train iiet_lm_tiny as vanilla (euler) and as IIET (iie, r = 1), equal updates;
4. fairseq-eval-lm on the test slice: perplexity and scoring speed relative to vanilla.

    python examples/lm/main_job.py [--updates 400] [--work runs/main]
"""
import argparse
import gzip
import os
import re
import subprocess
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data", "lm", "bible_web")
BIN = os.path.dirname(sys.executable)


def user_dir():
    import iiet_plugin
    return os.path.dirname(iiet_plugin.__file__)


def run(tool, *args, log_every=None):
    """Run a console tool, echo progress lines, return the whole output."""
    cmd = [os.path.join(BIN, tool), *map(str, args)]
    print("$", os.path.basename(cmd[0]), " ".join(cmd[1:])[:200], flush=True)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if log_every and re.search(log_every, line):
            print("   ", line.rstrip()[-150:], flush=True)
    if proc.wait() != 0:
        sys.exit("".join(lines[-40:]) + f"\n{tool} failed")
    return "".join(lines)


def read_lines(path, limit):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line for _, line in zip(range(limit), f)]


def corpus_files(work):
    if os.path.isdir(SHARED):
        return {s: os.path.join(SHARED, f"{s}.txt.gz") for s in ("train", "valid", "test")}
    built = os.path.join(work, "bible_web")
    if not os.path.exists(os.path.join(built, "train.txt")):
        print("[main] building the WEB Bible corpus from Debian packages", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, "prepare_bible.py"), built, "--install"], check=True)
    return {s: os.path.join(built, f"{s}.txt") for s in ("train", "valid", "test")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=os.path.join(ROOT, "runs", "main"))
    p.add_argument("--updates", type=int, default=400)
    p.add_argument("--train-lines", type=int, default=8000)
    p.add_argument("--eval-lines", type=int, default=600)
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    files = corpus_files(args.work)
    slices = {}
    for split, path in files.items():
        n = args.train_lines if split == "train" else args.eval_lines
        slices[split] = os.path.join(args.work, f"{split}.txt")
        with open(slices[split], "w", encoding="utf-8") as f:
            f.writelines(read_lines(path, n))
    data = os.path.join(args.work, "bin")
    print(f"[main] preprocessing {args.train_lines} training verses", flush=True)
    run("fairseq-preprocess", "--only-source", "--trainpref", slices["train"], "--validpref", slices["valid"],
        "--testpref", slices["test"], "--destdir", data, "--workers", "1", "--nwordssrc", "6000")
    common = ["--task", "language_modeling", "--user-dir", user_dir(), "--arch", "iiet_lm_tiny",
              "--share-decoder-input-output-embed", "--tokens-per-sample", "128", "--max-tokens", "2048",
              "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--lr", "0.003", "--lr-scheduler",
              "inverse_sqrt", "--warmup-updates", "50", "--clip-norm", "1.0", "--dropout", "0.1",
              "--max-update", args.updates, "--log-format", "simple", "--log-interval", "50",
              "--no-epoch-checkpoints", "--cpu", "--seed", "1", "--num-workers", "0"]
    models = [("vanilla (euler)", ["--ode-solver", "euler"], 1.0),
              ("IIET r=1", ["--ode-solver", "iie", "--iie-iters", "1"], 2.0)]
    rows = []
    for name, flags, ideal in models:
        tag = re.sub(r"\W+", "_", name).strip("_")
        print(f"[main] training {name} for {args.updates} updates", flush=True)
        log = run("fairseq-train", data, *common, *flags, "--save-dir", os.path.join(args.work, tag),
                  log_every=r"\| (train_inner|valid) \|")
        ups = statistics.median(float(u) for u in re.findall(r"ups=([0-9.]+)", log))
        train_s = 1.0 / ups  # seconds per update, median over the logged intervals
        out = run("fairseq-eval-lm", data, "--user-dir", user_dir(), "--path",
                  os.path.join(args.work, tag, "checkpoint_last.pt"), "--gen-subset", "test",
                  "--tokens-per-sample", "128", "--max-tokens", "4096", "--cpu")
        ppl = float(re.search(r"Perplexity: ([0-9.]+)", out).group(1))
        tok_s = float(re.search(r"\(([0-9.]+) tokens/s\)", out).group(1))
        rows.append((name, ppl, train_s, tok_s, ideal))
    base_train, base_tok = rows[0][2], rows[0][3]
    print(f"\n## WEB Bible, iiet_lm_tiny, {args.updates} updates, test slice ({args.eval_lines} verses)\n")
    print("| model | test ppl | train step time / vanilla | scoring speed / vanilla | ideal cost |")
    print("|---|---|---|---|---|")
    for name, ppl, train_s, tok_s, ideal in rows:
        print(f"| {name} | {ppl:.1f} | {train_s / base_train:.2f} | {tok_s / base_tok:.2f} | {ideal:.1f}x |")
    print(f"\ncommand: python examples/lm/main_job.py --updates {args.updates} --train-lines {args.train_lines}")


if __name__ == "__main__":
    main()
