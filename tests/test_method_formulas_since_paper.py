"""The methods published after the paper against plain implementations written here from the
authors' formulas (PROTOCOL.md's "Methods after the paper" and the authors' code).

As in ``test_method_formulas.py``, the references are naive, in float64, and share no code with
``methods/``: LL's selection is the authors' (a top-k of the loss matrix with zeros on annotated
entries, the threshold its k-th value, the rate by repeated subtraction), SPLC's relabelling and
Hill's weight are written entry by entry, GR's loss is given its K, V and Q explicitly, and
BoostLU's class activation map is built position by position.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import methods
from methods.base import TrainInfo

B, C = 8, 20  # VOC's batch and classes
ROLE_K = {"voc": 1.5, "coco": 2.9, "nuswide": 1.9, "cub": 31.4}
NEW = ["epr", "ll_r", "ll_ct", "ll_cp", "hill", "splc", "boostlu_ll_r", "gr_loss"]


def sample(seed: int, b: int = B, c: int = C, with_negatives: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g, dtype=torch.float64) * 3
    values = torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0] if with_negatives else [1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    observed = values[torch.randint(len(values), (b, c), generator=g)]
    observed[:, 0] = 1.0  # at least one observed positive per image, as under 1p
    return logits, observed


def at_epoch(method: methods.Method, epoch: int, num_epochs: int = 10) -> methods.Method:
    """The method as the loop leaves it at the start of ``epoch``."""
    method.setup(TrainInfo(B, method.num_classes, torch.zeros(B, method.num_classes), num_epochs=num_epochs))
    method.on_epoch_start(epoch, None)  # no hook of these methods reads the context
    return method


def close(got: torch.Tensor, want: torch.Tensor, rel: float = 1e-10) -> None:
    assert got.dtype == torch.float64
    got, want = got.detach(), want.detach()
    assert abs(float(got) - float(want)) <= rel * abs(float(want)), (float(got), float(want))


# -- EPR -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", list(ROLE_K))
def test_epr_matches_cole_et_al(dataset: str) -> None:
    logits, observed = sample(1)
    p = torch.sigmoid(logits)
    log = lambda x: torch.log(x + 1e-5)  # noqa: E731
    matrix = torch.where(observed == 1, -log(p), torch.where(observed == -1, -log(1 - p), torch.zeros_like(p)))
    want = matrix.sum() / (B * C) + (p.sum(1).mean() - ROLE_K[dataset]) ** 2 / C**2
    close(methods.build("epr", num_classes=C, dataset=dataset).loss(logits, observed), want)


def test_epr_needs_k() -> None:
    logits, observed = sample(0)
    with pytest.raises(ValueError, match="pass k="):
        methods.build("epr", num_classes=C).loss(logits, observed)


# -- Large Loss Matters --------------------------------------------------------------------------
def authors_clean_rate(epoch: int, delta_rel: float) -> float:
    clean = 1.0
    for _ in range(1, epoch):  # decreased after every finished epoch
        clean -= delta_rel / 100
    return clean


def ll_reference(
    logits: torch.Tensor, observed: torch.Tensor, variant: str, epoch: int, delta_rel: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The authors' ``compute_batch_loss``: the loss and the entries it modifies."""
    b, c = logits.shape
    loss = F.binary_cross_entropy_with_logits(logits, observed.clamp(min=0), reduction="none")
    flipped = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    clean = authors_clean_rate(epoch, delta_rel)
    modified = torch.zeros_like(logits, dtype=torch.bool)
    if clean != 1:
        k = math.ceil(b * c * (delta_rel / 100 if variant == "ll_cp" else 1 - clean))
        unobserved_loss = (observed == 0) * loss
        kth = torch.topk(unobserved_loss.flatten(), k).values[-1]
        modified = unobserved_loss >= kth
        loss = torch.where(modified, torch.zeros_like(loss) if variant == "ll_r" else flipped, loss)
    return loss.mean(), modified


#: the authors' Δ_rel per dataset (https://github.com/snucml/LargeLossMatters/issues/4), and the BoostLU
#: repository's per-variant value on any other dataset
DELTA = {
    "ll_r": {"voc": 0.2, "coco": 0.4, "nuswide": 0.4, "cub": 0.4, None: 0.5},
    "ll_ct": {"voc": 0.2, "coco": 0.2, "nuswide": 0.2, "cub": 0.4, None: 0.2},
    "ll_cp": {"voc": 0.1, "coco": 0.2, "nuswide": 0.2, "cub": 0.2, None: 0.1},
}


