"""transformers audio encoders and EnCodec behind the model contract (tiny random models saved to folders)."""
from __future__ import annotations

import pytest
import torch

import mertbench
from mertbench.errors import ModelError
from mertbench.models import validate_encoder
from mertbench.models.hf_audio import EncodecEncoder, HFAudioEncoder
from mertbench.models.mert import save_pretrained

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7)


def _save(tmp_path, model, *, normalize: bool, mask: bool):
    from transformers import Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():  # non-trivial norms/biases
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(tmp_path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=normalize, return_attention_mask=mask).save_pretrained(tmp_path)
    return model.eval()


def _build(kind: str):
    import transformers as tf

    if kind == "hubert":
        return tf.HubertModel(tf.HubertConfig(**SMALL, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                              conv_bias=False)), False
    if kind == "wav2vec2":  # layer-norm front end, pre-LN ("large"-style): attention mask is used
        return tf.Wav2Vec2Model(tf.Wav2Vec2Config(**SMALL, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                                  feat_extract_norm="layer", do_stable_layer_norm=True,
                                                  conv_bias=True)), True
    if kind == "data2vec-audio":
        return tf.Data2VecAudioModel(tf.Data2VecAudioConfig(**SMALL, num_conv_pos_embedding_groups=2,
                                                            conv_pos_kernel_size=5)), True
    return tf.WavLMModel(tf.WavLMConfig(**SMALL, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                        num_buckets=16, max_bucket_distance=40)), False


@pytest.mark.parametrize("kind", ["hubert", "wav2vec2", "data2vec-audio", "wavlm"])
def test_transformers_folder_matches_direct_call(tmp_path, kind):
    model, mask = _build(kind)
    model = _save(tmp_path, model, normalize=not mask, mask=mask)
    enc = mertbench.load_model(str(tmp_path))
    assert isinstance(enc, HFAudioEncoder)
    assert (enc.sample_rate, enc.frame_rate, enc.num_layers, enc.dim) == (16000, 50.0, 3, 32)
    assert enc.normalize == (None if mask else "zmuv") and enc.use_attention_mask == mask
    wav = torch.randn(2, 16000)
    with torch.inference_mode():
        out = enc(wav)
        direct = model(wav, attention_mask=torch.ones_like(wav, dtype=torch.long) if mask else None,
                       output_hidden_states=True)
    states = list(direct.hidden_states)
    if getattr(model.config, "do_stable_layer_norm", False):
        states[-1] = direct.last_hidden_state  # MERT / transformers-4 convention
    assert torch.allclose(out, torch.stack(states), atol=1e-6)
    assert out.shape == (3, 2, enc.num_frames(16000), 32)
    # variable lengths: every item equals its unbatched output
    lengths = torch.tensor([16000, 9999])
    with torch.inference_mode():
        batch = enc(wav * (torch.arange(16000)[None] < lengths[:, None]), lengths)
        alone = enc(wav[1:, :9999])
    t = enc.num_frames(9999)
    assert float((batch[:, 1, :t] - alone[:, 0]).abs().max()) < 1e-4
    assert batch[:, 1, t:].abs().sum().item() == 0.0
    if kind == "hubert":
        assert validate_encoder(enc).ok


def test_mert_folder_through_transformers_matches_ours(tmp_path, tiny_mert):
    """``hf-audio`` loads a MERT folder into transformers HubertModel: a reference for our encoder."""
    save_pretrained(tiny_mert.model, tmp_path, normalize=True)
    ref = mertbench.load_model("hf-audio", model=str(tmp_path))
    ours = mertbench.load_model(str(tmp_path))
    assert isinstance(ref, HFAudioEncoder) and type(ours).__name__ == "MertEncoder"
    assert (ref.sample_rate, ref.frame_rate, ref.num_layers, ref.normalize) == (24000, 75.0, 3, "zmuv")
    wav = torch.randn(2, 12000)
    with torch.inference_mode():
        assert float((ref(wav) - ours(wav)).abs().max()) < 1e-4


def _encodec(tmp_path):
    import transformers as tf

    cfg = tf.EncodecConfig(hidden_size=16, num_filters=4, num_residual_layers=1, codebook_size=64,
                           target_bandwidths=[0.9, 1.8], num_lstm_layers=1)
    model = tf.EncodecModel(cfg)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in model.quantizer.layers:  # codebooks are zero buffers until trained
            layer.codebook.embed.copy_(torch.randn(layer.codebook.embed.shape, generator=gen))
    model.save_pretrained(tmp_path)
    return model.eval()


def test_encodec_latents_and_codes(tmp_path):
    model = _encodec(tmp_path)
    lat = mertbench.load_model(str(tmp_path))  # directory loader: EnCodec folder -> latents
    assert isinstance(lat, EncodecEncoder) and lat.mode == "latents"
    assert (lat.sample_rate, lat.frame_rate, lat.num_layers, lat.dim) == (24000, 75.0, 1, 16)
    codes_enc = mertbench.load_model("encodec-codes", model=str(tmp_path), bandwidth=1.8)
    assert codes_enc.n_q == 4 and codes_enc.num_layers == 4 and codes_enc.dim == 16
    wav = torch.randn(2, 24000 + 100)
    with torch.inference_mode():
        h = lat(wav)
        ref = model.encoder(wav[:, None])
        assert h.shape == (1, 2, lat.num_frames(wav.shape[1]), 16) == (1, 2, 76, 16)
        assert torch.allclose(h[0], ref.transpose(1, 2))
        codes = codes_enc.codes(wav)
        ref_codes = model.encode(wav[:, None], bandwidth=1.8).audio_codes[0]
        assert torch.equal(codes, ref_codes)
        layers = codes_enc(wav)
        full = model.quantizer.decode(codes.transpose(0, 1))
        assert torch.allclose(layers[-1], full.transpose(1, 2), atol=1e-6)
        first = model.quantizer.decode(codes.transpose(0, 1)[:1])
        assert torch.allclose(layers[0], first.transpose(1, 2), atol=1e-6)
    assert validate_encoder(lat).ok
    with pytest.raises(ModelError, match="bandwidth 6.0"):
        mertbench.load_model("encodec-codes", model=str(tmp_path), bandwidth=6.0)


def test_unknown_transformers_model_is_rejected(tmp_path):
    import transformers as tf

    tf.BertModel(tf.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(tmp_path)
    with pytest.raises(ModelError, match="not a checkpoint folder mertbench can read"):
        mertbench.load_model(str(tmp_path))
    with pytest.raises(ModelError, match="model type 'bert' is not a supported audio encoder"):
        mertbench.load_model("hf-audio", model=str(tmp_path))
