"""fairseq ``TransformerDecoder`` whose layers are ODE blocks (one solver per layer,
the PC history for ``pc``, the iteration plan and the two-stage schedule)."""
import logging

from fairseq.models.transformer import TransformerDecoder

from ..ode import IterationPlan, build_stack, evaluations, plan_of, set_plan
from .context import ODEForwardContext
from .layers import ODEDecoderLayer
from .options import ode_config_from

logger = logging.getLogger(__name__)


class ODETransformerDecoder(TransformerDecoder):
    """Reads ``<prefix>ode_*`` options, ``kv_cache_mode`` and ``iie_start_update`` from ``args``."""

    def __init__(self, args, dictionary, embed_tokens, no_encoder_attn=False, output_projection=None, prefix=""):
        super().__init__(args, dictionary, embed_tokens, no_encoder_attn=no_encoder_attn,
                         output_projection=output_projection)
        if getattr(args, "decoder_layerdrop", 0) > 0:
            raise ValueError("decoder_layerdrop is not supported with ODE layers (the PC history and plans need every layer)")
        self.ode_cfg, solvers, history = build_stack(ode_config_from(args, prefix), len(self.layers),
                                                    self.embed_dim, prefix)
        self.ode_history = history
        self.ode_context = ODEForwardContext(history)
        kv_mode = str(getattr(args, "kv_cache_mode", "per_iter") or "per_iter")
        for i, (layer, solver) in enumerate(zip(self.layers, solvers)):
            layer.attach(i, solver, self.ode_context, kv_mode)
        self.configured_plan = plan_of(solvers)
        self.iie_start_update = int(getattr(args, "iie_start_update", 0) or 0)
        if self.iie_start_update < 0:
            raise ValueError(f"iie_start_update must be >= 0, got {self.iie_start_update}")
        self.num_updates_seen = None  # set by the trainer through set_num_updates

    def build_decoder_layer(self, cfg, no_encoder_attn=False):
        if cfg.checkpoint_activations:
            raise ValueError("checkpoint_activations is not supported with ODE layers yet")
        return ODEDecoderLayer(cfg, no_encoder_attn)

    @property
    def solvers(self):
        return [layer.ode for layer in self.layers]

    @property
    def plan(self) -> IterationPlan:
        return plan_of(self.solvers)

    def set_plan(self, plan) -> IterationPlan:
        """Run with another iteration plan (an int, ``"2,1,0"`` or a list)."""
        return set_plan(self.solvers, plan)

    def evaluations(self) -> int:
        return evaluations(self.solvers)

    def set_num_updates(self, num_updates):
        """Two-stage schedule: vanilla (r = 0) before ``iie_start_update``, the configured plan after.

        A model that was never told its update count (inference) runs the configured plan;
        in training mode the schedule starts at update 0.
        """
        self.num_updates_seen = num_updates
        if self.iie_start_update > 0:
            warm = num_updates < self.iie_start_update
            target = IterationPlan.uniform(0, len(self.layers)) if warm else self.configured_plan
            if target != self.plan:
                set_plan(self.solvers, target)
                logger.info("IIET two-stage schedule: update %d, plan %s (%s)", num_updates, target,
                            "vanilla warm-up" if warm else "configured iterations")

    def extract_features_scriptable(self, *args, **kwargs):
        if self.training and self.iie_start_update > 0 and self.num_updates_seen is None:
            self.set_num_updates(0)
        self.ode_context.begin()
        try:
            return super().extract_features_scriptable(*args, **kwargs)
        finally:
            self.ode_context.end()
