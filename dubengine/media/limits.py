"""Input limits and accepted formats, with the API reference's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

# Container labels as `probe` names them (see probe._container_label).
VIDEO_CONTAINERS = frozenset({"mp4", "mov", "mkv", "webm", "avi", "flv", "ts"})
AUDIO_FORMATS = frozenset({"wav", "mp3", "flac", "ogg", "m4a", "aac", "wma"})

# FFmpeg canonical codec names.
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "prores", "mpeg4"})
# Audio codecs the reference accepts inside video files ("PCM" is every pcm_* variant).
AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "vorbis", "pcm", "flac", "ac3"})
# Audio-only formats bring their own codecs: WMA's, and ALAC inside M4A.
AUDIO_FILE_CODECS = AUDIO_CODECS | {"wmav1", "wmav2", "wmapro", "alac"}

# Lossless codecs: audio-only input in one of these comes back as WAV, anything else as MP3.
LOSSLESS_AUDIO_CODECS = frozenset({"pcm", "flac", "alac"})


def codec_family(codec: str) -> str:
    """Folds the pcm_* variants into "pcm" so the lists above stay readable."""
    return "pcm" if codec.startswith("pcm_") else codec


@dataclass(frozen=True)
class Limits:
    """What an input may be. Every field can be changed; the defaults are the reference's.

    Attributes:
        min_duration_sec: shortest accepted input, seconds (1).
        max_duration_sec: longest accepted input, seconds (600).
        max_file_size_bytes: largest accepted file, bytes (500 MB).
        video_containers: containers accepted for video input.
        audio_formats: formats accepted for audio-only input.
        video_codecs: video codecs accepted.
        audio_codecs: audio codecs accepted in video files.
        audio_file_codecs: audio codecs accepted in audio-only files.
    """

    min_duration_sec: float = 1.0
    max_duration_sec: float = 600.0
    max_file_size_bytes: int = 500_000_000
    video_containers: frozenset[str] = field(default=VIDEO_CONTAINERS)
    audio_formats: frozenset[str] = field(default=AUDIO_FORMATS)
    video_codecs: frozenset[str] = field(default=VIDEO_CODECS)
    audio_codecs: frozenset[str] = field(default=AUDIO_CODECS)
    audio_file_codecs: frozenset[str] = field(default=AUDIO_FILE_CODECS)

    def to_dict(self) -> dict[str, float | int]:
        """The two limits the API reports with every job."""
        return {
            "max_duration_sec": self.max_duration_sec,
            "max_file_size_bytes": self.max_file_size_bytes,
        }
