#!/usr/bin/env python3
"""A Wyoming speaker for tests, built on the real `wyoming` package (OHF-Voice/wyoming `wyoming/server.py`
AsyncServer/AsyncEventHandler, `wyoming/audio.py`, `wyoming/snd.py` Played). It behaves like
rhasspy/wyoming-snd-external `__main__.py`: audio-start/audio-chunk feed the player, audio-stop is answered
with `played`, and a disconnect stops the player. Instead of a sound card it reports what it received, one JSON
line per fact on stdout: {"event": "start"|"stop"|"played"|"closed", "conn", "t", ...}.
With --realtime it answers `played` only after the audio's duration, as a real player draining into aplay does;
--extra-delay S adds S seconds more (a slower device). The stop report carries the SHA-256 of the PCM received.
"""
import argparse
import asyncio
import hashlib
import json
import time
from functools import partial

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.snd import Played

_next_conn = 0


def report(**fields) -> None:
    """One JSON line; `t` is now unless given (monotonic seconds, CLOCK_MONOTONIC like Node's hrtime)."""
    print(json.dumps({"t": time.monotonic(), **fields}), flush=True)


class SpeakerHandler(AsyncEventHandler):
    def __init__(self, realtime: bool, extra_delay: float, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        global _next_conn
        _next_conn += 1
        self.conn = _next_conn
        self.realtime = realtime
        self.extra_delay = extra_delay
        self.digest = hashlib.sha256()
        self.bytes = 0
        self.rate = self.width = self.channels = 0
        self.played = False
        self.pending = None

    async def handle_event(self, event: Event) -> bool:
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self.rate, self.width, self.channels = start.rate, start.width, start.channels
            report(event="start", conn=self.conn, rate=start.rate, width=start.width, channels=start.channels)
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            if (chunk.rate, chunk.width, chunk.channels) != (self.rate, self.width, self.channels):
                report(event="format_mismatch", conn=self.conn)
            self.bytes += len(chunk.audio)
            self.digest.update(chunk.audio)
        elif AudioStop.is_type(event.type):
            report(event="stop", conn=self.conn, bytes=self.bytes, sha256=self.digest.hexdigest())
            seconds = self.bytes / max(1, self.rate * self.width * self.channels) if self.realtime else 0
            seconds += self.extra_delay
            self.pending = asyncio.create_task(self.finish(seconds))
        return True

    async def finish(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        sent = time.monotonic()  # before the write: the client may act on `played` before this line runs again
        await self.write_event(Played().event())
        self.played = True
        report(event="played", conn=self.conn, t=sent)

    async def disconnect(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.pending.cancel()
        report(event="closed", conn=self.conn, bytes=self.bytes, played=self.played)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True, help="tcp://host:port")
    parser.add_argument("--realtime", action="store_true")
    parser.add_argument("--extra-delay", type=float, default=0.0)
    args = parser.parse_args()
    server = AsyncServer.from_uri(args.uri)
    await server.start(partial(SpeakerHandler, args.realtime, args.extra_delay))
    report(event="ready")
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
