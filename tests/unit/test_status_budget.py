"""Durable's 16 KB custom-status limit, as DurableTask measures it, and the cut that keeps a view inside it."""

from __future__ import annotations

from breakerpanel.core.status_budget import LIMIT_UTF16_BYTES, fit, refusal, utf16_size


def _target(i: int, wave: int) -> dict:
    warning = {"field": "prerequisites.openaiRole", "problem": "no inference role " + "x" * 200, "fix": "az " * 40}
    return {"target": {"subscriptionId": "s", "resourceGroup": "g", "apimName": f"apim-{i}", "wave": wave},
            "wave": wave, "phase": "awaitingApproval" if wave == 1 else "pending", "deploymentName": f"bp-{i}",
            "prerequisites": [{"check": "tier", "status": "passed", "detail": "d" * 80},
                              {"check": "openaiRole", "status": "warning", "detail": "w" * 200}],
            "warnings": [warning, warning]}


def _view(targets: int, lines: int) -> dict:
    keys = [f"s/g/apim-{i}" for i in range(targets)]
    return {
        "rolloutId": "r1", "phase": "awaitingApproval", "wave": 1, "status": None,
        "approval": {"status": "waiting", "wave": 1, "whatIfDigest": "sha256:" + "0" * 64,
                     "event": "RolloutApproval-wave-1", "since": "2026-12-04T10:00:00Z",
                     "reason": "; ".join(f"{k}: destructive" for k in keys),
                     "whatIf": {k: [f"Modify backend {k}/b{n} " + "p" * 60 for n in range(lines)] + ["  … 5 more"]
                                for k in keys[:10]},
                     "ignored": []},
        "targets": {k: _target(i, 1 + i // 10) for i, k in enumerate(keys)},
    }


def test_the_threshold_is_the_extensions_integer_kilobytes_of_utf16() -> None:
    assert refusal({"s": "a" * 8000}) is None  # 16,018 bytes: 15 KB
    assert refusal({"s": "a" * 8690}) is None  # 17,398 bytes: int(16.99) = 16, still accepted
    assert refusal({"s": "a" * 8700}) is not None  # 17,418 bytes: int(17.01) = 17 > 16, refused
    assert "must not exceed 16 KB" in (refusal({"s": "a" * 9000}) or "")
    assert utf16_size({"s": "é"}) == len('{"s": "\\u00e9"}') * 2  # escaped, as json.dumps sends it


def test_a_view_that_fits_is_left_whole() -> None:
    view = _view(2, 3)
    assert fit(view) == view


def test_a_large_view_is_cut_to_fit_and_keeps_what_answering_needs() -> None:
    view = _view(30, 25)
    assert utf16_size(view) > LIMIT_UTF16_BYTES

    shown = fit(view)

    assert utf16_size(shown) <= LIMIT_UTF16_BYTES
    assert "16 KB" in shown["trimmed"]
    gate = shown["approval"]
    assert {k: gate[k] for k in ("status", "wave", "whatIfDigest", "event")} == {
        k: view["approval"][k] for k in ("status", "wave", "whatIfDigest", "event")}
    # The waiting wave's targets stay visible with their phases.
    assert {t["phase"] for t in shown["targets"].values()} >= {"awaitingApproval"}


def test_lines_cut_from_the_gate_are_counted_with_those_already_hidden() -> None:
    shown = fit(_view(12, 25), limit=utf16_size(_view(12, 25)) // 3)

    lines = next(iter(shown["approval"]["whatIf"].values()))
    kept = [line for line in lines if not line.strip().startswith("…")]
    assert lines[-1].strip() == f"… {25 - len(kept) + 5} more"


def test_a_view_of_anything_else_is_cut_to_its_identity() -> None:
    huge = {"rolloutId": "r1", "phase": "deploying", "note": "n" * 20000}
    assert fit(huge) == {"rolloutId": "r1", "phase": "deploying", "trimmed": fit(huge)["trimmed"]}


def test_when_only_counts_fit_every_target_is_still_counted() -> None:
    view = _view(30, 25)
    shown = fit(view, limit=utf16_size({"rolloutId": "r1"}) * 40)

    assert shown["targets"] == {}
    assert sum(shown["otherTargets"].values()) == 30
