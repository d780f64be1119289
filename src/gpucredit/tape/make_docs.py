"""Regenerate ``docs/tape.md`` from the schema: ``python -m gpucredit.tape.make_docs [PATH]``.

The whole file comes from :func:`gpucredit.tape.schema.render_markdown`; a test fails when
the committed file differs from what the schema renders.
"""

from __future__ import annotations

import sys

from gpucredit.tape.schema import write_docs


def main(argv: list[str] | None = None) -> int:
    """Write the docs to ``argv[0]`` (default ``docs/tape.md``) and say where."""
    args = sys.argv[1:] if argv is None else argv
    target = write_docs(args[0] if args else "docs/tape.md")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