@pytest.mark.parametrize("variant", ["ll_r", "ll_ct", "ll_cp"])
@pytest.mark.parametrize("dataset", ["voc", "coco", "nuswide", "cub", None])
def test_ll_defaults_are_the_authors(variant: str, dataset: str | None) -> None:
    assert methods.build(variant, num_classes=C, dataset=dataset).delta_rel == DELTA[variant][dataset]


@pytest.mark.parametrize("variant", ["ll_r", "ll_ct", "ll_cp"])
@pytest.mark.parametrize("epoch", range(1, 11))
def test_ll_loss_at_each_epoch_matches_the_authors(variant: str, epoch: int) -> None:
    for seed in range(3):
        logits, observed = sample(seed)
        # B*C = 160 entries: VOC's batch, and several entries per selection from epoch 2
        method = at_epoch(methods.build(variant, num_classes=C, dataset="voc", delta_rel=3.0), epoch)
        want, modified = ll_reference(logits, observed, variant, epoch, 3.0)
        close(method.loss(logits, observed), want)
        assert int(modified.sum()) == (0 if epoch == 1 else method.num_selected(B * C))


@pytest.mark.parametrize("variant", ["ll_r", "ll_ct", "ll_cp"])
def test_ll_first_epoch_is_an_with_the_exact_log(variant: str) -> None:
    logits, observed = sample(4)
    want = F.binary_cross_entropy_with_logits(logits, observed.clamp(min=0))
    close(methods.build(variant, num_classes=C, dataset="voc").loss(logits, observed), want)


def test_ll_rate_is_the_authors_float_arithmetic() -> None:
    method = methods.build("ll_r", num_classes=10, delta_rel=1.0)
    method.on_epoch_start(2, None)
    # 1 - (1 - 0.01) = 0.010000000000000009: 100 entries give k = 2, not the exact 1
    assert method.rejection_rate() == 1 - (1 - 0.01) and method.num_selected(100) == 2
    method.on_epoch_start(5, None)
    assert method.num_selected(160) == math.ceil(160 * (1 - authors_clean_rate(5, 1.0)))
    cp = methods.build("ll_cp", num_classes=10, delta_rel=1.0)
    assert cp.num_selected(160) == 0  # the first epoch
    for epoch in (2, 5, 10):  # LL-Cp's rate is constant
        cp.on_epoch_start(epoch, None)
        assert cp.num_selected(160) == math.ceil(160 * 0.01)
    assert methods.build("ll_r", num_classes=10, delta_rel=0.0).num_selected(100) == 0
    huge = methods.build("ll_r", num_classes=10, delta_rel=100.0)
    huge.on_epoch_start(10, None)
    assert huge.num_selected(100) == 100  # capped at B*C


