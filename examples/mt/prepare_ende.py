"""Segment an English->German corpus with sentencepiece and binarize it for fairseq.

Why sentencepiece (not subword-nmt): it trains on raw text (no Moses tokenizer needed for
the placeholders and markup of software messages), its segmentation is reversible, so
``--eval-bleu-detok space --eval-bleu-remove-bpe sentencepiece`` and
``fairseq-generate --post-process sentencepiece`` give detokenized text for sacreBLEU, and
it runs offline from a pip wheel.

    python examples/mt/prepare_ende.py RAW OUT [--vocab 8000] [--train-lines N]

RAW holds {train,valid,test}.{SRC,TGT} (optionally .gz; --src en --tgt de by default): ../shared/data/mt/en-de here, or
the output of build_ende_corpus.py.  OUT receives spm.model, the segmented text and
OUT/bin (fairseq-preprocess, joined dictionary).
"""
import argparse
import os
import subprocess
import sys

from iiet_plugin.ode.errors import ConfigError
from iiet_plugin.textio import read_text_lines

SPLITS = ("train", "valid", "test")


def read(raw, split, lang):
    path = os.path.join(raw, f"{split}.{lang}")
    if not os.path.exists(path):
        path += ".gz"
    return read_text_lines(path, f"{split} split ({lang})")


def pick(pairs, limit, how):
    """The first ``limit`` pairs, or ``limit`` pairs at evenly spaced positions (``how='spread'``)."""
    if not limit or limit >= len(pairs):
        return pairs
    if how == "first":
        return pairs[:limit]
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def main(argv=None):
    import sentencepiece as spm
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("raw")
    p.add_argument("out")
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--train-lines", type=int, default=None, help="use only N training pairs (see --train-pick)")
    p.add_argument("--train-pick", choices=("first", "spread"), default="first",
                   help="with --train-lines: the first N pairs, or N pairs evenly spaced over the file (the "
                        "shared corpus is grouped by source package, so 'spread' samples every source)")
    p.add_argument("--max-words", type=int, default=None,
                   help="drop pairs with more than this many whitespace-separated words on either side "
                        "(every split, before --train-lines/--eval-lines)")
    p.add_argument("--eval-lines", type=int, default=None, help="use only the first N valid/test pairs")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--src", default="en")
    p.add_argument("--tgt", default="de")
    args = p.parse_args(argv)
    langs = (args.src, args.tgt)
    for name in ("train_lines", "eval_lines", "max_words"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not os.path.isdir(args.raw):
        p.error(f"raw: {args.raw} is not a folder (expected {{train,valid,test}}.{args.src}/.{args.tgt}[.gz])")
    text = {}
    for split in SPLITS:
        try:
            src_lines, tgt_lines = read(args.raw, split, args.src), read(args.raw, split, args.tgt)
        except ConfigError as e:
            p.error(str(e))
        if len(src_lines) != len(tgt_lines):
            p.error(f"{split}: {len(src_lines)} {args.src} lines but {len(tgt_lines)} {args.tgt} lines in {args.raw}")
        pairs = list(zip(src_lines, tgt_lines))
        if args.max_words:
            pairs = [pair for pair in pairs if max(len(side.split()) for side in pair) <= args.max_words]
        limit = args.train_lines if split == "train" else args.eval_lines
        pairs = pick(pairs, limit, args.train_pick if split == "train" else "first")
        if not pairs:
            p.error(f"{split}: no pairs left in {args.raw} (after --max-words {args.max_words}); raise --max-words")
        text[(split, args.src)] = [src for src, _ in pairs]
        text[(split, args.tgt)] = [tgt for _, tgt in pairs]
    os.makedirs(args.out, exist_ok=True)
    joint = os.path.join(args.out, "spm_train.txt")
    with open(joint, "w", encoding="utf-8") as f:
        for lang in langs:
            f.writelines(line + "\n" for line in text[("train", lang)])
    prefix = os.path.join(args.out, "spm")
    spm.SentencePieceTrainer.train(input=joint, model_prefix=prefix, vocab_size=args.vocab, model_type="unigram",
                                   character_coverage=1.0, input_sentence_size=2_000_000, shuffle_input_sentence=True,
                                   num_threads=args.workers, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    for (split, lang), lines in text.items():
        with open(os.path.join(args.out, f"{split}.{lang}"), "w", encoding="utf-8") as f:  # detokenized reference
            f.writelines(line + "\n" for line in lines)
        with open(os.path.join(args.out, f"{split}.spm.{lang}"), "w", encoding="utf-8") as f:
            f.writelines(" ".join(pieces) + "\n" for pieces in sp.encode(lines, out_type=str))
    bin_dir = os.path.join(args.out, "bin")
    cmd = [os.path.join(os.path.dirname(sys.executable), "fairseq-preprocess"), "--source-lang", args.src,
           "--target-lang", args.tgt, "--joined-dictionary", "--workers", str(args.workers), "--destdir", bin_dir]
    for split in SPLITS:
        cmd += [f"--{'train' if split == 'train' else split}pref", os.path.join(args.out, f"{split}.spm")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"fairseq-preprocess failed on {args.out}:\n{proc.stderr.strip()[-2000:]}")
    print(f"binarized to {bin_dir} (sentencepiece unigram, {args.vocab} pieces, joined dictionary)")


if __name__ == "__main__":
    main()
