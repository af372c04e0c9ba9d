"""IIET Vision Transformers for timm (``iiet_vit_*``).

timm's ``VisionTransformer`` with every ``Block`` run by an ODE solver from the shared
core.  A block keeps timm's parameter names (``norm1``, ``attn``, ``ls1``, ``norm2``,
``mlp``, ``ls2``), so a ``vit_*`` state dict loads strictly into the matching
``iiet_vit_*``; its stage function is

    evaluate(z, base, slot) = (base + a) + f,
        a = DropPath(LS1(Attn(Norm1(z)))),  f = DropPath(LS2(Mlp(Norm2(z + a))))

i.e. ``base + G(z)`` in timm's addition order, so ``r = 0`` reproduces ``vit_*`` exactly.
Model kwargs choose the solver, by the core's option table (``iiet_plugin.ode.OPTIONS``,
the names and defaults of fairseq's fields): ``ode_solver`` (euler, rk2, rk4, pc, iie;
default iie), ``ode_coef``, ``iie_iters`` (default 1), ``iie_layer_iters`` (``"2,1,0,..."``;
also accepted as ``layer_iters``), ``pc_predictor``, ``iie_relaxation``, ``ode_stage``,
``ode_ema_sharing``, ``pc_form`` (the baselines' released forms), ``ode_dropout_masks``.
"""
from functools import partial
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

import timm
from timm.data import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from timm.models import (build_model_with_cfg, checkpoint, generate_default_cfgs, register_model,
                         register_model_deprecations)
from timm.models.vision_transformer import Block, VisionTransformer
from timm.models.vision_transformer import checkpoint_filter_fn as _vit_checkpoint_filter_fn

from ..ode.history import LayerHistory
from ..ode.stack import PlanMembers
from ..ode import ConfigError, IterationPlan, ODEBlockMixin, ODEConfig, build_stack, share_dropout_masks

__all__ = ["IIETVisionTransformer", "IIETBlock"]


class IIETBlock(ODEBlockMixin, Block):
    """timm's pre-norm ``Block`` evaluated by ``ode`` (an ``ODESolver``).

    Called as timm calls a block, ``blk(x)``: the PC layer history comes from the stack's
    ``LayerHistory`` (as in the fairseq layers), so timm's own ``forward_features``,
    ``forward_intermediates`` and gradient checkpointing run these blocks unchanged.
    TorchScript has no shared Python state: there the model passes the history as an argument.
    """

    def __init__(self, *args, ode_solvers: Optional[List[nn.Module]] = None,
                 ode_history: Optional[LayerHistory] = None, ode_dropout_masks: str = "per_evaluation", **kwargs):
        super().__init__(*args, **kwargs)
        if ode_solvers is None or ode_history is None:
            raise ConfigError("IIETBlock needs the stack's solvers and history (ode_solvers, ode_history)")
        if "depth" not in kwargs:  # the block's index; timm passes it to block_fn since 1.0.23
            raise ConfigError("IIETBlock needs its index as depth=i: VisionTransformer passes it to block_fn "
                              f"from timm 1.0.23 on (installed: {timm.__version__}); upgrade timm")
        self.ode = ode_solvers[kwargs["depth"]]
        object.__setattr__(self, "ode_history", ode_history)  # a plain reference, not a submodule
        if ode_dropout_masks == "per_layer":
            self.share_dropout_masks()

    def share_dropout_masks(self) -> None:
        """``ode_dropout_masks=per_layer``: projection and MLP dropout and drop path (per sample)
        draw their masks once per block forward (``ode.dropout``); attention-probability
        dropout (inside the fused attention) stays per evaluation."""
        sites = {path: (getattr(self.get_submodule(path), "p", 0.0), False)  # nn.Identity when p = 0
                 for path in ("attn.proj_drop", "mlp.drop1", "mlp.drop2")}
        sites.update({path: (getattr(self.get_submodule(path), "drop_prob", 0.0), True)
                      for path in ("drop_path1", "drop_path2")})
        share_dropout_masks(self, sites)

    def evaluate(self, z: Tensor, base: Optional[Tensor], slot: int) -> Tensor:
        """``base + G(z)`` (``G(z)`` when ``base`` is None), additions in timm's order."""
        a = self.drop_path1(self.ls1(self.attn(self.norm1(z))))
        h = z + a
        f = self.drop_path2(self.ls2(self.mlp(self.norm2(h))))
        if base is None:
            return a + f
        if base is z:
            return h + f
        return (base + a) + f

    @torch.jit.unused
    def _shared_history(self, x: Tensor) -> List[Tensor]:
        return self.ode_history.for_layer(self.ode.layer_index, x)

    def forward(self, x: Tensor, history: Optional[List[Tensor]] = None) -> Tensor:
        if history is None:
            history = self._shared_history(x)
        return self.ode_forward(x, history)


