"""Integrity of checkpoint tensors: a checksum over names, dtypes, shapes and bytes, and finiteness.

[`flowkit.train.checkpoint`][flowkit.train.checkpoint] stores the checksum in a checkpoint's metadata,
verifies it on every read, and refuses to write or read a non-finite weight, naming the tensor.
"""

import hashlib

import torch
from torch import Tensor


def tensors_checksum(tensors: dict[str, Tensor]) -> str:
    """``"sha256:<hex>"`` over every tensor's name, dtype, shape and bytes, in name order.

    Examples:
        >>> import torch
        >>> a = {"w": torch.zeros(2)}
        >>> tensors_checksum(a) == tensors_checksum({"w": torch.zeros(2)})
        True
        >>> tensors_checksum(a) == tensors_checksum({"w": torch.tensor([0.0, -0.0])})  # one bit differs
        False
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return "sha256:" + digest.hexdigest()


def first_non_finite(tensors: dict[str, Tensor]) -> tuple[str, int, int] | None:
    """``(name, NaN count, inf count)`` of the first floating-point tensor that is not finite.

    The ``model/`` tensors are looked at first, then the others, each in name order.
    """
    for name in sorted(tensors, key=lambda k: (not k.startswith("model/"), k)):
        t = tensors[name]
        if t.is_floating_point() or t.is_complex():
            finite = torch.isfinite(t)
            if not bool(finite.all()):
                nans = int(torch.isnan(t).sum())
                return name, nans, int((~finite).sum()) - nans
    return None
