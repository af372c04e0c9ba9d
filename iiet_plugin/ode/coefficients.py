"""Combination weights of the Runge-Kutta solvers (ODE Transformer, PCformer predictor).

Every module here maps the layer input ``y`` and the stage branches ``F_1..F_n`` to
``y + sum_i c_i F_i``; they differ only in where ``c_i`` comes from.
"""
from typing import List, Sequence

import torch
from torch import Tensor, nn
from .errors import ConfigError

RK2_STANDARD = (0.5, 0.5)
RK4_STANDARD = (1.0 / 6.0, 2.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0)
# Stage inputs of the classical schemes: stage k starts at y + STAGE_SCALE[k] * F_{k}.
RK2_STAGE_SCALES = (1.0,)
RK4_STAGE_SCALES = (0.5, 0.5, 1.0)


def stage_scales(order: int) -> Sequence[float]:
    """``a_k`` with stage ``k + 1`` evaluated at ``y + a_k F_k`` (RK2: y+F1; RK4: y+F1/2, y+F2/2, y+F3)."""
    return {2: RK2_STAGE_SCALES, 4: RK4_STAGE_SCALES}[order]


class FixedWeights(nn.Module):
    """``y + sum_i c_i F_i`` with constant ``c`` (RK2 1/2,1/2; RK4 1/6,2/6,2/6,1/6)."""

    def __init__(self, weights: Sequence[float]):
        super().__init__()
        self.weights: List[float] = [float(w) for w in weights]

    def forward(self, y: Tensor, branches: List[Tensor]) -> Tensor:
        out = y
        for i in range(len(branches)):
            out = out + self.weights[i] * branches[i]
        return out


class GatedWeights(nn.Module):
    """RK2 with a per-token gate: ``g = sigmoid(W [F1; F2] + b)``, ``y + g F1 + (1 - g) F2``.

    ``W`` is xavier-initialised and ``b = 0``, so the gate starts near 1/2.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Linear(2 * dim, 1)
        nn.init.xavier_uniform_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def gate_value(self, f1: Tensor, f2: Tensor) -> Tensor:
        return torch.sigmoid(self.gate(torch.cat([f1, f2], dim=-1)))

    def forward(self, y: Tensor, branches: List[Tensor]) -> Tensor:
        f1, f2 = branches[0], branches[1]
        g = self.gate_value(f1, f2)
        return y + g * f1 + (1.0 - g) * f2


class LearnableWeights(nn.Module):
    """``y + sum_i c_i F_i`` with one learnable scalar per stage, each initialised to 1."""

    def __init__(self, order: int):
        super().__init__()
        self.coefficients = nn.Parameter(torch.ones(order))

    def forward(self, y: Tensor, branches: List[Tensor]) -> Tensor:
        out = y
        for i, f in enumerate(branches):
            out = out + self.coefficients[i] * f
        return out


class EMAWeights(nn.Module):
    """Exponential-moving-average weights ``c_i = a (1 - a)^(n - i)``, ``i = 1..n``, ``a`` learnable (init 0.5).

    RK2: ``a(1-a) F1 + a F2``.  The weights need not sum to one.
    """

    def __init__(self, order: int, alpha: float = 0.5):
        super().__init__()
        self.order = order
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def weights(self) -> List[Tensor]:
        a = self.alpha
        return [a * (1.0 - a) ** (self.order - i) for i in range(1, self.order + 1)]

    def forward(self, y: Tensor, branches: List[Tensor]) -> Tensor:
        weights = self.weights()
        out = y
        for i in range(len(branches)):
            out = out + weights[i] * branches[i]
        return out


def build_weights(order: int, coef: str, dim: int) -> nn.Module:
    """The combination module for an RK scheme of ``order`` (2 or 4) with coefficient kind ``coef``."""
    if coef == "standard":
        return FixedWeights(RK2_STANDARD if order == 2 else RK4_STANDARD)
    if coef == "gated" and order == 2:
        return GatedWeights(dim)
    if coef == "learnable" and order == 2:
        return LearnableWeights(order)
    if coef == "ema":
        return EMAWeights(order)
    allowed = "standard, gated, learnable, ema" if order == 2 else "standard, ema"
    raise ConfigError(f"ode_coef: unknown value {coef!r} for rk{order}; allowed values: {allowed}")
