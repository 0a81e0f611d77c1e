"""UNetField: shapes, conditioning, gradient flow, receptive field, skip wiring, errors, registry."""

import pytest
import torch

import flowkit
from flowkit import UNetField
from flowkit.errors import OptionError, UnknownNameError
from flowkit.field.conditioning import NULL_LABEL
from flowkit.field.unet import _Stage
from flowkit.field.unet_blocks import Downsample, sinusoidal_embedding

# Small widths keep every size cheap; the architecture (levels, attention, skips) is the default's.
SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)]


def small(shape: tuple[int, int, int], **kw: object) -> UNetField:
    return UNetField(shape, channels=8, num_res_blocks=1, heads=2, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("labelled", [False, True])
def test_output_shape_for_every_size(shape: tuple[int, int, int], labelled: bool) -> None:
    field = small(shape, num_classes=10 if labelled else None)
    x = torch.randn(2, *shape)
    cond = {"label": torch.tensor([3, NULL_LABEL])} if labelled else {}
    out = field(torch.rand(2), x, **cond)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_default_sizes_and_parameter_counts() -> None:
    # The counts the module docstring documents (measured here, so the table cannot go stale).
    expected = {(1, 8, 8): 1.00, (1, 28, 28): 3.64, (3, 32, 32): 8.95, (3, 64, 64): 22.08}
    for shape, millions in expected.items():
        assert UNetField(shape).parameter_count() / 1e6 == pytest.approx(millions, abs=0.01)


def test_every_parameter_receives_a_gradient() -> None:
    field = UNetField((1, 8, 8), channels=8, heads=2, num_classes=3, context_dim=2)
    x = torch.randn(4, 1, 8, 8)
    label = torch.tensor([0, 1, 2, NULL_LABEL])
    context = torch.randn(4, 2)
    context[1] = float("nan")  # a null row: the learned null vector must get a gradient too
    field(torch.rand(4), x, label=label, context=context).square().sum().backward()
    missing = [n for n, p in field.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_every_output_pixel_depends_on_every_input_pixel() -> None:
    # The middle block's self-attention (and GroupNorm's statistics) make the receptive field global:
    # a corner output pixel must react to every input pixel, the opposite corner included. A field
    # that mixed only a local neighbourhood (a plain conv stack, a broken down path) would not.
    field = small((1, 28, 28)).eval()
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    field(torch.tensor([0.3]), x)[0, 0, 0, 0].backward()
    assert x.grad is not None and (x.grad[0, 0].abs() > 0).all()


def test_skips_carry_the_local_path_when_the_lower_levels_are_cut() -> None:
    # Zero the down-sampling convolutions: the lower levels then see only constants, and the input
    # reaches the output only through the top level's skip connections. A U-Net that dropped its
    # top-level skips (or fed the up path its own output instead) would give an output that does
    # not depend on x at all. (GroupNorm pools over the whole image, so the skip path is not local.)
    field = UNetField((1, 32, 32), channels=8, channel_mult=(1, 2), attention_resolutions=(), heads=2).eval()
    with torch.no_grad():
        for m in field.modules():
            if isinstance(m, Downsample):
                m.conv.weight.zero_()
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    field(torch.tensor([0.5]), x)[0, 0, 4, 4].backward()
    grad = x.grad[0, 0].abs()  # type: ignore[index]
    assert grad[4, 4] > 0  # the pixel itself, through the skips
    # The 3x3 convolutions make the pixel's own neighbourhood matter more than the far corner,
    # which it reaches only through the normalisation statistics.
    assert grad[3:6, 3:6].mean() > 10 * grad[24:, 24:].mean()


def test_each_up_block_receives_the_mirrored_skip() -> None:
    # Record every feature map the down path keeps and what each up stage concatenates: the k-th
    # up stage must take the k-th skip from the end, the very tensor (not one of equal shape).
    field = UNetField((1, 16, 16), channels=8, channel_mult=(1, 2, 2), heads=2).eval()
    kept: list[torch.Tensor] = []
    received: list[torch.Tensor] = []
    kept_hook = [
        m.register_forward_hook(lambda _m, _i, out: kept.append(out)) for m in [field.conv_in, *field.down]
    ]
    up_hook = [
        m.register_forward_hook(lambda _m, inp, _o: received.append(inp[0]))
        for m in field.up
        if isinstance(m, _Stage)
    ]
    with torch.no_grad():
        field(torch.tensor([0.5]), torch.randn(1, 1, 16, 16))
    for h in kept_hook + up_hook:
        h.remove()
    assert len(received) == len(kept)
    for k, cat in enumerate(received):
        skip = kept[len(kept) - 1 - k]
        assert torch.equal(cat[:, -skip.shape[1] :], skip), f"up stage {k} took the wrong skip"


def test_time_and_label_change_the_output_and_null_label_is_its_own_class() -> None:
    field = small((1, 8, 8), num_classes=3).eval()
    x = torch.randn(3, 1, 8, 8)
    t = torch.full((3,), 0.5)
    a = field(t, x, label=torch.tensor([0, 0, 0]))
    b = field(t, x, label=torch.tensor([1, 1, 1]))
    n = field(t, x, label=torch.full((3,), NULL_LABEL))
    assert not torch.allclose(a, b) and not torch.allclose(a, n)
    assert not torch.allclose(field(t * 0.1, x, label=torch.zeros(3, dtype=torch.long)), a)


def test_sinusoidal_embedding_matches_its_formula() -> None:
    t = torch.tensor([0.25])
    e = sinusoidal_embedding(t, 6)
    freqs = torch.tensor([10_000.0 ** (-k / 3) for k in range(3)])
    assert torch.allclose(e[0], torch.cat([torch.cos(250.0 * freqs), torch.sin(250.0 * freqs)]))


def test_batch_elements_are_independent() -> None:
    # GroupNorm normalises per sample: one sample's output must not depend on another's input.
    field = small((1, 8, 8)).eval()
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    field(torch.rand(2), x)[0].sum().backward()
    assert x.grad is not None and x.grad[1].abs().max() == 0


def test_shape_the_down_sampling_cannot_divide_lists_shapes_that_work() -> None:
    with pytest.raises(ValueError, match=r"multiples of 4, such as .*\(1, 28, 28\)"):
        UNetField((1, 30, 30))
    with pytest.raises(ValueError, match="multiples of 2"):
        UNetField((1, 9, 9), channel_mult=(1, 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (28, 28)}, "shape must be"),
        ({"shape": (1, 8, 8), "channels": 0}, "channels must be a positive integer"),
        ({"shape": (1, 8, 8), "dropout": 1.0}, r"dropout must lie in \[0.0, 1.0\)"),
        ({"shape": (1, 8, 8), "attention_resolutions": (3,)}, r"heights of the levels, \[8, 4\]"),
        ({"shape": (1, 8, 8), "channels": 12}, "norm_groups"),
        ({"shape": (1, 8, 8), "channels": 8, "heads": 3}, "heads"),
    ],
)
def test_bad_options_name_themselves(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        UNetField(**kwargs)  # type: ignore[arg-type]


def test_wrong_channels_and_conditioning_errors() -> None:
    field = small((1, 8, 8))
    with pytest.raises(ValueError, match="3 channels where 1 were expected"):
        field(torch.rand(2), torch.randn(2, 3, 8, 8))
    with pytest.raises(TypeError, match="unconditional UNetField; build it with num_classes="):
        field(torch.rand(2), torch.randn(2, 1, 8, 8), label=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="takes label= and context="):
        field(torch.rand(2), torch.randn(2, 1, 8, 8), mask=torch.ones(2))


def test_build_by_name_with_options_and_conditioning() -> None:
    flow = flowkit.build(
        model="unet", shape=(1, 8, 8), num_classes=10, model_options={"channels": 16, "dropout": 0.1}
    )
    assert isinstance(flow.field, UNetField) and flow.field.channels == 16 and flow.field.num_classes == 10
    loss = flow.loss(torch.randn(4, 1, 8, 8), label=torch.tensor([0, 1, 2, NULL_LABEL]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert {"mlp", "unet"} <= {e.name for e in flowkit.available() if e.kind == "model"}


def test_build_errors() -> None:
    with pytest.raises(ValueError, match=r"model='unet' needs the shape of one sample"):
        flowkit.build(model="unet")
    with pytest.raises(OptionError, match=r"unknown option 'chanels' .* Did you mean 'channels'"):
        flowkit.build(model="unet", shape=(1, 8, 8), model_options={"chanels": 8})
    with pytest.raises(UnknownNameError, match=r"unknown model 'unett'.*Did you mean 'unet'"):
        flowkit.build(model="unett", shape=(1, 8, 8))
    with pytest.raises(ValueError, match="model 'mlp' works on vectors"):
        flowkit.build(model="mlp", shape=(1, 8, 8))
    with pytest.raises(ValueError, match="pass model='unet' for images"):
        flowkit.build(shape=(1, 8, 8))
    with pytest.raises(OptionError, match="model_options were given"):
        flowkit.build(model=small((1, 8, 8)), model_options={"channels": 8})


def test_mlp_by_name_is_the_default_mlp() -> None:
    flow = flowkit.build(model="mlp", dim=3, model_options={"width": 32, "depth": 2})
    assert isinstance(flow.field, flowkit.MLPField) and flow.field.net[0].out_features == 32


def test_unet_run_folder_round_trip(tmp_path: object) -> None:
    from flowkit.train.manifest import describe_field, rebuild_flow

    field = UNetField((1, 8, 8), channels=16, channel_mult=(1, 2), num_classes=4)
    desc = describe_field(field)
    assert desc["type"] == "model" and desc["name"] == "unet" and desc["options"]["channels"] == 16
    flow = flowkit.build(model=field, shape=(1, 8, 8))
    from flowkit.train.manifest import describe_flow

    again = rebuild_flow(describe_flow(flow))
    again.load_state_dict(flow.state_dict())  # same architecture: the weights fit
    x, t = torch.randn(2, 1, 8, 8), torch.rand(2)
    assert torch.equal(again.field(t, x), flow.field(t, x))


@pytest.mark.slow
def test_torch_compile_of_the_field() -> None:
    field = small((1, 28, 28), num_classes=10).eval()
    compiled = torch.compile(field)
    x, t, y = torch.randn(2, 1, 28, 28), torch.rand(2), torch.tensor([1, NULL_LABEL])
    with torch.no_grad():
        assert torch.allclose(compiled(t, x, label=y), field(t, x, label=y), atol=1e-4)
