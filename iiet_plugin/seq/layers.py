"""fairseq's pre-norm decoder layer as an ODE block.

The layer keeps fairseq's parameters and names (``self_attn``, ``encoder_attn``,
``fc1``, ``fc2``, the LayerNorms), so vanilla checkpoints load; it adds a solver
(``ode``) and runs ``y' = solver(evaluate, y)`` with the stage function

    evaluate(z, base, slot) = ((base + a) + c) + f
        a = SelfAttn(LN(z))              (cache slot ``slot``)
        c = CrossAttn(LN(z + a))         (decoders with an encoder)
        f = FFN(LN(z + a + c))

i.e. ``base + G(z)`` with the additions in fairseq's order, so ``evaluate(y, y)`` is the
vanilla layer bit for bit; ``base = None`` returns the branch ``G(z) = (a + c) + f``.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase, TransformerEncoderLayerBase
from torch import Tensor

from ..ode import KV_CACHE_MODES, ODEBlockMixin, ODESolver, share_dropout_masks
from .attention import SlottedMultiheadAttention
from ..ode.history import LayerHistory
from ..ode.errors import ConfigError


def _add(base: Optional[Tensor], x: Tensor) -> Tensor:
    return x if base is None else base + x


class CompiledForward:
    """``compile_ode_forward(backend)``: run the layer's ODE forward (all its evaluations) as
    one ``torch.compile`` graph for full-sequence calls; the plugin's code has no graph break
    there (``torch._dynamo.explain``; fairseq's own decoder loop has one, at its padding check)."""

    _compiled_ode_forward = None

    def compile_ode_forward(self, backend: str) -> None:
        """Every layer is its own graph (TorchDynamo guards on the module), all of one code
        object, whose cache holds ``recompile_limit`` entries (default 8): each compiled layer
        raises the limit by two (a static and a dynamic-shape entry), so deep stacks and several
        models in one process do not hit it."""
        import torch._dynamo
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, 8) + 2
        self._compiled_ode_forward = torch.compile(self.ode_forward, backend=backend, fullgraph=True)

    def run_ode(self, x: Tensor, history: List[Tensor], incremental: bool) -> Tensor:
        if self._compiled_ode_forward is not None and not incremental:
            return self._compiled_ode_forward(x, history)
        return self.ode_forward(x, history)


@dataclass
class DecoderCall:
    """What one ``forward`` call of a decoder layer gives all its evaluations (set for the
    duration of the call): masks, the encoder output, the caches, and the attention to return."""
    encoder_out: Optional[Tensor]
    encoder_padding_mask: Optional[Tensor]
    incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]]
    cross_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]]
    self_attn_mask: Optional[Tensor]
    self_attn_padding_mask: Optional[Tensor]
    need_attn: bool
    need_head_weights: bool
    attn: Optional[Tensor] = None


@dataclass
class EncoderCall:
    """The masks one ``forward`` call of an encoder layer gives all its evaluations."""
    padding_mask: Optional[Tensor]
    attn_mask: Optional[Tensor]


class SharedDropoutSites:
    """``ode_dropout_masks=per_layer``: the layer's residual and activation dropout (fairseq's
    ``dropout_module``, used after attention, cross-attention and the FFN, and
    ``activation_dropout_module``) draw their masks once per layer forward (``ode.dropout``);
    attention-probability dropout (inside the attention module) stays per evaluation."""

    def share_dropout_masks(self) -> None:
        share_dropout_masks(self, {name: (getattr(self, name).p, False)
                                   for name in ("dropout_module", "activation_dropout_module")})


