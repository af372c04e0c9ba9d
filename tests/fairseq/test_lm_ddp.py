"""Distributed readiness: 2 CPU processes (gloo), DDP without find_unused_parameters."""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank, world, init_file, solver, result_file):
    """Runs in a spawned process; leaves with os._exit so that no process-group teardown runs
    at interpreter exit (gloo's threads at shutdown aborted now and then on this machine,
    after the work was done)."""
    try:
        _train(rank, world, init_file, solver, result_file)
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def _train(rank, world, init_file, solver, result_file):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from fairseq_helpers import build_lm
    from torch.nn.parallel import DistributedDataParallel as DDP
    torch.manual_seed(0)
    iters = ["--iie-iters", "2"] if solver == "iie" else []
    model, _, _ = build_lm("--ode-solver", solver, *iters, "--dropout", "0.1")
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    ddp = DDP(model, find_unused_parameters=False)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(100 + rank)  # different data per rank
    for _ in range(3):
        tokens = torch.randint(4, 40, (4, 9), generator=gen)
        logits = ddp(tokens[:, :-1])[0]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        torch.save({"same": torch.equal(gathered[0], gathered[1]),
                    "moved": (flat - before).abs().max().item()}, result_file)
    dist.barrier()  # both ranks are done talking before either leaves


@pytest.mark.parametrize("solver", ["iie", "pc"])
def test_ddp_keeps_ranks_identical(solver, tmp_path):
    result = tmp_path / "result.pt"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), solver, str(result)), nprocs=2, join=True)
    out = torch.load(result)
    assert out["same"]
    assert out["moved"] > 0
