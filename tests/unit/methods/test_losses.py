"""Loss maths against hand-computed values."""

import math

import pytest
import torch

from unmirage.methods.losses import (IGNORE, answer_lengths, answer_state_mask, dpo, kl, masked_mse, nll, npo,
                                     npo_tokens, rmu_forget, rmu_retain, sequence_logprob, simnpo, token_logprobs)


def _log_softmax(row: list[float]) -> list[float]:
    z = math.log(sum(math.exp(v) for v in row))
    return [v - z for v in row]


# batch 1, seq 3, vocab 3: position t predicts the token at t+1
LOGITS = torch.tensor([[[1.0, 2.0, 0.0],
                        [0.0, 0.0, 3.0],
                        [5.0, 5.0, 5.0]]])


def test_token_logprobs_shift_and_mask():
    labels = torch.tensor([[7, 1, 2]])  # label 0 is never scored (nothing predicts it)
    picked, mask = token_logprobs(LOGITS, labels)
    assert picked.shape == (1, 2) and mask.tolist() == [[True, True]]
    exp = [_log_softmax([1, 2, 0])[1], _log_softmax([0, 0, 3])[2]]
    assert picked[0].tolist() == pytest.approx(exp, abs=1e-6)

    labels = torch.tensor([[IGNORE, IGNORE, 2]])
    picked, mask = token_logprobs(LOGITS, labels)
    assert mask.tolist() == [[False, True]]
    assert picked[0, 0].item() == 0.0
    assert picked[0, 1].item() == pytest.approx(_log_softmax([0, 0, 3])[2], abs=1e-6)


def test_sequence_logprob_and_nll():
    logits = torch.cat([LOGITS, LOGITS.flip(-1)])  # batch 2
    labels = torch.tensor([[0, 1, 2], [0, IGNORE, 0]])
    a1, a2 = _log_softmax([1, 2, 0])[1], _log_softmax([0, 0, 3])[2]
    b2 = _log_softmax([3, 0, 0])[0]  # second row, position 1 predicts label 0 (only unmasked one)
    seq = sequence_logprob(logits, labels)
    assert seq.tolist() == pytest.approx([a1 + a2, b2], abs=1e-6)
    # nll averages over all answer tokens of the batch (3 tokens), not over sequences
    assert nll(logits, labels).item() == pytest.approx(-(a1 + a2 + b2) / 3, abs=1e-6)


def test_nll_all_masked_is_zero():
    labels = torch.full((1, 3), IGNORE)
    assert nll(LOGITS, labels).item() == 0.0


def test_nll_matches_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.randint(0, 7, (2, 5))
    labels[0, :2] = IGNORE
    ref = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1),
                                            ignore_index=IGNORE)
    assert nll(logits, labels).item() == pytest.approx(ref.item(), abs=1e-5)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_npo_value():
    # logp=-3, ref=-2, beta=0.5: -(2/β)·log σ(-β·(-1)) = -(2/0.5)·log σ(0.5)
    got = npo(torch.tensor([-3.0]), torch.tensor([-2.0]), beta=0.5).item()
    assert got == pytest.approx(-(2 / 0.5) * math.log(_sigmoid(0.5)), abs=1e-6)
    # a batch: the mean over sequences
    got = npo(torch.tensor([-3.0, -1.0]), torch.tensor([-2.0, -2.0]), beta=0.5).item()
    exp = (-(2 / 0.5) * math.log(_sigmoid(0.5)) - (2 / 0.5) * math.log(_sigmoid(-0.5))) / 2
    assert got == pytest.approx(exp, abs=1e-6)


def test_npo_sign():
    beta = 0.5
    at_ref = (2 / beta) * math.log(2)
    eq = npo(torch.tensor([-2.0]), torch.tensor([-2.0]), beta).item()
    assert eq == pytest.approx(at_ref, abs=1e-6)
    # forgetting more (logp below ref) lowers the loss; remembering more raises it
    assert npo(torch.tensor([-4.0]), torch.tensor([-2.0]), beta).item() < at_ref
    assert npo(torch.tensor([-1.0]), torch.tensor([-2.0]), beta).item() > at_ref
    # gradient pushes logp down (a positive gradient w.r.t. logp)
    logp = torch.tensor([-2.0], requires_grad=True)
    npo(logp, torch.tensor([-2.0]), beta).backward()
    assert logp.grad.item() == pytest.approx(2 * _sigmoid(0.0), abs=1e-6)  # = 1 at logp = ref


