"""I. Image training step: flowkit's U-Net step against the same network in a hand-written loop.

Both sides train one ``flowkit.UNetField`` (identical initial weights, one shared stream of
MNIST-shaped batches 1x28x28, Adam): the hand-written side computes the OT-path CFM loss itself,
``x_t = x0 + t (x1 - x0)``, ``mse(net(t, x_t), x1 - x0)``; the flowkit side calls
``flow.loss(x1)`` of ``flowkit.build(model=...)``. The ratio is the library's overhead on an
image model (target <= 1.02).

Memory of one training step at batch 128 on 28x28 (CPU; no CUDA allocator statistics here):
the bytes autograd saves for the backward pass (summed over ``saved_tensors_hooks``), plus the
parameters, their gradients and Adam's two moments (4 x parameters x 4 bytes).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .common import Config, Section, Table, fmt_ratio, fmt_stat_time, interleave, met, ratios, summarize
from .train_step import make_stepper, set_shape_checks

SHAPE = (1, 28, 28)


def unet_options(cfg: Config) -> dict[str, Any]:
    """The U-Net of the CPU MNIST recipe (tiny: smaller)."""
    if cfg.mode == "tiny":
        return {"channels": 8, "channel_mult": (1, 2), "num_res_blocks": 1, "heads": 2}
    return {"channels": 32, "channel_mult": (1, 2, 2), "num_res_blocks": 1, "attention_resolutions": (7,)}


def handwritten_loss(net: torch.nn.Module) -> Any:
    def loss(x1: Tensor) -> Tensor:
        x0 = torch.randn_like(x1)
        t = torch.rand(x1.shape[0], dtype=x1.dtype)
        target = x1 - x0
        xt = x0 + t.view(-1, 1, 1, 1) * target
        return F.mse_loss(net(t, xt), target)

    return loss


def saved_bytes(flow: Any, batch: int) -> int:
    """Bytes autograd keeps for the backward pass of one ``flow.loss`` on ``batch`` images."""
    total = 0
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    x1 = torch.rand(batch, *SHAPE) * 2 - 1
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = flow.loss(x1)
    loss.backward()
    return total


def run(cfg: Config) -> Section:
    import flowkit

    sec = Section("image_step", "I. Image training step: U-Net on 1x28x28, flowkit vs hand-written")
    batch = cfg.pick(full=64, quick=32, tiny=4)
    torch.manual_seed(cfg.seed)
    flow = flowkit.build(model="unet", shape=SHAPE, model_options=unet_options(cfg))
    set_shape_checks(flow.objective, True)
    hand_net = copy.deepcopy(flow.field)
    params = sum(p.numel() for p in flow.parameters())
    g = torch.Generator().manual_seed(cfg.seed)
    stream = [torch.rand(batch, *SHAPE, generator=g) * 2 - 1 for _ in range(8)]
    cases = {
        "hand-written": make_stepper(handwritten_loss(hand_net), hand_net.parameters(), stream),
        "flowkit": make_stepper(flow.loss, flow.parameters(), stream),
    }
    repeats = cfg.pick(full=12, quick=5, tiny=2)
    inner = cfg.pick(full=3, quick=2, tiny=1)
    cfg.log(f"  U-Net {params / 1e6:.2f} M parameters, batch {batch}: {repeats} repeats x {inner} steps")
    times = interleave(cases, repeats=repeats, inner=inner, warmup=cfg.pick(full=2, quick=1, tiny=1))
    rel = ratios(times, "hand-written")
    table = Table(
        f"Time per optimizer step, batch {batch}, U-Net {params / 1e6:.2f} M parameters (median, IQR)",
        ["implementation", "time / step", "÷ hand-written"],
    )
    for name, t in times.items():
        table.rows.append([name, fmt_stat_time(summarize(t)), fmt_ratio(rel[name])])
    ratio = rel["flowkit"].median
    table.rows.append(["target", "flowkit / hand-written <= 1.02", f"{ratio:.3f} {met(ratio <= 1.02)}"])
    sec.tables.append(table)

    mem_batch = cfg.pick(full=128, quick=128, tiny=4)
    activations = saved_bytes(flow, mem_batch)
    state = 4 * params * 4
    mem = Table(
        f"Memory of one training step at batch {mem_batch} on 28x28 (float32, CPU)",
        ["what", "MiB"],
    )
    mem.rows.append(["tensors saved for backward (activations)", f"{activations / 2**20:.1f}"])
    mem.rows.append(["parameters + gradients + Adam moments", f"{state / 2**20:.1f}"])
    mem.rows.append(["total", f"{(activations + state) / 2**20:.1f}"])
    sec.tables.append(mem)
    sec.notes.append(
        "Measured on the CPU: no GPU was available to this session, so no CUDA peak-memory figure; the "
        "saved-tensor bytes are what a GPU step would also hold (bf16 autocast would roughly halve them)."
    )
    sec.data = {
        "batch": batch,
        "parameters": params,
        "unet_options": unet_options(cfg),
        "seconds_per_step": {k: summarize(v) for k, v in times.items()},
        "ratio": ratio,
        "raw": dict(times),
        "memory": {"batch": mem_batch, "saved_bytes": activations, "optimizer_state_bytes": state},
    }
    return sec
