"""Diagnostics of a trained ``iiet_vit`` (the core's ``ode.diagnostics``, as
``seq.diagnostics`` for fairseq) on batches of ``(images, targets)``: the fixed-point residual
per block and iteration, the cross-entropy when every block stops after iteration i, and the
gradient norm per block (dropout off, eval mode)."""
from typing import Sequence

import torch.nn.functional as F

from ..ode.diagnostics import fixed_point_residuals, layer_gradient_norms, loss_by_iteration


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

    residual = fixed_point_residuals(model, solvers, batches, lambda batch, recorder: model(batch[0].to(device)))

    total, count = 0.0, 0
    for batch in batches:  # one forward with the graph: the gradients and the full plan's loss
        loss, n = summed_ce(batch)
        total, count = total + loss, count + n
    full_plan_loss = total / max(count, 1)
    grads = layer_gradient_norms(model, list(model.blocks), lambda: full_plan_loss)
    losses = loss_by_iteration(solvers, batches, lambda batch: tuple(float(x) for x in summed_ce(batch)),
                               last=float(full_plan_loss.detach()))
    return {"residual": residual, "loss_by_iteration": losses, "gradient_norms": grads}
