#!/usr/bin/env bash
# Train, translate (beam 5) and score (sacreBLEU) one decoder/encoder solver on prepared data.
#   bash examples/mt/run_solver.sh SOLVER PREP_DIR [ARCH] [extra fairseq-train flags...]
# SOLVER: euler | rk2 | rk4 | pc | iie ; PREP_DIR: output of prepare_ende.py (PREP_DIR/bin, PREP_DIR/test.de)
# e.g.  bash examples/mt/run_solver.sh iie runs/ende iiet_transformer_tiny --max-update 4000
set -euo pipefail
SOLVER=${1:?solver}; PREP=${2:?prepared data dir}; ARCH=${3:-iiet_transformer_tiny}; shift $(( $# < 3 ? $# : 3 ))
HERE=$(cd "$(dirname "$0")" && pwd)
USER_DIR=$(python -c "import iiet_plugin, os; print(os.path.dirname(iiet_plugin.__file__))")
SAVE=checkpoints/mt_${ARCH}_${SOLVER}
CPU=$(python -c "import torch; print('' if torch.cuda.is_available() else '--cpu')")
fairseq-train "$PREP/bin" --user-dir "$USER_DIR" --task translation --arch "$ARCH" \
  --encoder-ode-solver "$SOLVER" --decoder-ode-solver "$SOLVER" --share-all-embeddings \
  --optimizer adam --adam-betas '(0.9,0.98)' --lr 0.002 --lr-scheduler inverse_sqrt --warmup-updates 400 \
  --clip-norm 1.0 --dropout 0.1 --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
  --max-tokens 4096 --max-update 4000 --save-dir "$SAVE" --no-epoch-checkpoints --log-format simple \
  --eval-bleu --eval-bleu-detok space --eval-bleu-remove-bpe sentencepiece \
  --eval-bleu-args '{"beam": 4, "max_len_a": 1.2, "max_len_b": 10}' \
  --best-checkpoint-metric bleu --maximize-best-checkpoint-metric --skip-invalid-size-inputs-valid-test $CPU "$@"
fairseq-generate "$PREP/bin" --user-dir "$USER_DIR" --path "$SAVE/checkpoint_best.pt" --beam 5 \
  --post-process sentencepiece --scoring sacrebleu --max-tokens 8000 $CPU > "$SAVE/gen.test.txt"
tail -1 "$SAVE/gen.test.txt"
python "$HERE/score.py" "$SAVE/gen.test.txt" --ref "$PREP/test.de"
