"""fairseq ``TransformerEncoder`` whose layers are ODE blocks."""
from fairseq.models.transformer import TransformerEncoder

from .layers import ODEEncoderLayer
from .stack import ODEStackMixin


class ODETransformerEncoder(ODEStackMixin, TransformerEncoder):
    def __init__(self, args, dictionary, embed_tokens, ode_args=None, prefix="encoder_"):
        super().__init__(args, dictionary, embed_tokens)
        self.init_ode_stack(ode_args if ode_args is not None else args, prefix, embed_tokens.embedding_dim)

    def build_encoder_layer(self, cfg):
        self.refuse_checkpointing(cfg)
        return ODEEncoderLayer(cfg)

    def forward_scriptable(self, *args, **kwargs):
        return self.ode_pass(super().forward_scriptable, *args, **kwargs)
