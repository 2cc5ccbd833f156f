"""The batched greedy decoder (finished rows leave the batch) against `model.generate`."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from unmirage.config import ModelConfig
from unmirage.data.inputs import left_padded_inputs, prompt_text
from unmirage.eval import generate as gen
from unmirage.eval.generate import generate_texts, greedy_tokens
from unmirage.models.families import FAMILIES, fresh_tiny

SIZE = 32
CFG = {"text_hidden": 32, "text_intermediate": 64, "text_layers": 2, "text_heads": 2, "vision_hidden": 32,
       "vision_layers": 1, "vision_heads": 2, "max_length": 128}
WORDS = "what is this how is it made tell me about the red blue square circle please now and then more of it"
# prompts of different lengths, so left padding differs from row to row
INSTRUCTIONS = ["what is this", "tell me about the red square please", "how is it made",
                "what is this blue circle and how is it made now", "tell me more", "what is it",
                "please tell me about the square and the circle and then more of it", "how"]
MAX_NEW = 12


def _images():
    colours = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (200, 200, 0)]
    return [Image.new("RGB", (SIZE, SIZE), colours[i % len(colours)]) for i in range(len(INSTRUCTIONS))]


def _reference(model, inputs, max_new: int) -> list[list[int]]:
    """`model.generate`'s greedy tokens, each row up to and including its first EOS."""
    out = model.generate(**inputs, max_new_tokens=max_new, do_sample=False, use_cache=True,
                         pad_token_id=model.generation_config.pad_token_id)
    eos = model.generation_config.eos_token_id
    rows = []
    for row in out[:, inputs["input_ids"].shape[1]:].tolist():
        rows.append(row[:row.index(eos) + 1] if eos in row else row)
    return rows


def _with_staggered_eos(model, inputs) -> None:
    """Make a token the random model emits, first at different steps in different rows, its EOS,
    so that rows end at different steps (and some never do)."""
    model.generation_config.eos_token_id = None
    out = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False, use_cache=True,
                         pad_token_id=model.generation_config.pad_token_id)
    new = out[:, inputs["input_ids"].shape[1]:].tolist()
    best, spread = None, -1
    for token in {t for row in new for t in row}:
        firsts = {row.index(token) if token in row else MAX_NEW for row in new}
        if len(firsts) > spread:
            best, spread = token, len(firsts)
    model.generation_config.eos_token_id = best


@pytest.fixture(scope="module")
def built():
    cache = {}

    def get(family: str):
        if family == "smolvlm":
            pytest.importorskip("num2words", reason="SmolVLM's processor needs num2words")
        if family not in cache:
            torch.manual_seed(0)
            model, processor = fresh_tiny(ModelConfig(family=family, **CFG), [WORDS], SIZE)
            model.eval()
            with torch.no_grad():  # larger weights than the init's, so that answers vary from row to row
                for p in model.parameters():
                    if p.dim() >= 2:
                        p.normal_(0, 0.2)
            prompts = [prompt_text(processor, i) for i in INSTRUCTIONS]
            inputs = dict(left_padded_inputs(processor, prompts, _images()))
            _with_staggered_eos(model, inputs)
            cache[family] = (model, processor, prompts, inputs)
        return cache[family]

    return get


@pytest.mark.parametrize("family", FAMILIES.names())
def test_dropping_finished_rows_gives_generates_tokens(built, family, monkeypatch):
    model, processor, _, inputs = built(family)
    assert len(set(inputs["attention_mask"].sum(1).tolist())) > 2  # prompt lengths differ
    expected = _reference(model, inputs, MAX_NEW)
    lengths = {len(r) for r in expected}
    assert len(lengths) >= 2 and min(lengths) < MAX_NEW  # rows end at different steps
    assert gen._plain_greedy(model, MAX_NEW)

    def no_generate(*args, **kwargs):
        raise AssertionError("the decode loop fell back to model.generate")

    monkeypatch.setattr(model, "generate", no_generate)
    for compact in (0.0, 0.25, 1.0):  # rows leave as soon as they end, once a quarter has, never
        assert greedy_tokens(model, inputs, MAX_NEW, compact=compact) == expected, compact


def test_rows_keep_their_order(built):
    model, processor, prompts, _ = built("llava")
    images = _images()
    forward = generate_texts(model, processor, prompts, images, MAX_NEW)
    backward = generate_texts(model, processor, prompts[::-1], images[::-1], MAX_NEW)
    assert backward == forward[::-1]
    assert len(set(forward)) > 2
    single = [generate_texts(model, processor, [p], [im], MAX_NEW)[0] for p, im in zip(prompts, images)]
    assert single == forward


