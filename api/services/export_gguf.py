"""GGUF files of merged ``ft:`` models, written with the ``gguf`` package (llama.cpp's own writer).

:func:`write_gguf` turns a merged Llama-architecture model directory (what
:func:`api.services.export.merge_to` writes) into one ``.gguf`` file the way llama.cpp's
``convert_hf_to_gguf.py`` does: tensor names from ``gguf``'s name map, the query and key
projections permuted to llama.cpp's rotary layout, 1-D tensors kept in F32, the others stored as
the requested :data:`QUANTIZATIONS` type (a tensor a block type cannot hold stays F16).

The tokenizer goes into the metadata as a byte-level BPE (``tokenizer.ggml.model = gpt2``) with its
merges, token types (specials are CONTROL), BOS/EOS/PAD ids, the end-of-turn token
(``tokenizer.ggml.eot_token_id``) and the chat template, so llama.cpp, Ollama and
``transformers`` (``from_pretrained(dir, gguf_file=...)``) apply the template the model was
trained with. GGUF has no pre-tokenizer description, only a name that readers map to a split
rule; :func:`pick_pre_tokenizer` tries the names both llama.cpp and transformers know and keeps
the one whose tokenization equals the model's own tokenizer on a probe text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from api.errors import InvalidRequest

#: ``quantization`` values -> (ggml tensor type, llama.cpp file type), all written by ``gguf``
QUANTIZATIONS: dict[str, tuple[str, str]] = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q5_1": ("Q5_1", "MOSTLY_Q5_1"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
}

#: pre-tokenizer names known to both llama.cpp and transformers' GGUF reader, most specific first
PRE_TOKENIZERS = ("llama-bpe", "qwen2", "gpt-4o", "tekken", "gpt-2")

PROBE = (
    "Hello World! It's 2026-11-30, 12:05 pm; the price was $1,234.56 (about 1234567 cents).\n"
    "  indented\tline\n\n\nLOUD WORDS, they'RE here, I'M sure & you'll see.\n"
    '{"sentiment": "positive", "items": [1, 22, 333], "ok": true, "x": null}\n'
    "next day: monday -> tuesday ... a+b=c, x<y>z, [brackets] {braces} #tag @user ~tilde\n"
    "caf\u00e9 na\u00efve \u00fcber \u65e5\u672c\u8a9e \U0001f600 emoji  double  spaces   \n"
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"paris\"}}\n</tool_call>"
)


class GGUFUnsupported(InvalidRequest):
    """The model cannot be written as GGUF (architecture or tokenizer), a 400 on ``model``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="model", code="model_not_exportable")


def parse_quantization(value: str | None) -> str:
    """The quantization to write (``f16`` by default); 400 on ``quantization`` for others."""
    q = (value or "f16").lower()
    if q not in QUANTIZATIONS:
        raise InvalidRequest(f"Unsupported quantization {value!r}: use one of {', '.join(QUANTIZATIONS)}.",
                             param="quantization", code="invalid_quantization")
    return q


def _permute(w: Any, n_head: int) -> Any:
    """llama.cpp's rotary layout for q/k (the inverse of what HF's conversion script undoes)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _rope_factors(config: dict[str, Any], head_dim: int) -> Any | None:
    """Llama 3.1+ ``rope_type: llama3`` frequency factors (llama.cpp's ``rope_freqs`` tensor)."""
    import numpy as np

    scaling = config.get("rope_scaling") or config.get("rope_parameters") or {}
    if str(scaling.get("rope_type", scaling.get("type", ""))).lower() != "llama3":
        return None
    base = float(scaling.get("rope_theta", config.get("rope_theta", 10000.0)))
    factor = float(scaling.get("factor", 8.0))
    low, high = float(scaling.get("low_freq_factor", 1.0)), float(scaling.get("high_freq_factor", 4.0))
    old = float(scaling.get("original_max_position_embeddings", 8192))
    out = []
    for freq in 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)):
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1.0)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def _vocab(model_dir: Path, vocab_size: int) -> tuple[list[str], list[int], Any]:
    """Tokens and GGUF token types in id order (padded to the embedding size), and the tokenizer."""
    import gguf

    from core.catalog import open_tokenizer

    tokenizer = open_tokenizer(model_dir)
    spec = json.loads((model_dir / "tokenizer.json").read_text())
    byte_level = "ByteLevel" in json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
    if spec["model"].get("type") != "BPE" or not byte_level:
        raise GGUFUnsupported("Only byte-level BPE tokenizers (GPT-2 / Llama 3 style) can be exported as GGUF.")
    by_id = {i: t for t, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for i in range(max(vocab_size, len(by_id))):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(int(gguf.TokenType.UNUSED))
        else:
            tokens.append(by_id[i])
            types.append(int(gguf.TokenType.NORMAL if i not in added else
                             gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED))
    return tokens, types, tokenizer


def pick_pre_tokenizer(tokenizer: Any, tokens: list[str], types: list[int], merges: list[str]) -> str:
    """The pre-tokenizer name whose GGUF tokenizer encodes :data:`PROBE` (plain and as chat) like ``tokenizer``."""
    from transformers.integrations.gguf import convert_gguf_tokenizer

    texts = [PROBE]
    if tokenizer.chat_template:
        texts.append(tokenizer.apply_chat_template(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROBE},
             {"role": "assistant", "content": "Sure: 42 items."}], tokenize=False))
    want = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    for pre in PRE_TOKENIZERS:
        fast, _ = convert_gguf_tokenizer("llama", {"tokenizer_type": "gpt2", "pre_tokenizer_type": pre,
                                                    "tokens": tokens, "token_type": types, "merges": merges})
        if [fast.encode(t, add_special_tokens=False).ids for t in texts] == want:
            return pre
    raise GGUFUnsupported("The base model's tokenizer splits text in a way GGUF readers cannot reproduce.")


