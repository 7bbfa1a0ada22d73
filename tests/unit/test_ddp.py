"""DDP on the CPU: two gloo processes launched by torchrun train like one process on the global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from genlab.train import AutoencoderTask, fit, read_checkpoint

WORKER = textwrap.dedent("""
    import os, sys, torch
    from torch import nn
    from genlab.train import AutoencoderTask, fit

    class Net(nn.Module):  # no BatchNorm: per-rank means average to the full-batch gradient
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 64))
        def forward(self, x):
            return self.net(x).view(-1, 1, 8, 8)

    torch.set_num_threads(1)
    out = sys.argv[1]
    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    task = AutoencoderTask(Net(), lr=1e-2, model_name="net")
    hist = fit(task, x, epochs=2, batch_size=16, device="cpu", progress=False, checkpoint_dir=out)
    rank = int(os.environ["RANK"])
    torch.save({k: v.clone() for k, v in task.model.state_dict().items()}, f"{out}/rank{rank}.pt")
    torch.save({"loss": hist["loss"]}, f"{out}/hist{rank}.pt")
""")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 64))

    def forward(self, x):
        return self.net(x).view(-1, 1, 8, 8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_two_gloo_ranks_match_single_process(tmp_path):
    torch.set_num_threads(1)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", GENLAB_DEVICE="cpu")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    # The same training in one process on the same global batches.
    x = torch.rand(48, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    single = AutoencoderTask(Net(), lr=1e-2, model_name="net")
    hist = fit(single, x, epochs=2, batch_size=16, device="cpu", progress=False)

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for name, ref in single.model.state_dict().items():
        torch.testing.assert_close(rank0[name], ref, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(rank1[name], rank0[name], rtol=0, atol=0)  # DDP keeps ranks in sync
    # Logged losses are averaged across ranks: they equal the full-batch losses.
    logged = torch.load(tmp_path / "hist0.pt", weights_only=True)["loss"]
    assert logged == pytest.approx(hist["loss"], rel=1e-4)
    # Only rank 0 wrote the checkpoint, and it holds the trained weights.
    state = read_checkpoint(tmp_path / "checkpoint.pt", expected=single)
    assert state["epoch"] == 2 and state["step"] == 6
    torch.testing.assert_close(state["modules"]["model"]["net.1.weight"], rank0["net.1.weight"])
