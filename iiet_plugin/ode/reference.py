"""A plain-PyTorch pre-norm Transformer stack on top of the core: the reference for tests
and the demo, and the smallest example of what a host adapter supplies (the stage)."""
from typing import Optional

import torch
from torch import Tensor, nn

from .config import ODEConfig
from .recorder import Recorder
from .stack import build_stack


class PreNormStage(nn.Module):
    """``evaluate(z, base) = (base + a) + f`` with ``a = Attn(LN1(z))``, ``f = FFN(LN2(z + a))``.

    With ``base = z`` this is the vanilla pre-norm layer ``L(z)`` with the same rounding;
    with ``base = None`` it returns the branch ``G(z) = a + f``.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, causal: bool = False):
        super().__init__()
        self.causal = causal
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Linear(ffn_dim, dim))

    def forward(self, z: Tensor, base: Optional[Tensor], slot: int) -> Tensor:
        q = self.norm1(z)
        mask = None
        if self.causal:
            n = z.shape[1]
            mask = torch.triu(torch.full((n, n), float("-inf"), device=z.device, dtype=z.dtype), 1)
        a = self.attn(q, q, q, attn_mask=mask, need_weights=False)[0]
        f = self.mlp(self.norm2(z + a))
        if base is None:
            return a + f
        return (base + a) + f


class ReferenceLayer(nn.Module):
    def __init__(self, stage: PreNormStage, solver: nn.Module):
        super().__init__()
        self.stage = stage
        self.ode = solver

    def forward(self, x, history=None, recorder=None):
        return self.ode(self.stage, x, history, recorder)


class ReferenceStack(nn.Module):
    """``N`` pre-norm layers, each run by its solver; a final LayerNorm."""

    def __init__(self, cfg: ODEConfig, num_layers: int = 2, dim: int = 16, heads: int = 2,
                 ffn_dim: int = 32, causal: bool = False):
        super().__init__()
        self.cfg, solvers, self.pc_history = build_stack(cfg, num_layers, dim)
        self.layers = nn.ModuleList(
            ReferenceLayer(PreNormStage(dim, heads, ffn_dim, causal), s) for s in solvers
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, recorder: Optional[Recorder] = None) -> Tensor:
        history = self.pc_history.start(x) if self.pc_history is not None else None
        for layer in self.layers:
            x = layer(x, history, recorder)
        return self.norm(x)
