#!/usr/bin/env python3
"""Stand-in for wyoming-mic-external, built on the real `wyoming` package (test code only).

Behaviour follows rhasspy/wyoming-mic-external `wyoming_mic_external/__main__.py` (ExternalEventHandler):
a client sends nothing; for each connection the service starts `--program`, sends `audio-start` with the
configured format, then one `audio-chunk` per `--samples-per-chunk` samples the program writes on stdout.
When the program ends the service simply stops sending (no `audio-stop`); the connection stays open.

Difference from upstream: it prints "Ready" once the TCP port is listening (upstream prints it before binding),
so a test knows when to connect.
"""
import argparse
import asyncio
import shlex
import sys
import time
from functools import partial

from wyoming.audio import AudioChunk, AudioStart
from wyoming.event import Event
from wyoming.server import AsyncEventHandler, AsyncTcpServer


class MicHandler(AsyncEventHandler):
    """Streams the program's PCM to one client."""

    def __init__(self, args: argparse.Namespace, *rest) -> None:
        super().__init__(*rest)
        self.args = args
        self.task = asyncio.create_task(self.stream())

    async def handle_event(self, event: Event) -> bool:
        return True  # output only

    async def stream(self) -> None:
        args = self.args
        command = shlex.split(args.program)
        proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        fmt = {"rate": args.rate, "width": args.width, "channels": args.channels}
        await self.write_event(AudioStart(**fmt, timestamp=time.monotonic_ns()).event())
        chunk_bytes = args.samples_per_chunk * args.width * args.channels
        try:
            while True:
                audio = await proc.stdout.readexactly(chunk_bytes)
                await self.write_event(AudioChunk(**fmt, audio=audio, timestamp=time.monotonic_ns()).event())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # program ended or client left: stop sending, like upstream


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--program", required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--channels", type=int, required=True)
    parser.add_argument("--samples-per-chunk", type=int, default=1024)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = AsyncTcpServer("127.0.0.1", args.port)
    await server.start(partial(MicHandler, args))
    print("Ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
