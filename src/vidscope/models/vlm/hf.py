"""In-process backend: a Qwen2-VL-style model (Qwen2-VL, Qwen2.5-VL and models with the same
processor API) run with ``transformers``.

**Prompt building without the processor.**  ``Qwen2VLProcessor`` needs torchvision for its
video half, and torchvision is often not installed (or has no build for the platform).  The
image processor alone does not need it (transformers picks its PIL/NumPy backend then), so
vidscope renders the ChatML prompt itself and expands each image token to the number of
visual tokens the image processor reports (``grid_t * grid_h * grid_w / merge_size**2``),
exactly as the processor would.

**Throughput.**  Many prompts go into one ``generate`` call, left-padded (the model's rotary
positions follow the attention mask), with the KV cache on and greedy decoding; in float32
batched and one-by-one runs give the same text (lower precisions may round a near tie the
other way).  ``max_pixels`` bounds each image's visual tokens, so memory per batch is
predictable; the model is loaded once and stays resident.  Calls made at the same time (the
caption analyzers of a run, or every video a Ray actor serves) are merged into shared batches
(:mod:`vidscope.models.coalesce`), requests with different token budgets included.

**Out of memory.**  A batch that runs out of GPU memory is split in half and retried, and the
smaller size is kept for later calls; each reduction is logged and listed in
:attr:`~vidscope.models.vlm.base.VlmBackend.fallbacks` for the run report.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vidscope.errors import ModelError
from vidscope.models.coalesce import Coalescer
from vidscope.models.vlm.base import (
    HOW_TO_CONFIGURE,
    BackendConfig,
    VlmBackend,
    VlmRequest,
    VlmResult,
)

log = logging.getLogger("vidscope.vlm")

SYSTEM = "You are a helpful assistant."
"""The system turn Qwen-VL chat templates add when a conversation has none."""


def model_source(config: BackendConfig) -> tuple[str, bool]:
    """What ``from_pretrained`` loads and whether it may only look at local files."""
    assert config.model is not None
    path = Path(config.model).expanduser()
    if path.is_dir():
        return str(path), True
    if path.exists():
        raise ModelError(f"{path} is a file; give the model's folder (Hugging Face layout)")
    if path.is_absolute() or config.model.startswith((".", "~")):
        raise ModelError(f"model folder {path} does not exist")
    return config.model, not config.download


def _brief(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class TransformersBackend(VlmBackend):
    """A vision-language model loaded in this process (see the module notes)."""

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        import torch
        from transformers import (
            AutoConfig,
            AutoImageProcessor,
            AutoModelForImageTextToText,
            AutoTokenizer,
        )
        from transformers.utils import logging as hf_logging

        self._torch = torch
        # Every generate call goes through here, which also keeps calls one at a time.
        self._batches: Coalescer[tuple[VlmRequest, int], VlmResult] = Coalescer(self._generate)
        self._limit: int | None = None
        source, local = model_source(config)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError(f"device {config.device!r} asked for, but PyTorch sees no CUDA GPU")
        self.dtype = self._dtype(config.dtype)
        options: dict[str, Any] = {"local_files_only": local}
        try:
            model_config = AutoConfig.from_pretrained(source, **options)
        except (OSError, ValueError) as exc:
            where = "" if local else " (not a local folder, and not downloadable here)"
            raise ModelError(
                f"cannot load vision-language model {config.model!r}{where}: {_brief(exc)}; "
                + HOW_TO_CONFIGURE
            ) from None
        self._check_config(model_config)
        restore_bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # vidscope reports its own progress
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, padding_side="left", **options)
            self.image_processor = AutoImageProcessor.from_pretrained(
                source, max_pixels=config.max_pixels, **options
            )
            self.model = AutoModelForImageTextToText.from_pretrained(
                source,
                dtype=self.dtype,
                attn_implementation=config.attn_implementation,
                **options,
            )
        except (OSError, ValueError, ImportError) as exc:
            raise ModelError(f"cannot load {config.model!r}: {_brief(exc)}") from None
        finally:
            if restore_bar:
                hf_logging.enable_progress_bar()
        self.model.to(self.device).eval()
        self._tokens = self._special_tokens(model_config)
        self._merge = int(self.image_processor.merge_size) ** 2
        self.generation_config = self._generation_config()

    @property
    def name(self) -> str:
        assert self.config.model is not None
        return self.config.model

    def _dtype(self, name: str) -> Any:
        torch = self._torch
        if name == "auto":
            if self.device.type != "cuda":
                return torch.float32
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return getattr(torch, name)

    def _check_config(self, model_config: Any) -> None:
        kind = getattr(model_config, "model_type", "unknown")
        if getattr(model_config, "vision_config", None) is None:
            raise ModelError(
                f"{self.config.model!r} is not a vision-language model (its config is a "
                f"{kind!r} model with no vision part); " + HOW_TO_CONFIGURE
            )
        if getattr(model_config, "image_token_id", None) is None:
            raise ModelError(
                f"{self.config.model!r} ({kind}) does not use the Qwen2-VL image-token prompt "
                "format this backend builds; serve it with vLLM or SGLang and use --vlm-endpoint"
            )

    def _special_tokens(self, model_config: Any) -> dict[str, str]:
        """The token strings of the prompt format, checked against the tokenizer."""
        ids = {
            "image": model_config.image_token_id,
            "vision_start": getattr(model_config, "vision_start_token_id", None),
            "vision_end": getattr(model_config, "vision_end_token_id", None),
        }
        tokens = {
            k: self.tokenizer.convert_ids_to_tokens(v) for k, v in ids.items() if v is not None
        }
        for chat in ("<|im_start|>", "<|im_end|>"):
            if self.tokenizer.convert_tokens_to_ids(chat) in (None, self.tokenizer.unk_token_id):
                raise ModelError(
                    f"{self.config.model!r}: its tokenizer has no {chat} token (not a ChatML model)"
                )
        if len(tokens) < 3:
            raise ModelError(f"{self.config.model!r}: its config names no vision start/end tokens")
        return tokens

    def _generation_config(self) -> Any:
        """Greedy decoding with the cache on, stopping at the end of the assistant turn."""
        gen = copy.deepcopy(self.model.generation_config)
        eos = gen.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        end_turn = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        gen.eos_token_id = [*eos, end_turn] if end_turn not in eos else eos
        gen.pad_token_id = self.tokenizer.pad_token_id
        if gen.pad_token_id is None:
            gen.pad_token_id = gen.eos_token_id[0]
        gen.do_sample, gen.use_cache = False, True
        # Sampling settings shipped with instruct models only draw warnings under greedy search.
        gen.temperature = gen.top_p = gen.top_k = None
        return gen

    def _render(self, request: VlmRequest, image_tokens: Sequence[int]) -> str:
        """The ChatML text of ``request`` with each image expanded to its visual tokens."""
        t = self._tokens
        vision = "".join(
            f"{t['vision_start']}{t['image'] * n}{t['vision_end']}" for n in image_tokens
        )
        parts = [f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"]
        for i, turn in enumerate(request.turns):
            role, prefix = ("user", vision if i == 0 else "") if i % 2 == 0 else ("assistant", "")
            parts.append(f"<|im_start|>{role}\n{prefix}{turn}<|im_end|>\n")
        parts.append("<|im_start|>assistant\n")
        return "".join(parts)

    def _inputs(self, requests: Sequence[VlmRequest]) -> dict[str, Any]:
        """Model inputs of one batch: left-padded token ids and every image's patches."""
        from PIL import Image

        images = [Image.fromarray(im) for r in requests for im in r.images]
        extra: dict[str, Any] = {}
        counts: list[int] = []
        if images:
            features = self.image_processor(images=images, return_tensors="pt")
            grid = features["image_grid_thw"]
            counts = (grid.prod(-1) // self._merge).tolist()
            extra = {
                "pixel_values": features["pixel_values"].to(self.device, self.dtype),
                "image_grid_thw": grid.to(self.device),
            }
        texts, at = [], 0
        for r in requests:
            texts.append(self._render(r, counts[at : at + len(r.images)]))
            at += len(r.images)
        encoded = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        return {**encoded, **extra}

    def _run(self, requests: Sequence[VlmRequest], budgets: Sequence[int]) -> list[VlmResult]:
        """One ``generate`` call; each answer is cut at its own request's token budget."""
        inputs = self._inputs(requests)
        # Greedy decoding does not look ahead, so a row's first n tokens are the same whatever
        # the batch's longest budget is: requests with different budgets can share a call.
        # (Setting the shared config is safe: the coalescer runs one call at a time.)
        self.generation_config.max_new_tokens = max(budgets)
        with self._torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=self.generation_config)
        start = inputs["input_ids"].shape[1]
        answers = [
            self.tokenizer.decode(row[start : start + n], skip_special_tokens=True).strip()
            for row, n in zip(out, budgets, strict=True)
        ]
        return [
            VlmResult(text=a) if a else VlmResult(error="the model gave no answer") for a in answers
        ]

    def generate(
        self, requests: Sequence[VlmRequest], *, max_new_tokens: int, batch_size: int
    ) -> list[VlmResult]:
        return self._batches(
            [(r, max_new_tokens) for r in requests], key=batch_size, max_items=batch_size
        )

    def stats(self) -> dict[str, Any]:
        return self._batches.stats.as_dict()

    def _generate(self, batch_size: int, items: list[tuple[VlmRequest, int]]) -> list[VlmResult]:
        """The merged requests of every waiting caller, in chunks of at most ``batch_size``
        (less after running out of memory)."""
        torch = self._torch
        results: list[VlmResult] = []
        size = min(batch_size, self._limit or batch_size)
        i = 0
        while i < len(items):
            chunk = items[i : i + size]
            try:
                results += self._run([r for r, _ in chunk], [n for _, n in chunk])
            except torch.cuda.OutOfMemoryError as exc:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if size > 1:
                    note = f"out of memory at batch size {size}; continuing with {size // 2}"
                    log.warning("%s: %s", self.name, note)
                    self.fallbacks.append(note)
                    size = self._limit = size // 2
                    continue
                chunk_error = f"out of memory even for one prompt ({_brief(exc)})"
                results += [VlmResult(error=chunk_error) for _ in chunk]
            except (RuntimeError, ValueError) as exc:
                results += [VlmResult(error=f"{type(exc).__name__}: {_brief(exc)}") for _ in chunk]
            i += len(chunk)
        return results

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
