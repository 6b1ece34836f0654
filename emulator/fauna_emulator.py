#!/usr/bin/env python3
"""Fauna-compatible emulator: CLI entry point.

    python3 emulator/fauna_emulator.py --port 8443 --secret secret [--clock logical] [--load F.jsonl]
        [--tls CERTFILE KEYFILE]
"""
from __future__ import annotations

import argparse
import os
import signal
import ssl
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from faunaemu.loader import LoadError, load_file  # noqa: E402
from faunaemu.server import EmulatorServer  # noqa: E402
from faunaemu.storage import Store  # noqa: E402


def warm_cache(store: Store) -> None:
    from faunaemu.wire import ver_fields_tagged
    with store.lock.shared():
        versions = [v for c in store.colls.values() for v in c.latest.values()]
    for v in versions:
        if not v.deleted:
            ver_fields_tagged(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Fauna-compatible HTTP emulator (FQL v10 subset)")
    ap.add_argument("--port", type=int, default=8443, help="port to bind; 0 picks a free one")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--secret", required=True, help="the admin key's secret")
    ap.add_argument("--clock", choices=("wall", "logical"), default="wall",
                    help="logical: deterministic ids and timestamps")
    ap.add_argument("--load", metavar="FILE.jsonl", action="append", default=[],
                    help="bulk-load collections and documents at start")
    ap.add_argument("--index-build-ms", type=int, default=500, metavar="MS",
                    help="how long an index added to a collection of >= 128 documents is "
                         "being built (not queryable) (default 500; 0: at once)")
    ap.add_argument("--hold-index-builds", action="store_true",
                    help="background index builds stay pending until the control call "
                         "POST /_emulator/index_builds/finish (for tests); "
                         "--index-build-ms is then ignored")
    ap.add_argument("--no-typecheck", action="store_true",
                    help="the database is not typechecked (x-typecheck defaults to false), "
                         "as a core database created with typechecked: false")
    ap.add_argument("--tls", nargs=2, metavar=("CERTFILE", "KEYFILE"),
                    help="serve HTTPS with this PEM certificate (chain) and private key")
    ap.add_argument("--read-processes", type=int, default=1, metavar="N",
                    help="serve from N processes forked after --load, each with its own copy "
                         "of the data, so that concurrent reads run side by side as on the "
                         "real service (benchmarks of parallel scans); writes are refused "
                         "and the control API acts on one process (default 1)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    if args.index_build_ms < 0:
        ap.error("--index-build-ms must be >= 0")
    if args.read_processes < 1:
        ap.error("--read-processes must be >= 1")

    tls = None
    if args.tls:
        # the client tests verification, so nothing here may be lenient:
        # a bad certificate or key is an error at start, not a plain-HTTP
        # fallback
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            tls.load_cert_chain(args.tls[0], args.tls[1])
        except (OSError, ssl.SSLError) as e:
            print(f"fauna_emulator: cannot load the TLS certificate or key: {e}",
                  file=sys.stderr)
            return 2

    store = Store(logical=args.clock == "logical", index_build_ms=args.index_build_ms,
                  hold_index_builds=args.hold_index_builds,
                  typechecked=not args.no_typecheck)
    # Bind before loading: a taken port fails at once, not after a long --load.
    try:
        srv = EmulatorServer((args.host, args.port), store, args.secret,
                             quiet=not args.verbose, tls=tls)
    except OSError as e:
        print(f"fauna_emulator: cannot listen on {args.host}:{args.port}: "
              f"{e.strerror or e}", file=sys.stderr)
        return 2
    for path in args.load:
        try:
            n = load_file(store, path)
        except (OSError, LoadError) as e:
            print(f"fauna_emulator: cannot load {path}: {e}", file=sys.stderr)
            srv.server_close()
            return 2
        print(f"loaded {n} documents from {path}", file=sys.stderr, flush=True)

    if args.load:
        # Encode loaded versions before serving, so the first scan of a
        # bulk-loaded collection is as fast as later ones (~10 us per doc).
        warm_cache(store)
    children = fork_readers(srv, store, args.read_processes)
    if children is None:
        srv.serve_forever(poll_interval=0.1)     # a forked reader, until SIGTERM
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    host, port = srv.server_address[:2]
    print(f"listening on {'https' if tls else 'http'}://{host}:{port}", flush=True)
    stop.wait()
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)
    srv.shutdown()
    srv.server_close()
    return 0


def fork_readers(srv: EmulatorServer, store: Store, n: int) -> list[int] | None:
    """Fork n - 1 processes that serve the listening socket with their own
    copy of the store (read only from now on).  The children's pids in the
    parent; None in a child."""
    if n > 1:
        store.read_only = True
        # every process wakes for a new connection and one takes it: the
        # others must not then wait in accept(), where shutdown() could not
        # reach them
        srv.socket.setblocking(False)
    children = []
    for _ in range(n - 1):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
            return None
        children.append(pid)
    return children


if __name__ == "__main__":
    sys.exit(main())
