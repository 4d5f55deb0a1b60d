import copy
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skforensics.optim import GRACE, SAM, frozen_bn_stats  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _quadratic(dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(dim, dim, generator=g)
    a = m @ m.T + torch.eye(dim)
    w = torch.nn.Parameter(torch.randn(dim, generator=g))
    return a, w


def _closure(opt, a, w):
    def closure():
        opt.zero_grad()
        loss = 0.5 * w @ a @ w
        loss.backward()
        return loss

    return closure


def test_sam_step_uses_gradient_at_perturbed_point():
    a, w = _quadratic()
    w0 = w.detach().clone()
    lr, rho = 0.1, 0.3
    opt = SAM([w], torch.optim.SGD, rho=rho, lr=lr)
    opt.step(_closure(opt, a, w))
    g = a @ w0
    e = rho * g / g.norm()
    expected = w0 - lr * (a @ (w0 + e))
    torch.testing.assert_close(w.detach(), expected, rtol=1e-5, atol=1e-6)


def test_asam_perturbation():
    a, w = _quadratic(seed=1)
    w0 = w.detach().clone()
    rho = 0.2
    opt = SAM([w], torch.optim.SGD, rho=rho, adaptive=True, lr=0.0)
    loss = 0.5 * w @ a @ w
    loss.backward()
    opt.first_step()
    g = a @ w0
    e = rho * w0**2 * g / (w0.abs() * g).norm()
    torch.testing.assert_close(w.detach() - w0, e, rtol=1e-5, atol=1e-7)
    opt.second_step()
    torch.testing.assert_close(w.detach(), w0)  # lr=0: restored exactly


def test_sam_rho_zero_equals_base_optimizer():
    torch.manual_seed(0)
    net1 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    net2 = copy.deepcopy(net1)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    sam = SAM(net1.parameters(), torch.optim.SGD, rho=0.0, lr=0.1, momentum=0.9)
    sgd = torch.optim.SGD(net2.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):

        def c1():
            sam.zero_grad()
            loss = torch.nn.functional.cross_entropy(net1(x), y)
            loss.backward()
            return loss

        sam.step(c1)
        sgd.zero_grad()
        torch.nn.functional.cross_entropy(net2(x), y).backward()
        sgd.step()
    for p1, p2 in zip(net1.parameters(), net2.parameters()):
        torch.testing.assert_close(p1, p2)


def test_bn_stats_frozen_on_second_pass():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    ref = copy.deepcopy(net)
    x, y = torch.randn(8, 3) + 2, torch.randint(0, 2, (8,))
    opt = SAM(net.parameters(), torch.optim.SGD, rho=0.5, lr=0.0)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return loss

    opt.step(closure, bn_module=net)
    ref(x)  # one pass only
    torch.testing.assert_close(net[1].running_mean, ref[1].running_mean)
    torch.testing.assert_close(net[1].running_var, ref[1].running_var)
    assert int(net[1].num_batches_tracked) == 1
    assert net[1].momentum == ref[1].momentum


def test_frozen_bn_stats_restores_on_error():
    bn = torch.nn.BatchNorm1d(2, momentum=0.3)
    with pytest.raises(RuntimeError):
        with frozen_bn_stats(bn):
            bn(torch.randn(4, 2) + 5)
            raise RuntimeError("boom")
    assert bn.momentum == 0.3
    assert torch.all(bn.running_mean == 0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(rho=-1.0), "rho"),
        (dict(rho=float("nan")), "rho"),
        (dict(base_optimizer="sgd"), "base_optimizer"),
    ],
)
def test_sam_bad_params(kwargs, match):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises((ValueError, TypeError), match=match):
        SAM([w], lr=0.1, **kwargs)


