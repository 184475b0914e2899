"""The media layer: probe, validate, decode and encode, all with PyAV (never an ffmpeg binary)."""

from .decode import Audio, decode_audio
from .encode import (
    VideoEncoding,
    check_output,
    output_suffix,
    output_suffixes,
    write_output,
    write_wav,
)
from .limits import Limits
from .probe import MediaInfo, StreamInfo, probe
from .validate import human_duration, human_size, usable_audio_stream, validate

__all__ = [
    "Audio",
    "Limits",
    "MediaInfo",
    "StreamInfo",
    "VideoEncoding",
    "check_output",
    "decode_audio",
    "human_duration",
    "human_size",
    "output_suffix",
    "output_suffixes",
    "probe",
    "usable_audio_stream",
    "validate",
    "write_output",
    "write_wav",
]
