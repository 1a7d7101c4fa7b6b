"""Variants of the embedded set with a real dataset's label statistics (``digits-voc``, ``digits-coco``).

Same bundled handwriting and the same disjoint pool/test halves as ``embedded``, but a class is a
(digit, style) pair — ``plain``/``inverse`` (a bright patch, dark digit), ``small``/``large`` (8 or
12 pixels), ``upright``/``rot90`` — so 10 digits give 20 or 80 classes. Per image: a scene context is
drawn, then the number of objects, then each object's class from the class frequencies (a long
tail) times the context's affinities (co-occurrence); two objects of one class are one label, as
two persons in a VOC image are. Each object goes in its own 12-pixel cell of a ``grid`` x ``grid``
canvas. The design targets (``Recipe``) are the real sets' published statistics (docs/predict.md);
``label_statistics`` measures what a built set really has. Built offline in seconds,
cached as one ``.npz`` whose name carries a hash of every parameter (``generator_key``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.data.embedded import CELL, NUM_POOL, NUM_TEST, params_key, read_or_build, source_digits

#: bumped when the generator's code changes in a way the recipe does not show
VERSION = 1
#: PASCAL VOC 2012 trainval, images containing each class (devkit Table 1, in class order): the
#: digits-voc class frequencies, person's 4087 the head, cow's 303 the tail
VOC_IMAGES_PER_CLASS = (670, 552, 765, 508, 706, 421, 1161, 1080, 1119, 303, 538, 1286, 482, 526, 4087, 527, 325, 507,
                        544, 575)  # fmt: skip
STYLES = {"plain": (False, False, False), "inverse": (True, False, False)}
STYLES.update({f"{n}-large": (i, True, False) for n, (i, _, _) in list(STYLES.items())})
STYLES.update({f"{n}-rot90": (i, lg, True) for n, (i, lg, _) in list(STYLES.items())})


@dataclass(frozen=True)
class Recipe:
    """Every parameter of a variant; the cache name carries their hash."""

    styles: tuple[str, ...]  # classes: (digit, style) for each of these STYLES
    grid: int  # cells per side: the canvas is grid * CELL pixels
    count_probs: tuple[float, ...]  # P(1, 2, ... objects in an image)
    #: class frequencies: ``weights`` if given, else a Zipf law of this exponent (0: uniform)
    tail: float = 0.0
    weights: tuple[float, ...] = ()
    contexts: int = 0  # scene contexts (0: classes drawn independently of each other)
    affinity: float = 1.0  # the gamma shape of a context's class affinities: small = strong co-occurrence
    seed: int = 0

    @property
    def num_classes(self) -> int:
        return 10 * len(self.styles)

    @property
    def canvas(self) -> int:
        return self.grid * CELL


#: the adoptable variants: targets are the real sets' published statistics (docs/predict.md)
RECIPES: dict[str, Recipe] = {
    # VOC 2012: 20 classes, 1.45 positives an image (16,682 image-labels / 11,540 images, devkit Table 1)
    "digits-voc": Recipe(
        styles=("plain", "inverse"),
        grid=2,
        count_probs=(0.62, 0.24, 0.1, 0.04),
        weights=VOC_IMAGES_PER_CLASS,
        contexts=4,
        affinity=1.0,
    ),
    # COCO 2014: 80 classes, 2.9 positives an image (Cole et al. 2021), a long tail
    "digits-coco": Recipe(
        styles=tuple(STYLES),
        grid=3,
        count_probs=(0.12, 0.15, 0.16, 0.15, 0.13, 0.11, 0.08, 0.06, 0.04),
        tail=1.2,
        contexts=8,
        affinity=0.5,
    ),
}


def generator_key(recipe: Recipe) -> str:
    """A short hash of the generator's version, its sources' sizes and the recipe."""
    return params_key({"version": VERSION, **asdict(recipe)})


def class_names(recipe: Recipe) -> list[str]:
    return [f"{d}/{s}" for s in recipe.styles for d in range(10)]


def class_weights(recipe: Recipe, rng: np.random.RandomState) -> np.ndarray:
    """Each class's share of objects, shuffled over the (digit, style) classes by ``rng``."""
    n = recipe.num_classes
    w = np.asarray(recipe.weights, float) if recipe.weights else np.arange(1, n + 1, dtype=float) ** -recipe.tail
    if len(w) != n:
        raise ValueError(f"{len(w)} class weights for {n} classes")
    return rng.permutation(w / w.sum())


