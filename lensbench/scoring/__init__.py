"""Score real FITS stamps with a trained classifier: the core of ``lensbench apply``.

Ko (2023), section "Application to COSMOS Survey Data" (text, no equation number), applies the
CNN trained on simulated single galaxies to the COSMOS F814W stamps (0.03 arcsec per pixel,
counts/s): stamps over 80 or under 50 pixels per side, or with a pixel above 2 counts/s, are
rejected, the rest normalised "just as the single galaxy simulation images". The paper's own
counts are data, not code: a spec's ``[application.paper]`` (``specs/papers/cosmos.toml``)
passed as :func:`apply_model`'s ``paper``.

Every stamp goes through the same steps, in this order:

1. Reading (:func:`lensbench.io.fits.iter_stamps`): stamps with NaN or infinite pixels, and
   unreadable inputs, are reported as problems and never reach the table.
2. The cuts (:func:`lensbench.io.preprocess.apply_cuts`) on the stamp in its own units: side
   in pixels, brightest pixel in the file's units (COSMOS: counts/s). A stamp may fail several.
3. Bringing the stamp to the network's input size (H, W) with
   :func:`lensbench.io.preprocess.prepare_batch`: by default cropped or padded at its native
   pixel scale (``preparation = "native"``), or resampled (``"resample"``), then that
   function's normalisation (``Preprocessing.normalisation``; ``"none"`` in the pipeline, so
   step 4 is the only one).
4. The per-image normalisation the network was trained with, the model card's ``normalize``,
   through :func:`lensbench.io.preprocess.normaliser`: one definition for training and apply.
5. Softmax probabilities (:func:`lensbench.training.predict`); the score is the probability of the
   last class (``"halo"`` for Ko's ``["no_halo", "halo"]``), the predicted class the most
   probable one.
6. The half-light radius and flux of each scored stamp (:mod:`lensbench.scoring.measure`), the
   check of the model's training domain against the inputs (:mod:`lensbench.scoring.domain`)
   and, when asked, the controls of what the fraction means (:mod:`lensbench.scoring.controls`:
   the zoom curve, the size-matched simulated control, the score-size correlation).

The results are ``predictions.csv``, ``predictions.fits`` and ``apply.json``; the report on
them is :mod:`lensbench.report.apply`'s job.

A likelihood-ratio estimator (task ``likelihood_ratio``, Brehmer et al. 2019) is applied by
:mod:`lensbench.scoring.ratio` instead: lens images in, their combined (f_sub, beta) map and its
confidence regions out.
"""

from lensbench.scoring.classifier import find_model_dir, load_classifier, preprocessing_for
from lensbench.scoring.controls import ZOOMS, ControlConfig, control_from_card
from lensbench.scoring.score import ApplyResult, apply_model
from lensbench.scoring.stream import Gallery

__all__ = ["ZOOMS", "ApplyResult", "ControlConfig", "Gallery", "apply_model", "control_from_card",
           "find_model_dir", "load_classifier", "preprocessing_for"]
