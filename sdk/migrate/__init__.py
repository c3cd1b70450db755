"""Moving in from OpenAI (or any server that speaks its API): inventory, import and distill.

- :func:`take_inventory` lists a source account's fine-tuning jobs, ``fine-tune`` files and
  fine-tuned models.
- :func:`plan_import` / :func:`run_import` recreate chosen jobs here: their files (downloaded,
  or read from local paths the user maps) and a job with the same method, resolved
  hyperparameters and metadata on an open base model. Re-running is idempotent.
- :func:`distill` samples a hosted fine-tune on the user's prompts, trains an open base on its
  answers here and grades the student against the teacher with an eval.

The source key lives only in the source client: nothing here writes it to disk, events or logs.
"""

from sdk.migrate.distill import DistillReport, distill
from sdk.migrate.importer import ImportPlan, ImportReport, plan_import, run_import
from sdk.migrate.inventory import Inventory, take_inventory
from sdk.migrate.models import DEFAULT_MODEL_MAP, map_base_model

__all__ = [
    "DEFAULT_MODEL_MAP",
    "DistillReport",
    "ImportPlan",
    "ImportReport",
    "Inventory",
    "distill",
    "map_base_model",
    "plan_import",
    "run_import",
    "take_inventory",
]
