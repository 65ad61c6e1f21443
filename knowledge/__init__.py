"""Knowledge base: ingest, refresh and retrieve the brand's product and policy documents.

- loaders.py   read Markdown, HTML, text, PDF and FAQ (YAML/CSV) files, with per-file errors
- chunking.py  heading-aware chunks with source, title, heading path, hash, version, link
- sparse.py    BM25-like sparse vectors computed locally (Qdrant applies the IDF)
- store.py     Qdrant (local folder or server) through langchain-qdrant: hybrid search
- refresh.py   incremental sync by content hash; documents flip atomically
- answer.py, verify.py   grounded answers and their check against the passages
- tune.py, ranking.py    tuning the embedder on labelled questions; the fusion weight

Imports bot.core only (never Rasa, the gate, the tool or the benchmarks). Nothing here does
work at import time; models and clients come from cached factories.
"""
