r"""A time-conditioned U-Net for images ``(batch, C, H, W)``, in the style of DDPM's image models.

The network, level by level (``L = len(channel_mult)`` levels, level ``i`` at resolution
``H / 2^i`` with ``channels * channel_mult[i]`` feature channels):

* ``t`` -> sinusoidal features -> a SiLU MLP: the embedding ``e`` (width ``4 * channels``);
  with ``label=`` / ``context=``, a ``flowkit.field.conditioning.ConditionEmbedding``
  of them (learned null values for classifier-free guidance) is added to ``e``;
* a 3x3 convolution into ``channels`` features;
* **down**: at each level ``num_res_blocks`` residual blocks (GroupNorm, SiLU, dropout; ``e`` added
  inside each), each followed by self-attention when the level's resolution is in
  ``attention_resolutions``, then a stride-2 convolution (not after the last level); every
  intermediate feature map is kept as a *skip*;
* **middle**: residual block, self-attention, residual block at the lowest resolution;
* **up**: the mirror image, with ``num_res_blocks + 1`` residual blocks per level, each taking
  the last unused skip concatenated on the channel axis, then nearest-neighbour upsampling;
* GroupNorm, SiLU and a 3x3 convolution back to ``C`` channels.

The down path halves ``H`` and ``W`` ``L - 1`` times, so both must be divisible by
``2^(L - 1)``; 28x28 works with ``L = 3`` (28, 14, 7).

Default sizes (chosen from ``H``; measured parameter counts, unconditional):

| image | channels | channel_mult | attention at | parameters |
|---|---|---|---|---|
| 1x8x8 | 32 | (1, 2) | 4 | 1.00 M |
| 1x28x28 | 48 | (1, 2, 2) | 7 | 3.64 M |
| 3x32x32 | 64 | (1, 2, 2, 2) | 16 | 8.95 M |
| 3x64x64 | 64 | (1, 2, 3, 4) | 16, 8 | 22.08 M |

(``tests/test_unet.py`` measures these counts, so the table cannot drift.)
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import in_interval, positive_int
from .base import VectorField
from .conditioning import ConditionEmbedding
from .unet_blocks import Downsample, ResBlock, SelfAttention, TimeEmbedding, Upsample

_SIZE_DEFAULTS: tuple[tuple[int, int, tuple[int, ...], tuple[int, ...]], ...] = (
    # (largest H, channels, channel_mult, attention at H / 2^i for these i)
    (16, 32, (1, 2), (1,)),
    (31, 48, (1, 2, 2), (2,)),
    (63, 64, (1, 2, 2, 2), (1,)),
    (10**9, 64, (1, 2, 3, 4), (2, 3)),
)


def default_sizes(height: int) -> dict[str, Any]:
    """The default ``channels``, ``channel_mult`` and ``attention_resolutions`` for images of ``height``.

    Examples:
        >>> default_sizes(28)
        {'channels': 48, 'channel_mult': (1, 2, 2), 'attention_resolutions': (7,)}
    """
    _, channels, mult, attention_levels = next(r for r in _SIZE_DEFAULTS if height <= r[0])
    resolutions = tuple(height // 2**i for i in attention_levels if i < len(mult))
    return {"channels": channels, "channel_mult": mult, "attention_resolutions": resolutions}


def _check_divisible(shape: tuple[int, int, int], levels: int) -> None:
    factor = 2 ** (levels - 1)
    _, height, width = shape
    if height % factor == 0 and width % factor == 0:
        return
    near = sorted(
        {max(factor, (s // factor) * factor) for s in (height, width)} | {(height // factor + 1) * factor}
    )
    examples = ", ".join(f"({shape[0]}, {s}, {s})" for s in near)
    raise ValueError(
        f"shape {shape} cannot be halved {levels - 1} times (channel_mult has {levels} levels): height and "
        f"width must be multiples of {factor}, such as {examples}; or pass channel_mult with fewer levels "
        f"(multiples of {2 ** max(0, levels - 2)} work with {levels - 1})"
    )


class _Stage(nn.Module):
    """A residual block, followed by self-attention when ``attention`` is set."""

    def __init__(
        self, cin: int, cout: int, emb: int, groups: int, dropout: float, attention: bool, heads: int
    ) -> None:
        super().__init__()
        self.res = ResBlock(cin, cout, emb, groups, dropout)
        self.attn: nn.Module = SelfAttention(cout, heads, groups) if attention else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.attn(self.res(x, emb))


class UNetField(VectorField):
    r"""A U-Net vector field ``v_t(x)`` for images ``(batch, C, H, W)``, optionally conditional.

    Called as ``field(t, x)``, ``field(t, x, label=y)`` or ``field(t, x, context=c)``;
    a label of ``NULL_LABEL`` (``-1``) or an all-NaN context row means "unconditional" for that
    sample (see ``flowkit.field.conditioning``). The module docstring
    describes the architecture and lists the default sizes.

    Args:
        shape: ``(C, H, W)`` of one image; ``H`` and ``W`` divisible by ``2^(len(channel_mult) - 1)``.
        channels: base feature channels (level 0); default from ``H``.
        channel_mult: channel multiplier per level; its length is the number of levels.
        num_res_blocks: residual blocks per level on the down path (one more on the up path).
        attention_resolutions: feature-map heights at which self-attention follows each
            residual block (each must be one of the levels' heights, ``H / 2^i``); default: those
            of the default sizes that the levels have. The middle block always has attention.
        heads: attention heads (must divide the channels where attention is used).
        dropout: dropout probability inside the residual blocks.
        num_classes: number of classes for ``label=`` conditioning, or ``None``.
        context_dim: width of a ``context=`` vector, or ``None``.
        norm_groups: GroupNorm groups (must divide every level's channels).

    Raises:
        ValueError: a shape the down-sampling cannot divide (the message lists shapes that work),
            or an option out of range (the message names it).

    Examples:
        >>> import torch
        >>> from flowkit import UNetField
        >>> field = UNetField((1, 8, 8), channels=16, channel_mult=(1, 2), num_classes=10)
        >>> field(torch.rand(2), torch.randn(2, 1, 8, 8), label=torch.tensor([3, -1])).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(
        self,
        shape: Sequence[int],
        *,
        channels: int | None = None,
        channel_mult: Sequence[int] | None = None,
        num_res_blocks: int = 2,
        attention_resolutions: Sequence[int] | None = None,
        heads: int = 4,
        dropout: float = 0.0,
        num_classes: int | None = None,
        context_dim: int | None = None,
        norm_groups: int = 8,
    ) -> None:
        super().__init__()
        shape = tuple(shape)
        if len(shape) != 3 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
        ):
            raise ValueError(f"shape must be (C, H, W) of positive integers; got {shape!r}")
        c_in, height, _ = shape
        defaults = default_sizes(height)
        channels = positive_int("channels", defaults["channels"] if channels is None else channels)
        mult = tuple(defaults["channel_mult"] if channel_mult is None else channel_mult)
        if not mult:
            raise ValueError("channel_mult must hold at least one multiplier; got ()")
        for m in mult:
            positive_int("channel_mult entries", m)
        _check_divisible(shape, len(mult))
        heights = [height // 2**i for i in range(len(mult))]
        if attention_resolutions is None:  # the defaults' resolutions that these levels have
            attention = tuple(r for r in defaults["attention_resolutions"] if r in heights)
        else:
            attention = tuple(attention_resolutions)
        unknown = [r for r in attention if r not in heights]
        if unknown:
            raise ValueError(
                f"attention_resolutions must be heights of the levels, {heights}; got {list(attention)}"
            )
        self.shape = shape
        self.channels = channels
        self.channel_mult = mult
        self.num_res_blocks = positive_int("num_res_blocks", num_res_blocks)
        self.attention_resolutions = attention
        self.heads = positive_int("heads", heads)
        self.dropout = in_interval("dropout", dropout, 0.0, 1.0, high_open=True)
        self.num_classes = None if num_classes is None else positive_int("num_classes", num_classes)
        self.context_dim = None if context_dim is None else positive_int("context_dim", context_dim)
        self.norm_groups = positive_int("norm_groups", norm_groups)
        widths = [channels * m for m in mult]
        for w in widths:
            if w % norm_groups:
                raise ValueError(f"norm_groups ({norm_groups}) must divide every level's channels {widths}")
        for r, w in zip(heights, widths):
            if r in attention and w % heads:
                raise ValueError(f"heads ({heads}) must divide the channels {w} of the attention level {r}")

        emb = 4 * channels
        self.time = TimeEmbedding(channels, emb)
        self.condition = (
            ConditionEmbedding(emb, self.num_classes, self.context_dim)
            if self.num_classes is not None or self.context_dim is not None
            else None
        )
        groups, drop = norm_groups, self.dropout
        self.conv_in = nn.Conv2d(c_in, channels, 3, padding=1)
        self.down = nn.ModuleList()
        skips, current = [channels], channels
        for level, (res, width) in enumerate(zip(heights, widths)):
            for _ in range(self.num_res_blocks):
                self.down.append(_Stage(current, width, emb, groups, drop, res in attention, heads))
                current = width
                skips.append(current)
            if level < len(mult) - 1:
                self.down.append(Downsample(current))
                skips.append(current)
        mid_heads = heads if current % heads == 0 else 1
        self.mid = nn.ModuleList(
            [
                _Stage(current, current, emb, groups, drop, True, mid_heads),
                _Stage(current, current, emb, groups, drop, False, heads),
            ]
        )
        self.up = nn.ModuleList()
        for level in reversed(range(len(mult))):
            res, width = heights[level], widths[level]
            for _ in range(self.num_res_blocks + 1):
                self.up.append(
                    _Stage(current + skips.pop(), width, emb, groups, drop, res in attention, heads)
                )
                current = width
            if level > 0:
                self.up.append(Upsample(current))
        self.norm_out = nn.GroupNorm(groups, current)
        self.conv_out = nn.Conv2d(current, c_in, 3, padding=1)

    def forward(
        self, t: Tensor, x: Tensor, label: Tensor | None = None, context: Tensor | None = None, **cond: Any
    ) -> Tensor:
        if cond:
            raise TypeError(f"UNetField takes label= and context=; got {', '.join(sorted(cond))}")
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"x must be (batch, {', '.join(map(str, self.shape))}) for this UNetField; "
                f"got {tuple(x.shape)}"
                + (f" ({x.shape[1]} channels where {self.shape[0]} were expected)" if x.ndim == 4 else "")
            )
        emb = self.time(t.expand(x.shape[0]) if t.ndim == 0 else t)
        if label is not None or context is not None:
            if self.condition is None:
                given = "label=" if label is not None else "context="
                raise TypeError(
                    f"{given} was given to an unconditional UNetField; build it with num_classes= "
                    "(labels) or context_dim= (context)"
                )
            extra = self.condition(label, context)
            assert extra is not None
            emb = emb + extra
        h = self.conv_in(x)
        skips = [h]
        for block in self.down:
            h = block(h, emb) if isinstance(block, _Stage) else block(h)
            skips.append(h)
        for block in self.mid:
            h = block(h, emb)
        for block in self.up:
            if isinstance(block, _Stage):
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            else:
                h = block(h)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))

    def parameter_count(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return (
            f"shape={self.shape}, channels={self.channels}, channel_mult={self.channel_mult}, "
            f"attention_resolutions={self.attention_resolutions}, params={self.parameter_count() / 1e6:.2f}M"
        )


__all__ = ["UNetField", "default_sizes"]
