"""The residual-on-a-classical-fill repairer (fill_repair) and its task."""

from __future__ import annotations

import pytest
import torch

from genlab import baselines
from genlab.masks import apply_mask, make_mask
from genlab.models import FillRepairConfig, FillResidualRepairer, build
from genlab.train import FAMILY_TASKS, FillRepairTask, build_task


def _batch(channels: int, size: int = 16, n: int = 3):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, size, size, generator=g)
    mask = make_mask("center", n, size, hole=size // 2)
    return x, mask


@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_known_pixels(channels: int) -> None:
    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, channels=channels, fill="mean")
    x, mask = _batch(channels)
    out = model(apply_mask(x, mask), mask)
    assert out.shape == x.shape
    known = mask.expand_as(x) == 0
    assert torch.equal(out[known], x[known])
    # fully convolutional: another size divisible by 4 works
    x2, m2 = _batch(channels, size=24)
    assert model(apply_mask(x2, m2), m2).shape == x2.shape


@pytest.mark.parametrize("channels", [1, 3])
def test_untrained_repairer_is_exactly_the_biharmonic_fill(channels: int) -> None:
    torch.manual_seed(0)
    model = FillResidualRepairer(FillRepairConfig(image_size=16, channels=channels))
    x, mask = _batch(channels)
    xm = apply_mask(x, mask)
    assert torch.allclose(model(xm, mask), baselines.biharmonic(xm, mask), atol=1e-6)


def test_gradients_reach_the_network_not_the_fill() -> None:
    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, channels=1, fill="mean")
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, mask = _batch(1)
    for _ in range(2):  # the zero head gets a gradient first, then every layer does
        opt.zero_grad()
        loss = ((model(apply_mask(x, mask), mask) - x) ** 2 * mask).mean()
        loss.backward()
        opt.step()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["head.weight"].abs().sum() > 0 and grads["encoders.0.0.weight"].abs().sum() > 0


def test_bad_fill_and_bad_size_are_named() -> None:
    with pytest.raises(ValueError, match="fill must be one of"):
        build("fill_repair", fill="telea")
    with pytest.raises(ValueError):
        build("fill_repair", image_size=18)


def test_task_is_registered_augments_and_rebuilds() -> None:
    assert FAMILY_TASKS["fill_repair"] is FillRepairTask
    torch.manual_seed(0)
    task = FillRepairTask(build("fill_repair", image_size=8, fill="mean"), lr=1e-3, masks=("center", "rows"),
                          seed=0)
    x = torch.rand(4, 1, 8, 8)
    y = task.augment_batch(x)
    assert y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
    loss = task.losses((x, None))["loss"]
    assert torch.isfinite(loss) and loss.requires_grad
    again = build_task(task.spec())
    assert isinstance(again, FillRepairTask) and again.augment and again.loss_name == "psnr"


def test_sobel_is_the_slope_of_a_ramp_and_zero_on_a_constant() -> None:
    from genlab.models.fill_repair import sobel

    yy, xx = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    ramp = (0.25 * xx - 0.5 * yy).view(1, 1, 8, 8)
    g = sobel(ramp)
    assert g.shape == (1, 2, 8, 8)
    assert torch.allclose(g[0, 0, 1:-1, 1:-1], torch.full((6, 6), 0.25))
    assert torch.allclose(g[0, 1, 1:-1, 1:-1], torch.full((6, 6), -0.5))
    assert torch.equal(sobel(torch.full((2, 3, 5, 5), 0.7)), torch.zeros(2, 6, 5, 5))