def test_sam_step_needs_closure():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="closure"):
        SAM([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="first_step"):
        SAM([w], lr=0.1).second_step()


def test_sam_state_dict_and_pickle_keep_base_state():
    a, w = _quadratic()
    opt = SAM([w], torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    opt.step(_closure(opt, a, w))
    sd = opt.state_dict()
    assert "base_optimizer" in sd
    buf = opt.base_optimizer.state[w]["momentum_buffer"].clone()
    opt2 = pickle.loads(pickle.dumps(opt))
    assert opt2.param_groups is opt2.base_optimizer.param_groups
    assert opt2.param_groups[0]["rho"] == 0.1
    w3 = torch.nn.Parameter(w.detach().clone())
    opt3 = SAM([w3], torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9)
    opt3.load_state_dict(sd)
    torch.testing.assert_close(opt3.base_optimizer.state[w3]["momentum_buffer"], buf)


def test_lr_scheduler_acts_on_base_optimizer():
    a, w = _quadratic()
    opt = SAM([w], torch.optim.SGD, rho=0.1, lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.step(_closure(opt, a, w))
    sched.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == 0.5


def _two_layer(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))


def test_grace_power_zero_full_rank_is_sam():
    net1, x, y = _two_layer(), torch.randn(10, 6), torch.randint(0, 3, (10,))
    net2 = copy.deepcopy(net1)
    sam = SAM(net1.parameters(), rho=0.2, lr=0.1)
    grace = GRACE(net2.parameters(), rho=0.2, curvature_power=0.0, rank=None, lr=0.1)
    for _ in range(3):
        for net, opt in ((net1, sam), (net2, grace)):

            def closure(net=net, opt=opt):
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(x), y)
                loss.backward()
                return loss

            opt.step(closure)
    for p1, p2 in zip(net1.parameters(), net2.parameters()):
        torch.testing.assert_close(p1, p2)


def test_grace_radius_and_curvature_scaling():
    net, x, y = _two_layer(1), torch.randn(10, 6), torch.randint(0, 3, (10,))
    rho = 0.3
    opt = GRACE(net.parameters(), rho=rho, curvature_power=0.5, lr=0.0)
    before = [p.detach().clone() for p in net.parameters()]
    torch.nn.functional.cross_entropy(net(x), y).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    opt.first_step()
    e = [p.detach() - b for p, b in zip(net.parameters(), before)]
    total = torch.sqrt(sum((t**2).sum() for t in e))
    assert float(total) == pytest.approx(rho, rel=1e-5)
    np.testing.assert_allclose(opt.layer_radius_, [float(t.norm()) for t in e], rtol=1e-5)
    # each tensor moves along its own gradient, scaled by curvature^-1/2 (first step: c = mean g^2)
    curv = torch.stack([(g**2).mean() for g in grads])
    w = (curv / curv.mean()) ** -0.5
    scale = [float(t.norm() / g.norm()) for t, g in zip(e, grads)]
    ratio = np.array(scale) / w.numpy()
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
    opt.second_step()
    for p, b in zip(net.parameters(), before):
        torch.testing.assert_close(p.detach(), b)


def test_grace_low_rank_perturbation():
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 6)
    x, y = torch.randn(20, 8), torch.randint(0, 6, (20,))
    opt = GRACE(lin.parameters(), rho=0.5, rank=1, lr=0.0)
    w0 = lin.weight.detach().clone()
    torch.nn.functional.cross_entropy(lin(x), y).backward()
    opt.first_step()
    e = lin.weight.detach() - w0
    s = torch.linalg.svdvals(e)
    assert s[1] < 1e-5 * s[0]


def test_grace_trains_and_pickles():
    net, x, y = _two_layer(2), torch.randn(32, 6), torch.randint(0, 3, (32,))
    opt = GRACE(net.parameters(), rho=0.05, lr=0.2, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        return loss

    first = float(closure().detach())
    for _ in range(30):
        opt.step(closure)
    assert float(closure().detach()) < first
    opt2 = pickle.loads(pickle.dumps(opt))
    assert opt2.rank is None and opt2.beta == opt.beta


@pytest.mark.parametrize(
    "kwargs",
    [dict(beta=1.0), dict(beta=-0.1), dict(rank=0), dict(rank=1.5), dict(curvature_power=-1)],
)
def test_grace_bad_params(kwargs):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError):
        GRACE([w], lr=0.1, **kwargs)
