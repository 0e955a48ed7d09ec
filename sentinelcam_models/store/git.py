"""The registry's history is real git: commit exactly the changed file, and read a model's version
changes back from ``git log`` (through renames, merges and a commit that deleted the file)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..core.problems import BadInput, OperatorError, one_line
from ..core.registry import parse_registry


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True)
    if check and proc.returncode != 0:
        message = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        raise OperatorError(one_line(f"git {' '.join(args[:2])} in {repo}: {message}"))
    return proc


def git_repo(path: Path) -> Path | None:
    start = path.parent if path.is_file() or not path.exists() else path
    if not start.exists():
        return None
    proc = git(start, "rev-parse", "--show-toplevel", check=False)
    return Path(proc.stdout.decode().strip()) if proc.returncode == 0 else None


def commit_files(files: list[Path], message: str) -> str | None:
    """Commit exactly these files (nothing else staged is touched); the new HEAD, or None when
    there was nothing to commit (every file one git never had, now removed)."""
    repo = git_repo(files[0])
    if repo is None:
        raise OperatorError(
            f"{files[0]}: not in a git repository (use --no-commit to skip the commit)"
        )
    rel = [
        str(f.resolve().relative_to(repo.resolve()))
        if f.exists()
        else str(f.parent.resolve().relative_to(repo.resolve()) / f.name)
        for f in files
    ]
    # A file git never had, now removed (a hand-made pin file unpinned): nothing to commit there.
    # Only removed files are asked about (most commits remove none: no git process for it).
    removed = [r for r, f in zip(rel, files, strict=True) if not f.exists()]
    if removed:
        listed = git(repo, "ls-files", "-z", "--", *removed).stdout
        known = set(listed.decode("utf-8", "replace").split("\0"))
        rel = [r for r in rel if r not in removed or r in known]
    if not rel:
        return None
    git(repo, "add", "-A", "--", *rel)
    proc = git(repo, "commit", "-q", "--only", "-m", message, "--", *rel, check=False)
    if proc.returncode != 0:
        git(repo, "reset", "-q", "--", *rel, check=False)  # leave the index as it was
        reason = (proc.stderr or proc.stdout).decode(
            "utf-8", "replace"
        ).strip() or f"exit {proc.returncode}"
        raise OperatorError(
            one_line(
                f"git commit in {repo} failed: {reason.splitlines()[-1]} "
                "(use --no-commit to skip the commit)"
            )
        )
    return git(repo, "rev-parse", "HEAD").stdout.decode().strip()


def _current_at(repo: Path, commit: str, rel: str, model: str) -> str | None:
    proc = git(repo, "show", f"{commit}:{rel}", check=False)
    if proc.returncode != 0:
        return None
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None
    registry, _ = parse_registry(rel, text)
    entry = registry.model(model) if registry else None
    return entry.current_version if entry else None


def history(registry_file: Path, model: str) -> list[dict]:
    """The model's version changes, newest first: date, author, from, to, commit, subject."""
    repo = git_repo(registry_file)
    if repo is None:
        raise BadInput(f"{registry_file}: not in a git repository")
    rel = str(registry_file.resolve().relative_to(repo.resolve()))
    # --follow: the file's path at each commit (it may have been renamed); -m: merges show their
    # diff against each parent, --first-parent keeps the line of history the registry lived on.
    out = git(
        repo,
        "log",
        "--follow",
        "--first-parent",
        "-z",
        "--name-only",
        "--format=%x1e%H%x1f%aI%x1f%an%x1f%s",
        "--",
        rel,
    ).stdout.decode("utf-8", "replace")
    records = []
    for record in out.split("\x1e")[1:]:
        # -z ends the formatted header with NUL (then a newline and the NUL-separated names).
        header, _, names = record.partition("\x00")
        fields = header.split("\x1f")
        if len(fields) != 4:
            continue
        path = next((n.strip("\n") for n in names.split("\x00") if n.strip("\n")), rel)
        records.append((*fields, path))
    rows = []
    for index, (commit, date, author, subject, path) in enumerate(records):
        # Before a rename, the file had the path the next older record shows.
        older = records[index + 1][4] if index + 1 < len(records) else path
        after = _current_at(repo, commit, path, model)
        before = _current_at(repo, f"{commit}^", older, model)
        if after != before:
            rows.append(
                {
                    "commit": commit[:10],
                    "date": date,
                    "author": author,
                    "from": before,
                    "to": after,
                    "subject": subject,
                }
            )
    return rows
