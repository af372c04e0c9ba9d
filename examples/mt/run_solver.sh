#!/usr/bin/env bash
# Train, translate (beam 5) and score (sacreBLEU) one encoder/decoder solver on prepared data.
#   bash examples/mt/run_solver.sh SOLVER PREP_DIR [ARCH] [extra fairseq-train flags...]
# SOLVER: euler | rk2 | rk4 | pc | iie.  PREP_DIR: output of prepare_ende.py (PREP_DIR/bin and the
# detokenized references PREP_DIR/test.TGT).  The direction is read from PREP_DIR/bin
# (train.SRC-TGT.SRC.bin); the score is against PREP_DIR/test.TGT.  Checkpoints: checkpoints/mt_ARCH_SOLVER
# e.g.  bash examples/mt/run_solver.sh iie runs/ende iiet_transformer_tiny --max-update 4000
set -euo pipefail
SOLVER=${1:?solver}; PREP=${2:?prepared data dir}; ARCH=${3:-iiet_transformer_tiny}; shift $(( $# < 3 ? $# : 3 ))
HERE=$(cd "$(dirname "$0")" && pwd)
PAIR=$(ls "$PREP/bin" | sed -n 's/^train\.\([^.]*\)-\([^.]*\)\.\1\.bin$/\1 \2/p' | head -1)
[ -n "$PAIR" ] || { echo "error: $PREP/bin holds no train.SRC-TGT.SRC.bin (run prepare_ende.py first)" >&2; exit 1; }
read -r SRC TGT <<< "$PAIR"
[ -f "$PREP/test.$TGT" ] || { echo "error: reference $PREP/test.$TGT missing" >&2; exit 1; }
USER_DIR=$(python -c "import iiet_plugin, os; print(os.path.dirname(iiet_plugin.__file__))")
SAVE=${SAVE_DIR:-checkpoints/mt_${ARCH}_${SOLVER}}
CPU=$(python -c "import torch; print('' if torch.cuda.is_available() else '--cpu')")
fairseq-train "$PREP/bin" --user-dir "$USER_DIR" --task translation --source-lang "$SRC" --target-lang "$TGT" \
  --arch "$ARCH" --encoder-ode-solver "$SOLVER" --decoder-ode-solver "$SOLVER" --share-all-embeddings \
  --optimizer adam --adam-betas '(0.9,0.98)' --lr 0.002 --lr-scheduler inverse_sqrt --warmup-updates 400 \
  --clip-norm 1.0 --dropout 0.1 --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
  --max-tokens 4096 --max-update 4000 --save-dir "$SAVE" --no-epoch-checkpoints --log-format simple \
  --eval-bleu --eval-bleu-detok space --eval-bleu-remove-bpe sentencepiece \
  --eval-bleu-args '{"beam": 4, "max_len_a": 1.2, "max_len_b": 10}' \
  --best-checkpoint-metric bleu --maximize-best-checkpoint-metric --skip-invalid-size-inputs-valid-test $CPU "$@"
fairseq-generate "$PREP/bin" --user-dir "$USER_DIR" --source-lang "$SRC" --target-lang "$TGT" \
  --path "$SAVE/checkpoint_best.pt" --beam 5 --post-process sentencepiece --scoring sacrebleu \
  --max-tokens 8000 $CPU > "$SAVE/gen.test.txt"
tail -1 "$SAVE/gen.test.txt"
echo "$SRC->$TGT, reference $PREP/test.$TGT"
python "$HERE/score.py" "$SAVE/gen.test.txt" --ref "$PREP/test.$TGT"
