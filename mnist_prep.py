"""Build the `mnist.npz` that the 2016 VAE notebook loads.

The notebook reads X_train, y_train, X_valid, y_valid, X_test and y_test from
`mnist.npz`, laid out like the classic pickled MNIST (`mnist.pkl.gz`): train is
the first 50,000 images of the MNIST training set, valid the last 10,000, test
the 10,000 test images; X is (n, 784) float32 holding byte / 256, y is int64.
That file is no longer distributed, so this script rebuilds it from the four
original IDX files, checked against their published SHA-256 sums, and records
in the archive how it was made.

The files are downloaded from public mirrors into a cache folder, or taken from
a local folder (--source DIR, or the MNIST_SOURCE environment variable).
"""

import argparse
import contextlib
import gzip
import hashlib
import http.client
import json
import math
import os
import sys
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def parse_sums(text):
    """Turn `sha256sum` output into {file name: sum}."""
    return {name: digest for digest, name in map(str.split, text.strip().splitlines())}


# Published SHA-256 sums of the .gz files.
SHA256_GZ = parse_sums("""
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
""")
# SHA-256 sums of the same files uncompressed, for local sources that are not gzipped.
SHA256_RAW = parse_sums("""
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
""")
SHA256 = {**SHA256_GZ, **SHA256_RAW}

# The split: train and valid come from the 60,000 training images, in that order.
COUNTS = {"train": 50000, "valid": 10000, "test": 10000}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

IMAGE_MAGIC = 0x0803  # unsigned bytes, 3 dimensions
LABEL_MAGIC = 0x0801  # unsigned bytes, 1 dimension
SIDE = 28

DEFAULT_OUT = Path(__file__).resolve().parent / "mnist.npz"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist"


class PrepError(Exception):
    """An expected failure, reported as a one-line message."""


def sha256(data):
    """Hex SHA-256 of a bytes object."""
    return hashlib.sha256(data).hexdigest()


def verify(name, data, checksums):
    """Raise PrepError unless data has the SHA-256 that checksums lists for name."""
    if name not in checksums:
        raise PrepError(f"no known SHA-256 for {name}")
    actual = sha256(data)
    if actual != checksums[name]:
        raise PrepError(f"checksum mismatch for {name}: expected {checksums[name]}, got {actual}")
    return actual


