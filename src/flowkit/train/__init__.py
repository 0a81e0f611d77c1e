"""Training: a readable loop with EMA, warm-up, clipping, atomic checkpoints and DDP.

[`train`][flowkit.train.train] runs it; [`TrainConfig`][flowkit.train.TrainConfig]
holds the settings; [`load_checkpoint`][flowkit.train.load_checkpoint] rebuilds a
trained flow from its run folder.
"""

from .checkpoint import CheckpointState as CheckpointState
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import read_manifest as read_manifest
from .checkpoint import save_checkpoint as save_checkpoint
from .config import TrainConfig as TrainConfig
from .config import TrainResult as TrainResult
from .ema import EMA as EMA
from .loop import train as train
from .manifest import describe_flow as describe_flow
from .schedule import warmup_factor as warmup_factor

__all__ = [
    "EMA",
    "CheckpointState",
    "TrainConfig",
    "TrainResult",
    "describe_flow",
    "load_checkpoint",
    "read_manifest",
    "save_checkpoint",
    "train",
    "warmup_factor",
]
