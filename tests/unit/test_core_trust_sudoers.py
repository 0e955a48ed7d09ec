"""Node-to-datasink trust (authorized_keys, known_hosts), the sudoers file and the retention policy.

Expected lines are written out by hand from the modules' docstrings: managed lines are replaced,
every other line stays byte for byte; sudo grants exactly the commands the deploys run.
"""

from __future__ import annotations

import pytest

from sentinelcam_models.core import policy, sudoers, trust
from sentinelcam_models.core.registry import parse_registry
from sentinelcam_models.core.validation import CheckedInventory, check_inventory
from tests.support.units import REGISTRY, host

STORE = "/home/ops/sentinelcam/model_registry"
K1 = ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIK1")
K2 = ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIK2")
RSA = ("ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAAB")


def restricted(key, client, store=STORE):
    forced = f'restrict,command="/usr/bin/rrsync -ro {store}"'
    return f"{forced} {key[0]} {key[1]} sentinelcam-pull@{client}"


# --- authorized_keys ------------------------------------------------------------------------------


def test_authorized_keys_for_a_new_file():
    assert trust.authorized_keys(None, {"s2": K2, "s1": K1}, STORE) == (
        f"{restricted(K1, 's1')}\n{restricted(K2, 's2')}\n"
    )


def test_authorized_keys_replaces_managed_lines_and_keeps_the_others_byte_for_byte():
    operator = "ssh-rsa AAAAB3Nzoperator  operator@laptop   # trailing spaces kept  \n"
    options = 'from="10.0.0.0/8",no-pty ssh-ed25519 AAAAbackup backup@nas\n'
    old = (
        "# managed by hand too\n"
        + operator
        + restricted(("ssh-ed25519", "AAAAold"), "s1", "/old/store")
        + "\n"
        + "\n"
        + options
        + restricted(("ssh-ed25519", "AAAAgone"), "gone")
        + "\n"
    )
    new = trust.authorized_keys(old, {"s1": K1, "s2": K2}, STORE)
    assert new == (
        "# managed by hand too\n"
        + operator
        + "\n"
        + options
        + f"{restricted(K1, 's1')}\n{restricted(K2, 's2')}\n"
    )


def test_authorized_keys_keeps_crlf_and_ends_a_last_line_without_newline():
    old = "ssh-rsa AAAAop op@laptop\r\nssh-rsa AAAAother other@host"
    new = trust.authorized_keys(old, {"s1": K1}, STORE)
    assert new == (
        f"ssh-rsa AAAAop op@laptop\r\nssh-rsa AAAAother other@host\r\n{restricted(K1, 's1')}\r\n"
    )


def test_a_node_that_cannot_be_reached_keeps_its_line_and_a_removed_node_loses_it():
    old = trust.authorized_keys(None, {"s1": K1, "s2": K2}, STORE)
    new = trust.authorized_keys(old, {"s1": K1}, STORE, unreachable=["s2"])
    assert new == old
    assert trust.authorized_keys(old, {"s1": K1}, STORE) == trust.authorized_keys(
        None, {"s1": K1}, STORE
    )


def test_authorized_keys_with_no_clients_removes_only_managed_lines():
    old = f"ssh-rsa AAAAop op@laptop\n{restricted(K1, 's1')}\n"
    assert trust.authorized_keys(old, {}, STORE) == "ssh-rsa AAAAop op@laptop\n"


def test_a_comment_mentioning_the_marker_is_not_managed():
    old = "ssh-rsa AAAAop see sentinelcam-pull@ docs\n"
    assert trust.authorized_keys(old, {}, STORE) == old


# The original authorized each node's key as a plain line (sshd uses the first line matching a key,
# so a plain line before the restricted one gives the node a shell): any line authorizing a node's
# key, with any options, is replaced by the managed line; every other line stays byte for byte.
ORIGINAL = (
    "ssh-rsa AAAAB3Nzoperator operator@laptop\n"
    f"{K1[0]} {K1[1]} ops@s1\n"
    f'from="10.0.0.0/8",command="echo a b" {K2[0]} {K2[1]} ops@s2\r\n'
    f"# {K1[0]} {K1[1]} a comment is no line\n"
    f'no-pty,environment="X=1 2" {RSA[0]} {RSA[1]} old-key@s1\n'
    f"{K2[0]} AAAAsomeoneelse other@host\n"
)


def test_plain_lines_authorizing_a_node_key_are_replaced_whatever_their_options():
    new = trust.authorized_keys(ORIGINAL, {"s1": K1, "s2": K2}, STORE, held={"s1": [RSA]})
    assert new == (
        "ssh-rsa AAAAB3Nzoperator operator@laptop\n"
        f"# {K1[0]} {K1[1]} a comment is no line\n"
        f"{K2[0]} AAAAsomeoneelse other@host\n"
        f"{restricted(K1, 's1')}\n{restricted(K2, 's2')}\n"
    )
    # sshd's first match for each node key is now its restricted line.
    for key in (K1, K2):
        first = next(
            line
            for line in new.splitlines()
            if f"{key[0]} {key[1]} " in line and not line.startswith("#")
        )
        assert first.startswith('restrict,command="/usr/bin/rrsync -ro ')


