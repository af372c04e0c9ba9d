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
also accepted as ``layer_iters``), ``pc_predictor``, ``iie_relaxation``.
"""
from functools import partial
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing

import timm
from timm.data import IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD
from timm.models import build_model_with_cfg, checkpoint, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models.vision_transformer import Block, VisionTransformer
from timm.models.vision_transformer import checkpoint_filter_fn as _vit_checkpoint_filter_fn

from ..ode import ConfigError, IterationPlan, ODEBlockMixin, ODEConfig, build_stack, evaluations, plan_of, set_plan

__all__ = ["IIETVisionTransformer", "IIETBlock"]


class IIETBlock(ODEBlockMixin, Block):
    """timm's pre-norm ``Block`` evaluated by ``ode`` (an ``ODESolver``)."""

    def __init__(self, *args, ode_solvers: Optional[List[nn.Module]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        if ode_solvers is None:
            raise ConfigError("IIETBlock needs the stack's solvers (ode_solvers)")
        if "depth" not in kwargs:  # the block's index; timm passes it to block_fn since 1.0.23
            raise ConfigError("IIETBlock needs its index as depth=i: VisionTransformer passes it to block_fn "
                              f"from timm 1.0.23 on (installed: {timm.__version__}); upgrade timm")
        self.ode = ode_solvers[kwargs["depth"]]

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

    def forward(self, x: Tensor, history: Optional[List[Tensor]] = None) -> Tensor:
        if history is None:
            history = [x]  # a stand-alone block: its input opens the PC history
        return self.ode_forward(x, history)


class IIETVisionTransformer(VisionTransformer):
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
                        pc_predictor=pc_predictor, iie_relaxation=iie_relaxation)
        ode_cfg, solvers = build_stack(cfg, depth, embed_dim)  # raises early on bad options
        kwargs["block_fn"] = partial(IIETBlock, ode_solvers=solvers)
        super().__init__(*args, **kwargs)
        self.ode_cfg = ode_cfg

    # -- plans -----------------------------------------------------------------------
    @torch.jit.ignore
    def solvers(self) -> List[nn.Module]:
        return [blk.ode for blk in self.blocks]

    @torch.jit.ignore
    def plan(self) -> IterationPlan:
        return plan_of(self.solvers())

    @torch.jit.ignore
    def set_plan(self, plan) -> IterationPlan:
        """Run with another iteration plan (an int, ``"2,1,0"`` or a list), e.g. an IIAD plan."""
        return set_plan(self.solvers(), plan)

    @torch.jit.ignore
    def evaluations(self) -> int:
        return evaluations(self.solvers())

    # -- forward -----------------------------------------------------------------------
    def _embed(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        x = self._pos_embed(x)
        x = self.patch_drop(x)
        return self.norm_pre(x)

    @torch.jit.unused
    def _checkpointed_block(self, blk: nn.Module, x: Tensor, history: List[Tensor]) -> Tensor:
        """Gradient checkpointing; recomputation must not extend the shared history twice,
        so the block runs on a copy and the one entry it adds (PC) is adopted afterwards."""
        def run(inp: Tensor, *entries: Tensor) -> Tuple[Tensor, ...]:
            local = list(entries)
            out = blk(inp, local)
            return (out,) + tuple(local[len(entries):])
        out, *added = checkpoint(run, x, *history)
        history.extend(added)
        return out

    @torch.jit.unused
    def _check_no_mask(self, attn_mask: Optional[Tensor], is_causal: bool) -> None:
        # under torch.fx the defaults arrive as proxies; the traced graph has no mask either
        if not is_fx_symbolic_tracing() and (attn_mask is not None or is_causal):
            raise ConfigError("attn_mask/is_causal: masked attention is not supported by iiet_vit models")

    def forward_features(self, x: Tensor, attn_mask: Optional[Tensor] = None, is_causal: bool = False) -> Tensor:
        if not torch.jit.is_scripting():
            self._check_no_mask(attn_mask, is_causal)
        x = self._embed(x)
        history: List[Tensor] = [x]
        for blk in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = self._checkpointed_block(blk, x, history)
            else:
                x = blk(x, history)
        return self.norm(x)

    def forward_intermediates(
            self,
            x: Tensor,
            indices: Optional[Union[int, List[int]]] = None,
            return_prefix_tokens: bool = False,
            norm: bool = False,
            stop_early: bool = False,
            output_fmt: str = "NCHW",
            intermediates_only: bool = False,
            output_dict: bool = False,
            attn_mask: Optional[Tensor] = None,
            is_causal: bool = False,
    ) -> Union[List[Tensor], Tuple[Tensor, List[Tensor]], Dict[str, Any]]:
        """Block outputs at ``indices`` (timm's semantics); the final output equals ``forward_features``."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ConfigError(f"output_fmt: unknown value {output_fmt!r}; allowed values: NCHW, NLC")
        self._check_no_mask(attn_mask, is_causal)
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        batch, _, height, width = x.shape
        x = self._embed(x)
        history: List[Tensor] = [x]
        taken: List[Tensor] = []
        last = max_index if stop_early else len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            if i > last:
                break
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = self._checkpointed_block(blk, x, history)
            else:
                x = blk(x, history)
            if i in take_indices:
                taken.append(self.norm(x) if norm else x)
        prefix = [t[:, : self.num_prefix_tokens] for t in taken] if self.num_prefix_tokens else None
        spatial = [t[:, self.num_prefix_tokens:] for t in taken]
        if output_fmt == "NCHW":
            grid_h, grid_w = self.patch_embed.dynamic_feat_size((height, width))
            spatial = [t.reshape(batch, grid_h, grid_w, -1).permute(0, 3, 1, 2).contiguous() for t in spatial]
        if output_dict:
            result: Dict[str, Any] = {"image_intermediates": spatial}
            if prefix is not None and return_prefix_tokens:
                result["image_intermediates_prefix"] = prefix
            if not intermediates_only:
                result["image_features"] = self.norm(x)
            return result
        if return_prefix_tokens and prefix is not None:
            spatial = list(zip(spatial, prefix))
        if intermediates_only:
            return spatial
        return self.norm(x), spatial


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
    f"iiet_vit_tiny.{_VANILLA_TAG}": _vanilla(f"vit_tiny_patch16_224.{_VANILLA_TAG}"),
    f"iiet_vit_small.{_VANILLA_TAG}": _vanilla(f"vit_small_patch16_224.{_VANILLA_TAG}"),
    f"iiet_vit_base.{_VANILLA_TAG}": _vanilla(f"vit_base_patch16_224.{_VANILLA_TAG}"),
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
def iiet_vit_tiny(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """Alias of iiet_vit_tiny_patch16_224."""
    return _entry("iiet_vit_tiny", _TINY, pretrained, kwargs)


@register_model
def iiet_vit_small(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """Alias of iiet_vit_small_patch16_224."""
    return _entry("iiet_vit_small", _SMALL, pretrained, kwargs)


@register_model
def iiet_vit_base(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """Alias of iiet_vit_base_patch16_224."""
    return _entry("iiet_vit_base", _BASE, pretrained, kwargs)


@register_model
def iiet_vit_tiny_patch4_28(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """6-block IIET ViT for 28x28 grayscale images (Fashion-MNIST), patch 4, 10 classes."""
    return _entry("iiet_vit_tiny_patch4_28", _TINY_28, pretrained, kwargs)


@register_model
def iiet_vit_tiny_patch4_32(pretrained: bool = False, **kwargs) -> IIETVisionTransformer:
    """6-block IIET ViT for 32x32 RGB images (CIFAR-sized), patch 4, 10 classes."""
    return _entry("iiet_vit_tiny_patch4_32", _TINY_32, pretrained, kwargs)