class ODEDecoderLayer(CompiledForward, SharedDropoutSites, ODEBlockMixin, TransformerDecoderLayerBase):
    """A decoder layer evaluated by an ODE solver; see the module docstring."""

    def __init__(self, cfg, no_encoder_attn=False, add_bias_kv=False, add_zero_attn=False):
        super().__init__(cfg, no_encoder_attn, add_bias_kv, add_zero_attn)
        if not self.normalize_before:
            raise ConfigError("ODE decoder layers are pre-norm: set decoder_normalize_before=True")
        if self.w_resid is not None:
            raise ConfigError("scale_resids is not supported by ODE layers (it rescales the residual path)")
        if self.cross_self_attention:
            raise ConfigError("cross_self_attention is not supported by ODE layers")
        self.layer_index = 0
        self.kv_cache_mode = "per_iter"
        self.ode: Optional[ODESolver] = None
        self.ode_context: Optional[LayerHistory] = None
        self._call: Optional[DecoderCall] = None

    def build_self_attention(self, embed_dim, cfg, add_bias_kv=False, add_zero_attn=False):
        return SlottedMultiheadAttention(
            embed_dim,
            cfg.decoder.attention_heads,
            dropout=cfg.attention_dropout,
            add_bias_kv=add_bias_kv,
            add_zero_attn=add_zero_attn,
            self_attention=True,
            q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size,
            xformers_att_config=cfg.decoder.xformers_att_config,
        )

    def attach(self, layer_index: int, solver: ODESolver, context: LayerHistory, kv_cache_mode: str) -> None:
        if kv_cache_mode not in KV_CACHE_MODES:
            raise ConfigError(f"kv_cache_mode: unknown value {kv_cache_mode!r}; allowed values: {', '.join(KV_CACHE_MODES)}")
        self.layer_index = layer_index
        self.ode = solver
        self.ode_context = context
        self.kv_cache_mode = kv_cache_mode

    # -- the stage function -------------------------------------------------------------
    def _self_attention(self, h: Tensor, slot: int) -> Tensor:
        call = self._call
        incremental_state = call.incremental_state
        shared = self.kv_cache_mode == "shared_final" and incremental_state is not None
        self.self_attn.use_slot(0 if shared else slot)
        snapshot = None
        if shared and slot < self.ode.num_evaluations() - 1:
            # approximate mode: earlier evaluations read the final evaluation's cache
            # (plus their own current key) and leave it untouched
            snapshot = dict(self.self_attn._get_input_buffer(incremental_state))
        a, _ = self.self_attn(
            query=h, key=h, value=h,
            key_padding_mask=call.self_attn_padding_mask,
            incremental_state=incremental_state,
            need_weights=False,
            attn_mask=call.self_attn_mask,
        )
        if snapshot is not None:
            self.self_attn._set_input_buffer(incremental_state, snapshot)
        if self.c_attn is not None:
            tgt_len, bsz = a.size(0), a.size(1)
            a = a.view(tgt_len, bsz, self.nh, self.head_dim)
            a = torch.einsum("tbhd,h->tbhd", a, self.c_attn)
            a = a.reshape(tgt_len, bsz, self.embed_dim)
        if self.attn_ln is not None:
            a = self.attn_ln(a)
        return self.dropout_module(a)

    def _cross_attention(self, h: Tensor) -> Tensor:
        call = self._call
        c, attn = self.encoder_attn(
            query=h,
            key=call.encoder_out,
            value=call.encoder_out,
            key_padding_mask=call.encoder_padding_mask,
            incremental_state=call.cross_state,
            static_kv=True,
            need_weights=call.need_attn or (not self.training and self.need_attn),
            need_head_weights=call.need_head_weights,
        )
        call.attn = attn
        return self.dropout_module(c)

    def _ffn(self, h: Tensor) -> Tensor:
        f = self.activation_fn(self.fc1(h))
        f = self.activation_dropout_module(f)
        if self.ffn_layernorm is not None:
            f = self.ffn_layernorm(f)
        f = self.fc2(f)
        return self.dropout_module(f)

    def evaluate(self, z: Tensor, base: Optional[Tensor], slot: int) -> Tensor:
        """``base + G(z)`` (``G(z)`` when ``base`` is None), additions in fairseq's order."""
        a = self._self_attention(self.self_attn_layer_norm(z), slot)
        h = z + a
        acc = h if base is z else _add(base, a)
        if self.encoder_attn is not None and self._call.encoder_out is not None:
            c = self._cross_attention(self.encoder_attn_layer_norm(h))
            h = h + c
            acc = h if base is z else acc + c
        f = self._ffn(self.final_layer_norm(h))
        return acc + f

    # -- fairseq's layer interface ------------------------------------------------------
    def forward(
        self,
        x,
        encoder_out: Optional[Tensor] = None,
        encoder_padding_mask: Optional[Tensor] = None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
        prev_self_attn_state: Optional[List[Tensor]] = None,
        prev_attn_state: Optional[List[Tensor]] = None,
        self_attn_mask: Optional[Tensor] = None,
        self_attn_padding_mask: Optional[Tensor] = None,
        need_attn: bool = False,
        need_head_weights: bool = False,
    ):
        if prev_self_attn_state is not None or prev_attn_state is not None:
            raise ConfigError("ODE decoder layers do not accept prev_self_attn_state/prev_attn_state (ONNX export path)")
        if need_head_weights:
            need_attn = True
        # Cross-attention keys/values depend only on the encoder output and the weights:
        # all evaluations of this layer share one static cache, also in full forwards.
        cross_state = incremental_state
        if cross_state is None and encoder_out is not None and self.ode.num_evaluations() > 1:
            cross_state = {}
        self._call = DecoderCall(encoder_out, encoder_padding_mask, incremental_state, cross_state, self_attn_mask,
                                 self_attn_padding_mask, need_attn, need_head_weights)
        try:
            x = self.run_ode(x, self.ode_context.for_layer(self.layer_index, x), incremental_state is not None)
            attn = self._call.attn
        finally:
            self._call = None
        return x, attn, None