def test_masked_mse_hand_values():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]])
    target = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # per token: (1+4)/2 = 2.5, (4+9)/2 = 6.5; mean over the 2 masked-in tokens
    assert masked_mse(hidden, target, mask).item() == pytest.approx((2.5 + 6.5) / 2)
    hidden2 = hidden.clone()
    hidden2[0, 2] = torch.tensor([-7.0, 42.0])
    assert masked_mse(hidden2, target, mask).item() == pytest.approx((2.5 + 6.5) / 2)
    assert masked_mse(hidden, target, torch.zeros(1, 3)).item() == 0.0


def test_rmu_forget_broadcast_direction():
    hidden = torch.tensor([[[1.0, 0.0], [0.0, 3.0]], [[9.0, 9.0], [2.0, 2.0]]])
    direction = torch.tensor([0.6, 0.8])
    coeff = 5.0  # c·u = (3, 4)
    mask = torch.tensor([[1, 1], [0, 1]], dtype=torch.bool)
    per = [((1 - 3) ** 2 + (0 - 4) ** 2) / 2, ((0 - 3) ** 2 + (3 - 4) ** 2) / 2, ((2 - 3) ** 2 + (2 - 4) ** 2) / 2]
    exp = sum(per) / 3
    assert rmu_forget(hidden, direction, coeff, mask).item() == pytest.approx(exp)
    hidden[1, 0] = torch.tensor([-50.0, 50.0])  # masked out: no change
    assert rmu_forget(hidden, direction, coeff, mask).item() == pytest.approx(exp)


def test_rmu_retain():
    hidden = torch.tensor([[[1.0, 1.0, 1.0], [2.0, 0.0, 2.0]]])
    frozen = torch.tensor([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    assert rmu_retain(hidden, frozen, torch.tensor([[1, 1]])).item() == pytest.approx((0 + 8 / 3) / 2)
    assert rmu_retain(hidden, frozen, torch.tensor([[1, 0]])).item() == 0.0
    assert rmu_retain(hidden, frozen, torch.tensor([[0, 1]])).item() == pytest.approx(8 / 3)


def test_answer_lengths_count_scored_tokens():
    labels = torch.tensor([[IGNORE, IGNORE, 4, 5], [IGNORE, 3, 3, IGNORE], [IGNORE] * 4])
    assert answer_lengths(labels).tolist() == [2, 2, 0]


def test_simnpo_by_hand():
    logp = torch.tensor([-6.0, -1.0])
    length = torch.tensor([3, 1])
    beta, gamma = 2.0, 0.5
    # -(2/β)·log σ(-(β/|y|)·logp - γ): (β/|y|)·logp = -4 and -2 → arguments 3.5 and 1.5
    exp = sum(-(2 / beta) * math.log(1 / (1 + math.exp(-x))) for x in (3.5, 1.5)) / 2
    assert simnpo(logp, length, beta, gamma).item() == pytest.approx(exp, abs=1e-6)
    # length normalisation: the same per-token likelihood gives the same loss at any length
    a = simnpo(torch.tensor([-2.0]), torch.tensor([1]), beta, 0.0)
    b = simnpo(torch.tensor([-20.0]), torch.tensor([10]), beta, 0.0)
    assert a.item() == pytest.approx(b.item(), abs=1e-6)
    # the margin γ asks for more forgetting (a higher loss at the same likelihood); making the
    # forget answer less likely lowers the loss (the sign is right)
    assert simnpo(logp, length, beta, 1.0) > simnpo(logp, length, beta, 0.0)
    assert simnpo(logp - 1, length, beta, gamma) < simnpo(logp, length, beta, gamma)


def test_dpo_by_hand():
    chosen, rejected = torch.tensor([-3.0, -1.0]), torch.tensor([-2.0, -4.0])
    ref_c, ref_r = torch.tensor([-4.0, -1.0]), torch.tensor([-2.5, -2.0])
    beta = 0.5
    # margins: (-3+4) - (-2+2.5) = 0.5;  (-1+1) - (-4+2) = 2
    exp = sum(-math.log(1 / (1 + math.exp(-beta * m))) for m in (0.5, 2.0)) / 2
    assert dpo(chosen, rejected, ref_c, ref_r, beta).item() == pytest.approx(exp, abs=1e-6)
    # at the reference the loss is log 2 whatever β
    assert dpo(ref_c, ref_r, ref_c, ref_r, 3.0).item() == pytest.approx(math.log(2), abs=1e-6)
    # raising the chosen answer's likelihood lowers the loss (the sign is right)
    assert dpo(chosen + 1, rejected, ref_c, ref_r, beta) < dpo(chosen, rejected, ref_c, ref_r, beta)


def test_kl_by_hand():
    ref = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0], [9.0, 9.0]]])  # p_ref = (1/4, 3/4), (1/2, 1/2)
    cur = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)], [1.0, 2.0]]])  # p_θ = (1/2, 1/2), (1/4, 3/4)
    labels = torch.tensor([[IGNORE, 1, 0]])  # positions 0 and 1 predict answer tokens; 2 predicts nothing
    k0 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    k1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl(cur, ref, labels).item() == pytest.approx((k0 + k1) / 2, abs=1e-6)
    labels = torch.tensor([[IGNORE, IGNORE, 0]])  # only position 1 scored
    assert kl(cur, ref, labels).item() == pytest.approx(k1, abs=1e-6)
    assert kl(ref, ref, labels).item() == pytest.approx(0.0, abs=1e-7)


