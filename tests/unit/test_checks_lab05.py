"""Lab 05 checks: pass on the genlab references, fail with a teaching message on classic mistakes."""

import pytest
import torch

from genlab import losses, masks
from genlab.checks import CheckFailed
from genlab.checks.lab05 import (
    check_apply_mask,
    check_block_mask,
    check_composite,
    check_masked_mse,
)


def test_lab05_checks_pass_on_references(capsys):
    assert check_block_mask(masks.block_mask)
    assert check_apply_mask(masks.apply_mask)
    assert check_masked_mse(losses.masked_mse)
    assert check_composite(masks.composite)
    assert capsys.readouterr().out.count("all checks passed") == 4


def _inverted_block(batch, size, hole, generator=None):
    return 1 - masks.block_mask(batch, size, hole, generator)


def _clipped_block(batch, size, hole, generator=None):
    # corner anywhere in the image: the square falls partly outside and is cut off
    corner = torch.randint(0, size, (2, batch), generator=generator)
    m = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        m[b, 0, corner[0, b]:corner[0, b] + hole, corner[1, b]:corner[1, b] + hole] = 1
    return m


def _exclusive_high(batch, size, hole, generator=None):
    corner = torch.randint(0, max(1, size - hole), (2, batch), generator=generator)
    m = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        m[b, 0, corner[0, b]:corner[0, b] + hole, corner[1, b]:corner[1, b] + hole] = 1
    return m


def _ignores_generator(batch, size, hole, generator=None):
    return masks.block_mask(batch, size, hole)


def _wrong_side(batch, size, hole, generator=None):
    return masks.block_mask(batch, size, hole - 1, generator)


def _one_corner(batch, size, hole, generator=None):
    return masks.block_mask(1, size, hole, generator).expand(batch, 1, size, size).clone()


@pytest.mark.parametrize("wrong, words", [
    (_inverted_block, "inverted"),
    (_clipped_block, "cut off by the image border"),
    (_exclusive_high, "exclusive"),
    (_ignores_generator, "generator"),
    (_wrong_side, "wrong side"),
    (_one_corner, "per image"),
    (lambda b, s, h, generator=None: masks.block_mask(b, s, h, generator).bool(), "float"),
    (lambda b, s, h, generator=None: masks.block_mask(b, s, h, generator)[:, 0], "shape"),
])
def test_block_mask_catches_mistakes(wrong, words):
    torch.manual_seed(0)
    with pytest.raises(CheckFailed, match=words):
        check_block_mask(wrong)


def _in_place(x, mask, fill=0.0):
    x.mul_(1 - mask)
    return x + fill * mask


@pytest.mark.parametrize("wrong, words", [
    (lambda x, mask, fill=0.0: x * mask, "multiply by \\(1 - mask\\)"),
    (lambda x, mask, fill=0.0: x * (1 - mask), "ignore `fill`"),
    (_in_place, "in place"),
])
def test_apply_mask_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_apply_mask(wrong)


def _per_image_mean(x_hat, x, mask):
    return (((x_hat - x) ** 2 * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1)).mean()


def _no_expand(x_hat, x, mask):
    return ((x_hat - x) ** 2 * mask).sum() / mask.sum().clamp_min(1)


@pytest.mark.parametrize("wrong, words", [
    (lambda x_hat, x, mask: ((x_hat - x) ** 2).mean(), "ALL pixels"),
    (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask).mean(), "still divided"),
    (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask).sum(), "a sum"),
    (lambda x_hat, x, mask: ((x_hat - x) ** 2 * (1 - mask)).sum() / (1 - mask).sum(), "KNOWN"),
    (_per_image_mean, "not one mean per image"),
    (lambda x_hat, x, mask: losses.masked_mse(x_hat, x, mask).detach(), "differentiable"),
    (_no_expand, "expand the mask"),
    (lambda x_hat, x, mask: ((x_hat - x) ** 2 * mask.expand_as(x)).sum() / mask.expand_as(x).sum(), "clamp"),
])
def test_masked_mse_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_masked_mse(wrong)


@pytest.mark.parametrize("wrong, words", [
    (lambda x_hat, x, mask: x_hat, "overwritten"),
    (lambda x_hat, x, mask: x_hat * (1 - mask) + x * mask, "overwritten"),
    (lambda x_hat, x, mask: x * (1 - mask), "the model's prediction"),
])
def test_composite_catches_mistakes(wrong, words):
    with pytest.raises(CheckFailed, match=words):
        check_composite(wrong)


def test_unimplemented_is_reported():
    def todo(*a, **k):
        raise NotImplementedError
    for check in (check_block_mask, check_apply_mask, check_masked_mse, check_composite):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(todo)
