"""Heads and loss: cosine logits, fairseq NCE equivalence, term switches, masked-frame normalisation."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mertbench.pretrain.heads import PretrainOutput
from mertbench.pretrain.losses import cosine_logits, pretraining_loss


def _out(m=40, d=8, k=2, bins=336, seed=0):
    g = torch.Generator().manual_seed(seed)
    proj = [torch.randn(m, d, generator=g, requires_grad=True) for _ in range(k)]
    cqt = torch.randn(m, bins, generator=g, requires_grad=True)
    pen = torch.tensor(0.3, requires_grad=True)
    embs = [torch.rand(c, d, generator=g, requires_grad=True) for c in (14, 9)[:k]]
    return PretrainOutput(proj, cqt, pen, m), embs, g


def test_cosine_logits_equal_torch_cosine_similarity():
    p, e = torch.randn(7, 5), torch.randn(11, 5)
    ref = F.cosine_similarity(p[:, None, :], e[None, :, :], dim=-1) / 0.1
    assert torch.allclose(cosine_logits(p, e, 0.1), ref, atol=1e-5)


def test_cross_entropy_equals_fairseq_nce_construction():
    """fairseq: logits = [cos(pos), cos(all classes) with the positive's copy = -inf], target 0."""
    out, embs, g = _out(k=1)
    targets = torch.randint(0, 10, (40, 1), generator=g)
    terms = pretraining_loss(out, label_embs=embs, targets=targets, cqt_target=None, num_special=4,
                             pred_weight=1.0, cqt_weight=0.0, pen_weight=0.0)
    proj, e = out.proj_masked[0], embs[0]
    tgt = targets[:, 0] + 4
    pos = F.cosine_similarity(proj, e[tgt], dim=-1)[:, None]
    neg = F.cosine_similarity(proj[:, None], e[None], dim=-1)
    neg[torch.arange(40), tgt] = float("-inf")
    logits = torch.cat([pos, neg], dim=1) / 0.1
    ref = F.cross_entropy(logits, torch.zeros(40, dtype=torch.long), reduction="sum")
    assert torch.allclose(terms.total, ref, rtol=1e-5)
    assert terms.ce[0] == float(terms.total.detach())


def test_total_combines_terms_with_weights_and_masked_count():
    out, embs, g = _out()
    targets = torch.randint(0, 5, (40, 2), generator=g)
    cqt_t = torch.randn(40, 336, generator=g)
    full = pretraining_loss(out, label_embs=embs, targets=targets, cqt_target=cqt_t,
                            pred_weight=1.0, cqt_weight=1.0, pen_weight=10.0)
    mse = F.mse_loss(out.cqt_masked, cqt_t).detach()
    expected = sum(full.ce) + 40 * (mse + 10 * 0.3)
    assert abs(float(full.total.detach()) - float(expected)) < 1e-3 * abs(float(expected))
    assert len(full.ce) == 2 and abs(full.cqt_mse - float(mse)) < 1e-6
    # per-masked-frame objective = sum of CEs / M + MSE + 10 * pen
    assert abs(float(full.total.detach()) / 40 - (sum(full.ce) / 40 + float(mse) + 3.0)) < 1e-3


def test_each_term_can_be_switched_off_and_gets_gradients():
    out, embs, g = _out()
    targets = torch.randint(0, 5, (40, 2), generator=g)
    cqt_t = torch.randn(40, 336, generator=g)
    only_cqt = pretraining_loss(out, label_embs=embs, targets=targets, cqt_target=cqt_t,
                                pred_weight=0.0, cqt_weight=1.0, pen_weight=0.0)
    assert only_cqt.ce == [] and abs(float(only_cqt.total.detach()) - 40 * only_cqt.cqt_mse) < 1e-3
    only_cqt.total.backward()
    assert out.cqt_masked.grad is not None and out.proj_masked[0].grad is None and out.features_pen.grad is None
    out, embs, g = _out(seed=1)
    only_pen = pretraining_loss(out, label_embs=embs, targets=None, cqt_target=None, pen_weight=10.0)
    assert abs(float(only_pen.total.detach()) - 40 * 10 * 0.3) < 1e-4
    only_pen.total.backward()
    assert out.features_pen.grad is not None
    out, embs, g = _out(seed=2)
    only_pred = pretraining_loss(out, label_embs=embs, targets=targets, cqt_target=None, pen_weight=0.0)
    only_pred.total.backward()
    assert all(p.grad is not None for p in out.proj_masked) and all(e.grad is not None for e in embs)


def test_pretraining_model_heads_on_masked_frames_only():
    from mertbench.models.mert import MertConfig, MertModel
    from mertbench.pretrain.heads import MertPretrainingModel

    cfg = MertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    model = MertPretrainingModel(MertModel(cfg), 16, (1024,) * 8, final_dim=4, cqt_bins=336)
    assert model.label_embs_concat.shape == (8 * 1028, 4)  # fairseq: 1024 codes + 4 specials per codebook
    assert 0.0 <= float(model.label_embs_concat.min()) and float(model.label_embs_concat.max()) < 1.0
    wav = torch.randn(2, 8000)
    t = model.encoder.num_frames(8000)
    mask = torch.zeros(2, t, dtype=torch.bool)
    mask[0, 3:8] = True
    mask[1, 10:12] = True
    heads, none = model.heads(wav, mask)
    assert none is None and len(heads.proj_masked) == 8 and heads.proj_masked[0].shape == (7, 4)
    assert heads.cqt_masked.shape == (7, 336)
    labels, cqt = torch.randint(0, 1024, (2, t, 8)), torch.rand(2, t, 336)
    terms = model(wav, mask, labels, cqt)
    assert terms.num_masked == 7 and len(terms.ce) == 8 and terms.ce_nomask == []
    terms.total.backward()
    assert model.encoder.masked_spec_embed.grad is not None and model.cqt_head.weight.grad is not None


def test_unmasked_frame_terms_are_optional_and_added():
    from mertbench.models.mert import MertConfig, MertModel
    from mertbench.pretrain.heads import MertPretrainingModel

    cfg = MertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     conv_dim=(8,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2,
                     hidden_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0, layerdrop=0.0)
    torch.manual_seed(0)
    base = MertPretrainingModel(MertModel(cfg), 16, (10,), final_dim=4, cqt_bins=336)
    both = MertPretrainingModel(MertModel(cfg), 16, (10,), final_dim=4, cqt_bins=336,
                                loss_weights={"pred_nomask": 0.5, "cqt_nomask": 2.0})
    both.load_state_dict(base.state_dict())
    wav = torch.randn(2, 8000)
    t = base.encoder.num_frames(8000)
    mask = torch.rand(2, t, generator=torch.Generator().manual_seed(1)) < 0.5
    labels, cqt = torch.randint(0, 10, (2, t, 1)), torch.rand(2, t, 336)
    a, b = base(wav, mask, labels, cqt), both(wav, mask, labels, cqt)
    u = int((~mask).sum())
    assert b.num_unmasked == u and len(b.ce_nomask) == 1
    expected = float(a.total) + 0.5 * b.ce_nomask[0] + 2.0 * u * b.cqt_mse_nomask
    assert abs(float(b.total.detach()) - expected) < 1e-3 * expected
