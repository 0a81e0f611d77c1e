"""An image flow measured as the paper reports it, plus ``fd_classifier`` and guided-sample accuracy."""

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..flow import Flow
from ..likelihood import bits_per_dim
from .classifier import accuracy
from .frechet import fd_classifier


@dataclass(frozen=True)
class ImageEvaluation:
    """What [`evaluate_images`][flowkit.images.evaluate.evaluate_images] measured.

    Attributes:
        bits_per_dim: held-out negative log-likelihood in bits per dimension, ``D = C H W``, with
            the data's bin width (dequantized data: an upper bound on the discrete code length).
        nll: the same in nats per image.
        nll_stderr: its standard error over the held-out images.
        nfe_likelihood: field evaluations per likelihood solve (mean over batches).
        nfe_sample: field evaluations of the sampling solve.
        fd_classifier: Fréchet distance of unconditional samples to the held-out images in the
            feature space of flowkit's small classifier (not FID); ``None`` without a classifier.
        guided_accuracy: the classifier's accuracy on class-conditional samples (label ``i % K``
            for sample ``i``); ``None`` for an unconditional flow or without a classifier.
        guided_fd_classifier: ``fd_classifier`` of those class-conditional samples.
        guidance: the classifier-free guidance weight of the class-conditional samples
            (``None``: none, the conditional field alone, as ``w = 1``).
        n_test: held-out images in the likelihood.
        n_samples: samples drawn (each kind).
        likelihood_seconds: wall time of the likelihood solves.
        sample_seconds: wall time of the unconditional sampling solve.
        divergence: ``"exact"`` or ``"hutchinson"``.
    """

    bits_per_dim: float
    nll: float
    nll_stderr: float
    nfe_likelihood: float
    nfe_sample: int
    fd_classifier: float | None
    guided_accuracy: float | None
    guided_fd_classifier: float | None
    guidance: float | None
    n_test: int
    n_samples: int
    likelihood_seconds: float
    sample_seconds: float
    divergence: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return dict(vars(self))


def evaluate_images(
    flow: Flow,
    test: Tensor,
    *,
    bin_width: float | None,
    classifier: nn.Module | None = None,
    num_classes: int | None = None,
    n_samples: int = 1000,
    solver: str | None = "dopri5",
    solver_options: dict[str, Any] | None = None,
    divergence: str = "hutchinson",
    batch_size: int = 500,
    generator: torch.Generator | None = None,
    guidance: float | None = None,
) -> tuple[ImageEvaluation, Tensor, Tensor | None]:
    """Held-out bits/dim, NFE, ``fd_classifier`` of samples, and accuracy of class-conditional samples.

    Args:
        flow: the flow to measure (its EMA weights, for a trained one).
        test: held-out images ``(n, C, H, W)``, dequantized when ``bin_width`` is given.
        bin_width: the data's quantization bin width in model units (``2/256`` for 8-bit).
        classifier: a [`FeatureClassifier`][flowkit.images.FeatureClassifier] for ``fd_classifier``.
        num_classes: draw class-conditional samples too (``label = i % num_classes``).
            The bits/dim and the unconditional samples use the null label, so a
            label-conditional flow must have been trained with ``cond_dropout > 0``
            (otherwise the flow refuses, naming ``label=``).
        n_samples: samples of each kind.
        solver: solver name for every solve (``None``: the flow's own).
        solver_options: its options.
        divergence: ``"hutchinson"`` (one Rademacher probe; exact costs ``D`` backward passes
            per evaluation, ``D = 784`` for MNIST) or ``"exact"``.
        batch_size: images per likelihood solve and per sampling solve.
        generator: random generator for the source draws and the probes.
        guidance: classifier-free guidance weight ``w`` of the class-conditional samples
            (``v_null + w (v_label - v_null)``, two field evaluations per step); ``None``: none.

    Returns:
        ``(evaluation, samples, class_samples)``; ``class_samples`` is ``None`` without ``num_classes``.
    """
    if test.ndim != 4:
        raise ValueError(f"test must be images (n, C, H, W); got shape {tuple(test.shape)}")
    if guidance is not None and num_classes is None:
        raise ValueError(
            "guidance= needs class-conditional samples: pass num_classes= (a label-conditional flow)"
        )
    device = test.device
    dim = math.prod(test.shape[1:])
    start = time.perf_counter()
    log_probs, nfes = [], []
    for chunk in test.split(batch_size):
        lp = flow.log_prob(
            chunk,
            solver=solver,
            solver_options=solver_options,
            divergence=divergence,  # type: ignore[arg-type]
            generator=generator,
        )
        log_probs.append(lp.double())
        nfes.append(flow.nfe or 0)
    lik_seconds = time.perf_counter() - start
    lp = torch.cat(log_probs)

    def draw(label: Tensor | None) -> tuple[Tensor, int]:
        out, nfe = [], 0
        for lo in range(0, n_samples, batch_size):
            m = min(batch_size, n_samples - lo)
            x0 = flow.path.sample_source((m, *test.shape[1:]), device=device, generator=generator)
            cond: dict[str, Any] = (
                {} if label is None else {"label": label[lo : lo + m], "guidance": guidance}
            )
            with torch.no_grad():
                sol = flow.solve(x0, solver=solver, solver_options=solver_options, **cond)
            out.append(sol.x)
            nfe = max(nfe, sol.nfe)
        return torch.cat(out), nfe

    start = time.perf_counter()
    samples, nfe_sample = draw(None)
    sample_seconds = time.perf_counter() - start
    class_samples, guided_acc, guided_fd = None, None, None
    if num_classes is not None:
        labels = torch.arange(n_samples, device=device) % num_classes
        class_samples, _ = draw(labels)
        if classifier is not None:
            guided_acc = accuracy(classifier, class_samples, labels.cpu())
            guided_fd = fd_classifier(classifier, class_samples, test)
    evaluation = ImageEvaluation(
        bits_per_dim=float(bits_per_dim(lp.mean(), dim, 1.0 if bin_width is None else bin_width)),
        nll=float(-lp.mean()),
        nll_stderr=float(lp.std() / math.sqrt(lp.numel())) if lp.numel() > 1 else math.nan,
        nfe_likelihood=sum(nfes) / len(nfes),
        nfe_sample=nfe_sample,
        fd_classifier=None if classifier is None else fd_classifier(classifier, samples, test),
        guided_accuracy=guided_acc,
        guided_fd_classifier=guided_fd,
        guidance=guidance,
        n_test=int(test.shape[0]),
        n_samples=n_samples,
        likelihood_seconds=lik_seconds,
        sample_seconds=sample_seconds,
        divergence=divergence,
    )
    return evaluation, samples, class_samples
