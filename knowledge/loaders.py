"""Read the brand's documents into plain text, one :class:`SourceDocument` per file.

Markdown, HTML, plain text, PDF, and FAQ files (YAML or CSV question/answer pairs).
Documents may quote the store's policy and brand facts as ``{{policy.returns.window_days}}``
or ``{{brand.support_email}}``: they are filled from the brand's policy.yml and brand.yml when read, so the
flows and the knowledge base say the same thing. A file that cannot be used is reported
in :class:`LoadProblem` and skipped; the rest are still read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.core.settings import current_brand

logger = logging.getLogger(__name__)

TEXT_TYPES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
FAQ_TYPES = {".yml", ".yaml", ".csv"}
PLACEHOLDER = re.compile(r"\{\{\s*(policy|brand)\.([a-zA-Z0-9_.\[\]]+)\s*\}\}")


class LoadError(Exception):
    """This file cannot be used; the message says why and how to fix it."""


@dataclass(frozen=True)
class LoadProblem:
    path: str
    reason: str


SPLITTING = "paragraphs-2"  # bump when knowledge.chunking splits differently: each document is re-split


@dataclass
class SourceDocument:
    path: str  # relative to the sources folder: the document's identity
    title: str
    kind: str  # markdown, text, html, pdf, faq
    text: str  # Markdown-like text (headings as #), or empty for FAQ
    modified: str  # ISO time of the file
    faq: list[tuple[str, str]] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        digest = hashlib.sha256(self.text.encode())
        for question, answer in self.faq:
            digest.update(f"\0{question}\0{answer}".encode())
        return digest.hexdigest()[:16]

    @property
    def revision(self) -> str:
        """Changes when what the document says (title or content) or the way it is split changes."""
        return hashlib.sha256(f"{SPLITTING}\0{self.title}\0{self.content_hash}".encode()).hexdigest()[:16]


def brand_facts() -> dict[str, Any]:
    """What ``{{policy.…}}`` and ``{{brand.…}}`` refer to: the brand's policy.yml and brand.yml."""
    brand = current_brand()
    return {"policy": brand.policy(), "brand": brand.facts()}


def fill_facts(text: str, facts: dict[str, Any] | None = None) -> str:
    facts = facts or brand_facts()

    def lookup(match: re.Match) -> str:
        value: Any = facts[match.group(1)]
        for part in re.findall(r"[^.\[\]]+", match.group(2)):
            try:
                value = value[int(part)] if isinstance(value, list) else value[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise LoadError(
                    f"unknown fact {match.group(0)} (see the brand's {match.group(1)}.yml)"
                ) from None
        if isinstance(value, list):
            items = [str(v) for v in value]
            return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        return str(value)

    return PLACEHOLDER.sub(lookup, text)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise LoadError(f"not UTF-8 text (byte {error.start}); re-save the file as UTF-8") from None


def _title_from(text: str, fallback: str) -> str:
    match = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else fallback


def _html_to_markdown(html: str) -> tuple[str, str | None]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "footer"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else None
    for level in (1, 2, 3):
        for heading in soup.find_all(f"h{level}"):
            heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for item in soup.find_all("li"):
        item.replace_with(f"\n- {item.get_text(' ', strip=True)}\n")
    body = soup.body or soup
    text = re.sub(r"\n{3,}", "\n\n", body.get_text("\n")).strip()
    return text, title


def _pdf_to_text(raw: bytes) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError) as error:
        raise LoadError(f"unreadable PDF ({error}); export it again or convert it to Markdown") from None
    return "\n\n".join(p.strip() for p in pages if p.strip()), title


def _faq_entries(path: Path, text: str) -> list[tuple[str, str]]:
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows or not {"question", "answer"} <= set(rows[0]):
            raise LoadError("an FAQ CSV needs the columns question and answer")
        pairs = [(r["question"], r["answer"]) for r in rows]
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise LoadError(f"invalid YAML: {str(error).splitlines()[0]}") from None
        items = data.get("faq") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and "question" in i and "answer" in i for i in items
        ):
            raise LoadError("an FAQ YAML file is a list of {question, answer} (optionally under `faq:`)")
        pairs = [(str(i["question"]), str(i["answer"])) for i in items]
    return [(" ".join(q.split()), a.strip()) for q, a in pairs if q and a and str(a).strip()]


def load_file(path: Path, root: Path, max_bytes: int, facts: dict[str, Any] | None = None) -> SourceDocument:
    """Read one file, or raise LoadError saying why it cannot be used."""
    suffix = path.suffix.lower()
    if suffix not in TEXT_TYPES and suffix not in FAQ_TYPES and suffix != ".pdf":
        raise LoadError(
            f"unsupported file type {suffix or '(none)'}; use .md, .txt, .html, .pdf, .yml or .csv"
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise LoadError(
            f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB); split it into smaller documents"
        )
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise LoadError(f"cannot be read ({error.strerror})") from None
    relative = path.relative_to(root).as_posix()
    fallback_title = path.stem.replace("-", " ").replace("_", " ").capitalize()
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    if suffix == ".pdf":
        text, title = _pdf_to_text(raw)
        kind = "pdf"
    elif suffix in FAQ_TYPES:
        faq = [(fill_facts(q, facts), fill_facts(a, facts)) for q, a in _faq_entries(path, _decode(raw))]
        if not faq:
            raise LoadError("empty: no question/answer pairs")
        return SourceDocument(relative, fallback_title, "faq", "", modified, faq)
    elif TEXT_TYPES[suffix] == "html":
        text, title = _html_to_markdown(_decode(raw))
        kind = "html"
    else:
        text, title, kind = _decode(raw), None, TEXT_TYPES[suffix]
    text = fill_facts(text, facts).strip()
    if not text:
        raise LoadError("empty: no text to index")
    return SourceDocument(relative, title or _title_from(text, fallback_title), kind, text, modified)


def candidate_files(root: Path) -> list[Path]:
    """The files under `root` that are meant as documents: not hidden, not the folder's
    README or licence. Sorted."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p.name.lower() not in ("readme.md", "license", "licence")
    )


def load_sources(root: Path, max_bytes: int) -> tuple[list[SourceDocument], list[LoadProblem]]:
    """Every usable document under `root`, and a problem for each file that was skipped."""
    facts = brand_facts()
    documents: list[SourceDocument] = []
    problems: list[LoadProblem] = []
    seen: dict[str, str] = {}
    for path in candidate_files(root):
        relative = path.relative_to(root).as_posix()
        try:
            document = load_file(path, root, max_bytes, facts)
        except LoadError as error:
            problems.append(LoadProblem(relative, str(error)))
            continue
        duplicate_of = seen.get(document.content_hash)
        if duplicate_of:
            problems.append(LoadProblem(relative, f"duplicate of {duplicate_of}; skipped"))
            continue
        seen[document.content_hash] = relative
        documents.append(document)
    return documents, problems
