"""IIAD influence and plans for ``iiet_vit_*`` (the same core as the fairseq models)."""
from typing import Callable, Iterable, Optional, Sequence

import torch.nn.functional as F

from ..ode import InfluenceReport, measure_loss_scores, measure_update_scores, plan_of, student_plan
from ..ode.errors import ConfigError
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


def teacher_solvers(model):
    """The teacher's ODE solvers (an ``iiet_vit``), or ``ConfigError`` for any other model."""
    solvers = getattr(model, "solvers", None)
    if not callable(solvers):
        raise ConfigError(f"IIAD needs an IIET teacher (an iiet_vit_* model with ode_solver=iie); got "
                          f"{type(model).__name__}")
    return iie_solvers(solvers())


def choose_plan(teacher, calibration: Callable[[], Sequence], threshold: Optional[float] = None,
                explicit: Optional[str] = None, score: str = "update"):
    """The student's plan by the core's ``student_plan`` (the same checks as fairseq's):
    ``explicit``, or ``threshold`` on the teacher's ``score`` over ``calibration()`` batches.

    Returns (plan, report or None)."""
    return student_plan(teacher_solvers(teacher), threshold, explicit, score,
                        lambda kind: measure(teacher, calibration(), scores=(kind,)))
