"""Per-forward state that an ODE stack threads through its layers without changing
fairseq's layer-call signature: the PCformer layer history."""
from typing import List

from torch import Tensor


class ODEForwardContext:
    """Owned by an encoder/decoder; every layer holds a plain (non-module) reference.

    ``begin()`` starts a forward pass; layer 0 opens the history with its input (the
    embedding), later layers extend it.  Solvers other than ``pc`` ignore it.
    """

    def __init__(self):
        self.history: List[Tensor] = []

    def begin(self) -> None:
        self.history = []

    def history_for(self, layer_index: int, x: Tensor) -> List[Tensor]:
        if layer_index == 0:
            self.history = [x]
        return self.history

    def end(self) -> None:
        self.history = []
