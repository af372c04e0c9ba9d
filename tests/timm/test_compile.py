"""torch.compile(fullgraph=True) of every iiet_vit solver and plan: no graph break, and the
compiled model's outputs and gradients equal eager ones (train and eval, gradient
checkpointing off and on).  The tests compile with the ``aot_eager`` backend: it runs
TorchDynamo's capture and AOTAutograd's joint graph like ``inductor`` does (graph breaks and
side effects show there) but skips code generation, which takes minutes on a CPU;
``bench/train_step.py --modes compiled`` runs inductor itself."""
import pytest
import torch

from iiet_plugin.experiments.builders import build_vit

CASES = {
    "euler": dict(ode_solver="euler"),
    "iie2": dict(ode_solver="iie", iie_iters=2),
    "plan": dict(ode_solver="iie", iie_layer_iters="2,0,1", iie_relaxation=0.5),
    "rk2gated": dict(ode_solver="rk2", ode_coef="gated"),
    "rk4": dict(ode_solver="rk4"),
    "rk2release": dict(ode_solver="rk2", ode_coef="ema", ode_stage="layer", ode_ema_sharing="stack"),
    "pc": dict(ode_solver="pc"),
    "pcmt": dict(ode_solver="pc", pc_form="mt", pc_predictor="rk4"),
}


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name,checkpointing", [(name, False) for name in CASES] + [
    (name, True) for name in ("iie2", "rk2release", "pc")])
def test_compiled_matches_eager(name, checkpointing):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build_vit(**CASES[name])
    model.set_grad_checkpointing(checkpointing)
    x = torch.randn(2, 1, 28, 28, requires_grad=True)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    for train in (True, False):
        model.train(train)
        eager_out = model(x)
        if train:
            eager_out.square().mean().backward()
            eager_grads, eager_x = _grads(model), x.grad.clone()
            model.zero_grad(set_to_none=True)
            x.grad = None
        out = compiled(x)
        assert torch.allclose(out, eager_out, atol=1e-5, rtol=1e-5)
        if train:
            out.square().mean().backward()
            grads = _grads(model)
            assert set(grads) == set(eager_grads)
            for n, g in grads.items():
                assert torch.allclose(g, eager_grads[n], atol=1e-5, rtol=1e-4), n
            assert torch.allclose(x.grad, eager_x, atol=1e-6, rtol=1e-4)
            model.zero_grad(set_to_none=True)
            x.grad = None


def test_no_graph_breaks_reported_by_dynamo_explain():
    torch._dynamo.reset()
    model = build_vit(ode_solver="pc").eval()
    explanation = torch._dynamo.explain(model)(torch.randn(2, 1, 28, 28))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
