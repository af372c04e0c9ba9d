"""--compile-layers BACKEND: each ODE layer's full-sequence forward runs as one torch.compile
graph (fullgraph: the plugin's code has no graph break), with the eager model's outputs and
gradients; incremental decoding stays eager.  (aot_eager: TorchDynamo and AOTAutograd without
inductor's minutes of CPU code generation.)"""
import pytest
import torch

from fairseq_helpers import build_lm, build_mt


def _outputs_and_grads(model, run):
    model.zero_grad(set_to_none=True)
    out = run(model)
    out.float().square().mean().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("solver", [["--ode-solver", "pc"], ["--ode-solver", "iie", "--iie-iters", "2"],
                                    ["--ode-solver", "rk2", "--ode-coef", "gated"]], ids=["pc", "iie2", "rk2"])
def test_lm_compiled_layers_match_eager(solver):
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager, _, _ = build_lm(*solver, "--dropout", "0")
    torch.manual_seed(0)
    compiled, _, _ = build_lm(*solver, "--dropout", "0", "--compile-layers", "aot_eager")
    compiled.load_state_dict(eager.state_dict())
    assert all(layer._compiled_ode_forward is not None for layer in compiled.decoder.layers)
    tokens = torch.randint(4, 40, (2, 9))
    for model in (eager, compiled):
        model.train()
    ref, ref_grads = _outputs_and_grads(eager, lambda m: m(tokens)[0])
    out, grads = _outputs_and_grads(compiled, lambda m: m(tokens)[0])
    assert torch.allclose(out, ref, atol=1e-5)
    for name, g in ref_grads.items():
        assert torch.allclose(grads[name], g, atol=1e-5, rtol=1e-4), name
    # incremental decoding (eager path) gives the full forward's last position
    compiled.eval()
    state = {}
    with torch.no_grad():
        for t in range(tokens.size(1)):
            step = compiled.decoder(tokens[:, : t + 1], incremental_state=state)[0][:, -1]
        full = compiled(tokens)[0][:, -1]
    assert torch.allclose(step, full, atol=1e-5)


def test_mt_compiled_encoder_and_decoder_layers():
    torch._dynamo.reset()
    torch.manual_seed(0)
    eager, _, _ = build_mt("--encoder-ode-solver", "pc", "--decoder-ode-solver", "iie", "--dropout", "0")
    compiled, _, _ = build_mt("--encoder-ode-solver", "pc", "--decoder-ode-solver", "iie", "--dropout", "0",
                              "--compile-layers", "aot_eager")
    compiled.load_state_dict(eager.state_dict())
    src, tgt = torch.randint(4, 40, (2, 6)), torch.randint(4, 40, (2, 5))
    run = lambda m: m(src, torch.tensor([6, 6]), tgt)[0]  # noqa: E731
    ref, ref_grads = _outputs_and_grads(eager.train(), run)
    out, grads = _outputs_and_grads(compiled.train(), run)
    assert torch.allclose(out, ref, atol=1e-5)
    for name, g in ref_grads.items():
        assert torch.allclose(grads[name], g, atol=1e-5, rtol=1e-4), name


def test_deep_stack_does_not_hit_the_recompile_limit():
    """Each compiled layer is a separate graph of the same code object: 10 layers (more than
    TorchDynamo's default of 8 entries) train without a recompile-limit failure."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model, _, _ = build_lm("--ode-solver", "pc", "--dropout", "0", "--decoder-layers", "10", "--decoder-embed-dim", "16",
                           "--decoder-ffn-embed-dim", "32", "--decoder-input-dim", "16", "--decoder-output-dim", "16",
                           "--compile-layers", "aot_eager")
    tokens = torch.randint(4, 40, (2, 9))
    model(tokens)[0].sum().backward()
    assert all(p.grad is not None for p in model.parameters())
