"""The five per-layer solvers.  Each decides where the layer is evaluated and how the
evaluations combine; the host supplies the evaluation itself.

Stage function (supplied by the host, DESIGN.md section 4)::

    evaluate(z, base, slot) = base + G(z)     (additions in the vanilla layer's order)
    evaluate(z, None, slot) = G(z)            (the residual branch alone)

``slot`` is the index of the evaluation within the layer (0..num_evals-1); hosts key
per-evaluation caches (self-attention keys/values) on it.

Protocol (one layer, input ``y``)::

    outputs = []
    for k in range(num_evals):
        z, base = stage_input(k, y, outputs, history)
        outputs.append(stage_output(k, evaluate(z, base, k), outputs, history))
    y_next = combine(y, outputs, history)
"""
from typing import Callable, List, Optional, Tuple

from torch import Tensor, nn

from .coefficients import EMAWeights, build_weights, stage_scales
from .config import ODEConfig
from .history import PCState
from .recorder import Recorder

StageFn = Callable[[Tensor, Optional[Tensor], int], Tensor]


class ODESolver(nn.Module):
    """Base class: drives the protocol above for one layer."""

    def __init__(self, layer_index: int):
        super().__init__()
        self.layer_index = layer_index

    @property
    def num_evals(self) -> int:
        raise NotImplementedError

    def stage_input(self, k: int, y: Tensor, outputs: List[Tensor], history: Optional[PCState]) -> Tuple[Tensor, Optional[Tensor]]:
        raise NotImplementedError

    def stage_output(self, k: int, out: Tensor, outputs: List[Tensor], history: Optional[PCState]) -> Tensor:
        return out

    def combine(self, y: Tensor, outputs: List[Tensor], history: Optional[PCState]) -> Tensor:
        raise NotImplementedError

    def forward(self, evaluate: StageFn, y: Tensor, history: Optional[PCState] = None,
                recorder: Optional[Recorder] = None) -> Tensor:
        outputs: List[Tensor] = []
        if recorder is not None:
            recorder.record_input(self.layer_index, y)
        for k in range(self.num_evals):
            z, base = self.stage_input(k, y, outputs, history)
            out = self.stage_output(k, evaluate(z, base, k), outputs, history)
            if recorder is not None:
                recorder.record(self.layer_index, k, out)
            outputs.append(out)
        return self.combine(y, outputs, history)


class EulerSolver(ODESolver):
    """Vanilla layer, explicit Euler: ``y' = y + G(y)`` (one evaluation, ``evaluate(y, y)``)."""

    @property
    def num_evals(self) -> int:
        return 1

    def stage_input(self, k, y, outputs, history):
        return y, y

    def combine(self, y, outputs, history):
        return outputs[0]


class IIESolver(ODESolver):
    """IIET: iterative implicit Euler by fixed-point iteration with shared weights.

    ``y^(0) = y + G(y)`` (explicit Euler start), ``y^(i) = y + G(y^(i-1))`` for
    ``i = 1..r``; output ``y^(r)``.  With relaxation ``w < 1`` an iterate becomes
    ``w (y + G(y^(i-1))) + (1 - w) y^(i-1)``.  The fixed point solves the implicit
    Euler step ``y' = y + G(y')``.  ``r = 0`` is the vanilla layer bit for bit.
    """

    def __init__(self, layer_index: int, iters: int, relaxation: float = 1.0):
        super().__init__(layer_index)
        self.iters = int(iters)
        self.relaxation = float(relaxation)

    @property
    def num_evals(self) -> int:
        return self.iters + 1

    def stage_input(self, k, y, outputs, history):
        return (y if k == 0 else outputs[-1]), y

    def stage_output(self, k, out, outputs, history):
        if k == 0 or self.relaxation == 1.0:
            return out
        w = self.relaxation
        return w * out + (1.0 - w) * outputs[-1]

    def combine(self, y, outputs, history):
        return outputs[-1]

    def extra_repr(self) -> str:
        return f"layer={self.layer_index}, iters={self.iters}, relaxation={self.relaxation}"


class RKSolver(ODESolver):
    """ODE Transformer RK2/RK4 block.

    Branches ``F_1 = G(y)``, ``F_{k+1} = G(y + a_k F_k)`` (RK2: ``a = 1``; RK4:
    ``1/2, 1/2, 1``); output ``y + sum_i c_i F_i`` with ``c`` from the coefficient module.
    """

    def __init__(self, layer_index: int, order: int, coef: str, dim: int):
        super().__init__(layer_index)
        self.order = order
        self.scales = tuple(stage_scales(order))
        self.weights = build_weights(order, coef, dim)

    @property
    def num_evals(self) -> int:
        return self.order

    def stage_input(self, k, y, outputs, history):
        if k == 0:
            return y, None
        return y + self.scales[k - 1] * outputs[-1], None

    def combine(self, y, outputs, history):
        return self.weights(y, outputs)


class PCSolver(ODESolver):
    """PCformer as released (DESIGN.md appendix).

    Predictor (order ``n``): ``z_1 = y``; ``F_j = StageNorm_j(L(z_j))``; ``z_{j+1} = y + a_j F_j``;
    ``P = y + sum_j a(1-a)^(n-j) F_j``.  Corrector: store ``PredNorm(P)`` in the history,
    ``C = L(sum_j W[t, j] h_j)``, replace the entry by ``LayerNorm_t(C)``; output
    ``sum_j Wc[t, j] h_j``.  ``L(z) = evaluate(z, z)``; ``n + 1`` evaluations.
    """

    def __init__(self, layer_index: int, order: int):
        super().__init__(layer_index)
        self.order = order
        self.scales = tuple(stage_scales(order))
        self.predictor_weights = EMAWeights(order)

    @property
    def num_evals(self) -> int:
        return self.order + 1

    def _require(self, history):
        if history is None:
            raise RuntimeError("the pc solver needs the stack's PC history (PCHistory.start(x))")
        return history

    def stage_input(self, k, y, outputs, history):
        history = self._require(history)
        if k == 0:
            return y, y
        if k < self.order:
            z = y + self.scales[k - 1] * outputs[-1]
            return z, z
        history.add_prediction(self.layer_index, self.predictor_weights(y, outputs))
        c = history.corrector_input(self.layer_index)
        return c, c

    def stage_output(self, k, out, outputs, history):
        if k < self.order:
            return self._require(history).stage_norm(k, out)
        return out

    def combine(self, y, outputs, history):
        history = self._require(history)
        history.replace_with_correction(self.layer_index, outputs[-1])
        return history.layer_output(self.layer_index)


def build_solver(cfg: ODEConfig, layer_index: int, dim: int, iters: int = 0) -> ODESolver:
    """The solver of layer ``layer_index`` for a validated ``cfg``; ``iters`` is its plan entry."""
    if cfg.solver == "euler":
        return EulerSolver(layer_index)
    if cfg.solver == "iie":
        return IIESolver(layer_index, iters, cfg.iie_relaxation)
    if cfg.solver in ("rk2", "rk4"):
        return RKSolver(layer_index, int(cfg.solver[-1]), cfg.coef, dim)
    if cfg.solver == "pc":
        return PCSolver(layer_index, int(cfg.pc_predictor[-1]))
    raise ValueError(f"ode_solver: unknown value {cfg.solver!r}")
