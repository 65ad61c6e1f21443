"""`tandem new NAME`: scaffold a brand folder that trains, serves and passes its own tests.

The new brand (bot/brands/NAME/, or --dir) starts with knowledge answers from one sample
document, small talk, a handoff to a person, its gate, its conversation tests and a demo
page: the files of bot/tandem/brand_template/, with the brand's name filled in. Nothing
outside the folder changes; `TANDEM_BRAND=NAME` serves it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from bot.core.brand import BRANDS_DIR

TEMPLATE = Path(__file__).resolve().parent / "brand_template"
NAME = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


class NewBrandError(ValueError):
    """The brand cannot be made as asked; the message says why."""


def prefix_of(name: str) -> str:
    """An order-number prefix from the name: 'acme' -> 'AC'."""
    letters = re.sub(r"[^a-z]", "", name)
    return (letters[:2] or "XX").upper()


def scaffold(name: str, title: str, folder: Path) -> list[Path]:
    """Write the template into `folder` (which must not exist); the files written."""
    if not NAME.match(name):
        raise NewBrandError(
            f"{name!r} is not a brand name: 2 to 40 lowercase letters, digits, '-' or '_', starting with a letter"
        )
    if folder.exists():
        raise NewBrandError(f"{folder} already exists: choose another name, or remove it first")
    values = {"__ID__": name, "__TITLE__": title, "__PREFIX__": prefix_of(name)}
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    written = []
    for source in sorted(TEMPLATE.rglob("*")):
        if source.is_dir():
            continue
        target = partial / source.relative_to(TEMPLATE)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        target.write_text(text, encoding="utf-8")
        written.append(folder / source.relative_to(TEMPLATE))
    partial.rename(folder)  # all or nothing: an interrupted run leaves no half brand
    return written


def cmd_new(args: argparse.Namespace) -> int:
    folder = Path(args.dir) if args.dir else BRANDS_DIR / args.name
    title = args.title or args.name.replace("-", " ").replace("_", " ").title()
    try:
        written = scaffold(args.name, title, folder)
    except NewBrandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = args.name if not args.dir else str(folder.resolve())
    print(f"created brand {title!r} in {folder} ({len(written)} files). Next:")
    print(f"  TANDEM_BRAND={where} make run          # train, start, refresh its knowledge base")
    print(f"  TANDEM_BRAND={where} .venv/bin/tandem test   # its stories and conversations")
    print("  then edit brand.yml, sources/, data/nlu/ and tests/conversations/ (bot/brands/README.md)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "new",
        help="scaffold a new brand folder (domain, flows, documents, voice data, gate, tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the brand's folder name, e.g. acme (lowercase)")
    p.add_argument("--title", help="the brand's display name (default: from NAME)")
    p.add_argument("--dir", help="make it in this folder instead of bot/brands/NAME")
    p.set_defaults(func=cmd_new)
