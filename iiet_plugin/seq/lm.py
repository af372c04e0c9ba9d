"""``iiet_lm``: fairseq's pre-norm Transformer language model with ODE layers.

Same sizes, embeddings, adaptive input/softmax and parameter names as fairseq's
``transformer_lm``; the solver is chosen by ``--ode-solver`` (euler, rk2, rk4, pc, iie).
"""
from contextlib import ExitStack
from dataclasses import make_dataclass

from fairseq.models import ARCH_CONFIG_REGISTRY, register_model, register_model_architecture
from fairseq.models.transformer_lm import (
    TransformerLanguageModel,
    TransformerLanguageModelConfig,
    base_lm_architecture,
    transformer_lm_gpt2_medium,
    transformer_lm_gpt2_small,
)
from fairseq.modules import AdaptiveInput, CharacterTokenEmbedder
from fairseq.utils import safe_getattr
from omegaconf import OmegaConf, open_dict

from .config_values import check_config_values, parse_character_filters, parse_int_list
from .decoder import ODETransformerDecoder
from .options import check_cli_args, check_schedule_use, ode_defaults, ode_fields, schedule_fields
from ..ode.stack import PlanMembers
from ..ode.errors import ConfigError

IIETLanguageModelConfig = make_dataclass(
    "IIETLanguageModelConfig",
    [(name, typ, f) for name, (typ, f) in ode_fields("").items()] + schedule_fields(),
    bases=(TransformerLanguageModelConfig,),
)
IIETLanguageModelConfig.__module__ = __name__
IIETLanguageModelConfig.__doc__ = "transformer_lm's options plus the ODE solver options."


def _model_default(args, name):
    """``args.name``, else the config's default (argparse namespaces built by fairseq's
    ``parse_args_and_arch`` omit options that were not given)."""
    return safe_getattr(args, name, IIETLanguageModelConfig.__dataclass_fields__[name].default)


def _input_embedding(args, task):
    """Token embeddings as ``transformer_lm`` builds them (plain, adaptive or character)."""
    if args.character_embeddings:
        return CharacterTokenEmbedder(
            task.source_dictionary, parse_character_filters(args.character_filters),
            _model_default(args, "character_embedding_dim"), args.decoder_embed_dim,
            _model_default(args, "char_embedder_highway_layers"),
        )
    if args.adaptive_input:
        return AdaptiveInput(
            len(task.source_dictionary), task.source_dictionary.pad(), args.decoder_input_dim,
            args.adaptive_input_factor, args.decoder_embed_dim,
            parse_int_list(args.adaptive_input_cutoff, "adaptive_input_cutoff"),
            args.quant_noise_pq, args.quant_noise_pq_block_size,
        )
    return TransformerLanguageModel.build_embedding(args, task.source_dictionary, args.decoder_input_dim)


@register_model("iiet_lm", dataclass=IIETLanguageModelConfig)
class IIETLanguageModel(PlanMembers, TransformerLanguageModel):
    """Decoder-only IIET (or RK2/RK4/PCformer/vanilla) language model."""

    @classmethod
    def build_model(cls, args, task):
        check_config_values(args)  # before any builder: no config string reaches eval()
        check_schedule_use(args, ("",))
        with open_dict(args) if OmegaConf.is_config(args) else ExitStack():
            args.decoder_normalize_before = True  # ODE layers are pre-norm, as transformer_lm's presets
            if args.decoder_layers_to_keep:
                args.decoder_layers = len(args.decoder_layers_to_keep.split(","))
            if safe_getattr(args, "max_target_positions", None) is None:
                args.max_target_positions = safe_getattr(args, "tokens_per_sample", 1024)
        if args.tie_adaptive_weights and not args.adaptive_input:
            raise ConfigError("tie_adaptive_weights requires adaptive_input")
        embed_tokens = _input_embedding(args, task)
        decoder = ODETransformerDecoder(args, task.target_dictionary, embed_tokens, no_encoder_attn=True)
        return cls(decoder)

    # the decoder's plan interface (PlanMembers), as on the timm models
    def solvers(self):
        return self.decoder.solvers()


def _ode_lm_defaults(args):
    ode_defaults(args)
    args.iie_start_update = safe_getattr(args, "iie_start_update", 0)
    args.kv_cache_mode = safe_getattr(args, "kv_cache_mode", "per_iter")


def iiet_lm_own_arch(args):
    """``--arch iiet_lm``: the dataclass defaults; checks the options while fairseq parses them."""
    check_cli_args(args, ("",))


# fairseq registers a no-op architecture function under a dataclass model's own name;
# ours also checks the options at parse time (before fairseq logs the whole config).
ARCH_CONFIG_REGISTRY["iiet_lm"] = iiet_lm_own_arch


def iiet_lm_base(args):
    """fairseq's ``transformer_lm`` sizes (512/2048, 6 layers, 8 heads), pre-norm.

    ``--arch iiet_lm`` itself takes these from the dataclass defaults (fairseq registers
    an architecture of the model's own name); presets below build on this function.
    """
    _ode_lm_defaults(args)
    base_lm_architecture(args)
    check_cli_args(args, ("",))


@register_model_architecture("iiet_lm", "iiet_lm_tiny")
def iiet_lm_tiny(args):
    """A CPU-sized model for tests and demos: 64-dim, 2 layers, 2 heads."""
    args.decoder_embed_dim = safe_getattr(args, "decoder_embed_dim", 64)
    args.decoder_ffn_embed_dim = safe_getattr(args, "decoder_ffn_embed_dim", 128)
    args.decoder_layers = safe_getattr(args, "decoder_layers", 2)
    args.decoder_attention_heads = safe_getattr(args, "decoder_attention_heads", 2)
    args.dropout = safe_getattr(args, "dropout", 0.1)
    iiet_lm_base(args)


@register_model_architecture("iiet_lm", "iiet_lm_gpt2_small")
def iiet_lm_gpt2_small(args):
    """fairseq's ``transformer_lm_gpt2_small`` sizes (1024/4096, 24 layers, 16 heads, gelu)."""
    _ode_lm_defaults(args)
    transformer_lm_gpt2_small(args)
    check_cli_args(args, ("",))


@register_model_architecture("iiet_lm", "iiet_lm_gpt2_medium")
def iiet_lm_gpt2_medium(args):
    """fairseq's ``transformer_lm_gpt2_medium`` sizes (1280/5120, 36 layers, 20 heads, gelu)."""
    _ode_lm_defaults(args)
    transformer_lm_gpt2_medium(args)
    check_cli_args(args, ("",))