def write_atomic(path, write):
    """Call write(file) on a temp file next to path, then move it into place.

    On any failure, KeyboardInterrupt included, the temp file is removed and path
    is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fetch_url(url):
    """Return the body of url, drawing a progress bar on stderr."""
    name = url.rsplit("/", 1)[-1]
    chunks, done = [], 0
    with urllib.request.urlopen(url, timeout=60) as response:
        total = int(response.headers.get("Content-Length") or 0)
        while chunk := response.read(1 << 16):
            chunks.append(chunk)
            done += len(chunk)
            if total:
                bar = "#" * (30 * done // total)
                sys.stderr.write(f"\r{name} [{bar:<30}] {100 * done // total:3d}%")
            else:
                sys.stderr.write(f"\r{name} {done // 1024} KiB")
    sys.stderr.write("\n")
    return b"".join(chunks)


def download(name, cache_dir, checksums, mirrors=MIRRORS, fetch=fetch_url):
    """Return the path of name in cache_dir, fetching it from the first mirror that works."""
    path = Path(cache_dir) / name
    if path.exists():
        with contextlib.suppress(PrepError):
            verify(name, path.read_bytes(), checksums)
            return path
    reasons = []
    for mirror in mirrors:
        url = mirror + name
        try:
            data = fetch(url)
            verify(name, data, checksums)
            break
        except (OSError, http.client.HTTPException, PrepError) as e:
            reasons.append(f"{url}: {e}")
    else:
        raise PrepError(f"could not download {name}: " + "; ".join(reasons))
    try:
        write_atomic(path, lambda f: f.write(data))
    except OSError as e:
        raise PrepError(f"cannot write {path}: {e}") from e
    return path


def locate(source_dir, base):
    """Return the path of base (.gz preferred, else uncompressed) in source_dir."""
    for name in (base + ".gz", base):
        path = Path(source_dir) / name
        if path.is_file():
            return path
    raise PrepError(f"missing {base}.gz (or uncompressed {base}) in {source_dir}")


def read_idx_bytes(path, checksums):
    """Verify a source file and return (its SHA-256, its uncompressed bytes)."""
    data = path.read_bytes()
    digest = verify(path.name, data, checksums)
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise PrepError(f"{path.name}: truncated or corrupt gzip data ({e})") from e
    return digest, data


def parse_idx(name, data, magic):
    """Check an IDX header and return its payload as a uint8 array of the stated shape."""
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise PrepError(f"{name}: truncated header ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise PrepError(f"{name}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
    shape = tuple(np.frombuffer(data, ">u4", count=ndim, offset=4).tolist())
    if shape[1:] != (SIDE, SIDE)[: ndim - 1]:
        size = "x".join(map(str, shape[1:]))
        raise PrepError(f"{name}: images are {size}, expected {SIDE}x{SIDE}")
    size = math.prod(shape)
    if len(data) - header != size:
        raise PrepError(
            f"{name}: truncated or oversized data: {len(data) - header} bytes "
            f"after the header, expected {size}"
        )
    return np.frombuffer(data, np.uint8, count=size, offset=header).reshape(shape)


def load_pair(images_path, labels_path, count, checksums):
    """Read one image file and its label file; return (X, y, sha256 sums)."""
    sums = {}
    arrays = []
    for path, magic in ((images_path, IMAGE_MAGIC), (labels_path, LABEL_MAGIC)):
        sums[path.name], data = read_idx_bytes(path, checksums)
        arrays.append(parse_idx(path.name, data, magic))
    images, labels = arrays
    if len(images) != len(labels):
        raise PrepError(
            f"{images_path.name} has {len(images)} images "
            f"but {labels_path.name} has {len(labels)} labels"
        )
    if len(images) != count:
        raise PrepError(f"{images_path.name} has {len(images)} images, expected {count}")
    if labels.max(initial=0) > 9:
        raise PrepError(f"{labels_path.name}: label {labels.max()} out of range 0..9")
    x = images.reshape(count, SIDE * SIDE).astype(np.float32) / np.float32(256)
    return x, labels.astype(np.int64), sums


def is_up_to_date(out_path, checksums=SHA256, counts=COUNTS):
    """True if out_path loads, has the six arrays as expected and was built from these sums."""
    try:
        with np.load(out_path) as data:
            for split, n in counts.items():
                x, y = data[f"X_{split}"], data[f"y_{split}"]
                if x.shape != (n, SIDE * SIDE) or x.dtype != np.float32:
                    return False
                if y.shape != (n,) or y.dtype != np.int64:
                    return False
            sums = json.loads(str(data["meta"]))["sha256"]
        bases = sorted(name.removesuffix(".gz") for name in sums)
        return bases == sorted(FILES.values()) and all(
            checksums.get(name) == digest for name, digest in sums.items()
        )
    except Exception:
        return False


def build(
    source_dir,
    out_path,
    force=False,
    checksums=SHA256,
    counts=COUNTS,
    cache_dir=CACHE_DIR,
    mirrors=MIRRORS,
    fetch=fetch_url,
):
    """Write out_path from the files in source_dir (download them if None).

    Returns the metadata written, or None if out_path was already up to date.
    """
    out_path = Path(out_path)
    if not force and is_up_to_date(out_path, checksums, counts):
        return None
    if source_dir is None:
        paths = {
            key: download(base + ".gz", cache_dir, checksums, mirrors, fetch)
            for key, base in FILES.items()
        }
    elif not Path(source_dir).is_dir():
        raise PrepError(f"source folder {source_dir} does not exist")
    else:
        paths = {key: locate(source_dir, base) for key, base in FILES.items()}

    n_train, n_valid = counts["train"], counts["valid"]
    x, y, train_sums = load_pair(
        paths["train_images"], paths["train_labels"], n_train + n_valid, checksums
    )
    x_test, y_test, test_sums = load_pair(
        paths["test_images"], paths["test_labels"], counts["test"], checksums
    )
    meta = {
        "sha256": {**train_sums, **test_sums},
        "scaling": "X = byte / 256 as float32: values k/256 for k in 0..255, max 0.99609375",
        "split": {
            "train": f"{FILES['train_images']}[:{n_train}]",
            "valid": f"{FILES['train_images']}[{n_train}:{n_train + n_valid}]",
            "test": f"{FILES['test_images']}[:{counts['test']}]",
        },
        "counts": dict(counts),
        "made_by": "mnist_prep.py",
    }
    arrays = {
        "X_train": x[:n_train],
        "y_train": y[:n_train],
        "X_valid": x[n_train:],
        "y_valid": y[n_train:],
        "X_test": x_test,
        "y_test": y_test,
        "meta": np.array(json.dumps(meta)),
    }
    try:
        write_atomic(out_path, lambda f: np.savez_compressed(f, **arrays))
    except OSError as e:
        raise PrepError(f"cannot write {out_path}: {e}") from e
    return meta


def main(argv=None):
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="mnist_prep",
        description="Build mnist.npz (the classic 50k/10k/10k MNIST split) for the VAE notebook "
        "from the four original MNIST files, downloaded or taken from a local folder.",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="take the four IDX files (.gz or uncompressed) from DIR instead of downloading "
        "(default: $MNIST_SOURCE if set)",
    )
    parser.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        default=DEFAULT_OUT,
        help="where to write the archive (default: %(default)s)",
    )
    parser.add_argument(
        "--cache",
        metavar="DIR",
        type=Path,
        default=CACHE_DIR,
        help="where downloads are kept (default: %(default)s)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)

    source = args.source or os.environ.get("MNIST_SOURCE") or None
    try:
        meta = build(
            source,
            args.out,
            force=args.force,
            checksums=SHA256,
            counts=COUNTS,
            cache_dir=args.cache,
        )
    except (PrepError, OSError) as e:
        print(f"mnist_prep: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mnist_prep: error: interrupted, nothing written", file=sys.stderr)
        return 130
    if meta is None:
        print(f"{args.out} is up to date (use --force to rebuild)")
    else:
        n = meta["counts"]
        print(
            f"wrote {args.out}: {n['train']} train, {n['valid']} valid, {n['test']} test "
            f"images of {SIDE}x{SIDE}, X float32 = byte/256, y int64"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
