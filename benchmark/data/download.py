"""``download``: fetch a dataset's official archives, verify their published checksums, unpack.

VOC 2012, COCO 2014 and CUB-200-2011 are fetched from their official hosts (MD5 values as
published with the archives and used by torchvision and the dataset libraries). NUS-WIDE's images
are not distributed as an archive, so for it the manual steps are printed instead.
"""

from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from tqdm import tqdm

from benchmark.data.manifest import hash_file
from benchmark.data.validate import unsafe_reason

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    url: str
    filename: str
    md5: str
    #: a path (relative to the raw root) that exists once the archive is unpacked
    marker: str = ""


ARCHIVES: dict[str, list[Archive]] = {
    "voc": [
        Archive(
            "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
            "VOCtrainval_11-May-2012.tar",
            "6cd6e144f989b92b3379bac3b3de84fd",
            marker="VOCdevkit/VOC2012/ImageSets/Main/aeroplane_train.txt",
        ),
    ],
    "coco": [
        Archive(
            "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
            "annotations_trainval2014.zip",
            "0a379cfc70b0e71301e0f377548639bd",
            marker="annotations/instances_train2014.json",
        ),
        Archive(
            "http://images.cocodataset.org/zips/train2014.zip",
            "train2014.zip",
            "0da8c0bd3d6becc4dcb32757491aca88",
            marker="train2014",
        ),
        Archive(
            "http://images.cocodataset.org/zips/val2014.zip",
            "val2014.zip",
            "a3d79f5ed8d289b7a7554ce06a5782b3",
            marker="val2014",
        ),
    ],
    "cub": [
        Archive(
            "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
            "CUB_200_2011.tgz",
            "97eceeb196236b17998738112f37df78",
            marker="CUB_200_2011/attributes/image_attribute_labels.txt",
        ),
    ],
}

NUSWIDE_STEPS = """\
NUS-WIDE cannot be downloaded automatically: its images were crawled from Flickr and are not
distributed as one archive by its authors. To prepare it:

 1. From the NUS-WIDE page of the National University of Singapore
    (https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html) download
    "Groundtruth", "Concepts List" and "Image List"; unpack them under one raw root RAW so that it holds
      RAW/Concepts81.txt               (or RAW/ConceptsList/Concepts81.txt)
      RAW/ImageList/TrainImagelist.txt and RAW/ImageList/TestImagelist.txt
      RAW/Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt and ..._Test.txt
 2. Obtain the images (the authors send them on request; many Flickr URLs are dead) and place them
    as RAW/Flickr/<concept folder>/<name>.jpg, as the image lists name them.
 3. Run: python -m benchmark.data prepare nuswide --root RAW --out DATA_ROOT/nuswide
    (add --skip-missing-images to drop listed images you could not obtain; they are recorded).

Alternatively, if you hold the formatted files the ECCV 2022 authors distribute
(formatted_{train,val}_{images,labels}.npy, with their re-crawled images), put them in
DATA_ROOT/nuswide, the images under RAW/Flickr, and run the same prepare command: the files are
used as they are.
"""


def _inside(base: Path, member: str) -> bool:
    resolved = (base / member).resolve()
    return resolved == base.resolve() or base.resolve() in resolved.parents


class ChecksumError(ValueError):
    """A downloaded archive's checksum differs from the published one."""


def md5_of(path: Path) -> str:
    return hash_file(path, hashlib.md5())


class DownloadError(OSError):
    """An archive could not be fetched; the message names its URL."""


class ArchiveError(ValueError):
    """An archive could not be unpacked (unreadable, truncated, or a member refused); the message
    names the archive and says that nothing of it was left behind."""


