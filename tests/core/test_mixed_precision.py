"""Mixed precision: bf16 and fp16 autocast forward/backward of every solver (RK/EMA/gated
weights, PC mixes and norms, IIET relaxation) and the IIAD influence scores agree with fp32.

Tolerance, stated: relative error of the outputs <= 1e-2 (bf16 keeps 8 mantissa bits, one
rounding ~4e-3; measured here: 2.2e-3 bf16, 3e-4 fp16), cosine similarity of every parameter's
gradient with the fp32 gradient >= 0.995 (measured: 0.9985 bf16, 0.99999 fp16), and for the
influence scores an absolute error <= 0.05 on scores in [0, ~1].  Runs on the CPU (autocast "cpu"); the GPU script checks CUDA.

A cosine is the wrong measure for a gradient that is a cancelled sum.  The gradient of an
``nn.Linear`` is a sum over tokens, ``dL/db = sum_t d_t`` and ``dL/dW = sum_t d_t x_t^T``
(``d_t`` the gradient at the layer's output), and a floating-point sum is accurate to a
fraction of ``sum_t |d_t|`` (``sum_t |d_t| |x_t|^T``), not of its result.  RK2's gate bias in
layer 1 is such a sum: 24 terms with ``sum |d_t| = 1.82`` cancel to ``-0.011``, so bf16's
error of 0.013 (0.7 % of the terms' size) flips the sign of a one-element gradient and its
"cosine" is -1.  So every ``nn.Linear`` parameter must be within ``4 eps`` of that size
(``||g_low - g|| <= 4 eps ||sum_t |d_t| ...||``, ``eps`` the dtype's machine epsilon: 2^-7
bf16, 2^-10 fp16; a few roundings along the chain that computes ``d_t`` and ``x_t``; measured:
at most 0.25 eps, except RK2's gate, 1.7 eps bf16 and 1.2 eps fp16, whose ``d_t`` carries the
difference of the two stages ``F1 - F2``), and must also pass the cosine check unless its
terms cancel more than tenfold (``||sum_t |d_t| ...|| > 10 ||g||``); every other parameter must
pass the cosine check."""
import pytest
import torch

from iiet_plugin.ode import ODEConfig
from iiet_plugin.ode.reference import ReferenceStack

CONFIGS = {
    "euler": ODEConfig(solver="euler"),
    "iie2_relaxed": ODEConfig(solver="iie", iters=2, iie_relaxation=0.7),
    "rk2_gated": ODEConfig(solver="rk2", coef="gated"),
    "rk2_ema_stack": ODEConfig(solver="rk2", coef="ema", ema_sharing="stack"),
    "rk4_ema_layer_stage": ODEConfig(solver="rk4", coef="ema", stage="layer"),
    "pc": ODEConfig(solver="pc"),
    "pc_mt_rk4": ODEConfig(solver="pc", pc_predictor="rk4", pc_form="mt"),
}
DTYPES = [torch.bfloat16, torch.float16]


def _run(stack, x, dtype):
    """Output, gradients, and for each ``nn.Linear`` parameter the size of its terms:
    ``sum_t |d_t|`` for the bias, ``sum_t |d_t| |x_t|^T`` for the weight (over every call)."""
    stack.zero_grad(set_to_none=True)
    term_sizes, hooks = {}, []

    def record(name, module):
        def on_forward(_, inputs, output):
            x_abs = inputs[0].detach().float().abs().reshape(-1, inputs[0].shape[-1])

            def on_grad(grad):
                d_abs = grad.detach().float().abs().reshape(-1, grad.shape[-1])
                sizes = {name + ".weight": d_abs.t() @ x_abs, name + ".bias": d_abs.sum(0)}
                for key, size in sizes.items():
                    term_sizes[key] = term_sizes.get(key, 0) + size
            output.register_hook(on_grad)
        return module.register_forward_hook(on_forward)

    hooks = [record(n, m) for n, m in stack.named_modules() if isinstance(m, torch.nn.Linear)]
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        out = stack(x)
    # a fixed random readout (the output is LayerNormed: a loss of its square would be ~constant)
    readout = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
    (out.float() * readout).sum().backward()
    for hook in hooks:
        hook.remove()
    grads = {n: p.grad.float().clone() for n, p in stack.named_parameters()}
    return out.float().detach(), grads, term_sizes


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_autocast_matches_fp32(name, dtype):
    torch.manual_seed(0)
    stack = ReferenceStack(CONFIGS[name], num_layers=3, dim=32, heads=2, ffn_dim=64)
    x = torch.randn(4, 6, 32)
    ref_out, ref_grads, term_sizes = _run(stack, x, None)
    out, grads, _ = _run(stack, x, dtype)
    assert torch.isfinite(out).all()
    assert (out - ref_out).norm() / ref_out.norm() <= 1e-2
    assert any(n in term_sizes for n in ref_grads)  # the Linear hooks saw the stack's layers
    for n, g in ref_grads.items():
        if g.norm() == 0:
            continue
        cancelled = False
        if n in term_sizes:
            size = term_sizes[n].norm()
            eps = torch.finfo(dtype).eps
            assert (grads[n] - g).norm() <= 4 * eps * size, (n, ((grads[n] - g).norm() / size / eps).item())
            cancelled = size > 10 * g.norm()
        if not cancelled:
            cos = torch.nn.functional.cosine_similarity(grads[n].flatten(), g.flatten(), dim=0)
            assert cos >= 0.995, (n, cos.item())


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
def test_influence_update_scores_under_autocast(dtype):
    from iiet_plugin.ode.influence import measure_update_scores
    torch.manual_seed(0)
    stack = ReferenceStack(ODEConfig(solver="iie", iters=3), num_layers=2, dim=32, heads=2, ffn_dim=64).eval()
    batches = [torch.randn(4, 6, 32) for _ in range(2)]
    solvers = [layer.ode for layer in stack.layers]

    def scores(autocast_dtype):
        def run(batch, recorder):
            with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None):
                stack(batch)
        return measure_update_scores(stack, solvers, batches, run)

    ref, low = scores(None), scores(dtype)
    assert len(ref) == len(low) == 2 and all(len(row) == 3 for row in ref)
    for ref_row, low_row in zip(ref, low):
        for value, low_value in zip(ref_row, low_row):
            assert abs(low_value - value) <= 0.05, (value, low_value)


@pytest.mark.parametrize("dtype", DTYPES, ids=["bf16", "fp16"])
@pytest.mark.parametrize("solver", [["--ode-solver", "pc"], ["--ode-solver", "iie", "--iie-iters", "2"],
                                    ["--ode-solver", "rk2", "--ode-coef", "gated"],
                                    ["--ode-solver", "rk4", "--ode-coef", "ema", "--ode-ema-sharing", "stack"]],
                         ids=["pc", "iie2", "rk2gated", "rk4ema"])
def test_fairseq_model_cast_to_low_precision(solver, dtype):
    """fairseq's --fp16 (and --bf16 on its XLA path) cast the whole model (``model.half()``)
    rather than autocast: every plugin parameter (RK/EMA weights, gate, PC mixes and norms)
    then computes in that dtype.  Logits stay within 3e-2 relative error of fp32's."""
    from iiet_plugin.experiments.builders import build_lm
    torch.manual_seed(0)
    model = build_lm(*solver, "--dropout", "0")[0].eval()
    tokens = torch.randint(4, 40, (2, 9))
    with torch.no_grad():
        ref = model(tokens)[0]
        low = model.to(dtype)(tokens)[0].float()
    assert torch.isfinite(low).all()
    assert (low - ref).norm() / ref.norm() <= 3e-2
