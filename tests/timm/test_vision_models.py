"""iiet_vit_* against the contract of timm's own model tests (forward, backward, cfgs,
features, intermediates, grad checkpointing, TorchScript, torch.fx) and vanilla ViT weights."""
import math

import pytest
import torch

import iiet_plugin  # noqa: F401  (registers the models)
import timm
from timm.layers import set_scriptable
from timm.models import FeatureInfo, get_notrace_functions, get_notrace_modules

SMALL = ["iiet_vit_tiny_patch4_28", "iiet_vit_tiny_patch4_32"]
ALL = sorted(timm.list_models("iiet*"))
SOLVERS = [dict(ode_solver="iie", iie_iters=2), dict(ode_solver="pc"), dict(ode_solver="rk2", ode_coef="gated"),
           dict(ode_solver="rk4"), dict(ode_solver="iie", iie_layer_iters="2,1,0,0,1,0")]
SOLVER_IDS = ["iie2", "pc", "rk2gated", "rk4", "plan"]


def _input(model, batch=2):
    return torch.randn(batch, *model.pretrained_cfg["input_size"])


def test_registered_and_listed():
    expected = {"iiet_vit_tiny_patch16_224", "iiet_vit_small_patch16_224", "iiet_vit_base_patch16_224", *SMALL}
    assert expected == set(ALL)  # each architecture once; the short names are aliases
    for name in ALL:
        assert timm.models.get_pretrained_cfg(name) is not None, name  # a default cfg keyed by its own name


@pytest.mark.parametrize("alias,full", [("iiet_vit_tiny", "iiet_vit_tiny_patch16_224"),
                                        ("iiet_vit_small", "iiet_vit_small_patch16_224"),
                                        ("iiet_vit_base", "iiet_vit_base_patch16_224")])
def test_short_names_are_timm_aliases(alias, full):
    assert timm.is_model(alias) and alias in timm.models._registry._deprecated_models
    with pytest.warns(UserWarning, match=f"Mapping deprecated model name {alias} to current {full}"):
        model = timm.create_model(alias, ode_solver="iie", iie_iters=2, depth=2)
    assert model.pretrained_cfg["architecture"] == full and model.plan().to_string() == "2,2"


@pytest.mark.parametrize("name", ALL)
def test_forward_default_size_and_cfg_names(name):
    model = timm.create_model(name).eval()
    x = _input(model, batch=1)  # one image keeps small/base cheap on the CPU
    with torch.no_grad():
        out = model(x)
    assert out.shape == (1, model.pretrained_cfg["num_classes"]) and not torch.isnan(out).any()
    state = model.state_dict()
    cfg = model.pretrained_cfg
    assert cfg["first_conv"] + ".weight" in state and cfg["classifier"] + ".weight" in state
    assert model.num_classes > 0 and model.num_features > 0 and model.head_hidden_size > 0


@pytest.mark.parametrize("kwargs", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("name", SMALL)
def test_backward_every_parameter_gets_a_gradient(name, kwargs):
    model = timm.create_model(name, num_classes=42, **kwargs).train()
    out = model(_input(model))
    out.mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing and out.shape[-1] == 42


@pytest.mark.parametrize("kwargs", SOLVERS, ids=SOLVER_IDS)
def test_grad_checkpointing_leaves_outputs_unchanged(kwargs):
    model = timm.create_model("iiet_vit_tiny_patch4_28", **kwargs).eval()
    x = _input(model)
    with torch.no_grad():
        before = model(x)
        model.set_grad_checkpointing()
        after = model(x)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-5)
    model.train()  # and gradients flow through checkpointed PC history
    model(x).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", SMALL + ["iiet_vit_tiny_patch16_224"])
def test_features_head_and_classifier_reset(name):
    model = timm.create_model(name).eval()
    x = _input(model, batch=1)
    with torch.no_grad():
        feats = model.forward_features(x)
        tokens = model.patch_embed.num_patches + model.num_prefix_tokens
        assert feats.shape == (1, tokens, model.num_features)  # NLC after the final norm
        pre = model.forward_head(feats, pre_logits=True)
        assert pre.shape == (1, model.head_hidden_size)
        model.reset_classifier(0)
        assert model.num_classes == 0
        assert torch.equal(model(x), pre)
        headless = timm.create_model(name, num_classes=0).eval()
        assert headless(x).shape == (1, headless.num_features)


