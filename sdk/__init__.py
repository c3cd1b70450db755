"""openft's Python SDK: the official ``openai`` client pointed at openft, plus extensions.

>>> from sdk import Client
>>> client = Client()                      # $OPENFT_BASE_URL, $OPENFT_API_KEY
>>> f = client.files.create(file=open("train.jsonl", "rb"), purpose="fine-tune")
>>> job = client.fine_tuning.jobs.create(model="tiny-chat", training_file=f.id)
>>> job = client.jobs.wait(job.id, progress=True)
>>> client.jobs.plot(job.id, "loss.png")
>>> client.models.export(job.fine_tuned_model, format="adapter", dest="adapter", extract=True)

Errors are the official client's exception classes, re-exported here.
"""

from openai import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

from sdk._client import AsyncClient, Client
from sdk.plotting import LossCurves

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "LossCurves",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "RateLimitError",
    "UnprocessableEntityError",
]
