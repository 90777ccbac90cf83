"""In-process backend: any image-text-to-text model ``transformers`` runs without remote code
(Qwen2/2.5/3-VL, LLaVA 1.5 and 1.6, InstructBLIP, Idefics3/SmolVLM, Gemma 3, PaliGemma and
others; see :mod:`~vidscope.models.vlm.hf_load` for loading and the family traits).

**Prompts.**  Each request becomes a chat conversation (the images, then the text, in the
first user turn) rendered by the model's own chat template; the model's processor expands
the image placeholders and prepares the pixels, so every family is prompted as it was
trained.  Families without a chat template get the bare prompt, as their processor expects.

**Throughput.**  Many prompts go into one ``generate`` call, left-padded (positions follow the
attention mask), with the KV cache on and greedy decoding; in float32 batched and one-by-one
runs give the same text (lower precisions may round a near tie the other way).  Prompts
with different numbers of images go in separate calls, since not every processor accepts a
ragged batch.  ``max_pixels`` bounds each image's visual tokens, so memory per batch is
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
from typing import Any

import numpy as np

from vidscope.errors import ModelError
from vidscope.models.coalesce import Coalescer
from vidscope.models.vlm.base import BackendConfig, VlmBackend, VlmRequest, VlmResult
from vidscope.models.vlm.hf_load import (
    brief,
    family_of,
    load_config,
    load_model,
    load_processor,
    model_source,
)
from vidscope.models.vlm.images import fit_pixels

log = logging.getLogger("vidscope.vlm")

__all__ = ["TransformersBackend", "model_source"]

END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<end_of_utterance>", "<|eot_id|>", "<|end|>")
"""Chat templates' end-of-turn tokens: greedy decoding stops there as at end of text."""

BLANK = np.zeros((64, 64, 3), np.uint8)
"""The image a text-only prompt shows a family that cannot generate without one."""