@pytest.mark.parametrize("kwargs", SOLVERS, ids=SOLVER_IDS)
def test_feature_info_features_only_and_intermediates(kwargs):
    name = "iiet_vit_tiny_patch4_28"
    model = timm.create_model(name, **kwargs).eval()
    info = FeatureInfo(model.feature_info, len(model.feature_info))
    assert len(info.channels()) >= 3
    x = _input(model, batch=1)
    with torch.no_grad():
        final, inter = model.forward_intermediates(x, output_fmt="NCHW")
        assert torch.equal(final, model.forward_features(x))
        assert len(inter) == len(model.blocks)
        side = math.ceil(28 / info.reduction()[0])
        assert all(t.shape == (1, model.num_features, side, side) for t in inter)
        last3 = model.forward_intermediates(x, indices=3, intermediates_only=True, output_fmt="NLC")
        assert len(last3) == 3 and torch.equal(last3[-1], inter[-1].flatten(2).transpose(1, 2))
        early = model.forward_intermediates(x, indices=[1], stop_early=True, intermediates_only=True)
        assert torch.equal(early[0], inter[1])
        model.set_grad_checkpointing()
        final_ckpt, _ = model.forward_intermediates(x)
        assert torch.allclose(final, final_ckpt, rtol=1e-4, atol=1e-5)
    feat_model = timm.create_model(name, features_only=True, **kwargs).eval()
    outs = feat_model(x)
    assert len(outs) == len(feat_model.feature_info.channels()) >= 3
    for ch, t in zip(feat_model.feature_info.channels(), outs):
        assert t.shape[1] == ch and not torch.isnan(t).any()


@pytest.mark.parametrize("kwargs", SOLVERS, ids=SOLVER_IDS)
def test_torchscript_matches_eager(kwargs):
    with set_scriptable(True):
        model = timm.create_model("iiet_vit_tiny_patch4_28", **kwargs).eval()
    scripted = torch.jit.script(model)
    x = _input(model)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5)


def _fx(model, train):
    from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names
    tracer_kwargs = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions(),
                         param_shapes_constant=True)
    train_nodes, eval_nodes = get_graph_node_names(model, tracer_kwargs=tracer_kwargs)
    return create_feature_extractor(model, train_return_nodes=[train_nodes[-1]],
                                    eval_return_nodes=[eval_nodes[-1]], tracer_kwargs=tracer_kwargs)


@pytest.mark.parametrize("kwargs", SOLVERS, ids=SOLVER_IDS)
def test_fx_trace_matches_eager_forward_and_backward(kwargs):
    torch.manual_seed(0)
    model = timm.create_model("iiet_vit_tiny_patch4_28", num_classes=42, **kwargs).eval()
    x = _input(model)
    with torch.inference_mode():
        eager = model(x)
        traced = torch.cat(tuple(_fx(model, train=False)(x).values()))
    assert torch.equal(traced, eager)
    model.train()
    model(x).mean().backward()
    eager_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    fx_train = _fx(model, train=True)
    fx_train.train()
    out = torch.cat(tuple(fx_train(x).values()))
    out.mean().backward()
    fx_grads = dict(fx_train.named_parameters())
    assert out.shape[-1] == 42
    assert set(fx_grads) == set(eager_grads)
    for name, grad in eager_grads.items():
        assert fx_grads[name].grad is not None and torch.equal(fx_grads[name].grad, grad), name


@pytest.mark.parametrize("iiet,vit,kwargs", [
    ("iiet_vit_tiny_patch16_224", "vit_tiny_patch16_224", {}),
    ("iiet_vit_tiny_patch4_28", None, dict(img_size=28, in_chans=1, patch_size=4, embed_dim=192, depth=6,
                                            num_heads=3, num_classes=10)),
])
@pytest.mark.parametrize("solver", ["iie", "euler"])
def test_vanilla_vit_weights_load_strictly_and_r0_is_identical(iiet, vit, kwargs, solver):
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    vanilla = (timm.create_model(vit) if vit else VisionTransformer(**kwargs)).eval()
    ours = timm.create_model(iiet, ode_solver=solver, iie_iters=0).eval()
    ours.load_state_dict(vanilla.state_dict(), strict=True)
    x = _input(ours, batch=2)
    with torch.no_grad():
        assert torch.equal(ours(x), vanilla(x))
    refined = timm.create_model(iiet, iie_iters=2).eval()  # IIET with r = 2 starts from the same weights
    refined.load_state_dict(vanilla.state_dict(), strict=True)


