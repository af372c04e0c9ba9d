"""The baselines' released forms (``ode_stage=layer``, ``ode_ema_sharing=stack``,
``pc_form=mt``), each against a transcription of the release's equations written here
independently of the solvers: a loop over layers calling the full layer ``L(z)``."""
import pytest
import torch

from iiet_plugin.ode import ConfigError, ODEConfig
from iiet_plugin.ode.reference import ReferenceStack


def _perturbed(cfg, layers=3):
    torch.manual_seed(5)
    stack = ReferenceStack(cfg, num_layers=layers)
    with torch.no_grad():  # off the init, so no index error hides behind symmetric values
        for p in stack.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return stack


def _full_layer(layer):
    return lambda z: layer.stage(z, z, 0)  # L(z) = z + G(z), the vanilla layer


@pytest.mark.parametrize("coef", ["standard", "gated", "learnable", "ema"])
def test_rk2_release_form_stages_the_whole_layer(coef):
    """ODE Transformer release (encoder loop): k1 = L(y); k2 = L(y + k1);
    y' = y + 1/2 (k1 + k2) | y + g k1 + (1 - g) k2 | y + a1 k1 + a2 k2 | y + α(1-α) k1 + α k2."""
    stack = _perturbed(ODEConfig(solver="rk2", coef=coef, stage="layer"))
    x = torch.randn(2, 5, 16)
    y = x
    for layer in stack.layers:
        L, w = _full_layer(layer), layer.ode.weights
        k1 = L(y)
        k2 = L(y + k1)
        if coef == "standard":
            y = y + 0.5 * (k1 + k2)
        elif coef == "gated":
            g = torch.sigmoid(torch.nn.functional.linear(torch.cat((k1, k2), -1), w.gate.weight, w.gate.bias))
            y = y + g * k1 + (1 - g) * k2
        elif coef == "learnable":
            y = y + w.coefficients[0] * k1 + w.coefficients[1] * k2
        else:
            a = w.alpha
            y = y + a * (1 - a) * k1 + a * k2
    assert torch.allclose(stack(x), stack.norm(y), atol=1e-5)


def test_rk4_release_form():
    """k1 = L(y), k2 = L(y + k1/2), k3 = L(y + k2/2), k4 = L(y + k3); y' = y + (k1 + 2k2 + 2k3 + k4)/6."""
    stack = _perturbed(ODEConfig(solver="rk4", stage="layer"))
    x = torch.randn(2, 5, 16)
    y = x
    for layer in stack.layers:
        L = _full_layer(layer)
        k1 = L(y)
        k2 = L(y + 0.5 * k1)
        k3 = L(y + 0.5 * k2)
        k4 = L(y + k3)
        y = y + (k1 + 2 * k2 + 2 * k3 + k4) / 6
    assert torch.allclose(stack(x), stack.norm(y), atol=1e-5)


def test_paper_form_is_still_the_default():
    """stage=branch (default): k1 = G(y), k2 = G(y + k1), G(z) = L(z) - z."""
    stack = _perturbed(ODEConfig(solver="rk2"))
    x = torch.randn(2, 5, 16)
    y = x
    for layer in stack.layers:
        G = lambda z: layer.stage(z, None, 0)  # noqa: E731
        k1 = G(y)
        y = y + 0.5 * (k1 + G(y + k1))
    assert torch.allclose(stack(x), stack.norm(y), atol=1e-5)


@pytest.mark.parametrize("solver", ["rk2", "rk4", "pc"])
def test_ema_alpha_shared_by_the_stack(solver):
    cfg = ODEConfig(solver=solver, coef="ema" if solver != "pc" else None, ema_sharing="stack")
    stack = _perturbed(cfg, layers=3)
    modules = [l.ode.weights if solver != "pc" else l.ode.predictor_weights for l in stack.layers]
    assert all(m is modules[0] for m in modules)  # one module, one alpha
    alphas = [n for n, _ in stack.named_parameters() if n.endswith("alpha")]
    assert len(alphas) == 1
    stack(torch.randn(2, 5, 16)).sum().backward()
    assert modules[0].alpha.grad is not None and modules[0].alpha.grad.abs() > 0
    per_layer = ReferenceStack(ODEConfig(solver=solver, coef=cfg.coef), num_layers=3)
    assert len([n for n, _ in per_layer.named_parameters() if n.endswith("alpha")]) == 3


@pytest.mark.parametrize("order", [2, 4])
def test_pc_mt_release_encoder_form(order):
    """PCformer MT release, encoder loop (rk_norm off): residual = x; stages x = L(x) raw,
    next input residual + s_j x; P = residual + sum α(1-α)^(n-j) F_j with one α for the stack;
    history.add(P) stores PredNorm_t(P); C = L(sum_j W[t,j] h_j); history entry := Norm_t(C);
    output sum_j Wc[t,j] h_j."""
    stack = _perturbed(ODEConfig(solver="pc", pc_predictor=f"rk{order}", pc_form="mt", ema_sharing="stack"))
    assert len(stack.layers[0].ode.stage_norms) == 0
    scales = {2: [1.0], 4: [0.5, 0.5, 1.0]}[order]
    x = torch.randn(2, 4, 16)
    history, h = [x], x
    alpha = stack.layers[0].ode.predictor_weights.alpha
    for t, layer in enumerate(stack.layers):
        L, pc = _full_layer(layer), layer.ode
        residual, z, rk = h, h, []
        for j in range(order):
            z = L(z)
            rk.append(z)
            if j < order - 1:
                z = residual + scales[j] * z
        P = residual + sum(alpha * (1 - alpha) ** (order - 1 - j) * rk[j] for j in range(order))
        history.append(pc.pred_norm(P))
        C = L(sum(pc.history_weight[j] * history[j] for j in range(t + 2)))
        history[-1] = pc.corr_norm(C)
        h = sum(pc.output_weight[j] * history[j] for j in range(t + 2))
    assert torch.allclose(stack(x), stack.norm(h), atol=1e-5)


@pytest.mark.parametrize("cfg,message", [
    (ODEConfig(solver="rk2", ema_sharing="stack"), "ode_ema_sharing=stack needs EMA weights"),
    (ODEConfig(solver="iie", stage="layer"), "ode_solver=iie ignores ode_stage=layer"),
    (ODEConfig(solver="rk2", pc_form="mt"), "ode_solver=rk2 ignores pc_form=mt"),
    (ODEConfig(solver="rk2", stage="whole"), "ode_stage: unknown value 'whole'; allowed values: branch, layer"),
])
def test_release_options_are_checked(cfg, message):
    with pytest.raises(ConfigError, match=message):
        ReferenceStack(cfg, num_layers=2)
