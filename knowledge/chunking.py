"""Split documents into chunks that keep their headings (langchain-text-splitters).

Every chunk carries: source path, title, heading path, content hash, the document's
revision and modified time, and a link with an anchor that a customer can open.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from langchain_core.documents import Document
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from knowledge.loaders import SourceDocument

HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]
# A document without headings (plain text, a summary page) is split at its blank lines: each
# paragraph says one thing, and a chunk of one paragraph is found by a question about it,
# where the whole page's chunk would stand behind pages with a heading that matches.
# A paragraph shorter than this (a title line) is kept with the one after it.
SHORT_PARAGRAPH = 80
ID_NAMESPACE = uuid.UUID("5b1f0e3c-6d0a-4f7e-9a43-2f9b3c1d7e10")


@dataclass(frozen=True)
class Chunk:
    id: str  # stable: same source, heading path and text -> same id (not re-embedded)
    text: str  # what is embedded and shown: title and headings, then the passage
    metadata: dict


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "section"


def _chunk(document: SourceDocument, base_url: str, headings: list[str], body: str, index: int) -> Chunk:
    heading_path = " > ".join(h for h in headings if h and h != document.title)
    prefix = document.title + (f" > {heading_path}" if heading_path else "")
    text = f"{prefix}\n\n{body.strip()}"
    content_hash = hashlib.sha256(text.encode()).hexdigest()[:16]
    anchor = slugify(headings[-1]) if headings and headings[-1] != document.title else ""
    page = f"{base_url.rstrip('/')}/{slugify(document.path.rsplit('.', 1)[0])}"
    return Chunk(
        id=str(uuid.uuid5(ID_NAMESPACE, f"{document.path}\0{content_hash}")),
        text=text,
        metadata={
            "source": document.path,
            "title": document.title,
            "heading_path": heading_path,
            "kind": document.kind,
            "content_hash": content_hash,
            "doc_revision": document.revision,
            "modified": document.modified,
            "url": f"{page}#{anchor}" if anchor else page,
            "chunk_index": index,
        },
    )


def paragraphs(text: str) -> list[str]:
    """The text's paragraphs (split at blank lines); a short one is joined to the next."""
    out: list[str] = []
    pending = ""
    for paragraph in filter(None, (p.strip() for p in re.split(r"\n\s*\n", text))):
        pending = f"{pending}\n\n{paragraph}" if pending else paragraph
        if len(pending) >= SHORT_PARAGRAPH:
            out.append(pending)
            pending = ""
    return [*out, pending] if pending else out


def _untitled(text: str, title: str) -> str:
    """`text` without a first line that only repeats the document's title (a PDF's title
    page line): every chunk is led by the title already, and the line is no answer."""
    first, _, rest = text.partition("\n")
    return rest.lstrip("\n") if rest.strip() and first.strip().lower() == title.strip().lower() else text


def split_document(
    document: SourceDocument, base_url: str, chunk_size: int = 900, overlap: int = 120
) -> list[Chunk]:
    if document.kind == "faq":
        return [
            _chunk(document, base_url, [question], f"Q: {question}\nA: {answer}", i)
            for i, (question, answer) in enumerate(document.faq)
        ]
    sections = MarkdownHeaderTextSplitter(HEADERS, strip_headers=True).split_text(document.text)
    if not any(section.metadata for section in sections):
        sections = [Document(page_content=p) for p in paragraphs(_untitled(document.text, document.title))]
    splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=overlap)
    chunks: list[Chunk] = []
    for section in sections or [Document(page_content=document.text)]:
        headings = [section.metadata[key] for _, key in HEADERS if key in section.metadata]
        for piece in splitter.split_text(section.page_content):
            if piece.strip():
                chunks.append(_chunk(document, base_url, headings, piece, len(chunks)))
    # one id per text: identical passages inside one document are kept once
    unique = {c.id: c for c in chunks}
    return list(unique.values())
