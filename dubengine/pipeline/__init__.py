"""The seven stages, one module each (separate, transcribe, voices, translate, synthesize,
align, mix), the model pool they share, the clip cache, and the runner that calls them in
order (``Pipeline.run``)."""

from .clips import ClipCache
from .pool import ModelPool
from .runner import DubArtifacts, Pipeline, PipelineResult

__all__ = ["ClipCache", "DubArtifacts", "ModelPool", "Pipeline", "PipelineResult"]
