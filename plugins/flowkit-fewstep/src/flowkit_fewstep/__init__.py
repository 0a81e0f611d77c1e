"""flowkit-fewstep: few-step sampling for flowkit.

- Reflow (rectified flow): [`generate_couplings`][flowkit_fewstep.generate_couplings],
  [`reflow`][flowkit_fewstep.reflow], [`straightness`][flowkit_fewstep.straightness].
- Training on couplings with ``flowkit.train``: [`train_on_pairs`][flowkit_fewstep.train_on_pairs].
- One-step distillation: [`OneStepDistillation`][flowkit_fewstep.OneStepDistillation]
  (``objective="distill"``, a paired objective) and [`distill`][flowkit_fewstep.distill].
- MeanFlow: [`MeanFlow`][flowkit_fewstep.MeanFlow] (``objective="meanflow"``),
  [`MeanFlowMLP`][flowkit_fewstep.MeanFlowMLP], and the samplers ``solver="meanflow"``
  (one step) and ``solver="meanflow2"`` (two steps).
- Commands ``flowkit reflow`` and ``flowkit distill``.
"""

from .couplings import Couplings as Couplings
from .couplings import generate_couplings as generate_couplings
from .couplings import load_couplings as load_couplings
from .distill import OneStepDistillation as OneStepDistillation
from .fields import MeanFlowMLP as MeanFlowMLP
from .meanflow import MeanFlow as MeanFlow
from .meanflow import meanflow_target as meanflow_target
from .nfe import solver_for_nfe as solver_for_nfe
from .reflow import ReflowRound as ReflowRound
from .reflow import distill as distill
from .reflow import distillation_student as distillation_student
from .reflow import rectified_copy as rectified_copy
from .reflow import reflow as reflow
from .reflow import train_on_pairs as train_on_pairs
from .samplers import MeanFlowSampler as MeanFlowSampler
from .samplers import TwoStepMeanFlow as TwoStepMeanFlow
from .straightness import Straightness as Straightness
from .straightness import straightness as straightness

__all__ = [
    "Couplings",
    "MeanFlow",
    "MeanFlowMLP",
    "MeanFlowSampler",
    "OneStepDistillation",
    "ReflowRound",
    "Straightness",
    "TwoStepMeanFlow",
    "distill",
    "distillation_student",
    "generate_couplings",
    "load_couplings",
    "meanflow_target",
    "rectified_copy",
    "reflow",
    "solver_for_nfe",
    "straightness",
    "train_on_pairs",
]
