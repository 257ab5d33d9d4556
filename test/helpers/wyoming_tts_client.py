"""A Wyoming TTS client built on the real `wyoming` PyPI package (what Home Assistant's Wyoming integration uses).

Usage: python wyoming_tts_client.py HOST PORT VOICE_OR_EMPTY
Does describe, a plain synthesize, and a streaming synthesize (with the compatibility `synthesize` event that
Home Assistant sends inside a stream), then prints one JSON object with what came back.
"""

import asyncio
import json
import sys

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)


async def collect(client, until):
    """Reads events up to the one `until` accepts; summarizes audio groups."""
    out = {"types": [], "groups": [], "bytes": 0, "error": None}
    while True:
        event = await asyncio.wait_for(client.read_event(), timeout=60)
        if event is None:
            out["types"].append("<closed>")
            return out
        out["types"].append(event.type)
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            out["groups"].append({"rate": start.rate, "width": start.width, "channels": start.channels, "bytes": 0})
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            out["groups"][-1]["bytes"] += len(chunk.audio)
            out["bytes"] += len(chunk.audio)
        elif Error.is_type(event.type):
            out["error"] = Error.from_event(event).text
            return out
        if until(event.type):
            return out


def compact(summary):
    """Drops the long run of audio-chunk types, keeping the order of the others."""
    types = []
    for t in summary["types"]:
        if t == "audio-chunk" and types and types[-1] == "audio-chunk*":
            continue
        types.append("audio-chunk*" if t == "audio-chunk" else t)
    summary["types"] = types
    return summary


async def main(host, port, voice_name):
    voice = SynthesizeVoice(name=voice_name) if voice_name else None
    result = {}
    async with AsyncTcpClient(host, port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=30)
            if Info.is_type(event.type):
                info = Info.from_event(event)
                break
        result["info"] = [
            {
                "name": p.name,
                "installed": p.installed,
                "attribution": p.attribution.name,
                "supports_synthesize_streaming": p.supports_synthesize_streaming,
                "voices": [
                    {
                        "name": v.name,
                        "languages": v.languages,
                        "installed": v.installed,
                        "description": v.description,
                        "speakers": [s.name for s in (v.speakers or [])],
                    }
                    for v in p.voices
                ],
            }
            for p in info.tts
        ]

        await client.write_event(Synthesize(text="Hello from the hub. This is Wyoming.", voice=voice).event())
        result["synthesize"] = compact(await collect(client, AudioStop.is_type))

        text = "First streamed sentence. Second one"
        await client.write_event(SynthesizeStart(voice=voice).event())
        for piece in ["First streamed ", "sentence. Second", " one"]:
            await client.write_event(SynthesizeChunk(text=piece).event())
        await client.write_event(Synthesize(text=text, voice=voice).event())
        await client.write_event(SynthesizeStop().event())
        result["stream"] = compact(await collect(client, SynthesizeStopped.is_type))
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else ""))