def test_revoked_lines_name_the_line_and_its_node():
    found = trust.revoked_lines(ORIGINAL, trust.client_keys({"s1": K1, "s2": K2}, {"s1": [RSA]}))
    assert [(r.number, r.client) for r in found] == [(2, "s1"), (3, "s2"), (5, "s1")]
    assert found[1].line == f'from="10.0.0.0/8",command="echo a b" {K2[0]} {K2[1]} ops@s2'
    assert found[0].describe("/home/ops/.ssh/authorized_keys") == (
        f"/home/ops/.ssh/authorized_keys line 2 (key of s1): '{K1[0]} {K1[1]} ops@s1'"
    )
    assert trust.backup_path("/home/ops/.ssh/authorized_keys", "20260101T000000Z") == (
        "/home/ops/.ssh/authorized_keys.sentinelcam-before-20260101T000000Z"
    )


def test_a_node_that_pulls_elsewhere_loses_its_plain_line_and_gets_none():
    new = trust.authorized_keys(ORIGINAL, {"s1": K1}, STORE, held={"s2": [K2]})
    assert f"{K2[0]} {K2[1]}" not in new and "sentinelcam-pull@s2" not in new
    assert new.endswith(f"{restricted(K1, 's1')}\n")


def test_a_migrated_file_is_stable_and_managed_lines_are_never_revoked():
    once = trust.authorized_keys(ORIGINAL, {"s1": K1, "s2": K2}, STORE)
    assert trust.revoked_lines(once, {"s1": K1, "s2": K2}) == []
    assert trust.authorized_keys(once, {"s1": K1, "s2": K2}, STORE) == once


@pytest.mark.parametrize(
    "line, key",
    [
        (f"{K1[0]} {K1[1]}", K1),
        (f'command="rsync --server a b",no-pty {K1[0]} {K1[1]} c', K1),
        (f'command="say \\"hi there\\"" {K1[0]} {K1[1]}', K1),
        (f'command="unterminated {K1[0]} {K1[1]}', None),
        ("# ssh-ed25519 AAAA", None),
        ("", None),
    ],
)
def test_line_key(line, key):
    assert trust.line_key(line) == key


@pytest.mark.parametrize("store", ["relative/store", "/a b", '/x" ALL', "/a/../b"])
def test_authorized_keys_refuses_an_unsafe_store(store):
    with pytest.raises(ValueError):
        trust.authorized_keys(None, {"s1": K1}, store)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ssh-ed25519 AAAAC3Nz+/= node@s1\n", ("ssh-ed25519", "AAAAC3Nz+/=")),
        ("ssh-rsa AAAAB3", ("ssh-rsa", "AAAAB3")),
        ("ssh-dss AAAAB3 old", None),
        ("ssh-ed25519 AAAA;rm", None),
        ("ssh-ed25519", None),
        ("", None),
        (None, None),
    ],
)
def test_public_key(text, expected):
    assert trust.public_key(text) == expected


# --- known_hosts ----------------------------------------------------------------------------------


def test_known_hosts_names_and_ports():
    old = "|1|hashed= ssh-ed25519 AAAAsomeone\ngithub.com ssh-ed25519 AAAAgh\n"
    old += "data1 ssh-ed25519 AAAAstale sentinelcam-datasink@data1\n"
    new = trust.known_hosts(
        old,
        {
            "data2": (["data2.local", "10.0.0.2"], 2222, [RSA, K2]),
            "data1": (["data1.local", "10.0.0.1", "data1.local"], 22, [K1]),
        },
    )
    assert new == (
        "|1|hashed= ssh-ed25519 AAAAsomeone\ngithub.com ssh-ed25519 AAAAgh\n"
        f"data1.local,10.0.0.1 {K1[0]} {K1[1]} sentinelcam-datasink@data1\n"
        f"[data2.local]:2222,[10.0.0.2]:2222 {K2[0]} {K2[1]} sentinelcam-datasink@data2\n"
        f"[data2.local]:2222,[10.0.0.2]:2222 {RSA[0]} {RSA[1]} sentinelcam-datasink@data2\n"
    )


# --- sudoers --------------------------------------------------------------------------------------