def fetch(archive: Archive, dest: Path, progress: bool = True) -> Path:
    """Download to ``dest/filename`` (through a ``.part`` file), verifying the MD5 as it streams.
    An archive already there with the right checksum is not fetched again."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / archive.filename
    if target.is_file() and md5_of(target) == archive.md5:
        return target
    part = target.with_name(target.name + ".part")
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(archive.url, timeout=60) as response, open(part, "wb") as fh:
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=archive.filename,
                disable=not progress,
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    fh.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"cannot download {archive.url}: {reason} (nothing was kept; run download again)") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    got = digest.hexdigest()
    if got != archive.md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{archive.url}: MD5 {got} differs from the published {archive.md5}; the download "
            "is incomplete or not the official archive (nothing was kept; run download again)"
        )
    os.replace(part, target)
    return target


#: ``extractall(filter="data")`` exists from Python 3.10.12 / 3.11.4 / 3.12; on every version the
#: members are also checked here (no absolute or '..' names, no link leaving the tree, no devices),
#: so the code is safe on all the Python versions ``requires-python`` allows
TAR_DATA_FILTER = hasattr(tarfile, "data_filter")


class _RefusedMember(tarfile.TarError):
    pass


def _checked_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tf:
        reason = unsafe_reason(member.name)
        if reason is None and (member.issym() or member.islnk()):
            base = posixpath.dirname(member.name) if member.issym() else ""
            target = posixpath.normpath(posixpath.join(base, member.linkname))
            if member.linkname.startswith(("/", "\\")) or target == ".." or target.startswith("../"):
                reason = f"link to {member.linkname!r} leaves the archive's tree"
        if reason is None and not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            reason = "a device, fifo or other special file"
        if reason is not None:
            raise _RefusedMember(f"member {member.name!r} refused: {reason}")
        member.mode &= 0o755  # no setuid/setgid/sticky bits or group/other write, as the data filter
        yield member


def _extract(path: Path, into: Path) -> None:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                reason = unsafe_reason(name.rstrip("/")) if name.rstrip("/") else None
                if reason is not None or not _inside(into, name):
                    raise _RefusedMember(
                        f"member {name!r} would unpack outside the target folder "
                        f"({reason or 'path leaves it'}); refusing"
                    )
            zf.extractall(into)
        return
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            # our rules on every Python (they also refuse absolute names, which the data filter
            # would only make relative), and the data filter on top where it exists
            data_filter: dict[str, Any] = {"filter": "data"} if TAR_DATA_FILTER else {}  # not on every Python
            tf.extractall(into, members=_checked_members(tf), **data_filter)
        return
    raise _RefusedMember("neither a zip nor a tar archive")


def _is_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _conflict(src: Path, dst: Path) -> str | None:
    """A path of ``dst`` whose kind (folder or not) differs from the same path under ``src``, which
    would stop a merge half way: found before anything is moved."""
    if not os.path.lexists(dst):
        return None
    if _is_dir(src) != _is_dir(dst):
        return f"{dst} exists and is {'not ' if _is_dir(src) else ''}a folder"
    if _is_dir(src):
        for child in src.iterdir():
            found = _conflict(child, dst / child.name)
            if found is not None:
                return found
    return None


def _place(src: Path, dst: Path, last: tuple[str, ...]) -> None:
    """Move ``src`` to ``dst``: a rename where ``dst`` is free, else a merge of the two trees. The
    entry on the way to ``last`` (the parts of the archive's marker) moves last, so an interrupted
    move is never taken for a finished one."""
    if not os.path.lexists(dst):
        os.replace(src, dst)
        return
    if _is_dir(src):
        if not _is_dir(dst):
            raise ArchiveError(f"cannot unpack {src.name} into {dst.parent}: {dst} exists and is not a folder")
        head = last[0] if last else None
        for child in sorted(src.iterdir(), key=lambda p: p.name == head):
            _place(child, dst / child.name, last[1:] if child.name == head else ())
        return
    if _is_dir(dst):
        raise ArchiveError(f"cannot unpack {src.name} into {dst.parent}: {dst} exists and is a folder")
    os.replace(src, dst)


def unpack(path: Path, dest: Path, marker: str = "") -> None:
    """Unpack a .tar/.tgz/.zip into ``dest``: first whole into a hidden folder inside ``dest`` (same
    file system), then moved into place, so a failed or interrupted unpack leaves no partial tree.
    Members that would land outside ``dest``, links leaving it and special files are refused;
    unreadable or truncated archives are reported as ``ArchiveError`` naming the archive."""
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".unpacking-{path.name}-"))
    try:
        try:
            _extract(path, staging)
        except (
            tarfile.TarError,
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            zlib.error,
            lzma.LZMAError,
            RuntimeError,
            OSError,
            ValueError,
        ) as exc:
            # RuntimeError (NotImplementedError too): an encrypted zip member or an unsupported compression;
            # EOFError/zlib.error: a truncated or corrupt stream
            raise ArchiveError(
                f"{path}: cannot unpack ({exc}); nothing of it was left in {dest}. Delete the "
                "archive and run download again to fetch it afresh"
            ) from None
        conflict = _conflict(staging, dest)
        if conflict is not None:
            raise ArchiveError(
                f"{path}: cannot unpack into {dest}: {conflict}; nothing of it was left there. "
                "Move that path away and run download again"
            )
        _place(staging, dest, PurePosixPath(marker).parts)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(
    key: str,
    root: Path,
    *,
    progress: bool = True,
    keep_archives: bool = True,
    out: TextIO | None = None,
    archives: dict[str, list[Archive]] | None = None,
) -> Path:
    """Fetch, verify and unpack every archive of ``key`` under ``root``; returns ``root``."""
    table = ARCHIVES if archives is None else archives
    write: Callable[[str], None] = (lambda s: print(s, file=out)) if out is not None else print
    if key == "nuswide":
        write(NUSWIDE_STEPS)
        return root
    if key not in table:
        raise ValueError(
            f"no official archive known for '{key}'; downloadable: {', '.join(table)} (and nuswide: manual steps)"
        )
    root = Path(root)
    for archive in table[key]:
        if archive.marker and (root / archive.marker).exists():
            write(f"{archive.filename}: already unpacked ({root / archive.marker} exists)")
            continue
        path = fetch(archive, root, progress=progress)
        write(f"{archive.filename}: MD5 {archive.md5} verified; unpacking into {root}")
        unpack(path, root, marker=archive.marker)
        if not keep_archives:
            path.unlink()
    return root


__all__ = [
    "ARCHIVES",
    "NUSWIDE_STEPS",
    "Archive",
    "ArchiveError",
    "ChecksumError",
    "DownloadError",
    "download",
    "fetch",
    "md5_of",
    "unpack",
]