def end_of_turn_token(tokenizer: Any) -> str:
    """The token that closes an assistant turn in the chat template (else the EOS token)."""
    from core.end_of_turn import END_OF_TURN_MARKERS

    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "u"},
                                              {"role": "assistant", "content": "ANSWER"}], tokenize=False)
        after = text.split("ANSWER", 1)[-1]
        for token in sorted(END_OF_TURN_MARKERS, key=after.find):
            if token in after and token in tokenizer.get_vocab():
                return token
    return str(tokenizer.eos_token)


def write_gguf(model_dir: Path, out: Path, quantization: str, name: str, chat_template: str | None) -> None:
    """Write the merged model in ``model_dir`` to ``out`` (see the module docstring).

    Raises :class:`GGUFUnsupported` for a non-Llama architecture or a tokenizer GGUF cannot hold.
    """
    import gguf
    import torch
    from safetensors import safe_open

    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "llama":
        raise GGUFUnsupported(f"GGUF export supports Llama-architecture models, not {config.get('model_type')!r}.")
    n_layers, n_head = int(config["num_hidden_layers"]), int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    tensor_type, file_type = QUANTIZATIONS[quantization]
    qtype = gguf.GGMLQuantizationType[tensor_type]

    tokens, types, tokenizer = _vocab(model_dir, int(config["vocab_size"]))
    template = chat_template or tokenizer.chat_template
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=len(tokens))
    special.chat_template = template
    probe = tokenizer("a")["input_ids"]
    special.add_special_token["bos"] = bool(probe) and probe[0] == tokenizer.bos_token_id
    special.add_special_token["eos"] = bool(probe) and probe[-1] == tokenizer.eos_token_id
    pre = pick_pre_tokenizer(tokenizer, tokens, types, special.merges)
    eot = tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer))

    writer = gguf.GGUFWriter(str(out), "llama", use_temp_file=True)  # tensors spill to disk
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(int(config.get("max_position_embeddings", 2048)))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_freq_base(float(config.get("rope_theta")
                                    or (config.get("rope_parameters") or {}).get("rope_theta", 10000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-5)))
    writer.add_vocab_size(len(tokens))
    writer.add_file_type(gguf.LlamaFileType[file_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special.add_to_gguf(writer)
    writer.add_eot_token_id(eot)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    if (factors := _rope_factors(config, head_dim)) is not None:
        writer.add_tensor(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors)
    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                if key == "lm_head.weight" and config.get("tie_word_embeddings"):
                    continue
                target = names.get_name(key, try_suffixes=(".weight", ".bias"))
                if target is None:
                    raise GGUFUnsupported(f"Tensor {key} has no GGUF name for the llama architecture.")
                data = f.get_tensor(key).to(torch.float32).numpy()
                if key.endswith("q_proj.weight"):
                    data = _permute(data, n_head)
                elif key.endswith("k_proj.weight"):
                    data = _permute(data, n_kv)
                array, raw_dtype = _encode(data, qtype)
                writer.add_tensor(target, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _encode(data: Any, qtype: Any) -> tuple[Any, Any]:
    """``(array, raw_dtype)`` for ``add_tensor``: 1-D tensors F32 (as llama.cpp), others ``qtype``
    (F16 when a block type does not divide the row)."""
    import gguf
    import numpy as np

    if data.ndim <= 1 or qtype == gguf.GGMLQuantizationType.F32:
        return data.astype(np.float32), gguf.GGMLQuantizationType.F32
    try:
        return gguf.quants.quantize(data, qtype), qtype
    except gguf.QuantError:
        return data.astype(np.float16), gguf.GGMLQuantizationType.F16
