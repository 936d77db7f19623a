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

Files are written whole or not at all: into a temporary `.NAME.PID.XXXXXXXX.tmp`
beside the target, then moved into place. Ctrl-C, SIGTERM and SIGHUP remove it;
one left by a SIGKILL (its PID gone) is removed by the next run, and the
repository's .gitignore ignores the pattern meanwhile.
"""

import argparse
import contextlib
import gzip
import hashlib
import http.client
import json
import math
import os
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
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
# What the build writes from those files and counts (content_sha256): a mnist.npz whose
# arrays differ (zeros, shuffled labels) is not up to date, whatever its form and metadata.
CONTENT = (
    dict(SHA256),
    dict(COUNTS),
    "c1f6f04d235d2cc59ace7f3d311b01afa572545f5dce793011108e842770c5f1",
)

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
# A temp file whose name holds no PID (an older version's) is stale once this old, in seconds.
STALE_AGE = 3600
OFFLINE_HINT = (
    "offline, set MNIST_SOURCE=DIR or pass --source DIR, DIR holding the four MNIST files "
    "(.gz or uncompressed)"
)


class PrepError(Exception):
    """An expected failure, reported as a one-line message."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised like KeyboardInterrupt so that temp files are removed."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def warn(message):
    """The default warning channel: one line on stderr."""
    print(f"mnist_prep: warning: {message}", file=sys.stderr)


def os_reason(error):
    """An OSError's reason without the errno prefix (strerror, else its text)."""
    return error.strerror or str(error)


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


def check_writable(path):
    """Raise PrepError unless path can be written: not a folder, no ancestor a file."""
    path = Path(path)
    if path.is_dir():
        raise PrepError(f"cannot write {path}: it is a folder")
    for folder in path.parents:
        if folder.exists():  # the nearest existing ancestor
            if not folder.is_dir():
                raise PrepError(f"cannot write {path}: {folder} is a file, not a folder")
            if os.statvfs(folder).f_flag & os.ST_RDONLY:
                raise PrepError(f"cannot write {path}: {folder} is on a read-only file system")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PrepError(f"cannot write {path}: no permission to write in {folder}")
            return


