"""Tiny fixtures in each dataset's official layout: real JPEG files written with PIL and annotation
files in the official syntax. Each writer returns the hand-specified truth the tests compare with.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from benchmark.data.classes import COCO_CATEGORIES as COCO_OFFICIAL
from benchmark.data.nuswide import CONCEPTS as NUS_OFFICIAL
from benchmark.data.voc import CLASSES as VOC_CLASSES


def write_jpeg(path: Path, size: tuple[int, int] = (12, 9), color: tuple[int, int, int] = (200, 30, 60)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format="JPEG", quality=90)


# -- PASCAL VOC 2012 ----------------------------------------------------------------------------
#: image id → (positive classes, difficult classes); every other class is -1
VOC_TRAIN = {
    "2008_000001": (["cat", "dog"], []),
    "2008_000002": (["person"], ["cat"]),  # a difficult cat is a negative
    "2008_000003": ([], ["bird"]),  # only difficult: no positive → dropped
    "2008_000004": (["aeroplane"], []),
    "2008_000005": ([], []),  # no positive → dropped
    "2008_000006": (["tvmonitor", "person", "chair"], []),
    "2008_000010": (["sheep", "cow"], ["dog"]),
}
VOC_VAL = {
    "2008_000007": (["dog"], []),
    "2008_000008": (["sofa"], ["bottle"]),
    "2008_000009": ([], []),  # dropped
}


def write_voc(root: Path, with_images: bool = True) -> dict[str, dict[str, tuple[list[str], list[str]]]]:
    main = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    for phase, table in (("train", VOC_TRAIN), ("val", VOC_VAL)):
        ids = sorted(table)
        (main / f"{phase}.txt").write_text("".join(f"{i}\n" for i in ids))
        for cls in VOC_CLASSES:
            lines = []
            for i in ids:
                pos, difficult = table[i]
                label = 1 if cls in pos else 0 if cls in difficult else -1
                lines.append(f"{i} {label:2d}\n")  # the devkit's own format
            (main / f"{cls}_{phase}.txt").write_text("".join(lines))
        if with_images:
            for n, i in enumerate(ids):
                write_jpeg(
                    root / "VOCdevkit" / "VOC2012" / "JPEGImages" / f"{i}.jpg", (10 + n, 8 + n), (20 * n, 100, 50)
                )
    return {"train": VOC_TRAIN, "val": VOC_VAL}


# -- MS-COCO 2014 --------------------------------------------------------------------------------
#: the official 80 categories, in the official files' order; ids are not contiguous (1..90 with gaps)
COCO_CATEGORIES = [{"supercategory": "object", "id": i, "name": name} for i, name in COCO_OFFICIAL]
#: image id → category ids of its annotations (repeats: several instances); [] = no annotation
COCO_TRAIN = {9: [1, 1, 18], 25: [90], 100: [3, 1], 1000: [18], 77: []}
COCO_VAL = {42: [3], 73: [1, 90, 90], 5: []}


def _coco_json(split: str, table: dict[int, list[int]]) -> str:
    images = [
        {
            "license": 1,
            "file_name": f"COCO_{split}2014_{i:012d}.jpg",
            "coco_url": "",
            "height": 9,
            "width": 12,
            "date_captured": "2013-11-14 16:28:13",
            "flickr_url": "",
            "id": i,
        }
        for i in table
    ]
    annotations, ann_id = [], 1
    for image_id, cats in table.items():
        for cat in cats:
            annotations.append(
                {
                    "segmentation": [[1.0, 1.0, 5.0, 1.0, 5.0, 5.0]],
                    "area": 8.0,
                    "iscrowd": 0,
                    "image_id": image_id,
                    "bbox": [1.0, 1.0, 4.0, 4.0],
                    "category_id": cat,
                    "id": ann_id,
                }
            )
            ann_id += 1
    data = {
        "info": {"description": "COCO 2014 Dataset", "version": "1.0", "year": 2014},
        "images": images,
        "licenses": [{"url": "", "id": 1, "name": "x"}],
        "annotations": annotations,
        "categories": COCO_CATEGORIES,
    }
    return json.dumps(data, separators=(",", ":"))  # the official files are compact JSON


def write_coco(root: Path) -> dict[str, dict[int, list[int]]]:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, table in (("train", COCO_TRAIN), ("val", COCO_VAL)):
        (root / "annotations" / f"instances_{split}2014.json").write_text(_coco_json(split, table))
        for n, i in enumerate(table):
            write_jpeg(root / f"{split}2014" / f"COCO_{split}2014_{i:012d}.jpg", (9 + n, 7), (10, 20 * n, 200))
    return {"train": COCO_TRAIN, "val": COCO_VAL}


# -- NUS-WIDE ------------------------------------------------------------------------------------
#: the official 81 concepts, in Concepts81.txt's order
NUS_CONCEPTS = list(NUS_OFFICIAL)
#: (image list entry as in the official list, positive concepts), in list order
NUS_TRAIN = [
    ("actor\\0001_2124494179.jpg", ["beach", "birds"]),
    ("actor\\0002_174174086.jpg", []),  # no concept → dropped
    ("airport\\0003_2143294632.jpg", ["airport"]),
    ("zebra\\0010_47718283.jpg", ["animal", "bear", "cars"]),
]
NUS_TEST = [
    ("beach\\0004_1186839489.jpg", ["beach"]),
    ("beach\\0005_1186839491.jpg", []),  # dropped
    ("bridge\\0006_2203494117.jpg", ["bridge", "buildings"]),
]


def write_nuswide(root: Path, concept_dir: bool = False) -> dict[str, list[tuple[str, list[str]]]]:
    concepts_path = root / ("ConceptsList/Concepts81.txt" if concept_dir else "Concepts81.txt")
    concepts_path.parent.mkdir(parents=True, exist_ok=True)
    concepts_path.write_bytes("".join(f"{c}\r\n" for c in NUS_CONCEPTS).encode())
    for phase, table in (("Train", NUS_TRAIN), ("Test", NUS_TEST)):
        (root / "ImageList").mkdir(parents=True, exist_ok=True)
        (root / "ImageList" / f"{phase}Imagelist.txt").write_bytes("".join(f"{e}\r\n" for e, _ in table).encode())
        labels = root / "Groundtruth" / "TrainTestLabels"
        labels.mkdir(parents=True, exist_ok=True)
        for concept in NUS_CONCEPTS:
            (labels / f"Labels_{concept}_{phase}.txt").write_bytes(
                "".join(f"{int(concept in pos)}\r\n" for _, pos in table).encode()
            )
        for n, (entry, _) in enumerate(table):
            write_jpeg(root / "Flickr" / entry.replace("\\", "/"), (8, 8 + n), (50, 50, 30 * n))
    return {"train": NUS_TRAIN, "val": NUS_TEST}


# -- CUB-200-2011 --------------------------------------------------------------------------------
CUB_NUM_ATTRIBUTES = 312
#: (image name, is_training_image, positive attribute ids) in images.txt order, ids from 1
CUB_IMAGES = [
    ("001.Black_footed_Albatross/Black_Footed_Albatross_0046_18.jpg", 0, [1, 5, 312]),
    ("001.Black_footed_Albatross/Black_Footed_Albatross_0009_34.jpg", 1, [2, 8, 100]),
    ("002.Laysan_Albatross/Laysan_Albatross_0002_1027.jpg", 1, []),  # no attribute present: kept
    ("002.Laysan_Albatross/Laysan_Albatross_0003_1033.jpg", 1, [8, 311]),
    ("003.Sooty_Albatross/Sooty_Albatross_0001_1071.jpg", 0, [3]),
]
#: (image id, attribute id) written with extra columns, as some lines of the official file
CUB_EXTRA_COLUMN_LINES = {(2, 8), (4, 9), (5, 3)}


def write_cub(root: Path) -> list[tuple[str, int, list[int]]]:
    archive = root / "CUB_200_2011"
    (archive / "attributes").mkdir(parents=True, exist_ok=True)
    # beside CUB_200_2011/, not inside it, as in the official archive
    (root / "attributes.txt").write_text(
        "".join(f"{a} has_attribute_{a:03d}::value_{a % 7}\n" for a in range(1, CUB_NUM_ATTRIBUTES + 1))
    )
    (archive / "images.txt").write_text("".join(f"{i} {name}\n" for i, (name, _, _) in enumerate(CUB_IMAGES, 1)))
    (archive / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, (_, t, _) in enumerate(CUB_IMAGES, 1)))
    lines = []
    for i, (_, _, positives) in enumerate(CUB_IMAGES, 1):
        for a in range(1, CUB_NUM_ATTRIBUTES + 1):
            present = int(a in positives)
            certainty = 1 + (i + a) % 4  # certainty never decides the label
            if (i, a) in CUB_EXTRA_COLUMN_LINES:
                lines.append(f"{i} {a} {present} {certainty} 0 12.5930\n")
            else:
                lines.append(f"{i} {a} {present} {certainty} {(i * a) % 17}.{a:03d}\n")
    (archive / "attributes" / "image_attribute_labels.txt").write_text("".join(lines))
    for n, (name, _, _) in enumerate(CUB_IMAGES):
        write_jpeg(archive / "images" / name, (11, 10 + n), (100, 20 * n, 20))
    return CUB_IMAGES
