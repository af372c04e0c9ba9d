"""The models a study or benchmark compares, as the core's options (``iiet_plugin.ode.OPTIONS``
names), turned into each host's flags, with layer evaluations counted by the core."""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from ..ode import ODEConfig, build_stack, evaluations

Options = Dict[str, object]


@dataclass(frozen=True)
class ModelSpec:
    """A compared model: a label and the ODE options that make it."""
    name: str
    options: Options = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.name.lower()).strip("_")

    @property
    def solver(self) -> str:
        return str(self.options.get("ode_solver", "iie"))


VANILLA = ModelSpec("vanilla (euler)", dict(ode_solver="euler"))
RK2 = ModelSpec("ODE Transformer RK2 (gated)", dict(ode_solver="rk2", ode_coef="gated"))
RK4 = ModelSpec("ODE Transformer RK4", dict(ode_solver="rk4"))
PC = ModelSpec("PCformer (rk2 predictor)", dict(ode_solver="pc"))


def iiet(r: int) -> ModelSpec:
    return ModelSpec(f"IIET r={r}", dict(ode_solver="iie", iie_iters=r))


STUDY_MODELS: List[ModelSpec] = [VANILLA, RK2, PC, iiet(2)]
BENCH_MODELS: List[ModelSpec] = [VANILLA, ModelSpec("rk2 (gated)", RK2.options), ModelSpec("rk4", RK4.options),
                                 ModelSpec("pc (rk2 predictor)", PC.options)] + [
    ModelSpec(f"iie r={r}", iiet(r).options) for r in (1, 2, 3, 4)]


def flags(options: Options, prefixes: Sequence[str] = ("",)) -> List[str]:
    """Command-line flags: ``{"iie_iters": 2}`` -> ``["--iie-iters", "2"]`` per prefix
    (fairseq MT: ``("encoder-", "decoder-")``)."""
    out: List[str] = []
    for prefix in prefixes:
        for name, value in options.items():
            out += [f"--{prefix}{name.replace('_', '-')}", str(value)]
    return out


def layer_evaluations(options: Options, num_layers: int) -> int:
    """Layer evaluations per forward of a ``num_layers`` stack with these options (the core's
    solvers count them: vanilla 1 per layer, RK k, PC predictor order + 1, IIET r + 1)."""
    _, solvers = build_stack(ODEConfig.from_options(options), num_layers, dim=4)
    return evaluations(solvers)
