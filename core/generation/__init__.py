"""The one generation path: serving (``api.inference``) and the post-training samples
(``gpu_worker``) both call :func:`core.generation.run.generate`, built on transformers'
``model.generate``. The data types here import no torch."""

from core.generation.params import ChoiceResult, Delta, FinishReason, SamplingParams

__all__ = ["ChoiceResult", "Delta", "FinishReason", "SamplingParams"]
