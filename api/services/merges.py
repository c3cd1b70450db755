"""Adapter merges (our extension): ``POST /v1/models/merges`` -> a new ``ft:`` model.

A merge combines the LoRA adapters of two or more ``ft:`` models of one base with PEFT's
``add_weighted_adapter`` (``linear``, ``ties``, ``dare_ties``, ``dare_linear``, ``cat``) into one
adapter, published under ``models/{id}/`` like a trained model (tokenizer, chat template and a
``lineage.json`` naming the parents, the method and the weights), so it is served, exported and
deleted like any other.

The request is checked and answered at once (status ``queued``, the new model's id reserved);
the work runs in the API processes, in a background loop like the train-to-serve checks: it
needs no GPU (only the adapters' low-rank matrices are combined; the base is loaded on the CPU
because PEFT attaches adapters to a model) and the API already holds the store, the database and
the loading code the exports use. Each queued merge is claimed by one process with a
conditional update; a claim older than :data:`STALE_CLAIM_SECONDS` (a process that died) is
taken over, up to :data:`MAX_ATTEMPTS` attempts. Status: ``queued -> running -> succeeded | failed``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from anyio import to_thread
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from api.errors import InvalidRequest, NotFound
from api.schemas.models import DENSITY_METHODS, MergeCreate, MergeObject
from api.services.export import adapter_keys
from api.services.models import Resolved, resolve
from api.services.owned import get_owned
from api.state import AppState, run_claimed
from core import ids
from core.db import session_scope
from core.protocol import model_prefix
from core.settings import Settings
from core.store import ObjectNotFound, Store
from core.tables import Merge, Model

log = logging.getLogger("openft.api.merges")

MAX_ATTEMPTS = 3
STALE_CLAIM_SECONDS = 900.0
INTERVAL_SECONDS = 1.0
#: Our method -> PEFT's ``combination_type``. PEFT's own ``linear``/``ties``/``dare_*`` combine the
#: A and the B matrices separately, so the merged delta (sum B_i)(sum A_i) carries cross terms B_i A_j
#: that neither parent learned; their ``*svd`` forms combine the deltas B_i A_i themselves and
#: factor the result back into a LoRA of rank :func:`merged_rank` (exact for ``linear``). ``cat``
#: stacks the matrices: the exact weighted sum of the deltas, at the sum of the ranks.
PEFT_COMBINATION = {"linear": "svd", "ties": "ties_svd", "dare_ties": "dare_ties_svd",
                    "dare_linear": "dare_linear_svd", "cat": "cat"}
_merge_lock = threading.Lock()


def merge_object(row: Merge) -> MergeObject:
    """The wire object of a merge row."""
    return MergeObject(
        id=row.id, status=row.status, base_model=row.base_model, models=row.models,
        method=row.method, weights=row.weights, density=row.density,
        fine_tuned_model=row.fine_tuned_model, created_at=row.created_at, finished_at=row.finished_at,
        error=row.error,
    )


def _adapter_config(store: Store, found: Resolved) -> dict[str, Any]:
    assert found.row is not None
    folder, _ = adapter_keys(store, found.row.artifact_key)
    return dict(json.loads(store.read_bytes(f"{folder}/adapter_config.json")))


def create_merge(session: Session, settings: Settings, store: Store, project_id: str, req: MergeCreate) -> Merge:
    """Check a merge request and queue it. 400 naming the param (``models``, ``method``,
    ``weights``, ``density``); 404 ``model_not_found`` on ``models`` for an unknown model or one
    the project cannot use (the ownership rule of :func:`api.services.models.resolve`)."""
    parents = [resolve(session, settings, project_id, m, param="models") for m in req.models]
    for found in parents:
        if found.row is None:
            raise InvalidRequest(f"`{found.id}` is a base model; only fine-tuned models can be merged.",
                                 param="models", code="invalid_value")
    bases = sorted({p.base.name for p in parents})
    if len(bases) > 1:
        raise InvalidRequest(f"All models of a merge must share one base model; these have {', '.join(bases)}.",
                             param="models", code="invalid_value")
    try:
        configs = [_adapter_config(store, p) for p in parents]
    except (NotFound, ObjectNotFound) as exc:
        raise NotFound(f"The files of one of the models are missing from the artifact store: {exc}",
                       param="models", code="model_not_found") from exc
    if any(int(c.get("r", 0)) < 1 for c in configs):
        raise InvalidRequest("One of the models has no LoRA rank in its adapter config; it cannot be merged.",
                             param="models", code="invalid_value")
    if req.weights is not None and len(req.weights) != len(req.models):
        raise InvalidRequest(f"weights needs one number per model ({len(req.models)} models).",
                             param="weights", code="invalid_value")
    if req.density is not None and req.method not in DENSITY_METHODS:
        raise InvalidRequest("density applies to the ties, dare_ties and dare_linear methods only.",
                             param="density", code="invalid_value")
    weights = req.weights or [1.0 / len(req.models)] * len(req.models)
    density = req.density if req.density is not None else (0.5 if req.method in DENSITY_METHODS else None)
    row = Merge(id=ids.new_id("merge-"), project_id=project_id, base_model=bases[0], models=list(req.models),
                method=req.method, weights=weights, density=density, suffix=req.suffix,
                fine_tuned_model=ids.fine_tuned_model_id(bases[0], project_id, req.suffix), error=None)
    session.add(row)
    session.flush()
    return row


def get_merge(session: Session, project_id: str, merge_id: str) -> Merge:
    """The project's merge ``merge_id``; 404 otherwise (also for another project's)."""
    return get_owned(session, Merge, project_id, merge_id, kind="merge", param="merge_id")


# --- the background work ------------------------------------------------------------------------
def claim_next(state: AppState) -> Merge | None:
    """Claim the oldest queued (or abandoned) merge for this process; None when there is none."""
    now = time.time()
    claimable = or_(col(Merge.status) == "queued",
                    (col(Merge.status) == "running") & (col(Merge.claimed_at) < now - STALE_CLAIM_SECONDS))
    with session_scope(state.engine) as session:
        for row in session.exec(select(Merge).where(claimable).order_by(col(Merge.created_at)).limit(8)).all():
            claimed = session.connection().execute(
                update(Merge).where(col(Merge.id) == row.id, col(Merge.status) == row.status,
                                    col(Merge.attempts) == row.attempts)
                .values(status="running", claimed_at=now, attempts=row.attempts + 1))
            if claimed.rowcount == 1:
                session.expunge(row)
                row.status, row.claimed_at, row.attempts = "running", now, row.attempts + 1
                return row
    return None


def _parents(state: AppState, row: Merge) -> list[Resolved]:
    with session_scope(state.engine) as session:
        return [resolve(session, state.settings, row.project_id, m, param="models") for m in row.models]


def merged_rank(ranks: list[int]) -> int:
    """Rank of a merged adapter: the sum of the parents' ranks, the most the sum of their deltas can have."""
    return sum(ranks)