class ODEEncoderLayer(CompiledForward, SharedDropoutSites, ODEBlockMixin, TransformerEncoderLayerBase):
    """fairseq's pre-norm encoder layer as an ODE block:

        evaluate(z, base, slot) = (base + a) + f,  a = SelfAttn(LN(z)),  f = FFN(LN(z + a))
    """

    def __init__(self, cfg):
        super().__init__(cfg)
        if not self.normalize_before:
            raise ConfigError("ODE encoder layers are pre-norm: set encoder_normalize_before=True")
        self.layer_index = 0
        self.ode: Optional[ODESolver] = None
        self.ode_context: Optional[LayerHistory] = None
        self._call: Optional[EncoderCall] = None

    def attach(self, layer_index: int, solver: ODESolver, context: LayerHistory, kv_cache_mode: str = "") -> None:
        self.layer_index = layer_index
        self.ode = solver
        self.ode_context = context

    def evaluate(self, z: Tensor, base: Optional[Tensor], slot: int) -> Tensor:
        """``base + G(z)`` (``G(z)`` when ``base`` is None), additions in fairseq's order."""
        h = self.self_attn_layer_norm(z)
        a, _ = self.self_attn(query=h, key=h, value=h, key_padding_mask=self._call.padding_mask,
                              need_weights=False, attn_mask=self._call.attn_mask)
        a = self.dropout_module(a)
        h = z + a
        acc = h if base is z else _add(base, a)
        f = self.activation_fn(self.fc1(self.final_layer_norm(h)))
        f = self.activation_dropout_module(f)
        f = self.dropout_module(self.fc2(f))
        return acc + f

    def forward(self, x, encoder_padding_mask: Optional[Tensor], attn_mask: Optional[Tensor] = None):
        if attn_mask is not None:  # fairseq's convention: 1 = masked
            attn_mask = attn_mask.masked_fill(attn_mask.to(torch.bool), -1e8 if x.dtype == torch.float32 else -1e4)
        if self.return_fc:
            raise ConfigError("return_fc is not supported by ODE encoder layers")
        self._call = EncoderCall(encoder_padding_mask, attn_mask)
        try:
            return self.run_ode(x, self.ode_context.for_layer(self.layer_index, x), False)
        finally:
            self._call = None
