"""Teachers: k-means equals scikit-learn, product/parallel labels, the EnCodec offline fallback."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import melody

from mertbench.pretrain.teachers.features import chroma_fold_matrix, chroma_from_cqt, log_mel, mfcc_deltas


def test_feature_shapes_follow_the_75hz_grid():
    wav = torch.from_numpy(melody(1.0, seed=1))
    t = 24000 // 320 + 1
    assert mfcc_deltas(wav).shape == (t, 39)
    assert log_mel(wav).shape == (t, 128)
    cqt = torch.rand(t, 336)
    ch = chroma_from_cqt(cqt)
    assert ch.shape == (t, 12) and np.allclose(ch.max(1), 1.0)


def test_chroma_fold_maps_quarter_tones_to_nearest_semitone():
    w = chroma_fold_matrix()
    assert w[0, 0] == 1 and w[4, 1] == 1 and w[48, 0] == 1  # C1, C#1, C2
    assert w[1, 0] == 1 and w[3, 1] == 1  # +25 cents -> C, +75 cents -> C#
    assert w[2, 0] == 0.5 and w[2, 1] == 0.5  # exactly between
    assert np.allclose(w.sum(1), 1.0)


def test_kmeans_labels_equal_sklearn_predict():
    from sklearn.cluster import MiniBatchKMeans

    from mertbench.pretrain.teachers.kmeans import KMeansTeacher

    teacher = KMeansTeacher(features="mfcc", clusters=(12,), n_init=1, max_frames=10_000, seed=0)
    wavs = [torch.from_numpy(melody(2.0, seed=s)) for s in range(3)]
    teacher.fit((w, None) for w in wavs)
    feats = mfcc_deltas(wavs[0])
    km = MiniBatchKMeans(n_clusters=12, n_init=1, random_state=0, batch_size=10000).fit(
        np.concatenate([mfcc_deltas(w) for w in wavs]))
    km.cluster_centers_ = teacher.centers[0].astype(km.cluster_centers_.dtype)  # same centres -> same rule
    assert np.array_equal(teacher.labels(wavs[0])[:, 0], km.predict(feats.astype(np.float32)))


def test_kmeans_product_and_parallel_labels_and_reuse(tmp_path):
    from mertbench.pretrain.cqt import CQTTarget
    from mertbench.pretrain.teachers.kmeans import KMeansTeacher

    cqt = CQTTarget()
    wavs = [torch.from_numpy(melody(2.0, seed=s)) for s in range(3)]
    pairs = [(w, cqt.frames_first(w[None])[0]) for w in wavs]
    par = KMeansTeacher(clusters=(7, 5), combine="parallel", n_init=1, seed=0)
    par.fit(iter(pairs))
    prod = KMeansTeacher(clusters=(7, 5), combine="product", n_init=1, seed=0)
    prod.fit(iter(pairs))
    lp, lq = par.labels(*pairs[1]), prod.labels(*pairs[1])
    assert lp.shape[1] == 2 and lq.shape[1] == 1 and prod.codebook_sizes == (35,)
    assert np.array_equal(lq[:, 0], lp[:, 0] * 5 + lp[:, 1])
    prod.save(tmp_path / "km")
    again = KMeansTeacher(clusters=(7, 5), combine="product")
    assert again.load(tmp_path / "km") and np.array_equal(again.labels(*pairs[1]), lq)
    assert again.identity() == prod.identity()
    with pytest.raises(Exception, match="clusters"):
        KMeansTeacher(clusters=(9, 5)).load(tmp_path / "km")


def test_encodec_offline_fallback_is_named_deterministic_and_aligned(tmp_path):
    from mertbench.pretrain.teachers.encodec import FALLBACK_NAME, EncodecTeacher

    a = EncodecTeacher(source="random", seed=0)
    assert a.name == FALLBACK_NAME == "encodec-random (offline fallback)"
    assert a.codebook_sizes == (1024,) * 8 and a.is_fallback
    wavs = [torch.from_numpy(melody(1.5, seed=s)) for s in range(2)]
    a.fit((w, None) for w in wavs)
    n = 24000 + 100  # not a multiple of 320
    wav = torch.from_numpy(melody(2.0, seed=5))[:n]
    lab = a.labels(wav)
    assert lab.shape == (int(np.ceil(n / 320)), 8) and lab.min() >= 0 and lab.max() < 1024
    assert len(np.unique(lab[:, 0])) > 5  # the standardised latents do not collapse onto one code
    a.save(tmp_path / "t")
    b = EncodecTeacher(source="random", seed=0)
    assert b.load(tmp_path / "t")
    assert np.array_equal(b.labels(wav), lab) and b.identity() == a.identity()
    assert "offline fallback" in a.identity()["teacher"]
    c = EncodecTeacher(source="random", seed=1)
    assert c.identity()["weights"] != a.identity()["weights"]


def test_encodec_missing_local_weights_is_a_clear_error(tmp_path):
    from mertbench.errors import ModelError
    from mertbench.pretrain.teachers.encodec import EncodecTeacher

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="encodec_source=random"):
        EncodecTeacher(source=str(tmp_path / "empty"))
