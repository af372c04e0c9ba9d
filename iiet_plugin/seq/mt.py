"""``iiet_transformer``: fairseq's encoder-decoder Transformer (pre-norm) with ODE layers,
separate solver settings for the encoder (``--encoder-ode-solver`` ...) and the decoder
(``--decoder-ode-solver`` ...).  Argparse-configured like fairseq's ``transformer``, so
checkpoints hold ``argparse.Namespace`` (allow-listed for weights-only loading)."""
import contextvars
from dataclasses import make_dataclass

from fairseq.dataclass import FairseqDataclass
from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import (
    TransformerModel,
    base_architecture,
    tiny_architecture,
    transformer_iwslt_de_en,
    transformer_wmt_en_de,
    transformer_wmt_en_de_big,
)
from fairseq.utils import safe_getattr

from .config_values import check_config_values
from .decoder import ODETransformerDecoder
from .encoder import ODETransformerEncoder
from .options import check_cli_args, check_schedule_use, ode_defaults, ode_fields, schedule_fields

IIETTransformerODEConfig = make_dataclass(
    "IIETTransformerODEConfig",
    [(name, typ, f) for prefix in ("encoder_", "decoder_") for name, (typ, f) in ode_fields(prefix).items()]
    + schedule_fields(),
    bases=(FairseqDataclass,),
)
IIETTransformerODEConfig.__module__ = __name__

# fairseq's TransformerModelBase.build_model hands build_encoder/build_decoder a
# TransformerConfig, which drops options it does not know; the ODE options travel here.
_ODE_ARGS = contextvars.ContextVar("iiet_transformer_ode_args", default=None)


@register_model("iiet_transformer")
class IIETTransformerModel(TransformerModel):
    """Encoder-decoder IIET (or RK2/RK4/PCformer/vanilla per side) translation model."""

    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        gen_parser_from_dataclass(parser, IIETTransformerODEConfig(), delete_default=True)

    @classmethod
    def build_model(cls, args, task):
        check_config_values(args)  # before any builder: no config string reaches eval()
        iiet_transformer(args)  # complete options of older checkpoints
        check_schedule_use(args, ("encoder_", "decoder_"))
        args.encoder_normalize_before = True  # ODE layers are pre-norm
        args.decoder_normalize_before = True
        token = _ODE_ARGS.set(args)
        try:
            return super().build_model(args, task)
        finally:
            _ODE_ARGS.reset(token)

    @classmethod
    def build_encoder(cls, cfg, src_dict, embed_tokens):
        return ODETransformerEncoder(cfg, src_dict, embed_tokens, ode_args=_ODE_ARGS.get(), prefix="encoder_")

    @classmethod
    def build_decoder(cls, cfg, tgt_dict, embed_tokens):
        return ODETransformerDecoder(cfg, tgt_dict, embed_tokens, no_encoder_attn=cfg.no_cross_attention,
                                     ode_args=_ODE_ARGS.get(), prefix="decoder_")


def _ode_mt_defaults(args):
    ode_defaults(args, "encoder_")
    ode_defaults(args, "decoder_")
    args.iie_start_update = safe_getattr(args, "iie_start_update", 0)
    args.kv_cache_mode = safe_getattr(args, "kv_cache_mode", "per_iter")
    args.encoder_normalize_before = safe_getattr(args, "encoder_normalize_before", True)
    args.decoder_normalize_before = safe_getattr(args, "decoder_normalize_before", True)


@register_model_architecture("iiet_transformer", "iiet_transformer")
def iiet_transformer(args):
    """fairseq's ``transformer`` (base) sizes, pre-norm."""
    _ode_mt_defaults(args)
    base_architecture(args)
    check_cli_args(args, ("encoder_", "decoder_"))


@register_model_architecture("iiet_transformer", "iiet_transformer_tiny")
def iiet_transformer_tiny(args):
    """fairseq's ``transformer_tiny`` sizes (64-dim, 2+2 layers, 2 heads), for tests and CPU demos."""
    _ode_mt_defaults(args)
    tiny_architecture(args)
    check_cli_args(args, ("encoder_", "decoder_"))


@register_model_architecture("iiet_transformer", "iiet_transformer_iwslt_de_en")
def iiet_transformer_iwslt_de_en(args):
    _ode_mt_defaults(args)
    transformer_iwslt_de_en(args)
    check_cli_args(args, ("encoder_", "decoder_"))


@register_model_architecture("iiet_transformer", "iiet_transformer_wmt_en_de")
def iiet_transformer_wmt_en_de(args):
    _ode_mt_defaults(args)
    transformer_wmt_en_de(args)
    check_cli_args(args, ("encoder_", "decoder_"))


@register_model_architecture("iiet_transformer", "iiet_transformer_wmt_en_de_big")
def iiet_transformer_wmt_en_de_big(args):
    _ode_mt_defaults(args)
    transformer_wmt_en_de_big(args)
    check_cli_args(args, ("encoder_", "decoder_"))
