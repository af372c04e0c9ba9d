"""IIAD influence measurement for fairseq models: calibration batches from a task's
dataset, the core's ``update`` and ``loss`` scores over the decoder's IIET iterations.

For translation models the decoder is measured and planned (autoregressive decoding
dominates inference cost); the encoder keeps its own plan.
"""
from itertools import islice
from typing import List, Optional, Sequence

import torch

from ..ode import InfluenceReport, measure_loss_scores, measure_update_scores, plan_of, student_plan
from ..ode.influence import iie_solvers
from ..ode.errors import ConfigError


def decoder_solvers(model) -> List:
    """The IIET solvers whose plan IIAD chooses (the decoder's)."""
    solvers = getattr(getattr(model, "decoder", None), "solvers", None)
    if not callable(solvers):
        raise ConfigError(f"IIAD needs an IIET model (iiet_lm or iiet_transformer with ode_solver=iie); "
                          f"this checkpoint holds {type(model).__name__}")
    return iie_solvers(solvers())


def calibration_batches(task, subset: str, max_batches: int, max_tokens: int = 4096, seed: int = 1):
    """The first ``max_batches`` batches of ``subset`` (loaded if needed), as fairseq samples."""
    if subset not in task.datasets:
        task.load_dataset(subset, combine=False, epoch=1)
    dataset = task.dataset(subset)
    iterator = task.get_batch_iterator(
        dataset=dataset, max_tokens=max_tokens, max_sentences=None, max_positions=None,
        ignore_invalid_inputs=True, seed=seed, num_workers=0, epoch=1,
    ).next_epoch_itr(shuffle=False)
    batches = [b for b in islice(iterator, max_batches) if b and b.get("net_input") is not None]
    if not batches:
        options = getattr(task, "cfg", None) or getattr(task, "args", None)
        raise ConfigError(f"calibration subset {subset!r} of {getattr(options, 'data', '?')} is empty (no batches)")
    return batches


def _move(sample, device):
    from fairseq import utils
    return utils.move_to_cuda(sample, device=device) if device.type == "cuda" else sample


def decoder_token_mask(model, sample) -> torch.Tensor:
    """Real (non-pad) decoder positions, shaped (T, B) like fairseq's hidden states."""
    net_input = sample["net_input"]
    tokens = net_input.get("prev_output_tokens", net_input.get("src_tokens"))
    return tokens.ne(model.decoder.padding_idx).t()


def measure(model, task, batches: Sequence, scores=("update", "loss")) -> InfluenceReport:
    """Influence report of ``model`` (an IIET teacher) over ``batches``."""
    model.eval()
    solvers = decoder_solvers(model)
    device = next(model.parameters()).device
    report = InfluenceReport(teacher_plan=plan_of(solvers))
    pad = task.target_dictionary.pad()

    if "update" in scores:
        def run_update(sample, recorder):
            sample = _move(sample, device)
            recorder.mask = decoder_token_mask(model, sample)
            model(**sample["net_input"])
        report.update = measure_update_scores(model.decoder, solvers, batches, run_update)

    if "loss" in scores:
        def run_loss(sample):
            sample = _move(sample, device)
            net_output = model(**sample["net_input"])
            lprobs = model.get_normalized_probs(net_output, log_probs=True).float()
            target = sample["target"]
            keep = target.ne(pad)
            return lprobs[keep], target[keep]
        report.loss, report.base_loss, report.loss_kind = measure_loss_scores(solvers, batches, run_loss)
    return report


def choose_plan(model, task, threshold: Optional[float], explicit: Optional[str], score: str,
                subset: str, max_batches: int, max_tokens: int = 4096):
    """The student's decoder plan (the core's ``student_plan``): ``explicit`` when given, else
    from ``threshold`` on ``score`` measured over calibration batches of ``subset``.

    Returns (plan, report or None)."""
    def measure_on_calibration(kind):
        return measure(model, task, calibration_batches(task, subset, max_batches, max_tokens), scores=(kind,))
    return student_plan(decoder_solvers(model), threshold, explicit, str(score), measure_on_calibration)
