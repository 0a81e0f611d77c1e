"""The training settings shared by ``flowkit demo`` and ``flowkit demo --cond``."""

import argparse
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from ..train import TrainConfig


def demo_config(
    args: argparse.Namespace, device: torch.device, data_name: str, **extra: Any
) -> "TrainConfig":
    """The demos' training settings (``--cond`` passes ``cond="label"`` through ``extra``)."""
    from ..train import TrainConfig

    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=min(100, args.steps // 10),
        ema_decay=0.998,
        seed=args.seed,
        device=str(device),
        data_name=data_name,
        dequantize=False,
        log_every=max(1, min(25, args.steps // 20)),
        checkpoint_every=None,
        progress=not args.quiet,
        **extra,
    )
