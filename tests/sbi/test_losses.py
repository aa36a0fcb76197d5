"""Each likelihood-ratio loss on a hand-computed case."""

import math

import pytest
import torch

from lensbench.sbi import losses


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_alices_by_hand():
    # one pair: ln r_hat = 0 (g = 1/2), ln r_joint = ln 3 (s = 1/4); scores differ by (1, 2)
    value = losses.alices(_t(0.0), _t(0.5, 0.5)[None], _t(math.log(3.0)), _t(1.5, 2.5)[None], alpha=0.1)
    cross_entropy = -(0.25 * math.log(0.5) + 0.75 * math.log(0.5))
    assert float(value) == pytest.approx(cross_entropy + 0.1 * (1.0 + 4.0))


def test_score_mask_keeps_the_numerator_pairs_and_averages_over_all():
    # two pairs with squared score errors 5 and 25; the mask drops the second (a flipped pair)
    score_hat, score = _t(0.0, 0.0, 0.0, 0.0).reshape(2, 2), _t(1.0, 2.0, 3.0, 4.0).reshape(2, 2)
    log_r = _t(0.0, 0.0)
    both = losses.alices(log_r, score_hat, log_r, score, alpha=1.0)
    numerator = losses.alices(log_r, score_hat, log_r, score, alpha=1.0, score_mask=_t(1.0, 0.0))
    assert float(both) == pytest.approx(math.log(2.0) + (5.0 + 25.0) / 2)
    assert float(numerator) == pytest.approx(math.log(2.0) + 5.0 / 2)


def test_carl_by_hand():
    # ln r_hat = ln 4: g = 1/5; y = 1 (reference) costs -ln g, y = 0 costs -ln(1 - g)
    value = losses.carl(_t(math.log(4.0), math.log(4.0)), _t(1.0, 0.0))
    assert float(value) == pytest.approx((-math.log(0.2) - math.log(0.8)) / 2)


def test_rolr_and_rascal_by_hand():
    log_r_hat, log_r = _t(math.log(2.0), math.log(2.0)), _t(math.log(3.0), math.log(4.0))
    y = _t(0.0, 1.0)
    expected = ((2.0 - 3.0) ** 2 + (0.5 - 0.25) ** 2) / 2
    assert float(losses.rolr(log_r_hat, log_r, y)) == pytest.approx(expected)
    score_hat, score = _t(0.0, 0.0, 1.0, 1.0).reshape(2, 2), _t(1.0, 0.0, 1.0, 3.0).reshape(2, 2)
    assert float(losses.rascal(log_r_hat, score_hat, log_r, score, y, alpha=2.0)) == pytest.approx(
        expected + 2.0 * (1.0 + 4.0) / 2)


def test_rolr_clips_huge_ratios():
    value = losses.rolr(_t(0.0), _t(80.0), _t(0.0))
    assert math.isfinite(float(value)) and float(value) == pytest.approx((1.0 - math.exp(losses.LOG_RATIO_CLIP)) ** 2)


def test_unknown_loss_is_named():
    with pytest.raises(ValueError, match="unknown loss 'alice'; one of: alices, carl, rolr, rascal"):
        losses.ratio_loss("alice", _t(0.0), None, _t(0.0), None, _t(0.0), 0.0)


def test_without_score_weight_the_scores_are_not_needed():
    value = losses.ratio_loss("alices", _t(0.0), None, _t(math.log(3.0)), None, _t(0.0), 0.0)
    assert float(value) == pytest.approx(-(0.25 * math.log(0.5) + 0.75 * math.log(0.5)))
    assert float(losses.ratio_loss("rascal", _t(0.0), None, _t(0.0), None, _t(1.0), 0.0)) == 0.0
