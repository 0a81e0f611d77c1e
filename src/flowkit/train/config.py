"""What a training run is asked to do (``TrainConfig``) and what it gives back (``TrainResult``)."""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validate import in_interval, nonnegative_int, positive_float, positive_int
from ..flow import Flow

COND_KINDS = (None, "label", "context", "x0")
"""What the second element of paired training data can be (``TrainConfig.cond``)."""

RUN_ONLY_FIELDS = frozenset({"out", "resume", "progress", "device", "steps", "checkpoint_every", "log_every"})
"""Fields that say where and how a run is carried out rather than what it computes; they may
differ between a run and its resumption (see [`flowkit.train.manifest`][flowkit.train.manifest])."""


@dataclass
class TrainConfig:
    """Settings of one training run. Every field has a default.

    Attributes:
        steps: total optimizer steps of the run (a resumed run continues up to it).
        batch_size: the *global* batch: under DDP each of ``W`` processes takes
            ``batch_size / W`` samples of it. Ignored for iterable data, whose
            batches are used as they come.
        lr: peak learning rate.
        warmup_steps: the learning rate grows linearly, ``lr * min(1, step / warmup_steps)``
            for steps ``1, 2, ...``; ``0`` disables the warm-up.
        weight_decay: AdamW's decoupled weight decay (ignored with a user optimizer).
        betas: AdamW's ``(beta1, beta2)``.
        grad_clip: clip the global gradient norm to this value; ``None`` disables.
        ema_decay: decay of the exponential moving average of the weights.
        ema_warmup: use ``min(ema_decay, (1 + step) / (10 + step))`` so early
            averages are not dominated by the initial weights.
        seed: seeds torch's global generator (``seed + rank``) and the data
            sampler at the start of a fresh run; ``None`` leaves the global
            generator alone and seeds the sampler from it.
        device: ``"cuda"``, ``"cpu"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
        bf16: autocast the loss to bfloat16 on CUDA (never on the CPU).
        compile: ``torch.compile`` the field in place: ``True`` for the default
            backend or a backend name such as ``"inductor"`` or ``"eager"``.
        dequantize: add uniform noise within each quantization bin to every
            batch. ``True`` uses the data set's bin width when it has one (the
            digits); a float sets the bin width; ``False`` turns it off.
        data_size: number of samples to draw when ``data`` is a data-set name
            (``None``: the data set's default).
        data_name: a label recorded in the run manifest when ``data`` is not a name.
        cond: what the second element of paired data is: ``"label"`` (class ids,
            passed as ``flow.loss(x, label=y)``), ``"context"`` (float features,
            ``context=y``) or ``"x0"`` (the source sample paired with ``x``, passed
            as ``flow.loss(x, x0=y)``, for reflow couplings); ``None`` for plain
            data. Paired data is a ``(x, y)`` tuple of tensors, a ``TensorDataset``,
            a map-style dataset returning ``(x, y)`` or ``{"x": x, cond: y}``, an
            iterable of such batches, or a built-in data-set name that carries
            labels (``8gaussians``, ``moons``, ``digits``) with ``cond="label"``.
        log_every: steps between metric records (and between host syncs; see
            [`train`][flowkit.train.train]).
        checkpoint_every: steps between checkpoints (``None``: only at the end).
            Ignored without ``out``.
        out: run folder for the manifest, checkpoints and the metrics log;
            ``None`` writes nothing.
        resume: continue the run in ``out`` from its checkpoint (a fresh run if it
            has none); without it, a folder that already holds a run is refused.
        progress: show a progress bar (on rank 0).
        override_settings: resume even though settings that change what is computed
            (``lr``, ``batch_size``, ``seed``, ...) differ from the folder's; the change is
            recorded in the manifest as an amendment with its step. Without it such a
            resume is refused, listing the old and new values.
        hflip: flip each image of a batch left-right with probability 1/2 (data
            ``(N, C, H, W)``); the draws come from the batch generator, so a resumed run
            flips as the uninterrupted one would. Off by default (wrong for digits).
    """

    steps: int = 1000
    batch_size: int = 256
    lr: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0
    ema_decay: float = 0.999
    ema_warmup: bool = True
    seed: int | None = 0
    device: str | None = None
    bf16: bool = True
    compile: bool | str = False
    dequantize: bool | float = True
    data_size: int | None = None
    data_name: str | None = None
    cond: str | None = None
    log_every: int = 50
    checkpoint_every: int | None = 1000
    out: str | None = None
    resume: bool = False
    progress: bool = True
    override_settings: bool = False
    hflip: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every"):
            positive_int(name, getattr(self, name))
        if self.checkpoint_every is not None:
            positive_int("checkpoint_every", self.checkpoint_every)
        if self.data_size is not None:
            positive_int("data_size", self.data_size)
        nonnegative_int("warmup_steps", self.warmup_steps)
        positive_float("lr", self.lr)
        if self.grad_clip is not None:
            positive_float("grad_clip", self.grad_clip)
        in_interval("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        if not isinstance(self.dequantize, bool):
            positive_float("dequantize", self.dequantize)  # True, False or a bin width
        if self.cond not in COND_KINDS:
            raise ValueError(f"cond must be one of {', '.join(map(repr, COND_KINDS))}; got {self.cond!r}")
        if not isinstance(self.hflip, bool):
            raise TypeError(f"hflip must be True or False; got {self.hflip!r}")
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        if self.out is not None:
            self.out = str(self.out)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild from [`to_dict`][flowkit.train.TrainConfig.to_dict]'s output; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        return cls(**kwargs)


@dataclass
class TrainResult:
    """What [`train`][flowkit.train.train] returns.

    Attributes:
        flow: the trained flow (its last weights), on the training device.
        ema_flow: the same flow with the EMA weights: use it to sample and evaluate.
        step: the step reached (equals ``config.steps``).
        history: the metric records of this call, one per log interval:
            ``step``, ``loss`` (mean over the interval), ``lr``, ``grad_norm``,
            ``steps_per_s`` and ``time`` (seconds since this call began).
        wall_time: seconds spent in this call.
        start_step: the step this call started from (``0`` unless resumed).
        out: the run folder, when there is one.
    """

    flow: Flow
    ema_flow: Flow
    step: int
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time: float = 0.0
    start_step: int = 0
    out: Path | None = None

    @property
    def losses(self) -> list[tuple[int, float]]:
        """``(step, mean loss over the interval ending at step)`` for each record."""
        return [(int(r["step"]), float(r["loss"])) for r in self.history]

    @property
    def steps_per_s(self) -> float:
        """Average optimizer steps per second of this call."""
        done = self.step - self.start_step
        return done / self.wall_time if self.wall_time > 0 else float("nan")
