"""Test sinks the benchmark needs beside nginx: one that never answers
(accepts, reads, then silence) and one that answers 200 after a delay.
Both asyncio, so ten thousand open connections cost little.

    python3 sinks.py dead PORT
    python3 sinks.py slow PORT DELAY_SECONDS
"""
import asyncio
import sys


async def serve(mode, port, delay):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if mode == "dead":
                    await asyncio.sleep(3600)
                    return
                await asyncio.sleep(delay)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=16384)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode, port = sys.argv[1], int(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0
    asyncio.run(serve(mode, port, delay))
