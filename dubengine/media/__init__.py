"""The media layer: probe, validate, decode and encode, all with PyAV (never an ffmpeg binary)."""

from .decode import Audio, decode_audio
from .encode import VideoEncoding, output_suffix, write_output, write_wav
from .limits import Limits
from .probe import MediaInfo, StreamInfo, probe
from .validate import human_duration, human_size, usable_audio_stream, validate

__all__ = [
    "Audio",
    "Limits",
    "MediaInfo",
    "StreamInfo",
    "VideoEncoding",
    "decode_audio",
    "human_duration",
    "human_size",
    "output_suffix",
    "probe",
    "usable_audio_stream",
    "validate",
    "write_output",
    "write_wav",
]
