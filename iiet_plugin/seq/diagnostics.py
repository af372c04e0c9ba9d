"""Diagnostics of a trained fairseq ODE model (the core's ``ode.diagnostics``) on batches of a
split, for one of its stacks: that stack's fixed-point residual per layer and iteration, the
loss when every layer of it stops after iteration i, and the gradient norm per layer of it
(dropout off).  A language model has one stack (its decoder); a translation model is measured
on the side that iterates (``iterating_side``)."""
from typing import Optional, Sequence

from ..ode.diagnostics import iterates_to_fixed_point, stack_diagnostics
from .influence import decoder_token_mask

SIDES = ("encoder", "decoder")


def _runs_iiet(stack) -> bool:
    solvers = stack.solvers() if hasattr(stack, "solvers") else []
    return bool(solvers) and iterates_to_fixed_point(solvers)


def iterating_side(model) -> str:
    """``"encoder"`` when the model's encoder runs IIET and its decoder does not (the ODE
    Transformer and PCformer MT releases' form, ``iiet-r2-encoder``); ``"decoder"`` otherwise
    (a language model, a model iterating in the decoder or in both, a model with no IIET)."""
    encoder = getattr(model, "encoder", None)
    if encoder is not None and _runs_iiet(encoder) and not _runs_iiet(model.decoder):
        return "encoder"
    return "decoder"


def stack_token_mask(model, sample, side: str):
    """Real (non-pad) positions of ``side``'s hidden states, shaped (T, B) like fairseq's."""
    if side == "decoder":
        return decoder_token_mask(model, sample)
    return sample["net_input"]["src_tokens"].ne(model.encoder.padding_idx).t()


def model_diagnostics(model, task, batches: Sequence, side: Optional[str] = None) -> dict:
    """``{"side": side, "residual": rho[l][i-1], "loss_by_iteration": [nll per token, i = 0..r],
    "gradient_norms": [per layer]}`` of ``side``'s stack of ``model`` (default
    ``iterating_side``) over ``batches`` (fairseq samples, on the model's device).  The loss is
    the decoder's NLL per target token either way; residuals are measured for IIET stacks only
    (empty rows otherwise)."""
    side = side or iterating_side(model)
    if side not in SIDES or (side == "encoder" and getattr(model, "encoder", None) is None):
        raise ValueError(f"side must be one of {', '.join(SIDES)} (encoder: a translation model), got {side!r}")
    model.eval()
    stack = getattr(model, side)
    pad = task.target_dictionary.pad()

    def nll(sample):
        lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True).float()
        target = sample["target"]
        keep = target.ne(pad)
        return -lprobs[keep].gather(-1, target[keep].unsqueeze(-1)).sum(), int(keep.sum())

    def run_update(sample, recorder):
        recorder.mask = stack_token_mask(model, sample, side)
        model(**sample["net_input"])

    found = stack_diagnostics(model, stack, stack.solvers(), list(stack.layers), batches, run_update, nll)
    return dict(side=side, **found)