@pytest.mark.parametrize("kwargs,match", [
    (dict(ode_solver="rk3"), r"ode_solver.*euler, rk2, rk4, pc, iie"),
    (dict(layer_iters="1,1"), r"layer_iters.*2 entries.*6 layers"),
    (dict(iie_iters=-1), r">= 0"),
    (dict(ode_solver="rk4", ode_coef="gated"), r"ode_coef.*standard, ema"),
])
def test_bad_kwargs_fail_at_creation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timm.create_model("iiet_vit_tiny_patch4_28", **kwargs)


def test_plan_controls_evaluations():
    model = timm.create_model("iiet_vit_tiny_patch4_28", iie_layer_iters="2,2,1,0,0,0")
    assert model.plan().to_string() == "2,2,1,0,0,0" and model.evaluations() == 11
    model.set_plan(0)
    assert model.evaluations() == 6


def test_each_block_runs_its_own_layers_solver():
    """IIETBlock takes its solver by the index timm passes as depth=i (timm >= 1.0.23, required
    by setup.py); without the index it refuses instead of giving every block solver 0."""
    from iiet_plugin.ode import ConfigError
    from iiet_plugin.vision import IIETBlock
    model = timm.create_model("iiet_vit_tiny_patch4_28", ode_solver="pc", depth=4, embed_dim=32, num_heads=2)
    assert [blk.ode.layer_index for blk in model.blocks] == [0, 1, 2, 3]
    solvers = model.solvers()
    with pytest.raises(ConfigError, match=r"depth=i: .* from timm 1.0.23 on"):
        IIETBlock(dim=32, num_heads=2, ode_solvers=solvers, ode_history=model.ode_history)


@pytest.mark.parametrize("iiet,vit", [("iiet_vit_tiny_patch16_224", "vit_tiny_patch16_224"),
                                      ("iiet_vit_small_patch16_224", "vit_small_patch16_224")])
def test_pretrained_loads_the_vanilla_vit_weights(tmp_path, iiet, vit):
    """pretrained=True fetches timm's vanilla ViT weights through the hub config; offline, a
    local file of those weights (pretrained_cfg_overlay=dict(file=...)) takes the hub's place."""
    cfg = timm.models.get_pretrained_cfg(iiet)
    assert cfg.hf_hub_id == f"timm/{vit}.augreg_in21k_ft_in1k"
    assert timm.models.get_pretrained_cfg(f"{vit}.augreg_in21k_ft_in1k").hf_hub_id == cfg.hf_hub_id
    torch.manual_seed(0)
    vanilla = timm.create_model(vit).eval()
    torch.save(vanilla.state_dict(), tmp_path / "vanilla.pth")
    ours = timm.create_model(iiet, pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / "vanilla.pth")),
                             iie_iters=0).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours(x), vanilla(x))
    warm = timm.create_model(iiet, pretrained=True, pretrained_cfg_overlay=dict(file=str(tmp_path / "vanilla.pth")))
    assert torch.equal(warm.state_dict()["blocks.0.attn.qkv.weight"], vanilla.state_dict()["blocks.0.attn.qkv.weight"])


def test_forward_intermediates_recomputes_pc_history_under_checkpointing():
    """timm's own forward_intermediates checkpoints each block call ``blk(x)``; the recomputed
    block must see the history as it was (LayerHistory hands it h_0..h_t), so the gradients
    equal those without checkpointing."""
    torch.manual_seed(0)
    model = timm.create_model("iiet_vit_tiny_patch4_28", ode_solver="pc", depth=3, embed_dim=32, num_heads=2).train()
    x = torch.randn(2, 1, 28, 28)

    def grads():
        model.zero_grad(set_to_none=True)
        final, inter = model.forward_intermediates(x, indices=[0, 1, 2])
        (final.square().mean() + sum(t.mean() for t in inter)).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.set_grad_checkpointing(True)
    checkpointed = grads()
    assert set(plain) == set(checkpointed)
    for name, g in plain.items():
        assert torch.allclose(checkpointed[name], g, atol=1e-6, rtol=1e-4), name
