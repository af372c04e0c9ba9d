"""Diagnostics of a trained ``iiet_vit`` (the core's ``ode.diagnostics``, as
``seq.diagnostics`` for fairseq) on batches of ``(images, targets)``: the fixed-point residual
per block and iteration, the cross-entropy when every block stops after iteration i, and the
gradient norm per block (dropout off, eval mode)."""
from typing import Sequence

import torch.nn.functional as F

from ..ode.diagnostics import stack_diagnostics


def vit_diagnostics(model, batches: Sequence) -> dict:
    """``{"residual": rho[l][i-1], "loss_by_iteration": [mean CE per image, i = 0..r],
    "gradient_norms": [per block]}`` of ``model`` over ``batches``.  Residuals are averaged over
    every token the blocks see; empty rows unless every block is IIET."""
    model.eval()
    device = next(model.parameters()).device
    solvers = model.solvers()

    def summed_ce(batch):
        images, target = batch
        return F.cross_entropy(model(images.to(device)).float(), target.to(device), reduction="sum"), len(target)

    return stack_diagnostics(model, model, solvers, list(model.blocks), batches,
                             lambda batch, recorder: model(batch[0].to(device)), summed_ce)
