"""Two-process gloo groups on CPU for the DDP tests: a free loopback port, joining the group in a
spawned worker, and leaving it together (the worker's last call).

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
import sys

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
    """End a worker: a barrier, destroy the group, then exit the process at once (status 0).

    Both ranks leave together, and the process skips interpreter finalisation: about one spawned
    run in 15 on 2 cores aborted ("terminate called without an active exception", SIGABRT) after
    its work was done, as gloo's worker threads were torn down with the interpreter (the failure
    pytorch/pytorch#179291 describes). Everything a test checks is written before this call.
    """
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
