"""Where a sweep runs: the ``devices`` argument, its mesh, the padding of the
runs axis and the placement of the program's inputs on the mesh."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

RUNS = "runs"  # the mesh axis of a sequence of devices


def mesh_of(devices: Any) -> Mesh | None:
    """The one-axis mesh the runs are split over (None: the default device).

    Raises:
      ValueError: an empty sequence, something that is not a device, a device
        named twice, or a mesh with more than one axis; the message names
        ``devices``.
    """
    if devices is None:
        return None
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(
                f"`devices` must be a mesh with one axis (the runs are split "
                f"along it), got a mesh with axes {devices.axis_names} of shape "
                f"{tuple(devices.devices.shape)}; make one with "
                "`jax.make_mesh((n,), ('runs',))` or pass a list of devices."
            )
        # Its devices and axis name; the sweep shards its runs explicitly
        # (shard_map), whatever the axis type the mesh was made with.
        return Mesh(devices.devices, devices.axis_names, axis_types=(AxisType.Auto,))
    if isinstance(devices, jax.Device):
        raise ValueError(
            f"`devices` must be a sequence of devices or a one-axis Mesh, got "
            f"the single device {devices!r}; did you mean `devices=[{devices!r}]`?"
        )
    if isinstance(devices, str | bytes) or not isinstance(devices, Sequence):
        raise ValueError(
            "`devices` must be None, a sequence of devices (e.g. `jax.devices()`) "
            f"or a one-axis `jax.sharding.Mesh`, got {type(devices).__name__}: "
            f"{devices!r}."
        )
    devices = list(devices)
    if not devices:
        raise ValueError(
            "`devices` is empty; pass at least one device (e.g. `jax.devices()`), "
            "or None for the default device."
        )
    for d in devices:
        if not isinstance(d, jax.Device):
            raise ValueError(
                f"`devices` must hold jax devices (from `jax.devices()`), got "
                f"{type(d).__name__}: {d!r}."
            )
    if len(set(devices)) != len(devices):
        raise ValueError(f"`devices` names a device twice: {devices}.")
    return Mesh(np.asarray(devices, dtype=object), (RUNS,), axis_types=(AxisType.Auto,))


def scope(mesh: Mesh | None) -> contextlib.AbstractContextManager[Any]:
    """The context the runs are placed and compiled in: ``mesh`` as the
    current mesh, whatever mesh the caller has set (``jax.set_mesh``), so the
    sweep's ``shard_map`` over its own one-axis mesh is not checked against
    the caller's; no change for the default device (``mesh`` None)."""
    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def size(mesh: Mesh | None) -> int:
    return 1 if mesh is None else mesh.size


def padded(n: int, mesh: Mesh | None) -> int:
    """``n`` runs rounded up to a multiple of the mesh's device count."""
    k = size(mesh)
    return -(-n // k) * k


def pad(column: np.ndarray, mesh: Mesh | None) -> np.ndarray:
    """``column`` with its first row repeated up to :func:`padded` rows (a
    valid configuration, dropped inside the program)."""
    extra = padded(len(column), mesh) - len(column)
    if not extra:
        return column
    return np.concatenate([column, np.repeat(column[:1], extra, axis=0)])


def _put(x: Any, sharding: NamedSharding) -> Any:
    """``x`` on ``sharding``; across processes from the host copy (which
    every process holds alike) and key arrays by their key data."""
    if jax.dtypes.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key):
        data = _put(jax.random.key_data(x), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
    if not sharding.is_fully_addressable and isinstance(x, jax.Array):
        x = np.asarray(x)  # a jax.Array of this process's devices
    return jax.device_put(x, sharding)


def place(mesh: Mesh | None, sharded: Any, replicated: Any) -> tuple[Any, Any]:
    """``sharded`` split along its leading axis over the mesh, ``replicated``
    on every device of it (the same values on every process)."""
    if mesh is None:
        return sharded, replicated
    (axis,) = mesh.axis_names
    split, whole = NamedSharding(mesh, P(axis)), NamedSharding(mesh, P())
    return (
        jax.tree.map(lambda x: _put(x, split), sharded),
        jax.tree.map(lambda x: _put(x, whole), replicated),
    )


def used(mesh: Mesh | None, out: jax.Array) -> tuple[jax.Device, ...]:
    """The devices a sweep ran on, in the mesh's order."""
    if mesh is not None:
        return tuple(mesh.devices.flat)
    return tuple(sorted(out.sharding.device_set, key=lambda d: d.id))
