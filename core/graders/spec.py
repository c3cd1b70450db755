"""Grader specifications: OpenAI's grader JSON, validated into typed objects.

``parse_grader(spec)`` accepts every grader type of the official client (``string_check``,
``text_similarity``, ``python``, ``score_model``, ``label_model``, ``multi``) and raises
:class:`GraderSpecError` naming the offending field (``"operation"``, ``"graders.a.input"``), which
callers prefix with where the grader sits (``"grader."``, ``"testing_criteria[0]."``). Unknown
extra fields are ignored, as the client's own models do; a missing ``name`` defaults to the type.
Checks that depend on how the service is configured (an embedding model for ``cosine``, a sandbox
for ``python``) run when ``settings`` is given.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator


class GraderSpecError(ValueError):
    """A grader that cannot run: ``message`` for the user, ``param`` the path inside the grader."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def prefixed(self, prefix: str) -> GraderSpecError:
        """The same error with ``param`` under ``prefix`` (``"grader"`` -> ``"grader.reference"``)."""
        param = f"{prefix}.{self.param}" if self.param else prefix
        message = self.message.replace(f"'{self.param}'", f"'{param}'") if self.param else self.message
        return GraderSpecError(message, param)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        # OpenAI's own examples often leave the name out (its eval graders had it optional):
        # such a grader is known by its type.
        if isinstance(data, dict) and "name" not in data:
            return {**data, "name": data.get("type")}
        return data


class StringCheck(_Spec):
    """1.0 when ``input`` and ``reference`` (both rendered) satisfy ``operation``, else 0.0."""

    type: Literal["string_check"]
    input: str
    reference: str
    operation: Literal["eq", "ne", "like", "ilike"]


SIMILARITY_METRICS = ("cosine", "fuzzy_match", "bleu", "gleu", "meteor",
                      "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l")


class TextSimilarity(_Spec):
    """A similarity in [0, 1] between rendered ``input`` and ``reference``."""

    type: Literal["text_similarity"]
    input: str
    reference: str
    evaluation_metric: Literal["cosine", "fuzzy_match", "bleu", "gleu", "meteor",
                               "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l"]


class Python(_Spec):
    """The float that ``grade(sample, item)`` in ``source`` returns, run in a sandbox."""

    type: Literal["python"]
    source: str
    image_tag: str | None = None

    @field_validator("source")
    @classmethod
    def _defines_grade(cls, source: str) -> str:
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            raise ValueError(f"the source does not compile: {exc.msg} (line {exc.lineno})") from None
        if not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "grade" for n in tree.body):
            raise ValueError("the source must define a function grade(sample, item)")
        return source


