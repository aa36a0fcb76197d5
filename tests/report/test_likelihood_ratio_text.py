"""The likelihood-ratio report's statement of the normalized calibration's Monte-Carlo error."""

import numpy as np

from lensbench.report.likelihood_ratio import offset_error_sentence
from lensbench.sbi.inference import threshold


def test_offset_error_is_the_delta_method_standard_error():
    text = offset_error_sentence({"n_reference": 10000, "effective_size_median": 25.0, "effective_size_min": 10000.0})
    assert f"{np.sqrt(1 / 25 - 1 / 10000):.3f} nats at the median point" in text
    assert "0.000 at the worst" in text  # equal weights: the mean is exact
    assert f"{threshold(0.95) / 200:.3f} nats already reach" in text
    assert "by 200 e" in text


def test_offset_error_matches_a_bootstrap_of_lognormal_weights():
    rng = np.random.default_rng(0)
    weights = rng.lognormal(0.0, 1.0, 2000)
    ess = weights.sum() ** 2 / (weights**2).sum()
    boot = [-np.log(weights[rng.integers(0, len(weights), len(weights))].mean()) for _ in range(400)]
    text = offset_error_sentence({"n_reference": len(weights), "effective_size_median": ess, "effective_size_min": ess})
    stated = float(text.split("is ")[1].split(" nats")[0])
    assert abs(stated - np.std(boot)) < 0.2 * np.std(boot)
