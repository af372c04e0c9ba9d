"""Iteration plans: how many fixed-point refinements each layer runs.

A plan assigns every layer ``l`` a count ``r_l >= 0``.  An IIET layer with count ``r``
evaluates its layer function ``r + 1`` times (one explicit-Euler start plus ``r``
refinements), so a plan costs ``sum_l (r_l + 1)`` layer evaluations.  A uniform plan
``r_l = r`` is what an IIET teacher trains with; IIAD produces non-uniform plans
(E-IIET) that keep a prefix of each layer's iterations.
"""
import re
from dataclasses import dataclass
from typing import Sequence, Union

from .errors import ConfigError

PlanSpec = Union[int, str, Sequence[int], "IterationPlan"]


def _parse_count(value, option: str) -> int:
    """One iteration count: a non-negative integer (an int, or a string of one)."""
    count = None
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        count = int(value.strip())
    if count is None:
        raise ConfigError(
            f"{option}: entries must be non-negative integers (e.g. '2,2,1,0'), got {value!r}"
        )
    if count < 0:
        raise ConfigError(f"{option}: iteration counts must be >= 0, got {count}")
    return count


@dataclass(frozen=True)
class IterationPlan:
    """Per-layer refinement counts ``(r_1, ..., r_N)``."""

    iters: tuple

    @classmethod
    def parse(cls, spec: PlanSpec, num_layers: int, option: str = "layer_iters") -> "IterationPlan":
        """Build a plan from an int (uniform), a string ``"2,2,1,0"`` or a sequence.

        Raises ``ConfigError`` (a ``ValueError``) naming ``option`` when an entry is not a non-negative
        integer or when the number of entries differs from ``num_layers``.
        """
        if num_layers < 1:
            raise ConfigError(f"num_layers must be >= 1, got {num_layers}")
        if isinstance(spec, IterationPlan):
            counts = list(spec.iters)
        elif isinstance(spec, int) and not isinstance(spec, bool):
            return cls.uniform(_parse_count(spec, option), num_layers)
        elif isinstance(spec, str):
            text = spec.strip()
            if not text:
                raise ConfigError(f"{option}: empty plan; give one count or {num_layers} comma-separated counts")
            parts = text.replace(" ", "").split(",")
            if len(parts) == 1:
                return cls.uniform(_parse_count(parts[0], option), num_layers)
            counts = [_parse_count(p, option) for p in parts]
        else:
            counts = [_parse_count(p, option) for p in spec]
        counts = [_parse_count(c, option) for c in counts]
        if len(counts) != num_layers:
            raise ConfigError(
                f"{option}: the plan has {len(counts)} entries but the model has {num_layers} "
                f"layers; give exactly {num_layers} comma-separated counts or a single count"
            )
        return cls(tuple(counts))

    @classmethod
    def uniform(cls, r: int, num_layers: int) -> "IterationPlan":
        r = _parse_count(r, "iie_iters")
        return cls(tuple([r] * num_layers))

    @property
    def num_layers(self) -> int:
        return len(self.iters)

    @property
    def evaluations(self) -> int:
        """Layer evaluations per forward pass: ``sum_l (r_l + 1)``."""
        return sum(r + 1 for r in self.iters)

    def relative_cost(self, reference: Union[int, "IterationPlan"]) -> float:
        """Evaluations of this plan divided by those of ``reference``.

        ``reference`` is a uniform count (``0`` = vanilla) or another plan.
        """
        if not isinstance(reference, IterationPlan):
            reference = IterationPlan.uniform(reference, self.num_layers)
        return self.evaluations / reference.evaluations

    def to_string(self) -> str:
        return ",".join(str(r) for r in self.iters)

    def __str__(self) -> str:
        return self.to_string()
