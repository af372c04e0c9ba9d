"""Dropout masks drawn once per layer forward and shared by all its evaluations
(``ode_dropout_masks=per_layer``).

With the default (``per_evaluation``) each evaluation of a layer draws fresh masks, so IIET's
iteration ``y^(i) = y + G_{m_i}(y^(i-1))`` applies a different map ``G_{m_i}`` (the branch with
dropout masks ``m_i``) at every step and has no common fixed point during training.  With
``per_layer`` every evaluation uses the masks of the first, ``m_i = m``: the iteration runs
one map ``z -> y + G_m(z)`` and its fixed point is the implicit Euler step of that one
dropped-out network.  At inference (no dropout) both are the same model.

``SharedMaskDropout(p)``:  ``x -> x * m / (1 - p)``, ``m ~ Bernoulli(1 - p)`` elementwise, or one
draw per sample along dimension 0 (``per_sample=True``: stochastic depth).  The mask is drawn
at the first call after ``new_masks()`` (or when the input's shape, dtype or device differs)
and reused until the next ``new_masks()``; the ODE block calls it before and after each forward.
Masks come from torch's global generator, so gradient checkpointing (which restores the RNG
state) recomputes the same masks.  Identity in eval mode or for ``p = 0``.
"""
from typing import List

import torch
from torch import Tensor, nn

from .errors import ConfigError


class SharedMaskDropout(nn.Module):
    """Dropout (or per-sample drop path) with one mask per layer forward; see the module.

    A module a layer calls at several sites per evaluation (fairseq's ``dropout_module`` after
    attention, cross-attention and the FFN) keeps one mask per site, in call order: the
    ``n``-th call of every evaluation uses the ``n``-th mask (``next_evaluation()`` restarts
    the count; the driver calls it before each evaluation)."""

    def __init__(self, p: float, per_sample: bool = False):
        super().__init__()
        if not 0.0 <= float(p) < 1.0:
            raise ConfigError(f"dropout probability must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.per_sample = bool(per_sample)
        self.masks: List[Tensor] = []
        self.calls = 0

    def new_masks(self) -> None:
        self.masks, self.calls = [], 0

    def next_evaluation(self) -> None:
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        site, self.calls = self.calls, self.calls + 1
        shape = (x.shape[0],) + (1,) * (x.dim() - 1) if self.per_sample else tuple(x.shape)
        mask = self.masks[site] if site < len(self.masks) else None
        if mask is None or tuple(mask.shape) != shape or mask.dtype != x.dtype or mask.device != x.device:
            mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p).div_(1.0 - self.p)
            if site < len(self.masks):
                self.masks[site] = mask
            else:
                self.masks.append(mask)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}, per_sample={self.per_sample}, one mask per site and layer forward"


def share_dropout_masks(block: nn.Module, sites: dict) -> None:
    """Replace the block's dropout modules named in ``sites`` (``{"mlp.drop1": (p, per_sample)}``,
    attribute paths) by ``SharedMaskDropout``; sites with ``p = 0`` stay as they are.  The block
    (an ``ODEBlockMixin``) then renews their masks at each forward."""
    shared = []
    for path, (p, per_sample) in sites.items():
        if not p:
            continue
        parent, _, name = path.rpartition(".")
        owner = block.get_submodule(parent)  # "" is the block itself
        module = SharedMaskDropout(p, per_sample)
        setattr(owner, name, module)
        shared.append(module)
    object.__setattr__(block, "ode_shared_dropouts", tuple(shared))  # already registered at their paths

