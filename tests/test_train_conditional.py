"""Training on paired data (labels, context, source samples) and conditioning through checkpoints."""

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

import flowkit
from flowkit.field.conditioning import NULL_LABEL
from flowkit.objective.cfm import CFM
from flowkit.train import TrainConfig, train


def small(**kw: Any) -> flowkit.Flow:
    torch.manual_seed(0)
    model = flowkit.MLPField(
        2, width=16, depth=1, num_classes=kw.get("num_classes"), context_dim=kw.get("context_dim")
    )
    return flowkit.build(model=model, dim=2, solver="euler", solver_options={"steps": 4}, **kw)


def cfg(**kw: Any) -> TrainConfig:
    base: dict[str, Any] = {"steps": 4, "batch_size": 32, "progress": False, "log_every": 2}
    base.update(kw)
    return TrainConfig(**base)


class Recorder(CFM):
    """CFM that remembers what reached it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def compute(self, field: Any, path: Any, x1: Tensor, x0: Tensor | None = None, **cond: Any) -> Tensor:
        self.calls.append({"x1": x1, "x0": x0, **cond})
        return super().compute(field, path, x1, x0, **cond)


class DictData(Dataset[dict[str, Tensor]]):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "label": self.y[i]}


X = torch.randn(64, 2)
Y = torch.arange(64) % 4


@pytest.mark.parametrize(
    "data",
    [(X, Y), TensorDataset(X, Y), DictData(X, Y), [(X[:32], Y[:32]), (X[32:], Y[32:])]],
    ids=["tensor-pair", "TensorDataset", "dict-dataset", "iterable"],
)
def test_every_paired_form_delivers_each_samples_own_label(data: Any) -> None:
    objective = Recorder()
    flow = flowkit.build(
        objective=objective, model=flowkit.MLPField(2, width=8, depth=1, num_classes=4), dim=2
    )
    train(flow, data, cfg(cond="label"))
    assert len(objective.calls) == 4
    for call in objective.calls:
        # the label of each row is the one it was stored with (shuffling kept the pairs together)
        rows = torch.cdist(call["x1"], X).argmin(dim=1)
        assert torch.equal(call["label"], Y[rows]) and call["label"].dtype == torch.long


def test_context_and_x0_pairs_reach_the_loss_as_their_keywords() -> None:
    context = torch.randn(64, 3)
    objective = Recorder()
    flow = flowkit.build(
        objective=objective, model=flowkit.MLPField(2, width=8, depth=1, context_dim=3), dim=2
    )
    train(flow, (X, context), cfg(cond="context", steps=2))
    rows = torch.cdist(objective.calls[0]["x1"], X).argmin(dim=1)
    torch.testing.assert_close(objective.calls[0]["context"], context[rows])
    source = torch.randn(64, 2)
    objective = Recorder()
    train(flowkit.build(objective=objective, dim=2), (X, source), cfg(cond="x0", steps=2))
    rows = torch.cdist(objective.calls[0]["x1"], X).argmin(dim=1)
    torch.testing.assert_close(objective.calls[0]["x0"], source[rows])
    assert "label" not in objective.calls[0]


@pytest.mark.parametrize("name", ["8gaussians", "moons", "digits"])
def test_built_in_labelled_data_sets_train_with_their_labels(name: str) -> None:
    spec = flowkit.data.get_dataset(name)
    assert spec.num_classes is not None
    objective = Recorder()
    model = flowkit.MLPField(spec.dim, width=8, depth=1, num_classes=spec.num_classes)
    flow = flowkit.build(objective=objective, model=model, dim=spec.dim)
    train(flow, name, cfg(cond="label", steps=2, data_size=200))
    label = objective.calls[0]["label"]
    assert label.min() >= 0 and label.max() < spec.num_classes and len(label.unique()) > 1


def test_bad_paired_data_is_refused_with_the_argument_named() -> None:
    flow = small(num_classes=3)
    with pytest.raises(ValueError, match=r"label must hold class ids in \[0, 3\).*got 3"):
        train(flow, (X, Y), cfg(cond="label"))  # Y holds 0..3
    with pytest.raises(TypeError, match="cond='label' needs integer class ids"):
        train(flow, (X, Y.float()), cfg(cond="label"))
    with pytest.raises(ValueError, match="one label per sample"):
        train(flow, (X, Y[:10]), cfg(cond="label"))
    with pytest.raises(ValueError, match="cond must be one of"):
        TrainConfig(cond="labels")
    with pytest.raises(TypeError, match="set TrainConfig\\(cond="):
        train(small(), TensorDataset(X, Y), cfg())
    with pytest.raises(ValueError, match="takes no label"):
        train(small(), (X, Y), cfg(cond="label"))
    with pytest.raises(ValueError, match="has no labels"):
        train(small(num_classes=3), "checkerboard", cfg(cond="label"))


def test_resume_is_exact_with_labels_and_dropout(tmp_path: Path) -> None:
    data = flowkit.data.load_dataset(
        "8gaussians", 256, generator=torch.Generator().manual_seed(0), with_labels=True
    )
    kw = {"num_classes": 8, "objective_options": {"cond_dropout": 0.3}}
    straight = train(
        small(**kw), data, cfg(cond="label", steps=6, out=str(tmp_path / "a"), checkpoint_every=3)
    )
    train(small(**kw), data, cfg(cond="label", steps=3, out=str(tmp_path / "b"), checkpoint_every=3))
    resumed = train(small(**kw), data, cfg(cond="label", steps=6, out=str(tmp_path / "b"), resume=True))
    for a, b in zip(straight.flow.state_dict().values(), resumed.flow.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # the checkpoint rebuilds the conditional flow: classes, dropout, same samples
    _, ema, _ = flowkit.load_checkpoint(tmp_path / "b")
    assert (ema.num_classes, ema.cond_dropout) == (8, 0.3)
    x0 = torch.randn(5, 2)
    torch.testing.assert_close(
        ema.sample(x0, label=3, guidance=2.0), resumed.ema_flow.sample(x0, label=3, guidance=2.0)
    )
    torch.testing.assert_close(ema.sample(x0), ema.sample(x0, label=NULL_LABEL))  # dropout: unconditional
    with pytest.raises(flowkit.errors.RunMismatchError, match="conditioning"):
        train(small(num_classes=8), data, cfg(cond="label", steps=8, out=str(tmp_path / "b"), resume=True))


def test_class_conditional_unet_trains_on_digits_as_images_and_samples_with_guidance() -> None:
    pytest.importorskip("sklearn.datasets")
    x, y = flowkit.data.load_dataset(
        "digits", 96, generator=torch.Generator().manual_seed(0), as_images=True, with_labels=True
    )
    torch.manual_seed(0)
    flow = flowkit.build(
        model="unet",
        shape=(1, 8, 8),
        num_classes=10,
        model_options={"channels": 8, "num_res_blocks": 1, "heads": 2},
        objective_options={"cond_dropout": 0.5},
        solver="euler",
        solver_options={"steps": 1},
    )
    seen: list[Tensor] = []
    hook = flow.field.register_forward_pre_hook(
        lambda _m, _a, kw: seen.append(kw["label"].detach().clone()), with_kwargs=True
    )
    result = train(flow, (x, y), cfg(cond="label", steps=3, batch_size=32, dequantize=True))
    hook.remove()
    assert len(seen) == 3 and all(s.shape == (32,) for s in seen)
    batch = torch.cat(seen)
    assert ((batch >= 0) & (batch < 10) | (batch == NULL_LABEL)).all()
    assert (batch == NULL_LABEL).any() and (batch >= 0).any()  # cond_dropout 0.5 nulls some, keeps some
    # guided sampling: one Euler step is x0 + v~(0, x0), v~ = v(null) + w (v(3) - v(null)), recomputed
    trained = result.flow.eval()
    x0 = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    got = trained.sample(x0, label=3, guidance=2.0)
    with torch.no_grad():
        t0 = torch.zeros(4)
        v_label = trained.field(t0, x0, label=torch.full((4,), 3))
        v_null = trained.field(t0, x0, label=torch.full((4,), NULL_LABEL))
    torch.testing.assert_close(got, x0 + v_null + 2.0 * (v_label - v_null), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(v_label, v_null)  # the label reaches the U-Net's output
