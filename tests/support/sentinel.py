"""A real Sentinel set-up on loopback ports: a primary, a replica and three sentinels.

Debian's ``redis-sentinel`` runs the sentinels; the primary and the replica are
:class:`~verk_compat.devtools.redis_server.EmbeddedRedis` servers (free ports, nothing saved).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from verk_compat.devtools.redis_server import EmbeddedRedis, free_port

SERVICE = "verkprimary"


class SentinelCluster:
    """Start with ``with SentinelCluster() as cluster:``; ``cluster.url`` is the Sentinel URL."""

    def __init__(self, sentinels: int = 3, down_after_ms: int = 1000) -> None:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise FileNotFoundError(
                "redis-sentinel is not installed (apt-get install redis-sentinel)"
            )
        self.binary = binary
        self.down_after_ms = down_after_ms
        self.ports = [free_port() for _ in range(sentinels)]
        self.primary = EmbeddedRedis()
        self.replica = EmbeddedRedis()
        self._dir = Path(tempfile.mkdtemp(prefix="verk-sentinel-"))
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> SentinelCluster:
        self.primary.start()
        self.replica.extra_args = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica.start()
        self._wait(self._replica_synced, "the replica to sync")
        for port in self.ports:
            self._procs.append(self._start_sentinel(port))
        self._wait(self._sentinels_ready, "the sentinels to see the primary and the replica")
        return self

    def _start_sentinel(self, port: int) -> subprocess.Popen[bytes]:
        conf = self._dir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self._dir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        log = (self._dir / f"sentinel-{port}.log").open("ab")
        proc = subprocess.Popen([self.binary, str(conf)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return proc

    def _replica_synced(self) -> bool:
        info = redis.Redis.from_url(self.replica.url).info("replication")
        return info.get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        for port in self.ports:
            sentinel = redis.Redis(port=port)
            # redis-py leaves execute_command unannotated (its sentinel_* helpers parse replies).
            replicas = sentinel.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "REPLICAS", SERVICE
            )
            sentinel.close()
            if not replicas:
                return False
        return True

    def primary_port(self) -> int:
        """The primary's port as the sentinels see it now."""
        sentinel = redis.Redis(port=self.ports[0])
        host_port = sentinel.execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE
        )
        sentinel.close()
        return int(host_port[1])

    def kill_primary(self) -> None:
        """SIGKILL the primary: no shutdown, no last replication."""
        proc = self.primary._proc
        assert proc is not None
        proc.kill()
        proc.wait()

    @staticmethod
    def _wait(predicate: object, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():  # type: ignore[operator]
                    return
            except (redis.ConnectionError, redis.ResponseError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"sentinel set-up: {what} not reached in {timeout}s")

    def stop(self) -> None:
        for proc in self._procs:
            proc.kill()
            proc.wait()
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SentinelCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
