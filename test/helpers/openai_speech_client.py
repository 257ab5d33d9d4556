"""Streams speech from the hub with the official `openai` PyPI package (what OpenAI-speech clients use).

Usage: python openai_speech_client.py BASE_URL OUT_DIR TEXT FORMAT[:sse][@SPEED] ...
For each request: `client.audio.speech.with_streaming_response.create(...)`, reading the body as it arrives;
plain requests save the bytes to OUT_DIR/<n>.<format>; `:sse` requests (stream_format="sse") parse the
server-sent events, decode every `speech.audio.delta` and save the reassembled audio the same way.
Prints one JSON object: {"results": [{"spec", "file", "bytes", "pieces", "first_byte_ms", "events", "error"}]}.
"""

import base64
import json
import os
import sys
import time

import openai
from openai import OpenAI


def run_one(client, out_dir, n, text, spec):
    fmt, _, speed = spec.partition("@")
    fmt, _, mode = fmt.partition(":")
    kwargs = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt}
    if speed:
        kwargs["speed"] = float(speed)
    if mode == "sse":
        kwargs["stream_format"] = "sse"
    result = {"spec": spec, "file": None, "bytes": 0, "pieces": 0, "first_byte_ms": None, "events": [], "error": None}
    audio = bytearray()
    t0 = time.perf_counter()
    try:
        with client.audio.speech.with_streaming_response.create(**kwargs) as response:
            result["content_type"] = response.headers.get("content-type")
            if mode == "sse":
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    event = json.loads(line[len("data:"):].strip())
                    if result["first_byte_ms"] is None:
                        result["first_byte_ms"] = (time.perf_counter() - t0) * 1000
                    kind = event.get("type")
                    if not result["events"] or result["events"][-1] != kind:
                        result["events"].append(kind)
                    if kind == "speech.audio.delta":
                        audio += base64.b64decode(event["audio"])
                        result["pieces"] += 1
                    elif kind == "speech.audio.done":
                        result["usage"] = event.get("usage")
            else:
                for piece in response.iter_bytes():
                    if result["first_byte_ms"] is None:
                        result["first_byte_ms"] = (time.perf_counter() - t0) * 1000
                    audio += piece
                    result["pieces"] += 1
    except openai.APIStatusError as err:
        result["error"] = {"status": err.status_code, "body": err.response.json()}
        return result
    path = os.path.join(out_dir, f"{n}.{fmt}")
    with open(path, "wb") as f:
        f.write(audio)
    result["file"] = path
    result["bytes"] = len(audio)
    return result


def main():
    base_url, out_dir, text, *specs = sys.argv[1:]
    client = OpenAI(base_url=base_url, api_key="not-needed-on-loopback", max_retries=0, timeout=120)
    results = [run_one(client, out_dir, n, text, spec) for n, spec in enumerate(specs)]
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
