"""Slices of the real corpora, prepared for fairseq: the LM text (one verse or sentence per
line) binarized with a word vocabulary, and sentence pairs segmented with sentencepiece and
binarized with a joined dictionary."""
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

from ..ode.errors import ConfigError
from ..textio import read_text_lines
from .runner import run_tool

SPLITS = ("train", "valid", "test")


def split_file(folder: str, split: str, suffix: str = "txt") -> str:
    """``folder/{split}.{suffix}``, or its ``.gz``; a ConfigError names what is missing."""
    path = os.path.join(folder, f"{split}.{suffix}")
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            return candidate
    raise ConfigError(f"{folder}: no {split}.{suffix} (or .gz)")


def binarize_lm_slice(source: str, work: str, train_lines: int, eval_lines: int, vocab: int = 6000,
                      test_lines: Optional[int] = None) -> str:
    """The first ``train_lines`` / ``eval_lines`` lines of ``source``'s train / valid, test
    files (the test split: ``test_lines`` when given) written to ``work`` and
    fairseq-preprocessed into ``work/bin``, rebuilt from scratch.  The dictionary (``vocab``
    words) is built from the training lines only, so the test slice never changes a model's
    inputs.  Returns the data-bin folder."""
    test_lines = eval_lines if test_lines is None else test_lines
    if train_lines < 1 or eval_lines < 1 or test_lines < 1:
        raise ConfigError(f"train_lines, eval_lines and test_lines must be >= 1, got {train_lines}, {eval_lines} "
                          f"and {test_lines}")
    files = {split: split_file(source, split) for split in SPLITS}
    os.makedirs(work, exist_ok=True)
    slices = {}
    for split, path in files.items():
        limit = {"train": train_lines, "test": test_lines}.get(split, eval_lines)
        lines = read_text_lines(path, f"LM {split} split")[:limit]
        slices[split] = os.path.join(work, f"{split}.txt")
        with open(slices[split], "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    data = os.path.join(work, "bin")
    shutil.rmtree(data, ignore_errors=True)
    run_tool("fairseq-preprocess", "--only-source", "--trainpref", slices["train"], "--validpref", slices["valid"],
             "--testpref", slices["test"], "--destdir", data, "--workers", "1", "--nwordssrc", vocab)
    return data


def pick(pairs: Sequence, limit: Optional[int], how: str = "first") -> List:
    """The first ``limit`` items, or ``limit`` items at evenly spaced positions (``how='spread'``)."""
    if how not in ("first", "spread"):
        raise ConfigError(f"train_pick: unknown {how!r}; allowed: first, spread")
    if not limit or limit >= len(pairs):
        return list(pairs)
    if how == "first":
        return list(pairs[:limit])
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


def read_pairs(raw: str, src: str = "en", tgt: str = "de", train_lines: Optional[int] = None,
               train_pick: str = "first", eval_lines: Optional[int] = None, max_words: Optional[int] = None,
               test_lines: Optional[int] = None) -> Dict[Tuple[str, str], List[str]]:
    """``{(split, lang): lines}`` from ``raw/{split}.{lang}[.gz]``: pairs of at most
    ``max_words`` words a side (every split), then ``train_lines`` training pairs (``pick``)
    and the first ``eval_lines`` valid/test pairs (test: ``test_lines`` when given)."""
    for name, value in (("train_lines", train_lines), ("eval_lines", eval_lines), ("test_lines", test_lines),
                        ("max_words", max_words)):
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not os.path.isdir(raw):
        raise ConfigError(f"raw: {raw} is not a folder (expected {{train,valid,test}}.{src}/.{tgt}[.gz])")
    text = {}
    for split in SPLITS:
        src_lines = read_text_lines(split_file(raw, split, src), f"{split} split ({src})")
        tgt_lines = read_text_lines(split_file(raw, split, tgt), f"{split} split ({tgt})")
        if len(src_lines) != len(tgt_lines):
            raise ConfigError(f"{split}: {len(src_lines)} {src} lines but {len(tgt_lines)} {tgt} lines in {raw}")
        pairs = list(zip(src_lines, tgt_lines))
        if max_words:
            pairs = [pair for pair in pairs if max(len(side.split()) for side in pair) <= max_words]
        limit = {"train": train_lines, "test": test_lines or eval_lines}.get(split, eval_lines)
        pairs = pick(pairs, limit, train_pick if split == "train" else "first")
        if not pairs:
            raise ConfigError(f"{split}: no pairs left in {raw} (after --max-words {max_words}); raise --max-words")
        text[(split, src)] = [s for s, _ in pairs]
        text[(split, tgt)] = [t for _, t in pairs]
    return text


def binarize_pairs(text: Dict[Tuple[str, str], List[str]], out: str, vocab: int, src: str = "en", tgt: str = "de",
                   workers: int = 1) -> str:
    """Train a sentencepiece unigram model (``vocab`` pieces) on both training sides, write
    ``out/{split}.{lang}`` (detokenized references) and ``out/{split}.spm.{lang}``, and
    fairseq-preprocess them into ``out/bin`` with a joined dictionary.  Returns ``out/bin``."""
    import sentencepiece as spm
    os.makedirs(out, exist_ok=True)
    joint = os.path.join(out, "spm_train.txt")
    with open(joint, "w", encoding="utf-8") as f:
        for lang in (src, tgt):
            f.writelines(line + "\n" for line in text[("train", lang)])
    prefix = os.path.join(out, "spm")
    spm.SentencePieceTrainer.train(input=joint, model_prefix=prefix, vocab_size=vocab, model_type="unigram",
                                   character_coverage=1.0, input_sentence_size=2_000_000, shuffle_input_sentence=True,
                                   num_threads=workers, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    for (split, lang), lines in text.items():
        with open(os.path.join(out, f"{split}.{lang}"), "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        with open(os.path.join(out, f"{split}.spm.{lang}"), "w", encoding="utf-8") as f:
            f.writelines(" ".join(pieces) + "\n" for pieces in sp.encode(lines, out_type=str))
    bin_dir = os.path.join(out, "bin")
    args = ["--source-lang", src, "--target-lang", tgt, "--joined-dictionary", "--workers", workers,
            "--destdir", bin_dir]
    for split in SPLITS:
        args += [f"--{split}pref", os.path.join(out, f"{split}.spm")]
    run_tool("fairseq-preprocess", *args, echo_command=False)
    return bin_dir
