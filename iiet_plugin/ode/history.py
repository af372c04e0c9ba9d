"""The PC layer history of one forward pass, shared by the layers of a stack without changing
the host's layer-call signature (fairseq's layers, timm's ``Block``).

Entries: ``h_0`` (the stack input, given by layer 0) and one entry per layer that ran (the
PCformer solver appends its prediction, then replaces it by the corrected output); solvers
other than ``pc`` only read nothing from it.  Every layer of a stack holds a plain
(non-module) reference to the one ``LayerHistory`` of its stack.

A layer run again after the later layers (recomputation under gradient checkpointing) gets
a copy of the entries it saw the first time (``h_0 .. h_t``), so recomputing cannot extend
or disturb the history.  The entries of the last forward stay until the next one starts
(a recomputation in backward needs them); ``clear()`` drops them.
"""
from typing import List

from torch import Tensor


class LayerHistory:
    def __init__(self):
        self.entries: List[Tensor] = []

    def for_layer(self, layer_index: int, x: Tensor) -> List[Tensor]:
        """The history layer ``layer_index`` (0-based) runs with; layer 0 starts a new one with ``x``."""
        if layer_index == 0:
            self.entries = [x]
        if len(self.entries) > layer_index + 1:  # a recomputation: the entries as they were
            return self.entries[: layer_index + 1]
        return self.entries

    def clear(self) -> None:
        self.entries = []

    # a copy of a model (deepcopy, pickling: EMA weights, DDP) starts with an empty history
    def __deepcopy__(self, memo) -> "LayerHistory":
        return LayerHistory()

    def __getstate__(self):
        return {"entries": []}