@pytest.mark.parametrize("channels", [1, 3])
def test_fill_gradients_add_input_channels_and_a_given_fill_is_used(channels: int) -> None:
    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, channels=channels, fill_gradients=True)
    assert model.encoders[0][0].in_channels == 4 * channels + 1
    nn_init = torch.nn.init
    nn_init.normal_(model.head.weight, std=0.1)  # a non-zero residual, so the fill is not all there is
    x, mask = _batch(channels)
    xm = apply_mask(x, mask)
    fill = baselines.biharmonic(xm, mask)
    # passing the fill the model would compute changes nothing
    assert torch.allclose(model(xm, mask, fill), model(xm, mask), atol=1e-6)
    # passing another fill is used: the output moves with it
    assert not torch.allclose(model(xm, mask, fill + 0.1), model(xm, mask), atol=1e-3)
    with pytest.raises(ValueError, match="fill must have the shape"):
        model(xm, mask, fill[:, :1].expand(-1, channels + 1, -1, -1))


def test_fill_pool_draws_masks_once_and_fills_them_like_the_baseline() -> None:
    from genlab.train import fill_pool, mask_mix

    x = torch.rand(10, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    masks = mask_mix([("center", {"hole": 8}), ("rows", {"rows": 3}), ("rows", {"rows": 6})])
    xs, aux = fill_pool(x, masks, seed=5, chunk=4)
    assert torch.equal(xs, x) and aux.shape == (10, 2, 16, 16)
    mask, fill = aux[:, :1], aux[:, 1:]
    assert torch.equal(mask, masks(10, (16, 16), torch.Generator().manual_seed(5)))
    assert torch.allclose(fill, baselines.biharmonic(x * (1 - mask), mask))
    # both band heights of the pair syntax are there
    rows_per_image = mask[:, 0, :, 0].sum(dim=1)
    assert {3.0, 6.0} <= set(rows_per_image.tolist())
    # deterministic, and the same whatever the number of worker processes
    _, again = fill_pool(x, masks, seed=5, chunk=4, workers=2)
    assert torch.equal(again, aux)
    _, other = fill_pool(x, masks, seed=6, chunk=4)
    assert not torch.equal(other[:, :1], mask)
    with pytest.raises(ValueError, match="fill must be one of"):
        fill_pool(x, masks, fill="telea")
    with pytest.raises(ValueError, match="workers and chunk"):
        fill_pool(x, masks, workers=0)


def test_pooled_task_maps_image_mask_and_fill_by_one_symmetry() -> None:
    """An untrained repairer returns its fill exactly, so on a pool its loss is biharmonic's own hole
    PSNR on the same (turned) images and masks; a fill turned differently from its image would not be."""
    from genlab.train import fill_pool, mask_mix

    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    # smooth but not symmetric under any turn or flip: a fill turned the wrong way is far off
    x = torch.stack([0.2 + 0.3 * xx * yy ** (1 + i) + 0.3 * torch.sin(3 * xx + i * yy) ** 2
                     for i in range(8)]).unsqueeze(1)
    masks = mask_mix([("block", {"hole": 6})])
    pool = fill_pool(x, masks, seed=3)
    model = build("fill_repair", image_size=16)
    task = FillRepairTask(model, lr=1e-3, masks=masks, seed=0)
    before = task.generator.get_state()
    loss = float(task.losses(pool)["loss"].detach())
    assert not torch.equal(task.generator.get_state(), before)  # the symmetries were drawn
    mask, fill = pool[1][:, :1], pool[1][:, 1:]
    mse = ((fill - x) ** 2 * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
    expected = float(10 * torch.log10(mse + 1e-5).mean())
    assert loss == pytest.approx(expected, abs=0.05)
    turned = ((fill.flip(-1) - x) ** 2 * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
    assert float(10 * torch.log10(turned + 1e-5).mean()) > expected + 3
    # with augment off: the same number (biharmonic commutes with the symmetries)
    plain = FillRepairTask(build("fill_repair", image_size=16), lr=1e-3, masks=masks, seed=0, augment=False)
    assert float(plain.losses(pool)["loss"].detach()) == pytest.approx(expected, abs=0.05)
    with pytest.raises(ValueError, match="fill pool"):
        task.losses((x, pool[1][:, :1]))


def test_cosine_schedule_warms_up_decays_and_resumes_on_its_curve() -> None:
    from types import SimpleNamespace

    from genlab.train import CosineLR

    sched = CosineLR(100, warmup=0.1)
    assert sched.factor(0) == pytest.approx(0.1) and sched.factor(9) == pytest.approx(1.0)
    assert sched.factor(10) == pytest.approx(1.0) and sched.factor(55) == pytest.approx(0.5)
    assert sched.factor(100) == pytest.approx(0.0, abs=1e-12)
    factors = [sched.factor(t) for t in range(10, 101)]
    assert all(a >= b for a, b in zip(factors, factors[1:], strict=False))
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-3)
    ctx = SimpleNamespace(task=SimpleNamespace(optimizers={"model": opt}), step=0)
    sched.on_train_begin(ctx)
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-4)
    ctx.step = 55
    sched.on_step(ctx)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    # a resumed optimiser (its state dict keeps initial_lr) continues on the same curve
    state = opt.state_dict()
    opt2 = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-3)
    opt2.load_state_dict(state)
    ctx2 = SimpleNamespace(task=SimpleNamespace(optimizers={"model": opt2}), step=55)
    CosineLR(100, warmup=0.1).on_train_begin(ctx2)
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="CosineLR"):
        CosineLR(0)


