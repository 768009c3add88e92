"""Running the service: sockets, worker processes, and the admin listener.

The supervisor binds every socket itself, before any worker exists, for three reasons:
a listener bound to an interface (``SO_BINDTODEVICE``) or a per-server channel is not
something an HTTP server's own ``--host/--port`` can express; a bad address fails once,
in one line, before anything started; and the workers share the sockets, so the kernel
spreads connections over them. Each worker runs uvicorn (httptools, uvloop) on those
sockets, one app per listener, and follows the store on its own. The supervisor answers
the admin listener (``/healthz``, ``/metrics``) and restarts a worker that dies.

Each worker has a socket of its own for every TCP listener, all bound to the same address
with ``SO_REUSEPORT``, so the kernel spreads connections evenly over the workers by their
addresses. With one shared socket, the worker that wakes first accepts whatever is waiting,
and under many short-lived guests one worker ends up with most connections while the
other idles: the service's tail latency at half its peak rate came from that. A worker
that is restarted gets the same sockets back (the supervisor keeps them), so no
connection waiting in a queue is lost. A unix socket (a channel) is shared: the kernel
cannot spread those, and one guest's channel is never busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.sharedctypes import SynchronizedArray
from typing import TYPE_CHECKING, Any

from guestmeta.service.settings import Endpoint, Settings

if TYPE_CHECKING:
    from guestmeta.model import Topology

log = logging.getLogger(__name__)
NOT_READY = -1


class ServeError(RuntimeError):
    """The service cannot start (a socket that cannot be bound, a store that cannot open)."""


def bind(endpoint: Endpoint, interface: str = "", spread: bool = False) -> socket.socket:
    """A listening socket, bound before any worker starts (one line on failure).

    ``spread``: one of several sockets on the same address (``SO_REUSEPORT``)."""
    try:
        if endpoint.path:
            with contextlib.suppress(FileNotFoundError):  # a stale socket goes, a file stays
                if stat.S_ISSOCK(os.lstat(endpoint.path).st_mode):
                    os.unlink(endpoint.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(endpoint.path)
            os.chmod(endpoint.path, 0o660)
        else:
            family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if spread:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if interface:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            sock.bind((endpoint.host, endpoint.port))
        sock.listen(1024)
        sock.set_inheritable(True)
        return sock
    except OSError as exc:
        where = f"{endpoint}" + (f" on {interface}" if interface else "")
        raise ServeError(f"cannot listen on {where}: {exc.strerror or exc}") from None


def _worker_sockets(settings: Settings) -> list[list[socket.socket]]:
    spread = settings.workers > 1
    first = [bind(li.endpoint, li.interface, spread) for li in settings.listeners]
    sockets = [first]
    for _ in range(1, settings.workers):
        own = []
        for listener, sock in zip(settings.listeners, first, strict=True):
            if listener.endpoint.path:
                own.append(sock)
            else:  # the port the first socket got, should the setting have said 0
                port = sock.getsockname()[1]
                where = dataclasses.replace(listener.endpoint, port=port)
                own.append(bind(where, listener.interface, spread))
        sockets.append(own)
    return sockets


class Supervisor:
    def __init__(self, settings: Settings, db: str | None) -> None:
        self.settings = settings
        self.db = db
        # sockets[w][i]: worker w's socket for listener i (see the module's docstring).
        self.sockets = _worker_sockets(settings)
        self.admin_socket = bind(settings.admin) if settings.admin else None
        self.metrics_dir = tempfile.mkdtemp(prefix="guestmeta-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        from guestmeta.service import tokens

        self.secret = tokens.new_secret()
        self.revisions: SynchronizedArray[int] = multiprocessing.Array("q", settings.workers)
        self.context = multiprocessing.get_context("fork")
        self.workers: list[Any] = [None] * settings.workers
        self.stopping = threading.Event()

    def _spawn(self, index: int) -> None:
        self.revisions[index] = NOT_READY
        process = self.context.Process(
            target=_worker,
            args=(self.settings, self.db, self.sockets[index], self.secret, self.revisions, index),
            name=f"guestmeta-serve-{index}",
            daemon=True,
        )
        process.start()
        self.workers[index] = process

    def health(self) -> tuple[int, dict[str, Any]]:
        alive = [bool(w is not None and w.is_alive()) for w in self.workers]
        revisions = [self.revisions[i] for i in range(self.settings.workers)]
        ready = all(alive) and all(r != NOT_READY for r in revisions)
        body = {"ready": ready, "workers": len(alive), "alive": sum(alive), "revisions": revisions}
        return (200 if ready else 503), body

    def run(self) -> int:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())
        for index in range(self.settings.workers):
            self._spawn(index)
        admin = self._admin() if self.admin_socket is not None else None
        try:
            while not self.stopping.wait(0.5):
                for index, process in enumerate(self.workers):
                    if not process.is_alive():
                        from guestmeta.service.exposition import forget

                        forget(process.pid, self.metrics_dir)
                        log.warning(
                            "worker %d exited with %s; starting another", index, process.exitcode
                        )
                        self._spawn(index)
        finally:
            if admin is not None:
                admin.shutdown()
            for process in self.workers:
                if process is not None and process.is_alive():
                    process.terminate()
            for process in self.workers:
                if process is not None:
                    process.join(timeout=10)
            for sock in {sock for own in self.sockets for sock in own}:
                sock.close()
            for listener in self.settings.listeners:
                if listener.endpoint.path:
                    with contextlib.suppress(OSError):
                        os.unlink(listener.endpoint.path)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return 0

    def _admin(self) -> ThreadingHTTPServer:
        from guestmeta.service.exposition import exposition

        supervisor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/healthz":
                    status, body = supervisor.health()
                    self._send(status, "application/json", json.dumps(body).encode())
                elif self.path == "/metrics":
                    data = exposition(supervisor.metrics_dir)
                    self._send(200, "text/plain; version=0.0.4; charset=utf-8", data)
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        assert self.admin_socket is not None
        server = ThreadingHTTPServer(self.admin_socket.getsockname()[:2], Handler, False)
        server.socket.close()
        server.socket = self.admin_socket
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="guestmeta-admin", daemon=True).start()
        return server


def _worker(
    settings: Settings,
    db: str | None,
    sockets: Sequence[socket.socket],
    secret: str,
    revisions: SynchronizedArray[int],
    index: int,
) -> None:
    """One worker process: its own store connection, snapshot and event loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when to stop

    def published(revision: int) -> None:
        revisions[index] = revision

    apps, close = worker_apps(settings, db, secret, published, index=index)
    try:
        _run_loop(_serve(apps, sockets, apps[0].service.metrics.flush))
    finally:
        close()


