"""torch.distributed plumbing for runs launched by ``torchrun``: which rank am I, and merging.

Nothing here starts processes: ``torchrun --nproc-per-node N -m manifold_cae ...``
does, and sets RANK / WORLD_SIZE / MASTER_ADDR in each process's environment.
:func:`init_from_env` joins that group (gloo on CPU, nccl on CUDA), and a command that
succeeds ends with :func:`finish`; a gloo group left by an error is destroyed when the
process exits. A process that was not launched so is rank 0 of a world of one, and every
function here is then a no-op, so the library never needs a second code path.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place in the group."""

    rank: int = 0
    size: int = 1
    backend: str | None = None  # "gloo" or "nccl"; None for a single process

    @property
    def is_main(self) -> bool:
        """Rank 0 writes every file; the others only compute."""
        return self.rank == 0


def current() -> World:
    """The group this process belongs to (a world of one if none was initialised)."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), dist.get_backend())
    return World()


def init_from_env(device: str = "cpu") -> World:
    """Join the group ``torchrun`` describes in the environment, if there is one.

    Args:
        device: the run's device; a CUDA device selects nccl and this rank's
            LOCAL_RANK card, anything else gloo.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and dist.is_available() and not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        atexit.register(_leave)
    return current()


def finish() -> None:
    """End a torchrun process whose command has succeeded: wait for every rank (rank 0 writes
    the files), destroy the group, and exit at once with status 0.

    The exit skips the interpreter's and the C++ runtime's teardown. In it, about one
    two-rank gloo run in a hundred died after its work was done and saved: rank 1 aborted
    with "terminate called without an active exception" (SIGABRT), after the last Python
    frame had returned (``PYTHONFAULTHANDLER`` showed none), so torchrun failed the run. A
    barrier and a destroyed group before the exit did not prevent it (2 aborts in about 250
    runs, 3 at a time on 2 cores); nothing of ours is left to run by then, as every file
    is written atomically and closed. A world of one returns and exits as usual.
    """
    if current().size == 1:
        return
    dist.barrier()
    dist.destroy_process_group()
    exit_at_once()


def exit_at_once() -> None:
    """Flush Python's and C's standard streams and exit with status 0, skipping the
    interpreter's and the C++ runtime's teardown (:func:`finish` says why). For a process
    of a group whose work is done and saved, and whose group is destroyed: a torchrun
    command (through :func:`finish`) or an ``mp.spawn`` worker."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:  # and C stdio, which native libraries write to (NCCL_DEBUG, say)
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to load by that name
        pass
    os._exit(0)


def _leave() -> None:
    """Destroy a gloo group at exit after an error, as torch asks (:func:`finish` ends a
    command that succeeded). nccl's destroy waits for pending collectives, which an error
    can leave: left to torch."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo":
        dist.destroy_process_group()


def my_share(n_items: int, world: World | None = None) -> list[int]:
    """The item numbers this rank handles: every world.size-th, starting at its rank."""
    world = world or current()
    return list(range(world.rank, n_items, world.size))


def all_gather(obj: Any, world: World | None = None) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank (pickled over the group)."""
    world = world or current()
    if world.size == 1:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


T = TypeVar("T")


def on_main(compute: Callable[[], T], world: World | None = None) -> T:
    """``compute()`` run on rank 0 alone, its result on every rank; ``compute()`` itself for
    one process.

    What ``compute`` raises on rank 0 is raised on every rank (rank 0 raises its own, with
    its traceback; the others a copy, or a RuntimeError naming it where it does not
    pickle), so that no rank waits in a broadcast for a result that will not come.
    ``compute`` must not use the group: the other ranks are not running it.
    """
    world = world or current()
    if world.size == 1:
        return compute()
    box: list[Any] = [None]
    error: BaseException | None = None
    if world.rank == 0:
        try:
            box = [(True, compute())]
        except Exception as e:
            error = e
            try:
                copy = pickle.loads(pickle.dumps(e))  # sent as it is where it round-trips
            except Exception:
                copy = RuntimeError(f"rank 0 raised {type(e).__name__}: {e}")
            box = [(False, copy)]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    ok, value = box[0]
    if not ok:
        raise value
    return value


def my_rows(n_rows: int, world: World | None = None) -> tuple[int, int]:
    """This rank's contiguous share [start, stop) of ``n_rows`` rows (sizes differ by <= 1)."""
    world = world or current()
    return n_rows * world.rank // world.size, n_rows * (world.rank + 1) // world.size


def all_reduce_sum(t: torch.Tensor, world: World | None = None) -> torch.Tensor:
    """The sum of ``t`` over the ranks, in place (``t`` itself for one process)."""
    world = world or current()
    if world.size > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_reduce_gradients(module: torch.nn.Module, world: World | None = None) -> None:
    """Sum every parameter's gradient over the ranks.

    The objectives call the model's methods directly (``encode``, ``torch.func``),
    not ``forward``, so ``DistributedDataParallel``'s hooks would not see them; an
    explicit all-reduce after ``backward`` is correct whatever the objective does.
    """
    world = world or current()
    if world.size == 1:
        return
    for p in module.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
