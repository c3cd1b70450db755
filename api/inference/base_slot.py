"""One base model resident on the device, with an LRU of PEFT adapters hot-swapped over it.

Everything that touches the model runs on the slot's own thread (an executor with one worker):
requests for one base are served one at a time in arrival order, so the active adapter cannot
change under a running generation, while other bases (and the event loop) carry on. Adapters
of the slot are named adapters of one ``PeftModel`` (``load_adapter`` / ``set_adapter`` /
``delete_adapter``); the least recently used one is dropped beyond ``max_adapters``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from api.inference.loading import adapter_name, load_base_model


class BaseSlot:
    """A base model (loaded on first use) plus its loaded adapters, keyed by store prefix."""

    def __init__(self, name: str, model_dir: Path, device: str, quantization: str, max_adapters: int) -> None:
        self.name = name
        self.model_dir = model_dir
        self.device = device
        self.quantization = quantization
        self.max_adapters = max(1, max_adapters)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"openft-gen-{name[:24]}")
        self.model: Any = None  # the base, or the PeftModel wrapping it once an adapter came
        self.adapters: OrderedDict[str, str] = OrderedDict()  # artifact key -> adapter name
        self.loads = 0  # adapter loads so far (an LRU that thrashes shows here)

    def __repr__(self) -> str:
        return (f"<BaseSlot {self.name} {self.device}/{self.quantization} loaded={self.model is not None} "
                f"adapters={len(self.adapters)} loads={self.loads}>")

    def _ensure_model(self) -> Any:
        if self.model is None:
            self.model = load_base_model(self.model_dir, self.device, self.quantization)
        return self.model

    @contextlib.contextmanager
    def using(self, artifact_key: str | None, adapter_dir: Path | None) -> Iterator[Any]:
        """The model with the adapter under ``artifact_key`` active (None: the bare base).

        Call on the slot's thread only.
        """
        model = self._ensure_model()
        if artifact_key is None:
            if hasattr(model, "disable_adapter") and self.adapters:
                with model.disable_adapter():
                    yield model
            else:
                yield model
            return
        assert adapter_dir is not None
        name = self._load(artifact_key, adapter_dir)
        self.model.set_adapter(name)
        yield self.model

    def _load(self, artifact_key: str, adapter_dir: Path) -> str:
        if artifact_key in self.adapters:
            self.adapters.move_to_end(artifact_key)
            return self.adapters[artifact_key]
        from peft import PeftModel

        name = adapter_name(artifact_key)
        if isinstance(self.model, PeftModel):
            self.model.load_adapter(str(adapter_dir), adapter_name=name, is_trainable=False)
        else:
            with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
                warnings.simplefilter("ignore", FutureWarning)
                self.model = PeftModel.from_pretrained(self.model, str(adapter_dir), adapter_name=name,
                                                       is_trainable=False)
            self.model.eval()
        self.adapters[artifact_key] = name
        self.loads += 1
        self.model.set_adapter(name)  # the one to drop must not be the active one
        while len(self.adapters) > self.max_adapters:
            _, old = self.adapters.popitem(last=False)
            self.model.delete_adapter(old)
        return name

    def evict(self, artifact_key: str) -> bool:
        """Drop the adapter of ``artifact_key`` if loaded (a deleted model). Slot thread only."""
        name = self.adapters.pop(artifact_key, None)
        if name is None:
            return False
        if self.adapters:
            self.model.delete_adapter(name)
            # set_adapter needs an existing name: point at one that is still loaded
            self.model.set_adapter(next(reversed(self.adapters.values())))
        else:
            self.model = self.model.unload()  # the bare base back, LoRA layers removed
        return True

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.model = None
        self.adapters.clear()
