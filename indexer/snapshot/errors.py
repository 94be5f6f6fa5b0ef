"""Typed errors of the snapshot store."""


class SnapshotError(Exception):
    """Base error: a snapshot could not be written, published, opened or read."""


class SnapshotNotFoundError(SnapshotError):
    """No published snapshot at the given root or directory."""


class ModelMismatchError(SnapshotError):
    """The snapshot was built by a different model than the one asked for."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(
            f"snapshot {path} was built with model hash {actual!r}, but model hash {expected!r} is loaded; "
            "re-index with the loaded model or load the model the snapshot was built with"
        )
        self.expected = expected
        self.actual = actual


class DuplicateVideoError(SnapshotError):
    """A video id was added twice to one snapshot."""


class VideoNotFoundError(SnapshotError, KeyError):
    """A video id is not in the snapshot."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "video not found"
