"""Loading a vision-language model for the in-process backend: where it comes from, which
family it is, its processor and its weights.

**Families.**  Any model ``AutoModelForImageTextToText`` maps without remote code loads the
same way: its own processor and chat template build the prompts, so no family needs prompt
code here.  :data:`FAMILIES` only records what the processor cannot say: how many images a
prompt may hold (LLaVA 1.5/1.6, InstructBLIP and PaliGemma were trained on one: several
frames are stitched side by side for them), whether generation needs an image at all (a
text-only prompt gets a blank one), whether the model has a chat template (InstructBLIP and
PaliGemma take the bare prompt), and whether ``max_pixels`` bounds the visual tokens in the
image processor (the Qwen families' dynamic resolution) or frames are scaled down before it.

**Without torchvision.**  The Qwen processors declare a video processor that needs
torchvision, which has no build for some platforms.  When ``AutoProcessor`` fails for that
reason, the processor is built from the tokenizer and the image processor alone (which
falls back to its PIL implementation), with no video half; vidscope never sends video.

**Remote code.**  Families that need code shipped with the model (``trust_remote_code``,
e.g. Phi-3.5-Vision) are refused unless the operator sets ``vlm.trust_remote_code``: that
code runs with the server's rights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidscope.errors import ModelError
from vidscope.models.vlm.base import HOW_TO_CONFIGURE, BackendConfig

log = logging.getLogger("vidscope.vlm")

ENDPOINT_HINT = "or serve it with vLLM or SGLang and give --vlm-endpoint"


@dataclass(frozen=True)
class Family:
    """What vidscope needs to know about a model family beyond its processor."""

    images: int | None = None
    """Most images one prompt may hold (None: several); more are stitched side by side."""
    needs_image: bool = False
    """Generation needs pixels: a text-only prompt is given a blank image."""
    chat_template: bool = True
    """Prompts go through the chat template (False: the processor takes the bare prompt)."""
    pixel_area: bool = False
    """``max_pixels`` bounds the image processor's dynamic resolution (else frames are
    scaled down to it before the processor's own resizing)."""


_QWEN = Family(pixel_area=True)
_SINGLE = Family(images=1)
_BARE = Family(images=1, needs_image=True, chat_template=False)
FAMILIES: dict[str, Family] = {
    "qwen2_vl": _QWEN,
    "qwen2_5_vl": _QWEN,
    "qwen3_vl": _QWEN,
    "qwen3_vl_moe": _QWEN,
    "llava": _SINGLE,
    "llava_next": _SINGLE,
    "instructblip": _BARE,
    "paligemma": _BARE,
}
"""Families whose traits differ from :class:`Family`'s defaults (Idefics3/SmolVLM, Gemma 3,
LLaVA-OneVision, Mistral 3 and others take several images through a chat template)."""

TESTED = (
    "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "llava", "llava_next", "instructblip", "idefics3",
    "gemma3", "paligemma",
)  # fmt: skip
"""The families vidscope's tests run end to end."""


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


def brief(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def load_config(config: BackendConfig, source: str, options: dict[str, Any]) -> Any:
    """The model's configuration, refusing remote code unless the operator allowed it."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **options)
    except (OSError, ValueError) as exc:
        if "trust_remote_code" in str(exc):
            raise ModelError(
                f"{config.model!r} needs code shipped with the model (trust_remote_code), "
                "which runs with this process's rights; the operator may allow it with the "
                f"vlm.trust_remote_code setting, {ENDPOINT_HINT}"
            ) from None
        where = "" if options["local_files_only"] else " (not downloadable here)"
        raise ModelError(
            f"cannot load vision-language model {config.model!r}{where}: {brief(exc)}; "
            + HOW_TO_CONFIGURE
        ) from None


def family_of(config: BackendConfig, model_config: Any) -> Family:
    """The model's family traits; a model that is not an image-text-to-text model fails."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as SUPPORTED,
    )

    kind = getattr(model_config, "model_type", "unknown")
    remote = bool(getattr(model_config, "auto_map", None)) and config.trust_remote_code
    if kind not in SUPPORTED and not remote:
        if getattr(model_config, "vision_config", None) is None:
            raise ModelError(
                f"{config.model!r} is not a vision-language model (its config is a "
                f"{kind!r} model with no vision part); " + HOW_TO_CONFIGURE
            )
        raise ModelError(
            f"{config.model!r} ({kind}) is not an image-text-to-text model transformers can "
            f"run in process; {ENDPOINT_HINT}"
        )
    return FAMILIES.get(kind, Family())


def _processor_without_video(
    source: str, kind: str, options: dict[str, Any], reason: ImportError
) -> Any:
    """The family's processor from its tokenizer and image processor, with no video part."""
    import transformers
    from transformers import AutoImageProcessor, AutoTokenizer
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    base = getattr(transformers, PROCESSOR_MAPPING_NAMES.get(kind, ""), None)
    if base is None or "video_processor" not in base.get_attributes():
        raise ModelError(f"cannot load the processor: {brief(reason)}") from None

    def check(self: Any, name: str, argument: Any) -> Any:
        # transformers checks each part's class, and has no class to check None against.
        return (
            None if argument is None else base.check_argument_for_proper_class(self, name, argument)
        )

    tokenizer = AutoTokenizer.from_pretrained(source, **options)
    images = AutoImageProcessor.from_pretrained(source, **options)
    template = Path(source, "chat_template.jinja")
    chat_template = template.read_text() if template.is_file() else tokenizer.chat_template
    log.info("%s: no video processor (%s); building the processor without it", kind, brief(reason))
    cls = type(base.__name__, (base,), {"check_argument_for_proper_class": check})
    return cls(
        image_processor=images,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=chat_template,
    )


def load_processor(config: BackendConfig, source: str, kind: str, options: dict[str, Any]) -> Any:
    """The model's processor with left padding (batched generation needs it)."""
    from transformers import AutoProcessor

    try:
        try:
            processor = AutoProcessor.from_pretrained(source, **options)
        except ImportError as exc:
            processor = _processor_without_video(source, kind, options, exc)
    except (OSError, ValueError, TypeError, ImportError) as exc:
        raise ModelError(f"cannot load the processor of {config.model!r}: {brief(exc)}") from None
    if not hasattr(processor, "image_processor"):
        raise ModelError(f"{config.model!r} has no image processor; " + ENDPOINT_HINT)
    processor.tokenizer.padding_side = "left"
    return processor


def load_model(config: BackendConfig, source: str, dtype: Any, options: dict[str, Any]) -> Any:
    """The weights, with the configured attention kernel where the family has it."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    attention = config.attn_implementation
    while True:
        try:
            try:
                return AutoModelForImageTextToText.from_pretrained(
                    source, dtype=dtype, attn_implementation=attention, **options
                )
            except ValueError as exc:
                # Remote-code families (allowed by the operator) often register only as
                # causal language models.
                if not config.trust_remote_code or "Unrecognized configuration" not in str(exc):
                    raise
                return AutoModelForCausalLM.from_pretrained(
                    source, dtype=dtype, attn_implementation=attention, **options
                )
        except ValueError as exc:
            if attention != "eager" and "attention" in str(exc).lower():
                log.warning("%s: %s; using eager attention", config.model, brief(exc))
                attention = "eager"
                continue
            raise ModelError(f"cannot load {config.model!r}: {brief(exc)}") from None
        except (OSError, ImportError) as exc:
            raise ModelError(f"cannot load {config.model!r}: {brief(exc)}") from None
