"""``download``: fetch a dataset's official archives, verify their published checksums, unpack.

VOC 2012, COCO 2014 and CUB-200-2011 are fetched from their official hosts (MD5 values as
published with the archives and used by torchvision and the dataset libraries). NUS-WIDE's images
are not distributed as an archive, so for it the manual steps are printed instead.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from tqdm import tqdm

CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    url: str
    filename: str
    md5: str
    #: unpacked here, relative to the raw root
    unpack_to: str = "."
    #: a path (relative to the raw root) that exists once the archive is unpacked
    marker: str = ""


ARCHIVES: dict[str, list[Archive]] = {
    "voc": [
        Archive("http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                "VOCtrainval_11-May-2012.tar", "6cd6e144f989b92b3379bac3b3de84fd",
                marker="VOCdevkit/VOC2012/ImageSets/Main/aeroplane_train.txt"),
    ],
    "coco": [
        Archive("http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
                "annotations_trainval2014.zip", "0a379cfc70b0e71301e0f377548639bd",
                marker="annotations/instances_train2014.json"),
        Archive("http://images.cocodataset.org/zips/train2014.zip", "train2014.zip",
                "0da8c0bd3d6becc4dcb32757491aca88", marker="train2014"),
        Archive("http://images.cocodataset.org/zips/val2014.zip", "val2014.zip",
                "a3d79f5ed8d289b7a7554ce06a5782b3", marker="val2014"),
    ],
    "cub": [
        Archive("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
                "CUB_200_2011.tgz", "97eceeb196236b17998738112f37df78",
                marker="CUB_200_2011/attributes/image_attribute_labels.txt"),
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


class ChecksumError(ValueError):
    """A downloaded archive's checksum differs from the published one."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


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
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=archive.filename, disable=not progress) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    fh.write(block)
                    digest.update(block)
                    bar.update(len(block))
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    got = digest.hexdigest()
    if got != archive.md5:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{archive.url}: MD5 {got} differs from the published {archive.md5}; the download "
                            "is incomplete or not the official archive (nothing was kept; run download again)")
    os.replace(part, target)
    return target


def _inside(base: Path, member: str) -> bool:
    resolved = (base / member).resolve()
    return resolved == base.resolve() or base.resolve() in resolved.parents


def unpack(path: Path, dest: Path) -> None:
    """Unpack a .tar/.tgz/.zip into ``dest``; members that would land outside it are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                if not _inside(dest, name):
                    raise ValueError(f"{path}: member {name!r} would unpack outside {dest}; refusing")
            zf.extractall(dest)
        return
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tf:
            tf.extractall(dest, filter="data")
        return
    raise ValueError(f"{path}: neither a zip nor a tar archive")


def download(key: str, root: Path, *, progress: bool = True, keep_archives: bool = True,
             out: TextIO | None = None, archives: dict[str, list[Archive]] | None = None) -> Path:
    """Fetch, verify and unpack every archive of ``key`` under ``root``; returns ``root``."""
    table = ARCHIVES if archives is None else archives
    write: Callable[[str], None] = (lambda s: print(s, file=out)) if out is not None else print
    if key == "nuswide":
        write(NUSWIDE_STEPS)
        return root
    if key not in table:
        raise ValueError(f"no official archive known for '{key}'; downloadable: {', '.join(table)} (and nuswide: manual steps)")
    root = Path(root)
    for archive in table[key]:
        if archive.marker and (root / archive.marker).exists():
            write(f"{archive.filename}: already unpacked ({root / archive.marker} exists)")
            continue
        path = fetch(archive, root, progress=progress)
        write(f"{archive.filename}: MD5 {archive.md5} verified; unpacking into {root / archive.unpack_to}")
        unpack(path, root / archive.unpack_to)
        if not keep_archives:
            path.unlink()
    return root


__all__ = ["ARCHIVES", "Archive", "ChecksumError", "NUSWIDE_STEPS", "download", "fetch", "md5_of", "unpack"]
