"""Log-likelihoods of flows: the instantaneous change of variables, divergences and bits/dim.

``log p_1(x) = log p_0(x_0) - int_0^1 div v_t(x_t) dt``, integrated from data
(``t = 1``) back to noise (``t = 0``) with any registered solver; the
divergence is exact or Hutchinson's estimate. See
[`log_prob`][flowkit.likelihood.log_prob].
"""

from .bpd import bits_per_dim as bits_per_dim
from .bpd import dequantize as dequantize
from .change_of_variables import LikelihoodResult as LikelihoodResult
from .change_of_variables import likelihood as likelihood
from .change_of_variables import log_prob as log_prob
from .divergence import draw_probes as draw_probes
from .divergence import exact_divergence as exact_divergence
from .divergence import hutchinson_divergence as hutchinson_divergence

__all__ = [
    "LikelihoodResult",
    "bits_per_dim",
    "dequantize",
    "draw_probes",
    "exact_divergence",
    "hutchinson_divergence",
    "likelihood",
    "log_prob",
]
