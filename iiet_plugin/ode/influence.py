"""IIAD, part 1 and 2: how much each IIET iteration matters, and the plan a threshold keeps.

Scores, for layer ``l`` and iteration ``i >= 1`` of a trained IIET model (iterates
``y^(0..r)`` of the layer input ``y``):

* ``update``: the relative size of the iteration's change, averaged over tokens,
  ``I(l, i) = mean_tokens ||y^(i) - y^(i-1)|| / ||y^(i) - y||`` (one pass over the data);
* ``loss``: the rise of the model's loss when layer ``l`` alone stops after iteration
  ``i - 1`` (all other layers keep their full plan), one pass per ``(l, i)``; with no
  targets, the KL divergence from the full model's output distribution is used.  A
  negative rise (dropping the iteration did not hurt) counts as influence 0.

A threshold ``tau`` keeps, per layer, the leading iterations whose score is ``>= tau``
(iterations are sequential, so a plan keeps a prefix): ``tau = 0`` keeps everything,
a ``tau`` above every score gives the vanilla cost.
"""
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .plan import IterationPlan
from .recorder import Recorder
from .solvers import IIESolver, ODESolver
from .stack import attach_recorder, plan_of, set_plan
from .errors import ConfigError

EPS = 1e-12


class UpdateInfluenceRecorder(Recorder):
    """Accumulates the ``update`` score while the model runs (keeps no iterates).

    ``token_mask`` (optional, ``True`` = count this position) is read from ``self.mask``;
    tensors are ``(..., dim)`` with the mask broadcasting over the leading dimensions.
    """

    def __init__(self, num_layers: int, max_iters: int):
        super().__init__(detach=True)
        self.sums = torch.zeros(num_layers, max_iters + 1, dtype=torch.float64)
        self.counts = torch.zeros(num_layers, max_iters + 1, dtype=torch.float64)
        self.mask: Optional[Tensor] = None
        self._input: Dict[int, Tensor] = {}
        self._prev: Dict[int, Tensor] = {}

    def record_input(self, layer: int, y: Tensor) -> None:
        self._input[layer] = y.detach()

    def record(self, layer: int, k: int, out: Tensor) -> None:
        out = out.detach()
        if k > 0:
            change = (out - self._prev[layer]).float().norm(dim=-1)
            total = (out - self._input[layer]).float().norm(dim=-1)
            ratio = change / (total + EPS)
            if self.mask is not None:
                mask = self.mask.to(ratio.device).expand_as(ratio)
                self.sums[layer, k] += ratio[mask].double().sum().cpu()
                self.counts[layer, k] += mask.sum().double().cpu()
            else:
                self.sums[layer, k] += ratio.double().sum().cpu()
                self.counts[layer, k] += ratio.numel()
        self._prev[layer] = out

    def scores(self) -> Tensor:
        """``[num_layers, max_iters]``: column ``i - 1`` holds iteration ``i``; NaN where unmeasured."""
        s = self.sums[:, 1:] / self.counts[:, 1:]
        return s.float()


@dataclass
class InfluenceReport:
    """Scores per layer and iteration (``scores[l][i-1]`` is iteration ``i``), with the teacher plan."""

    teacher_plan: IterationPlan
    update: Optional[List[List[float]]] = None
    loss: Optional[List[List[float]]] = None
    base_loss: Optional[float] = None
    loss_kind: str = "nll"
    plans: Dict[str, dict] = field(default_factory=dict)

    def scores(self, kind: str) -> List[List[float]]:
        table = getattr(self, kind, None) if kind in ("update", "loss") else None
        if table is None:
            raise ConfigError(f"iiad_score: {kind!r} was not measured; allowed values: "
                             + ", ".join(k for k in ("update", "loss") if getattr(self, k) is not None))
        return table

    def add_plan(self, kind: str, tau: float) -> IterationPlan:
        plan = plan_from_scores(self.scores(kind), tau, self.teacher_plan)
        self.plans[f"{kind}@{tau:g}"] = plan_summary(plan, self.teacher_plan)
        return plan

    def as_dict(self) -> dict:
        return {"teacher_plan": self.teacher_plan.to_string(), "update": self.update, "loss": self.loss,
                "base_loss": self.base_loss, "loss_kind": self.loss_kind, "plans": self.plans}


def plan_from_scores(scores: Sequence[Sequence[float]], tau: float, teacher_plan: IterationPlan) -> IterationPlan:
    """``r_l`` = the number of leading iterations of layer ``l`` with score ``>= tau``."""
    if tau < 0 or math.isnan(tau):
        raise ConfigError(f"iiad_threshold must be >= 0, got {tau}")
    if len(scores) != teacher_plan.num_layers:
        raise ConfigError(f"scores cover {len(scores)} layers but the teacher has {teacher_plan.num_layers}")
    counts = []
    for row, r_max in zip(scores, teacher_plan.iters):
        keep = 0
        for value in list(row)[:r_max]:
            if value is None or math.isnan(value) or value < tau:
                break
            keep += 1
        counts.append(keep)
    return IterationPlan(tuple(counts))


def plan_summary(plan: IterationPlan, teacher_plan: IterationPlan) -> dict:
    return {"plan": plan.to_string(), "evaluations": plan.evaluations,
            "cost_vs_teacher": plan.relative_cost(teacher_plan), "cost_vs_vanilla": plan.relative_cost(0)}