def _warn_when_shared(topology: Topology) -> None:
    """Say so when a service without ``host`` answers for the servers of several hosts:
    the one-host default, and on a store that several hosts share, a service on each of
    them answering for every server (what ``--host`` is for)."""
    hosts = sorted({server.host for server in topology.servers.values() if server.host})
    if len(hosts) > 1:
        log.warning(
            "serving the servers of all %d hosts of the store (%s); on a store that several"
            " hosts share, start each host's service with --host NAME (setting host)",
            len(hosts),
            ", ".join(hosts[:3]) + (", ..." if len(hosts) > 3 else ""),
        )


def worker_apps(
    settings: Settings,
    db: str | None,
    secret: str,
    published: Callable[[int], None] | None = None,
    *,
    index: int = 0,
) -> tuple[list[Any], Callable[[], None]]:
    """What one worker serves: an ASGI app per listener, following the store from now on.

    Returns the apps (in the order of ``settings.listeners``) and the function that stops
    following and closes the store. The first snapshot is built before this returns.
    ``published`` hears each revision the worker starts serving. ``index`` (from 0) names
    the worker in the host's reports when there are several, so each has a row of its
    own in ``guestmeta status`` and one stuck behind is not hidden by the others.
    """
    from guestmeta.documents import DocumentOptions, VendorData
    from guestmeta.service.app import ListenerApp, Service, configure_access_log
    from guestmeta.service.metrics import Metrics
    from guestmeta.service.snapshot import Follower, Snapshot
    from guestmeta.store import Store

    if settings.access_log:
        configure_access_log()
    store = Store(
        db,
        client=f"guestmeta serve {settings.host}".strip(),
        pooled=not settings.host,
        replica=settings.feed_db or None,
    )

    def on_publish(snapshot: Snapshot) -> None:
        if published is not None:
            published(snapshot.revision)
        Metrics.revision(snapshot.revision)

    vendor = VendorData.from_dir(settings.vendor_data_dir or None)
    options = DocumentOptions(dhcp_domain=settings.dhcp_domain, vendor=vendor)
    follower = Follower(
        store,
        options,
        interval=settings.refresh_interval,
        on_publish=on_publish,
        on_failure=Metrics.store_failure,
        host=settings.host or None,
        role="serve" if settings.workers == 1 else f"serve/{index + 1}",
    )
    follower.start()
    if not settings.host and index == 0 and follower.current is not None:
        _warn_when_shared(follower.current.topology)
    service = Service(settings, store, follower, secret)

    def close() -> None:
        follower.stop()
        store.close()

    return [ListenerApp(service, listener) for listener in settings.listeners], close


def _run_loop(main: Any) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover (a dependency; asyncio still works)
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(
    apps: Sequence[Any], sockets: Sequence[socket.socket], flush: Callable[[], None]
) -> None:
    """uvicorn on each socket with its listener's app, until SIGTERM; the metrics counted
    on this loop go out once a second."""
    import uvicorn

    from guestmeta.service.protocol import MetadataHttpProtocol

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    servers = []
    for app, sock in zip(apps, sockets, strict=True):
        config = uvicorn.Config(
            app,
            lifespan="off",
            http=MetadataHttpProtocol,
            access_log=False,
            log_level="warning",
            server_header=False,
            # Who calls is the app's question alone: uvicorn would otherwise take the
            # client from X-Forwarded-For on any request from 127.0.0.1 (its default
            # trusted proxy), whatever trusted_proxies says, before the app sees it.
            proxy_headers=False,
            timeout_keep_alive=5,
            h11_max_incomplete_event_size=16384,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        await server.on_tick(0)  # the date header, from the first answer on
        servers.append((server, sock))
    counter = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)
        counter += 1
        for server, _sock in servers:
            await server.on_tick(counter)
        if counter % 10 == 0:
            flush()
    for server, sock in servers:
        await server.shutdown(sockets=[sock])
    flush()


def serve(settings: Settings, db: str | None) -> int:
    """Run until SIGTERM or SIGINT; the exit status."""
    started = time.monotonic()
    supervisor = Supervisor(settings, db)
    log.info(
        "serving on %s with %d worker(s) (%.2f s to bind)",
        ", ".join(str(li.endpoint) for li in settings.listeners),
        settings.workers,
        time.monotonic() - started,
    )
    return supervisor.run()
