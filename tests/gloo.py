"""Two-process gloo groups on CPU for the DDP tests: a free loopback port, joining the group in a
spawned worker, and leaving it together.

Example:
    >>> def worker(rank: int, port: int) -> None:
    ...     join_group(rank, 2, port)
    ...     ...  # collectives, a Trainer under DDP
    ...     leave_group()
    >>> torch.multiprocessing.spawn(worker, args=(free_port(),), nprocs=2, join=True)
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist

from shared.distributed import init_from_env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_group(rank: int, world: int, port: int) -> None:
    """Set torchrun's variables for ``rank`` of ``world`` on loopback, use one thread, and
    initialise the default group through :func:`shared.distributed.init_from_env` (gloo here)."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    assert init_from_env()


def leave_group() -> None:
    """Destroy the group after a barrier: a rank that tears the group down while the other still
    drains the last collective's messages aborted the other process (about 1 run in 15 on 2
    cores)."""
    dist.barrier()
    dist.destroy_process_group()
