"""Tests for mnist_prep.py on tiny synthetic IDX files, plus one on the real MNIST files."""

import gzip
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

import mnist_prep

COUNTS = {"train": 3, "valid": 2, "test": 2}
KEYS = ["X_train", "y_train", "X_valid", "y_valid", "X_test", "y_test"]
REAL_SOURCE = Path(os.environ.get("MNIST_SOURCE") or REPO.parent / "shared" / "mnist")


def idx(array, magic):
    """IDX bytes for a uint8 array: magic, the dimensions, then the data."""
    dims = struct.pack(f">{array.ndim}I", *array.shape)
    return struct.pack(">I", magic) + dims + array.astype(np.uint8).tobytes()


def synthetic_arrays():
    """Five train and two test images with known pixels (0 and 255 included) and labels."""
    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    train_x[0, 0, 0], train_x[0, 0, 1] = 0, 255
    test_x = rng.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
    return {
        "train-images-idx3-ubyte": train_x,
        "train-labels-idx1-ubyte": np.array([0, 9, 3, 7, 1], np.uint8),
        "t10k-images-idx3-ubyte": test_x,
        "t10k-labels-idx1-ubyte": np.array([5, 2], np.uint8),
    }


def write_source(folder, contents=None, gz=True):
    """Write the four files (IDX bytes per base name) and return their checksum table."""
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for base, data in (contents or contents_with()).items():
        name = base + ".gz" if gz else base
        if gz:
            data = gzip.compress(data, mtime=0)
        (folder / name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    return sums


def contents_with(**changes):
    """The synthetic IDX bytes, with some files replaced (keyword = base name, - for _)."""
    contents = {
        base: idx(a, 0x803 if a.ndim == 3 else 0x801) for base, a in synthetic_arrays().items()
    }
    contents.update({key.replace("_", "-"): data for key, data in changes.items()})
    return contents


@pytest.fixture
def source(tmp_path):
    """A folder with the four synthetic .gz files, and their checksum table."""
    folder = tmp_path / "src"
    return folder, write_source(folder)


def build(src, out, sums, **kwargs):
    """mnist_prep.build with the synthetic checksums and counts."""
    return mnist_prep.build(src, out, checksums=sums, counts=COUNTS, **kwargs)


def leftovers(folder):
    """Files in folder other than the finished output (e.g. temp files)."""
    return sorted(p.name for p in folder.iterdir() if p.name != "mnist.npz")


def test_build_split_scaling_and_dtypes(source, tmp_path):
    src, sums = source
    out = tmp_path / "out" / "mnist.npz"
    meta = build(src, out, sums)

    arrays = synthetic_arrays()
    train_x = arrays["train-images-idx3-ubyte"].reshape(5, 784)
    test_x = arrays["t10k-images-idx3-ubyte"].reshape(2, 784)
    with np.load(out) as data:
        assert sorted(data.files) == sorted(KEYS + ["meta"])
        for split, n in COUNTS.items():
            assert data[f"X_{split}"].shape == (n, 784)
            assert data[f"X_{split}"].dtype == np.float32
            assert data[f"y_{split}"].shape == (n,)
            assert data[f"y_{split}"].dtype == np.int64
        np.testing.assert_array_equal(data["X_train"] * 256, train_x[:3])
        np.testing.assert_array_equal(data["X_valid"] * 256, train_x[3:])
        np.testing.assert_array_equal(data["X_test"] * 256, test_x)
        assert data["X_train"].max() == np.float32(255 / 256)
        assert data["X_train"].min() == 0
        assert data["y_train"].tolist() == [0, 9, 3]
        assert data["y_valid"].tolist() == [7, 1]
        assert data["y_test"].tolist() == [5, 2]
        stored = json.loads(str(data["meta"]))
    assert stored == meta
    assert stored["sha256"] == sums
    assert stored["split"]["valid"] == "train-images-idx3-ubyte[3:5]"
    assert "256" in stored["scaling"]
    assert leftovers(out.parent) == []


def test_uncompressed_source(tmp_path):
    src = tmp_path / "src"
    sums = write_source(src, gz=False)
    out = tmp_path / "mnist.npz"
    meta = build(src, out, sums)
    assert meta["sha256"] == sums
    assert set(sums) == set(mnist_prep.FILES.values())
    with np.load(out) as data:
        assert data["y_valid"].tolist() == [7, 1]


def test_script_tables_cover_both_forms():
    bases = set(mnist_prep.FILES.values())
    assert set(mnist_prep.SHA256_RAW) == bases
    assert set(mnist_prep.SHA256_GZ) == {base + ".gz" for base in bases}
    assert mnist_prep.SHA256 == {**mnist_prep.SHA256_GZ, **mnist_prep.SHA256_RAW}
    assert all(len(digest) == 64 for digest in mnist_prep.SHA256.values())
    assert mnist_prep.SHA256["train-images-idx3-ubyte.gz"] == (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    )
    assert mnist_prep.COUNTS == {"train": 50000, "valid": 10000, "test": 10000}


def test_write_is_atomic(source, tmp_path, monkeypatch):
    src, sums = source
    out = tmp_path / "mnist.npz"
    real_save = mnist_prep.save_npz
    during = []

    def save(file, arrays):
        during.extend(leftovers(tmp_path))
        assert not out.exists()
        real_save(file, arrays)

    monkeypatch.setattr(mnist_prep, "save_npz", save)
    build(src, out, sums)
    temp = [name for name in during if name != "src"]
    assert len(temp) == 1
    assert temp[0].startswith(f".mnist.npz.{os.getpid()}.") and temp[0].endswith(".tmp")
    assert leftovers(tmp_path) == ["src"]
    with np.load(out) as data:
        assert data["X_test"].shape == (2, 784)


def test_save_npz_writes_what_numpy_writes(tmp_path):
    arrays = {
        "X": np.arange(12, dtype=np.float32).reshape(3, 4) / 256,
        "y": np.array([1, 2, 3], np.int64),
        "meta": np.array(json.dumps({"a": 1})),
    }
    ours, numpys = tmp_path / "ours.npz", tmp_path / "numpy.npz"
    with open(ours, "wb") as f:
        mnist_prep.save_npz(f, arrays)
    np.savez_compressed(numpys, **arrays)
    with np.load(ours) as a, np.load(numpys) as b:
        assert a.files == b.files == ["X", "y", "meta"]
        for key in a.files:
            assert a[key].dtype == b[key].dtype
            np.testing.assert_array_equal(a[key], b[key])


def test_rerun_is_a_no_op_until_forced(source, tmp_path):
    src, sums = source
    out = tmp_path / "mnist.npz"
    assert build(src, out, sums) is not None
    before = out.stat()

    assert build(src, out, sums) is None
    after = out.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    assert build(src, out, sums, force=True) is not None
    assert out.stat().st_ino != before.st_ino


def test_up_to_date_needs_no_sources(source, tmp_path):
    src, sums = source
    out = tmp_path / "mnist.npz"
    build(src, out, sums)
    for path in src.iterdir():
        path.unlink()
    assert build(src, out, sums) is None


def test_stale_or_broken_output_is_rebuilt(source, tmp_path):
    src, sums = source
    out = tmp_path / "mnist.npz"
    out.write_bytes(b"not an npz")
    assert build(src, out, sums) is not None
    assert mnist_prep.is_up_to_date(out, sums, COUNTS)

    other_sums = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    assert not mnist_prep.is_up_to_date(out, other_sums, COUNTS)
    assert not mnist_prep.is_up_to_date(out, sums, dict(COUNTS, test=3))

    np.savez(out, **{key: np.zeros(1) for key in KEYS})
    assert not mnist_prep.is_up_to_date(out, sums, COUNTS)


def truncated_gzip(folder):
    data = gzip.compress(contents_with()["train-images-idx3-ubyte"])
    (folder / "train-images-idx3-ubyte.gz").write_bytes(data[: len(data) // 2])


def rewrite(**changes):
    return lambda folder: write_source(folder, contents_with(**changes))


def remove(name):
    return lambda folder: (folder / name).unlink()


def images(n=5, rows=28, cols=28, magic=0x803):
    return idx(np.zeros((n, rows, cols), np.uint8), magic)


def labels(values, magic=0x801):
    return idx(np.array(values, np.uint8), magic)


BAD_INPUTS = {
    "truncated gzip": (
        truncated_gzip,
        "train-images-idx3-ubyte.gz: truncated or corrupt gzip data",
    ),
    "truncated payload": (
        rewrite(train_images_idx3_ubyte=images()[:-100]),
        "train-images-idx3-ubyte.gz: truncated or oversized data: 3820 bytes after the header, "
        "expected 3920",
    ),
    "truncated header": (
        rewrite(t10k_labels_idx1_ubyte=b"\x00\x00\x08"),
        "t10k-labels-idx1-ubyte.gz: truncated header (3 bytes)",
    ),
    "wrong image magic": (
        rewrite(t10k_images_idx3_ubyte=images(2, magic=0x801)),
        "t10k-images-idx3-ubyte.gz: bad magic number 0x00000801, expected 0x00000803",
    ),
    "wrong label magic": (
        rewrite(train_labels_idx1_ubyte=idx(np.zeros((5, 28, 28), np.uint8), 0x803)),
        "train-labels-idx1-ubyte.gz: bad magic number 0x00000803, expected 0x00000801",
    ),
    "wrong dimensions": (
        rewrite(train_images_idx3_ubyte=images(rows=28, cols=27)),
        "train-images-idx3-ubyte.gz: images are 28x27, expected 28x28",
    ),
    "image/label count mismatch": (
        rewrite(train_labels_idx1_ubyte=labels([0, 1, 2, 3])),
        "train-images-idx3-ubyte.gz has 5 images but train-labels-idx1-ubyte.gz has 4 labels",
    ),
    "unexpected count": (
        rewrite(t10k_images_idx3_ubyte=images(3), t10k_labels_idx1_ubyte=labels([1, 2, 3])),
        "t10k-images-idx3-ubyte.gz has 3 images, expected 2",
    ),
    "label out of range": (
        rewrite(t10k_labels_idx1_ubyte=labels([4, 10])),
        "t10k-labels-idx1-ubyte.gz: label 10 out of range 0..9",
    ),
    "missing file": (
        remove("train-labels-idx1-ubyte.gz"),
        "missing train-labels-idx1-ubyte.gz (or uncompressed train-labels-idx1-ubyte) in ",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_a_clear_error_and_writes_nothing(case, tmp_path):
    damage, message = BAD_INPUTS[case]
    src = tmp_path / "src"
    write_source(src)
    damage(src)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.iterdir()}
    out = tmp_path / "out" / "mnist.npz"
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, out, sums)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
    assert not out.exists()
    assert not out.parent.exists() or leftovers(out.parent) == []


def test_checksum_mismatch_names_file_and_both_sums(source, tmp_path):
    src, sums = source
    actual = sums["t10k-images-idx3-ubyte.gz"]
    expected = "ab" * 32
    out = tmp_path / "mnist.npz"
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, out, dict(sums, **{"t10k-images-idx3-ubyte.gz": expected}))
    assert str(error.value) == (
        f"checksum mismatch for t10k-images-idx3-ubyte.gz: expected {expected}, got {actual}"
    )
    assert not out.exists()


def test_real_table_rejects_synthetic_files(source, tmp_path):
    src, _ = source
    with pytest.raises(mnist_prep.PrepError, match="checksum mismatch for train-images"):
        mnist_prep.build(src, tmp_path / "mnist.npz")
    assert not (tmp_path / "mnist.npz").exists()


def test_file_without_a_known_sum(tmp_path):
    src = tmp_path / "src"
    sums = write_source(src, gz=False)
    sums.pop("t10k-images-idx3-ubyte")
    with pytest.raises(mnist_prep.PrepError, match="^no known SHA-256 for t10k-images-idx3-ubyte$"):
        build(src, tmp_path / "mnist.npz", sums)
    assert not (tmp_path / "mnist.npz").exists()


def test_gz_preferred_over_uncompressed(source, tmp_path):
    src, sums = source
    (src / "t10k-labels-idx1-ubyte").write_bytes(b"ignored, no sum for it")
    warnings = []
    meta = build(src, tmp_path / "mnist.npz", sums, warn=warnings.append)
    assert "t10k-labels-idx1-ubyte.gz" in meta["sha256"]
    assert warnings == []


def gz_and_raw(folder):
    """Both forms of the four files in folder; their checksum table."""
    return {**write_source(folder), **write_source(folder, gz=False)}


@pytest.mark.parametrize(
    "damage, reason",
    [
        (truncated_gzip, "train-images-idx3-ubyte.gz: truncated or corrupt gzip data"),
        (
            lambda folder: (folder / "train-images-idx3-ubyte.gz").write_bytes(b"junk"),
            "checksum mismatch for train-images-idx3-ubyte.gz: expected ",
        ),
    ],
)
def test_bad_gz_gives_way_to_a_good_uncompressed_file(tmp_path, damage, reason):
    src = tmp_path / "src"
    sums = gz_and_raw(src)
    damage(src)
    if "truncated" in reason:  # a .gz with a known sum whose gzip stream is cut
        gz = src / "train-images-idx3-ubyte.gz"
        sums[gz.name] = hashlib.sha256(gz.read_bytes()).hexdigest()
    warnings = []
    meta = build(src, tmp_path / "mnist.npz", sums, warn=warnings.append)
    assert len(warnings) == 1
    assert warnings[0].startswith(reason)
    assert warnings[0].endswith("; using train-images-idx3-ubyte instead")
    assert "train-images-idx3-ubyte" in meta["sha256"]
    assert "train-images-idx3-ubyte.gz" not in meta["sha256"]
    assert "train-labels-idx1-ubyte.gz" in meta["sha256"]
    with np.load(tmp_path / "mnist.npz") as data:
        expected = synthetic_arrays()["train-images-idx3-ubyte"].reshape(5, 784)[:3]
        np.testing.assert_array_equal(data["X_train"] * 256, expected)


def test_bad_gz_and_bad_uncompressed_name_both(tmp_path):
    src = tmp_path / "src"
    sums = gz_and_raw(src)
    (src / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk")
    (src / "t10k-labels-idx1-ubyte").write_bytes(b"junk too")
    warnings = []
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, tmp_path / "mnist.npz", sums, warn=warnings.append)
    message = str(error.value)
    assert message.startswith("checksum mismatch for t10k-labels-idx1-ubyte.gz: ")
    assert "; checksum mismatch for t10k-labels-idx1-ubyte: " in message
    assert "\n" not in message and warnings == []
    assert not (tmp_path / "mnist.npz").exists()


def test_main_warns_once_and_builds_from_the_uncompressed_file(tmp_path, monkeypatch, capsys):
    src = tmp_path / "src"
    sums = gz_and_raw(src)
    real_gz = (src / "t10k-images-idx3-ubyte.gz").read_bytes()
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(real_gz[:-10])
    monkeypatch.setattr(mnist_prep, "SHA256", sums)
    monkeypatch.setattr(mnist_prep, "COUNTS", COUNTS)
    out = tmp_path / "mnist.npz"
    assert mnist_prep.main(["--source", str(src), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    got = hashlib.sha256(real_gz[:-10]).hexdigest()
    assert captured.err == (
        "mnist_prep: warning: checksum mismatch for t10k-images-idx3-ubyte.gz: expected "
        f"{sums['t10k-images-idx3-ubyte.gz']}, got {got}; using t10k-images-idx3-ubyte instead\n"
    )
    assert captured.out.startswith(f"wrote {out}: 3 train, 2 valid, 2 test images")


def test_missing_source_folder(tmp_path):
    with pytest.raises(mnist_prep.PrepError, match="source folder .*nowhere does not exist"):
        build(tmp_path / "nowhere", tmp_path / "mnist.npz", {})


@pytest.mark.parametrize("below", ["mnist.npz", "deeper/mnist.npz"])
def test_output_below_a_file(source, tmp_path, below):
    src, sums = source
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / below
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, out, sums)
    assert str(error.value) == f"cannot write {out}: {blocker} is a file, not a folder"
    assert blocker.read_text() == "not a folder"
    assert leftovers(tmp_path) == ["a-file", "src"]


def test_output_that_is_a_folder(source, tmp_path):
    src, sums = source
    out = tmp_path / "mnist.npz"
    out.mkdir()
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, out, sums)
    assert str(error.value) == f"cannot write {out}: it is a folder"
    assert list(out.iterdir()) == []


def test_main_output_below_a_file_is_one_clear_line(cli, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "mnist.npz"
    assert mnist_prep.main(["--source", str(cli), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"mnist_prep: error: cannot write {out}: {blocker} is a file, not a folder\n"
    )
    assert "Errno" not in captured.err and captured.out == ""


def test_a_write_error_is_one_line_without_errno(source, tmp_path, monkeypatch):
    src, sums = source
    out = tmp_path / "mnist.npz"

    def full_disk(file, arrays):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mnist_prep, "save_npz", full_disk)
    with pytest.raises(mnist_prep.PrepError) as error:
        build(src, out, sums)
    assert str(error.value) == f"cannot write {out}: No space left on device"
    assert leftovers(tmp_path) == ["src"] and not out.exists()


def test_interrupted_write_leaves_nothing(source, tmp_path, monkeypatch):
    src, sums = source
    out = tmp_path / "out" / "mnist.npz"

    def save(file, arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_prep, "save_npz", save)
    with pytest.raises(KeyboardInterrupt):
        build(src, out, sums)
    assert list(out.parent.iterdir()) == []


def test_interrupted_rebuild_keeps_the_old_file(source, tmp_path, monkeypatch):
    src, sums = source
    out = tmp_path / "mnist.npz"
    build(src, out, sums)
    old = out.read_bytes()

    def save(file, arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_prep, "save_npz", save)
    with pytest.raises(KeyboardInterrupt):
        build(src, out, sums, force=True)
    assert out.read_bytes() == old
    assert leftovers(tmp_path) == ["src"]


@pytest.fixture
def cli(source, monkeypatch):
    """Make main() accept the synthetic files; return the source folder."""
    src, sums = source
    monkeypatch.setattr(mnist_prep, "SHA256", sums)
    monkeypatch.setattr(mnist_prep, "COUNTS", COUNTS)
    monkeypatch.delenv("MNIST_SOURCE", raising=False)
    return src


def test_main_success_then_up_to_date(cli, tmp_path, capsys):
    out = tmp_path / "mnist.npz"
    assert mnist_prep.main(["--source", str(cli), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        f"wrote {out}: 3 train, 2 valid, 2 test images of 28x28, X float32 = byte/256, y int64\n"
    )
    assert captured.err == ""

    assert mnist_prep.main(["--source", str(cli), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"{out} is up to date (use --force to rebuild)\n"

    assert mnist_prep.main(["--source", str(cli), "--out", str(out), "--force"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}:")


def test_main_reads_env_and_source_flag_wins(cli, tmp_path, monkeypatch, capsys):
    out = tmp_path / "mnist.npz"
    monkeypatch.setenv("MNIST_SOURCE", str(cli))
    assert mnist_prep.main(["--out", str(out)]) == 0
    assert out.exists()

    monkeypatch.setenv("MNIST_SOURCE", str(tmp_path / "nowhere"))
    assert mnist_prep.main(["--source", str(cli), "--out", str(out), "--force"]) == 0
    assert mnist_prep.main(["--out", str(out), "--force"]) == 1
    err = capsys.readouterr().err
    assert err == f"mnist_prep: error: source folder {tmp_path / 'nowhere'} does not exist\n"


def test_main_error_is_one_line(cli, tmp_path, capsys):
    (cli / "t10k-labels-idx1-ubyte.gz").unlink()
    out = tmp_path / "mnist.npz"
    assert mnist_prep.main(["--source", str(cli), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("mnist_prep: error: missing t10k-labels-idx1-ubyte.gz")
    assert captured.err.count("\n") == 1
    assert not out.exists()


def test_main_interrupted(cli, tmp_path, monkeypatch, capsys):
    def save(file, arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist_prep, "save_npz", save)
    out = tmp_path / "mnist.npz"
    assert mnist_prep.main(["--source", str(cli), "--out", str(out)]) == 130
    assert capsys.readouterr().err == f"mnist_prep: error: interrupted, {out} left unchanged\n"
    assert leftovers(tmp_path) == ["src"]


def test_subprocess_help_and_error(tmp_path):
    script = str(REPO / "mnist_prep.py")
    env = dict(os.environ, MNIST_SOURCE="")
    shown = subprocess.run(
        [sys.executable, script, "--help"], capture_output=True, text=True, env=env
    )
    assert shown.returncode == 0
    for flag in ("--source DIR", "--out PATH", "--cache DIR", "--force", "MNIST_SOURCE"):
        assert flag in shown.stdout

    out = tmp_path / "mnist.npz"
    failed = subprocess.run(
        [sys.executable, script, "--source", str(tmp_path / "nowhere"), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert (
        failed.stderr == f"mnist_prep: error: source folder {tmp_path / 'nowhere'} does not exist\n"
    )
    assert not out.exists()


def serve(folder, calls, broken=("http://down/",), corrupt=()):
    """A fetch function over folder's files: broken mirrors fail, corrupt ones send junk."""

    def fetch(url):
        calls.append(url)
        mirror, name = url.rsplit("/", 1)
        if mirror + "/" in broken:
            raise urllib.error.URLError("connection refused")
        if mirror + "/" in corrupt:
            return b"junk"
        return (folder / name).read_bytes()

    return fetch


def test_download_falls_back_to_the_next_mirror(source, tmp_path):
    src, sums = source
    cache, out, calls = tmp_path / "cache", tmp_path / "mnist.npz", []
    mirrors = ("http://down/", "http://bad/", "http://good/")
    fetch = serve(src, calls, corrupt=("http://bad/",))
    build(None, out, sums, cache_dir=cache, mirrors=mirrors, fetch=fetch)

    assert calls[:3] == [m + "train-images-idx3-ubyte.gz" for m in mirrors]
    assert len(calls) == 12
    assert sorted(p.name for p in cache.iterdir()) == sorted(sums)
    for name in sums:
        assert (cache / name).read_bytes() == (src / name).read_bytes()
    with np.load(out) as data:
        assert data["y_valid"].tolist() == [7, 1]

    calls.clear()
    build(None, out, sums, force=True, cache_dir=cache, mirrors=mirrors, fetch=fetch)
    assert calls == []


def test_download_failure_names_every_mirror(source, tmp_path):
    src, sums = source
    out, calls = tmp_path / "mnist.npz", []
    mirrors = ("http://down/", "http://bad/")
    fetch = serve(src, calls, corrupt=("http://bad/",))
    with pytest.raises(mnist_prep.PrepError) as error:
        build(None, out, sums, cache_dir=tmp_path / "cache", mirrors=mirrors, fetch=fetch)
    assert str(error.value) == (
        "could not download train-images-idx3-ubyte.gz: down: connection refused; "
        "bad: checksum mismatch; " + mnist_prep.OFFLINE_HINT
    )
    assert not out.exists()
    assert list((tmp_path / "cache").glob("*")) == []


def test_offline_is_one_short_line_naming_the_source_options(cli, tmp_path, monkeypatch, capsys):
    """Real lookups of names that never resolve (.invalid), online or offline."""
    mirrors = ("https://mnist-one.invalid/", "https://mnist-two.invalid/")
    monkeypatch.setattr(mnist_prep, "MIRRORS", mirrors)
    out = tmp_path / "mnist.npz"
    assert mnist_prep.main(["--out", str(out), "--cache", str(tmp_path / "cache")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith(
        "mnist_prep: error: could not download train-images-idx3-ubyte.gz: all 2 mirrors failed ("
    )
    assert err.endswith(
        "); offline, set MNIST_SOURCE=DIR or pass --source DIR, DIR holding the four MNIST "
        "files (.gz or uncompressed)\n"
    )
    assert err.count("\n") == 1 and len(err) < 250
    assert "Errno" not in err and "urlopen" not in err
    assert not out.exists()


def test_fetch_url_reads_a_local_mirror(source, capsys):
    src, sums = source
    url = (src / "train-labels-idx1-ubyte.gz").as_uri()
    data = mnist_prep.fetch_url(url)
    assert hashlib.sha256(data).hexdigest() == sums["train-labels-idx1-ubyte.gz"]
    assert "train-labels-idx1-ubyte.gz [" in capsys.readouterr().err


def dead_pid():
    """The PID of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(done.stdout)
    assert not mnist_prep.pid_alive(pid)
    return pid


def test_stale_temps_are_removed_live_ones_kept(source, tmp_path):
    src, sums = source
    out = tmp_path / "mnist.npz"
    dead, live = f".mnist.npz.{dead_pid()}.k2j4h5x1.tmp", f".mnist.npz.{os.getpid()}.a8c0ffee.tmp"
    old_style, fresh_old_style = ".mnist.npz.abcdefgh.tmp", ".mnist.npz.zyxwvuts.tmp"
    other = ".other.npz.1.tmp"
    for name in (dead, live, old_style, fresh_old_style, other):
        (tmp_path / name).write_bytes(b"partial")
    an_hour_ago = time.time() - mnist_prep.STALE_AGE - 1
    os.utime(tmp_path / old_style, (an_hour_ago, an_hour_ago))

    build(src, out, sums)
    assert leftovers(tmp_path) == sorted([live, fresh_old_style, other, "src"])

    (tmp_path / dead).write_bytes(b"partial")
    assert build(src, out, sums) is None  # up to date, and still cleaned
    assert dead not in leftovers(tmp_path)


CHILD = """
import json, os, signal, sys, time
import numpy as np
import mnist_prep

config = json.loads(sys.argv[1])
mnist_prep.SHA256, mnist_prep.COUNTS = config["sums"], config["counts"]
real, written = np.lib.format.write_array, []


def write_array(*args, **kwargs):
    real(*args, **kwargs)
    written.append(1)
    if len(written) == 2:  # mid-archive: two of its seven members written
        if config["self"]:
            os.kill(os.getpid(), getattr(signal, config["self"]))
        print("writing", flush=True)
        time.sleep(60)


np.lib.format.write_array = write_array
sys.exit(mnist_prep.main(config["argv"]))
"""


def child(src, sums, out, self_signal=None):
    """A real mnist_prep run that pauses mid-write (or signals itself there)."""
    config = {
        "sums": sums,
        "counts": COUNTS,
        "self": self_signal,
        "argv": ["--source", str(src), "--out", str(out), "--force"],
    }
    env = {k: v for k, v in os.environ.items() if k != "MNIST_SOURCE"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_mid_write(process, signum):
    assert process.stdout.readline() == "writing\n"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return out, err


@pytest.fixture
def old_output(source, tmp_path):
    """A finished mnist.npz from the synthetic source, and its bytes."""
    src, sums = source
    out = tmp_path / "out" / "mnist.npz"
    build(src, out, sums)
    return out, out.read_bytes()


def test_ctrl_c_mid_write_exits_130_with_one_line(source, old_output):
    src, sums = source
    out, old = old_output
    process = child(src, sums, out, self_signal="SIGINT")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == f"mnist_prep: error: interrupted, {out} left unchanged\n"
    assert "writing" not in stdout  # the signal came mid-archive, before the pause
    assert out.read_bytes() == old
    assert leftovers(out.parent) == []


def test_sigterm_mid_write_cleans_up(source, old_output):
    src, sums = source
    out, old = old_output
    process = child(src, sums, out)
    _, stderr = stop_mid_write(process, signal.SIGTERM)
    assert process.returncode == 128 + signal.SIGTERM
    assert stderr == f"mnist_prep: error: stopped by SIGTERM, {out} left unchanged\n"
    assert out.read_bytes() == old
    assert leftovers(out.parent) == []


def test_sigkill_orphan_is_ignored_by_git_and_removed_by_the_next_run(source, old_output):
    src, sums = source
    out, old = old_output
    process = child(src, sums, out)
    stop_mid_write(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    orphans = leftovers(out.parent)
    assert len(orphans) == 1
    assert orphans[0].startswith(f".mnist.npz.{process.pid}.") and orphans[0].endswith(".tmp")
    assert out.read_bytes() == old

    assert build(src, out, sums, force=True) is not None
    assert leftovers(out.parent) == []

    if shutil.which("git") is None:
        pytest.skip("no git here to ask about .gitignore")
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", str(REPO / orphans[0])]
    )
    assert ignored.returncode == 0, f"{orphans[0]} in the repository root is not git-ignored"


@pytest.mark.skipif(not REAL_SOURCE.is_dir(), reason=f"real MNIST files not found at {REAL_SOURCE}")
def test_real_mnist_matches_published_facts(tmp_path):
    out = tmp_path / "mnist.npz"
    meta = mnist_prep.build(REAL_SOURCE, out)
    with np.load(out) as data:
        assert {k: data[k].shape for k in KEYS} == {
            "X_train": (50000, 784),
            "y_train": (50000,),
            "X_valid": (10000, 784),
            "y_valid": (10000,),
            "X_test": (10000, 784),
            "y_test": (10000,),
        }
        x_train = np.concatenate([data["X_train"], data["X_valid"]])
        y_train = np.concatenate([data["y_train"], data["y_valid"]])
        x_test, y_test = data["X_test"], data["y_test"]
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    train_bytes, test_bytes = x_train * 256, x_test * 256
    assert np.array_equal(train_bytes, np.round(train_bytes))
    assert int(train_bytes.astype(np.int64).sum()) == 1567298545
    assert int(test_bytes.astype(np.int64).sum()) == 264923200
    assert x_train.max() == x_test.max() == 0.99609375
    assert x_train.min() == x_test.min() == 0
    for name, digest in meta["sha256"].items():
        assert mnist_prep.SHA256[name] == digest


@pytest.mark.parametrize("change", ["zeros", "shuffled labels"])
def test_other_content_in_the_right_form_is_not_up_to_date(source, tmp_path, change):
    src, sums = source
    out = tmp_path / "mnist.npz"
    build(src, out, sums)
    data = dict(np.load(out))
    if change == "zeros":
        data["X_train"] = np.zeros_like(data["X_train"])
    else:
        data["y_train"] = data["y_train"][::-1].copy()
    np.savez(out, **data)
    assert not mnist_prep.is_up_to_date(out, sums, COUNTS)
    assert build(src, out, sums) is not None  # rebuilt


def test_the_original_mnist_builds_to_the_recorded_content(tmp_path):
    source = os.environ.get("MNIST_SOURCE")
    if not source:
        pytest.skip("MNIST_SOURCE is not set (.ci/run sets it to ../shared/mnist)")
    out = tmp_path / "mnist.npz"
    meta = mnist_prep.build(source, out)
    assert meta["content_sha256"] == mnist_prep.CONTENT[2]
    assert mnist_prep.is_up_to_date(out)
    # Shuffled labels with metadata made to match them: the recorded content still tells.
    data = dict(np.load(out))
    data["y_train"] = np.random.RandomState(0).permutation(data["y_train"])
    meta["content_sha256"] = mnist_prep.content_sha256(data, mnist_prep.COUNTS)
    data["meta"] = np.array(json.dumps(meta))
    np.savez(out, **data)
    assert not mnist_prep.is_up_to_date(out)


def test_a_read_only_file_system_is_named_as_such_even_for_root(tmp_path, monkeypatch):
    # Root may write anywhere but there: "no permission" would send it looking elsewhere.
    real = os.statvfs

    def read_only(path):
        found = real(path)
        return os.statvfs_result((*found[:8], found.f_flag | os.ST_RDONLY, found.f_namemax))

    monkeypatch.setattr(os, "statvfs", read_only)
    with pytest.raises(mnist_prep.PrepError) as error:
        mnist_prep.check_writable(tmp_path / "mnist.npz")
    assert str(error.value) == (
        f"cannot write {tmp_path / 'mnist.npz'}: {tmp_path} is on a read-only file system"
    )