def measure_update_scores(model: torch.nn.Module, solvers: Sequence[ODESolver], batches: Iterable,
                          run: Callable[[object, UpdateInfluenceRecorder], None]) -> List[List[float]]:
    """``update`` scores over ``batches``.  ``run(batch, recorder)`` calls ``model`` on the
    batch; it may first set ``recorder.mask`` (``True`` = a real token, shaped like the
    hidden states without their last dimension) so padding is not counted."""
    plan = plan_of(solvers)
    recorder = UpdateInfluenceRecorder(len(solvers), max(plan.iters) if plan.iters else 0)
    attach_recorder(model, recorder)
    try:
        with torch.no_grad():
            for batch in batches:
                recorder.mask = None
                run(batch, recorder)
    finally:
        attach_recorder(model, None)
    table = recorder.scores()
    return [[float(table[l, i]) for i in range(r)] for l, r in enumerate(plan.iters)]


def measure_loss_scores(solvers: Sequence[ODESolver], batches: Sequence,
                        run: Callable[[object], Tuple[Tensor, Optional[Tensor]]]) -> Tuple[List[List[float]], float, str]:
    """``loss`` scores: for each ``(l, i)``, the mean rise of the per-token loss (NLL when
    ``run`` returns targets, else KL from the full model) when layer ``l`` stops after
    iteration ``i - 1``.  ``run(batch) -> (log_probs [N, V], targets [N] or None)`` over
    non-padding tokens.  Returns (scores, full-plan loss, "nll" or "kl")."""
    full = plan_of(solvers)
    with torch.no_grad():
        reference = [run(b) for b in batches]
        kind = "nll" if all(t is not None for _, t in reference) else "kl"

        def loss_of(outputs) -> float:
            total, count = 0.0, 0
            for (lp, tgt), (ref_lp, _) in zip(outputs, reference):
                if kind == "nll":
                    total += -lp.gather(-1, tgt.unsqueeze(-1)).sum().item()
                else:
                    total += torch.sum(ref_lp.exp() * (ref_lp - lp)).item()
                count += lp.size(0)
            return total / max(count, 1)

        base = loss_of(reference)
        scores: List[List[float]] = []
        try:
            for layer, r in enumerate(full.iters):
                row = []
                for i in range(1, r + 1):
                    trial = list(full.iters)
                    trial[layer] = i - 1
                    set_plan(solvers, trial)
                    row.append(max(0.0, loss_of([run(b) for b in batches]) - base))
                scores.append(row)
        finally:
            set_plan(solvers, full)
    return scores, base, kind


def iie_solvers(solvers: Sequence[ODESolver]) -> List[IIESolver]:
    bad = [s for s in solvers if not isinstance(s, IIESolver)]
    if bad or not solvers:
        raise ConfigError("IIAD needs an IIET teacher (ode_solver=iie); "
                          + (f"layer {bad[0].layer_index} uses {type(bad[0]).__name__}" if bad else "it has no ODE layers"))
    return list(solvers)


IIAD_SCORES = ("update", "loss")


def check_student_request(threshold: Optional[float], explicit: Optional[str], score: str) -> None:
    """Validate the IIAD options before any measuring: exactly one of ``iiad_threshold``
    (a number >= 0) and ``iiad_plan``, and a known ``iiad_score``."""
    if str(score) not in IIAD_SCORES:
        raise ConfigError(f"iiad_score: unknown value {score!r}; allowed values: {', '.join(IIAD_SCORES)}")
    if explicit not in (None, "") and threshold is not None:
        raise ConfigError("iiad_plan and iiad_threshold: give one of them, not both")
    if explicit in (None, "") and threshold is None:
        raise ConfigError("IIAD needs iiad_threshold TAU (a number >= 0) or iiad_plan '2,2,1,0,...'")
    if threshold is not None and not (float(threshold) >= 0):  # also refuses NaN
        raise ConfigError(f"iiad_threshold must be a number >= 0, got {threshold!r}")


def student_plan(teacher_solvers: Sequence[ODESolver], threshold: Optional[float] = None,
                 explicit: Optional[str] = None, score: str = "update",
                 measure: Optional[Callable[[str], "InfluenceReport"]] = None
                 ) -> Tuple[IterationPlan, Optional["InfluenceReport"]]:
    """IIAD's student plan for a teacher: every host's one entry point.

    The teacher must be IIET in every layer.  ``explicit`` (``"2,1,0"``) must be a prefix
    plan of the teacher's (``r_l <= r_l^teacher``: a student keeps leading iterations);
    otherwise ``measure(score)`` returns the teacher's ``InfluenceReport`` and the plan
    keeps, per layer, the leading iterations with influence ``>= threshold``.
    Returns ``(plan, report or None)``; every check runs before ``measure``.
    """
    check_student_request(threshold, explicit, score)
    teacher_plan = plan_of(iie_solvers(teacher_solvers))
    if explicit not in (None, ""):
        plan = IterationPlan.parse(explicit, teacher_plan.num_layers, "iiad_plan")
        over = [l for l, (r, t) in enumerate(zip(plan.iters, teacher_plan.iters)) if r > t]
        if over:
            l = over[0]
            raise ConfigError(f"iiad_plan: layer {l} asks for {plan.iters[l]} iterations but the teacher runs "
                              f"{teacher_plan.iters[l]} (teacher plan {teacher_plan}); a student keeps a prefix "
                              "of the teacher's iterations")
        return plan, None
    if measure is None:
        raise ConfigError("iiad_threshold needs influence scores: pass measure")
    report = measure(str(score))
    return report.add_plan(str(score), float(threshold)), report