def test_answer_state_mask_marks_the_positions_that_predict_answer_tokens():
    labels = torch.tensor([[IGNORE, IGNORE, IGNORE, 7, 8, 9, IGNORE],    # answer at 3..5, then padding
                           [IGNORE, IGNORE, 5, 6, IGNORE, IGNORE, IGNORE]])
    mask = answer_state_mask(labels)
    assert mask.tolist() == [[False, False, True, True, True, False, False],
                             [False, True, True, False, False, False, False]]


def test_npo_tokens_by_hand():
    beta = 0.5
    term = lambda d: -(2 / beta) * math.log(_sigmoid(-beta * d))  # noqa: E731
    logp = torch.tensor([[-1.0, -3.0, 0.0], [-2.0, 0.0, 0.0]])
    ref = torch.tensor([[-1.0, -1.0, 5.0], [-1.0, 9.0, 9.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    # per sequence: the sum of its tokens' terms; the masked entries do not count
    exp = ((term(0.0) + term(-2.0)) + term(-1.0)) / 2
    assert npo_tokens(logp, ref, mask, beta).item() == pytest.approx(exp, abs=1e-6)
    # one-token answers: token-level NPO is sequence-level NPO
    one = torch.tensor([[True], [True]])
    assert npo_tokens(logp[:, :1], ref[:, :1], one, beta).item() == pytest.approx(
        npo(logp[:, 0], ref[:, 0], beta).item(), abs=1e-6)


def test_npo_tokens_keeps_pushing_a_token_left_at_the_reference():
    """Sequence-level NPO weighs each token by the answer's whole log-ratio: once one token is far
    below π_ref, a token still at π_ref gets almost no push. Token-level NPO pushes it at weight 1."""
    beta = 0.5
    logp = torch.tensor([[-30.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-2.0, -2.0]])
    mask = torch.tensor([[True, True]])
    npo_tokens(logp, ref, mask, beta).backward()
    assert logp.grad[0, 1].item() == pytest.approx(1.0, abs=1e-6)  # 2·σ(0)
    seq = logp.detach().clone().requires_grad_(True)
    npo(seq.sum(-1), ref.sum(-1), beta).backward()
    assert seq.grad[0, 1].item() == pytest.approx(2 * _sigmoid(beta * -28.0), abs=1e-9)
    assert seq.grad[0, 1].item() < 1e-5
