"""Interleaved speed measurement (timing.round_robin_times, speed.checkpoint_speeds): the call
order, and real checkpoints measured in one process.  No timing is asserted."""
import os

from fairseq_helpers import TRAIN_FLAGS, USER_DIR, run_cli
from iiet_plugin.experiments.speed import checkpoint_speeds
from iiet_plugin.experiments.timing import round_robin_times


def test_round_robin_interleaves_every_model_each_round():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    result = round_robin_times(fns, rounds=3, warmup=1)
    assert calls == ["a", "b", "c"] * 4  # one warm-up round, then three rounds
    assert set(result) == {"a", "b", "c"} and all(t >= 0 for t in result.values())


def test_checkpoint_speeds_of_trained_models(lm_data, tmp_path):
    paths = []
    for name, flags in (("vanilla", ["--ode-solver", "euler"]), ("iiet", ["--ode-solver", "iie", "--iie-iters", "2"])):
        save = tmp_path / name
        run_cli("fairseq-train", str(lm_data / "bin"), "--user-dir", USER_DIR, "--arch", "iiet_lm_tiny", *TRAIN_FLAGS,
                *flags, "--max-update", "3", "--save-dir", str(save), "--no-save-optimizer-state")
        paths.append(str(save / "checkpoint_last.pt"))
    speeds = checkpoint_speeds(paths, str(lm_data / "bin"), subset="valid", batches=2, rounds=2)
    assert list(speeds) == paths
    for measured in speeds.values():
        assert measured["score_tokens_s"] > 0 and measured["train_step_s"] > 0
    assert all(os.path.exists(p) for p in paths)
