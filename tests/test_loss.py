import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from maven.evaluation.retrieval import retrieval_metrics
from maven.training.loss import ClipLoss


def _numpy_clip_loss(p, s, scale):
    """Slow reference: symmetric InfoNCE written out with loops."""
    logits = scale * p @ s.T
    n = len(p)
    total = 0.0
    for i in range(n):
        row = logits[i]
        total += -(row[i] - np.log(np.exp(row).sum()))
        col = logits[:, i]
        total += -(col[i] - np.log(np.exp(col).sum()))
    return total / (2 * n)


@pytest.mark.parametrize("n, d, scale", [(4, 8, 1.0), (16, 32, 14.3), (7, 3, 100.0)])
def test_matches_numpy_reference(n, d, scale):
    rng = np.random.default_rng(n)
    p = rng.normal(size=(n, d))
    s = rng.normal(size=(n, d))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    got = ClipLoss()(torch.tensor(p), torch.tensor(s), torch.tensor(scale, dtype=torch.float64))
    assert float(got) == pytest.approx(_numpy_clip_loss(p, s, scale), rel=1e-9)


def test_analytic_case_identical_embeddings():
    e = F.normalize(torch.ones(5, 4), dim=1)
    assert float(ClipLoss()(e, e, torch.tensor(3.0))) == pytest.approx(math.log(5))


def test_retrieval_metrics():
    e = torch.eye(4)
    m = retrieval_metrics(e, e, ks=(1, 2))
    assert m["phot2spec_top1"] == 1.0 and m["spec2phot_mean_rank"] == 1.0
    shuffled = e[[1, 0, 2, 3]]
    m = retrieval_metrics(e, shuffled, ks=(1, 2))
    assert m["phot2spec_top1"] == 0.5 and m["phot2spec_top2"] == 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, p, s, scale, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    b = p.shape[0] // world
    lp = p[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    ls = s[rank * b : (rank + 1) * b].clone().requires_grad_(True)
    loss = ClipLoss()(lp, ls, scale)
    loss.backward()
    out[rank] = (float(loss), lp.grad.clone() / world, torch.distributed.get_world_size())
    torch.distributed.destroy_process_group()


def test_two_processes_give_the_single_process_loss_and_gradient():
    torch.manual_seed(0)
    p = F.normalize(torch.randn(8, 6, dtype=torch.float64), dim=1)
    s = F.normalize(torch.randn(8, 6, dtype=torch.float64), dim=1)
    scale = torch.tensor(10.0, dtype=torch.float64)
    ref_p = p.clone().requires_grad_(True)
    ref = ClipLoss()(ref_p, s, scale)
    ref.backward()
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(2, _free_port(), p, s, scale, out), nprocs=2, join=True)
    for rank in (0, 1):
        loss, grad, world = out[rank]
        assert world == 2
        assert loss == pytest.approx(float(ref), rel=1e-12)
        torch.testing.assert_close(grad, ref_p.grad[rank * 4 : (rank + 1) * 4])
