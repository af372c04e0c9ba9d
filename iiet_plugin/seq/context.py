"""Per-forward state that an ODE stack threads through its layers without changing
fairseq's layer-call signature: the PCformer history and an optional recorder."""
from typing import Optional

from torch import Tensor

from ..ode import PCHistory, PCState, Recorder


class ODEForwardContext:
    """Owned by a decoder/encoder; every layer holds a plain (non-module) reference.

    ``begin()`` starts a forward pass; layer 0 opens the PC history with its input
    (the embedding), later layers reuse it.
    """

    def __init__(self, history_params: Optional[PCHistory] = None):
        self.history_params = history_params
        self.state: Optional[PCState] = None
        self.recorder: Optional[Recorder] = None

    def begin(self) -> None:
        self.state = None

    def history_for(self, layer_index: int, x: Tensor) -> Optional[PCState]:
        if self.history_params is None:
            return None
        if layer_index == 0:
            self.state = self.history_params.start(x)
        elif self.state is None:
            raise RuntimeError("PC history used before layer 0 ran; layers must run in order")
        return self.state

    def end(self) -> None:
        self.state = None
