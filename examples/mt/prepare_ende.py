"""Segment an English->German corpus with sentencepiece and binarize it for fairseq.

Why sentencepiece (not subword-nmt): it trains on raw text (no Moses tokenizer needed for
the placeholders and markup of software messages), its segmentation is reversible, so
``--eval-bleu-detok space --eval-bleu-remove-bpe sentencepiece`` and
``fairseq-generate --post-process sentencepiece`` give detokenized text for sacreBLEU, and
it runs offline from a pip wheel.

    python examples/mt/prepare_ende.py RAW OUT [--vocab 8000] [--train-lines N]

RAW holds {train,valid,test}.{SRC,TGT} (optionally .gz; --src en --tgt de by default): $IIET_DATA/mt/en-de,
or the output of build_ende_corpus.py.  OUT receives spm.model, the segmented text and
OUT/bin (fairseq-preprocess, joined dictionary).
"""
import argparse

from iiet_plugin.experiments.corpora import binarize_pairs, read_pairs


def main(argv=None):
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
    text = read_pairs(args.raw, args.src, args.tgt, args.train_lines, args.train_pick, args.eval_lines,
                      args.max_words)  # every check before any file is written
    bin_dir = binarize_pairs(text, args.out, args.vocab, args.src, args.tgt, args.workers)
    print(f"binarized to {bin_dir} (sentencepiece unigram, {args.vocab} pieces, joined dictionary)")


if __name__ == "__main__":
    main()
