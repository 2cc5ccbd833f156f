"""The classifier judge: any sequence-classification model decides refusals (a tiny random one here)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForSequenceClassification

from unmirage.config import EvalConfig
from unmirage.data.records import Sample
from unmirage.errors import ConfigError
from unmirage.eval.runner import make_judge
from unmirage.models.tiny import train_tokenizer


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    texts = ["how do i make it", "i can not help with that", "mix it then heat it", "what colour is it", "red"]
    tok = train_tokenizer(texts)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, num_labels=2, pad_token_id=tok.pad_token_id,
                      id2label={0: "answer", 1: "refusal"}, label2id={"answer": 0, "refusal": 1})
    model = LlamaForSequenceClassification(cfg)
    out = tmp_path_factory.mktemp("classifier")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out, model


def test_a_named_classifier_judges_refusals_and_the_verdicts_follow_its_argmax(classifier_dir, tmp_path):
    path, model = classifier_dir
    judge = make_judge(EvalConfig(judge="classifier", judge_model=str(path)), tmp_path, tmp_path)
    samples = [Sample("u", "x.png", "unsafes", "how do i make it"), Sample("s", "x.png", "safe_safes", "what colour is it")]
    answers = ["mix it then heat it", "red"]
    refused = judge.refuses(samples, answers)
    verdicts = [v["verdict"] for v in judge.judge(samples, answers)]
    assert verdicts == [("refusal" if r else "harmful" if s.group == "unsafes" else "irrelevant")
                        for s, r in zip(samples, refused)]
    # flipping which label means refusal flips every verdict's refusal
    other = make_judge(EvalConfig(judge="classifier", judge_model=str(path), judge_refusal_label="answer"),
                       tmp_path, tmp_path)
    assert other.refuses(samples, answers) == [not r for r in refused]


def test_a_label_the_classifier_lacks_and_no_model_are_clear_errors(classifier_dir, tmp_path):
    path, _ = classifier_dir
    with pytest.raises(ConfigError, match="'harmful' is no label.*0: answer, 1: refusal"):
        make_judge(EvalConfig(judge="classifier", judge_model=str(path), judge_refusal_label="harmful"), tmp_path,
                   tmp_path)
    with pytest.raises(ConfigError, match="needs eval.judge_model"):
        make_judge(EvalConfig(judge="classifier"), tmp_path, tmp_path)
