"""Score fairseq-generate output with sacreBLEU and print the score with its signature.

    fairseq-generate DATA-BIN --path ckpt.pt --beam 5 --post-process sentencepiece > gen.out
    python examples/mt/score.py gen.out --ref PREP/test.de   # the target side
    python examples/mt/score.py base.out --ref PREP/test.de --compare other.out   # paired bootstrap

Hypotheses are the detokenized ``D-<id>`` lines; ``<id>`` indexes the reference file, so
sentences fairseq skipped are left out of both sides.  ``--compare`` tests each further output
against the first by paired bootstrap resampling (sacreBLEU's, on the sentences every output
has): each system's BLEU with a 95 % interval and the p-value of its difference from the first.
"""
import argparse
import json

from iiet_plugin.atomic_io import atomic_write
from iiet_plugin.seq.bleu import paired_bootstrap, score_generation


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("gen")
    p.add_argument("--ref", required=True)
    p.add_argument("--tokenize", default="13a")
    p.add_argument("--json", help="also write the score as JSON here")
    p.add_argument("--compare", nargs="+", default=[], metavar="GEN",
                   help="other systems' fairseq-generate outputs: paired bootstrap against the first")
    p.add_argument("--samples", type=int, default=1000, help="bootstrap resamples (with --compare)")
    args = p.parse_args(argv)
    if args.compare:
        rows = paired_bootstrap([args.gen, *args.compare], args.ref, args.samples, args.tokenize)
        print(f"paired bootstrap, {args.samples} resamples, {rows[0]['sentences']} sentences:")
        for row in rows:
            versus = "baseline" if row["p"] is None else f"p = {row['p']:.4f} vs the baseline"
            print(f"{row['name']}: BLEU {row['bleu']:.2f} (mean {row['mean']:.2f} ± {row['ci']:.2f}, 95 %), {versus}")
        if args.json:
            text = json.dumps({"paired_bootstrap": rows, "samples": args.samples}, indent=1)
            atomic_write(args.json, lambda f: f.write(text.encode("utf-8")))
        return
    result, signature, n = score_generation(args.gen, args.ref, args.tokenize)
    print(f"{result}  ({n} sentences)")
    print(f"sacreBLEU signature: {signature}")
    if args.json:
        text = json.dumps({"bleu": result.score, "signature": signature, "sentences": n}, indent=1)
        atomic_write(args.json, lambda f: f.write(text.encode("utf-8")))


if __name__ == "__main__":
    main()