def glyph(digit: np.ndarray, style: str) -> np.ndarray:
    """An 8x8 digit drawn in ``style`` (``STYLES``)."""
    inverse, large, rot = STYLES[style]
    g = 255 - digit if inverse else digit
    if large:  # nearest-neighbour 8 → 12 pixels
        idx = np.arange(CELL) * 8 // CELL
        g = g[np.ix_(idx, idx)]
    return np.rot90(g).copy() if rot else g


def _mosaics(
    recipe: Recipe, rng: np.random.RandomState, probs: np.ndarray, digits: np.ndarray, targets: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    images = np.zeros((n, 1, recipe.canvas, recipe.canvas), dtype=np.uint8)
    labels = np.zeros((n, recipe.num_classes), dtype=np.uint8)
    by_digit = [np.flatnonzero(targets == d) for d in range(10)]
    for i in range(n):
        p = probs[rng.randint(len(probs))]
        count = rng.choice(len(recipe.count_probs), p=recipe.count_probs) + 1
        for cell in rng.permutation(recipe.grid**2)[:count]:
            c = rng.choice(recipe.num_classes, p=p)
            digit, style = c % 10, recipe.styles[c // 10]
            g = glyph(digits[by_digit[digit][rng.randint(len(by_digit[digit]))]], style)
            top = (cell // recipe.grid) * CELL + rng.randint(CELL - len(g) + 1)
            left = (cell % recipe.grid) * CELL + rng.randint(CELL - len(g) + 1)
            images[i, 0, top : top + len(g), left : left + len(g)] = g
            labels[i, c] = 1
    return images, labels


def build(recipe: Recipe) -> dict[str, np.ndarray]:
    if abs(sum(recipe.count_probs) - 1) > 1e-9 or len(recipe.count_probs) > recipe.grid**2:
        raise ValueError(f"count_probs {recipe.count_probs} must sum to 1 over at most {recipe.grid**2} cells")
    rng = np.random.RandomState(recipe.seed)
    w = class_weights(recipe, rng)
    probs = w[None]
    if recipe.contexts:  # an image's class distribution: the frequencies times its context's affinities,
        affinity = rng.gamma(recipe.affinity, size=(recipe.contexts, recipe.num_classes))
        scale = np.ones_like(w)
        for _ in range(200):  # rescaled per class until the contexts' average is the frequencies again
            probs = affinity * scale
            probs /= probs.sum(axis=1, keepdims=True)
            scale *= w / probs.mean(axis=0)
    out = {}
    for part, n in (("pool", NUM_POOL), ("test", NUM_TEST)):
        digits, targets = source_digits(part)
        out[f"{part}_images"], out[f"{part}_labels"] = _mosaics(recipe, rng, probs, digits, targets, n)
    return out


def label_statistics(labels: np.ndarray) -> dict[str, float]:
    """What docs/predict.md compares with the real sets: classes, positives an image, the share of a
    single-positive image's unannotated entries that are positives ((k - 1) / (C - 1) on average), the
    most and least frequent class's share of images, and co-occurrence: the mean lift
    P(a, b) / (P(a) P(b)) over pairs that co-occur at all, and the share of pairs that never do."""
    y = labels.astype(float)
    n, c = y.shape
    per_image = y.sum(1)
    freq = y.mean(0)
    joint = (y.T @ y) / n
    pairs = ~np.eye(c, dtype=bool) & (freq[:, None] * freq[None] > 0)
    seen = pairs & (joint > 0)
    lift = joint[seen] / (freq[:, None] * freq[None])[seen]
    return {
        "classes": c,
        "positives_per_image": float(per_image.mean()),
        "missing_share": float(((per_image - 1) / (c - 1)).mean()),
        "head_share": float(freq.max()),
        "tail_share": float(freq.min()),
        "mean_lift": float(lift.mean()) if lift.size else 0.0,
        "never_together": float(1 - seen.sum() / max(pairs.sum(), 1)),
    }


def cache_path(root: Path, key: str, recipe: Recipe) -> Path:
    return Path(root) / "digits" / f"{key}_v{VERSION}_{generator_key(recipe)}.npz"


def load_arrays(root: Path, key: str, recipe: Recipe | None = None) -> dict[str, np.ndarray]:
    """The cached arrays of variant ``key`` (``RECIPES[key]`` unless ``recipe``), built and written
    atomically on first use; a cache of the wrong shape is refused, naming it."""
    recipe = RECIPES[key] if recipe is None else recipe
    return read_or_build(cache_path(root, key, recipe), lambda: build(recipe), recipe.canvas, recipe.num_classes)


def variant(key: str, **changes: Any) -> Recipe:
    """``RECIPES[key]`` with some parameters changed (the study's one-at-a-time steps)."""
    return replace(RECIPES[key], **changes)
