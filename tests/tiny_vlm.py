"""A tiny Qwen2-VL built from a config, saved in the Hugging Face layout, for the tests and the
CPU benchmark.  Nothing is downloaded: the tokenizer is a small byte-level BPE trained here,
with the Qwen chat and vision special tokens.

With random weights the model writes random text.  ``answer=...`` instead sets the weights so
that greedy decoding answers exactly that text to any prompt: every decoder layer's output
projections are zeroed (each layer passes its input through), so the last position's hidden
state is the embedding of the last prompt token; the embeddings and the output head then make
a two-step chain, any token -> the answer (one added token) -> end of turn.  The tokenizer
carries the Qwen-VL chat template, which the backend renders prompts with.  The real
loading, prompt, vision and generate path still runs.
"""

from __future__ import annotations

from pathlib import Path

from tiny_vlms import CHATML

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
CORPUS = [
    "a man and a woman talk at a dinner table in a dark room with candles",
    "two animated characters look at each other; the camera moves slowly to the left",
    "text on the screen reads copyright and a web address on a black background",
    "the caption describes who is visible, what is happening and where",
]


def build_tiny_vlm(path: Path, *, answer: str | None = None, seed: int = 0) -> Path:
    """Save a tiny Qwen2-VL (hidden size 64, 2 layers, vision depth 1) in ``path``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 8, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    if answer is not None:
        tokenizer.add_tokens([answer])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "rope_parameters": {
                "rope_type": "default",
                "mrope_section": [2, 3, 3],
                "rope_theta": 10000.0,
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).eval()
    if answer is not None:
        _answering(model, tokenizer.convert_tokens_to_ids(answer), ids["<|im_end|>"])
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil().save_pretrained(path)
    return path


def _answering(model, answer_id: int, end_id: int) -> None:
    import torch

    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.language_model.embed_tokens.weight
        embed.zero_()
        embed[:, 0] = 1.0
        embed[answer_id, 0], embed[answer_id, 1] = 0.0, 1.0
        head = model.lm_head.weight
        head.zero_()
        head[answer_id, 0] = 10.0
        head[end_id, 1] = 10.0


def build_text_only(path: Path) -> Path:
    """A tiny Qwen2 language model (no vision part), for the "not a vision model" error."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    Qwen2ForCausalLM(config).save_pretrained(path)
    return path
