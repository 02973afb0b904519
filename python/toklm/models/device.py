"""Which device a model runs on: "cpu" (the default), "cuda" or "cuda:N", or a torch.device.

A device that is not there is refused before any weight is read, in one sentence that says why
(no CUDA build of torch, no GPU visible, index out of range).
"""

from __future__ import annotations

import torch

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(ValueError):
    """A device that cannot be used here; the message says which one and why."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`device` as a torch.device, checked to exist on this machine.

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device(None)
    device(type='cpu')
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip().lower())
        except RuntimeError as e:
            raise DeviceError(
                f"device {device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:N'"
            ) from e
    else:
        raise DeviceError(
            f"device must be a string or torch.device, got {type(device).__name__} {device!r}"
        )
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise DeviceError(f"device {str(dev)!r} is not supported; use 'cpu', 'cuda' or 'cuda:N'")
    if not torch.cuda.is_available():
        why = (
            "this torch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA GPU is visible (torch.cuda.is_available() is False)"
        )
        raise DeviceError(f"device {str(dev)!r} was requested but {why}")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise DeviceError(
            f"device {str(dev)!r} was requested but only {count} CUDA device(s) are visible"
        )
    return dev
