"""Task and piece records in one SQLite database (WAL, synchronous=NORMAL).

A piece row is written only after its bytes are in the content file, so a crash leaves
either a complete, verified piece recorded or no record.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from damselfly.core.errors import FailedPrecondition
from damselfly.core.models import PieceInfo, Traffic

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    content_length INTEGER NOT NULL,
    piece_length INTEGER NOT NULL,
    piece_count INTEGER NOT NULL,
    state TEXT NOT NULL,
    digest TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pieces (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    crc32c INTEGER NOT NULL,
    traffic INTEGER NOT NULL,
    PRIMARY KEY (task_id, number)
);
"""


@dataclass
class TaskRecord:
    id: str
    url: str
    content_length: int
    piece_length: int
    piece_count: int
    state: str
    digest: str
    accessed_at: float = 0.0


class Metadata:
    def __init__(self, path: Path) -> None:
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise FailedPrecondition(
                f"the daemon's metadata database {path} cannot be used ({exc}); move the "
                "storage folder away to start with an empty cache"
            ) from None

    def close(self) -> None:
        self._db.close()

    def upsert_task(self, record: TaskRecord, now: float) -> None:
        self._db.execute(
            "INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "url=excluded.url, content_length=excluded.content_length, "
            "piece_length=excluded.piece_length, piece_count=excluded.piece_count, "
            "state=excluded.state, digest=excluded.digest, updated_at=excluded.updated_at",
            (
                record.id,
                record.url,
                record.content_length,
                record.piece_length,
                record.piece_count,
                record.state,
                record.digest,
                now,
            ),
        )

    def task(self, task_id: str) -> TaskRecord | None:
        row = self._db.execute(
            "SELECT id, url, content_length, piece_length, piece_count, state, digest, "
            "updated_at FROM tasks WHERE id=?",
            (task_id,),
        ).fetchone()
        return TaskRecord(*row) if row else None

    def tasks(self) -> list[TaskRecord]:
        rows = self._db.execute(
            "SELECT id, url, content_length, piece_length, piece_count, state, digest, "
            "updated_at FROM tasks"
        ).fetchall()
        return [TaskRecord(*row) for row in rows]

    def touch(self, task_id: str, now: float) -> None:
        """Record a use of the task (GC evicts the least recently used first)."""
        self._db.execute("UPDATE tasks SET updated_at=? WHERE id=?", (now, task_id))

    def add_piece(self, task_id: str, piece: PieceInfo) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO pieces VALUES (?,?,?,?,?,?)",
            (task_id, piece.number, piece.offset, piece.length, piece.crc32c, int(piece.traffic)),
        )

    def pieces(self, task_id: str) -> list[PieceInfo]:
        rows = self._db.execute(
            "SELECT number, offset, length, crc32c, traffic FROM pieces WHERE task_id=? "
            "ORDER BY number",
            (task_id,),
        ).fetchall()
        return [PieceInfo(n, o, ln, c, traffic=Traffic(t)) for n, o, ln, c, t in rows]

    def delete_pieces(self, task_id: str, numbers: list[int]) -> None:
        self._db.executemany(
            "DELETE FROM pieces WHERE task_id=? AND number=?", [(task_id, n) for n in numbers]
        )

    def delete_task(self, task_id: str) -> None:
        self._db.execute("DELETE FROM pieces WHERE task_id=?", (task_id,))
        self._db.execute("DELETE FROM tasks WHERE id=?", (task_id,))