def test_rows_that_never_end_get_every_new_token(built):
    model, _, _, inputs = built("llava")
    eos = model.generation_config.eos_token_id
    try:
        model.generation_config.eos_token_id = None
        expected = _reference(model, inputs, 5)
        assert greedy_tokens(model, inputs, 5) == expected
        assert all(len(r) == 5 for r in expected)
    finally:
        model.generation_config.eos_token_id = eos


def test_a_config_that_changes_the_argmax_goes_through_generate(built, monkeypatch):
    """A repetition penalty (as Qwen-VL's generation config has) is applied by `generate` even
    when greedy; the bare decode loop would not, so such a model takes `generate`."""
    model, _, _, inputs = built("llava")
    monkeypatch.setattr(model.generation_config, "repetition_penalty", 1.5)
    assert not gen._plain_greedy(model, MAX_NEW)
    expected = _reference(model, inputs, MAX_NEW)
    calls = []
    real = model.generate

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counted)
    assert greedy_tokens(model, inputs, MAX_NEW) == expected
    assert calls == [1]


def test_a_transformers_without_the_loops_helpers_goes_through_generate(built, monkeypatch):
    """The decode loop calls transformers' internal generation helpers; where their signature is
    not the one it was written against (another transformers version), `generate` answers."""
    model, _, _, inputs = built("llava")
    expected = _reference(model, inputs, MAX_NEW)

    real = model.prepare_inputs_for_generation

    def old_style(input_ids, attention_mask=None, **kwargs):  # names no next_sequence_length, cache
        return real(input_ids, attention_mask=attention_mask, **kwargs)  # (generate's own calls still work)

    monkeypatch.setattr(model, "prepare_inputs_for_generation", old_style)
    assert not gen._plain_greedy(model, MAX_NEW)
    assert greedy_tokens(model, inputs, MAX_NEW) == expected


@pytest.mark.parametrize("attr, value", [("min_new_tokens", 6), ("min_length", 1000),
                                         ("encoder_repetition_penalty", 1.5), ("num_beams", 2), ("max_time", 60.0)])
def test_a_config_generate_would_honour_is_not_plain(built, monkeypatch, attr, value):
    """Minimum lengths are built by `generate` only once its special tokens are prepared, and the
    encoder repetition penalty only with the prompt: the check builds them the same way. A beam
    search or a time limit is not a bare argmax either. Each goes through `generate`."""
    model, _, _, inputs = built("llava")
    monkeypatch.setattr(model.generation_config, attr, value)
    assert not gen._plain_greedy(model, MAX_NEW, inputs["input_ids"])
    if attr in ("min_new_tokens", "encoder_repetition_penalty"):  # the ones whose tokens differ here
        assert greedy_tokens(model, inputs, MAX_NEW) == _reference(model, inputs, MAX_NEW)


def test_only_caches_of_keys_and_values_drop_rows(built):
    from transformers import DynamicCache, StaticCache

    model, _, _, inputs = built("llava")
    out = model(**inputs, use_cache=True)
    assert isinstance(out["cache"], DynamicCache) and gen._rows_selectable(out["cache"])
    static = StaticCache(config=model.config.get_text_config(), max_cache_len=64)
    assert not gen._rows_selectable(static)
    assert not gen._rows_selectable(None)


def test_inputs_without_an_attention_mask(built):
    """`generate` makes a mask of ones; so does the loop (positions per row, then rows dropped)."""
    model, processor, prompts, _ = built("llava")
    same = [prompts[0]] * 4  # no padding, so no mask is needed
    inputs = dict(left_padded_inputs(processor, same, _images()[:4]))
    del inputs["attention_mask"]
    assert greedy_tokens(model, inputs, MAX_NEW) == _reference(model, inputs, MAX_NEW)


@pytest.mark.parametrize("family", FAMILIES.names())
def test_an_image_prefix_computed_once_gives_the_same_tokens(built, family):
    """Rows that share an image (here 8 prompts over 4 images) share the prefix up to its last
    image token: computed once per image, it gives `generate`'s tokens. Where the inputs are not
    LLaVA-style (token ids, mask, one image per row) nothing is reused."""
    model, _, _, inputs = built(family)
    prefix = gen.shared_image_prefix(model, inputs)
    if set(inputs) == {"input_ids", "attention_mask", "pixel_values"}:
        assert prefix is not None
        laid_out, cache, size = prefix
        assert cache.get_seq_length() == size and laid_out["input_ids"].shape == inputs["input_ids"].shape
        # each row holds the same tokens, its padding now after the prefix
        for new, old, m in zip(laid_out["input_ids"], inputs["input_ids"], inputs["attention_mask"]):
            assert sorted(new.tolist()) == sorted(old.tolist())
            assert new[:size].tolist() == old[m.bool()][:size].tolist()
    else:
        assert prefix is None
    expected = _reference(model, inputs, MAX_NEW)
    assert greedy_tokens(model, inputs, MAX_NEW, reuse_prefix=True) == expected
    assert greedy_tokens(model, inputs, MAX_NEW, reuse_prefix=False) == expected


