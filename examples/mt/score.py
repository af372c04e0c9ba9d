"""Score fairseq-generate output with sacreBLEU and print the score with its signature.

    fairseq-generate DATA-BIN --path ckpt.pt --beam 5 --post-process sentencepiece > gen.out
    python examples/mt/score.py gen.out --ref PREP/test.de   # the target side

Hypotheses are the detokenized ``D-<id>`` lines; ``<id>`` indexes the reference file, so
sentences fairseq skipped are left out of both sides.
"""
import argparse
import json

from iiet_plugin.atomic_io import atomic_write
from iiet_plugin.seq.bleu import score_generation


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gen")
    p.add_argument("--ref", required=True)
    p.add_argument("--tokenize", default="13a")
    p.add_argument("--json", help="also write the score as JSON here")
    args = p.parse_args(argv)
    result, signature, n = score_generation(args.gen, args.ref, args.tokenize)
    print(f"{result}  ({n} sentences)")
    print(f"sacreBLEU signature: {signature}")
    if args.json:
        text = json.dumps({"bleu": result.score, "signature": signature, "sentences": n}, indent=1)
        atomic_write(args.json, lambda f: f.write(text.encode("utf-8")))


if __name__ == "__main__":
    main()
