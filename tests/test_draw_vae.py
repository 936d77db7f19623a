"""VAE.png, the figure the notebook's markdown shows, is what draw_vae.py draws."""

import numpy as np
from conftest import REPO
from matplotlib.image import imread

import draw_vae


def test_vae_png_is_what_the_script_draws(tmp_path):
    draw_vae.main(["--out", str(tmp_path / "VAE.png")])
    committed = imread(REPO / "VAE.png")
    # Twice the markdown's `width: 300px`, for high-density screens.
    assert committed.shape == (216, 600, 4)
    assert np.array_equal(imread(tmp_path / "VAE.png"), committed)
