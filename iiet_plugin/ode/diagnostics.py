"""Diagnostics of a trained ODE stack, host-independent (the hosts supply how to run a batch).

For layer ``l`` with input ``y`` and IIET iterates ``y^(0..r)``:

* fixed-point residual ``rho(l, i) = mean_tokens ||y^(i) - y^(i-1)|| / ||y^(i) - y||`` for
  ``i = 1..r``: the size of iteration ``i``'s correction relative to the whole update.  A
  converging fixed-point iteration has ``rho`` falling with ``i``; ``rho`` near 0 means the
  iteration changes nothing (it is the ``update`` influence score of IIAD, measured the same way);
* ``loss_by_iteration[i]``: the mean per-token loss when every layer stops after iteration
  ``min(i, r_l)`` (``i = 0`` is the explicit Euler start, i.e. the vanilla computation with
  the IIET weights);
* ``gradient_norms[l] = ||dL/d theta_l||_2`` over layer ``l``'s parameters for one loss.
"""
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .influence import measure_update_scores
from .plan import IterationPlan
from .solvers import IIESolver, ODESolver
from .stack import plan_of, set_plan


def iterates_to_fixed_point(solvers: Sequence[ODESolver]) -> bool:
    """Whether every layer of a stack is an IIET layer (its evaluations are fixed-point iterates)."""
    return all(isinstance(s, IIESolver) for s in solvers)


def fixed_point_residuals(model: nn.Module, solvers: Sequence[ODESolver], batches: Iterable,
                          run: Callable) -> List[List[float]]:
    """``rho[l][i - 1]`` (see the module) over ``batches``; ``run(batch, recorder)`` as for
    ``influence.measure_update_scores``.  Only IIET layers iterate toward a fixed point: for a
    stack with any other solver (RK / PC stages are no iterates) every row is empty."""
    if not iterates_to_fixed_point(solvers):
        return [[] for _ in solvers]
    return measure_update_scores(model, solvers, batches, run)


def loss_by_iteration(solvers: Sequence[ODESolver], batches: Iterable,
                      run: Callable[[object], Tuple[float, int]], last: Optional[float] = None) -> List[float]:
    """Mean loss when every layer stops after iteration ``i``, for ``i = 0 .. max r_l``.

    ``run(batch) -> (summed loss, counted tokens)`` runs the model under ``torch.no_grad``.
    ``last``: the full plan's mean loss when the caller has it already (not recomputed).
    The solvers' plan is restored afterwards."""
    batches = list(batches)
    full = plan_of(solvers)
    top = max(full.iters) if full.iters else 0
    losses = []
    try:
        with torch.no_grad():
            for i in range(top + 1):
                if i == top and last is not None:
                    losses.append(float(last))
                    break
                set_plan(solvers, IterationPlan(tuple(min(i, r) for r in full.iters)))
                total, count = 0.0, 0
                for batch in batches:
                    loss, n = run(batch)
                    total, count = total + float(loss), count + int(n)
                losses.append(total / max(count, 1))
    finally:
        set_plan(solvers, full)
    return losses


def gradient_norms(layers: Sequence[nn.Module]) -> List[float]:
    """``||grad||_2`` of each module's parameters (after a backward pass; 0 where none)."""
    norms = []
    for layer in layers:
        grads = [p.grad.detach().float().pow(2).sum() for p in layer.parameters() if p.grad is not None]
        norms.append(float(torch.stack(grads).sum().sqrt()) if grads else 0.0)
    return norms


def layer_gradient_norms(model: nn.Module, layers: Sequence[nn.Module],
                         loss_of: Callable[[], Tensor]) -> List[float]:
    """One backward pass of ``loss_of()`` from zeroed gradients; the gradient norm per layer.
    The model's gradients are zeroed again afterwards."""
    model.zero_grad(set_to_none=True)
    loss_of().backward()
    try:
        return gradient_norms(layers)
    finally:
        model.zero_grad(set_to_none=True)


def stack_diagnostics(model: nn.Module, stack: nn.Module, solvers: Sequence[ODESolver], layers: Sequence[nn.Module],
                      batches: Sequence, forward: Callable, summed_loss: Callable[[object], Tuple[Tensor, int]]) -> dict:
    """All three diagnostics of one stack over ``batches``: ``{"residual", "loss_by_iteration",
    "gradient_norms"}``.  ``stack`` is the module the residual recorder attaches to (it holds the
    ODE layers), ``forward(batch, recorder)`` runs the model for the residuals, and
    ``summed_loss(batch) -> (summed loss with its graph, counted items)``.  The full plan's loss
    is computed once, with the graph: its backward gives the gradient norms and its value is
    the last entry of ``loss_by_iteration``."""
    residual = fixed_point_residuals(stack, solvers, batches, forward)  # empty rows unless IIET
    total, count = 0.0, 0
    for batch in batches:
        loss, n = summed_loss(batch)
        total, count = total + loss, count + n
    full_plan_loss = total / max(count, 1)
    grads = layer_gradient_norms(model, layers, lambda: full_plan_loss)
    losses = loss_by_iteration(solvers, batches, lambda batch: tuple(float(x) for x in summed_loss(batch)),
                               last=float(full_plan_loss.detach()))
    return {"residual": residual, "loss_by_iteration": losses, "gradient_norms": grads}
