"""`klear serve`, except that one person's records are kept in clear: the plaintext reference of
records_bench.py, read through exactly the same routes, queries, access checks and audit as sealed records.

    python bench/records_server.py --plaintext-owner UUID    (configured like `klear serve`, from the environment)

Bench-only: the one change is that the keyring hands out an identity sealer for that owner.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.cli import main  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.keyring import Keyring  # noqa: E402


class PlainSealer:
    """Seals nothing: the reference's 'plaintext copy'."""

    def seal(self, plaintext: bytes, context: str) -> bytes:
        return plaintext

    def open(self, sealed: bytes, context: str) -> bytes:
        return sealed


def keep_in_clear(owner: uuid.UUID) -> None:
    sealed_for = Keyring.sealer_for

    async def sealer_for(self: Keyring, db: Database, who: uuid.UUID):  # type: ignore[no-untyped-def]
        return PlainSealer() if who == owner else await sealed_for(self, db, who)

    Keyring.sealer_for = sealer_for  # type: ignore[method-assign]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--plaintext-owner", type=uuid.UUID, required=True)
    args = ap.parse_args()
    keep_in_clear(args.plaintext_owner)
    sys.exit(main(["serve"]))
