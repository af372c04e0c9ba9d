"""IIAD influence and plans for ``iiet_vit_*`` (the same core as the fairseq models)."""
from typing import Iterable, Sequence

import torch.nn.functional as F

from ..ode import InfluenceReport, measure_loss_scores, measure_update_scores, plan_of
from ..ode.influence import iie_solvers


def measure(model, batches: Sequence, scores: Iterable[str] = ("update", "loss")) -> InfluenceReport:
    """Influence report of an IIET ViT over ``batches`` of ``(images, targets)``."""
    model.eval()
    solvers = iie_solvers(model.solvers())
    device = next(model.parameters()).device
    report = InfluenceReport(teacher_plan=plan_of(solvers))
    if "update" in scores:
        report.update = measure_update_scores(model, solvers, batches,
                                              lambda batch, rec: model(batch[0].to(device)))
    if "loss" in scores:
        def run(batch):
            images, target = batch
            return F.log_softmax(model(images.to(device)).float(), dim=-1), target.to(device)
        report.loss, report.base_loss, report.loss_kind = measure_loss_scores(solvers, list(batches), run)
    return report
