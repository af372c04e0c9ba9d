"""Speeds of trained fairseq checkpoints, measured interleaved in one process: every round runs
every model once on the same batches (``timing.round_robin_times``), so load on the machine
(another job, clock changes) falls on all models alike and the ratios stay meaningful.

- scoring: a forward over fixed batches of a split (what fairseq-eval-lm does), tokens/s;
- training step: forward + backward of the model's own loss on one fixed batch, seconds
  (no optimizer step, so the weights, and hence the work, stay the same every round)."""
from typing import Dict, Sequence

import torch

from .timing import round_robin_times


def _load(path: str, data: str):
    from ..seq.checkpoints import load_checkpoint
    models, _, task = load_checkpoint(path, arg_overrides={"data": data})
    return models[0], task


def _nll(model, sample) -> torch.Tensor:
    logits = model(**sample["net_input"])[0]
    lprobs = torch.log_softmax(logits.float(), dim=-1).flatten(0, 1)
    return torch.nn.functional.nll_loss(lprobs, sample["target"].flatten(), ignore_index=model.decoder.padding_idx,
                                        reduction="sum")


def checkpoint_speeds(paths: Sequence[str], data: str, subset: str = "test", batches: int = 4,
                      max_tokens: int = 2048, rounds: int = 5) -> Dict[str, Dict[str, float]]:
    """``{path: {"score_tokens_s": ..., "train_step_s": ...}}`` of every checkpoint, interleaved."""
    from ..seq.influence import calibration_batches
    models, samples = {}, None
    for path in paths:
        model, task = _load(path, data)
        models[path] = model
        if samples is None:  # the same batches for every model (one dictionary: the data's)
            samples = calibration_batches(task, subset, batches, max_tokens)
    tokens = sum(int(s["ntokens"]) for s in samples)

    def scorer(model):
        def run():
            model.eval()
            with torch.no_grad():
                for sample in samples:
                    model(**sample["net_input"])
        return run

    def trainer(model):
        def run():
            model.train()
            model.zero_grad(set_to_none=True)
            _nll(model, samples[0]).backward()
        return run

    score = round_robin_times({p: scorer(m) for p, m in models.items()}, rounds)
    train = round_robin_times({p: trainer(m) for p, m in models.items()}, rounds)
    return {p: {"score_tokens_s": tokens / score[p], "train_step_s": train[p]} for p in paths}
