"""Node-owned face files on the local fleet (issue 13): a sentinel's curated facelist.csv is never
lost, through a new version with each face_state, a rollback and pruning; drift reports it; only an
explicit command removes an archive. Also: an NCS2 sentinel deploys with ``target: myriad``, and a
datasink's datapump.yaml changes only in its facefile line."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import yaml

from devfleet.modelgen import FACELIST_HEADER
from devfleet.site import Site

pytestmark = pytest.mark.fleet

FR = "face_recognition"
V0, V1 = "2025-02-25", "2026-02-02"  # the registry's previous and current versions
V2, V3, V4 = "2026-08-01", "2026-09-01", "2026-10-01"
M = "/home/ops/sentinel/models"
STORE_MODE, CARRY_MODE = "sentinel1", "sentinel2"
DATAPUMP = "/home/ops/datapump.yaml"


def curated_list(tag: str) -> bytes:
    """40 faces a sentinel's FaceSweep curated (the node's own rows, not the store's)."""
    rows = [f"{tag}-{i},{os.urandom(4).hex()}\n" for i in range(40)]
    return (FACELIST_HEADER + "\n" + "".join(rows)).encode()


def write(site, host, path, data: bytes) -> None:
    """Write as the service user (what the sentinel does), byte for byte."""
    quoted = data.decode().replace("'", "'\\''")
    site.fleet.ssh(host, f"cat > {path} <<'EOF'\n{quoted}EOF")


def digest_of(site, host, path) -> str:
    return site.fleet.ssh(host, f"sha256sum < {path}").stdout.split()[0]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def everywhere(site, host) -> set[str]:
    """Digests of every facelist.csv under the model directory, archives included."""
    out = site.fleet.ssh(host, f"find {M}/{FR} -name facelist.csv -exec sha256sum {{}} +").stdout
    return {line.split()[0] for line in out.splitlines()}


@pytest.fixture(scope="module")
def site(fresh_fleet, tmp_path_factory):
    s = Site(fresh_fleet, tmp_path_factory.mktemp("faces"))
    s.set_data(CARRY_MODE, face_state="carry")
    s.set_data(STORE_MODE, node_model_retention=0)  # prune as soon as a version is not needed
    s.datapump_before = s.config("data2", DATAPUMP)
    s.setup()
    first = s.deploy()
    assert first.returncode == 0, first.output[-3000:]
    s.curated = {}
    return s


def test_a_new_version_starts_from_the_store_or_carries_the_node_s_list(site):
    for host in (STORE_MODE, CARRY_MODE):
        site.curated[host] = curated_list(host)
        write(site, host, f"{M}/{FR}/{V1}/facelist.csv", site.curated[host])
    report = json.loads(site.cli("drift", "--json").stdout)
    modified = {
        h["host"]: [n for m in h["models"] for n in m.get("node_modified", [])]
        for h in report["hosts"]
    }
    assert modified[STORE_MODE] == [f"facelist.csv ({V1})"]
    site.publish(FR, V2)
    site.set_current(FR, V2, V1)
    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    store_copy = (site.store / FR / V2 / "facelist.csv").read_bytes()
    # store (the default): the new version has the store's list; the curated one stays in V1
    assert digest_of(site, STORE_MODE, f"{M}/{FR}/{V2}/facelist.csv") == sha(store_copy)
    assert digest_of(site, STORE_MODE, f"{M}/{FR}/{V1}/facelist.csv") == sha(
        site.curated[STORE_MODE]
    )
    # carry: the node's working list moved on with it; the sentinel's next FaceSweep reads it
    assert digest_of(site, CARRY_MODE, f"{M}/{FR}/{V2}/facelist.csv") == sha(
        site.curated[CARRY_MODE]
    )
    assert f"{M}/{FR}/{V2}/facelist.csv" in site.job(CARRY_MODE, "FaceSweep")["files"]


def test_after_the_new_version_datapump_yaml_changed_only_in_its_facefile_line(site):
    after = site.config("data2", DATAPUMP)
    changed = [
        (a, b)
        for a, b in zip(site.datapump_before.splitlines(), after.splitlines(), strict=True)
        if a != b
    ]
    assert [(a.split(":")[0], b.split(":")[0]) for a, b in changed] == [("facefile", "facefile")]
    assert V2 in yaml.safe_load(after)["facefile"]
    before_doc, after_doc = yaml.safe_load(site.datapump_before), yaml.safe_load(after)
    before_doc.pop("facefile"), after_doc.pop("facefile")
    assert before_doc == after_doc


