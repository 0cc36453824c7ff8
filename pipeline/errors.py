"""One error type per seam; each carries the exit code the CLI maps it to.

Exit codes (the CLI contract): 0 all checks passed; 1 a check failed or a
vulnerability was found; 2 usage or configuration error; 3 infrastructure
error (engine down, image unavailable, tool missing, timeout).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3


class FixproofError(Exception):
    """Base of every error fixproof raises on purpose.

    The message is one or two plain sentences saying what went wrong and what
    to do; the CLI prints it without a traceback.
    """

    exit_code = EXIT_INFRA


class UsageError(FixproofError):
    """Bad command line (unknown file, conflicting flags)."""

    exit_code = EXIT_USAGE


class ConfigError(FixproofError):
    """fixproof.toml is missing, malformed, or has unknown or invalid keys."""

    exit_code = EXIT_USAGE


class EngineError(FixproofError):
    """The Docker Engine is unreachable or a container misbehaved."""

    exit_code = EXIT_INFRA


class ContainerTimeout(EngineError):
    """A container ran past its timeout; it was killed and removed."""


class ImageError(FixproofError):
    """A pinned image is missing and could not be pulled or built."""

    exit_code = EXIT_INFRA


class ToolError(FixproofError):
    """An outside tool (go, gdb, debootstrap...) is missing or failed to run."""

    exit_code = EXIT_INFRA


class BinaryFormatError(FixproofError):
    """A file is not a Go binary, or its Go metadata is unreadable."""

    exit_code = EXIT_FAILED


class GoModError(FixproofError):
    """go.mod or go.sum cannot be read or parsed."""

    exit_code = EXIT_USAGE


class ReleaseConfigError(FixproofError):
    """The app's own release config (.goreleaser.yml) cannot be read or has an unexpected shape."""

    exit_code = EXIT_USAGE


class VulnDBError(FixproofError):
    """The vulnerability database is unreachable or its data is corrupt."""

    exit_code = EXIT_INFRA


class EvidenceError(FixproofError):
    """The evidence bundle could not be written (missing input, unwritable destination)."""


class EvidenceKeyError(EvidenceError):
    """A signing or public key file is missing, unreadable or not an Ed25519 key."""

    exit_code = EXIT_USAGE