def build_adapter(settings: Settings, store: Store, row: Merge, parents: list[Resolved], out: Path) -> None:
    """Combine the parents' adapters into ``out`` (adapter, tokenizer, ``lineage.json``)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from api.inference.loading import fetch_adapter, lineage_quantization, read_lineage, tokenizer_dir
    from core.model_cache import ensure_model_dir
    from core.model_loading import TRANSFORMERS_LOCK

    dirs = [fetch_adapter(store, settings, p.row.artifact_key) for p in parents if p.row is not None]
    base_dir = ensure_model_dir(parents[0].base.spec(), settings)
    names = [f"parent{i}" for i in range(len(dirs))]
    with _merge_lock, torch.device("cpu"):
        with TRANSFORMERS_LOCK:
            base = AutoModelForCausalLM.from_pretrained(str(base_dir), use_safetensors=True, dtype="auto")
        model = PeftModel.from_pretrained(base, str(dirs[0]), adapter_name=names[0])
        for name, folder in zip(names[1:], dirs[1:], strict=True):
            model.load_adapter(str(folder), adapter_name=name)
        kwargs: dict[str, Any] = {"density": row.density} if row.method in DENSITY_METHODS else {}
        combination = PEFT_COMBINATION[row.method]
        if combination != "cat":
            ranks = [int(getattr(model.peft_config[name], "r", 0)) for name in names]
            kwargs.update(svd_rank=merged_rank(ranks), svd_full_matrices=False)
        model.add_weighted_adapter(names, row.weights, "merged", combination_type=combination, **kwargs)
        model.save_pretrained(str(out / "saved"), selected_adapters=["merged"])
        del model, base
    for item in (out / "saved" / "merged").iterdir():
        shutil.move(str(item), out / item.name)
    shutil.rmtree(out / "saved")
    config = json.loads((out / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = json.loads((dirs[0] / "adapter_config.json").read_text()).get(
        "base_model_name_or_path", config.get("base_model_name_or_path"))
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    own = tokenizer_dir(dirs[0])
    if own is not None:
        for item in own.iterdir():
            if item.is_file() and (item.name.startswith(("tokenizer", "special_tokens")) or item.suffix == ".jinja"):
                shutil.copy(item, out / item.name)
    lineages = [read_lineage(d) or {} for d in dirs]
    quant = {lineage_quantization(lin) for lin in lineages}
    (out / "lineage.json").write_text(json.dumps({
        "base_model": row.base_model, "merge": {
            "id": row.id, "parents": row.models, "method": row.method, "weights": row.weights,
            "density": row.density},
        "quantization": quant.pop() if len(quant) == 1 else "none",
        "parents": {m: lin for m, lin in zip(row.models, lineages, strict=True)},
    }, indent=1, sort_keys=True))


def _publish(state: AppState, row: Merge, folder: Path) -> bool:
    """Upload the adapter, create the model row and mark the merge succeeded (False when the
    claim was taken over meanwhile)."""
    key = model_prefix(row.fine_tuned_model)
    state.store.upload_dir(folder, key)
    with session_scope(state.engine) as session:
        current = session.get(Merge, row.id)
        if current is None or current.claimed_at != row.claimed_at:
            return False
        session.add(Model(id=row.fine_tuned_model, project_id=row.project_id, job_id=None,
                          base_model=row.base_model, artifact_key=key, kind="merge"))
        current.status, current.finished_at = "succeeded", int(time.time())
    return True


def _fail(state: AppState, row: Merge, message: str, code: str = "merge_failed") -> None:
    with session_scope(state.engine) as session:
        current = session.get(Merge, row.id)
        if current is None or current.claimed_at != row.claimed_at:
            return
        current.status, current.finished_at = "failed", int(time.time())
        current.error = {"code": code, "message": message, "param": None}


def run_merge(state: AppState, row: Merge) -> str:
    """Run one claimed merge to its outcome (blocking); returns the status it recorded."""
    try:
        parents = _parents(state, row)
    except NotFound as exc:
        _fail(state, row, f"A model of the merge was deleted before it ran: {exc.message}", "model_not_found")
        return "failed"
    root = state.settings.data_dir / "exports"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=root, prefix="merge-"))
    try:
        build_adapter(state.settings, state.store, row, parents, folder)
        return "succeeded" if _publish(state, row, folder) else "running"
    except Exception as exc:
        log.exception("merge %s failed (attempt %d)", row.id, row.attempts)
        if row.attempts < MAX_ATTEMPTS and isinstance(exc, OSError):  # a store or disk hiccup: retry
            with session_scope(state.engine) as session:
                session.connection().execute(update(Merge).where(col(Merge.id) == row.id,
                                                                 col(Merge.claimed_at) == row.claimed_at)
                                             .values(status="queued", claimed_at=None))
            return "queued"
        _fail(state, row, f"{type(exc).__name__}: {exc}")
        return "failed"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def run_pending(state: AppState) -> int:
    """Claim and run merges until none is left; returns how many ran."""
    return await run_claimed(state, claim_next, lambda row: to_thread.run_sync(run_merge, state, row))