def pid_alive(pid):
    """True if a process with this PID exists (ours included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, OSError):
        return False
    return True


def remove_stale_temps(path):
    """Remove the temp files of path that killed runs left: `.NAME.PID.*.tmp` whose PID is gone.

    A name without a PID (an older version's) counts as stale after STALE_AGE seconds.
    Returns the names removed.
    """
    path = Path(path)
    prefix = f".{path.name}."
    try:
        names = [n for n in os.listdir(path.parent) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return []
    removed = []
    for name in names:
        temp = path.parent / name
        owner = name[len(prefix) :].split(".", 1)[0]
        try:
            if owner.isdigit():
                if pid_alive(int(owner)):
                    continue
            elif time.time() - temp.stat().st_mtime < STALE_AGE:
                continue
            temp.unlink()
        except OSError:
            continue
        removed.append(name)
    return removed


def write_whole_durably(path, write):
    """Call write(file) on a temp file next to path, sync it to disk, then move it into place:
    path is the old file or the whole new one, even after a crash of the machine, and
    writers at the same time do not mix (each has its own temp file).

    The temp file is `.NAME.PID.XXXXXXXX.tmp`. On any failure, KeyboardInterrupt and
    Terminated included, it is removed and path is left as it was; stale ones
    from killed runs are removed first. An OSError comes out as a one-line PrepError.
    """
    path = Path(path)
    check_writable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PrepError(f"cannot write {path}: {os_reason(e)} ({e.filename})") from e
    remove_stale_temps(path)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as e:
        raise PrepError(f"cannot write {path}: {os_reason(e)}") from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise PrepError(f"cannot write {path}: {os_reason(e)}") from e
        raise


def save_npz(file, arrays):
    """np.savez_compressed(file, **arrays), the same archive, but closed even when interrupted.

    numpy leaves its ZipFile open on an exception; it is closed later by the garbage
    collector, on a file that is gone by then, and prints a traceback after our message.
    """
    with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


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


def fetch_reason(error):
    """Why a download failed, in a few words (no URL, no errno numbers)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        return os_reason(reason) if isinstance(reason, OSError) else str(reason)
    if isinstance(error, PrepError):
        return "checksum mismatch" if str(error).startswith("checksum mismatch") else str(error)
    if isinstance(error, OSError):
        return os_reason(error)
    return str(error) or type(error).__name__


def download(name, cache_dir, checksums, mirrors=None, fetch=None):
    """Return the path of name in cache_dir, fetching it from the first mirror that works.

    mirrors and fetch default to MIRRORS and fetch_url.
    """
    mirrors, fetch = mirrors or MIRRORS, fetch or fetch_url
    path = Path(cache_dir) / name
    if path.exists():
        with contextlib.suppress(PrepError, OSError):
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
            host = urllib.parse.urlsplit(mirror).netloc or mirror
            reasons.append((host, fetch_reason(e)))
    else:
        if len({reason for _, reason in reasons}) == 1:
            why = f"all {len(reasons)} mirrors failed ({reasons[0][1]})"
        else:
            why = "; ".join(f"{host}: {reason}" for host, reason in reasons)
        raise PrepError(f"could not download {name}: {why}; {OFFLINE_HINT}")
    write_whole_durably(path, lambda f: f.write(data))
    return path


def read_local(source_dir, base, checksums, warn=warn):
    """(path, SHA-256, uncompressed bytes) of base in source_dir: the .gz, else uncompressed.

    A .gz that fails its check gives way, with a warning, to a good uncompressed
    file beside it.
    """
    paths = [Path(source_dir) / name for name in (base + ".gz", base)]
    paths = [path for path in paths if path.is_file()]
    if not paths:
        raise PrepError(f"missing {base}.gz (or uncompressed {base}) in {source_dir}")
    errors = []
    for path in paths:
        try:
            digest, data = read_idx_bytes(path, checksums)
        except PrepError as e:
            errors.append(str(e))
            continue
        if errors:
            warn(f"{errors[0]}; using {path.name} instead")
        return path, digest, data
    raise PrepError("; ".join(errors))


def read_idx_bytes(path, checksums):
    """Verify a source file and return (its SHA-256, its uncompressed bytes)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise PrepError(f"cannot read {path}: {os_reason(e)}") from e
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


def load_pair(images, labels, count):
    """One image file and its label file, each (path, SHA-256, bytes); return (X, y, sums)."""
    (images_path, images_sum, images_data), (labels_path, labels_sum, labels_data) = images, labels
    sums = {images_path.name: images_sum, labels_path.name: labels_sum}
    images = parse_idx(images_path.name, images_data, IMAGE_MAGIC)
    labels = parse_idx(labels_path.name, labels_data, LABEL_MAGIC)
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


def content_sha256(arrays, counts):
    """The sha256 of the six arrays' bytes, in a fixed order: what the file holds, not its form."""
    digest = hashlib.sha256()
    for split in counts:
        for name in (f"X_{split}", f"y_{split}"):
            digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def is_up_to_date(out_path, checksums=SHA256, counts=COUNTS):
    """True if out_path loads, has the six arrays as expected, was built from these sums, and
    holds what that build writes (CONTENT, for the original MNIST), byte for byte."""
    try:
        with np.load(out_path) as data:
            for split, n in counts.items():
                x, y = data[f"X_{split}"], data[f"y_{split}"]
                if x.shape != (n, SIDE * SIDE) or x.dtype != np.float32:
                    return False
                if y.shape != (n,) or y.dtype != np.int64:
                    return False
            meta = json.loads(str(data["meta"]))
            content = content_sha256(data, counts)
        sums = meta["sha256"]
        bases = sorted(name.removesuffix(".gz") for name in sums)
        expected = CONTENT[2] if (checksums, counts) == CONTENT[:2] else None
        return (
            bases == sorted(FILES.values())
            and all(checksums.get(name) == digest for name, digest in sums.items())
            and content == meta["content_sha256"] == (expected or content)
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
    mirrors=None,
    fetch=None,
    warn=warn,
):
    """Write out_path from the files in source_dir (download them if None).

    Returns the metadata written, or None if out_path was already up to date.
    Warnings (a bad .gz passed over for a good uncompressed file) go to warn.
    """
    out_path = Path(out_path)
    remove_stale_temps(out_path)
    if not force and is_up_to_date(out_path, checksums, counts):
        return None
    check_writable(out_path)
    if source_dir is None:
        files = {}
        for key, base in FILES.items():
            path = download(base + ".gz", cache_dir, checksums, mirrors, fetch)
            files[key] = (path, *read_idx_bytes(path, checksums))
    elif not Path(source_dir).is_dir():
        raise PrepError(f"source folder {source_dir} does not exist")
    else:
        files = {key: read_local(source_dir, base, checksums, warn) for key, base in FILES.items()}

    n_train, n_valid = counts["train"], counts["valid"]
    x, y, train_sums = load_pair(files["train_images"], files["train_labels"], n_train + n_valid)
    x_test, y_test, test_sums = load_pair(
        files["test_images"], files["test_labels"], counts["test"]
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
    }
    meta["content_sha256"] = content_sha256(arrays, counts)
    arrays["meta"] = np.array(json.dumps(meta))
    write_whole_durably(out_path, lambda f: save_npz(f, arrays))
    return meta


@contextlib.contextmanager
def terminate_as_exception(signums=(signal.SIGTERM, signal.SIGHUP)):
    """Make these signals raise Terminated, so that cleanup runs, where nothing else handles them.

    A handler someone else installed (a caller of main) is left alone; ours are
    undone on the way out.
    """

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for signum in signums:
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            if signal.getsignal(signum) == signal.SIG_DFL:
                previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


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
        with terminate_as_exception():
            meta = build(
                source,
                args.out,
                force=args.force,
                checksums=SHA256,
                counts=COUNTS,
                cache_dir=args.cache,
            )
    except PrepError as e:
        print(f"mnist_prep: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        print(f"mnist_prep: error: {os_reason(e)}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mnist_prep: error: interrupted, {args.out} left unchanged", file=sys.stderr)
        return 130
    except Terminated as e:
        name = signal.Signals(e.signum).name
        print(f"mnist_prep: error: stopped by {name}, {args.out} left unchanged", file=sys.stderr)
        return 128 + e.signum
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
