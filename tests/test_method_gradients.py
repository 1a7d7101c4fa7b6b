"""Gradients, not only values: every loss with a weight that must — or must not — carry a gradient
against a reference written here from PROTOCOL.md's formula (vectorised, float64, no code shared
with ``methods/``), the loss and its gradient with respect to the logits (and to the other leaves:
ROLE's estimator, BoostLU's feature map and head) on random batches of observed positives,
observed negatives and unannotated entries.

The comparisons bite: ``test_a_stray_detach_fails_the_comparison`` re-executes each plugin's source
with a ``.detach()`` inserted on its weight (or a needed one removed: GR's k and v, ROLE's
stop-gradients) and requires the same comparison to fail. And every plugin's defaults on every
dataset are written out below, so that no default changes silently; the later methods' ``sources``
say where each comes from, "project choice" where nothing does.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import methods
from leaderboard.markdown import ADOPTED_SINCE
from methods.base import PROJECT_CHOICE, PROTOCOL_DATASETS, TrainInfo

B, C = 8, 20
METHODS_DIR = Path(methods.__file__).resolve().parent
Pair = tuple[torch.Tensor, torch.Tensor]


def batch(seed: int, soft: bool = False) -> Pair:
    """Logits in float64 and observed labels mixing +1, 0 and -1 (one positive per row at least);
    ``soft``: some unannotated entries carry an APL pseudo-label ``-s``, s in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, generator=g, dtype=torch.float64) * 3
    values = torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0], dtype=torch.float64)
    observed = values[torch.randint(len(values), (B, C), generator=g)]
    observed[:, 0] = 1.0
    if soft:
        pseudo = (torch.rand(B, C, generator=g) < 0.4) & (observed == 0)
        observed = torch.where(pseudo, -(torch.rand(B, C, generator=g, dtype=torch.float64) * 0.98 + 0.01), observed)
    return logits, observed


def log(x: torch.Tensor) -> torch.Tensor:
    """PROTOCOL.md's ``log(x + 1e-5)``."""
    return torch.log(x + 1e-5)


def pick(observed: torch.Tensor, pos: torch.Tensor, unannotated: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """The per-entry loss by label value, reduced as PROTOCOL.md says (sum / B·C)."""
    zero = torch.zeros_like(pos)
    matrix = torch.where(
        observed == 1, pos, torch.where(observed == 0, unannotated, torch.where(observed == -1, neg, zero))
    )
    return matrix.sum() / observed.numel()


def entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * log(p) + (1 - p) * log(1 - p))


def margin_focal(z: torch.Tensor, gamma: float) -> torch.Tensor:
    """``-(1 - sigmoid(z))^γ log sigmoid(z)``, the ``log`` exact."""
    return -((1 - torch.sigmoid(z)) ** gamma) * F.logsigmoid(z)


def at_epoch(method: methods.Method, epoch: int, n: int = B) -> methods.Method:
    method.setup(TrainInfo(n, C, torch.zeros(n, C), num_epochs=10))
    method.on_epoch_start(epoch, None)
    return method


def leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_()


# -- one case per method: (loss, leaves) of the plugin and (loss, leaves) of the reference ---------
Case = Callable[[type], tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]]


def closed_form(key: str, reference: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], soft: bool = False) -> Case:
    """A loss of the logits alone: the plugin at VOC's defaults against ``reference(p, observed)``."""

    def case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
        logits, observed = batch(1, soft)
        got_g, want_g = leaf(logits), leaf(logits)
        got = cls(num_classes=C, dataset="voc").loss(got_g, observed)
        return got, [got_g], reference(want_g, observed), [want_g]

    return case


