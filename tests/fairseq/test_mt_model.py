"""iiet_transformer: exact incremental decoding per decoder solver, cross-attention keys and
values shared by all evaluations of a layer, beam search consistent with full forwards."""
import pytest
import torch

from fairseq_helpers import build_mt

DECODER_SETTINGS = [
    ("euler", []), ("iie", ["--decoder-iie-iters", "2"]), ("iie", ["--decoder-iie-layer-iters", "1,2"]),
    ("iie", ["--decoder-iie-iters", "2", "--decoder-iie-relaxation", "0.5"]),
    ("rk2", ["--decoder-ode-coef", "gated"]), ("rk2", ["--decoder-ode-coef", "ema"]), ("rk4", []),
    ("pc", ["--decoder-pc-predictor", "rk2"]), ("pc", ["--decoder-pc-predictor", "rk4"]),
]
IDS = [f"{s}{''.join(f)}" for s, f in DECODER_SETTINGS]


def _model(solver, flags, encoder=("iie", "--encoder-iie-iters", "1")):
    model, task, _ = build_mt("--encoder-ode-solver", encoder[0], *encoder[1:], "--decoder-ode-solver", solver,
                              *flags, "--dropout", "0")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if ".ode." in n:
                p.add_(0.05 * torch.randn_like(p))
    return model.eval(), task


def _batch(task, gen, bsz=3, src_len=7, tgt_len=6):
    d = task.source_dictionary
    src = torch.randint(d.nspecial, len(d), (bsz, src_len), generator=gen)
    src[0, :2] = d.pad()  # left padding, as fairseq batches sources
    lengths = (src != d.pad()).sum(1)
    tgt = torch.randint(d.nspecial, len(d), (bsz, tgt_len), generator=gen)
    return src, lengths, tgt


@pytest.mark.parametrize("solver,flags", DECODER_SETTINGS, ids=IDS)
def test_decoder_incremental_equals_full(solver, flags):
    model, task = _model(solver, flags)
    src, lengths, tgt = _batch(task, torch.Generator().manual_seed(5))
    with torch.no_grad():
        enc = model.encoder(src, src_lengths=lengths)
        full = model.decoder(tgt, encoder_out=enc)[0]
        state = {}
        steps = torch.stack([model.decoder(tgt[:, : t + 1], encoder_out=enc, incremental_state=state)[0][:, -1]
                             for t in range(tgt.size(1))], 1)
    assert torch.allclose(steps, full, atol=1e-5, rtol=0), (steps - full).abs().max()


def _count_cross_projections(model):
    counts = []
    for layer in model.decoder.layers:
        box = [0]
        layer.encoder_attn.k_proj.register_forward_hook(lambda m, i, o, box=box: box.__setitem__(0, box[0] + 1))
        counts.append(box)
    return counts


def test_cross_attention_projected_once_per_layer():
    model, task = _model("iie", ["--decoder-iie-iters", "2"])
    counts = _count_cross_projections(model)
    src, lengths, tgt = _batch(task, torch.Generator().manual_seed(1))
    with torch.no_grad():
        enc = model.encoder(src, src_lengths=lengths)
        full = model.decoder(tgt, encoder_out=enc)[0]
        assert [c[0] for c in counts] == [1, 1]  # 3 evaluations per layer, one projection
        state = {}
        for t in range(tgt.size(1)):
            model.decoder(tgt[:, : t + 1], encoder_out=enc, incremental_state=state)
        assert [c[0] for c in counts] == [2, 2]  # and one for a whole incremental decode
    # a naive run (each evaluation projects the encoder output itself) gives the same output
    naive = _naive_decoder_forward(model, tgt, enc)
    assert torch.allclose(full, naive, atol=1e-6)


def _naive_decoder_forward(model, tgt, enc):
    """Same model, every evaluation calling the cross-attention without a shared cache."""
    import types
    originals = []
    for layer in model.decoder.layers:
        def cross(self, h):
            c, attn = self.encoder_attn(query=h, key=self._call.encoder_out, value=self._call.encoder_out,
                                        key_padding_mask=self._call.encoder_padding_mask, static_kv=True)
            return self.dropout_module(c)
        originals.append(layer._cross_attention)
        layer._cross_attention = types.MethodType(cross, layer)
    try:
        with torch.no_grad():
            return model.decoder(tgt, encoder_out=enc)[0]
    finally:
        for layer, fn in zip(model.decoder.layers, originals):
            layer._cross_attention = fn


@pytest.mark.parametrize("solver,flags", [DECODER_SETTINGS[1], DECODER_SETTINGS[6]], ids=["iie", "pc"])
def test_beam_search_scores_equal_full_forward(solver, flags):
    from fairseq.sequence_generator import SequenceGenerator
    model, task = _model(solver, flags)
    src, lengths, _ = _batch(task, torch.Generator().manual_seed(9))
    gen = SequenceGenerator([model], task.target_dictionary, beam_size=5, max_len_b=8, min_len=2)
    with torch.no_grad():
        hyps = gen.forward({"net_input": {"src_tokens": src, "src_lengths": lengths}})
        for i, beams in enumerate(hyps):
            for hyp in beams:
                tokens = hyp["tokens"]
                prev = torch.cat([tokens.new_tensor([task.target_dictionary.eos()]), tokens[:-1]]).unsqueeze(0)
                logits = model(src[i: i + 1], lengths[i: i + 1], prev)[0]
                lprobs = model.get_normalized_probs((logits, None), log_probs=True)[0]
                scores = lprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
                assert torch.allclose(scores, hyp["positional_scores"], atol=1e-4), (scores, hyp["positional_scores"])


def test_encoder_and_decoder_settings_are_separate():
    model, _ = _model("rk2", ["--decoder-ode-coef", "gated"], encoder=("pc", "--encoder-pc-predictor", "rk4"))
    assert model.encoder.ode_cfg.solver == "pc" and model.encoder.layers[0].ode.order == 4
    assert model.decoder.ode_cfg.solver == "rk2" and model.decoder.ode_cfg.coef == "gated"
    assert model.encoder.evaluations() == 2 * 5 and model.decoder.evaluations() == 2 * 2


@pytest.mark.parametrize("flags,match", [
    (["--decoder-iie-layer-iters", "1,1,1"], r"decoder_iie_layer_iters.*3 entries.*2 layers"),
    (["--encoder-ode-coef", "gated", "--encoder-ode-solver", "rk4"], r"encoder_ode_coef.*standard, ema"),
])
def test_bad_options_fail_at_build(flags, match):
    with pytest.raises(ValueError, match=match):
        build_mt(*flags)


def test_bad_solver_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        build_mt("--decoder-ode-solver", "rk3")


def test_each_side_keeps_its_own_relaxation():
    """``--decoder-iie-relaxation`` damps the decoder's iterations only (the study's
    ``iiet-r2-decoder-relaxed``); the encoder keeps its own (here the default, none)."""
    model, _ = _model("iie", ["--decoder-iie-iters", "2", "--decoder-iie-relaxation", "0.5"],
                      encoder=("iie", "--encoder-iie-iters", "2"))
    assert [layer.ode.relaxation for layer in model.decoder.layers] == [0.5] * len(model.decoder.layers)
    assert [layer.ode.relaxation for layer in model.encoder.layers] == [1.0] * len(model.encoder.layers)
