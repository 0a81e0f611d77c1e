"""The training loop: ``train(flow, data, config) -> TrainResult``."""

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from ..errors import CorruptCheckpointError, FlowkitError, RunLockedError, RunMismatchError
from ..flow import Flow
from . import checkpoint as ck
from .batches import BatchSource, is_map_dataset, make_batches, resolve_data
from .config import TrainConfig, TrainResult
from .distributed import DistInfo, setup
from .ema import EMA
from .files import CHECKPOINT_FILE, MANIFEST_FILE, METRICS_FILE, remove_stale_temporaries, truncate_metrics
from .lock import RunLock
from .manifest import (
    check_same_run,
    check_settings,
    effective_manifest,
    make_manifest,
    read_manifest,
    write_manifest,
)
from .monitor import Monitor, non_finite_error
from .step import Step


def train(
    flow: Flow, data: Any, config: TrainConfig | None = None, optimizer: torch.optim.Optimizer | None = None
) -> TrainResult:
    """Train ``flow`` on ``data``; the same call runs on one process or under ``torchrun``.

    Every step draws a batch, sets the warmed-up learning rate, computes
    ``flow.loss`` (under bfloat16 autocast on CUDA), back-propagates, clips the
    gradient norm, steps the optimizer and updates the EMA of the weights. Under
    ``torchrun`` the flow is wrapped in ``DistributedDataParallel``, each process
    takes its shard of the global batch, and rank 0 alone writes files.

    **Host syncs.** Nothing in a step waits for the device. The loss is summed
    on the device, and the first step with a non-finite loss (or gradient
    norm) is recorded there too, as a running minimum of step numbers. Both
    are read once per ``log_every`` steps and before every checkpoint, so a
    NaN at step ``k`` is reported as step ``k`` exactly, at most ``log_every - 1``
    steps later, and no checkpoint taken after step ``k`` is ever written: the
    last checkpoint on disk is the last good one.

    **Resuming** restores the weights, EMA, optimizer, step, every process's
    torch generators and the data sampler's position and generator, so on the
    CPU an interrupted and resumed run ends with bit-identical weights. The
    checkpoint is verified first (checksum, finite values, the flow's tensor
    names, shapes and dtypes), and settings that would change what is
    computed must equal the folder's (see [`flowkit.train.manifest`][flowkit.train.manifest]).

    **The run folder** is locked ([`RunLock`][flowkit.train.lock.RunLock]) for
    the whole call: a second run into it fails at once, naming the holder's
    PID; a lock left by a killed run is taken over, and the temporary files
    that run left are deleted.

    **Seeding.** With ``config.seed`` set, a fresh run seeds torch's global
    generator and the data sampler, so two calls on flows with equal initial
    weights give bit-identical checkpoints on the CPU. The initial weights
    are drawn when the flow is built: seed before building it
    (``torch.manual_seed(seed)``; the ``flowkit`` CLI does).

    Args:
        flow: the flow to train (moved to the device; trained in place).
        data: a data-set name (see [`flowkit.data.DATASETS`][flowkit.data.DATASETS]),
            a tensor ``(N, *dims)``, a map-style ``torch.utils.data.Dataset`` or
            an iterable of batches (see [`flowkit.train.batches`][flowkit.train.batches]).
        config: the run's settings; defaults to ``TrainConfig()``.
        optimizer: an optimizer over ``flow.parameters()``; by default AdamW with
            ``config.lr``, ``config.betas`` and ``config.weight_decay``. A given
            optimizer's own learning rates are the peaks the warm-up reaches.

    Returns:
        A [`TrainResult`][flowkit.train.TrainResult] with the flow, its EMA twin and the metrics.

    Raises:
        NonFiniteLossError: a loss or gradient norm was NaN or infinite (``.step`` names the step).
        RunMismatchError: ``config.out`` holds a run and ``resume`` is off, holds another run,
            or holds this run with other settings (and ``override_settings`` is off).
        RunLockedError: another live process is training into ``config.out``.
        CorruptCheckpointError: the checkpoint to resume from fails a check (the message names it).

    Examples:
        >>> import torch, flowkit
        >>> from flowkit.train import TrainConfig, train
        >>> flow = flowkit.build(dim=2, model=flowkit.MLPField(2, width=16, depth=1))
        >>> cfg = TrainConfig(steps=5, batch_size=32, log_every=5, progress=False)
        >>> result = train(flow, torch.randn(64, 2), cfg)
        >>> result.step, len(result.history)
        (5, 1)
    """
    config = config or TrainConfig()
    info = setup(config.device)
    run = _Run(flow, data, config, optimizer, info)
    try:
        return run.run()
    finally:
        run.release()


