"""What every fairseq ODE stack (encoder or decoder) adds to fairseq's own: one solver per
layer, the PC history, the iteration plan, the two-stage schedule and the fingerprint of
the dictionary it was built with."""
import logging

import torch

from ..ode import IterationPlan, build_stack, plan_of, set_plan
from ..ode.stack import PlanMembers
from .checkpoints import dictionary_fingerprint, fingerprint_hex
from ..ode.history import LayerHistory
from .options import ode_config_from
from ..ode.errors import ConfigError

logger = logging.getLogger(__name__)


class ODEStackMixin(PlanMembers):
    """Mixed into fairseq's ``TransformerEncoder``/``TransformerDecoder`` subclasses."""

    def init_ode_stack(self, ode_args, prefix: str, dim: int) -> None:
        if getattr(self, "layerdrop", 0) > 0 or getattr(self, "decoder_layerdrop", 0) > 0 \
                or getattr(self, "encoder_layerdrop", 0) > 0:
            raise ConfigError(f"{prefix}layerdrop is not supported with ODE layers (the PC history and plans need every layer)")
        self.ode_cfg, solvers = build_stack(ode_config_from(ode_args, prefix), len(self.layers), dim, prefix)
        self.ode_context = LayerHistory()
        kv_mode = str(getattr(ode_args, "kv_cache_mode", "per_iter") or "per_iter")
        backend = getattr(ode_args, "compile_layers", None) or None
        for i, (layer, solver) in enumerate(zip(self.layers, solvers)):
            layer.attach(i, solver, self.ode_context, kv_mode)
            if self.ode_cfg.dropout_masks == "per_layer":
                layer.share_dropout_masks()
            if backend:
                layer.compile_ode_forward(str(backend))
        self.configured_plan = plan_of(solvers)
        self.iie_start_update = int(getattr(ode_args, "iie_start_update", 0) or 0)
        if self.iie_start_update < 0:
            raise ConfigError(f"iie_start_update must be >= 0, got {self.iie_start_update}")
        self.num_updates_seen = None  # set by the trainer through set_num_updates
        # saved with the weights: a checkpoint refuses a dictionary other than its own
        self.register_buffer("dictionary_fingerprint", dictionary_fingerprint(self.dictionary))

    def upgrade_state_dict_named(self, state_dict, name):
        """fairseq calls this before loading weights: compare the checkpoint's dictionary
        fingerprint with the one this stack was built from (``--data``'s dictionary)."""
        super().upgrade_state_dict_named(state_dict, name)
        key = f"{name}.dictionary_fingerprint" if name else "dictionary_fingerprint"
        mine = self.dictionary_fingerprint
        saved = state_dict.get(key)
        if saved is None:
            logger.warning("%s: the checkpoint has no dictionary fingerprint (written before the plugin recorded "
                           "one, or by fairseq's own model); cannot check that the dictionary (%d symbols) is the "
                           "one it was trained with", name or "model", len(self.dictionary))
            state_dict[key] = mine.detach().clone()
        elif not torch.equal(saved.to(mine.device, mine.dtype), mine):
            raise ConfigError(
                f"dictionary mismatch: the checkpoint's {name or 'model'} was trained with dictionary "
                f"{fingerprint_hex(saved)} but the data's dictionary ({len(self.dictionary)} symbols) is "
                f"{fingerprint_hex(mine)}; pass the data-bin whose dict.txt the model was trained with (--data)")
        return state_dict

    def solvers(self):
        return [layer.ode for layer in self.layers]

    def set_num_updates(self, num_updates):
        """Two-stage schedule: vanilla (r = 0) before ``iie_start_update``, the configured plan after.

        A model that was never told its update count (inference) runs the configured plan;
        in training mode the schedule starts at update 0.
        """
        self.num_updates_seen = num_updates
        if self.iie_start_update > 0:
            warm = num_updates < self.iie_start_update
            target = IterationPlan.uniform(0, len(self.layers)) if warm else self.configured_plan
            if target != self.plan():
                set_plan(self.solvers(), target)
                logger.info("IIET two-stage schedule: update %d, plan %s (%s)", num_updates, target,
                            "vanilla warm-up" if warm else "configured iterations")

    @staticmethod
    def refuse_checkpointing(cfg) -> None:
        if cfg.checkpoint_activations:
            raise ConfigError("checkpoint_activations is not supported with ODE layers yet")

    def ode_pass(self, forward, *args, **kwargs):
        """Run fairseq's own stack forward with the schedule synced and a fresh PC history."""
        if self.training and self.iie_start_update > 0 and self.num_updates_seen is None:
            self.set_num_updates(0)
        self.ode_context.clear()
        try:
            return forward(*args, **kwargs)
        finally:
            self.ode_context.clear()  # no recomputation in fairseq (checkpoint_activations refused)