HEADER = [
    "# Managed by sentinelcam-models (deploys/sudoers.py): exactly what its deploys need.",
    "# Edits are replaced on the next run; see the README's section on sudo.",
]
CORAL_RULES = [
    "/usr/local/sbin/sentinelcam-coral-deb",
    "/usr/bin/tee /etc/udev/rules.d/99-coral-edgetpu.rules",
    "/usr/bin/udevadm control --reload-rules",
    "/usr/bin/udevadm trigger --action=add --subsystem-match=usb",
]
CLEANUP_RULES = [
    "/usr/bin/tee /etc/systemd/system/sentinelcam-model-cleanup.service",
    "/usr/bin/tee /etc/systemd/system/sentinelcam-model-cleanup.timer",
    "/usr/bin/systemctl daemon-reload",
    "/usr/bin/systemctl enable --now sentinelcam-model-cleanup.timer",
]

REG, _ = parse_registry(str(REGISTRY), REGISTRY.read_text())
FLEET = check_inventory(
    REG,
    [],
    [
        host("data1", "datasinks"),
        host("data2", "datasinks"),
        host("coral1", "sentinels"),
        host("cpu1", "sentinels", sentinel_accelerator_type="cpu"),
        host("cam1", "outposts"),
        host("cam2", "outposts", imagenode_accelerator_type="coral"),
        host("deepthink", "ml_trainers"),
    ],
    "inv.py",
)
assert isinstance(FLEET, CheckedInventory), FLEET


def expected_sudoers(login, commands, as_service_user=True):
    lines = list(HEADER)
    if as_service_user:
        lines.append(f"{login} ALL=(ops) NOPASSWD: ALL")
    lines += [f"{login} ALL=(root) NOPASSWD: {command}" for command in commands]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "name, commands",
    [
        ("coral1", ["/usr/bin/systemctl restart sentinel.service", *CORAL_RULES]),
        ("cpu1", ["/usr/bin/systemctl restart sentinel.service"]),
        ("cam1", ["/usr/bin/systemctl restart imagenode.service"]),
        ("cam2", ["/usr/bin/systemctl restart imagenode.service", *CORAL_RULES]),
        ("data2", ["/usr/bin/systemctl restart datapump.service"]),
        ("data1", CLEANUP_RULES),
        ("deepthink", []),
    ],
)
def test_sudoers_grants_exactly_what_each_role_needs(name, commands):
    text = sudoers.sudoers_text(FLEET.settings[name], "admin")
    assert text == expected_sudoers("admin", commands)


def test_a_login_that_is_the_service_user_gets_no_run_as_rule():
    text = sudoers.sudoers_text(FLEET.settings["cpu1"], "ops")
    assert text == expected_sudoers(
        "ops", ["/usr/bin/systemctl restart sentinel.service"], as_service_user=False
    )
    assert "(ops)" not in text


def test_sudoers_follows_sentinelcam_user():
    checked = check_inventory(
        REG,
        [],
        [
            host("data1", "datasinks"),
            host("s", "sentinels", sentinelcam_user="pi", sentinel_accelerator_type="cpu"),
        ],
        "inv.py",
    )
    text = sudoers.sudoers_text(checked.settings["s"], "admin")
    assert "admin ALL=(pi) NOPASSWD: ALL\n" in text
    assert "(ops)" not in text


# --- retention policy -----------------------------------------------------------------------------


def test_policy_for_lists_current_previous_and_pins_with_hosts():
    checked = check_inventory(
        REG,
        [],
        [
            host("data1", "datasinks", sentinelcam_model_retention=3),
            host(
                "s2",
                "sentinels",
                model_version_overrides={
                    "face_recognition": "2025-02-25",
                    "haarcascades": "2019-01-01",
                },
            ),
            host("s3", "sentinels", model_version_overrides={"face_recognition": "2025-02-25"}),
            host("s1", "sentinels"),
        ],
        "inv.py",
    )
    assert isinstance(checked, CheckedInventory)

    def entry(current, previous=None, pins=None):
        return {"current_version": current, "previous_version": previous, "pins": pins or {}}

    assert policy.policy_for(checked) == {
        "keep": 3,
        "models": {
            "face_detection": entry("2020-03-25"),
            "face_detection_blazeface": entry("2026-01-02"),
            "face_detection_edgetpu": entry("2025-12-19"),
            "face_recognition": entry("2026-02-02", "2025-02-25", {"2025-02-25": ["s2", "s3"]}),
            "haarcascades": entry("2020-03-25", None, {"2019-01-01": ["s2"]}),
            "mobilenet_ssd": entry("2020-12-06"),
            "mobilenet_ssd_depthai": entry("2026-06-07"),
            "mobilenet_ssd_edgetpu": entry("2025-12-19"),
            "openface_torch": entry("2020-03-25"),
        },
    }
    assert policy.policy_path(checked) == "/home/ops/sentinelcam/model_retention_policy.json"


def test_policy_text_is_stable_json():
    text = policy.policy_text({"models": {}, "keep": 5})
    assert text == '{\n  "keep": 5,\n  "models": {}\n}\n'