class _Run:
    """One call of ``train``: set-up and resumption, the step loop, checkpoints.

    What a step does is ``step.Step``'s; what a run reports, ``monitor.Monitor``'s.
    """

    def __init__(self, flow: Flow, data: Any, config: TrainConfig, optimizer: Any, info: DistInfo) -> None:
        self.config, self.info, self.device = config, info, info.device
        self.lock: RunLock | None = None
        try:
            self._set_up(flow, data, optimizer)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Give up the run folder's lock (when this process holds it)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _set_up(self, flow: Flow, data: Any, optimizer: Any) -> None:
        config, info = self.config, self.info
        if getattr(flow.objective, "paired", False) and config.cond != "x0":
            raise ValueError(
                f"objective {type(flow.objective).__name__} trains on pairs (x1, x0): give paired data "
                f"with TrainConfig(cond='x0'); got cond={config.cond!r}"
            )
        self.flow = flow.to(self.device)
        self.field = self.flow.field
        data, data_info, bin_width = resolve_data(data, config)
        self.out = Path(config.out) if config.out is not None else None
        saved = self._prepare_folder(make_manifest(flow, config, data_info, info.world_size))
        self.start = 0 if saved is None else int(saved[1]["step"])
        if saved is not None:
            self.flow.load_state_dict(ck.section(saved[0], "model"))
        self.ema = EMA(self.field, config.ema_decay, config.ema_warmup)
        self.ema_flow = Flow(
            self.ema.shadow,
            flow.path,
            flow.solver,
            flow.objective,
            flow.event_shape,
            num_classes=flow.num_classes,
            context_shape=flow.context_shape,
        )
        self.optimizer = optimizer or torch.optim.AdamW(
            self.flow.parameters(), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
        )
        _check_optimizer(self.optimizer, self.flow)
        for group in self.optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        seed = config.seed if config.seed is not None else int(torch.randint(0, 2**31, ()))
        per_rank = 0 if isinstance(data, Tensor) or is_map_dataset(data) else info.rank
        generator = torch.Generator().manual_seed(seed + per_rank)
        self.source: BatchSource = make_batches(
            data,
            config.batch_size,
            generator,
            self.device,
            bin_width,
            info.rank,
            info.world_size,
            config.cond,
            flow.num_classes,
        )
        self.source.hflip = config.hflip
        if saved is None:
            if config.seed is not None:
                torch.manual_seed(config.seed + info.rank)
        else:
            try:
                self._restore(*saved)
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
                raise CorruptCheckpointError(
                    f"cannot resume from the checkpoint {self.out / CHECKPOINT_FILE if self.out else ''}: "
                    f"its optimizer, generator or data-position state does not fit this run ({exc})"
                ) from exc
        if config.compile:
            if not hasattr(self.field, "compile"):
                raise RuntimeError("compile= needs torch >= 2.2 (nn.Module.compile, which compiles in place)")
            # In place: the field's state_dict keys, the EMA copy and the checkpoints stay as they are.
            self.field.compile(backend="inductor" if config.compile is True else str(config.compile))
        self.model: Any = self.flow
        if info.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.flow, device_ids=ids)
        self.last_checkpoint: int | None = self.start if saved is not None else None
        self._write_folder()  # only now that everything was read and restored

    # -- run folder --------------------------------------------------------------------------
    def _prepare_folder(self, manifest: dict[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]] | None:
        out = self.out
        if out is None:
            return None
        self._lock_folder(out)
        saved = None
        to_write: dict[str, Any] | None = manifest
        if (out / MANIFEST_FILE).is_file():
            if not self.config.resume:
                raise RunMismatchError(
                    f"{out} already holds a run (it has a {MANIFEST_FILE}); pass resume=True to continue "
                    "it, or choose another folder"
                )
            old = read_manifest(out)
            check_same_run(out, effective_manifest(old), manifest)
            if (out / CHECKPOINT_FILE).is_file():  # else nothing was kept: a fresh start
                saved = ck.read_checkpoint(out)
                ck.check_fits(self.flow, saved[0], out / CHECKPOINT_FILE, ("model", "ema"))
                step = int(saved[1]["step"])
                to_write = check_settings(out, old, manifest, step, self.config.override_settings)
        elif any(not p.name.startswith(".") for p in out.iterdir()):
            raise RunMismatchError(
                f"{out} is not empty and is not a flowkit run folder; choose another folder"
            )
        self._pending = (to_write, 0 if saved is None else int(saved[1]["step"]))
        return saved

    def _write_folder(self) -> None:
        """Rank 0 writes the manifest (or its amendment) and trims the metrics log to the step resumed."""
        if self.out is None:
            return
        to_write, step = self._pending
        if self.info.distributed:
            dist.barrier()  # every rank has read the folder before rank 0 writes
        if self.info.is_main:
            if to_write is not None:
                write_manifest(self.out, to_write)
            truncate_metrics(self.out / METRICS_FILE, step)

    def _lock_folder(self, out: Path) -> None:
        """Rank 0 takes the folder's lock and clears what a killed run left; all ranks learn if it failed."""
        error: FlowkitError | None = None
        if self.info.is_main:
            try:
                self.lock = RunLock(out).acquire()
                remove_stale_temporaries(out)
            except FlowkitError as exc:
                error = exc
        if self.info.distributed:
            message = [None if error is None else str(error)]
            dist.broadcast_object_list(message, src=0)
            if error is None and message[0] is not None:
                raise RunLockedError(message[0])
        if error is not None:
            raise error

    def _restore(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        self.ema_flow.load_state_dict(ck.section(tensors, "ema"))
        if meta.get("optimizer") is not None:
            ck.unpack_optimizer(self.optimizer, tensors, meta["optimizer"])
        rank = self.info.rank
        rng = ck.section(tensors, f"rng/{rank}")
        if rng:
            ck.set_rng_state(rng, self.device)
        elif self.config.seed is not None:  # saved by a job of another size: not bit-exact
            torch.manual_seed(self.config.seed + rank + self.start)
        positions = meta.get("data") or []
        if positions:
            # Indexed data: every rank holds the same position of the global batches.
            own = rank if positions[0].get("kind") != "indexed" and rank < len(positions) else 0
            self.source.restore(positions[own], ck.section(tensors, f"data/{own}"))

    def _save(self, step: int) -> None:
        assert self.out is not None
        rng, data = ck.rng_state(self.device), self.source.state()
        if self.info.distributed:
            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, (rng, data))
            rngs, datas = [g[0] for g in gathered], [g[1] for g in gathered]
        else:
            rngs, datas = [rng], [data]
        if self.info.is_main:
            ck.write_checkpoint(
                self.out,
                self.flow,
                step=step,
                ema_flow=self.ema_flow,
                optimizer=self.optimizer,
                rng=rngs,
                data=datas,
            )
        self.last_checkpoint = step

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.config
        step_once = Step(self.model, self.flow, self.optimizer, self.ema, cfg, self.device)
        monitor = Monitor(self.device, self.info, self.out, self.start, cfg.steps, cfg.progress)
        try:
            for step in range(self.start + 1, cfg.steps + 1):
                x1, second = self.source.next_pair()
                if step == self.start + 1:
                    _check_batch(x1, self.flow)
                loss, grad_norm = step_once(x1, step, **pair_keywords(cfg.cond, second))
                monitor.add(step, loss, grad_norm)
                end = step == cfg.steps
                recording = end or step % cfg.log_every == 0
                saving = self.out is not None and (
                    end or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
                )
                if recording or saving:  # the only host syncs: once per interval and before a checkpoint
                    mean, bad = monitor.read(step)
                    if bad is not None:
                        raise non_finite_error(bad, self.out, self.last_checkpoint)
                    if recording:
                        monitor.log(step, mean, self.optimizer.param_groups[0]["lr"], grad_norm)
                    if saving:
                        self._save(step)
        finally:
            monitor.close()
        return TrainResult(
            flow=self.flow,
            ema_flow=self.ema_flow.eval(),
            step=max(self.start, cfg.steps),
            history=monitor.history,
            wall_time=monitor.elapsed(),
            start_step=self.start,
            out=self.out,
        )


def pair_keywords(cond: str | None, second: Tensor | None) -> dict[str, Tensor]:
    """The ``flow.loss`` keyword for a batch's second element: ``label=``, ``context=`` or ``x0=``."""
    return {} if cond is None or second is None else {cond: second}


def _check_batch(x1: Tensor, flow: Flow) -> None:
    if flow.event_shape is not None and tuple(x1.shape[1:]) != tuple(flow.event_shape):
        raise ValueError(
            f"the data's samples have shape {tuple(x1.shape[1:])} but the flow was built for "
            f"{tuple(flow.event_shape)}"
        )
    if x1.ndim == 4:  # images: warn once when they were evidently not scaled to [-1, 1]
        from ..data.images import check_scale

        check_scale(x1, "the training images")


def _check_optimizer(optimizer: torch.optim.Optimizer, flow: Flow) -> None:
    own = {id(p) for p in flow.parameters()}
    for group in optimizer.param_groups:
        if any(id(p) not in own for p in group["params"]):
            raise ValueError(
                "the optimizer holds parameters that are not the flow's; build it from flow.parameters()"
            )