class ContentPart(BaseModel):
    """One text part of a judge message (``input_text`` or ``output_text``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["input_text", "output_text"]
    text: str


class JudgeMessage(BaseModel):
    """A templated message sent to the judge model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Literal["user", "assistant", "system", "developer"]
    content: str | ContentPart | list[str | ContentPart]
    type: Literal["message"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        parts = data.get("content") if isinstance(data, dict) else None
        for part in parts if isinstance(parts, list) else [parts]:
            if isinstance(part, dict) and part.get("type") in ("input_image", "input_audio"):
                raise ValueError(f"'{part['type']}' content needs a multimodal judge; openft's judges read text")
        return data

    def texts(self) -> list[str]:
        """The text templates of this message, in order."""
        parts = self.content if isinstance(self.content, list) else [self.content]
        return [p if isinstance(p, str) else p.text for p in parts]


class SamplingParams(BaseModel):
    """Sampling parameters for the judge (OpenAI's names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_completions_tokens: int | None = Field(None, ge=1)
    reasoning_effort: str | None = None
    seed: int | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)


class ScoreModel(_Spec):
    """A number in ``range`` that the judge ``model`` writes for the templated ``input``."""

    type: Literal["score_model"]
    model: str = Field(min_length=1)
    input: list[JudgeMessage] = Field(min_length=1)
    range: tuple[float, float] = (0.0, 1.0)
    sampling_params: SamplingParams | None = None

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError("range must be [low, high] with low < high")
        return value


class LabelModel(_Spec):
    """1.0 when the judge ``model`` picks one of ``passing_labels`` among ``labels``."""

    type: Literal["label_model"]
    model: str = Field(min_length=1)
    input: list[JudgeMessage] = Field(min_length=1)
    labels: list[str] = Field(min_length=1)
    passing_labels: list[str] = Field(min_length=1)
    sampling_params: SamplingParams | None = None



SingleGrader = Annotated[
    StringCheck | TextSimilarity | Python | ScoreModel | LabelModel, Field(discriminator="type")
]


class Multi(_Spec):
    """Named graders combined by the formula ``calculate_output``.

    ``graders`` is a mapping ``name -> grader`` (OpenAI's API); a single grader object (the
    official client's type) is accepted too and is known by its ``name``.
    """

    type: Literal["multi"]
    graders: dict[str, SingleGrader] = Field(min_length=1)
    calculate_output: str
    graders_as_mapping: bool = True

    @model_validator(mode="before")
    @classmethod
    def _single_grader(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("graders"), dict) and "type" in data["graders"]:
            one = data["graders"]
            name = one.get("name") if isinstance(one.get("name"), str) else "grader"
            return {**data, "graders": {name: one}, "graders_as_mapping": False}
        return data

    def wire(self) -> dict[str, Any]:
        """The grader as the client sent it (mapping or single object)."""
        graders = {k: g.model_dump(exclude_none=True) for k, g in self.graders.items()}
        return {"type": self.type, "name": self.name, "calculate_output": self.calculate_output,
                "graders": graders if self.graders_as_mapping else next(iter(graders.values()))}


Grader = Annotated[StringCheck | TextSimilarity | Python | ScoreModel | LabelModel | Multi,
                   Field(discriminator="type")]
GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "label_model", "multi")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Grader)


def _param(loc: tuple[int | str, ...]) -> str | None:
    # pydantic puts union tags and member names in the location ("score_model", "input", 0,
    # "content", "str", ...); keep field names and render list indices as [n], as OpenAI does.
    parts: list[str] = []
    for step in loc:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif step not in GRADER_TYPES and step not in ("str", "ContentPart") and "[" not in step:
            parts.append(("." if parts else "") + step)
    return "".join(parts) or None


def _message(err: Mapping[str, Any], param: str | None) -> str:
    kind, msg = err.get("type"), str(err.get("msg", "invalid value"))
    if kind == "missing":
        return f"Missing required parameter: '{param}'."
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        if param and param.startswith("graders"):
            return ("Invalid grader type in a multi grader: its graders are string_check, text_similarity, python, "
                    "score_model or label_model graders.")
        return f"Invalid grader type; expected one of {', '.join(GRADER_TYPES)}."
    msg = msg.removeprefix("Value error, ")
    return f"Invalid value for '{param}': {msg}." if param else f"Invalid grader: {msg}."


def parse_grader(spec: Mapping[str, Any], settings: Any = None) -> Grader:
    """The typed grader for ``spec``; :class:`GraderSpecError` when it is malformed.

    With ``settings`` (a :class:`core.settings.Settings`) it also checks that this service can
    run it (``cosine`` needs an embedding model, ``python`` a sandbox).
    """
    if not isinstance(spec, Mapping):
        raise GraderSpecError("A grader must be a JSON object.", None)
    if "type" not in spec:
        raise GraderSpecError("Missing required parameter: 'type'.", "type")
    if spec.get("type") not in GRADER_TYPES:
        raise GraderSpecError(f"Invalid grader type {spec.get('type')!r}; expected one of "
                              f"{', '.join(GRADER_TYPES)}.", "type")
    try:
        grader = _ADAPTER.validate_python(dict(spec))
    except ValidationError as exc:
        err = exc.errors()[0]
        param = _param(tuple(err["loc"]))
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            param = f"{param}.type" if param else "type"
        raise GraderSpecError(_message(err, param), param) from None
    _check_semantics(grader)
    if settings is not None:
        from core.graders.support import check_supported

        check_supported(grader, settings)
    return grader


def _check_semantics(grader: Grader) -> None:
    """Rules across fields, with the param they concern."""
    if isinstance(grader, LabelModel):
        if len(set(grader.labels)) != len(grader.labels):
            raise GraderSpecError("Invalid value for 'labels': labels must be distinct.", "labels")
        extra = [p for p in grader.passing_labels if p not in grader.labels]
        if extra:
            raise GraderSpecError(f"Invalid value for 'passing_labels': {extra} not in labels; passing_labels "
                                  "must be a subset of labels.", "passing_labels")
    if isinstance(grader, Multi):
        from core.graders.formula import FormulaError, check_formula

        for key, sub in grader.graders.items():
            try:
                _check_semantics(sub)
            except GraderSpecError as exc:
                raise exc.prefixed(f"graders.{key}" if grader.graders_as_mapping else "graders") from None
        try:
            check_formula(grader.calculate_output, grader.graders)
        except FormulaError as exc:
            raise GraderSpecError(f"Invalid value for 'calculate_output': {exc}.", "calculate_output") from None


def wire(grader: Grader) -> dict[str, Any]:
    """The grader as JSON in OpenAI's shape (for echoing it back)."""
    if isinstance(grader, Multi):
        return grader.wire()
    return grader.model_dump(exclude_none=True)
