r"""The Fréchet distance between Gaussians fitted to two feature sets, and ``fd_classifier``.

For ``N(mu_1, S_1)`` and ``N(mu_2, S_2)`` the squared 2-Wasserstein (Fréchet) distance is

$$
d^2 = \|\mu_1 - \mu_2\|^2 + \operatorname{tr}\Big(S_1 + S_2 - 2\big(S_1^{1/2} S_2 S_1^{1/2}\big)^{1/2}\Big).
$$

The matrix square roots are taken through symmetric eigendecompositions in float64 (negative
round-off eigenvalues are clipped to zero), so no complex parts arise.
"""

import torch
from torch import Tensor, nn


def _sqrt_psd(m: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def frechet_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared Fréchet distance between Gaussians fitted to features ``a (n, d)`` and ``b (m, d)``.

    Means and (unbiased) covariances of each set; see the module docstring for the formula.

    Returns:
        A 0-d float64 tensor.

    Examples:
        >>> a = torch.tensor([[0.0], [2.0]])  # mean 1, variance 2
        >>> round(frechet_distance(a, a + 3).item(), 6)  # only the means differ
        9.0
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (n, d) and (m, d); got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors on each side; got {a.shape[0]} and {b.shape[0]}")
    a, b = a.double(), b.double()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root1 = _sqrt_psd(s1)
    cross = _sqrt_psd(root1 @ s2 @ root1)
    return (mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * torch.trace(cross)


@torch.no_grad()
def fd_classifier(classifier: nn.Module, samples: Tensor, reference: Tensor, batch_size: int = 500) -> float:
    """``fd_classifier``: the Fréchet distance between ``classifier.features`` of samples and reference.

    Not FID: the features are those of flowkit's small classifier trained on the data set
    (see [`FeatureClassifier`][flowkit.images.FeatureClassifier]), so values are comparable only
    between runs that use the same cached classifier.
    """
    features = getattr(classifier, "features", None)
    if features is None:
        raise TypeError("classifier must have a features(x) method (a flowkit FeatureClassifier)")
    classifier.eval()
    device = next(classifier.parameters()).device
    fa = torch.cat([features(x.to(device)) for x in samples.split(batch_size)])
    fb = torch.cat([features(x.to(device)) for x in reference.split(batch_size)])
    return float(frechet_distance(fa, fb))
