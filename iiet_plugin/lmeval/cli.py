"""``iiet-lm-eval``: run lm-evaluation-harness on a fairseq LM checkpoint, offline.

    iiet-lm-eval --path checkpoints/iiet/checkpoint_best.pt --data data-bin/web \\
        --tasks iiet_web_ppl,iiet_web_cloze --include-path runs/lmeval_tasks --output-path results.json

Registers the ``fairseq_iiet`` model, runs ``lm_eval.simple_evaluate``, prints the harness's
results table and writes its JSON.  Standard harness tasks work the same way when their
datasets are in the local Hugging Face cache (``HF_DATASETS_OFFLINE=1``).
"""
import argparse
import json
import os
import sys

from ..atomic_io import atomic_write


def local_data_problem(manager, task: str):
    """What is wrong with a task's local data files (missing, empty), or None."""
    entry = manager.task_index.get(task)
    cfg = getattr(entry, "cfg", None) or {}
    files = (cfg.get("dataset_kwargs") or {}).get("data_files") or {}
    paths = files.values() if isinstance(files, dict) else [files]
    for value in paths:
        for path in ([value] if isinstance(value, str) else list(value)):
            if "://" in path:
                continue
            if not os.path.isfile(path):
                return f"task {task}: data file {path} does not exist"
            with open(path, "rb") as f:
                if not any(line.strip() for line in f):
                    return f"task {task}: data file {path} is empty (no items to evaluate)"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", required=True, help="fairseq LM checkpoint")
    p.add_argument("--data", default=None, help="data-bin holding the checkpoint's dict.txt (if moved)")
    p.add_argument("--tasks", required=True, help="comma-separated harness task names")
    p.add_argument("--include-path", default=None, help="folder of extra task YAMLs (e.g. the local ones)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--context-window", type=int, default=None, help="rolling-loglikelihood context (default T/2)")
    p.add_argument("--limit", type=float, default=None, help="documents per task (for quick checks)")
    p.add_argument("--num-fewshot", type=int, default=None)
    p.add_argument("--output-path", default=None, help="write the results JSON here")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.tasks import TaskManager
    from lm_eval.utils import make_table

    from .adapter import FairseqLM
    out_dir = os.path.dirname(os.path.abspath(args.output_path)) if args.output_path else None
    if out_dir and not os.path.isdir(out_dir):
        p.error(f"--output-path: folder {out_dir} does not exist")
    if args.include_path and not os.path.isdir(args.include_path):
        p.error(f"--include-path: {args.include_path} is not a folder")
    manager = TaskManager(include_path=args.include_path) if args.include_path else TaskManager()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        p.error(f"--tasks: unknown task(s) {unknown}; pass --include-path for local task YAMLs")
    for task in tasks:
        problem = local_data_problem(manager, task)
        if problem:
            p.error(f"--tasks: {problem}")
    model = FairseqLM(path=args.path, data=args.data, device=args.device, batch_size=args.batch_size,
                      context_window=args.context_window)
    results = lm_eval.simple_evaluate(model=model, tasks=tasks, task_manager=manager, limit=args.limit,
                                      num_fewshot=args.num_fewshot, batch_size=args.batch_size, device=args.device)
    print(make_table(results))
    if args.output_path:
        text = json.dumps({k: results[k] for k in ("results", "configs", "versions", "n-shot") if k in results},
                          indent=1, default=str)
        atomic_write(args.output_path, lambda f: f.write(text.encode("utf-8")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
