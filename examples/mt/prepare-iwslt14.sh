#!/usr/bin/env bash
# IWSLT'14 German->English preparation: extract the TED talks release, clean train/dev/test
# like fairseq's recipe, learn a joint sentencepiece model and binarize with a joined dictionary.
#   bash examples/mt/prepare-iwslt14.sh OUT_DIR [VOCAB]
# The release (de-en.tgz, with de-en/train.tags.de-en.{de,en} and de-en/IWSLT14.TED*.xml) is
# downloaded from $IWSLT14_URL (needs internet) unless OUT_DIR/de-en.tgz is already there.
# Output: OUT_DIR/{train,valid,test}.{de,en} (clean text) and OUT_DIR/prep (prepare_ende.py:
# sentencepiece, OUT_DIR/prep/bin, references OUT_DIR/prep/test.en).  Then train, translate
# de->en and score against the English references:
#   bash examples/mt/run_solver.sh iie OUT_DIR/prep iiet_transformer_iwslt_de_en
set -euo pipefail
OUT=${1:?usage: prepare-iwslt14.sh OUT_DIR [VOCAB]}; VOCAB=${2:-10000}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT/raw"
URL=${IWSLT14_URL:-http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz}
[ -f "$OUT/de-en.tgz" ] || wget -q "$URL" -O "$OUT/de-en.tgz"
tar -xzf "$OUT/de-en.tgz" -C "$OUT/raw"
R="$OUT/raw/de-en"
for l in de en; do
  [ -f "$R/train.tags.de-en.$l" ] || { echo "error: $R/train.tags.de-en.$l missing: not the IWSLT'14 de-en release" >&2; exit 1; }
  # training text: drop the XML-ish metadata lines of train.tags
  grep -v -E '^\s*<(url|talkid|keywords|speaker|reviewer|translator|title|description)' "$R/train.tags.de-en.$l" \
    | sed -e 's/^\s*//; s/\s*$//' > "$OUT/train.all.$l"
  # test = the dev and tst sets of the release (fairseq: dev2010, tst2010-2012, TEDX dev2012)
  for f in "$R"/IWSLT14.TED*.de-en.$l.xml "$R"/IWSLT14.TEDX*.de-en.$l.xml; do
    [ -f "$f" ] || continue
    grep '<seg id' "$f" | sed -e 's/<seg id="[0-9]*">\s*//; s/\s*<\/seg>\s*//'
  done > "$OUT/test.$l"
done
# every 23rd training line is the validation set, as in fairseq's prepare-iwslt14.sh
python - "$OUT" <<'PY'
import os, sys
out = sys.argv[1]
for l in ("de", "en"):
    with open(os.path.join(out, f"train.all.{l}"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(os.path.join(out, f"valid.{l}"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines[::23]) + "\n")
    with open(os.path.join(out, f"train.{l}"), "w", encoding="utf-8") as f:
        f.write("\n".join(x for i, x in enumerate(lines) if i % 23) + "\n")
PY
python "$HERE/prepare_ende.py" "$OUT" "$OUT/prep" --vocab "$VOCAB" --workers 4 --src de --tgt en
echo "next: bash $HERE/run_solver.sh iie $OUT/prep iiet_transformer_iwslt_de_en"
