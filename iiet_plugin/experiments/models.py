"""The models a study or benchmark compares, as the core's options (``iiet_plugin.ode.OPTIONS``
names), turned into each host's flags, with layer evaluations counted by the core.

Besides the solver options a compared model may change how it is trained:

- ``depth_multiplier``: vanilla with k times the layers, i.e. about the training FLOPs of a
  model that evaluates each layer k times (IIET r = k - 1) -- the compute-matched baseline;
- ``start_fraction``: the paper's two-stage recipe, vanilla updates first and the IIET
  iterations from ``iie_start_update = start_fraction x budget`` on;
- ``init_from``: continue from another compared model's trained checkpoint (same seed and
  rate) for the driver's ``--continue-budget`` more updates, e.g. IIET from a trained vanilla;
- ``warmup_updates``: the learning-rate warm-up of this model instead of the task's (fairseq
  tasks: ``--warmup-updates``; inverse-sqrt schedule, lr_t = lr * min(t / w, sqrt(w / t)), so a
  longer warm-up w also keeps the rate higher later -- compare with vanilla at the same w);
- ``decoder_options``: translation only, the decoder's own options (``options`` are then the
  encoder's); None: the same solver on both sides.  ``iiet-r2-encoder`` is the form the ODE
  Transformer and PCformer MT releases take (the ODE block in the encoder, a vanilla decoder).
  ``iiet-r2-decoder-relaxed`` damps the decoder's iterations, ``y_i = w (y + G(y_{i-1})) +
  (1 - w) y_{i-1}`` with w = 0.5: the ablation for a decoder whose iterates oscillate (the
  valid loss when every layer stops after iteration 0, 1, 2 goes down, up, down).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from ..ode import ODEConfig, build_stack, evaluations

Options = Dict[str, object]


@dataclass(frozen=True)
class ModelSpec:
    """A compared model: a label and the ODE options that make it."""
    name: str
    options: Options = field(default_factory=dict)
    depth_multiplier: int = 1
    start_fraction: float = 0.0
    init_from: Optional[str] = None  # a MODEL_CHOICES key
    warmup_updates: int = 0  # 0: the task's warm-up
    decoder_options: Optional[Options] = None  # translation: the decoder's options (None: ``options``)

    def side_options(self, side: str) -> Options:
        """The options of one side of an encoder-decoder model (``"encoder"`` or ``"decoder"``);
        a single-stack model's are ``options``."""
        if side == "decoder" and self.decoder_options is not None:
            return self.decoder_options
        return self.options

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

MODEL_CHOICES: Dict[str, ModelSpec] = {
    "vanilla": VANILLA,
    "vanilla-x2": ModelSpec("vanilla, 2x layers (FLOPs of IIET r=1)", VANILLA.options, depth_multiplier=2),
    "vanilla-x3": ModelSpec("vanilla, 3x layers (FLOPs of IIET r=2)", VANILLA.options, depth_multiplier=3),
    "rk2": RK2,
    "rk4": RK4,
    "pc": PC,
    "iiet-r1": iiet(1),
    "iiet-r2": iiet(2),
    "iiet-r2-relaxed": ModelSpec("IIET r=2, relaxation 0.5", dict(iiet(2).options, iie_relaxation=0.5)),
    "iiet-r2-dropout-per-layer": ModelSpec("IIET r=2, dropout masks per layer",
                                           dict(iiet(2).options, ode_dropout_masks="per_layer")),
    "iiet-r2-recipe": ModelSpec("IIET r=2, paper recipe (iterations from 50% of updates)", iiet(2).options,
                                start_fraction=0.5),
    "vanilla-warmup-300": ModelSpec("vanilla, warm-up 300 updates", VANILLA.options, warmup_updates=300),
    "vanilla-x3-warmup-300": ModelSpec("vanilla, 3x layers, warm-up 300 updates", VANILLA.options,
                                       depth_multiplier=3, warmup_updates=300),
    "iiet-r2-warmup-300": ModelSpec("IIET r=2, warm-up 300 updates", iiet(2).options, warmup_updates=300),
    "iiet-r2-recipe-warmup-300": ModelSpec("IIET r=2, paper recipe, warm-up 300 updates", iiet(2).options,
                                           start_fraction=0.5, warmup_updates=300),
    "iiet-r2-encoder": ModelSpec("IIET r=2 in the encoder only (vanilla decoder)", iiet(2).options,
                                 decoder_options=VANILLA.options),
    "iiet-r2-decoder": ModelSpec("IIET r=2 in the decoder only (vanilla encoder)", VANILLA.options,
                                 decoder_options=iiet(2).options),
    "iiet-r2-decoder-relaxed": ModelSpec("IIET r=2 in the decoder only, relaxation 0.5 (vanilla encoder)",
                                         VANILLA.options, decoder_options=dict(iiet(2).options, iie_relaxation=0.5)),
    "vanilla-continued": ModelSpec("vanilla, continued", VANILLA.options, init_from="vanilla"),
    "iiet-r2-from-vanilla": ModelSpec("IIET r=2 from trained vanilla", iiet(2).options, init_from="vanilla"),
    "vanilla-warmup-300-continued": ModelSpec("vanilla, warm-up 300 updates, continued", VANILLA.options,
                                              init_from="vanilla-warmup-300", warmup_updates=300),
    "iiet-r2-from-vanilla-warmup-300": ModelSpec("IIET r=2 from trained vanilla, warm-up 300 updates",
                                                 iiet(2).options, init_from="vanilla-warmup-300", warmup_updates=300),
}
"""``iiet-study --models`` keys.  The default study is ``vanilla,rk2,pc,iiet-r2`` (STUDY_MODELS)."""


def choose_models(text: str) -> List[ModelSpec]:
    """``"vanilla,iiet-r2"`` -> the specs, in that order; a ConfigError names unknown keys and
    a continued model whose starting model is not in the list."""
    from ..ode.errors import ConfigError
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in MODEL_CHOICES]
    if unknown or not keys:
        raise ConfigError(f"--models: unknown {', '.join(unknown) or 'empty list'}; allowed: {', '.join(MODEL_CHOICES)}")
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--models: a model is named twice in {text!r}")
    for k in keys:
        start = MODEL_CHOICES[k].init_from
        if start and start not in keys:
            raise ConfigError(f"--models: {k} continues from {start}, which must be in the list too")
    return [MODEL_CHOICES[k] for k in keys]


def model_key(model: ModelSpec) -> str:
    for key, spec in MODEL_CHOICES.items():
        if spec == model:
            return key
    return model.slug
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


def model_evaluations(model: ModelSpec, num_layers: int, side: str = "encoder") -> int:
    """Layer evaluations per forward of ``model`` on a ``num_layers``-layer task (its depth
    multiplier applied); translation: of one side's stack (``side_options``)."""
    return layer_evaluations(model.side_options(side), num_layers * model.depth_multiplier)


def layer_evaluations(options: Options, num_layers: int) -> int:
    """Layer evaluations per forward of a ``num_layers`` stack with these options (the core's
    solvers count them: vanilla 1 per layer, RK k, PC predictor order + 1, IIET r + 1)."""
    _, solvers = build_stack(ODEConfig.from_options(options), num_layers, dim=4)
    return evaluations(solvers)
