"""Draw VAE.png, the figure the notebook's markdown shows (``<img src="VAE.png" ...>``).

The model as the notebook's text describes it: an input image x, the encoder q(z|x)
giving the mean mu and the log-variance log sigma^2 of a Gaussian, a z sampled from it
(z = mu + sigma * eps, eps ~ N(0, I), the reparameterization trick), and the decoder
p(x|z) giving the reconstruction. Our own drawing; the digit is drawn here too.

The markdown shows it 300 px wide; it is drawn at twice that, for sharp high-density
screens, with text that stays readable at 300 px.

    .venv/bin/python draw_vae.py [--out VAE.png]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import (  # noqa: E402
    Circle,
    FancyArrowPatch,
    FancyBboxPatch,
    Polygon,
    Rectangle,
)

HERE = Path(__file__).resolve().parent
WIDTH_PX, HEIGHT_PX, DPI = 600, 216, 100
ENCODER, LATENT, DECODER, INK = "#4c72b0", "#55a868", "#dd8452", "#222222"


def digit():
    """A 28x28 handwritten-looking 7, ink in [0, 1]: a top bar and a slanted downstroke."""
    yy, xx = np.mgrid[0:28, 0:28].astype(float)

    def stroke(x0, y0, x1, y1, width):
        """A pen stroke from (x0, y0) to (x1, y1): full ink on the line, fading over ``width``."""
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        return np.clip(1.6 - np.hypot(xx - x0 - t * dx, yy - y0 - t * dy) / width, 0, 1)

    return np.maximum(stroke(7, 7, 21, 6, 1.3), stroke(21, 6, 12, 23, 1.4))


def blurred(image, passes=2):
    """What a decoder gives back: the same digit, softer (a 3x3 box blur, twice)."""
    for _ in range(passes):
        padded = np.pad(image, 1)
        image = sum(padded[i : i + 28, j : j + 28] for i in range(3) for j in range(3)) / 9
    return np.clip(image * 1.5, 0, 1)


def draw(out):
    """Left to right: x, encoder, (mu, log sigma^2), z, decoder, x-hat; centre line y = mid."""
    fig = plt.figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, 190)
    ax.set_ylim(0, 190 * HEIGHT_PX / WIDTH_PX)
    ax.axis("off")
    mid = 33

    def arrow(start, end):
        ax.add_patch(
            FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, lw=2, color=INK)
        )

    def image(pixels, left, label):
        extent = (left, left + 28, mid - 14, mid + 14)
        ax.imshow(pixels, cmap="gray_r", extent=extent, interpolation="nearest", vmin=0, vmax=1)
        ax.add_patch(Rectangle(extent[::2], 28, 28, fill=False, ec=INK, lw=1))
        ax.text(left + 14, mid - 25, label, ha="center", fontsize=18)

    def funnel(left, left_half, right_half, color, name, model):
        """A trapezoid from a side of height 2 * left_half to one of 2 * right_half."""
        right = left + 26
        corners = [(left, mid - left_half), (right, mid - right_half)]
        corners += [(right, mid + right_half), (left, mid + left_half)]
        ax.add_patch(Polygon(corners, fc=color, ec="none"))
        ax.text(left + 13, mid, model, ha="center", va="center", color="white", fontsize=15)
        ax.text(left + 13, mid + 21, name, ha="center", va="bottom", color=color, fontsize=15)

    def box(bottom, text, size):
        style = "round,pad=0,rounding_size=2.5"
        ax.add_patch(FancyBboxPatch((70, bottom), 22, 13, boxstyle=style, fc=ENCODER, ec="none"))
        ax.text(81, bottom + 6.5, text, ha="center", va="center", color="white", fontsize=size)

    x_image = digit()
    image(x_image, 2, "$x$")
    arrow((30.5, mid), (36, mid))
    funnel(36, 18, 9, ENCODER, "encoder", "$q(z|x)$")

    box(mid + 3, r"$\mu$", 18)
    box(mid - 16, r"$\log\sigma^2$", 14)
    arrow((62, mid + 5), (70, mid + 9.5))
    arrow((62, mid - 5), (70, mid - 9.5))

    # The sampled code: z = mu + sigma * eps, the reparameterization trick.
    ax.add_patch(Circle((110, mid), 8, fc=LATENT, ec="none"))
    ax.text(110, mid, "$z$", ha="center", va="center", color="white", fontsize=18)
    arrow((92, mid + 9.5), (103, mid + 3.5))
    arrow((92, mid - 9.5), (103, mid - 3.5))
    # The noise's label sits left of z's column, clear of the decoder's name.
    noise = r"$\epsilon \sim \mathcal{N}(0, I)$"
    ax.text(101, mid + 21, noise, ha="center", va="bottom", fontsize=15)
    arrow((108, mid + 20.5), (109.5, mid + 8.5))
    ax.text(110, mid - 25, r"$z = \mu + \sigma\epsilon$", ha="center", fontsize=15, color=LATENT)

    arrow((118.5, mid), (126, mid))
    funnel(126, 9, 18, DECODER, "decoder", "$p(x|z)$")
    arrow((152, mid), (159.5, mid))
    image(blurred(x_image), 160, r"$\hat{x}$")

    fig.savefig(out, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "VAE.png")
    args = parser.parse_args(argv)
    draw(args.out)
    print(f"draw_vae: wrote {args.out} ({WIDTH_PX}x{HEIGHT_PX} px, shown at {WIDTH_PX // 2} px)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
