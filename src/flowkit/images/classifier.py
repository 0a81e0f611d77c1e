"""A small convolutional classifier whose features define ``fd_classifier``, trained and cached per run.

Inception weights cannot be downloaded here, so flowkit trains its own feature network on the
training split of the data set (a few seconds to a minute on a CPU) and caches it in the run
folder as ``fd_classifier.safetensors``, with the settings and its test accuracy in the file's
metadata. A cached classifier is reused only when those settings match.
"""

import json
import math
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validate import positive_int

CLASSIFIER_FILE = "fd_classifier.safetensors"
"""The cache file inside a run folder."""


class FeatureClassifier(nn.Module):
    """Three 3x3 convolutions (the last two with stride 2), global average pooling, two linear layers.

    ``features(x)`` is the ``feature_dim``-wide activation before the last layer, the space in
    which ``fd_classifier`` compares sample sets; ``forward(x)`` gives class logits.

    Args:
        shape: ``(C, H, W)`` of one image.
        num_classes: number of classes.
        width: channels of the first convolution (doubled in the next two).
        feature_dim: width of the feature layer.

    Examples:
        >>> clf = FeatureClassifier((1, 8, 8), 10)
        >>> clf(torch.zeros(2, 1, 8, 8)).shape, clf.features(torch.zeros(2, 1, 8, 8)).shape
        (torch.Size([2, 10]), torch.Size([2, 64]))
    """

    def __init__(self, shape: tuple[int, int, int], num_classes: int, width: int = 32, feature_dim: int = 64):
        super().__init__()
        self.shape = tuple(shape)
        self.num_classes = positive_int("num_classes", num_classes)
        self.body = nn.Sequential(
            nn.Conv2d(shape[0], width, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, feature_dim),
            nn.SiLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """``(batch, feature_dim)`` features of images ``x (batch, C, H, W)`` in ``[-1, 1]``."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def train_classifier(
    x: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    steps: int = 600,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
) -> FeatureClassifier:
    """Train a [`FeatureClassifier`][flowkit.images.FeatureClassifier] by Adam on cross-entropy.

    Args:
        x: training images ``(n, C, H, W)`` in ``[-1, 1]``.
        labels: their classes ``(n,)``.
        num_classes: number of classes.
        steps: optimizer steps (cosine-decayed learning rate).
        batch_size: images per step.
        lr: peak learning rate.
        seed: seeds the initialisation and the batches.
    """
    positive_int("steps", steps)
    positive_int("batch_size", batch_size)
    if x.ndim != 4 or labels.shape != (x.shape[0],):
        raise ValueError(
            f"need images (n, C, H, W) and labels (n,); got {tuple(x.shape)}, {tuple(labels.shape)}"
        )
    torch.manual_seed(seed)
    clf = FeatureClassifier(tuple(x.shape[1:]), num_classes)  # type: ignore[arg-type]
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    clf.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=generator)
        loss = F.cross_entropy(clf(x[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return clf.eval()


@torch.no_grad()
def accuracy(classifier: nn.Module, x: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Fraction of ``x`` that ``classifier`` assigns to ``labels``."""
    classifier.eval()
    device = next(classifier.parameters()).device
    hits = sum(
        int((classifier(xb.to(device)).argmax(-1).cpu() == yb).sum())
        for xb, yb in zip(x.split(batch_size), labels.split(batch_size))
    )
    return hits / max(1, x.shape[0])


def load_or_train_classifier(
    folder: str | Path,
    data_name: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    *,
    steps: int = 600,
    seed: int = 0,
) -> tuple[FeatureClassifier, dict[str, Any]]:
    """The run folder's cached classifier for ``data_name``, or a new one trained and cached there.

    Returns:
        ``(classifier, info)``: ``info`` holds ``data``, ``shape``, ``num_classes``, ``steps``,
        ``seed``, ``test_accuracy`` and ``cached`` (whether it came from the file).
    """
    x_train, y_train = train
    shape = list(x_train.shape[1:])
    settings = {"data": data_name, "shape": shape, "num_classes": num_classes, "steps": steps, "seed": seed}
    path = Path(folder) / CLASSIFIER_FILE
    if path.is_file():
        with safetensors.safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        stored = json.loads(meta.get("settings", "{}"))
        if stored == settings:
            clf = FeatureClassifier(tuple(shape), num_classes)  # type: ignore[arg-type]
            clf.load_state_dict(safetensors.torch.load_file(str(path)))
            return clf.eval(), {**settings, "test_accuracy": float(meta["test_accuracy"]), "cached": True}
    clf = train_classifier(x_train, y_train, num_classes, steps=steps, seed=seed)
    test_accuracy = accuracy(clf, *test)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"settings": json.dumps(settings), "test_accuracy": repr(test_accuracy)}
    safetensors.torch.save_file(clf.state_dict(), str(path), metadata=metadata)
    return clf, {**settings, "test_accuracy": test_accuracy, "cached": False}