class IIETVisionTransformer(PlanMembers, VisionTransformer):
    """VisionTransformer whose blocks are ODE blocks; all timm features kept."""

    def __init__(
            self,
            *args,
            ode_solver: str = "iie",
            ode_coef: Optional[str] = None,
            iie_iters: int = 1,
            iie_layer_iters: Optional[Union[str, List[int]]] = None,
            pc_predictor: str = "rk2",
            iie_relaxation: float = 1.0,
            ode_stage: str = "branch",
            ode_ema_sharing: str = "layer",
            pc_form: str = "lm",
            ode_dropout_masks: str = "per_evaluation",
            layer_iters: Optional[Union[str, List[int]]] = None,
            **kwargs,
    ):
        """The ODE kwargs are the core's ``OPTIONS`` (same names and defaults as fairseq's
        fields); ``layer_iters`` is the earlier name of ``iie_layer_iters``."""
        depth = kwargs.get("depth", 12)
        embed_dim = kwargs.get("embed_dim", 768)
        if kwargs.get("block_fn") not in (None, IIETBlock):
            raise ConfigError("block_fn: iiet_vit models use IIETBlock")
        if layer_iters is not None:
            if iie_layer_iters is not None:
                raise ConfigError("iie_layer_iters and layer_iters (its earlier name): give one")
            iie_layer_iters = layer_iters
        if isinstance(iie_layer_iters, (list, tuple)):
            iie_layer_iters = IterationPlan.parse(list(iie_layer_iters), depth, "iie_layer_iters").to_string()
        cfg = ODEConfig(solver=ode_solver, coef=ode_coef, iters=iie_iters, layer_iters=iie_layer_iters,
                        pc_predictor=pc_predictor, iie_relaxation=iie_relaxation, stage=ode_stage,
                        ema_sharing=ode_ema_sharing, pc_form=pc_form, dropout_masks=ode_dropout_masks)
        ode_cfg, solvers = build_stack(cfg, depth, embed_dim)  # raises early on bad options
        history = LayerHistory()
        kwargs["block_fn"] = partial(IIETBlock, ode_solvers=solvers, ode_history=history,
                                     ode_dropout_masks=ode_cfg.dropout_masks)
        super().__init__(*args, **kwargs)
        self.ode_cfg = ode_cfg
        object.__setattr__(self, "ode_history", history)

    # -- plans: solvers(), plan(), set_plan(plan), evaluations() (PlanMembers) ---------
    @torch.jit.ignore
    def solvers(self) -> List[nn.Module]:
        return [blk.ode for blk in self.blocks]

    # -- forward -----------------------------------------------------------------------
    def _embed(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = self._pos_embed(x)
        x = self.patch_drop(x)
        return self.norm_pre(x)

    @torch.jit.unused
    def _check_no_mask(self, attn_mask: Optional[Tensor], is_causal: bool) -> None:
        # under torch.fx the defaults arrive as proxies; the traced graph has no mask either
        if not is_fx_symbolic_tracing() and (attn_mask is not None or is_causal):
            raise ConfigError("attn_mask/is_causal: masked attention is not supported by iiet_vit models")

    @torch.jit.unused
    def _checkpointed_blocks(self, x: Tensor) -> Tensor:
        """Gradient checkpointing with the PC history passed in and out of each checkpointed
        block as tensors: nothing outside the checkpoint is mutated inside it, which is what
        ``torch.compile`` needs (and recomputation cannot extend the history twice)."""
        history: List[Tensor] = [x]
        for blk in self.blocks:
            def run(inp: Tensor, *entries: Tensor, blk=blk) -> Tuple[Tensor, ...]:
                local = list(entries)
                out = blk(inp, local)
                return (out,) + tuple(local[len(entries):])
            x, *added = checkpoint(run, x, *history)
            history.extend(added)
        return x

    def forward_features(self, x: Tensor, attn_mask: Optional[Tensor] = None, is_causal: bool = False) -> Tensor:
        """timm's ``forward_features``: the blocks in order (each takes the PC history from the
        stack's ``LayerHistory``); with gradient checkpointing or under TorchScript the history
        is passed to each block explicitly."""
        x = self._embed(x)
        if torch.jit.is_scripting():
            history: List[Tensor] = [x]
            for blk in self.blocks:
                x = blk(x, history)
        else:
            self._check_no_mask(attn_mask, is_causal)
            x = self._checkpointed_blocks(x) if self.grad_checkpointing else self.blocks(x)
        return self.norm(x)

    def forward_intermediates(self, x: Tensor, *args, attn_mask: Optional[Tensor] = None, is_causal: bool = False,
                              **kwargs) -> Union[List[Tensor], Tuple[Tensor, List[Tensor]], Dict[str, Any]]:
        """timm's ``forward_intermediates`` (blocks run in order; the history follows them)."""
        self._check_no_mask(attn_mask, is_causal)
        return super().forward_intermediates(x, *args, **kwargs)


def checkpoint_filter_fn(state_dict: Dict[str, Tensor], model: IIETVisionTransformer, **kwargs) -> Dict[str, Tensor]:
    """Load timm ``vit_*`` (and original JAX/npz-converted) weights: timm's own ViT filter
    (pos-embed resizing, patch-embed adaptation) applies unchanged because the block
    parameter names are timm's."""
    return _vit_checkpoint_filter_fn(state_dict, model, **kwargs)


def _create_iiet_vit(variant: str, pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    out_indices = kwargs.pop("out_indices", 3)
    return build_model_with_cfg(
        IIETVisionTransformer,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        **kwargs,
    )


def _cfg(**kwargs) -> Dict[str, Any]:
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "fixed_input_size": True,
        "mean": IMAGENET_INCEPTION_MEAN,
        "std": IMAGENET_INCEPTION_STD,
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "mit",
        **kwargs,
    }


_SMALL_IMAGE = dict(mean=(0.5,), std=(0.5,), crop_pct=1.0, interpolation="bilinear", num_classes=10)

def _vanilla(vit_name: str) -> Dict[str, Any]:
    """``pretrained=True`` loads timm's vanilla ViT weights of the same size (with r = 0 an
    iiet_vit *is* that ViT): the same hub repository, license and preprocessing."""
    return _cfg(hf_hub_id=f"timm/{vit_name}", license="apache-2.0")


_VANILLA_TAG = "augreg_in21k_ft_in1k"  # timm's default weights of vit_{tiny,small,base}_patch16_224

default_cfgs = generate_default_cfgs({
    f"iiet_vit_tiny_patch16_224.{_VANILLA_TAG}": _vanilla(f"vit_tiny_patch16_224.{_VANILLA_TAG}"),
    f"iiet_vit_small_patch16_224.{_VANILLA_TAG}": _vanilla(f"vit_small_patch16_224.{_VANILLA_TAG}"),
    f"iiet_vit_base_patch16_224.{_VANILLA_TAG}": _vanilla(f"vit_base_patch16_224.{_VANILLA_TAG}"),
    "iiet_vit_tiny_patch4_28": _cfg(input_size=(1, 28, 28), **_SMALL_IMAGE),
    "iiet_vit_tiny_patch4_32": _cfg(input_size=(3, 32, 32), **dict(_SMALL_IMAGE, mean=(0.5, 0.5, 0.5),
                                                                    std=(0.5, 0.5, 0.5))),
})

_TINY = dict(patch_size=16, embed_dim=192, depth=12, num_heads=3)
_SMALL = dict(patch_size=16, embed_dim=384, depth=12, num_heads=6)
_BASE = dict(patch_size=16, embed_dim=768, depth=12, num_heads=12)
_TINY_28 = dict(img_size=28, in_chans=1, patch_size=4, embed_dim=192, depth=6, num_heads=3, num_classes=10)
_TINY_32 = dict(img_size=32, patch_size=4, embed_dim=192, depth=6, num_heads=3, num_classes=10)


def _entry(variant: str, sizes: Dict[str, Any], pretrained: bool, kwargs: Dict[str, Any]) -> IIETVisionTransformer:
    return _create_iiet_vit(variant, pretrained=pretrained, **dict(sizes, **kwargs))


@register_model
def iiet_vit_tiny_patch16_224(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """IIET ViT-Ti/16 (vit_tiny_patch16_224 sizes), r = 1 by default."""
    return _entry("iiet_vit_tiny_patch16_224", _TINY, pretrained, kwargs)


@register_model
def iiet_vit_small_patch16_224(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """IIET ViT-S/16 (vit_small_patch16_224 sizes), r = 1 by default."""
    return _entry("iiet_vit_small_patch16_224", _SMALL, pretrained, kwargs)


@register_model
def iiet_vit_base_patch16_224(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """IIET ViT-B/16 (vit_base_patch16_224 sizes), r = 1 by default."""
    return _entry("iiet_vit_base_patch16_224", _BASE, pretrained, kwargs)


@register_model
def iiet_vit_tiny_patch4_28(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """6-block IIET ViT for 28x28 grayscale images (Fashion-MNIST), patch 4, 10 classes."""
    return _entry("iiet_vit_tiny_patch4_28", _TINY_28, pretrained, kwargs)


@register_model
def iiet_vit_tiny_patch4_32(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """6-block IIET ViT for 32x32 RGB images (CIFAR-sized), patch 4, 10 classes."""
    return _entry("iiet_vit_tiny_patch4_32", _TINY_32, pretrained, kwargs)


# Short names, through timm's alias mechanism (a warning names the full model): one registered
# entrypoint per model, so list_models() shows each architecture once.
register_model_deprecations(__name__, {
    "iiet_vit_tiny": "iiet_vit_tiny_patch16_224",
    "iiet_vit_small": "iiet_vit_small_patch16_224",
    "iiet_vit_base": "iiet_vit_base_patch16_224",
})
