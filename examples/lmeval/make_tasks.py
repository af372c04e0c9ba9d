"""Build local lm-evaluation-harness tasks from held-out real text (offline).

    python examples/lmeval/make_tasks.py --text held_out.txt --out runs/lmeval_tasks --name web

writes OUT/{name}_docs.jsonl and OUT/{name}_cloze.jsonl with two task YAMLs:

* ``iiet_{name}_ppl``: rolling log-likelihood over each document (a block of consecutive
  lines), reporting word perplexity, byte perplexity and bits per byte;
* ``iiet_{name}_cloze``: multiple choice: a passage's first words as context, its true
  continuation against continuations cut from other passages (accuracy, length-normalised
  accuracy; chance = 1 / choices).

Point the harness at them with ``--include-path OUT``.
"""
import argparse
import json
import os
import random

from iiet_plugin.ode.errors import ConfigError
from iiet_plugin.textio import read_text_lines

PPL_YAML = """task: iiet_{name}_ppl
dataset_path: json
dataset_kwargs:
  data_files:
    test: {docs}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
should_decontaminate: false
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
metadata:
  version: 1.0
"""

CLOZE_YAML = """task: iiet_{name}_cloze
dataset_path: json
dataset_kwargs:
  data_files:
    test: {cloze}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def read_lines(path):
    return [line.strip() for line in read_text_lines(path, "--text") if line.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", required=True, help="held-out text, one sentence/verse per line (.gz ok)")
    p.add_argument("--out", required=True)
    p.add_argument("--name", default="web")
    p.add_argument("--docs", type=int, default=50, help="perplexity documents")
    p.add_argument("--lines-per-doc", type=int, default=5)
    p.add_argument("--cloze", type=int, default=100, help="multiple-choice items")
    p.add_argument("--context-words", type=int, default=12)
    p.add_argument("--continuation-words", type=int, default=6)
    p.add_argument("--choices", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--min-items", type=int, default=10,
                   help="refuse to write a task with fewer items than this (or than --docs/--cloze when smaller)")
    args = p.parse_args(argv)
    for name in ("docs", "lines_per_doc", "cloze", "context_words", "continuation_words", "min_items"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.choices < 2:
        p.error("--choices must be >= 2")
    rng = random.Random(args.seed)
    try:
        lines = read_lines(args.text)
    except ConfigError as e:
        p.error(str(e))
    docs = min(args.docs, len(lines) // args.lines_per_doc)
    need = args.context_words + args.continuation_words
    passages = [l.split() for l in lines if len(l.split()) >= need]
    cloze = min(args.cloze, len(passages))
    if docs < min(args.docs, args.min_items):
        p.error(f"--text: {args.text} has {len(lines)} non-empty lines, enough for {docs} perplexity documents of "
                f"--lines-per-doc {args.lines_per_doc} (fewer than --min-items {args.min_items}); lower "
                "--lines-per-doc or --min-items, or give more text")
    if cloze < min(args.cloze, args.min_items) or len(passages) < 2:
        p.error(f"--text: {args.text} has {len(passages)} lines of at least {need} words "
                f"(--context-words {args.context_words} + --continuation-words {args.continuation_words}), "
                f"fewer than --min-items {args.min_items} cloze items; lower --context-words/--continuation-words "
                "or --min-items, or give text with longer lines")
    os.makedirs(args.out, exist_ok=True)
    docs_path = os.path.abspath(os.path.join(args.out, f"{args.name}_docs.jsonl"))
    with open(docs_path, "w", encoding="utf-8") as f:
        for i in range(docs):
            block = lines[i * args.lines_per_doc: (i + 1) * args.lines_per_doc]
            f.write(json.dumps({"text": " ".join(block)}) + "\n")
    rng.shuffle(passages)
    cloze_path = os.path.abspath(os.path.join(args.out, f"{args.name}_cloze.jsonl"))
    with open(cloze_path, "w", encoding="utf-8") as f:
        for i, words in enumerate(passages[: args.cloze]):
            context = " ".join(words[: args.context_words])
            true = " ".join(words[args.context_words: need])
            others = [w for j, w in enumerate(passages) if j != i]
            distractors, attempts = [], 0
            while len(distractors) < args.choices - 1:
                attempts += 1
                if attempts > 1000:
                    p.error(f"--text: cannot find {args.choices - 1} distinct distractors for a cloze item in "
                            f"{args.text}; lower --choices or give more varied text")
                o = rng.choice(others)
                start = rng.randrange(0, len(o) - args.continuation_words + 1)
                cand = " ".join(o[start: start + args.continuation_words])
                if cand != true and cand not in distractors:
                    distractors.append(cand)
            label = rng.randrange(args.choices)
            choices = distractors[:label] + [true] + distractors[label:]
            f.write(json.dumps({"context": context, "choices": choices, "label": label}) + "\n")
    with open(os.path.join(args.out, f"iiet_{args.name}_ppl.yaml"), "w") as f:
        f.write(PPL_YAML.format(name=args.name, docs=docs_path))
    with open(os.path.join(args.out, f"iiet_{args.name}_cloze.yaml"), "w") as f:
        f.write(CLOZE_YAML.format(name=args.name, cloze=cloze_path))
    print(f"wrote tasks iiet_{args.name}_ppl and iiet_{args.name}_cloze to {args.out}")


if __name__ == "__main__":
    main()
