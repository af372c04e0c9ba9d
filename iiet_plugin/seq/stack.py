"""What every fairseq ODE stack (encoder or decoder) adds to fairseq's own: one solver per
layer, the PC history, the iteration plan and the two-stage schedule."""
import logging

from ..ode import IterationPlan, build_stack, evaluations, plan_of, set_plan
from .context import ODEForwardContext
from .options import ode_config_from

logger = logging.getLogger(__name__)


class ODEStackMixin:
    """Mixed into fairseq's ``TransformerEncoder``/``TransformerDecoder`` subclasses."""

    def init_ode_stack(self, ode_args, prefix: str, dim: int) -> None:
        if getattr(self, "layerdrop", 0) > 0 or getattr(self, "decoder_layerdrop", 0) > 0 \
                or getattr(self, "encoder_layerdrop", 0) > 0:
            raise ValueError(f"{prefix}layerdrop is not supported with ODE layers (the PC history and plans need every layer)")
        self.ode_cfg, solvers = build_stack(ode_config_from(ode_args, prefix), len(self.layers), dim, prefix)
        self.ode_context = ODEForwardContext()
        kv_mode = str(getattr(ode_args, "kv_cache_mode", "per_iter") or "per_iter")
        for i, (layer, solver) in enumerate(zip(self.layers, solvers)):
            layer.attach(i, solver, self.ode_context, kv_mode)
        self.configured_plan = plan_of(solvers)
        self.iie_start_update = int(getattr(ode_args, "iie_start_update", 0) or 0)
        if self.iie_start_update < 0:
            raise ValueError(f"iie_start_update must be >= 0, got {self.iie_start_update}")
        self.num_updates_seen = None  # set by the trainer through set_num_updates

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

    @staticmethod
    def refuse_checkpointing(cfg) -> None:
        if cfg.checkpoint_activations:
            raise ValueError("checkpoint_activations is not supported with ODE layers yet")

    def ode_pass(self, forward, *args, **kwargs):
        """Run fairseq's own stack forward with the schedule synced and a fresh PC history."""
        if self.training and self.iie_start_update > 0 and self.num_updates_seen is None:
            self.set_num_updates(0)
        self.ode_context.begin()
        try:
            return forward(*args, **kwargs)
        finally:
            self.ode_context.end()
