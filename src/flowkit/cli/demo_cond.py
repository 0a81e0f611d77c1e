"""``flowkit demo --cond``: a label-conditional flow with classifier-free guidance, drawn per class.

Trains an OT-CFM MLP on a labelled 2-D data set (the 8 gaussians by default: label =
component) with ``cond_dropout`` 0.1, then samples every class at guidance scales
``w = 0, 1, 3`` and writes ``classes.png`` (rows: ``w``, columns: classes). Prints, per ``w``,
the NFE and the class accuracy of the samples: the fraction whose nearest labelled held-out
point has the requested class.
"""

import argparse
import time
from pathlib import Path

import torch

from ._common import check_output_folder, heldout_data, heldout_labels, pick_device
from .demo_config import demo_config

SCALES = (0.0, 1.0, 3.0)
"""Guidance scales the demo draws."""


def run_conditional(args: argparse.Namespace) -> int:
    from .. import MLPField, build
    from ..data import get_dataset, load_dataset
    from ..plots import data_bounds, plot_class_grid
    from ..train import save_checkpoint, train

    wall = time.perf_counter()
    name = args.data or "8gaussians"
    spec = get_dataset(name)
    if spec.event_shape != (2,) or spec.num_classes is None:
        raise ValueError(f"demo --cond draws labelled 2-D data (8gaussians, moons); {name!r} is not one")
    out, device = Path(args.out), pick_device(args.device)
    check_output_folder(out)  # before the work, not after
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    k = spec.num_classes
    flow = build(
        solver="rk4",
        solver_options={"steps": 20},
        model=MLPField(2, width=args.width, depth=args.depth, num_classes=k),
        dim=2,
        num_classes=k,
        objective_options={"cond_dropout": 0.1},
    )
    config = demo_config(args, device, spec.name, cond="label")
    print(
        f"flowkit demo --cond: label-conditional OT-CFM on {spec.name} ({k} classes), cond_dropout 0.1, "
        f"MLP {args.width}x{args.depth}, {args.steps} steps of batch {args.batch_size} on {device}"
    )
    data = load_dataset(spec.name, None, generator=torch.Generator().manual_seed(args.seed), with_labels=True)
    result = train(flow, data, config)
    ema = result.ema_flow
    save_checkpoint(out / "run", result.flow, ema, step=result.step, config=config, data_name=spec.name)
    print(f"trained in {result.wall_time:.1f} s ({result.steps_per_s:.0f} steps/s)")
    held, _ = heldout_data(spec.name, args.n_eval, args.seed, device)
    held_y = heldout_labels(spec.name, args.n_eval, args.seed, device)
    per_class = max(1, args.n_eval // k)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    x0 = ema.path.sample_source((per_class, 2), device=device, generator=generator)
    samples = {}
    print(f"{'w':>4}  {'NFE':>4}  class accuracy (nearest held-out point, {per_class} samples per class)")
    for w in SCALES:
        correct = 0
        for c in range(k):
            x = ema.sample(x0, label=c, guidance=w)
            samples[(w, c)] = x
            correct += int((held_y[torch.cdist(x, held).argmin(dim=1)] == c).sum())
        print(f"{w:>4g}  {ema.nfe:>4}  {correct / (per_class * k):.3f}")
    picture = plot_class_grid(
        samples,
        held.cpu(),
        out / "classes.png",
        bounds=data_bounds(held.cpu(), margin=0.25),
        title=f"{spec.name}: samples per class (columns) and guidance scale w (rows)",
    )
    print(f"wrote {picture} and the run folder {out / 'run'} | wall time {time.perf_counter() - wall:.1f} s")
    return 0