def test_square_symmetries_are_eight_distinct_invertible_maps() -> None:
    from genlab.masks import square_symmetry

    t = torch.arange(2 * 3 * 4 * 4.0).view(2, 3, 4, 4)
    images = [square_symmetry(t, k) for k in range(8)]
    assert len({tuple(im.flatten().tolist()) for im in images}) == 8
    for k in range(8):
        assert torch.equal(square_symmetry(square_symmetry(t, k), k, inverse=True), t)
    assert torch.equal(square_symmetry(t, 0), t)
    with pytest.raises(ValueError, match="0-7"):
        square_symmetry(t, 8)


def test_self_ensemble_keeps_the_fill_keeps_known_pixels_and_averages_turns() -> None:
    from genlab.restoration import SelfEnsemble

    torch.manual_seed(0)
    model = build("fill_repair", image_size=16, fill_gradients=True).eval()
    x, mask = _batch(1)
    xm = apply_mask(x, mask)
    # an untrained repairer is its fill in every orientation: the ensemble is biharmonic
    with torch.no_grad():
        assert torch.allclose(SelfEnsemble(model)(xm, mask), baselines.biharmonic(xm, mask), atol=1e-5)
        torch.nn.init.normal_(model.head.weight, std=0.1)
        ens = SelfEnsemble(model)(xm, mask)
        single = model(xm, mask)
    known = mask.expand_as(x) == 0
    assert torch.allclose(ens[known], x[known])
    assert not torch.allclose(ens, single, atol=1e-4)  # the turns really differ
    # a repairer without a fill works too; on a non-square image only the 4 flips are used
    calls = []

    def flat(xm_, m_):
        calls.append(xm_.shape)
        return xm_ + m_ * 0.5
    out = SelfEnsemble(flat)(torch.zeros(1, 1, 4, 6), torch.ones(1, 1, 4, 6))
    assert len(calls) == 4 and torch.allclose(out, torch.full((1, 1, 4, 6), 0.5))


def test_a_task_with_a_mask_mix_sampler_rebuilds_from_its_spec() -> None:
    """resume_latest rebuilds a preset's task from its checkpoint: the sampler must come back too."""
    from genlab.train import mask_mix

    masks = mask_mix([("center", {"hole": 8}), ("rows", {"rows": 3}), ("rows", {"rows": 6})])
    task = FillRepairTask(build("fill_repair", image_size=16, fill="mean"), lr=1e-3, masks=masks, seed=0)
    again = build_task(task.spec())
    assert again.hparams["masks"] == task.hparams["masks"] == masks.spec
    x = torch.zeros(7, 1, 16, 16)
    assert torch.equal(again.peek_masks(x), task.peek_masks(x))