def test_rollback_with_carry_archives_the_copy_it_replaces(site):
    newer = site.curated[CARRY_MODE] + b"newer-face,1234\n"  # curated further on V2
    write(site, CARRY_MODE, f"{M}/{FR}/{V2}/facelist.csv", newer)
    site.set_current(FR, V1, V2)
    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    assert digest_of(site, CARRY_MODE, f"{M}/{FR}/{V1}/facelist.csv") == sha(newer)
    assert digest_of(site, CARRY_MODE, f"{M}/{FR}/{V2}/facelist.csv") == sha(newer)
    # V1's own curated copy (older) was archived before the carry overwrote it
    assert sha(site.curated[CARRY_MODE]) in everywhere(site, CARRY_MODE)
    archives = site.fleet.ssh(CARRY_MODE, f"ls -d {M}/{FR}/{V1}.faces-*").stdout.split()
    assert len(archives) == 1
    # store mode: the rollback switches back to V1, whose curated list is still in place
    assert digest_of(site, STORE_MODE, f"{M}/{FR}/{V1}/facelist.csv") == sha(
        site.curated[STORE_MODE]
    )


def test_pruning_archives_curated_files_and_only_the_command_removes_an_archive(site):
    for version in (V3, V4):
        site.publish(FR, version)
    site.set_current(FR, V3, V2)
    assert site.deploy().returncode == 0
    site.set_current(FR, V4, V3)
    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    # sentinel1 keeps no spare versions: V1 (holding the curated list) was pruned, its list archived
    assert V1 not in site.versions(STORE_MODE, FR)
    assert sha(site.curated[STORE_MODE]) in everywhere(site, STORE_MODE)
    listed = site.cli("faces", "archives", "--limit", STORE_MODE)
    assert listed.returncode == 0 and f"{V1}.faces-" in listed.stdout, listed.output
    archive = next(w for w in listed.stdout.split() if w.startswith(f"{V1}.faces-"))
    again = site.deploy()  # later deploys never touch an archive
    assert again.returncode == 0 and sha(site.curated[STORE_MODE]) in everywhere(site, STORE_MODE)
    removed = site.cli("faces", "remove-archive", STORE_MODE, archive, "--yes")
    assert removed.returncode == 0, removed.output
    assert sha(site.curated[STORE_MODE]) not in everywhere(site, STORE_MODE)


def test_publish_refuses_a_version_without_a_file_the_configs_name(site, tmp_path):
    source = tmp_path / "fr"
    source.mkdir()
    for name in ("facemodel.pickle", "baselines.hdf5", "facedata.hdf5"):  # no facelist.csv
        (source / name).write_bytes(os.urandom(64))
    run = site.cli(
        "publish", FR, str(source), "--version", "2026-12-01", "--yes", "--store", str(site.store)
    )
    assert run.returncode == 2, run.output
    assert "facelist.csv" in run.output and len(run.output.strip().splitlines()) == 1
    assert not (site.store / FR / "2026-12-01").exists()


def test_an_ncs2_sentinel_deploys_with_target_myriad(site):
    site.set_sentinel_accelerator(STORE_MODE, "ncs2")
    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    warnings = [line for line in run.output.splitlines() if "NCS2 is deprecated" in line]
    assert len(warnings) == 1 and STORE_MODE in warnings[0], warnings
    for task, key in (("GetFaces", "face_detection"), ("MobileNetSSD_allFrames", "mobilenetssd")):
        doc = yaml.safe_load(site.config(STORE_MODE, f"/home/ops/sentinel/tasks/{task}.yaml"))
        assert doc[key]["target"] == "myriad"
    assert site.job(STORE_MODE, "GetFaces")["ok"]


def test_a_datasink_face_list_put_back_restarts_the_datapump_that_reads_it(site):
    """datapump reads its face list when it starts; a list the deploy places or repairs while
    datapump.yaml stays the same (say, a datapump provisioned before its list existed) needs a
    restart, or the running datapump keeps the list it had (or none)."""
    settled = site.deploy()
    assert settled.returncode == 0, settled.output[-3000:]
    site.wait_active("data2", "datapump")  # running, with the list it read at its start
    config_before = site.config("data2", DATAPUMP)
    facefile = yaml.safe_load(config_before)["facefile"]
    starts = site.starts("data2", "datapump")
    site.as_root("data2", f'rm -f -- "$(readlink -f {facefile})"')

    run = site.deploy()
    assert run.returncode == 0, run.output[-3000:]
    assert site.config("data2", DATAPUMP) == config_before  # only the list changed
    assert site.starts("data2", "datapump") == starts + 1
    assert facefile in site.loaded("data2", "datapump")
    again = site.deploy()  # converged: no second restart
    assert again.returncode == 0 and site.starts("data2", "datapump") == starts + 1
