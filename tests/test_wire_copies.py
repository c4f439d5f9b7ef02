"""The verbatim Azure payloads the tests hold the emulator and the webhook against are copies kept
in the repository (so a plain clone can run them). Where the collected originals sit beside the
checkout (`../shared/azure-wire`, or `$VPNWATCH_AZURE_WIRE`), every copy must equal its original
byte for byte: a copy that drifted would let the emulator drift with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ORIGINALS = Path(
    os.environ.get("VPNWATCH_AZURE_WIRE", TESTS.parent.parent / "shared" / "azure-wire")
)
WIRE = TESTS / "emulator" / "azure_wire"
ALERTS = TESTS / "service" / "alerts"
COPIES = [(path, path.relative_to(WIRE)) for path in sorted(WIRE.rglob("*.json"))] + [
    (path, Path("alerts") / path.name) for path in sorted(ALERTS.glob("*.json"))
]
RECEIVER_ORIGINALS = Path(
    os.environ.get(
        "VPNWATCH_RECEIVER_CONTRACTS",
        TESTS.parent.parent / "shared" / "receiver-contracts" / "specs",
    )
)
RECEIVER_COPIES = sorted(
    p for p in (TESTS / "notify" / "contracts").iterdir() if p.name != "README.md"
)


def test_there_are_copies_to_check() -> None:
    assert len(COPIES) >= 20


@pytest.mark.skipif(not ORIGINALS.is_dir(), reason=f"no originals at {ORIGINALS}")
@pytest.mark.parametrize(("copy", "original"), COPIES, ids=[str(o) for _, o in COPIES])
def test_copy_equals_the_original(copy: Path, original: Path) -> None:
    source = ORIGINALS / original
    assert source.is_file(), f"{original} is not among the originals in {ORIGINALS}"
    assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}"


def test_there_are_receiver_contracts_to_check() -> None:
    assert len(RECEIVER_COPIES) >= 7


@pytest.mark.skipif(not RECEIVER_ORIGINALS.is_dir(), reason=f"no originals at {RECEIVER_ORIGINALS}")
@pytest.mark.parametrize("copy", RECEIVER_COPIES, ids=[p.name for p in RECEIVER_COPIES])
def test_receiver_contract_copy_equals_the_original(copy: Path) -> None:
    source = RECEIVER_ORIGINALS / copy.name
    assert source.is_file(), f"{copy.name} is not among the originals in {RECEIVER_ORIGINALS}"
    assert copy.read_bytes() == source.read_bytes(), f"{copy} differs from {source}"
