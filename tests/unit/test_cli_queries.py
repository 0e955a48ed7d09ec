"""The read-only commands (drift, list, rollout status, history) through click's CliRunner, each a
use case over one Session (fleet/queries.py): one inventory load at most, one store connection at
most, typed values rendered by the CLI. A local store (--store), no fleet, no SSH."""

from __future__ import annotations

import json

import pytest

from sentinelcam_models.core.problems import BadInput, CheckFailed
from sentinelcam_models.fleet import answers, queries
from sentinelcam_models.fleet.session import Session
from tests.unit.test_cli_usecases import FR, HAAR, site  # noqa: F401 - the fixture


def test_list_of_one_model_reads_sizes_through_a_typed_answer(site):  # noqa: F811
    site.cli("pin", "sentinel", HAAR, "2019-01-01", "--yes", "--no-deploy")
    done = site.cli("list", HAAR, "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    rows = {r["version"]: r for r in document["versions"]}
    assert list(rows) == ["2026-05-05", "2020-03-25", "2019-02-02", "2019-01-01"]
    assert rows["2020-03-25"]["marks"] == ["CURRENT"]
    assert rows["2019-01-01"]["marks"] == ["PINNED (sentinel)"]
    assert rows["2019-01-01"]["pinned_by"] == ["sentinel"]
    stored = sum(
        f.stat().st_size for f in (site.store / HAAR / "2019-01-01").rglob("*") if f.is_file()
    )
    assert 0 < rows["2019-01-01"]["size"] <= stored and rows["2019-01-01"]["in_store"] is True
    assert document["store"] == str(site.store)
    assert (site.loads, site.opens) == (1, 1)


def test_list_of_every_model_needs_no_store(site):  # noqa: F811
    done = site.cli("list", "--json")
    assert done.exit_code == 0, done.output
    models = {m["model"]: m for m in json.loads(done.stdout)["models"]}
    assert models[FR] == {
        "model": FR,
        "current_version": "2026-02-02",
        "previous_version": "2025-02-25",
    }
    assert (site.loads, site.opens) == (1, 0)


def test_list_of_an_unknown_model_is_one_line(site):  # noqa: F811
    done = site.cli("list", "yolo")
    assert done.exit_code == 2
    assert "unknown model 'yolo'" in done.stderr and site.opens == 0


def test_a_versions_answer_without_sizes_is_one_check_failed_line():
    with pytest.raises(CheckFailed, match="malformed"):
        answers.store_versions([{"version": "2020-01-01", "size": "big"}], "data1:/store")
    assert answers.store_versions(
        [{"model": HAAR, "version": "2020-01-01", "size": 3, "has_manifest": True}], "s"
    ) == [answers.StoreVersion("2020-01-01", 3, True)]


def test_history_reads_git_without_loading_the_inventory(site):  # noqa: F811
    site.cli("rollback", FR, "--previous", "--yes", "--no-deploy")
    done = site.cli("history", FR, "--json", store=False)
    assert done.exit_code == 0, done.output
    change, first = json.loads(done.stdout)  # newest first: the rollback, the file's first commit
    assert (change["from"], change["to"]) == ("2026-02-02", "2025-02-25")
    assert (first["from"], first["to"]) == (None, "2026-02-02")
    assert change["subject"] == "Rollback face_recognition from 2026-02-02 to 2025-02-25"
    assert (site.loads, site.opens) == (0, 0)


def test_rollout_status_is_read_through_the_session(site):  # noqa: F811
    from sentinelcam_models.core import waves  # noqa: PLC0415
    from sentinelcam_models.fleet import rollouts  # noqa: PLC0415

    opened = Session(str(site.inventory), str(site.store))
    plan = waves.plan(HAAR, "2026-05-05", "2020-03-25", None, ["sentinel"], ["sentinel"], "100%", 0)
    rollouts.Runner(opened, plan, lambda line: None).step(
        "canary: sentinel", pins={"sentinel": "2026-05-05"}
    )
    done = site.cli("rollout", "status", "--json", store=False)
    assert done.exit_code == 0, done.output
    status = json.loads(done.stdout)
    assert list(status) == [HAAR] and status[HAAR]["version"] == "2026-05-05"
    assert status[HAAR]["stage"] == "canary" and status[HAAR]["steps"] == ["canary: sentinel"]
    assert (site.loads, site.opens) == (1, 0)
    assert queries.rollout_status(opened, FR) == {}


def test_drift_is_one_load_and_one_fact_query(site, monkeypatch):  # noqa: F811
    asked = []

    def fake_query(pyinfra_inventory, hosts, checked, deep, with_coral):
        asked.append(sorted(h.name for h in hosts))
        return {h.name: (None, "cannot connect over SSH") for h in hosts}

    monkeypatch.setattr(queries, "query_fleet", fake_query)
    done = site.cli("drift", "--json", "--limit", "sentinel", store=False)
    assert done.exit_code == 2, done.output  # a host unreachable: exit 2 (README)
    [host] = json.loads(done.stdout)["hosts"]
    assert host["host"] == "sentinel" and host["reachable"] is False
    assert asked == [["sentinel"]]
    assert (site.loads, site.opens) == (1, 0)


def test_drift_reports_an_unreachable_host_and_refuses_bad_filters(site, monkeypatch):  # noqa: F811
    opened = Session(str(site.inventory))
    monkeypatch.setattr(
        queries, "query_fleet", lambda inv, hosts, *a, **k: {h.name: (None, "down") for h in hosts}
    )
    result = queries.drift(opened, ("sentinel",), (HAAR,), deep=False)
    assert [r.host for r in result.reports] == ["sentinel"]
    assert result.exit_code == 2 and not result.reports[0].reachable
    with pytest.raises(BadInput, match="unknown model 'yolo'"):
        queries.drift(opened, (), ("yolo",), deep=False)
    with pytest.raises(BadInput, match="no host in"):
        queries.drift(opened, ("nosuchhost",), (), deep=False)
    assert opened.loads == 1
