"""How a remote's bytes move: keys relative to the remote's root, in batches.

Two backends behind one small interface. ``ObstoreBackend`` serves S3 (and S3-compatible servers)
through obstore, Rust's ``object_store``: a request costs a fraction of botocore's, so thousands of
small objects move several times faster, and listings are paged in native code. ``FsspecBackend``
serves every other fsspec URL (GCS, Azure, SSH, folders…) and S3 with an AWS profile (obstore does not
read profiles); where a write is not atomic it writes a temporary name and renames it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlsplit

_ATOMIC_PROTOCOLS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}  # a PUT appears whole or not at all


class FsspecBackend:
    jobs = 4 * (os.cpu_count() or 1)  # as DVC: transfers wait on the network, not the CPU

    def __init__(self, url: str, options: dict):
        import fsspec

        self.fs, root = fsspec.core.url_to_fs(url, **options)
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self.atomic = bool(_ATOMIC_PROTOCOLS & set(protocols))

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self._path(prefix).rstrip("/")
        if not self.fs.exists(base):
            return
        start = self.root + "/"
        for path in self.fs.find(base):
            if path.startswith(start):
                yield path[len(start):]

    def exists_many(self, keys: Sequence[str], jobs: int) -> list[bool]:
        with ThreadPoolExecutor(jobs) as pool:
            return list(pool.map(lambda k: self.fs.exists(self._path(k)), keys))

    def put_files(self, sources: Sequence[str], keys: Sequence[str], jobs: int) -> None:
        if self.atomic:
            self.fs.put(list(sources), [self._path(k) for k in keys], batch_size=jobs)
            return
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(self._put_atomic, sources, keys))

    def _put_atomic(self, source: str, key: str) -> None:
        target = self._path(key)
        folder = target.rsplit("/", 1)[0]
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
        self.fs.makedirs(folder, exist_ok=True)
        self.fs.put_file(source, tmp)
        self.fs.mv(tmp, target)

    def get_files(self, keys: Sequence[str], targets: Sequence[str], jobs: int) -> None:
        if self.atomic:
            self.fs.get([self._path(k) for k in keys], list(targets), batch_size=jobs)
            return
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda k, t: self.fs.get_file(self._path(k), t), keys, targets))

    def read(self, key: str) -> bytes | None:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        if self.atomic:
            self.fs.pipe_file(target, data)
            return
        folder = target.rsplit("/", 1)[0]
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}"
        self.fs.makedirs(folder, exist_ok=True)
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, target)

    def delete(self, keys: Sequence[str]) -> None:
        if keys:
            self.fs.rm([self._path(k) for k in keys])


_RANGE = 16 << 20  # bytes per GET: a larger object comes in ranges of this size, in parallel
_RANGES_IN_FLIGHT = 8  # as the AWS CLI's max_concurrent_requests: 128 MB in memory at most


class ObstoreBackend:
    atomic = True  # S3 shows a PUT (also a multipart upload) only once it is complete
    jobs = 64  # requests in flight: each costs little CPU here, so the network sets the pace

    def __init__(self, url: str, options: dict[str, str]):
        from obstore.store import S3Store

        parts = urlsplit(url)
        config = {}
        if "endpoint_url" in options:
            config["endpoint"] = options["endpoint_url"]
            config["allow_http"] = options["endpoint_url"].startswith("http://")
        if "region" in options:
            config["region"] = options["region"]
        self.store = S3Store(parts.netloc, prefix=parts.path.strip("/") or None, **config)

    @staticmethod
    def _run(coroutine):
        """Run on an event loop of its own thread: a kernel's main thread already runs one."""
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()

    @staticmethod
    async def _bounded(jobs: int, calls) -> list:
        gate = asyncio.Semaphore(jobs)

        async def one(call):
            async with gate:
                return await call()

        return await asyncio.gather(*(one(call) for call in calls))

    def keys(self, prefix: str = "") -> Iterator[str]:
        import obstore

        for batch in obstore.list(self.store, prefix or None, chunk_size=1000):
            for meta in batch:
                yield meta["path"]

    def exists_many(self, keys: Sequence[str], jobs: int) -> list[bool]:
        import obstore
        from obstore.exceptions import NotFoundError

        async def exists(key):
            try:
                await obstore.head_async(self.store, key)
                return True
            except (NotFoundError, FileNotFoundError):
                return False

        return self._run(self._bounded(jobs, [lambda k=k: exists(k) for k in keys]))

    def put_files(self, sources: Sequence[str], keys: Sequence[str], jobs: int) -> None:
        import obstore

        self._run(self._bounded(jobs, [lambda s=s, k=k: obstore.put_async(self.store, k, Path(s))
                                       for s, k in zip(sources, keys)]))

    def get_files(self, keys: Sequence[str], targets: Sequence[str], jobs: int) -> None:
        """One GET each, of the first ``_RANGE`` bytes: a larger object's other ranges are then
        fetched in parallel and written at their offsets (one stream of a big object is the slow
        part of a pull)."""
        import obstore
        from obstore.exceptions import BaseError, NotFoundError

        gate = asyncio.Semaphore(jobs)
        ranges = asyncio.Semaphore(min(jobs, _RANGES_IN_FLIGHT))  # bounds the memory ranges wait in

        async def first(key: str):
            try:
                return await obstore.get_async(self.store, key, options={"range": (0, _RANGE)})
            except NotFoundError:
                raise FileNotFoundError(key) from None
            except BaseError:  # S3 answers a range of an empty object with 416
                return await obstore.get_async(self.store, key)

        async def piece(key: str, fd: int, start: int, end: int) -> None:
            async with ranges:
                data = await obstore.get_range_async(self.store, key, start=start, end=end)
                os.pwrite(fd, memoryview(data), start)

        async def get(key: str, target: str) -> None:
            async with gate:
                result = await first(key)
                head = await result.bytes_async()
            size = result.meta["size"]
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.pwrite(fd, memoryview(head), 0)
                await asyncio.gather(*(piece(key, fd, start, min(start + _RANGE, size))
                                       for start in range(len(head), size, _RANGE)))
            finally:
                os.close(fd)

        async def every():
            await asyncio.gather(*(get(k, t) for k, t in zip(keys, targets)))

        self._run(every())

    def read(self, key: str) -> bytes | None:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            return bytes(obstore.get(self.store, key).bytes())
        except (NotFoundError, FileNotFoundError):  # obstore's sync calls raise the latter
            return None

    def write(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, key, data)

    def delete(self, keys: Sequence[str]) -> None:
        import obstore

        for start in range(0, len(keys), 1000):
            obstore.delete(self.store, list(keys[start : start + 1000]))


def backend_for(url: str, options: dict[str, str], storage_options: dict):
    """The fastest backend that serves ``url`` with these options."""
    if url.startswith("s3://") and "profile" not in options:
        try:
            return ObstoreBackend(url, options)
        except ImportError:
            pass
    return FsspecBackend(url, storage_options)
