r"""A user's own images: a folder of PNGs or an ``.npz`` file, as ``(N, C, H, W)`` in ``[-1, 1]``.

The shape is read from the files. Integer pixels with ``B`` bits (``L = 2^B`` levels) are
scaled like the built-in digits: a value ``v`` becomes its bin centre ``(v + 1/2) w - 1`` with
``w = 2 / L``, and ``bin_width = w`` is returned so that training dequantizes every batch with
fresh uniform noise in the bin (on for 8-bit data) and bits/dim are those of the 8-bit code.
Floating-point arrays in an ``.npz`` are taken as already scaled (no dequantization); values far
outside ``[-1, 1]`` raise a warning that scaling is probably missing.

* **Folder**: every ``*.png`` directly inside it, in sorted name order. Grey images (``L``, ``I;16``)
  give ``C = 1``, colour ones (``RGB``) ``C = 3``; palette images are converted to ``RGB`` and an
  alpha channel is dropped. All images must share one size and one channel count.
* **npz**: the array ``x`` (or ``images``, or the only array), ``uint8``/``uint16`` or float, shaped
  ``(N, H, W)``, ``(N, C, H, W)`` or channels-last ``(N, H, W, C)`` with ``C`` in 1, 3, 4; an
  optional integer array ``y`` (or ``labels``) of shape ``(N,)`` holds class labels.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SCALE_WARNING_LIMIT = 1.5
"""Float data whose largest magnitude exceeds this gets a warning that scaling is probably missing."""


@dataclass(frozen=True)
class ImageData:
    """Images read from files.

    Attributes:
        x: ``(N, C, H, W)`` float32 in ``[-1, 1]`` (bin centres for integer data).
        labels: ``(N,)`` int64 class labels, or ``None``.
        bin_width: ``2 / L`` for ``L``-level integer data (dequantization and bits/dim), else ``None``.
        source: the folder or file they came from.
    """

    x: Tensor
    labels: Tensor | None
    bin_width: float | None
    source: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        c, h, w = self.x.shape[1:]
        return (int(c), int(h), int(w))


def _scale_integers(array: np.ndarray, levels: int) -> tuple[Tensor, float]:
    width = 2.0 / levels
    return torch.from_numpy((array.astype(np.float64) + 0.5) * width - 1.0).float(), width


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                mode = image.mode
            if mode in ("RGBA", "LA"):
                image = image.convert(mode[:-1])
                mode = image.mode
            if mode == "I" or mode.startswith("I;16"):
                array = np.asarray(image, dtype=np.uint16)
            elif mode in ("L", "RGB"):
                array = np.asarray(image, dtype=np.uint8)
            else:
                raise ValueError(f"{path}: unsupported image mode {mode!r} (use grey L or RGB PNGs)")
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read the image {path}: {exc}") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def load_image_folder(folder: str | Path) -> ImageData:
    """Every PNG directly inside ``folder``, stacked to ``(N, C, H, W)`` in ``[-1, 1]``.

    Raises:
        ValueError: no such folder, no PNG in it, an unreadable file, or images of mixed size or
            channel count (the message names the first file that differs).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--data {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise ValueError(f"--data {folder}: the folder holds no .png images")
    arrays = [_read_png(files[0])]
    first = arrays[0]
    for path in files[1:]:
        array = _read_png(path)
        if array.shape != first.shape or array.dtype != first.dtype:
            raise ValueError(
                f"--data {folder}: images of mixed sizes: {files[0].name} is (C, H, W) = {first.shape} "
                f"({first.dtype}) but {path.name} is {array.shape} ({array.dtype}); resize them to one size"
            )
        arrays.append(array)
    stacked = np.stack(arrays)
    x, width = _scale_integers(stacked, 2 ** (8 * stacked.dtype.itemsize))
    return ImageData(x=x, labels=None, bin_width=width, source=str(folder))


def _channels_first(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4:
        if array.shape[1] in (1, 3, 4):
            return array
        if array.shape[-1] in (1, 3, 4):
            return array.transpose(0, 3, 1, 2)
    raise ValueError(
        f"--data {path}: images must be (N, H, W), (N, C, H, W) or (N, H, W, C) with C in 1, 3, 4; "
        f"got an array of shape {array.shape}"
    )


def load_npz(path: str | Path) -> ImageData:
    """Images (and labels, when present) from an ``.npz`` file; see the module docstring for the keys.

    Raises:
        ValueError: a missing or unreadable file, no image array, a bad shape or dtype, or labels
            that do not match the images.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--data {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:
        raise ValueError(f"cannot read {path} as an .npz archive: {exc}") from None
    key = next((k for k in ("x", "images") if k in arrays), None)
    if key is None:
        if len(arrays) != 1:
            raise ValueError(
                f"--data {path}: no array named 'x' or 'images' (found: {', '.join(arrays) or 'none'})"
            )
        key = next(iter(arrays))
    array = _channels_first(arrays[key], path)
    if array.shape[0] == 0:
        raise ValueError(f"--data {path}: the array {key!r} holds no images")
    if array.dtype in (np.uint8, np.uint16):
        x, width = _scale_integers(array, 2 ** (8 * array.dtype.itemsize))
        bin_width: float | None = width
    elif np.issubdtype(array.dtype, np.floating):
        x, bin_width = torch.from_numpy(array.astype(np.float32)), None
        check_scale(x, f"--data {path}")
    else:
        raise ValueError(f"--data {path}: images must be uint8, uint16 or float; got {array.dtype}")
    labels = None
    label_key = next((k for k in ("y", "labels") if k in arrays), None)
    if label_key is not None:
        y = arrays[label_key]
        if y.shape != (array.shape[0],) or not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
            raise ValueError(
                f"--data {path}: labels {label_key!r} must be non-negative integers of shape "
                f"({array.shape[0]},); got {y.dtype} {y.shape}"
            )
        labels = torch.from_numpy(y.astype(np.int64))
    return ImageData(x=x, labels=labels, bin_width=bin_width, source=str(path))


def load_images(source: str | Path) -> ImageData:
    """A folder of PNGs or an ``.npz`` file, by what ``source`` is."""
    path = Path(source)
    if path.suffix.lower() == ".npz":
        return load_npz(path)
    return load_image_folder(path)


def check_scale(x: Tensor, what: str) -> None:
    """Warn when ``x`` lies far outside ``[-1, 1]``: the data were probably not scaled."""
    if x.numel() == 0:
        return
    peak = float(x.abs().max())
    if peak > SCALE_WARNING_LIMIT:
        warnings.warn(
            f"{what}: values reach {peak:.4g}, far outside [-1, 1]; scaling is probably missing "
            "(divide 8-bit pixels by 127.5 and subtract 1, or save them as uint8)",
            stacklevel=2,
        )


__all__ = ["ImageData", "check_scale", "load_image_folder", "load_images", "load_npz"]
