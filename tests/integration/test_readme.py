"""The README's by-hand section, run as it stands (as a user would paste it), and the commands
the README and the Fabric guide name, checked against the CLI's parser."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def by_hand_block() -> str:
    section = README.read_text().split("## Using it by hand", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def psi_block() -> str:
    return README.read_text().split("## Protocols", 1)[1].split("```sh\n", 1)[1].split("```")[0]


def query_block() -> str:
    section = README.read_text().split("## Real-time multi-lender query", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def write_loan_events(folder: Path) -> None:
    """The query block's files: each lender's loan events and an applicant's consent."""
    today = time.strftime("%Y-%m-%d", time.gmtime())
    header = "kind,applicant_id,date,loan_id,amount_cents\n"
    (folder / "bank-loans.csv").write_text(
        header + f"loan_opened,C00042,{today},b-1,7000000\napplication,C00042,{today},,0\n")
    (folder / "telecom-loans.csv").write_text(
        header + f"loan_opened,C00042,{today},t-1,500000\nloan_opened,C00043,{today},t-2,80000\n")
    (folder / "platform-loans.csv").write_text(
        header + f"loan_opened,C00042,{today},p-1,300000\n")  # the asker's own: not counted
    (folder / "consent.pdf").write_text("I, applicant C00042, consent to a credit check.")


def test_the_by_hand_section_runs_as_written(tmp_path: Path) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "alliance").symlink_to(Path(sys.executable).parent / "alliance")
    ids = [f"C{i:05d}" for i in range(40)]
    (tmp_path / "customers.csv").write_text(
        "customer_id,balance\n" + "".join(f"{c},{100 + i}\n" for i, c in enumerate(ids[:30]))
    )
    (tmp_path / "subscribers.csv").write_text(
        "customer_id,exposure\n" + "".join(f"{c},{i % 7}\n" for i, c in enumerate(ids[10:]))
    )
    block = by_hand_block()
    down = block.strip().splitlines()[-1]
    assert down.endswith("network down --dir net")
    write_loan_events(tmp_path)
    # the same block, with the PSI and multi-lender query examples run before the network goes
    # down (the query servers forming a table every 2 s rather than 30)
    script = block.replace(down, psi_block() + query_block() + down)
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCE_PASSPHRASE"}
    env["ALLIANCE_QUERY_EPOCH_SECONDS"] = "2"
    try:
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=480,
        )
    finally:
        subprocess.run([str(bin_dir / "alliance"), "network", "down", "--dir", "net"],
                       cwd=tmp_path, env={**env, "ALLIANCE_PASSPHRASE": "x"},
                       capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    clear = sum(100 + i for i in range(30)) + sum(i % 7 for i in range(30))
    assert f"\n{clear}\n" in done.stdout
    assert "MATCHES" in done.stdout
    assert (tmp_path / "shared.csv").read_text().splitlines() == ["customer_id", *ids[10:30]]
    # platform's lookup counts bank's and telecom's open loans to C00042 and not its own
    answer = done.stdout.split("Applicant C00042 across the other members", 1)[1]
    assert re.search(r"active_loans\s+│ 2 ", answer) and re.search(
        r"outstanding\s+│ 75,000.00 ", answer), answer[:1500]
    assert "not counted" not in answer
    assert "lookups count it from table" in done.stdout


def command_words(text: str) -> set[tuple[str, str]]:
    """(group, action) of every `alliance ... GROUP ACTION` the text names."""
    found = set()
    for line in re.findall(r"(?:alliance|\$A)\b[^\n`]*", text):
        words = [w for w in line.split() if not w.startswith("-")]
        for group, action in itertools.pairwise(words):
            if group in GROUPS:
                found.add((group, action))
                break
    return found


GROUPS = ("network", "member", "dataset", "job", "node", "audit", "query")


@pytest.mark.parametrize("doc", ["README.md", "network/fabric/README.md"])
def test_the_docs_name_only_commands_the_cli_has(doc: str) -> None:
    from alliance.cli.main import build_parser

    parser = build_parser()
    groups = next(a for a in parser._actions if a.dest == "group").choices
    named = command_words((ROOT / doc).read_text())
    assert named
    for group, action in sorted(named):
        actions = next(a for a in groups[group]._actions if a.dest == "command").choices
        assert action in actions, f"{doc} names `alliance {group} {action}`, which does not exist"


def test_the_real_fabric_section_links_a_guide_that_exists() -> None:
    section = README.read_text().split("### Real Fabric", 1)[1].split("##", 1)[0]
    links = re.findall(r"\(([^)]+\.md)\)", section)
    assert links and all((ROOT / link).is_file() for link in links)
