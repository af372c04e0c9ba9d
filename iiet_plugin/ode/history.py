"""PCformer's layer history: the multistep corrector's memory across layers.

Entries: ``h_0`` = the embedding (raw), then one entry per processed layer, each
LayerNormed.  Layer ``t`` (0-based) mixes the entries ``0..t+1`` with row ``t`` of a
learnable lower-triangular matrix: ``W`` for the corrector input, ``Wc`` for the
layer output.  Rows start as the uniform average ``1 / (t + 2)``.
"""
from typing import List

import torch
from torch import Tensor, nn


class PCHistory(nn.Module):
    """Parameters of the history of one stack: ``W``, ``Wc`` and the LayerNorms.

    stage_norms  ``order`` LayerNorms shared by all layers (``F_j = StageNorm_j(L(z))``)
    pred_norms   per layer, applied to the predictor result ``P`` before it is stored
    corr_norms   per layer, applied to the corrector result ``C`` that replaces ``P``
    """

    def __init__(self, num_layers: int, dim: int, order: int, eps: float = 1e-5):
        super().__init__()
        self.num_layers = num_layers
        self.order = order
        self.stage_norms = nn.ModuleList([nn.LayerNorm(dim, eps=eps) for _ in range(order)])
        self.pred_norms = nn.ModuleList([nn.LayerNorm(dim, eps=eps) for _ in range(num_layers)])
        self.corr_norms = nn.ModuleList([nn.LayerNorm(dim, eps=eps) for _ in range(num_layers)])
        rows = torch.arange(num_layers).unsqueeze(1)
        cols = torch.arange(num_layers + 1).unsqueeze(0)
        mask = (cols <= rows + 1).float()
        uniform = mask / mask.sum(dim=1, keepdim=True)
        self.register_buffer("mask", mask, persistent=False)
        self.weight = nn.Parameter(uniform.clone())
        self.corrector_weight = nn.Parameter(uniform.clone())

    def start(self, x: Tensor) -> "PCState":
        return PCState(self, [x])

    def mix(self, entries: List[Tensor], layer: int, corrector_output: bool) -> Tensor:
        """``sum_{j <= layer + 1} M[layer, j] * entries[j]`` with ``M = Wc`` or ``W``."""
        matrix = self.corrector_weight if corrector_output else self.weight
        row = (matrix * self.mask)[layer]
        out = row[0] * entries[0]
        for j in range(1, layer + 2):
            out = out + row[j] * entries[j]
        return out


class PCState:
    """The history entries of one forward pass (per position, so incremental steps need no cache)."""

    def __init__(self, params: PCHistory, entries: List[Tensor]):
        self.params = params
        self.entries = entries

    def add_prediction(self, layer: int, prediction: Tensor) -> None:
        if len(self.entries) != layer + 1:
            raise RuntimeError(f"PC history holds {len(self.entries)} entries at layer {layer}; layers must run in order")
        self.entries.append(self.params.pred_norms[layer](prediction))

    def replace_with_correction(self, layer: int, correction: Tensor) -> None:
        self.entries[layer + 1] = self.params.corr_norms[layer](correction)

    def corrector_input(self, layer: int) -> Tensor:
        return self.params.mix(self.entries, layer, corrector_output=False)

    def layer_output(self, layer: int) -> Tensor:
        return self.params.mix(self.entries, layer, corrector_output=True)

    def stage_norm(self, k: int, x: Tensor) -> Tensor:
        return self.params.stage_norms[k](x)
