"""Optional recording of every evaluation of every layer (used by IIAD's influence scores).

Solvers call ``record_input(layer, y)`` and ``record(layer, k, out)`` only when a
recorder is attached; with none attached the cost is one ``is None`` test per evaluation.
For IIET, ``outputs[layer][k]`` is the iterate ``y^(k)``; for RK/PC it is stage ``k``'s result.
"""
from typing import Dict, List

from torch import Tensor


class Recorder:
    def __init__(self, detach: bool = True):
        self.detach = detach
        self.inputs: Dict[int, Tensor] = {}
        self.outputs: Dict[int, List[Tensor]] = {}

    def _keep(self, t: Tensor) -> Tensor:
        return t.detach() if self.detach else t

    def record_input(self, layer: int, y: Tensor) -> None:
        self.inputs[layer] = self._keep(y)
        self.outputs[layer] = []

    def record(self, layer: int, k: int, out: Tensor) -> None:
        self.outputs[layer].append(self._keep(out))
