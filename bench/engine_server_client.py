"""Timing client for `npm run bench -- engine-server`, built on the real clients nobody here wrote:
the `wyoming` package (what Home Assistant's Wyoming integration uses) and the official `openai` package.

Reads `{"jobs": [...], "pause_ms": N}` on stdin, runs the jobs one after another with a pause of `pause_ms`
between two (so what one job leaves running, such as the hub's spare encoder starting or Piper's threads
winding down, never lands on the next job's time), prints a JSON list of results. Before the first timed job,
each client is warmed up untimed: the `openai` package loads its resources and opens its connection on the
first request (about 20 ms, which fell on whichever format came first), the `wyoming` client's code paths run
once (a `describe` to each Wyoming endpoint), and the HTTP say's client asks `/api/health`.
Jobs:
  {"kind": "plain", "host", "port", "text", "voice"?}      one `synthesize`, read to `audio-stop`
  {"kind": "stream", "host", "port", "text", "voice"?}     `synthesize-start`, the text in small
      `synthesize-chunk`s (as Home Assistant forwards an LLM's tokens), the compatibility `synthesize`,
      `synthesize-stop`; read to `synthesize-stopped`
  {"kind": "openai", "base_url", "text", "format"}         `/v1/audio/speech` streamed, first byte and total
  {"kind": "say", "base_url", "text"}                       POST /api/say `{text, wait: true, format: "opus"}`
      (the hub's own HTTP API, with the standard library), read to the end of the answer
Each result: {"first_ms", "total_ms", "bytes"} (Wyoming: PCM bytes; `first_ms` is the first audio-chunk;
say: `first_ms` is null and `bytes` the answer's size).
"""

import asyncio
import json
import sys
import time
import urllib.request

from openai import OpenAI
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)


async def read_audio(client, t0, until):
    first = None
    size = 0
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout=120)
        if event is None:
            raise RuntimeError("connection closed")
        if event.type == "error":
            raise RuntimeError(f"error event: {event.data}")
        if AudioChunk.is_type(event.type):
            if first is None:
                first = (time.perf_counter() - t0) * 1000
            size += len(AudioChunk.from_event(event).audio)
        if until(event.type):
            return first, size


def pieces(text, words=3):
    parts = text.split(" ")
    return [" ".join(parts[i : i + words]) + " " for i in range(0, len(parts), words)]


async def wyoming_job(job):
    voice = SynthesizeVoice(name=job["voice"]) if job.get("voice") else None
    async with AsyncTcpClient(job["host"], job["port"]) as client:
        t0 = time.perf_counter()
        if job["kind"] == "plain":
            await client.write_event(Synthesize(text=job["text"], voice=voice).event())
            first, size = await read_audio(client, t0, AudioStop.is_type)
        else:
            await client.write_event(SynthesizeStart(voice=voice).event())
            for piece in pieces(job["text"]):
                await client.write_event(SynthesizeChunk(text=piece).event())
            await client.write_event(Synthesize(text=job["text"], voice=voice).event())
            await client.write_event(SynthesizeStop().event())
            first, size = await read_audio(client, t0, SynthesizeStopped.is_type)
        return {"first_ms": first, "total_ms": (time.perf_counter() - t0) * 1000, "bytes": size}


def openai_job(client, job):
    t0 = time.perf_counter()
    first = None
    size = 0
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=job["text"], response_format=job["format"]
    ) as response:
        for piece in response.iter_bytes():
            if first is None:
                first = (time.perf_counter() - t0) * 1000
            size += len(piece)
    return {"first_ms": first, "total_ms": (time.perf_counter() - t0) * 1000, "bytes": size}


def say_job(job):
    body = json.dumps({"text": job["text"], "wait": True, "format": "opus"}).encode()
    request = urllib.request.Request(
        job["base_url"] + "/api/say", data=body, headers={"content-type": "application/json"}
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = response.read()
    total = (time.perf_counter() - t0) * 1000
    if not json.loads(answer).get("ok"):
        raise RuntimeError(f"say failed: {answer[:300]!r}")
    return {"first_ms": None, "total_ms": total, "bytes": len(answer)}


def openai_client(clients, base_url):
    return clients.setdefault(
        base_url, OpenAI(base_url=base_url, api_key="loopback", max_retries=0, timeout=120)
    )


async def warm_up(jobs, clients):
    """One untimed use of each client on each endpoint the jobs use (see the module docstring)."""
    seen = set()
    for job in jobs:
        if job["kind"] == "openai" and ("openai", job["base_url"]) not in seen:
            seen.add(("openai", job["base_url"]))
            # A fixed text: a miss the first time, a cache hit afterwards.
            openai_job(openai_client(clients, job["base_url"]), {"text": "Warm up.", "format": "wav"})
        elif job["kind"] == "say" and ("say", job["base_url"]) not in seen:
            seen.add(("say", job["base_url"]))
            with urllib.request.urlopen(job["base_url"] + "/api/health", timeout=30) as response:
                response.read()
        elif job["kind"] in ("plain", "stream") and (job["host"], job["port"]) not in seen:
            seen.add((job["host"], job["port"]))
            async with AsyncTcpClient(job["host"], job["port"]) as client:
                await client.write_event(Describe().event())
                while not Info.is_type((await asyncio.wait_for(client.read_event(), timeout=30)).type):
                    pass


async def main():
    request = json.load(sys.stdin)
    jobs = request["jobs"]
    pause = request.get("pause_ms", 0) / 1000
    clients = {}
    results = []
    await warm_up(jobs, clients)
    for i, job in enumerate(jobs):
        if pause:
            await asyncio.sleep(pause)
        if job["kind"] == "openai":
            results.append(openai_job(openai_client(clients, job["base_url"]), job))
        elif job["kind"] == "say":
            results.append(say_job(job))
        else:
            results.append(await wyoming_job(job))
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
