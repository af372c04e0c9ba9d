"""Diagnostics of a trained fairseq ODE model (the core's ``ode.diagnostics``) on batches of a
split: the decoder's fixed-point residual per layer and iteration, the loss when every layer
stops after iteration i, and the gradient norm per decoder layer (dropout off)."""
from typing import Sequence

from ..ode.diagnostics import stack_diagnostics
from .influence import decoder_token_mask


def decoder_diagnostics(model, task, batches: Sequence) -> dict:
    """``{"residual": rho[l][i-1], "loss_by_iteration": [nll per token, i = 0..r], "gradient_norms":
    [per decoder layer]}`` of ``model`` over ``batches`` (fairseq samples, on the model's device).
    Residuals are measured for IIET decoders only (empty rows otherwise)."""
    model.eval()
    decoder = model.decoder
    solvers = decoder.solvers()
    pad = task.target_dictionary.pad()

    def nll(sample):
        lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True).float()
        target = sample["target"]
        keep = target.ne(pad)
        return -lprobs[keep].gather(-1, target[keep].unsqueeze(-1)).sum(), int(keep.sum())

    def run_update(sample, recorder):
        recorder.mask = decoder_token_mask(model, sample)
        model(**sample["net_input"])

    return stack_diagnostics(model, decoder, solvers, list(decoder.layers), batches, run_update, nll)
