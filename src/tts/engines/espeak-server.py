"""A warm espeak-ng for TTS Hub (src/tts/engines/espeak-server.ts): libespeak-ng loaded once, one utterance per
request, so a say pays the synthesis only, not starting espeak-ng (about 11 ms of CPU a process: loading 35
shared libraries and the voice data).

Protocol (stdin / stdout, one request at a time):
- in: one JSON line per request, {"voice": "en", "text": "..."}; end of input ends the process.
- out: frames of 1 type byte + a 4-byte little-endian length + that many bytes:
  R (once, at start): JSON {"rate": Hz}; A: s16le mono PCM; E: the request ended (no payload);
  X: the request failed (UTF-8 message); the process goes on with the next request.

Synthesis is the espeak-ng CLI's (src/espeak-ng.c in espeak-ng 1.51): synchronous output, the voice by name
else by language, flags espeakCHARS_AUTO | espeakPHONEMES | espeakENDPAUSE plus -b 1 (UTF-8), the whole text as
one utterance (as --stdin). The voice is set again only when it changes.
"""

import ctypes
import json
import struct
import sys

AUDIO_OUTPUT_SYNCHRONOUS = 2
# Audio handed out per callback, in ms: few, big frames (the CLI's stdout pipe gives the hub a few big reads too);
# espeak-ng makes 200 ms of speech in well under a millisecond, so the first audio is no later.
BUFFER_MS = 200
POS_CHARACTER = 1
# speak_lib.h: espeakCHARS_UTF8 = 1, espeakPHONEMES = 0x100, espeakENDPAUSE = 0x1000.
SYNTH_FLAGS = 0x1 | 0x100 | 0x1000
EE_OK = 0

out = sys.stdout.buffer


def frame(kind, payload=b""):
    out.write(kind + struct.pack("<I", len(payload)) + payload)


class Voice(ctypes.Structure):
    """espeak_VOICE (speak_lib.h)."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def main():
    lib = ctypes.CDLL("libespeak-ng.so.1")
    callback_type = ctypes.CFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
    )

    def on_audio(wav, samples, _events):
        if samples > 0:
            frame(b"A", ctypes.string_at(wav, samples * 2))
            out.flush()
        return 0

    keep = callback_type(on_audio)
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, BUFFER_MS, None, 0)
    if rate <= 0:
        frame(b"X", b"espeak_Initialize failed")
        out.flush()
        return 1
    lib.espeak_SetSynthCallback(keep)
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(Voice)]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    frame(b"R", json.dumps({"rate": rate}).encode())
    out.flush()
    current = None
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            voice = str(request["voice"]).encode()
            if voice != current:
                if lib.espeak_SetVoiceByName(voice) != EE_OK:
                    wanted = Voice(languages=voice)
                    if lib.espeak_SetVoiceByProperties(ctypes.byref(wanted)) != EE_OK:
                        raise ValueError("voice '%s' not found" % voice.decode())
                current = voice
            text = str(request["text"]).encode()
            if lib.espeak_Synth(text, len(text) + 1, 0, POS_CHARACTER, 0, SYNTH_FLAGS, None, None) != EE_OK:
                raise RuntimeError("espeak_Synth failed")
            frame(b"E")
        except Exception as err:  # noqa: BLE001 - every failure is reported, the process serves the next one
            current = None
            frame(b"X", str(err).encode())
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
