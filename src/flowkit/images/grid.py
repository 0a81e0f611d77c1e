"""Sample grids: a batch of images ``(n, C, H, W)`` in ``[-1, 1]`` tiled into one picture."""

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def image_grid(images: Tensor, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile ``images (n, C, H, W)`` in ``[-1, 1]`` row by row into a ``uint8`` picture.

    Image ``i`` goes to row ``i // ncol``, column ``i % ncol``; cells are separated (and framed)
    by ``pad`` white pixels. Values are clipped to ``[-1, 1]`` and mapped to ``0..255``.

    Args:
        images: ``(n, C, H, W)`` with ``C`` 1 (grey) or 3 (colour).
        ncol: images per row; default ``ceil(sqrt(n))``.
        pad: border width in pixels.

    Returns:
        ``(rows * (H + pad) + pad, ncol * (W + pad) + pad)`` for grey images, with a trailing
        axis of 3 for colour.

    Examples:
        >>> image_grid(torch.tensor([[[[-1.0]]], [[[1.0]]]]), ncol=2, pad=0).tolist()
        [[0, 255]]
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (n, C, H, W) with C 1 or 3; got {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = ncol or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / ncol))
    pixels = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    grid = np.full((c, rows * (h + pad) + pad, ncol * (w + pad) + pad), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = pixels[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def save_image_grid(
    images: Tensor, path: str | Path, ncol: int | None = None, pad: int = 1, scale: int = 1
) -> Path:
    """Write [`image_grid`][flowkit.images.image_grid] as a PNG, each pixel ``scale`` x ``scale``."""
    from PIL import Image

    picture = image_grid(images, ncol, pad)
    if scale > 1:
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)
    return path
