"""The one driver of every ODE block, shared by all hosts.

A host block mixes in ``ODEBlockMixin``, owns a solver as ``self.ode`` and defines the
stage function as a method::

    evaluate(z, base, slot) = base + G(z)     (additions in the vanilla layer's order)
    evaluate(z, None, slot) = G(z)            (the branch alone)

``ode_forward(y, history)`` then runs::

    outputs = []
    for k in range(num_evals):
        z, base = solver.stage_input(k, y, outputs, history)
        outputs.append(solver.stage_output(k, evaluate(z, base, k), outputs, history))
    y' = solver.combine(y, outputs, history)

Everything here is TorchScript- and torch.fx-friendly: the stage is a method (a static
call), evaluation counts are Python ints from the plan, the PC history is a list of
tensors.  ``slot`` is the evaluation index, distinct per evaluation, for per-evaluation caches.
With ``ode_dropout_masks=per_layer`` the host's dropout sites are ``SharedMaskDropout`` modules
(``dropout.py``) whose masks the driver renews at the start (and drops at the end) of each forward.
"""
from typing import List, Optional

import torch
from torch import Tensor, nn

from .recorder import Recorder


class ODEBlockMixin:
    """Mixed into an ``nn.Module`` that has ``self.ode`` (an ``ODESolver``) and ``evaluate``."""

    ode_recorder: Optional[Recorder] = None
    ode_shared_dropouts: tuple = ()  # SharedMaskDropout sites (ode_dropout_masks=per_layer)

    def ode_forward(self, y: Tensor, history: List[Tensor]) -> Tensor:
        outputs: List[Tensor] = []
        if not torch.jit.is_scripting():
            self._record_input(y)
            self._new_dropout_masks()
        for k in range(self.ode.num_evaluations()):
            z, base = self.ode.stage_input(k, y, outputs, history)
            if not torch.jit.is_scripting():
                self._next_evaluation()
            out = self.ode.stage_output(k, self.evaluate(z, base, k), outputs, history)
            if not torch.jit.is_scripting():
                self._record(k, out)
            outputs.append(out)
        y_next = self.ode.combine(y, outputs, history)
        if not torch.jit.is_scripting():
            self._new_dropout_masks()  # autograd keeps what backward needs; the block keeps none
        return y_next

    @torch.jit.unused
    def _next_evaluation(self) -> None:
        for site in self.ode_shared_dropouts:
            site.next_evaluation()

    @torch.jit.unused
    def _new_dropout_masks(self) -> None:
        for site in self.ode_shared_dropouts:
            site.new_masks()

    @torch.jit.unused
    def _record_input(self, y: Tensor) -> None:
        if self.ode_recorder is not None:
            self.ode_recorder.record_input(self.ode.layer_index, y)

    @torch.jit.unused
    def _record(self, k: int, out: Tensor) -> None:
        if self.ode_recorder is not None:
            self.ode_recorder.record(self.ode.layer_index, k, out)


class ODEBlock(ODEBlockMixin, nn.Module):
    """A block around a stage *module* ``stage(z, base, slot)``; for hosts whose parameter
    names need not match a vanilla layer (tests, the reference stack)."""

    def __init__(self, stage: nn.Module, solver: nn.Module):
        super().__init__()
        self.stage = stage
        self.ode = solver

    def evaluate(self, z: Tensor, base: Optional[Tensor], slot: int) -> Tensor:
        return self.stage(z, base, slot)

    def forward(self, y: Tensor, history: Optional[List[Tensor]] = None) -> Tensor:
        return self.ode_forward(y, history if history is not None else [])
