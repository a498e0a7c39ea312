"""A micro-batching scheduler: the classic GPU throughput/latency trade-off.

Concurrent calls each need a small model inference every few tens of
milliseconds. Run one by one, a GPU (or a CPU's vector units) spends most of
its time on launch overhead; batched, many calls share one kernel launch.
The price is waiting: a request may sit in the queue up to ``max_wait_ms``
for company. ``max_batch=1`` turns batching off (every request runs alone,
still through the same queue and worker, so on/off comparisons are fair).

Inference runs on one dedicated worker thread, so the event loop keeps
moving audio while the model computes, and the model is never entered by two
threads at once (the stateful models here are not thread-safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from voiceobs.errors import ConfigError
from voiceobs.pipelines.telemetry import PipelineMetrics

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BatchSettings:
    """``max_batch`` rows per inference; wait at most ``max_wait_ms`` to fill a batch."""

    max_batch: int = 32
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be 0 or more, got {self.max_wait_ms}")


class MicroBatcher(Generic[T, R]):
    """Collects concurrent ``submit`` calls into batches for ``infer``.

    ``infer`` takes a list of requests and returns one result per request in
    the same order; it runs on the worker thread.
    """

    def __init__(
        self,
        infer: Callable[[Sequence[T]], Sequence[R]],
        settings: BatchSettings,
        metrics: PipelineMetrics | None = None,
        model_name: str = "model",
    ) -> None:
        self._infer = infer
        self.settings = settings
        self._metrics = metrics
        self._model = model_name
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R], float]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{model_name}")

    def _ensure_worker(self) -> asyncio.Queue[tuple[T, asyncio.Future[R], float]]:
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run(self._queue))
        return self._queue

    async def submit(self, request: T) -> R:
        """Queue one request and wait for its result (raises what ``infer`` raised)."""
        queue = self._ensure_worker()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue.put_nowait((request, future, time.perf_counter()))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[T, asyncio.Future[R], float]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.settings.max_wait_ms / 1000.0
            while len(batch) < self.settings.max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            started = time.perf_counter()
            if self._metrics is not None:
                self._metrics.batch_size.labels(self._model).observe(len(batch))
                for _, _, queued in batch:
                    self._metrics.queue_wait.labels(self._model).observe(started - queued)
            requests = [item[0] for item in batch]
            try:
                results = await loop.run_in_executor(self._pool, self._infer, requests)
            except Exception as exc:  # hand the failure to every waiter, keep serving
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future, _), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        """Stop the worker and its thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker
            self._worker = None
        self._pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["BatchSettings", "MicroBatcher"]
