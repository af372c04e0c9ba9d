"""fairseq ``TransformerDecoder`` whose layers are ODE blocks."""
from fairseq.models.transformer import TransformerDecoder

from .layers import ODEDecoderLayer
from .stack import ODEStackMixin


class ODETransformerDecoder(ODEStackMixin, TransformerDecoder):
    """Reads ``<prefix>ode_*``, ``kv_cache_mode`` and ``iie_start_update`` from ``ode_args``
    (default: ``args``); everything else is fairseq's decoder."""

    def __init__(self, args, dictionary, embed_tokens, no_encoder_attn=False, output_projection=None,
                 ode_args=None, prefix=""):
        super().__init__(args, dictionary, embed_tokens, no_encoder_attn=no_encoder_attn,
                         output_projection=output_projection)
        self.init_ode_stack(ode_args if ode_args is not None else args, prefix, self.embed_dim)

    def build_decoder_layer(self, cfg, no_encoder_attn=False):
        self.refuse_checkpointing(cfg)
        return ODEDecoderLayer(cfg, no_encoder_attn)

    def extract_features_scriptable(self, *args, **kwargs):
        return self.ode_pass(super().extract_features_scriptable, *args, **kwargs)
