"""A plain-PyTorch pre-norm Transformer stack on top of the core: the reference for tests
and the demo, and the smallest example of what a host adapter supplies (the stage)."""
from typing import List, Optional

import torch
from torch import Tensor, nn

from .block import ODEBlock
from .config import ODEConfig
from .recorder import Recorder
from .stack import attach_recorder, build_stack


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
        h = z + a
        f = self.mlp(self.norm2(h))
        if base is None:
            return a + f
        acc = h if base is z else base + a
        return acc + f


class ReferenceStack(nn.Module):
    """``N`` pre-norm layers, each run by its solver; a final LayerNorm."""

    def __init__(self, cfg: ODEConfig, num_layers: int = 2, dim: int = 16, heads: int = 2,
                 ffn_dim: int = 32, causal: bool = False):
        super().__init__()
        self.cfg, solvers = build_stack(cfg, num_layers, dim)
        self.layers = nn.ModuleList(ODEBlock(PreNormStage(dim, heads, ffn_dim, causal), s) for s in solvers)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, recorder: Optional[Recorder] = None) -> Tensor:
        """``recorder`` records this call only; one attached with ``attach_recorder`` stays."""
        if recorder is not None:
            attach_recorder(self, recorder)
        history: List[Tensor] = [x]
        for layer in self.layers:
            x = layer(x, history)
        if recorder is not None:
            attach_recorder(self, None)
        return self.norm(x)
