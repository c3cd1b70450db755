"""SDK resources: official OpenAI resources subclassed with openft's extensions."""

from sdk.resources.files import AsyncFiles, Files
from sdk.resources.jobs import AsyncFineTuning, AsyncJobs, FineTuning, Jobs
from sdk.resources.models import AsyncModels, Models

__all__ = [
    "AsyncFiles", "AsyncFineTuning", "AsyncJobs", "AsyncModels", "Files", "FineTuning", "Jobs", "Models",
]
