"""Tiny random vision-language models of every family the in-process backend supports, built
from configs and saved in the Hugging Face layout.  Nothing is downloaded and torchvision is
not needed: each tokenizer is a word-level vocabulary built here, holding every special and
image token its processor expects, with the family's chat template.

Text hidden size 64 with 2 layers, vision hidden size 32 with 1-2 layers, small images: each
model builds, saves, reloads and generates in well under a second.  Random weights write
random words; what the tests check is that the real loading, prompt, vision and generate
path runs for every family and gives an answer per prompt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

_TEXT = (
    "a the man woman two characters talk at dinner table in dark room with candles look each "
    "other camera moves slowly to left text on screen reads copyright web address black "
    "background who what is visible happening where shot frame video describe sentences one "
    "or of and , . : ; ! ? \" ' { } [ ] 0 1 2 3 4 5 6 7 8 9 caption suspense darkness "
    "ambiguity emotional_tension intensity motion summary chapters start title user assistant"
)
WORDS = _TEXT.split()

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""The Qwen-VL chat template, without its default system turn."""


def _parts(image: str) -> str:
    """Jinja for a message's content: each image part as ``image``, each text part as is."""
    return (
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        f"{{% if part['type'] == 'image' %}}{image}"
        "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    )


LLAVA = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    + _parts("<image>\n")
    + "{% if message['role'] == 'user' %} {% else %}{{ eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
IDEFICS3 = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    + _parts("<image>")
    + "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)
GEMMA3 = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{% if message['role'] == 'assistant' %}model{% else %}user{% endif %}\n"
    + _parts("<start_of_image>")
    + "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _tokenizer(specials: list[str], template: str | None, **named: Any) -> Any:
    """A word-level fast tokenizer over :data:`WORDS` plus ``specials`` (added tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(dict.fromkeys(["[UNK]", *WORDS]))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", **named)
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def _qwen(kind: str, path: Path) -> dict[str, Any]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
    )

    tok = _tokenizer(QWEN_SPECIALS, CHATML, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    pad, end, image, video, start, stop = _ids(
        tok, "<|endoftext|>", "<|im_end|>", "<|image_pad|>", "<|video_pad|>",
        "<|vision_start|>", "<|vision_end|>",
    )  # fmt: skip
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
    text = {**TEXT, "vocab_size": len(tok), "rope_parameters": rope}
    text |= {"bos_token_id": pad, "eos_token_id": end, "pad_token_id": pad}
    tokens = {
        "image_token_id": image,
        "video_token_id": video,
        "vision_start_token_id": start,
        "vision_end_token_id": stop,
    }
    if kind == "qwen2_vl":
        vision = {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        model = Qwen2VLForConditionalGeneration(
            Qwen2VLConfig(text_config=text, vision_config=vision, **tokens)
        )
    elif kind == "qwen2_5_vl":
        vision = {
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 64, "fullatt_block_indexes": [1], "window_size": 56,
        }  # fmt: skip
        model = Qwen2_5_VLForConditionalGeneration(
            Qwen2_5_VLConfig(text_config=text, vision_config=vision, **tokens)
        )
    else:
        text = {**text, "head_dim": 16}
        vision = {
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 64, "num_position_embeddings": 16,
            "deepstack_visual_indexes": [0],
        }  # fmt: skip
        model = Qwen3VLForConditionalGeneration(
            Qwen3VLConfig(text_config=text, vision_config=vision, **tokens)
        )
    model.generation_config.eos_token_id = end
    model.generation_config.pad_token_id = pad
    image_processor = _qwen_image_processor(kind)
    return {"model": model, "tokenizer": tok, "image_processor": image_processor}


def _qwen_image_processor(kind: str) -> Any:
    if kind == "qwen3_vl":
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
            Qwen2VLImageProcessorPil,
        )

        return Qwen2VLImageProcessorPil(
            patch_size=16, merge_size=2, size={"shortest_edge": 32 * 32, "longest_edge": 4096 * 4}
        )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    return Qwen2VLImageProcessorPil()


LLAMA_SPECIALS = ["<s>", "</s>", "<pad>"]
VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": 32,
    "patch_size": 8,
}
"""A 32-pixel vision tower with 8-pixel patches: 16 patches per image."""


def _llama_text(tok: Any, **extra: Any) -> dict[str, Any]:
    bos, eos, pad = _ids(tok, tok.bos_token, tok.eos_token, tok.pad_token)
    return {
        "model_type": "llama", **TEXT, "vocab_size": len(tok),
        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, **extra,
    }  # fmt: skip


def _llava(kind: str) -> dict[str, Any]:
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    tok = _tokenizer(
        [*LLAMA_SPECIALS, "<image>"], LLAVA, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    size = {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}
    common = {"patch_size": 8, "vision_feature_select_strategy": "default"}
    config: dict[str, Any] = {
        "vision_config": {"model_type": "clip_vision_model", **VISION, "projection_dim": 32},
        "text_config": _llama_text(tok),
        "image_token_index": tok.convert_tokens_to_ids("<image>"),
        "vision_feature_select_strategy": "default",
        "image_seq_length": 16,
    }
    if kind == "llava":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        processor: Any = LlavaProcessor(
            CLIPImageProcessorPil(**size), tok, chat_template=LLAVA, **common,
            num_additional_image_tokens=1,
        )  # fmt: skip
        model: Any = LlavaForConditionalGeneration(LlavaConfig(**config))
    else:
        from transformers.models.llava_next.image_processing_pil_llava_next import (
            LlavaNextImageProcessorPil,
        )

        pinpoints = [[32, 32], [32, 64], [64, 32], [64, 64]]
        images = LlavaNextImageProcessorPil(**size, image_grid_pinpoints=pinpoints)
        processor = LlavaNextProcessor(
            images, tok, chat_template=LLAVA, **common, num_additional_image_tokens=1
        )
        model = LlavaNextForConditionalGeneration(
            LlavaNextConfig(**config, image_grid_pinpoints=pinpoints)
        )
    return {"model": model, "processor": processor}


def _instructblip() -> dict[str, Any]:
    from transformers import (
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tok = _tokenizer(LLAMA_SPECIALS, None, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    qformer = _tokenizer(
        ["[CLS]", "[SEP]", "[PAD]"], None, cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]",
    )  # fmt: skip
    images = BlipImageProcessorPil(size={"height": 32, "width": 32})
    # The processor adds the image token to the language tokenizer: build the model after it.
    processor = InstructBlipProcessor(images, tok, qformer, num_query_tokens=4)
    config = InstructBlipConfig(
        vision_config={**VISION, "num_hidden_layers": 1},
        qformer_config={
            "vocab_size": len(qformer),
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "encoder_hidden_size": 32,
            "max_position_embeddings": 512,
            "pad_token_id": qformer.pad_token_id,
        },
        text_config=_llama_text(tok),
        num_query_tokens=4,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    return {"model": InstructBlipForConditionalGeneration(config), "processor": processor}


def _idefics3() -> dict[str, Any]:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tiles = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    specials = ["<|im_start|>", "<end_of_utterance>", "<pad>", "<fake_token_around_image>"]
    tok = _tokenizer(
        [*specials, "<image>", "<global-img>", *tiles], IDEFICS3,
        bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<pad>",
    )  # fmt: skip
    images = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=True
    )
    # 16 patches merged 2 x 2 (scale_factor): 4 visual tokens per tile.
    processor = Idefics3Processor(images, tok, image_seq_len=4, chat_template=IDEFICS3)
    config = Idefics3Config(
        vision_config={**VISION, "num_hidden_layers": 1},
        text_config=_llama_text(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return {"model": Idefics3ForConditionalGeneration(config), "processor": processor}


def _gemma3() -> dict[str, Any]:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    named = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tok = _tokenizer(
        ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", *named.values()],
        GEMMA3, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        extra_special_tokens=named,
    )  # fmt: skip
    images = Gemma3ImageProcessorPil(size={"height": 32, "width": 32}, do_pan_and_scan=False)
    # 16 patches pooled to 4 tokens per image, as the processor expands each image.
    processor = Gemma3Processor(images, tok, chat_template=GEMMA3, image_seq_length=4)
    bos, eos, pad, end, boi, eoi, image = _ids(
        tok, "<bos>", "<eos>", "<pad>", "<end_of_turn>", *named.values()
    )
    config = Gemma3Config(
        text_config={
            **TEXT,
            "head_dim": 16,
            "vocab_size": len(tok),
            "sliding_window": 64,
            "bos_token_id": bos,
            "eos_token_id": [eos, end],
            "pad_token_id": pad,
        },
        vision_config={**VISION, "num_hidden_layers": 1},
        mm_tokens_per_image=4,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
    )
    model = Gemma3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = [eos, end]
    model.generation_config.pad_token_id = pad
    return {"model": model, "processor": processor}


def _paligemma() -> dict[str, Any]:
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
    )
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tok = _tokenizer(
        ["<bos>", "<eos>", "<pad>"], None, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )
    images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    images.image_seq_length = 16
    # The processor adds <image> and its 1152 location and segmentation tokens.
    processor = PaliGemmaProcessor(images, tok)
    bos, eos, pad = _ids(tok, "<bos>", "<eos>", "<pad>")
    config = PaliGemmaConfig(
        vision_config={**VISION, "num_hidden_layers": 1, "projection_dim": 64},
        text_config={
            "model_type": "gemma",
            **TEXT,
            "head_dim": 16,
            "vocab_size": len(tok),
            "bos_token_id": bos,
            "eos_token_id": eos,
            "pad_token_id": pad,
        },
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        projection_dim=64,
    )
    return {"model": PaliGemmaForConditionalGeneration(config), "processor": processor}


FAMILIES: dict[str, Callable[[Path], dict[str, Any]]] = {
    "qwen2_vl": lambda p: _qwen("qwen2_vl", p),
    "qwen2_5_vl": lambda p: _qwen("qwen2_5_vl", p),
    "qwen3_vl": lambda p: _qwen("qwen3_vl", p),
    "llava": lambda p: _llava("llava"),
    "llava_next": lambda p: _llava("llava_next"),
    "instructblip": lambda p: _instructblip(),
    "idefics3": lambda p: _idefics3(),
    "gemma3": lambda p: _gemma3(),
    "paligemma": lambda p: _paligemma(),
}


def build(family: str, path: Path, seed: int = 0) -> Path:
    """Save a tiny random model of ``family`` (a key of :data:`FAMILIES`) in ``path``."""
    import torch

    torch.manual_seed(seed)
    parts = FAMILIES[family](path)
    parts["model"].eval().save_pretrained(path)
    for key in ("tokenizer", "image_processor", "processor"):
        if key in parts:
            parts[key].save_pretrained(path)
    if "chat_template" in parts:
        (path / "chat_template.jinja").write_text(parts["chat_template"])
    if "processor_config" in parts:
        (path / "processor_config.json").write_text(json.dumps(parts["processor_config"]))
    return path