class TransformersBackend(VlmBackend):
    """A vision-language model loaded in this process (see the module notes)."""

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        import torch
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
        options: dict[str, Any] = {
            "local_files_only": local,
            "trust_remote_code": config.trust_remote_code,
        }
        model_config = load_config(config, source, options)
        self.family = family_of(config, model_config)
        self.max_images = self.family.images
        restore_bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # vidscope reports its own progress
        try:
            self.processor = load_processor(config, source, model_config.model_type, options)
            self.model = load_model(config, source, self.dtype, options)
        finally:
            if restore_bar:
                hf_logging.enable_progress_bar()
        self.tokenizer = self.processor.tokenizer
        self.template = self._template()
        if self.family.pixel_area:
            self.processor.image_processor.size.longest_edge = config.max_pixels
        self.model.to(self.device).eval()
        text_config = getattr(model_config, "text_config", model_config)
        # An encoder-decoder language model (InstructBLIP with Flan-T5) returns only new tokens.
        self._echoes_prompt = not getattr(text_config, "is_encoder_decoder", False)
        self.generation_config = self._generation_config()
        self._stops = set(self.generation_config.eos_token_id)
        self._weights_mb = (
            sum(
                t.numel() * t.element_size()
                for t in (*self.model.parameters(), *self.model.buffers())
            )
            / 2**20
        )

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

    def _template(self) -> str | None:
        """The chat template prompts are rendered with (None: bare prompts)."""
        if not self.family.chat_template:
            return None
        template = getattr(self.processor, "chat_template", None) or self.tokenizer.chat_template
        if not template:
            raise ModelError(
                f"{self.config.model!r} has no chat template (chat_template.jinja or the "
                "tokenizer's chat_template), so vidscope cannot tell how to prompt it"
            )
        return template

    def _generation_config(self) -> Any:
        """Greedy decoding with the cache on, stopping at the end of the answer's turn."""
        gen = copy.deepcopy(self.model.generation_config)
        eos = gen.eos_token_id
        stops = [eos] if isinstance(eos, int) else list(eos or [])
        known = set(self.tokenizer.get_vocab())
        for token in (self.tokenizer.eos_token, *END_OF_TURN):
            if token in known:
                stops.append(self.tokenizer.convert_tokens_to_ids(token))
        gen.eos_token_id = list(dict.fromkeys(stops))
        gen.pad_token_id = self.tokenizer.pad_token_id
        if gen.pad_token_id is None:
            gen.pad_token_id = gen.eos_token_id[0]
        gen.do_sample, gen.use_cache = False, True
        # Sampling settings shipped with instruct models only draw warnings under greedy search.
        gen.temperature = gen.top_p = gen.top_k = None
        return gen

    def _images(self, request: VlmRequest) -> list[Any]:
        from PIL import Image

        images = list(request.images) or ([BLANK] if self.family.needs_image else [])
        if not self.family.pixel_area:
            images = [fit_pixels(im, self.config.max_pixels) for im in images]
        return [Image.fromarray(im) for im in images]

    def _text(self, request: VlmRequest, images: int) -> str:
        """The prompt of ``request`` as the model was trained to read it."""
        if self.template is None:
            return "\n".join(request.turns)
        conversation = []
        for i, turn in enumerate(request.turns):
            content: list[dict[str, Any]] = [{"type": "text", "text": turn}]
            if i == 0:
                content = [{"type": "image"} for _ in range(images)] + content
            conversation.append({"role": "user" if i % 2 == 0 else "assistant", "content": content})
        return str(
            self.processor.apply_chat_template(
                conversation,
                chat_template=self.template,
                tokenize=False,
                add_generation_prompt=True,
            )
        )

    def _inputs(self, requests: Sequence[VlmRequest]) -> dict[str, Any]:
        """Model inputs of one batch (every request with the same number of images)."""
        images = [self._images(r) for r in requests]
        texts = [self._text(r, len(ims)) for r, ims in zip(requests, images, strict=True)]
        options: dict[str, Any] = {"padding": True, "return_tensors": "pt"}
        if self.template is not None:
            options["add_special_tokens"] = False  # the template wrote them
        if images[0]:
            options["images"] = images
        batch = self.processor(text=texts, **options)
        return {
            k: v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in batch.items()
            if k != "labels"
        }

    def _run(self, requests: Sequence[VlmRequest], budgets: Sequence[int]) -> list[VlmResult]:
        """``generate`` calls for one chunk; each answer is cut at its own token budget."""
        results: list[VlmResult | None] = [None] * len(requests)
        groups: dict[int, list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault(len(r.images), []).append(i)
        for rows in groups.values():
            answers = self._answers([requests[i] for i in rows], [budgets[i] for i in rows])
            for i, answer in zip(rows, answers, strict=True):
                results[i] = answer
        return [r for r in results if r is not None]

    def _answers(self, requests: Sequence[VlmRequest], budgets: Sequence[int]) -> list[VlmResult]:
        inputs = self._inputs(requests)
        # Greedy decoding does not look ahead, so a row's first n tokens are the same whatever
        # the batch's longest budget is: requests with different budgets can share a call.
        # (Setting the shared config is safe: the coalescer runs one call at a time.)
        self.generation_config.max_new_tokens = max(budgets)
        with self._torch.inference_mode():
            out = self.model.generate(**inputs, generation_config=self.generation_config)
        start = inputs["input_ids"].shape[1] if self._echoes_prompt else 0
        rows = [row[start : start + n] for row, n in zip(out, budgets, strict=True)]
        # An encoder-decoder's output opens with its decoder start token, not generated.
        first = 0 if self._echoes_prompt else 1
        results = []
        for row in rows:
            answer = self.tokenizer.decode(row, skip_special_tokens=True).strip()
            tokens = self._generated(row[first:].tolist())
            results.append(
                VlmResult(text=answer, tokens=tokens)
                if answer
                else VlmResult(error="the model gave no answer", tokens=tokens)
            )
        return results

    def _generated(self, ids: list[int]) -> int:
        """Tokens generated in one answer: up to its end of turn (later ones are padding)."""
        return next((i + 1 for i, t in enumerate(ids) if t in self._stops), len(ids))

    def memory(self) -> dict[str, float]:
        out = {"weights_mb": round(self._weights_mb, 1)}
        if self.device.type == "cuda":
            peak = self._torch.cuda.max_memory_allocated(self.device) / 2**20
            out["gpu_peak_mb"] = round(peak, 1)
        return out

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
                chunk_error = f"out of memory even for one prompt ({brief(exc)})"
                results += [VlmResult(error=chunk_error) for _ in chunk]
            except (RuntimeError, ValueError, TypeError) as exc:
                results += [VlmResult(error=f"{type(exc).__name__}: {brief(exc)}") for _ in chunk]
            i += len(chunk)
        return results

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
