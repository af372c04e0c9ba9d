"""fairseq self-attention with one key/value cache per evaluation slot.

An ODE layer evaluates the same attention module several times per decoding step; past
positions were attended, in training, at each evaluation's own representation, so exact
incremental decoding keeps one cache per evaluation (``slot``).  Slot 0 uses fairseq's
own key, so a vanilla layer's cache is unchanged; ``reorder_incremental_state`` (beam
search) reorders every slot.  Parameters are fairseq's ``MultiheadAttention``'s.
"""
from typing import Dict, Optional

from fairseq.modules import MultiheadAttention
from torch import Tensor

IncrementalState = Optional[Dict[str, Dict[str, Optional[Tensor]]]]


class SlottedMultiheadAttention(MultiheadAttention):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slot = 0
        self.num_slots = 1  # slots used so far: what reordering must visit

    def use_slot(self, slot: int) -> None:
        self.slot = slot
        if slot >= self.num_slots:
            self.num_slots = slot + 1

    def _state_key(self) -> str:
        return "attn_state" if self.slot == 0 else f"attn_state_slot{self.slot}"

    def _get_input_buffer(self, incremental_state: IncrementalState) -> Dict[str, Optional[Tensor]]:
        result = self.get_incremental_state(incremental_state, self._state_key())
        return result if result is not None else {}

    def _set_input_buffer(self, incremental_state: IncrementalState, buffer: Dict[str, Optional[Tensor]]):
        return self.set_incremental_state(incremental_state, self._state_key(), buffer)

    def reorder_incremental_state(self, incremental_state: IncrementalState, new_order: Tensor):
        current = self.slot
        try:
            for slot in range(self.num_slots):
                self.slot = slot
                incremental_state = super().reorder_incremental_state(incremental_state, new_order)
        finally:
            self.slot = current
        return incremental_state
