"""Score fairseq-generate output with sacreBLEU and print the score with its signature.

    fairseq-generate DATA-BIN --path ckpt.pt --beam 5 --post-process sentencepiece > gen.out
    python examples/mt/score.py gen.out --ref PREP/test.de   # the target side

Hypotheses are the detokenized ``D-<id>`` lines; ``<id>`` indexes the reference file, so
sentences fairseq skipped are left out of both sides.
"""
import argparse
import gzip
import json
import re

import sacrebleu

from iiet_plugin.atomic_io import atomic_write


def hypotheses(gen_path):
    hyps = {}
    with open(gen_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^D-(\d+)\t[^\t]*\t(.*)$", line.rstrip("\n"))
            if m:
                hyps[int(m.group(1))] = m.group(2)
    return hyps


def references(ref_path):
    opener = gzip.open if ref_path.endswith(".gz") else open
    with opener(ref_path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def score(gen_path, ref_path, tokenize="13a"):
    hyps = hypotheses(gen_path)
    refs = references(ref_path)
    ids = sorted(hyps)
    if not ids:
        raise SystemExit(f"no D- lines in {gen_path}: run fairseq-generate with --post-process")
    if ids[-1] >= len(refs):
        raise SystemExit(f"hypothesis id {ids[-1]} but {ref_path} has {len(refs)} lines")
    metric = sacrebleu.BLEU(tokenize=tokenize)
    result = metric.corpus_score([hyps[i] for i in ids], [[refs[i] for i in ids]])
    return result, str(metric.get_signature()), len(ids)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gen")
    p.add_argument("--ref", required=True)
    p.add_argument("--tokenize", default="13a")
    p.add_argument("--json", help="also write the score as JSON here")
    args = p.parse_args(argv)
    result, signature, n = score(args.gen, args.ref, args.tokenize)
    print(f"{result}  ({n} sentences)")
    print(f"sacreBLEU signature: {signature}")
    if args.json:
        text = json.dumps({"bleu": result.score, "signature": signature, "sentences": n}, indent=1)
        atomic_write(args.json, lambda f: f.write(text.encode("utf-8")))


if __name__ == "__main__":
    main()
