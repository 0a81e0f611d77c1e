"""The learning-rate schedule: linear warm-up, then constant."""


def warmup_factor(step: int, warmup_steps: int) -> float:
    """The multiplier of the peak learning rate at optimizer step ``step`` (1-based).

    ``min(1, step / warmup_steps)``: the first step uses ``lr / warmup_steps``,
    step ``warmup_steps`` and later use the full ``lr``; ``warmup_steps = 0``
    means no warm-up.

    Examples:
        >>> [warmup_factor(s, 4) for s in (1, 2, 4, 10)]
        [0.25, 0.5, 1.0, 1.0]
    """
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, step / warmup_steps)
