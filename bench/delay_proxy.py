#!/usr/bin/env python3
"""A TCP proxy that delays every byte by a fixed time in each direction.

Stands for the network between PostgreSQL and a remote Fauna in
benchmarks (this machine's kernel has no netem): a client connecting to
the proxy's port reaches the target, and what either side sends arrives
`one_way_ms` later at the other, in order, at full speed otherwise.  The
round trip thus grows by 2 * one_way_ms.

    python3 bench/delay_proxy.py TARGET_HOST TARGET_PORT ONE_WAY_MS
prints `proxy listening on 127.0.0.1:PORT` and serves until killed.
"""
import asyncio
import sys

# Read up to 1 MiB at once: the proxy stands for the network, so it should
# take as little of the machine's CPU as it can (64 KiB reads took
# 0.54 s of CPU for 200 pages of 400 kB, 1 MiB reads take 0.39 s).
CHUNK = 1 << 20


async def pipe(reader, writer, delay):
    """Forward reader to writer, each chunk `delay` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            queue.put_nowait((loop.time() + delay, data))
    finally:
        queue.put_nowait((0, None))
        await sender


async def main():
    host, port, one_way = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 1000

    async def handle(creader, cwriter):
        sreader, swriter = await asyncio.open_connection(host, port, limit=CHUNK)
        await asyncio.gather(pipe(creader, swriter, one_way),
                             pipe(sreader, cwriter, one_way),
                             return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=CHUNK)
    print("proxy listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
