"""Scale a scan out on a Dask cluster: coarse shards, each run by the Rust engine on a worker.

    from dask.distributed import Client
    import portlens

    with Client("tcp://scheduler:8786") as client:
        result = portlens.scan("198.18.0.0/16", ports="top-1000", executor=client)

The client resolves and scope-checks the targets once (nothing is sent), then cuts the
(address × port) space into shards of about ``shard_probes`` probes: blocks of consecutive
addresses × ranges of the port list. Each shard is a plain dict that a worker turns into an
ordinary `portlens.scan`; the worker sends back ``ScanResult.to_dict()``. The client merges every
shard exactly once, keyed by shard id, into one `ScanResult`.

Why nothing is lost or counted twice: a shard covers a fixed set of (address, port) pairs, so
running it again after a worker died, or after it raised, covers the same pairs and nothing else;
the merge accepts exactly one delivery per shard id and ignores any other, and the scan is
complete only when every shard id has been merged. A shard whose worker died is rescheduled by
Dask (``distributed.scheduler.allowed-failures``); a shard that raised, came back incomplete, or
was given up by Dask (``KilledWorker``) is resubmitted here, up to ``retries`` times.

Limits that promise something about the load on the network travel split: ``rate`` is divided by
the number of shards allowed to run at once (the cluster's threads, or the shards if fewer), and
at most that many are ever submitted, so the cluster as a whole never exceeds it; ``max_per_host``
is divided the same way when one host's ports span several shards. ``concurrency`` (sockets in
flight) is a limit of each worker process, as on one machine, and travels unchanged.

With ``save=`` the scan is recorded in the history store when it starts and every merged shard's
ports are written as they arrive, as a local scan's batches are.

This module is importable without Dask; Dask is imported when a scan starts
(``pip install 'portlens[dask]'``).
"""

from __future__ import annotations

from .plan import DEFAULT_SHARD_PROBES, MIN_SHARD_PROBES, RATE_LIMITED_SHARD_SECONDS, PortChunk, ShardPlan, plan
from .runner import FETCH_TIMEOUT, DistributedScan, ShardFailure, connect, run_shard, scan, start

__all__ = [
    "DEFAULT_SHARD_PROBES",
    "MIN_SHARD_PROBES",
    "RATE_LIMITED_SHARD_SECONDS",
    "FETCH_TIMEOUT",
    "DistributedScan",
    "PortChunk",
    "ShardFailure",
    "ShardPlan",
    "connect",
    "plan",
    "run_shard",
    "scan",
    "start",
]
