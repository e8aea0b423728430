"""The TensorFlow checkpoint reader (no TensorFlow): checkpoints written by the test, and the real musicnn ones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from wheel_testkit import musicnn_tf_variables, real_wheel, tf_checkpoint

from mertbench.errors import ModelError
from mertbench.models import tf_checkpoint as tfc
from mertbench.models.tf_checkpoint import load_checkpoint, read_index, read_tensors

FIXTURE = Path(__file__).with_name("fixtures") / "musicnn_reference.npz"
WHEEL = "musicnn-0.1.0-py3-none-any.whl"


def _write(tmp_path: Path, tensors: dict, **kw) -> Path:
    index, data = tf_checkpoint(tensors, **kw)
    prefix = tmp_path / "ckpt" / "model"
    prefix.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{prefix}.index").write_bytes(index)
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)
    return prefix


@pytest.mark.parametrize("entries_per_block,restart_interval", [(1, 1), (5, 3), (1000, 16)])
def test_reads_back_what_it_wrote(tmp_path, entries_per_block, restart_interval):
    rng = np.random.default_rng(0)
    tensors = {**musicnn_tf_variables(0),
               "f64": rng.standard_normal((3, 4)), "i32": np.arange(6, dtype=np.int32).reshape(2, 3),
               "empty": np.zeros((0, 5), np.float32), "a/b/c/very/long/shared/prefix/name": np.ones(3, np.float32)}
    prefix = _write(tmp_path, tensors, entries_per_block=entries_per_block, restart_interval=restart_interval)
    got = load_checkpoint(prefix)
    assert set(got) == set(tensors)
    for name, arr in tensors.items():
        assert got[name].dtype == arr.dtype and got[name].shape == arr.shape and np.array_equal(got[name], arr), name
    num_shards, entries = read_index(Path(f"{prefix}.index").read_bytes())
    assert num_shards == 1 and entries["conv2d_5/kernel"].shape == (7, 561, 1, 64)


def test_damaged_files_are_errors_not_crashes(tmp_path):
    tensors = {"w": np.ones((4, 4), np.float32), "b": np.zeros(4, np.float32)}
    index, data = tf_checkpoint(tensors)
    with pytest.raises(ValueError, match="bad table magic"):
        read_tensors(index[:-1] + b"\0", [data])
    with pytest.raises(ValueError, match="does not fit the data file"):
        read_tensors(index, [data[:-8]])
    with pytest.raises(ValueError, match="too short"):
        read_tensors(index[:10], [data])
    # the first data block's trailer: its handle is the first entry of the index block (footer -> index handle)
    footer = index[-48:]
    _, pos = tfc._varint(footer, 0)
    _, pos = tfc._varint(footer, pos)
    idx_off, pos = tfc._varint(footer, pos)
    idx_size, _ = tfc._varint(footer, pos)
    handle = tfc._block(index, idx_off, idx_size)[0][1]
    off, p = tfc._varint(handle, 0)
    size, _ = tfc._varint(handle, p)
    compressed = bytearray(index)
    compressed[off + size] = 1  # snappy
    with pytest.raises(ValueError, match="compressed table block"):
        read_tensors(bytes(compressed), [data])
    prefix = _write(tmp_path, tensors)
    Path(f"{prefix}.data-00000-of-00001").unlink()
    with pytest.raises(ModelError, match="cannot read the TensorFlow checkpoint"):
        load_checkpoint(prefix)


@pytest.mark.skipif(real_wheel(WHEEL) is None, reason=f"the real {WHEEL} is not in $MERTBENCH_WHEELS or /tmp")
@pytest.mark.parametrize("folder", ["MTT_musicnn", "MSD_musicnn"])
def test_real_checkpoints_read_as_tensorflow_reads_them(folder):
    """Names, sizes and sums of every variable equal TensorFlow's own reader's (recorded in the fixture)."""
    import zipfile

    with zipfile.ZipFile(real_wheel(WHEEL)) as zf:
        tensors = read_tensors(zf.read(f"musicnn/{folder}/.index"), [zf.read(f"musicnn/{folder}/.data-00000-of-00001")])
    ref = np.load(FIXTURE)
    names = [str(n) for n in ref[f"{folder}/var_names"]]
    assert sorted(tensors) == names and len(names) == 150
    for name, size, total in zip(names, ref[f"{folder}/var_sizes"], ref[f"{folder}/var_sums"]):
        assert tensors[name].size == size and np.isclose(tensors[name].sum(dtype=np.float64), total, rtol=1e-9, atol=1e-9)
    assert np.array_equal(tensors["conv2d_5/kernel"][:, :8, 0, :8], ref[f"{folder}/conv2d_5_kernel_slice"])
