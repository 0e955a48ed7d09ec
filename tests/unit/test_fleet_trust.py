"""The operator's keys, read on the operator's machine (the trust deploy spares them)."""

from __future__ import annotations

from types import SimpleNamespace

from sentinelcam_models.fleet.trust import operator_keys


def test_operator_keys_are_the_inventory_s_ssh_keys_and_the_home_s_public_keys(tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa.pub").write_text("ssh-rsa AAAAhome me@laptop\n")
    (home / ".ssh" / "notes.pub").write_text("not a key\n")
    (tmp_path / "fleet_key.pub").write_text("ssh-ed25519 AAAAfleet fleet\n")
    hosts = [
        SimpleNamespace(data={"ssh_key": str(tmp_path / "fleet_key")}),
        SimpleNamespace(data={"ssh_key": str(tmp_path / "missing")}),
        SimpleNamespace(data={}),
    ]
    assert operator_keys(hosts, home) == [
        ("ssh-ed25519", "AAAAfleet"),
        ("ssh-rsa", "AAAAhome"),
    ]
