"""The fit report names the sampled lenses whose chains did not converge."""

from lensbench.report.fit import RHAT_LIMIT, _unconverged


def test_only_lenses_above_the_limit_are_named():
    post = {"rows": [0, 5, 8], "snr": [10.0, 30.0, 100.0], "lens_max_rhat": [1.002, 1.52, RHAT_LIMIT]}
    text = _unconverged(post)
    assert "on 1 of 3 lenses: mock 5 (SNR 30, R-hat 1.520)" in text
    assert "mock 0" not in text and "mock 8" not in text


def test_older_results_without_per_lens_r_hat_say_nothing_more():
    assert _unconverged({"rows": [0], "snr": [10.0]}) == ""
