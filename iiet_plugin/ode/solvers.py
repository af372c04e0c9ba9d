"""The five per-layer solvers.  Each decides where its layer is evaluated and how the
evaluations combine; the host's stage function does the evaluating (see ``block.py``).

Protocol, all TorchScript-compatible::

    num_evaluations() -> int
    stage_input(k, y, outputs, history) -> (z, base)   evaluate(z, base, k) comes next
    stage_output(k, out, outputs, history) -> out       post-process evaluation k
    combine(y, outputs, history) -> y'

``history`` is the PC layer history (a list of tensors shared by the layers of one
stack, starting with the embedding); the other solvers ignore it.
"""
import abc
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from .coefficients import EMAWeights, build_weights, stage_scales
from .config import ODEConfig
from .errors import ConfigError


class ODESolver(nn.Module, metaclass=abc.ABCMeta):
    """Base of the solvers: the protocol above (``stage_output`` defaults to the identity)."""

    def __init__(self, layer_index: int):
        super().__init__()
        self.layer_index = layer_index

    @abc.abstractmethod
    def num_evaluations(self) -> int:
        """Evaluations of the layer per forward."""

    @abc.abstractmethod
    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """``(z, base)`` of evaluation ``k``."""

    def stage_output(self, k: int, out: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        return out

    @abc.abstractmethod
    def combine(self, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        """The layer output from its evaluations."""


class EulerSolver(ODESolver):
    """Vanilla layer, explicit Euler: ``y' = y + G(y)`` (one evaluation, ``evaluate(y, y)``)."""

    def num_evaluations(self) -> int:
        return 1

    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        return y, y

    def combine(self, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        return outputs[0]


class IIESolver(ODESolver):
    """IIET: iterative implicit Euler by fixed-point iteration with shared weights.

    ``y^(0) = y + G(y)`` (explicit Euler start), ``y^(i) = y + G(y^(i-1))`` for
    ``i = 1..r``; output ``y^(r)``.  With relaxation ``w < 1`` an iterate becomes
    ``w (y + G(y^(i-1))) + (1 - w) y^(i-1)``.  The fixed point solves the implicit Euler
    step ``y' = y + G(y')``.  ``r = 0`` is the vanilla layer bit for bit.
    """

    def __init__(self, layer_index: int, iters: int, relaxation: float = 1.0):
        super().__init__(layer_index)
        self.iters = int(iters)
        self.relaxation = float(relaxation)

    def num_evaluations(self) -> int:
        return self.iters + 1

    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        if k == 0:
            return y, y
        return outputs[-1], y

    def stage_output(self, k: int, out: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        if k == 0 or self.relaxation == 1.0:
            return out
        return self.relaxation * out + (1.0 - self.relaxation) * outputs[-1]

    def combine(self, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        return outputs[-1]

    def extra_repr(self) -> str:
        return f"layer={self.layer_index}, iters={self.iters}, relaxation={self.relaxation}"


class RKSolver(ODESolver):
    """ODE Transformer RK2/RK4 block.

    Stages ``F_1 = S(y)``, ``F_{k+1} = S(y + a_k F_k)`` (RK2: ``a = 1``; RK4:
    ``1/2, 1/2, 1``); output ``y + sum_i c_i F_i`` with ``c`` from the coefficient module.
    The stage function ``S`` is the residual branch ``G`` (``stage="branch"``, the paper's
    equations) or the whole layer ``L(z) = z + G(z)`` (``stage="layer"``, the release's code,
    where ``F_1 = L(y)`` already contains ``y``).  ``weights`` may be a module shared by every
    layer of the stack (one EMA alpha per stack).
    """

    def __init__(self, layer_index: int, order: int, coef: str, dim: int, stage: str = "branch",
                 weights: Optional[nn.Module] = None):
        super().__init__(layer_index)
        self.order = order
        self.whole_layer = stage == "layer"
        self.scales: List[float] = list(stage_scales(order))
        self.weights = weights if weights is not None else build_weights(order, coef, dim)

    def num_evaluations(self) -> int:
        return self.order

    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        z = y if k == 0 else y + self.scales[k - 1] * outputs[-1]
        return z, (z if self.whole_layer else None)

    def combine(self, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        return self.weights(y, outputs)


def _uniform_row(length: int) -> nn.Parameter:
    return nn.Parameter(torch.full((length,), 1.0 / length))


class PCSolver(ODESolver):
    """PCformer as released (DESIGN.md appendix), for layer ``t`` (0-based).

    Predictor (order ``n``): ``z_1 = y``; ``F_j = StageNorm_j(L(z_j))``; ``z_{j+1} = y + a_j F_j``;
    ``P = y + sum_j a(1-a)^(n-j) F_j``.  Corrector: append ``PredNorm_t(P)`` to the
    history ``h_0..h_t`` (``h_0`` the embedding), ``C = L(sum_j W[t, j] h_j)``, replace the
    entry by ``CorrNorm_t(C)``; output ``sum_j Wc[t, j] h_j``.  ``L(z) = evaluate(z, z)``;
    ``n + 1`` evaluations.  ``W[t]`` and ``Wc[t]`` (``t + 2`` entries, the rows of the
    lower-triangular matrices) start uniform; the ``n`` stage norms are shared by all layers.
    That is the LM release; its MT encoder has no stage norms (``stage_norms`` empty):
    ``F_j = L(z_j)`` raw.  ``predictor_weights`` may be shared by the stack (one alpha).
    """

    def __init__(self, layer_index: int, order: int, dim: int, stage_norms: nn.ModuleList, eps: float = 1e-5,
                 predictor_weights: Optional[EMAWeights] = None):
        super().__init__(layer_index)
        self.order = order
        self.scales: List[float] = list(stage_scales(order))
        self.predictor_weights = predictor_weights if predictor_weights is not None else EMAWeights(order)
        self.stage_norms = stage_norms  # the same module in every layer of the stack
        self.pred_norm = nn.LayerNorm(dim, eps=eps)
        self.corr_norm = nn.LayerNorm(dim, eps=eps)
        self.history_weight = _uniform_row(layer_index + 2)
        self.output_weight = _uniform_row(layer_index + 2)

    def num_evaluations(self) -> int:
        return self.order + 1

    def _mix(self, weights: Tensor, history: List[Tensor]) -> Tensor:
        if len(history) != self.layer_index + 2:
            raise RuntimeError("PC history out of step: layers must run in order, starting from the embedding")
        out = weights[0] * history[0]
        for j in range(1, len(history)):
            out = out + weights[j] * history[j]
        return out

    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        if k == 0:
            return y, y
        if k < self.order:
            z = y + self.scales[k - 1] * outputs[-1]
            return z, z
        history.append(self.pred_norm(self.predictor_weights(y, outputs)))
        c = self._mix(self.history_weight, history)
        return c, c

    def stage_output(self, k: int, out: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        for j, norm in enumerate(self.stage_norms):
            if j == k:
                return norm(out)
        return out  # the corrector's result

    def combine(self, y: Tensor, outputs: List[Tensor], history: List[Tensor]) -> Tensor:
        history[-1] = self.corr_norm(outputs[-1])
        return self._mix(self.output_weight, history)


def build_solver(cfg: ODEConfig, layer_index: int, dim: int, iters: int = 0,
                 stage_norms: Optional[nn.ModuleList] = None, shared_weights: Optional[nn.Module] = None) -> ODESolver:
    """The solver of layer ``layer_index`` for a validated ``cfg``; ``iters`` is its plan
    entry; ``stage_norms`` the PC stage norms shared by the stack (made here if None);
    ``shared_weights`` the stack's one EMA module (``ode_ema_sharing=stack``) or None."""
    if cfg.solver == "euler":
        return EulerSolver(layer_index)
    if cfg.solver == "iie":
        return IIESolver(layer_index, iters, cfg.iie_relaxation)
    if cfg.solver in ("rk2", "rk4"):
        return RKSolver(layer_index, int(cfg.solver[-1]), cfg.coef, dim, cfg.stage, shared_weights)
    if cfg.solver == "pc":
        order = int(cfg.pc_predictor[-1])
        if stage_norms is None:
            stage_norms = pc_stage_norms(order, dim) if cfg.pc_form == "lm" else nn.ModuleList()
        return PCSolver(layer_index, order, dim, stage_norms, predictor_weights=shared_weights)
    raise ConfigError(f"ode_solver: unknown value {cfg.solver!r}")


def pc_stage_norms(order: int, dim: int, eps: float = 1e-5) -> nn.ModuleList:
    return nn.ModuleList([nn.LayerNorm(dim, eps=eps) for _ in range(order)])
