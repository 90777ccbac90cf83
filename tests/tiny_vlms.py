"""Tiny random vision-language models of every family the in-process backend supports, built
from configs and saved in the Hugging Face layout.  Nothing is downloaded and torchvision is
not needed: each tokenizer is a word-level vocabulary built here, holding every special and
image token its processor expects, with the family's chat template.

Text hidden size 64 with 2 layers, vision hidden size 32 with 1-2 layers, small images: each
model builds, saves, reloads and generates in well under a second.  Random weights write
random words; what the tests check is that the real loading, prompt, vision and generate
path runs for every family and gives an answer per prompt.

``build(..., full=True)`` builds the same families at the size of a released checkpoint
(:data:`FULL`: its text, vision and processor settings and its vocabulary size, still random
weights and a word-level tokenizer), for the GPU benchmark: they cost what the trained
models cost.
"""

from __future__ import annotations

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


def _tokenizer(specials: list[str], template: str | None, vocab: int = 0, **named: Any) -> Any:
    """A word-level fast tokenizer over :data:`WORDS` plus ``specials`` (added tokens), padded
    with filler words to ``vocab`` tokens in all when that is larger."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = list(dict.fromkeys(["[UNK]", *WORDS]))
    words += [f"w{i}" for i in range(vocab - len(specials) - len(words))]
    vocab_ids = {w: i for i, w in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab_ids, unk_token="[UNK]"))
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


Size = dict[str, Any]
"""A family's size: ``vocab`` (tokens before the processor adds its own) and settings merged
over the tiny ones, by part (``text``, ``vision``, ``qformer``, ``images`` for the image
processor, ``processor``, ``config`` for the model config's top level)."""


def _part(size: Size, key: str, tiny: dict[str, Any]) -> dict[str, Any]:
    return {**tiny, **size.get(key, {})}


def _qwen(kind: str, size: Size) -> dict[str, Any]:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
    )

    tok = _tokenizer(
        QWEN_SPECIALS, CHATML, size.get("vocab", 0), eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )  # fmt: skip
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
        **size.get("config", {}),
    }
    if kind == "qwen2_vl":
        vision = {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        config: Any = Qwen2VLConfig(
            text_config=_part(size, "text", text),
            vision_config=_part(size, "vision", vision),
            **tokens,
        )
        model: Any = Qwen2VLForConditionalGeneration
    elif kind == "qwen2_5_vl":
        vision = {
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 64, "fullatt_block_indexes": [1], "window_size": 56,
        }  # fmt: skip
        config = Qwen2_5_VLConfig(
            text_config=_part(size, "text", text),
            vision_config=_part(size, "vision", vision),
            **tokens,
        )
        model = Qwen2_5_VLForConditionalGeneration
    else:
        vision = {
            "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
            "out_hidden_size": 64, "num_position_embeddings": 16,
            "deepstack_visual_indexes": [0],
        }  # fmt: skip
        config = Qwen3VLConfig(
            text_config=_part(size, "text", {**text, "head_dim": 16}),
            vision_config=_part(size, "vision", vision),
            **tokens,
        )
        model = Qwen3VLForConditionalGeneration
    return {
        "config": config,
        "model": model,
        "generation": {"eos_token_id": end, "pad_token_id": pad},
        "tokenizer": tok,
        "image_processor": _qwen_image_processor(kind, size),
    }


def _qwen_image_processor(kind: str, size: Size) -> Any:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    if kind == "qwen3_vl":
        tiny = {
            "patch_size": 16,
            "merge_size": 2,
            "size": {"shortest_edge": 32 * 32, "longest_edge": 4096 * 4},
        }
        return Qwen2VLImageProcessorPil(**_part(size, "images", tiny))
    return Qwen2VLImageProcessorPil(**size.get("images", {}))


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


def _llama_text(tok: Any, size: Size, **extra: Any) -> dict[str, Any]:
    bos, eos, pad = _ids(tok, tok.bos_token, tok.eos_token, tok.pad_token)
    tiny = {
        "model_type": "llama", **TEXT, "vocab_size": len(tok),
        "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, **extra,
    }  # fmt: skip
    return _part(size, "text", tiny)


def _llava(kind: str, size: Size) -> dict[str, Any]:
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    tok = _tokenizer(
        [*LLAMA_SPECIALS, "<image>"], LLAVA, size.get("vocab", 0), bos_token="<s>",
        eos_token="</s>", pad_token="<pad>",
    )  # fmt: skip
    images = _part(
        size, "images", {"size": {"shortest_edge": 32}, "crop_size": {"height": 32, "width": 32}}
    )
    common = _part(
        size,
        "processor",
        {"patch_size": 8, "vision_feature_select_strategy": "default"},
    )
    vision = {"model_type": "clip_vision_model", **VISION, "projection_dim": 32}
    config: dict[str, Any] = {
        "vision_config": _part(size, "vision", vision),
        "text_config": _llama_text(tok, size),
        "image_token_index": tok.convert_tokens_to_ids("<image>"),
        "vision_feature_select_strategy": "default",
        "image_seq_length": 16,
        **size.get("config", {}),
    }
    if kind == "llava":
        from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

        processor: Any = LlavaProcessor(
            CLIPImageProcessorPil(**images), tok, chat_template=LLAVA, **common,
            num_additional_image_tokens=1,
        )  # fmt: skip
        return {"config": LlavaConfig(**config), "model": LlavaForConditionalGeneration,
                "processor": processor}  # fmt: skip
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    pinpoints = size.get("pinpoints", [[32, 32], [32, 64], [64, 32], [64, 64]])
    processor = LlavaNextProcessor(
        LlavaNextImageProcessorPil(**images, image_grid_pinpoints=pinpoints), tok,
        chat_template=LLAVA, **common, num_additional_image_tokens=1,
    )  # fmt: skip
    return {
        "config": LlavaNextConfig(**config, image_grid_pinpoints=pinpoints),
        "model": LlavaNextForConditionalGeneration,
        "processor": processor,
    }


def _instructblip(size: Size) -> dict[str, Any]:
    from transformers import (
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tok = _tokenizer(
        LLAMA_SPECIALS, None, size.get("vocab", 0), bos_token="<s>", eos_token="</s>",
        pad_token="<pad>",
    )  # fmt: skip
    qformer = _tokenizer(
        ["[CLS]", "[SEP]", "[PAD]"], None, size.get("qformer_vocab", 0), cls_token="[CLS]",
        sep_token="[SEP]", pad_token="[PAD]",
    )  # fmt: skip
    images = BlipImageProcessorPil(**_part(size, "images", {"size": {"height": 32, "width": 32}}))
    queries = size.get("query_tokens", 4)
    # The processor adds the image token to the language tokenizer: build the model after it.
    processor = InstructBlipProcessor(images, tok, qformer, num_query_tokens=queries)
    config = InstructBlipConfig(
        vision_config=_part(size, "vision", {**VISION, "num_hidden_layers": 1}),
        qformer_config=_part(
            size,
            "qformer",
            {
                "vocab_size": len(qformer),
                "hidden_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "intermediate_size": 64,
                "encoder_hidden_size": 32,
                "max_position_embeddings": 512,
                "pad_token_id": qformer.pad_token_id,
            },
        ),
        text_config=_llama_text(tok, size),
        num_query_tokens=queries,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    return {
        "config": config,
        "model": InstructBlipForConditionalGeneration,
        "processor": processor,
    }


def _idefics3(size: Size) -> dict[str, Any]:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    tiles = [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    specials = ["<|im_start|>", "<end_of_utterance>", "<pad>", "<fake_token_around_image>"]
    tok = _tokenizer(
        [*specials, "<image>", "<global-img>", *tiles], IDEFICS3, size.get("vocab", 0),
        bos_token="<|im_start|>", eos_token="<end_of_utterance>", pad_token="<pad>",
    )  # fmt: skip
    tiny_images = {
        "size": {"longest_edge": 64},
        "max_image_size": {"longest_edge": 32},
        "do_image_splitting": True,
    }
    images = Idefics3ImageProcessorPil(**_part(size, "images", tiny_images))
    # Tiny: 16 patches merged 2 x 2 (scale_factor): 4 visual tokens per tile.
    processor = Idefics3Processor(
        images, tok, image_seq_len=size.get("image_seq_len", 4), chat_template=IDEFICS3
    )
    config = Idefics3Config(
        vision_config=_part(size, "vision", {**VISION, "num_hidden_layers": 1}),
        text_config=_llama_text(tok, size),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=size.get("scale_factor", 2),
    )
    return {"config": config, "model": Idefics3ForConditionalGeneration, "processor": processor}


def _gemma3(size: Size) -> dict[str, Any]:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    named = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tok = _tokenizer(
        ["<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", *named.values()],
        GEMMA3, size.get("vocab", 0), bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
        extra_special_tokens=named,
    )  # fmt: skip
    images = Gemma3ImageProcessorPil(
        **_part(size, "images", {"size": {"height": 32, "width": 32}, "do_pan_and_scan": False})
    )
    # Tiny: 16 patches pooled to 4 tokens per image, as the processor expands each image.
    tokens = size.get("image_seq_length", 4)
    processor = Gemma3Processor(images, tok, chat_template=GEMMA3, image_seq_length=tokens)
    bos, eos, pad, end, boi, eoi, image = _ids(
        tok, "<bos>", "<eos>", "<pad>", "<end_of_turn>", *named.values()
    )
    text = {
        **TEXT,
        "head_dim": 16,
        "vocab_size": len(tok),
        "sliding_window": 64,
        "bos_token_id": bos,
        "eos_token_id": [eos, end],
        "pad_token_id": pad,
    }
    config = Gemma3Config(
        text_config=_part(size, "text", text),
        vision_config=_part(size, "vision", {**VISION, "num_hidden_layers": 1}),
        mm_tokens_per_image=tokens,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
    )
    return {
        "config": config,
        "model": Gemma3ForConditionalGeneration,
        "generation": {"eos_token_id": [eos, end], "pad_token_id": pad},
        "processor": processor,
    }


def _paligemma(size: Size) -> dict[str, Any]:
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
    )
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tok = _tokenizer(
        ["<bos>", "<eos>", "<pad>"], None, size.get("vocab", 0), bos_token="<bos>",
        eos_token="<eos>", pad_token="<pad>",
    )  # fmt: skip
    images = SiglipImageProcessorPil(**_part(size, "images", {"size": {"height": 32, "width": 32}}))
    images.image_seq_length = size.get("image_seq_length", 16)
    # The processor adds <image> and its 1152 location and segmentation tokens.
    processor = PaliGemmaProcessor(images, tok)
    bos, eos, pad = _ids(tok, "<bos>", "<eos>", "<pad>")
    text = {
        "model_type": "gemma",
        **TEXT,
        "head_dim": 16,
        "vocab_size": len(tok),
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }
    vision = {**VISION, "num_hidden_layers": 1, "projection_dim": 64}
    config = PaliGemmaConfig(
        vision_config=_part(size, "vision", vision),
        text_config=_part(size, "text", text),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        projection_dim=size.get("projection_dim", 64),
    )
    return {"config": config, "model": PaliGemmaForConditionalGeneration, "processor": processor}


FAMILIES: dict[str, Callable[[Size], dict[str, Any]]] = {
    "qwen2_vl": lambda s: _qwen("qwen2_vl", s),
    "qwen2_5_vl": lambda s: _qwen("qwen2_5_vl", s),
    "qwen3_vl": lambda s: _qwen("qwen3_vl", s),
    "llava": lambda s: _llava("llava", s),
    "llava_next": lambda s: _llava("llava_next", s),
    "instructblip": _instructblip,
    "idefics3": _idefics3,
    "gemma3": _gemma3,
    "paligemma": _paligemma,
}

_CLIP_L336 = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
    "num_attention_heads": 16, "image_size": 336, "patch_size": 14, "projection_dim": 768,
}  # fmt: skip
_SIGLIP_SO400M = {
    "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
    "num_attention_heads": 16, "patch_size": 14,
}  # fmt: skip
_LLAMA_7B = {
    "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
}  # fmt: skip
_LLAVA_336 = {
    "vocab": 32064,
    "text": _LLAMA_7B,
    "vision": _CLIP_L336,
    "images": {"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336}},
    "processor": {"patch_size": 14},
    "config": {"image_seq_length": 576, "vision_feature_layer": -2},
}
FULL: dict[str, Size] = {
    "qwen2_vl": {  # Qwen2-VL-2B-Instruct
        "vocab": 151936,
        "text": {
            "hidden_size": 1536,
            "intermediate_size": 8960,
            "num_hidden_layers": 28,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 32768,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [16, 24, 24],
                "rope_theta": 1e6,
            },
        },
        "vision": {
            "depth": 32,
            "embed_dim": 1280,
            "hidden_size": 1536,
            "mlp_ratio": 4,
            "num_heads": 16,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        "config": {"tie_word_embeddings": True},
    },
    "qwen2_5_vl": {  # Qwen2.5-VL-3B-Instruct
        "vocab": 151936,
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 11008,
            "num_hidden_layers": 36,
            "num_attention_heads": 16,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 128000,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [16, 24, 24],
                "rope_theta": 1e6,
            },
        },
        "vision": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "fullatt_block_indexes": [7, 15, 23, 31],
            "window_size": 112,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        "config": {"tie_word_embeddings": True},
    },
    "qwen3_vl": {  # Qwen3-VL-2B-Instruct
        "vocab": 151936,
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 6144,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "rms_norm_eps": 1e-6,
            "max_position_embeddings": 262144,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
                "rope_theta": 5e6,
            },
        },
        "vision": {
            "depth": 24,
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_heads": 16,
            "out_hidden_size": 2048,
            "patch_size": 16,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [5, 11, 17],
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        "images": {"size": {"shortest_edge": 65536, "longest_edge": 16777216}},
        "config": {"tie_word_embeddings": True},
    },
    "llava": _LLAVA_336,  # llava-1.5-7b
    "llava_next": {  # llava-v1.6-vicuna-7b
        **_LLAVA_336,
        "pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
    },
    "instructblip": {  # instructblip-vicuna-7b
        "vocab": 32000,
        "qformer_vocab": 30522,
        "query_tokens": 32,
        "text": _LLAMA_7B,
        "vision": {
            "hidden_size": 1408,
            "intermediate_size": 6144,
            "num_hidden_layers": 39,
            "num_attention_heads": 16,
            "image_size": 224,
            "patch_size": 14,
        },
        "qformer": {
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "encoder_hidden_size": 1408,
        },
        "images": {"size": {"height": 224, "width": 224}},
    },
    "idefics3": {  # SmolVLM-Instruct (Idefics3, 2.2B)
        "vocab": 49152,
        "image_seq_len": 81,
        "scale_factor": 3,
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 8192,
            "num_hidden_layers": 24,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "rope_theta": 273768.0,
            "max_position_embeddings": 16384,
        },
        "vision": {**_SIGLIP_SO400M, "image_size": 384},
        "images": {
            "size": {"longest_edge": 1536},
            "max_image_size": {"longest_edge": 384},
        },
    },
    "gemma3": {  # gemma-3-4b-it
        "vocab": 262208,
        "image_seq_length": 256,
        "text": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "num_hidden_layers": 34,
            "num_attention_heads": 8,
            "num_key_value_heads": 4,
            "head_dim": 256,
            "sliding_window": 1024,
        },
        "vision": {**_SIGLIP_SO400M, "image_size": 896},
        "images": {"size": {"height": 896, "width": 896}},
    },
    "paligemma": {  # paligemma-3b-224 (its processor adds 1153 more tokens)
        "vocab": 256000,
        "image_seq_length": 256,
        "projection_dim": 2048,
        "text": {
            "hidden_size": 2048,
            "intermediate_size": 16384,
            "num_hidden_layers": 18,
            "num_attention_heads": 8,
            "num_key_value_heads": 1,
            "head_dim": 256,
        },
        "vision": {**_SIGLIP_SO400M, "image_size": 224, "projection_dim": 2048},
        "images": {"size": {"height": 224, "width": 224}},
    },
}
"""The size of a released checkpoint of each family (named beside it)."""


def build(
    family: str,
    path: Path,
    seed: int = 0,
    *,
    full: bool = False,
    device: str = "cpu",
    dtype: Any = None,
) -> Path:
    """Save a random model of ``family`` (a key of :data:`FAMILIES`) in ``path``: tiny, or at
    its :data:`FULL` size when ``full``; built on ``device`` in ``dtype`` (default float32)."""
    import torch

    torch.manual_seed(seed)
    parts = FAMILIES[family](FULL[family] if full else {})
    with torch.device(device):
        model = parts["model"]._from_config(parts["config"], dtype=dtype or torch.float32)
    for key, value in parts.get("generation", {}).items():
        setattr(model.generation_config, key, value)
    model.eval().save_pretrained(path)
    for key in ("tokenizer", "image_processor", "processor"):
        if key in parts:
            parts[key].save_pretrained(path)
    return path
