"""The offline CLI: CSV in, forecast CSV out, bad series isolated, bad input exits 2."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest

from promcast_forecaster.offline import cli

M = 24


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="promcast-forecaster")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["offline", *argv])


def write_input(path: Path, unix: bool = False, days: int = 10) -> None:
    rng = np.random.default_rng(0)
    start = 1_700_000_000 - 1_700_000_000 % 3600
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for sid, amp in (("web-1", 5.0), ("web-2", 2.0)):
            for k in range(days * M):
                if sid == "web-2" and 30 <= k < 40:
                    continue  # missing scrapes
                ts = start + 3600 * k
                stamp = str(ts) if unix else np.datetime_as_string(np.datetime64(ts, "s")) + "Z"
                w.writerow(
                    [sid, stamp, f"{20 + amp * np.sin(2 * np.pi * k / M) + rng.normal(0, 0.3):.4f}"]
                )
        w.writerow(["junk", stamp, "n/a"])
        w.writerow(["tiny", stamp, "3.5"])


def read_output(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_forecasts_every_series_with_requested_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_input(src)
    args = parse(
        [
            "--input",
            str(src),
            "--horizon",
            "12",
            "--step",
            "1h",
            "--levels",
            "80,95",
            "--model",
            "fast_hw",
            "--out",
            str(out),
        ]
    )
    assert cli.run(args) == 0
    rows = read_output(out)
    assert list(rows[0]) == [
        "series_id",
        "timestamp",
        "mean",
        "lower_80",
        "upper_80",
        "lower_95",
        "upper_95",
        "model",
    ]
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["series_id"], []).append(r)
    assert set(by_id) == {"web-1", "web-2", "tiny"}  # junk has no numbers: reported, not written
    assert all(len(v) == 12 for v in by_id.values())
    first = by_id["web-1"][0]
    assert first["timestamp"].endswith("Z") and first["model"] == "fast_hw"
    assert (
        float(first["lower_95"])
        <= float(first["lower_80"])
        <= float(first["mean"])
        <= float(first["upper_80"])
    )
    err = capsys.readouterr().err
    assert "series junk: error: no numeric values" in err
    assert "3 series forecast" in err and "1 failed" in err


def test_first_forecast_is_one_step_after_the_newest_sample(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_input(src, unix=True)
    assert (
        cli.run(
            parse(
                [
                    "--input",
                    str(src),
                    "--horizon",
                    "2d",
                    "--model",
                    "seasonal_naive",
                    "--out",
                    str(out),
                    "--levels",
                    "90",
                ]
            )
        )
        == 0
    )
    rows = [r for r in read_output(out) if r["series_id"] == "web-1"]
    assert len(rows) == 48 and "lower_90" in rows[0]  # 2d of inferred 1h steps
    with src.open() as fh:
        newest = max(int(r["timestamp"]) for r in csv.DictReader(fh) if r["series_id"] == "web-1")
    assert int(rows[0]["timestamp"]) == newest + 3600


def test_auto_reports_its_choice_and_respects_bounds(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_input(src)
    args = parse(
        [
            "--input",
            str(src),
            "--horizon",
            "24",
            "--step",
            "1h",
            "--model",
            "auto",
            "--lower-bound",
            "0",
            "--upper-bound",
            "22",
            "--out",
            str(out),
        ]
    )
    assert cli.run(args) == 0
    rows = [r for r in read_output(out) if r["series_id"].startswith("web")]
    assert all(r["model"] for r in rows)
    assert max(float(r["upper_95"]) for r in rows) <= 22
    args = parse(
        [
            "--input",
            str(src),
            "--horizon",
            "24",
            "--step",
            "1h",
            "--model",
            "fast_hw",
            "--lower-bound",
            "19",
            "--out",
            str(out),
        ]
    )
    assert cli.run(args) == 0
    assert min(float(r["lower_95"]) for r in read_output(out)) >= 19


def test_an_unknown_model_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_input(src)
    args = parse(
        [
            "--input",
            str(src),
            "--horizon",
            "6",
            "--step",
            "1h",
            "--model",
            "sktime:NoSuchModel",
            "--out",
            str(out),
        ]
    )
    # An unknown model is a usage error up front, not one failure per series.
    assert cli.run(args) == 2
    assert "NoSuchModel" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (None, ["--horizon", "5"], "not found"),
        ("a,b\n1,2\n", ["--horizon", "5"], "lacks column"),
        ("series_id,timestamp,value\n", ["--horizon", "5"], "no rows"),
        (
            "series_id,timestamp,value\nx,2024-01-01T00:00:00Z,1\n",
            ["--horizon", "5"],
            "infer the step",
        ),
        (
            "series_id,timestamp,value\nx,0,1\nx,60,2\n",
            ["--horizon", "5", "--levels", "120"],
            "--levels",
        ),
        ("series_id,timestamp,value\nx,0,1\nx,60,2\n", ["--horizon", "soon"], "--horizon"),
        (
            "series_id,timestamp,value\nx,0,1\nx,60,2\n",
            ["--horizon", "5", "--step", "fast"],
            "--step",
        ),
    ],
)
def test_bad_files_and_arguments_exit_2_with_a_message(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    content: str | None,
    argv: list[str],
    message: str,
) -> None:
    src = tmp_path / "in.csv"
    if content is not None:
        src.write_text(content)
    assert cli.run(parse(["--input", str(src), *argv])) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err


def test_model_failure_on_one_series_does_not_abort_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from promcast_forecaster.models.fast_hw import FastHoltWinters

    real_fit = FastHoltWinters.fit

    def fragile_fit(self: FastHoltWinters, y: np.ndarray) -> FastHoltWinters:
        if np.nanmax(np.atleast_2d(y)[:, -48:]) > 24:  # web-1's peaks: pretend the model breaks
            raise FloatingPointError("overflow")
        return real_fit(self, y)

    monkeypatch.setattr(FastHoltWinters, "fit", fragile_fit)
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_input(src)
    args = parse(
        [
            "--input",
            str(src),
            "--horizon",
            "6",
            "--step",
            "1h",
            "--model",
            "fast_hw",
            "--out",
            str(out),
        ]
    )
    assert cli.run(args) == 0
    models = {r["series_id"]: r["model"] for r in read_output(out)}
    assert models["web-1"] == "seasonal_naive" and models["web-2"] == "fast_hw"
    assert (
        "series web-1: fast_hw failed on this series; seasonal naive used"
        in capsys.readouterr().err
    )


def test_the_library_snaps_each_series_onto_its_own_grid(tmp_path: Path) -> None:
    """What the commands and the benchmarks read through: no argparse, no files written."""
    from promcast_forecaster.offline.series import read_csv, step_seconds, to_series

    src = tmp_path / "in.csv"
    src.write_text(
        "series_id,timestamp,value\n"
        "a,0,1\na,60,2\na,60,4\na,180,5\n"  # a duplicate (averaged) and a gap
        "b,30,7\nb,90,8\n"  # its own clock, half a step off a's
        "c,0,x\n"
    )  # no numbers: reported, not forecast
    raw = read_csv(str(src))
    assert raw["iso"] is False
    step = step_seconds(None, raw)
    assert step == 60.0
    series, bad = to_series(raw, step, max_points=3)
    by_id = {s.series_id: s for s in series}
    assert bad == {"c": "no numeric values"}
    np.testing.assert_array_equal(by_id["a"].values, [3.0, np.nan, 5.0])  # newest 3 points kept
    assert by_id["a"].last_ts == 180.0
    np.testing.assert_array_equal(by_id["b"].values, [7.0, 8.0])
    assert by_id["b"].last_ts == 90.0


def test_forecasting_in_batches_changes_nothing_and_reports_progress(tmp_path: Path) -> None:
    from promcast_forecaster.offline.forecast import forecast_series
    from promcast_forecaster.offline.series import read_csv, to_series

    src = tmp_path / "in.csv"
    write_input(src)
    series, _ = to_series(read_csv(str(src)), 3600.0, 20_000)
    seen: list[int] = []
    whole = forecast_series(
        series, "seasonal_naive", M, 6, [80], grid_step=3600.0, batch=500, lower=0.0
    )
    one_by_one = forecast_series(
        series,
        "seasonal_naive",
        M,
        6,
        [80],
        grid_step=3600.0,
        batch=1,
        lower=0.0,
        progress=seen.append,
    )
    assert seen == [1] * len(series)
    assert set(whole) == set(one_by_one) == {s.series_id for s in series}
    for sid, res in whole.items():
        assert res.model == one_by_one[sid].model == "seasonal_naive"
        for key in res.forecasts:
            np.testing.assert_array_equal(res.forecasts[key], one_by_one[sid].forecasts[key])
        assert res.forecasts["lower-80"].min() >= 0.0


def test_output_goes_to_stdout_by_default_and_max_points_bounds_the_history(
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    src = tmp_path / "in.csv"
    write_input(src, unix=True)
    assert (
        cli.run(
            parse(
                [
                    "--input",
                    str(src),
                    "--horizon",
                    "3",
                    "--model",
                    "seasonal_naive",
                    "--batch",
                    "1",
                    "--max-points",
                    "2",
                ]
            )
        )
        == 0
    )
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "series_id,timestamp,mean,lower_80,upper_80,lower_95,upper_95,model"
    assert len(lines) == 1 + 3 * 3 and "-> stdout" in err
    # Two points of history are less than the season: seasonal naive repeats the newest value.
    with src.open() as fh:
        newest = [r["value"] for r in csv.DictReader(fh) if r["series_id"] == "web-1"][-1]
    means = [float(row.split(",")[2]) for row in lines[1:] if row.startswith("web-1,")]
    assert means == [pytest.approx(float(newest), abs=1e-3)] * 3
