"""``ode_dropout_masks``: per_layer draws one mask per dropout site and layer forward, shared by
every evaluation (so IIET iterates one map), fresh at the next forward; per_evaluation (the
default) draws fresh masks at every evaluation.  Both hosts; inference is unchanged."""
import pytest
import torch
from torch import nn

from iiet_plugin.ode import ConfigError, ODEBlock, ODEConfig, SharedMaskDropout, build_solver, share_dropout_masks


class DroppedLinearStage(nn.Module):
    """``evaluate(z, base) = base + drop2(drop1(z) A^T)``, recording each dropout's input and output."""

    def __init__(self, dim=6, p=0.5):
        super().__init__()
        self.A = nn.Parameter(torch.eye(dim, dtype=torch.float64))
        self.drop = nn.Dropout(p)
        self.seen = []

    def forward(self, z, base, slot):
        d1 = self.drop(z)
        d2 = self.drop(d1 @ self.A.T)  # the same module at a second site
        self.seen.append(((d1 == 0), (d2 == 0)))
        return d2 if base is None else base + d2


def _block(per_layer: bool, iters=2, p=0.5):
    stage = DroppedLinearStage(p=p)
    solver = build_solver(ODEConfig(solver="iie", iters=iters).validated(1), 0, dim=6, iters=iters)
    block = ODEBlock(stage, solver)
    if per_layer:
        share_dropout_masks(block, {"stage.drop": (p, False)})
    return block.train(), stage


def test_per_layer_masks_are_shared_by_the_evaluations_and_differ_between_sites_and_forwards():
    torch.manual_seed(0)
    block, stage = _block(per_layer=True)
    assert isinstance(stage.drop, SharedMaskDropout)
    y = torch.ones(4, 6, dtype=torch.float64) + torch.rand(4, 6, dtype=torch.float64)
    block(y)
    first = stage.seen
    assert len(first) == 3  # r = 2: three evaluations
    for site in (0, 1):
        assert all(torch.equal(ev[site], first[0][site]) for ev in first)  # one mask per site
    assert not torch.equal(first[0][0], first[0][1])  # the two sites draw their own masks
    stage.seen = []
    block(y)
    assert not torch.equal(stage.seen[0][0], first[0][0])  # a new forward draws new masks
    assert stage.drop.masks == []  # the block keeps none between forwards


def test_per_layer_iterates_match_hand_computation_with_one_mask():
    torch.manual_seed(1)
    block, stage = _block(per_layer=True, iters=2, p=0.3)
    y = torch.rand(3, 6, dtype=torch.float64) + 0.5
    out = block(y)
    keep1 = (~stage.seen[0][0]).double() / 0.7
    keep2 = (~stage.seen[0][1]).double() / 0.7
    g = lambda z: ((z * keep1) @ stage.A.T) * keep2  # noqa: E731  the branch with the shared masks
    y0 = y + g(y)
    y1 = y + g(y0)
    assert torch.allclose(out, y + g(y1))


def test_per_evaluation_is_the_default_and_draws_fresh_masks():
    torch.manual_seed(0)
    block, stage = _block(per_layer=False)
    assert isinstance(stage.drop, nn.Dropout) and ODEConfig().dropout_masks == "per_evaluation"
    block(torch.rand(4, 6, dtype=torch.float64) + 1)
    assert not torch.equal(stage.seen[0][0], stage.seen[1][0])


def test_inference_and_p0_are_identity_and_bad_values_are_refused():
    drop = SharedMaskDropout(0.5).eval()
    x = torch.randn(3, 4)
    assert torch.equal(drop(x), x)
    assert torch.equal(SharedMaskDropout(0.0).train()(x), x)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        SharedMaskDropout(1.0)
    with pytest.raises(ConfigError, match="ode_dropout_masks: unknown value 'once'.*per_evaluation, per_layer"):
        ODEConfig(dropout_masks="once").validated(2)


def test_per_sample_mask_drops_whole_samples():
    torch.manual_seed(0)
    drop = SharedMaskDropout(0.5, per_sample=True).train()
    out = drop(torch.ones(64, 3, 5))
    per_sample = out.flatten(1)
    assert all(len(set(row.tolist())) == 1 for row in per_sample)  # one draw per sample
    assert {0.0, 2.0} == set(per_sample[:, 0].tolist())


def test_fairseq_layers_share_masks_and_inference_is_unchanged():
    from fairseq.modules import FairseqDropout

    from iiet_plugin.experiments.builders import build_lm, build_mt
    flags = ["--ode-solver", "iie", "--iie-iters", "2", "--dropout", "0.3", "--activation-dropout", "0.1"]
    torch.manual_seed(0)
    shared, _, _ = build_lm(*flags, "--ode-dropout-masks", "per_layer")
    fresh, _, _ = build_lm(*flags)
    for layer in shared.decoder.layers:
        assert isinstance(layer.dropout_module, SharedMaskDropout) and layer.dropout_module.p == 0.3
        assert layer.activation_dropout_module.p == 0.1 and len(layer.ode_shared_dropouts) == 2
    assert isinstance(fresh.decoder.layers[0].dropout_module, FairseqDropout)
    fresh.load_state_dict(shared.state_dict())  # same parameters: the option adds none
    tokens = torch.randint(4, 40, (2, 7))
    shared.eval(), fresh.eval()
    assert torch.equal(shared(tokens)[0], fresh(tokens)[0])
    shared.train()
    shared(tokens)[0].sum().backward()  # trains
    mt, _, _ = build_mt("--encoder-ode-solver", "iie", "--decoder-ode-solver", "iie", "--dropout", "0.2",
                        "--encoder-ode-dropout-masks", "per_layer")
    assert isinstance(mt.encoder.layers[0].dropout_module, SharedMaskDropout)
    assert isinstance(mt.decoder.layers[0].dropout_module, FairseqDropout)  # each side has its own option


def test_timm_blocks_share_masks_and_inference_is_unchanged():
    import timm
    kwargs = dict(depth=2, iie_iters=2, proj_drop_rate=0.2, drop_path_rate=0.2)
    torch.manual_seed(0)
    shared = timm.create_model("iiet_vit_tiny_patch4_28", ode_dropout_masks="per_layer", **kwargs)
    fresh = timm.create_model("iiet_vit_tiny_patch4_28", **kwargs)
    block = shared.blocks[1]
    assert {type(m) for m in block.ode_shared_dropouts} == {SharedMaskDropout}
    assert len(block.ode_shared_dropouts) == 5 and block.drop_path2.per_sample  # proj, mlp x2, drop path x2
    fresh.load_state_dict(shared.state_dict())
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(shared.eval()(x), fresh.eval()(x))
    shared.train()(x).sum().backward()
