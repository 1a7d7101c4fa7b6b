"""Each method against a plain implementation written here from PROTOCOL.md's formula.

The references below are deliberately naive — one ``torch.where`` per label value, ``log`` as
``log(x + 1e-5)``, the reduction ``sum / (B*C)`` — and share no code with ``methods/``. They run
in float64 on random logits (including saturated ones) and random labels in {+1, 0, -1}.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import methods
from methods.base import TrainInfo

DATASETS = [None, "voc", "coco", "nuswide", "cub"]
B, C = 7, 11
EPS = 1e-5


def log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x + EPS)


def sample(seed: int, with_negatives: bool = True, scale: float = 4.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, generator=g, dtype=torch.float64) * scale
    logits[0, :3] = torch.tensor([-30.0, 30.0, 0.0], dtype=torch.float64)  # saturated and neutral
    values = torch.tensor([1.0, 0.0, -1.0] if with_negatives else [1.0, 0.0], dtype=torch.float64)
    observed = values[torch.randint(len(values), (B, C), generator=g)]
    observed[0, :3] = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    return logits, observed


def entrywise(observed: torch.Tensor, pos: torch.Tensor, unannotated: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """The per-entry loss picked by label value, reduced as PROTOCOL.md says."""
    matrix = torch.where(observed == 1, pos, torch.where(observed == 0, unannotated, neg))
    return matrix.sum() / (observed.shape[0] * observed.shape[1])


def bce_to(p: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    return -(t * log(p) + (1 - t) * log(1 - p))


# expected per-dataset values, copied from PROTOCOL.md
EM_ALPHA = {"voc": 0.2, "coco": 0.1, "nuswide": 0.1, "cub": 0.01}
APL_BETA = {"voc": 0.02, "coco": 0.9, "nuswide": 0.2, "cub": 0.4}
APL_WARMUP = {"voc": 5, "coco": 5, "nuswide": 4, "cub": 3}
ROLE_K = {"voc": 1.5, "coco": 2.9, "nuswide": 1.9, "cub": 31.4}


def reference(key: str, logits: torch.Tensor, observed: torch.Tensor, dataset: str | None) -> torch.Tensor:
    p = torch.sigmoid(logits)
    alpha = EM_ALPHA.get(dataset, 0.1)
    entropy = -(p * log(p) + (1 - p) * log(1 - p))
    neg = -log(1 - p)  # PROTOCOL.md: an observed negative is -log(1-p) unless the row says otherwise
    if key == "bce":
        return entrywise(observed, -log(p), torch.zeros_like(p), neg)
    if key in ("an", "l1r", "l2r"):  # the regularisers add nothing without a model
        return entrywise(observed, -log(p), -log(1 - p), neg)
    if key == "dw":
        return entrywise(observed, -log(p), -(1 / (C - 1)) * log(1 - p), neg)
    if key == "ls":
        e = 0.1
        return entrywise(observed, -(1 - e) * log(p) - e * log(1 - p), -(1 - e) * log(1 - p) - e * log(p), neg)
    if key == "nls":
        r = -0.1
        return entrywise(observed, bce_to(p, 1 - r / 2), bce_to(p, r / 2), neg)
    if key == "entmin":
        return entrywise(observed, -log(p), alpha * entropy, neg)
    if key == "em":
        return entrywise(observed, -log(p), -alpha * entropy, neg)
    if key == "focal":
        return entrywise(observed, -((1 - p) ** 2) * log(p), -(p**2) * log(1 - p), neg)
    if key == "asl":
        p_m = torch.clamp(p - 0.05, min=0.0)
        return entrywise(observed, -((1 - p) ** 0) * log(p), -(p_m**4) * log(1 - p_m), neg)
    raise KeyError(key)


CLOSED_FORM = ["bce", "an", "dw", "l1r", "l2r", "ls", "nls", "entmin", "em", "focal", "asl"]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("key", CLOSED_FORM)
def test_loss_matches_protocol_formula(key: str, dataset: str | None) -> None:
    for seed in range(3):
        logits, observed = sample(seed)
        got = methods.build(key, num_classes=C, dataset=dataset).loss(logits, observed)
        want = reference(key, logits, observed, dataset)
        assert got.dtype == torch.float64
        assert abs(float(got) - float(want)) <= 1e-5 * abs(float(want)), (key, dataset, float(got), float(want))


@pytest.mark.parametrize("dataset", DATASETS)
def test_em_apl_matches_protocol_formula_with_soft_labels(dataset: str | None) -> None:
    logits, observed = sample(5)
    g = torch.Generator().manual_seed(9)
    soft = torch.rand(B, C, generator=g, dtype=torch.float64) * 0.98 + 0.01
    is_pseudo = torch.rand(B, C, generator=g) < 0.3
    observed = torch.where(is_pseudo & (observed == 0), -soft, observed)
    assert ((observed > -1) & (observed < 0)).any()
    p = torch.sigmoid(logits)
    alpha, beta = EM_ALPHA.get(dataset, 0.1), APL_BETA.get(dataset, 0.2)
    s = -observed
    matrix = torch.where(
        observed == 1,
        -log(p),
        torch.where(
            observed == 0,
            alpha * (p * log(p) + (1 - p) * log(1 - p)),
            torch.where(observed == -1, -log(1 - p), beta * (-s * log(p) - (1 - s) * log(1 - p))),
        ),
    )
    want = matrix.sum() / (B * C)
    got = methods.build("em_apl", num_classes=C, dataset=dataset).loss(logits, observed)
    assert abs(float(got) - float(want)) <= 1e-5 * abs(float(want))


@pytest.mark.parametrize("dataset", ["voc", "coco", "nuswide", "cub"])
def test_per_dataset_defaults(dataset: str) -> None:
    assert methods.build("em", num_classes=C, dataset=dataset).alpha == EM_ALPHA[dataset]
    assert methods.build("entmin", num_classes=C, dataset=dataset).alpha == EM_ALPHA[dataset]
    apl = methods.build("em_apl", num_classes=C, dataset=dataset)
    assert (apl.alpha, apl.beta, apl.T_w, apl.T_t, apl.theta) == (
        EM_ALPHA[dataset],
        APL_BETA[dataset],
        APL_WARMUP[dataset],
        10,
        0.9,
    )
    assert methods.build("role", num_classes=C, dataset=dataset).k == ROLE_K[dataset]
    li = methods.build("role_li", num_classes=C, dataset=dataset)
    assert (li.k, li.li_epochs, li.li_lr, li.li_batch_size) == (
        ROLE_K[dataset],
        25,
        1e-3,
        8 if dataset == "cub" else 16,
    )
    assert methods.build("ls", num_classes=C, dataset=dataset).epsilon == 0.1
    assert methods.build("nls", num_classes=C, dataset=dataset).rate == -0.1
    assert methods.build("focal", num_classes=C, dataset=dataset).gamma == 2
    asl = methods.build("asl", num_classes=C, dataset=dataset)
    assert (asl.gamma_pos, asl.gamma_neg, asl.margin) == (0, 4, 0.05)


def test_defaults_are_overridable_by_keyword() -> None:
    assert methods.build("em", num_classes=C, dataset="cub", alpha=0.3).alpha == 0.3
    assert methods.build("dw", num_classes=C, gamma=0.5).gamma == 0.5
    logits, observed = sample(1)
    got = methods.build("focal", num_classes=C, gamma=0).loss(logits, observed)
    assert torch.allclose(got, reference("an", logits, observed, None), rtol=1e-12)
    with pytest.raises(TypeError, match="no hyper-parameter 'alpah'"):
        methods.build("em", num_classes=C, alpah=0.3)


@pytest.mark.parametrize("num_classes", [2, 5, 20, 80, 312])
def test_dw_gamma_is_one_over_c_minus_one(num_classes: int) -> None:
    assert methods.build("dw", num_classes=num_classes).gamma == 1 / (num_classes - 1)
    with pytest.raises(ValueError, match="at least 2 classes"):
        methods.build("dw", num_classes=1)


def test_adopted_definitions_say_so() -> None:
    for key in ["l1r", "l2r", "nls", "entmin", "focal", "asl"]:
        doc = __import__(methods.get(key).__module__, fromlist=["_"]).__doc__
        assert "**(adopted" in doc.splitlines()[0], f"{key}: first line must mark the adopted definition"
    for key in ["bce", "an", "dw", "ls", "em", "em_apl", "role", "role_li"]:
        assert "adopted" not in methods.get(key).summary


# -- EM's gradient regime --------------------------------------------------------------------
def test_em_gradient_matches_the_closed_form() -> None:
    """d/dg [α(p log p + (1-p) log(1-p))] = -α e^{-g} log(e^{-g}) / (1+e^{-g})², divided by B*C.

    The closed form is for the exact ``log``; the loss uses ``log(x + 1e-5)``. Differentiating the
    eps form gives the exact gradient plus terms that cancel to first order in eps, leaving
    O(eps²/p): below 1e-4 relative for |g| <= 8 (p >= 3e-4) and below eps = 1e-5 in absolute
    value (times α) for any g. Those are the tolerances; a wrong sign, factor or reduction is off
    by far more."""
    alpha = 0.2
    g = torch.linspace(-15, 15, 603, dtype=torch.float64).reshape(3, -1).requires_grad_()
    methods.build("em", num_classes=g.shape[1], alpha=alpha).loss(g, torch.zeros_like(g)).backward()
    got = g.grad * g.numel()
    x = g.detach()
    closed = -alpha * torch.exp(-x) * torch.log(torch.exp(-x)) / (1 + torch.exp(-x)) ** 2
    assert (got - closed).abs().max() <= alpha * EPS
    middle = x.abs() <= 8
    torch.testing.assert_close(got[middle], closed[middle], rtol=1e-4, atol=1e-12)
    # the regime itself: zero at g = 0, pushes toward 0 from both sides, vanishes for confident g
    zero = methods.build("em", num_classes=1, alpha=alpha)
    g0 = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    zero.loss(g0, torch.zeros_like(g0)).backward()
    assert abs(float(g0.grad)) < 1e-12
    assert (got[x > 0.5] > 0).all() and (got[x < -0.5] < 0).all()
    assert got[x >= 14].abs().max() < 1e-4 * got.abs().max()


# -- L1R / L2R ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "power", "name", "default"), [("l1r", 1, "lambda1", 1e-5), ("l2r", 2, "lambda2", 1e-4)]
)
def test_regulariser_over_trainable_parameters(key: str, power: int, name: str, default: float) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, C)).double()
    model[0].bias.requires_grad_(False)  # frozen: not penalised
    logits, observed = sample(2, with_negatives=False)
    method = methods.build(key, num_classes=C, **{name: 0.3})
    assert methods.build(key, num_classes=C).hparams[name] == default
    an = reference("an", logits, observed, None)
    assert torch.allclose(method.loss(logits, observed), an, rtol=1e-12)  # no model: plain AN
    trainable = [p for p in model.parameters() if p.requires_grad]
    penalty = 0.3 * sum(float((p.detach().abs() ** power).sum()) for p in trainable)
    got = method.loss(logits, observed, model=model)
    assert math.isclose(float(got.detach()), float(an) + penalty, rel_tol=1e-10)
    method.attach(model)  # the loop attaches the model; the loss then reads it without model=
    assert math.isclose(float(method.loss(logits, observed).detach()), float(an) + penalty, rel_tol=1e-10)
    got.backward()
    assert model[0].weight.grad is not None and model[0].bias.grad is None


# -- APL ---------------------------------------------------------------------------------------
def test_apl_per_epoch_counts_are_int_of_the_formula() -> None:
    for theta, t_w, t_t in [(0.9, 5, 10), (0.9, 4, 10), (0.9, 3, 10), (0.7, 2, 9)]:
        apl = methods.build("em_apl", num_classes=3, theta=theta, T_w=t_w, T_t=t_t)
        u = [0, 1, 5, 7, 50, 103, 999, 5717]
        observed = torch.ones(max(u), len(u))
        for c, n in enumerate(u):
            observed[:n, c] = 0
        apl = methods.build("em_apl", num_classes=len(u), theta=theta, T_w=t_w, T_t=t_t)
        apl.setup(TrainInfo(max(u), len(u), observed))
        assert apl.per_epoch_counts().tolist() == [int(theta * n / (t_t - t_w)) for n in u]


def test_apl_selection_and_soft_labels_on_a_crafted_example() -> None:
    # class 0: U_0 = 5 -> int(0.9 * 5 / (4 - 2)) = 2 per epoch; class 1: U_1 = 3 -> 1 per epoch
    observed = torch.tensor([[1, 0], [0, 1], [0, 1], [0, 0], [0, -1], [0, 0]], dtype=torch.float32)
    apl = methods.build("em_apl", num_classes=2, theta=0.9, T_w=2, T_t=4)
    apl.setup(TrainInfo(6, 2, observed))
    assert apl.unannotated_at_start.tolist() == [5, 3]
    assert apl.per_epoch_counts().tolist() == [2, 1]
    probs = torch.tensor([[0.01, 0.9], [0.3, 0.01], [0.1, 0.02], [0.2, 0.5], [0.05, 0.03], [0.6, 0.4]])

    class Ctx:
        calls = 0

        def predict_train(self) -> torch.Tensor:
            Ctx.calls += 1
            return probs

    apl.on_epoch_end(1, Ctx())  # before the warm-up ends: nothing
    assert Ctx.calls == 0 and torch.equal(apl.labels, observed)

    apl.on_epoch_end(2, Ctx())
    want = observed.clone()
    want[4, 0], want[2, 0] = -0.05, -0.1  # the 2 lowest unannotated of class 0 (row 0 is positive)
    want[5, 1] = -0.4  # the lowest still-unannotated of class 1: rows 1, 2, 4 are annotated
    assert Ctx.calls == 1 and torch.equal(apl.labels, want)

    # new predictions; the zeros sit on entries that are no longer unannotated
    probs = torch.tensor([[0.0, 0.9], [0.3, 0.0], [0.0, 0.0], [0.25, 0.7], [0.0, 0.0], [0.6, 0.0]])
    apl.on_epoch_end(3, Ctx())  # accumulates; never touches positives or earlier pseudo-labels
    want[3, 0], want[1, 0] = -0.25, -0.3
    want[3, 1] = -0.7
    assert torch.equal(apl.labels, want)

    apl.on_epoch_end(4, Ctx())  # one unannotated entry left per class: fewer than the count of 2
    want[5, 0], want[0, 1] = -0.6, -0.9
    assert torch.equal(apl.labels, want)
    assert (apl.labels == 0).sum() == 0 and (apl.labels > 0).sum() == (observed == 1).sum()

    # the loss sees the pseudo-labelled rows through batch_labels
    index = torch.tensor([5, 2])
    assert torch.equal(apl.batch_labels(observed[index], index), want[index])


def test_apl_ties_go_by_row_and_soft_labels_stay_in_range() -> None:
    observed = torch.zeros(6, 1)
    apl = methods.build("em_apl", num_classes=1, theta=1.0, T_w=1, T_t=4)  # 2 per epoch
    apl.setup(TrainInfo(6, 1, observed))
    chosen = apl.pseudo_label(torch.tensor([[0.5], [0.0], [0.5], [0.0], [0.0], [1.0]]))
    assert chosen[:, 0].tolist() == [False, True, False, True, False, False]
    # p = 0 is stored as a tiny negative, so it does not read as "unannotated" again
    assert (apl.labels[[1, 3], 0] < 0).all() and (apl.labels[[1, 3], 0] > -1e-30).all()
    apl.pseudo_label(torch.tensor([[1.0], [0.0], [1.0], [0.0], [1.0], [1.0]]))
    apl.pseudo_label(torch.tensor([[1.0], [0.0], [1.0], [0.0], [1.0], [1.0]]))
    assert ((apl.labels > -1) & (apl.labels < 0)).all()  # p = 1 is not stored as an observed -1


# -- ROLE --------------------------------------------------------------------------------------
def role_run(key: str = "role", seed: int = 0, n: int = 9) -> tuple[methods.Method, torch.Tensor]:
    observed = torch.zeros(n, C)
    observed[torch.arange(n), torch.arange(n) % C] = 1
    observed[0, 5] = -1
    method = methods.build(key, num_classes=C, dataset="voc")
    torch.manual_seed(seed)
    method.setup(TrainInfo(n, C, observed))
    return method, observed


def test_role_initialisation() -> None:
    method, observed = role_run(seed=4)
    est = method.estimator_logits.detach()
    assert isinstance(method.estimator_logits, nn.Parameter) and est.shape == observed.shape
    logit = lambda q: math.log(q / (1 - q))  # noqa: E731
    assert torch.allclose(est[observed == 1], torch.tensor(logit(0.995)))
    assert torch.allclose(est[observed == -1], torch.tensor(logit(0.005)))
    unobserved = est[observed == 0]
    assert unobserved.abs().max() <= logit(0.6) + 1e-6
    assert unobserved.min() < -0.5 * logit(0.6) and unobserved.max() > 0.5 * logit(0.6)  # spread, not constant
    # the uniform draw comes from torch's global RNG: the same seed, the same estimator
    again, _ = role_run(seed=4)
    other, _ = role_run(seed=5)
    assert torch.equal(again.estimator_logits, method.estimator_logits)
    assert not torch.equal(other.estimator_logits, method.estimator_logits)


def test_role_learning_rate_multiplier() -> None:
    method = methods.build("role", num_classes=C, dataset="coco")
    assert method.param_groups(1e-5) == []  # nothing to optimise before setup
    method, _ = role_run()
    groups = method.param_groups(1e-5)
    assert len(groups) == 1 and groups[0]["params"] == [method.estimator_logits]
    assert groups[0]["lr"] == pytest.approx(1e-4, rel=1e-12)
    assert methods.get("role_li").lr_multiplier == 10


def test_role_loss_matches_the_formula_values_and_gradients() -> None:
    method, observed = role_run(n=B + 3)  # three rows of the estimator stay outside the batch
    method.double()
    logits, _ = sample(7)
    logits.requires_grad_()
    index = torch.tensor([3, 0, 6, 1, 9, 2, 4])
    y = observed[index].double()
    got = method.loss(logits, y, index=index)
    got.backward()

    est = method.estimator_logits.detach().clone().requires_grad_()
    g_logits = logits.detach().clone().requires_grad_()
    f, g = torch.sigmoid(g_logits), torch.sigmoid(est[index])
    on_pos = torch.where(y == 1, 0.5 * (-log(f) - log(g)), 0.0)
    on_neg = torch.where(y == -1, 0.5 * (-log(1 - f) - log(1 - g)), 0.0)
    cross = 0.5 * (bce_to(f, g.detach()) + bce_to(g, f.detach()))
    k = 1.5
    reg = 0.5 * ((f.sum(1).mean() - k) ** 2 / C**2 + (g.sum(1).mean() - k) ** 2 / C**2)
    want = (on_pos + on_neg + cross).sum() / (B * C) + reg
    want.backward()
    assert abs(float(got.detach()) - float(want.detach())) <= 1e-5 * abs(float(want.detach()))
    torch.testing.assert_close(logits.grad, g_logits.grad, rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(method.estimator_logits.grad, est.grad, rtol=1e-6, atol=1e-12)
    # only the batch's rows of the estimator get a gradient
    untouched = torch.ones(B + 3, dtype=torch.bool)
    untouched[index] = False
    assert untouched.sum() == 3 and method.estimator_logits.grad[untouched].abs().sum() == 0
    assert (method.estimator_logits.grad[index].abs().sum(1) > 0).all()


def test_role_needs_setup_and_index() -> None:
    logits, observed = sample(0, with_negatives=False)
    fresh = methods.build("role", num_classes=C, dataset="voc")
    with pytest.raises(RuntimeError, match=r"setup\(TrainInfo\).*before loss\(\)"):
        fresh.loss(logits, observed)
    method, _ = role_run(n=B)
    with pytest.raises(ValueError, match="needs index="):
        method.loss(logits.float(), observed.float())
    with pytest.raises(ValueError, match="out of range"):
        method.loss(logits.float(), observed.float(), index=torch.arange(B) + 3)
    with pytest.raises(ValueError, match="integer row numbers"):
        method.loss(logits.float(), observed.float(), index=torch.arange(B - 1))
    nok = methods.build("role", num_classes=C)  # no dataset: no k
    with pytest.raises(ValueError, match="pass k="):
        nok.setup(TrainInfo(B, C, observed))


def test_role_li_linear_phase_trains_head_and_estimator_deterministically() -> None:
    from tests.method_contract import fake_run

    def linear_phase(seed: int) -> tuple[dict, torch.Tensor, int]:
        run = fake_run(methods.get("role_li"), seed=seed, li_epochs=3, li_batch_size=5)
        before = run.method.estimator_logits.detach().clone()
        head_before = run.model.head.weight.detach().clone()
        backbone_before = [p.detach().clone() for p in run.model.backbone.parameters()]
        run.method.before_training(run.ctx)
        assert not torch.equal(run.model.head.weight, head_before)
        assert not torch.equal(run.method.estimator_logits, before)
        assert all(torch.equal(a, b) for a, b in zip(backbone_before, run.model.backbone.parameters()))
        return run.model.state_dict(), run.method.estimator_logits.detach(), run.calls["train_features"]

    a, b = linear_phase(0), linear_phase(0)
    assert a[2] == 1  # the frozen features are computed once
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and torch.equal(a[1], b[1])
    c = linear_phase(1)
    assert not torch.equal(a[1], c[1])


def test_role_li_linear_phase_lowers_the_role_loss() -> None:
    from tests.method_contract import NUM_TRAIN, fake_run

    run = fake_run(methods.get("role_li"), li_epochs=20, li_batch_size=4)
    index = torch.arange(NUM_TRAIN)
    with torch.no_grad():
        feats = run.model.features(run.inputs)
    with torch.no_grad():
        before = float(run.method.loss(run.model.head(feats), run.observed, index=index))
    run.method.before_training(run.ctx)
    with torch.no_grad():
        after = float(run.method.loss(run.model.head(feats), run.observed, index=index))
    assert after < before
