"""The keys the embedded shop makes for itself: one per file, whoever asks first, whole."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from eventualshop.kernel.environment import kept_key


def test_processes_asking_at_once_all_get_the_one_key_that_was_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / "some.key"
    start = threading.Barrier(8)
    got: list[bytes] = []

    def ask() -> None:
        start.wait()
        got.append(kept_key(path))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(got) == 8
    assert set(got) == {path.read_bytes()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["some.key"]  # no half-written leftovers


def test_a_key_being_written_is_never_seen_in_part(tmp_path: Path) -> None:
    # Was: the file was created empty (O_EXCL), then written; a reader in between waited for
    # any content, so it could take a key in part. Now it appears whole or not at all.
    path = tmp_path / "slow.key"
    there_while_made: list[bool] = []

    def make() -> bytes:
        there_while_made.append(path.exists())  # what a reader would find meanwhile
        return b"k" * 64

    assert kept_key(path, make) == b"k" * 64
    assert there_while_made == [False]
    assert path.read_bytes() == b"k" * 64