def test_ll_selection_includes_every_tie_at_the_kth_value() -> None:
    # one image, 6 classes: AN losses of the unannotated entries 3.0, 2.0, 2.0, 2.0, 0.5
    logits = torch.tensor([[2.0, 3.0, 2.0, 2.0, 2.0, 0.5]], dtype=torch.float64)
    observed = torch.tensor([[1.0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    method = methods.build("ll_r", num_classes=6, delta_rel=25.0)
    method.on_epoch_start(2, None)
    assert method.num_selected(6) == 2  # ceil(6 * 0.25)
    loss = nn.functional.softplus(logits)
    selected = method.large_losses(loss, observed == 0, 2)
    # the largest, and all three tied at the 2nd largest value: 4 entries for k = 2
    assert selected.tolist() == [[False, True, True, True, True, False]]
    want, modified = ll_reference(logits, observed, "ll_r", 2, 25.0)
    assert torch.equal(modified, selected)
    close(method.loss(logits, observed), want)
    # k beyond the unannotated entries: all of them, never the observed positive
    assert method.large_losses(loss, observed == 0, 6).tolist() == [[False, True, True, True, True, True]]


def test_ll_variants_reject_flip_and_relabel() -> None:
    logits, observed = sample(7, with_negatives=False)
    entries = logits.numel()
    an = F.binary_cross_entropy_with_logits(logits, observed, reduction="none")
    as_positive = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="none")
    index = torch.arange(B)
    losses, selections = {}, {}
    for variant in ("ll_r", "ll_ct", "ll_cp"):
        method = methods.build(variant, num_classes=C, delta_rel=2.0)
        method.setup(TrainInfo(B, C, observed.clone()))
        method.on_epoch_start(3, None)
        k = method.num_selected(entries)
        selections[variant] = selected = method.large_losses(an, observed == 0, k)
        assert int(selected.sum()) == k  # no ties among random losses
        losses[variant] = method.loss(logits, method.batch_labels(observed, index), index=index)
        if variant == "ll_cp":  # the corrected entries are positives from now on, in the state
            relabelled = method.batch_labels(observed, index)
            assert torch.equal(relabelled, torch.where(selected, torch.ones_like(observed), observed))
            assert torch.equal(method.state_dict()["labels"], relabelled)
        else:
            assert torch.equal(method.batch_labels(observed, index), observed)
    close(losses["ll_r"], torch.where(selections["ll_r"], torch.zeros_like(an), an).sum() / entries)
    close(losses["ll_ct"], torch.where(selections["ll_ct"], as_positive, an).sum() / entries)
    close(losses["ll_cp"], torch.where(selections["ll_cp"], as_positive, an).sum() / entries)
    # epoch 3 at 2 % per epoch: LL-R and LL-Ct select 4 % of the entries, LL-Cp its constant 2 %
    assert int(selections["ll_r"].sum()) == math.ceil(entries * (1 - authors_clean_rate(3, 2.0)))
    assert int(selections["ll_cp"].sum()) == math.ceil(entries * 0.02) < int(selections["ll_ct"].sum())


def test_ll_cp_writes_corrections_only_for_a_training_batch() -> None:
    logits, observed = sample(8, with_negatives=False)
    method = methods.build("ll_cp", num_classes=C, delta_rel=2.0)
    method.setup(TrainInfo(B, C, observed.clone()))
    method.on_epoch_start(2, None)
    with torch.no_grad():
        method.loss(logits, observed, index=torch.arange(B))
    method.loss(logits, observed)  # no index: no training-set rows to write to
    assert torch.equal(method.labels, observed)
    method.loss(logits, observed, index=torch.arange(B))
    assert int((method.labels != observed).sum()) == method.num_selected(B * C)
    # an observed negative is never turned positive, whatever labels a caller passes
    negatives = torch.full_like(observed, -1.0)
    other = methods.build("ll_cp", num_classes=C, delta_rel=2.0)
    other.setup(TrainInfo(B, C, negatives))
    other.on_epoch_start(2, None)
    other.loss(logits, torch.zeros_like(observed), index=torch.arange(B))
    assert torch.equal(other.labels, negatives)


# -- Hill and SPLC -------------------------------------------------------------------------------
def margin_focal(logits: torch.Tensor, margin: float, gamma: float) -> torch.Tensor:
    pm = torch.sigmoid(logits - margin)
    return -((1 - pm) ** gamma) * torch.log(pm)


@pytest.mark.parametrize("lamb,margin", [(1.5, 1.0), (1.0, 0.5), (2.5, 0.0)])
def test_hill_matches_the_authors(lamb: float, margin: float) -> None:
    logits, observed = sample(2)
    logits = logits.clamp(-20, 20)  # the naive log(sigmoid) of the reference stays finite
    p = torch.sigmoid(logits)
    matrix = torch.where(
        observed == 1,
        margin_focal(logits, margin, 2.0),
        torch.where(observed == 0, (lamb - p) * p * p, -torch.log(1 - p)),
    )
    want = matrix.sum() / (B * C)
    close(
        methods.build("hill", num_classes=C, dataset="voc", lamb=lamb, margin=margin).loss(logits, observed), want, 1e-9
    )


def test_hill_weight_spares_likely_missing_positives() -> None:
    """Hill's gradient on an unannotated entry, d/dg (λ - p)p², against AN's p: far smaller for a
    confident prediction (a likely missing positive) and zero for p -> 0."""
    g = torch.tensor([[-6.0, 0.0, 3.0, 6.0]], dtype=torch.float64, requires_grad=True)
    methods.build("hill", num_classes=4).loss(g, torch.zeros_like(g)).backward()
    p = torch.sigmoid(g.detach())
    hill_grad = (2 * 1.5 * p - 3 * p**2) * p * (1 - p) / g.numel()
    torch.testing.assert_close(g.grad, hill_grad, rtol=1e-12, atol=1e-15)
    assert (g.grad[0, 2:] < 0.2 * p[0, 2:] / g.numel()).all()


def splc_reference(logits: torch.Tensor, observed: torch.Tensor, tau: float, corrects: bool) -> torch.Tensor:
    b, c = logits.shape
    matrix = torch.zeros(b, c, dtype=torch.float64)
    for i in range(b):
        for j in range(c):
            g, y = float(logits[i, j]), float(observed[i, j])
            if y == -1:
                matrix[i, j] = -math.log(1 - 1 / (1 + math.exp(-g)))
                continue
            if y == 1:
                g -= 1.0  # the margin, on observed positives only
            p = 1 / (1 + math.exp(-g))
            target = 1 if y == 1 or (corrects and p > tau) else 0
            matrix[i, j] = -((1 - p) ** 2) * math.log(p) if target else -(p**2) * math.log(1 - p)
    return matrix.sum() / (b * c)


@pytest.mark.parametrize("tau", [0.6, 0.8])
def test_splc_relabels_above_the_threshold_from_the_second_epoch(tau: float) -> None:
    logits, observed = sample(3)
    logits = logits.clamp(-15, 15)
    method = methods.build("splc", num_classes=C, dataset="voc", tau=tau)
    close(method.loss(logits, observed), splc_reference(logits, observed, tau, corrects=False), 1e-9)
    method.on_epoch_start(2, None)
    close(method.loss(logits, observed), splc_reference(logits, observed, tau, corrects=True), 1e-9)
    assert splc_reference(logits, observed, tau, True) != splc_reference(logits, observed, tau, False)


def test_splc_threshold_is_strict_and_ignores_the_margin_of_unannotated_entries() -> None:
    tau = 0.6
    at = math.log(tau / (1 - tau))  # p = τ exactly
    logits = torch.tensor([[at, at + 1e-6, at - 1e-6, 0.0]], dtype=torch.float64)
    method = methods.build("splc", num_classes=4, tau=tau, change_epoch=0)  # corrects from epoch 1
    got = method.loss_matrix(logits, torch.zeros_like(logits))
    p = torch.sigmoid(logits)
    as_positive, as_negative = -((1 - p) ** 2) * torch.log(p), -(p**2) * torch.log(1 - p)
    want = torch.stack([as_negative[0, 0], as_positive[0, 1], as_negative[0, 2], as_negative[0, 3]])
    torch.testing.assert_close(got[0], want, rtol=1e-12, atol=0)
    assert float(methods.build("splc", num_classes=4).hparams["tau"]) == 0.6
    assert not methods.build("splc", num_classes=4).corrects()  # epoch 1 with change_epoch 1


# -- GR loss -------------------------------------------------------------------------------------
def gr_reference(
    logits: torch.Tensor, observed: torch.Tensor, K: torch.Tensor, V: torch.Tensor, q2: float, q3: float
) -> torch.Tensor:
    p = torch.sigmoid(logits)
    unannotated = V * (K * (1 - p**q2) / q2 + (1 - K) * (1 - (1 - p) ** q3) / q3)
    matrix = torch.where(
        observed == 1, -torch.log(p + 1e-7), torch.where(observed == 0, unannotated, -torch.log(1 - p + 1e-7))
    )
    return matrix.sum() / observed.numel()


def gr_schedule(epoch: int, T: int, beta=(0.0, 2.0, -2.0, -2.0), alpha=(0.5, 2.0, 0.8, 0.5)) -> tuple[float, ...]:
    w0, wT, b0, bT = beta
    mu0, s0, muT, sT = alpha
    return (
        w0 + (wT - w0) * max(epoch - 1, 0) / T,
        b0 + (bT - b0) * max(epoch - 1, 0) / T,
        mu0 + (muT - mu0) * epoch / T,
        s0 + (sT - s0) * epoch / T,
    )


@pytest.mark.parametrize("T", [10, 8])
def test_gr_schedules(T: int) -> None:
    method = methods.build("gr_loss", num_classes=C, dataset="voc")
    method.setup(TrainInfo(B, C, torch.zeros(B, C), num_epochs=T))
    for epoch in range(1, T + 1):
        method.on_epoch_start(epoch, None)
        assert tuple(method.schedule()) == pytest.approx(gr_schedule(epoch, T), abs=1e-15)
    method.on_epoch_start(1, None)
    assert tuple(method.schedule()) == pytest.approx((0.0, -2.0, 0.5 + 0.3 / T, 2.0 - 1.5 / T))
    method.on_epoch_start(T, None)
    w, _b, mu, sigma = method.schedule()
    assert (w, mu, sigma) == pytest.approx((2.0 * (T - 1) / T, 0.8, 0.5))
    # before setup, the protocol's 10 epochs
    assert tuple(methods.build("gr_loss", num_classes=C).schedule()) == pytest.approx(gr_schedule(1, 10))


@pytest.mark.parametrize("q2,q3", [(0.01, 1.0), (0.3, 0.5)])
def test_gr_loss_for_given_k_v_q(q2: float, q3: float) -> None:
    logits, observed = sample(5)
    logits = logits.clamp(-15, 15).requires_grad_()
    method = methods.build("gr_loss", num_classes=C, dataset="voc", q2=q2, q3=q3)
    method.setup(TrainInfo(B, C, torch.zeros(B, C), num_epochs=10))
    method.on_epoch_start(4, None)
    w, b, mu, sigma = gr_schedule(4, 10)
    p = torch.sigmoid(logits.detach())  # K and V carry no gradient (the authors' preds.detach())
    K, V = torch.sigmoid(w * p + b), torch.exp(-0.5 * ((p - mu) / sigma) ** 2)
    got = method.loss(logits, observed)
    (grad_got,) = torch.autograd.grad(got, logits)
    want = gr_reference(logits, observed, K, V, q2, q3)
    (grad_want,) = torch.autograd.grad(want, logits)
    close(got, want, 1e-9)
    torch.testing.assert_close(grad_got, grad_want, rtol=1e-7, atol=1e-15)


def test_gr_first_epoch_loss_at_the_voc_defaults() -> None:
    logits, observed = sample(6)
    logits = logits.clamp(-15, 15)
    w, b, mu, sigma = gr_schedule(1, 10)
    p = torch.sigmoid(logits)
    K, V = torch.sigmoid(w * p + b), torch.exp(-0.5 * ((p - mu) / sigma) ** 2)
    close(
        methods.build("gr_loss", num_classes=C, dataset="voc").loss(logits, observed),
        gr_reference(logits, observed, K, V, 0.01, 1.0),
        1e-9,
    )


# -- BoostLU -------------------------------------------------------------------------------------
def cam_reference(fmap: torch.Tensor, head: nn.Linear, alpha: float) -> torch.Tensor:
    b, _d, h, w = fmap.shape
    out = torch.zeros(b, head.out_features, dtype=torch.float64)
    for y in range(h):
        for x in range(w):
            cam = fmap[:, :, y, x] @ head.weight.T + head.bias
            out += torch.where(cam > 0, alpha * cam, cam)
    return out / (h * w)


def test_boostlu_logits_at_alpha_one_are_average_pooling_and_the_head() -> None:
    torch.manual_seed(0)
    fmap = torch.randn(4, 7, 3, 5, dtype=torch.float64)
    head = nn.Linear(7, 6).double()
    plain = head(fmap.mean(dim=(2, 3)))
    got = methods.build("boostlu_ll_r", num_classes=6, alpha=1.0).logits_from_map(fmap, head)
    torch.testing.assert_close(got, plain, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(methods.get("an")(num_classes=6).logits_from_map(fmap, head), plain, rtol=0, atol=0)
    for alpha in (5.0, 2.5):
        boosted = methods.build("boostlu_ll_r", num_classes=6, alpha=alpha).logits_from_map(fmap, head)
        torch.testing.assert_close(boosted, cam_reference(fmap, head, alpha), rtol=1e-12, atol=1e-12)
        assert (boosted >= plain - 1e-12).all() and (boosted > plain + 1e-6).any()


def test_boostlu_defaults_loss_and_refusals() -> None:
    for dataset in ("voc", "coco", "nuswide", "cub"):
        m = methods.build("boostlu_ll_r", num_classes=C, dataset=dataset)
        assert (m.alpha, m.delta_rel) == (5.0, 0.5)
    logits, observed = sample(9)
    for epoch in (1, 2, 7):
        want, _ = ll_reference(logits, observed, "ll_r", epoch, 0.5)
        close(at_epoch(methods.build("boostlu_ll_r", num_classes=C, dataset="voc"), epoch).loss(logits, observed), want)
    with pytest.raises(ValueError, match=r"spatial feature map"):
        methods.build("boostlu_ll_r", num_classes=6).logits_from_map(torch.zeros(2, 9, 7), nn.Linear(7, 6))
    assert methods.get("boostlu_ll_r").makes_own_logits() and not methods.get("ll_r").makes_own_logits()
    assert "linear protocol" in methods.get("boostlu_ll_r").protocol_problem("linear")


# -- the first epoch's loss, through the registry alone ------------------------------------------
def test_every_new_method_is_registered_and_its_loss_needs_no_epoch() -> None:
    assert set(NEW) <= set(methods.available())
    logits, observed = sample(10)
    logits = logits.clamp(-15, 15)
    for key in NEW:
        built = methods.build(key, num_classes=C, dataset="voc")
        first = built.loss(logits, observed)
        assert first.ndim == 0 and torch.isfinite(first), key
        built.on_epoch_start(1, None)
        assert torch.equal(built.loss(logits, observed), first), key
