"""SDK resources: official OpenAI resources subclassed with openft's extensions."""

from sdk.resources.evals import AsyncEvals, Evals
from sdk.resources.files import AsyncFiles, Files
from sdk.resources.jobs import AsyncFineTuning, AsyncJobs, FineTuning, Jobs
from sdk.resources.models import AsyncModels, Models

__all__ = [
    "AsyncEvals", "AsyncFiles", "AsyncFineTuning", "AsyncJobs", "AsyncModels", "Evals", "Files", "FineTuning", "Jobs",
    "Models",
]