def test_no_prefix_is_reused_when_the_images_differ(built):
    model, processor, prompts, _ = built("llava")
    colours = [Image.new("RGB", (SIZE, SIZE), (30 * i, 0, 0)) for i in range(len(prompts))]
    inputs = dict(left_padded_inputs(processor, prompts, colours))
    assert gen.shared_image_prefix(model, inputs) is None  # 8 images for 8 rows: nothing to share
    assert gen.shared_image_prefix(model, inputs, min_share=1.0) is not None


def _llava_on(text_config_cls, processor, like, **text):
    """A tiny LLaVA like `like` whose language model is `text_config_cls(**text)` (random weights)."""
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    tok = processor.tokenizer
    torch.manual_seed(0)
    text_cfg = text_config_cls(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                               pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, **text)
    config = LlavaConfig(vision_config=like.config.vision_config, text_config=text_cfg,
                         image_token_id=like.config.image_token_id, vision_feature_layer=-1,
                         vision_feature_select_strategy=like.config.vision_feature_select_strategy,
                         image_seq_length=like.config.image_seq_length)
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.2)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model


def test_a_sliding_window_keeps_the_whole_prefill():
    """With a sliding window (counted in cache slots), padding moved after the prefix would fill
    the window: nothing is reused, and the tokens stay `generate`'s."""
    from transformers import MistralConfig

    like, processor = fresh_tiny(ModelConfig(family="llava", **CFG), [WORDS], SIZE)
    model = _llava_on(MistralConfig, processor, like, sliding_window=6)
    inputs = dict(left_padded_inputs(processor, [prompt_text(processor, i) for i in INSTRUCTIONS], _images()))
    _with_staggered_eos(model, inputs)
    assert gen._sliding_window(model) and gen.shared_image_prefix(model, inputs) is None
    assert greedy_tokens(model, inputs, MAX_NEW) == _reference(model, inputs, MAX_NEW)
    assert not gen._sliding_window(like)


def test_an_image_after_some_text_shares_its_prefix(built):
    """LLaVA-1.5's template puts text before the image ("USER: <image>\\n..."): the prefix is that
    text and the image, shared by every row on the same image."""
    model, processor, _, _ = built("llava")
    image = processor.tokenizer.image_token if hasattr(processor.tokenizer, "image_token") else "<image>"
    prompts = [f"what {image} {i}" for i in INSTRUCTIONS]  # (raw prompts: the words before the image are the prefix's)
    inputs = dict(left_padded_inputs(processor, prompts, _images()))
    prefix = gen.shared_image_prefix(model, inputs)
    image_tokens = int((inputs["input_ids"][0] == model.config.image_token_id).sum())
    assert prefix is not None and prefix[2] > image_tokens  # the words before the image belong to it
    assert greedy_tokens(model, inputs, MAX_NEW) == _reference(model, inputs, MAX_NEW)


def test_the_same_prompt_and_image_are_answered_once(built, tmp_path, monkeypatch):
    from unmirage.data.records import Sample
    from unmirage.eval.generate import HFGenerator

    model, processor, _, _ = built("llava")
    for i, im in enumerate(_images()[:3]):
        im.save(tmp_path / f"{i}.png")
    samples = [Sample(id=str(n), image=f"{i}.png", group="safe_safes", instruction=INSTRUCTIONS[q])
               for n, (i, q) in enumerate([(0, 0), (1, 1), (0, 0), (2, 1), (1, 1), (0, 3)])]
    seen = []
    real = gen.generate_texts

    def counting(model, processor, prompts, images, max_new_tokens):
        seen.append(len(prompts))
        return real(model, processor, prompts, images, max_new_tokens)

    monkeypatch.setattr(gen, "generate_texts", counting)
    generator = HFGenerator(model, processor, tmp_path, MAX_NEW)
    answers = generator.generate(samples)
    assert seen == [4]  # (0, 0) and (1, 1) twice each: four distinct queries
    one_by_one = [generator.generate([s])[0] for s in samples]
    assert answers == one_by_one
    assert answers[0] == answers[2] and answers[1] == answers[4]
