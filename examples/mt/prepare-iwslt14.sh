#!/usr/bin/env bash
# Standard IWSLT'14 German-English preparation (needs internet): download the TED talks
# release, extract and clean train/dev/test like fairseq's recipe, learn a joint
# sentencepiece model (10k pieces) and binarize with a joined dictionary.
#   bash examples/mt/prepare-iwslt14.sh OUT_DIR
# Then train:  bash examples/mt/run_solver.sh iie OUT_DIR iiet_transformer_iwslt_de_en
# (this recipe translates de -> en: pass --source-lang de --target-lang en)
set -euo pipefail
OUT=${1:-iwslt14.de-en}; mkdir -p "$OUT/raw"; cd "$OUT"
URL=${IWSLT14_URL:-http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz}
[ -f de-en.tgz ] || wget -q "$URL" -O de-en.tgz
tar -xzf de-en.tgz -C raw
R=raw/de-en
for l in de en; do
  # training text: drop the XML-ish metadata lines of train.tags
  grep -v -E '^\s*<(url|talkid|keywords|speaker|reviewer|translator|title|description)' "$R/train.tags.de-en.$l" \
    | sed -e 's/^\s*//; s/\s*$//' > "train.all.$l"
  for f in "$R"/IWSLT14.TED*.$l.xml "$R"/IWSLT14.TEDX*.$l.xml; do
    grep '<seg id' "$f" | sed -e 's/<seg id="[0-9]*">\s*//; s/\s*<\/seg>\s*//'
  done > "test.$l"
done
# every 23rd training line is the validation set, as in fairseq's prepare-iwslt14.sh
python - <<'PY'
import itertools
for l in ("de", "en"):
    lines = open(f"train.all.{l}", encoding="utf-8").read().splitlines()
    open(f"valid.{l}", "w", encoding="utf-8").write("\n".join(lines[::23]) + "\n")
    open(f"train.{l}", "w", encoding="utf-8").write("\n".join(x for i, x in enumerate(lines) if i % 23) + "\n")
PY
cd - >/dev/null
python "$(dirname "$0")/prepare_ende.py" "$OUT" "$OUT/prep" --vocab 10000 --workers 4 --src de --tgt en