def focal(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(g)
    return pick(y, -((1 - p) ** 2) * log(p), -(p**2) * log(1 - p), -log(1 - p))


def asl(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(g)
    p_m = torch.clamp(p - 0.05, min=0)
    return pick(y, -log(p), -(p_m**4) * log(1 - p_m), -log(1 - p))


def em(g: torch.Tensor, y: torch.Tensor, sign: float = -1.0) -> torch.Tensor:
    p = torch.sigmoid(g)
    return pick(y, -log(p), sign * 0.2 * entropy(p), -log(1 - p))  # α = 0.2 on VOC


def em_apl(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p, s = torch.sigmoid(g), -y  # s: the soft pseudo-label, a label (no gradient)
    soft = 0.02 * -(s * log(p) + (1 - s) * log(1 - p))  # β = 0.02 on VOC
    matrix = torch.where((y > -1) & (y < 0), soft, torch.zeros_like(p))
    return pick(y, -log(p), -0.2 * entropy(p), -log(1 - p)) + matrix.sum() / y.numel()


def epr(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(g)
    return pick(y, -log(p), torch.zeros_like(p), -log(1 - p)) + (p.sum(1).mean() - 1.5) ** 2 / C**2


def hill(g: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(g)
    return pick(y, margin_focal(g - 1.0, 2.0), (1.5 - p) * p**2, F.softplus(g))


def splc_case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    logits, y = batch(2)
    got_g, g = leaf(logits), leaf(logits)
    got = at_epoch(cls(num_classes=C, dataset="voc"), 2).loss(got_g, y)  # epoch 2: the correction is on
    shifted = torch.where(y == 1, g - 1.0, g)
    p = torch.sigmoid(shifted)
    target = (y == 1) | ((y == 0) & (p.detach() > 0.6))
    assert bool((target & (y == 0)).any())  # some unannotated entries are corrected
    as_pos, as_neg = margin_focal(shifted, 2.0), -(p**2) * F.logsigmoid(-shifted)
    want = torch.where(y == -1, F.softplus(g), torch.where(target, as_pos, as_neg)).sum() / y.numel()
    return got, [got_g], want, [g]


def gr_case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    logits, y = batch(3)
    got_g, g = leaf(logits), leaf(logits)
    got = at_epoch(cls(num_classes=C, dataset="voc"), 4).loss(got_g, y)
    w, b, mu, sigma = 0.0 + 2.0 * 3 / 10, -2.0, 0.5 + 0.3 * 4 / 10, 2.0 - 1.5 * 4 / 10  # epoch 4 of T = 10
    p = torch.sigmoid(g)
    held = p.detach()  # k and v carry no gradient
    k, v = torch.sigmoid(w * held + b), torch.exp(-((held - mu) ** 2) / (2 * sigma**2))
    q2, q3 = 0.01, 1.0
    unannotated = v * (k * (1 - torch.exp(q2 * F.logsigmoid(g))) / q2 + (1 - k) * (1 - (1 - p) ** q3) / q3)
    want = pick(y, -torch.log(p + 1e-7), unannotated, -torch.log(1 - p + 1e-7))
    return got, [got_g], want, [g]


def ll_reference(g: torch.Tensor, y: torch.Tensor, variant: str, k: int) -> torch.Tensor:
    an, as_pos = F.softplus(g), F.softplus(-g)
    base = torch.where(y == 1, as_pos, an)
    unannotated_loss = torch.where(y == 0, an.detach(), torch.full_like(an, -math.inf))
    selected = (y == 0) & (unannotated_loss >= unannotated_loss.flatten().topk(k).values[-1])
    return torch.where(selected, torch.zeros_like(an) if variant == "ll_r" else as_pos, base).sum() / y.numel()


def ll_k(variant: str) -> int:
    """k at epoch 3 with Δ_rel 5: the rate by the authors' repeated subtraction (0.10000000000000009:
    k = 17 of 160 entries), LL-Cp's its constant 5 %."""
    return math.ceil(B * C * (0.05 if variant == "ll_cp" else 1 - (1 - 0.05 - 0.05)))


def ll_case(variant: str) -> Case:
    def case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
        logits, y = batch(4)
        got_g, g = leaf(logits), leaf(logits)
        # Δ_rel 5 at epoch 3: 10 % of the entries (LL-Cp: its constant 5 %)
        got = at_epoch(cls(num_classes=C, dataset="voc", delta_rel=5.0), 3).loss(got_g, y)
        return got, [got_g], ll_reference(g, y, variant, ll_k(variant)), [g]

    return case


def boostlu_case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    torch.manual_seed(5)
    fmap, head = torch.randn(B, 6, 3, 4, dtype=torch.float64), nn.Linear(6, C).double()
    _, y = batch(5)
    got_f, f = leaf(fmap), leaf(fmap)
    got_w, got_b, w, b = leaf(head.weight), leaf(head.bias), leaf(head.weight), leaf(head.bias)
    head.weight, head.bias = nn.Parameter(got_w), nn.Parameter(got_b)
    method = at_epoch(cls(num_classes=C, dataset="voc", delta_rel=5.0), 3)
    got = method.loss(method.logits_from_map(got_f, head), y)
    cam = torch.einsum("bdhw,cd->bhwc", f, w) + b
    logits = torch.where(cam > 0, 5.0 * cam, cam).mean(dim=(1, 2))
    want = ll_reference(logits, y, "ll_r", ll_k("ll_r"))
    return got, [got_f, head.weight, head.bias], want, [f, w, b]


def role_case(cls: type) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    n = B + 3
    logits, y = batch(6)
    method = cls(num_classes=C, dataset="voc")
    torch.manual_seed(6)
    method.setup(TrainInfo(n, C, torch.cat([y, batch(7)[1][:3]]).float()))
    method.double()
    index = torch.tensor([3, 0, 6, 1, 9, 2, 4, 10])
    got_g, g_f = leaf(logits), leaf(logits)
    est = leaf(method.estimator_logits)
    got = method.loss(got_g, y, index=index)
    f, g = torch.sigmoid(g_f), torch.sigmoid(est[index])

    def bce(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -(t * log(q) + (1 - t) * log(1 - q))

    matrix = torch.where(y == 1, 0.5 * (-log(f) - log(g)), torch.where(y == -1, 0.5 * (-log(1 - f) - log(1 - g)), 0.0))
    matrix = matrix + 0.5 * (bce(f, g.detach()) + bce(g, f.detach()))  # each target without gradient
    reg = 0.5 * ((f.sum(1).mean() - 1.5) ** 2 + (g.sum(1).mean() - 1.5) ** 2) / C**2
    return got, [got_g, method.estimator_logits], matrix.sum() / y.numel() + reg, [g_f, est]


CASES: dict[str, Case] = {
    "focal": closed_form("focal", focal),
    "asl": closed_form("asl", asl),
    "em": closed_form("em", em),
    "entmin": closed_form("entmin", lambda g, y: em(g, y, sign=1.0)),
    "em_apl": closed_form("em_apl", em_apl, soft=True),
    "epr": closed_form("epr", epr),
    "hill": closed_form("hill", hill),
    "splc": splc_case,
    "gr_loss": gr_case,
    "ll_r": ll_case("ll_r"),
    "ll_ct": ll_case("ll_ct"),
    "ll_cp": ll_case("ll_cp"),
    "boostlu_ll_r": boostlu_case,
    "role": role_case,
}


def compare(key: str, cls: type) -> None:
    """Raise ``AssertionError`` unless the loss and every gradient agree with the reference."""
    got, got_leaves, want, want_leaves = CASES[key](cls)
    assert got.dtype == torch.float64
    value, expected = float(got.detach()), float(want.detach())
    assert abs(value - expected) <= 1e-10 * abs(expected), (key, value, expected)
    got_grads = torch.autograd.grad(got, got_leaves, allow_unused=True)
    want_grads = torch.autograd.grad(want, want_leaves)
    for got_grad, want_grad in zip(got_grads, want_grads, strict=True):
        assert got_grad is not None, f"{key}: no gradient reaches a leaf"
        torch.testing.assert_close(got_grad, want_grad, rtol=1e-10, atol=1e-14, msg=f"{key}: gradient differs")


@pytest.mark.parametrize("key", sorted(CASES))
def test_loss_and_gradient_match_the_reference(key: str) -> None:
    compare(key, methods.get(key))


# -- the comparison catches a stray detach -------------------------------------------------------
#: per case: (module whose source is changed, the text, its replacement) — a weight detached, or a
#: stop-gradient removed
MUTATIONS: dict[str, list[tuple[str, str, str]]] = {
    "focal": [("focal", "(1 - p).pow(self.gamma)", "(1 - p).pow(self.gamma).detach()")],
    "asl": [("asl", "p_m.pow(self.gamma_neg)", "p_m.pow(self.gamma_neg).detach()")],
    "em": [("em", "return -(p * log_p(logits)", "return -(p.detach() * log_p(logits)")],
    "entmin": [("entmin", "entropy(logits)", "entropy(logits).detach()")],
    "em_apl": [
        ("em", "return -(p * log_p(logits)", "return -(p.detach() * log_p(logits)"),
        ("em_apl", "-(soft * lp + (1 - soft) * l1p)", "-(soft * lp + (1 - soft) * l1p).detach()"),
    ],
    "epr": [("epr", "torch.sigmoid(logits).sum(1).mean()", "torch.sigmoid(logits).detach().sum(1).mean()")],
    "hill": [
        ("hill", "(1 - torch.sigmoid(shifted)).pow(gamma)", "(1 - torch.sigmoid(shifted)).pow(gamma).detach()"),
        ("hill", "(self.lamb - p)", "(self.lamb - p).detach()"),
    ],
    "splc": [
        ("splc", "(1 - p).pow(self.gamma)", "(1 - p).pow(self.gamma).detach()"),
        ("splc", "p.pow(self.gamma) *", "p.pow(self.gamma).detach() *"),
    ],
    "gr_loss": [
        ("gr_loss", "held = p.detach()", "held = p"),  # k and v must NOT carry a gradient
        ("gr_loss", "/ self.q2", "/ self.q2\n        robust_positive = robust_positive.detach()"),
    ],
    "ll_r": [
        (
            "ll_r",
            "torch.where(positive, as_positive, as_negative)",
            "torch.where(positive, as_positive, as_negative.detach())",
        )
    ],
    "ll_ct": [("ll_r", "else as_positive", "else as_positive.detach()")],
    "ll_cp": [("ll_r", "else as_positive", "else as_positive.detach()")],
    "boostlu_ll_r": [("boostlu_ll_r", "cam * self.alpha", "cam.detach() * self.alpha")],
    "role": [
        ("role", "bce(log_f, log_1mf, g.detach())", "bce(log_f, log_1mf, g)"),
        ("role", "bce(log_g, log_1mg, f.detach())", "bce(log_g, log_1mg, f)"),
    ],
}


def mutant(key: str, module: str, old: str, new: str, monkeypatch: pytest.MonkeyPatch) -> type:
    """Method ``key``'s class, from the source of ``methods.<module>`` with ``old`` replaced by ``new``
    (and, when the class lives in another module, that module re-executed over the mutant)."""
    source = (METHODS_DIR / f"{module}.py").read_text(encoding="utf-8")
    assert source.count(old) == 1, f"methods/{module}.py: {old!r} occurs {source.count(old)} times"

    def execute(name: str, text: str) -> ModuleType:
        out = ModuleType(name)
        out.__file__ = f"<mutant of methods/{name.rsplit('.', 1)[-1]}.py>"
        exec(compile(text, out.__file__, "exec"), out.__dict__)  # the repository's own source, changed
        return out

    changed = execute(f"methods.{module}", source.replace(old, new))
    home = methods.get(key).__module__
    if home != f"methods.{module}":  # the class imports what was changed: rebuild it over the mutant
        monkeypatch.setitem(sys.modules, f"methods.{module}", changed)
        changed = execute(home, (METHODS_DIR / f"{home.rsplit('.', 1)[-1]}.py").read_text(encoding="utf-8"))
    [cls] = [c for c in vars(changed).values() if inspect.isclass(c) and getattr(c, "key", None) == key]
    return cls


@pytest.mark.parametrize(
    "key,module,old,new", [(key, *m) for key, ms in MUTATIONS.items() for m in ms], ids=lambda v: str(v)[:24]
)
def test_a_stray_detach_fails_the_comparison(
    key: str, module: str, old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    compare(key, mutant(key, module, old, old, monkeypatch))  # the re-executed source itself passes
    with pytest.raises(AssertionError):
        compare(key, mutant(key, module, old, new, monkeypatch))


def test_every_weighted_loss_has_a_gradient_case_and_a_mutation() -> None:
    assert set(MUTATIONS) == set(CASES)
    assert {"hill", "splc", "gr_loss", "ll_r", "ll_ct", "ll_cp", "boostlu_ll_r", "epr", "role", "em_apl"} <= set(CASES)


# -- every default on every dataset ---------------------------------------------------------------
def every(values: dict) -> dict[str, dict]:
    return dict.fromkeys(PROTOCOL_DATASETS, values)


EM_ALPHA = {"voc": 0.2, "coco": 0.1, "nuswide": 0.1, "cub": 0.01}
ROLE_K = {"voc": 1.5, "coco": 2.9, "nuswide": 1.9, "cub": 31.4}
APL = {"voc": (0.02, 5), "coco": (0.9, 5), "nuswide": (0.2, 4), "cub": (0.4, 3)}
GR = {"w_0": 0.0, "w_T": 2.0, "b_0": -2.0, "b_T": -2.0, "mu_0": 0.5, "sigma_0": 2.0, "mu_T": 0.8, "sigma_T": 0.5}
#: LL's Δ_rel: the authors' per-dataset values, https://github.com/snucml/LargeLossMatters/issues/4
LL = {"ll_r": (0.2, 0.4, 0.4, 0.4), "ll_ct": (0.2, 0.2, 0.2, 0.4), "ll_cp": (0.1, 0.2, 0.2, 0.2)}
EXPECTED: dict[str, dict[str, dict]] = {
    "an": every({}),
    "bce": every({}),
    "asl": every({"gamma_pos": 0.0, "gamma_neg": 4.0, "margin": 0.05}),
    "dw": every({"gamma": None}),  # 1/(C-1), from the number of classes
    "em": {d: {"alpha": a} for d, a in EM_ALPHA.items()},
    "entmin": {d: {"alpha": a} for d, a in EM_ALPHA.items()},
    "em_apl": {
        d: {"alpha": EM_ALPHA[d], "beta": APL[d][0], "T_w": APL[d][1], "T_t": 10, "theta": 0.9}
        for d in PROTOCOL_DATASETS
    },
    "epr": {d: {"k": k} for d, k in ROLE_K.items()},
    "role": {d: {"k": k} for d, k in ROLE_K.items()},
    "role_li": {
        d: {"k": k, "li_epochs": 25, "li_lr": 1e-3, "li_batch_size": 8 if d == "cub" else 16} for d, k in ROLE_K.items()
    },
    "focal": every({"gamma": 2.0}),
    "l1r": every({"lambda1": 1e-5}),
    "l2r": every({"lambda2": 1e-4}),
    "ls": every({"epsilon": 0.1}),
    "nls": every({"rate": -0.1}),
    "hill": every({"lamb": 1.5, "margin": 1.0, "gamma": 2.0}),
    "splc": every({"tau": 0.6, "margin": 1.0, "gamma": 2.0, "change_epoch": 1}),
    "gr_loss": every({**GR, "q2": 0.01, "q3": 1.0}),
    **{v: {d: {"delta_rel": x} for d, x in zip(PROTOCOL_DATASETS, xs, strict=True)} for v, xs in LL.items()},
    "boostlu_ll_r": every({"delta_rel": 0.5, "alpha": 5.0}),
}
#: the defaults no source gives, per method (every dataset of the four)
PROJECT_CHOICES = {"gr_loss": {*GR, "q2", "q3"}}


@pytest.mark.parametrize("dataset", PROTOCOL_DATASETS)
def test_every_default_on_every_dataset(dataset: str) -> None:
    assert set(EXPECTED) == set(methods.available())
    for key, by_dataset in EXPECTED.items():
        cls = methods.get(key)
        got = cls.resolve_hparams(dataset, {})
        assert got == by_dataset[dataset], (key, dataset, got)
        assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in by_dataset[dataset].items()}, key
        cls.check_hparams(got, epochs=10)  # inside the declared ranges


def test_later_methods_name_the_source_of_every_default() -> None:
    for key in ["epr", "hill", "splc", "gr_loss", "ll_r", "ll_ct", "ll_cp", "boostlu_ll_r"]:
        cls = methods.get(key)
        for dataset in PROTOCOL_DATASETS:
            sources = cls.sources[dataset]
            assert set(sources) == set(EXPECTED[key][dataset]), (key, dataset)
            chosen = {h for h, s in sources.items() if s.startswith(PROJECT_CHOICE)}
            assert chosen == PROJECT_CHOICES.get(key, set()), (key, dataset, chosen)
        if key in PROJECT_CHOICES:  # the page says so too
            assert PROJECT_CHOICE in ADOPTED_SINCE[key], key
    assert all("issues/4" in methods.get(v).sources[d]["delta_rel"] for v in LL for d in PROTOCOL_DATASETS)
