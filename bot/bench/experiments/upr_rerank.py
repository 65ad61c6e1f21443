"""Run: .venv/bin/python -m bot.bench.experiments.upr_rerank [--folds 4] [--top 5]

Experiment, not in the product: how far COVID-QA recall@1 can go with what runs here.

1. Zero-shot reranking of hybrid's top `--top` entries by the small LM's likelihood of the
   question given the entry (UPR, Sachan et al. 2022: SmolLM2-135M, the packaged default),
   fused with the hybrid score as z(hybrid) + lambda * z(log-likelihood), on top of
   - the untuned embedding model (lambda fitted on all questions: an upper bound), and
   - the model tuned by `tandem kb tune`, cross-validated as `tandem bench retrieval --tune`
     does; lambda is fitted per fold on the other folds' held-out rankings (stacking).
2. The dense weight that would have been best for the tuned model, fitted on the questions it
   is scored on (an upper bound of what a better weight fit could give).
3. A label ceiling: recall@1 if an entry whose question is close (MiniLM cosine of the two
   FAQ questions, chosen without the retrieval results) to the labelled one also counted.

Writes docs/benchmarks/experiments/upr_rerank.md and .json. About 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from adapters.base_model import load
from bot.bench.evaluation import CrossValidation, build_store, covid_qa_corpus
from bot.bench.report import OUT_DIR, provenance, write_report
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import embedding_model
from knowledge.ranking import WEIGHTS, answering_documents

LAMBDAS = [0, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3]


class Reranker:
    def __init__(self, documents: dict[str, dict]):
        self.model, self.tokenizer = load()
        self.model.eval()
        self.documents = documents

    def prompt(self, doc_id: str) -> str:
        doc = self.documents[doc_id]
        return f"Passage: {doc['title']} {doc['text'][:300]}\nPlease write a question based on this passage.\nQuestion:"

    def scores(self, question: str, doc_ids: list[str]) -> np.ndarray:
        """Mean log-likelihood of the question's tokens after each entry's prompt."""
        tok = self.tokenizer
        asked = tok(" " + question, add_special_tokens=False)["input_ids"]
        seqs = [tok(self.prompt(d), add_special_tokens=False)["input_ids"] + asked for d in doc_ids]
        length = max(map(len, seqs))
        ids = torch.full((len(seqs), length), tok.pad_token_id)
        mask = torch.zeros((len(seqs), length), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=ids, attention_mask=mask).logits.float(), -1)
        out = []
        for row, seq in enumerate(seqs):
            start = len(seq) - len(asked)
            target = torch.tensor(seq[start:]).unsqueeze(1)
            out.append(float(logp[row, start - 1 : len(seq) - 1].gather(1, target).mean()))
        return np.array(out)


def zscore(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / (v.std() + 1e-9)


def candidates(store, question: dict, top: int) -> dict:
    hits = store.search(question["question"], k=20, mode="hybrid")
    scores: dict[str, float] = {}
    for hit in hits:
        scores.setdefault(hit.source, hit.score)
    ranked = list(scores)[:top]
    return {
        "want": set(answering_documents(question)),
        "ranked": ranked,
        "hybrid": np.array([scores[d] for d in ranked]),
    }


def recall_at_1(rows: list[dict], lam: float) -> float:
    right = 0
    for row in rows:
        fused = zscore(row["hybrid"]) + lam * zscore(row["lm"]) if lam else row["hybrid"]
        right += row["ranked"][int(np.argmax(fused))] in row["want"]
    return right / len(rows)


def best_lambda(rows: list[dict]) -> float:
    return max(LAMBDAS, key=lambda lam: (recall_at_1(rows, lam), -lam))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument(
        "--out-dir", default=str(OUT_DIR / "experiments"), help="where upr_rerank.md and .json go"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = KnowledgeSettings()
    corpus = covid_qa_corpus()
    documents = {d["id"]: d for d in corpus.documents}
    reranker = Reranker(documents)
    embeddings = embedding_model(settings.embedding_model)
    base_store, _ = build_store(corpus, embeddings)
    lines = [f"# COVID-QA recall@1: reranking and ceilings ({len(corpus.questions)} paraphrases)", ""]
    data: dict = {**provenance(), "questions": len(corpus.questions), "top": args.top, "folds": args.folds}

    started = time.monotonic()
    untuned = [candidates(base_store, q, args.top) for q in corpus.questions]
    for row, q in zip(untuned, corpus.questions, strict=True):
        row["lm"] = reranker.scores(q["question"], row["ranked"])
    per_question = (time.monotonic() - started) / len(untuned)
    lam = best_lambda(untuned)
    data["untuned"] = {
        "recall@1": recall_at_1(untuned, 0),
        "lambda_fitted_on_scored": lam,
        "reranked_recall@1": recall_at_1(untuned, lam),
        "seconds_per_question": round(per_question, 2),
    }
    lines += [
        "Untuned model (hybrid at weight 0.5):",
        f"- recall@1 {recall_at_1(untuned, 0):.3f}; reranked top {args.top}, lambda {lam} "
        f"(fitted on these questions): {recall_at_1(untuned, lam):.3f}; "
        f"{per_question:.2f} s per question (search + LM)",
        "",
    ]

    tuned: list[dict] = []
    weight_sweep: dict[float, int] = dict.fromkeys(WEIGHTS, 0)
    cv = CrossValidation(settings.embedding_model, folds=args.folds)
    for fold in cv.tuned_folds(corpus, base_store, corpus.questions, with_history=False):
        fitted = fold.store.dense_weight
        for weight in WEIGHTS:
            fold.store.dense_weight = weight
            for q in fold.test:
                weight_sweep[weight] += candidates(fold.store, q, 1)["ranked"][0] in set(
                    answering_documents(q)
                )
        fold.store.dense_weight = fitted
        for q in fold.test:
            row = candidates(fold.store, q, args.top)
            row["lm"], row["fold"] = reranker.scores(q["question"], row["ranked"]), fold.index
            tuned.append(row)
    # lambda per fold from the other folds' held-out rankings only (stacking)
    held_out_right, lambdas = 0, []
    for index in range(args.folds):
        lam = best_lambda([row for row in tuned if row["fold"] != index])
        test = [row for row in tuned if row["fold"] == index]
        lambdas.append(lam)
        held_out_right += round(recall_at_1(test, lam) * len(test))
    n = len(tuned)
    best_weight = max(WEIGHTS, key=lambda w: weight_sweep[w])
    data["tuned"] = {
        "recall@1": recall_at_1(tuned, 0),
        "lambdas_per_fold": lambdas,
        "reranked_recall@1_cross_validated": held_out_right / n,
        "reranked_recall@1_upper_bound": recall_at_1(tuned, best_lambda(tuned)),
        "best_dense_weight_upper_bound": {"weight": best_weight, "recall@1": weight_sweep[best_weight] / n},
    }
    lines += [
        f"Tuned model, {args.folds}-fold cross-validated (as `tandem bench retrieval --tune`):",
        f"- hybrid at the dense weight fitted on the training folds: recall@1 {recall_at_1(tuned, 0):.3f}",
        f"- reranked top {args.top}, lambda fitted on the other folds' held-out rankings ({lambdas}): "
        f"recall@1 {held_out_right / n:.3f}",
        f"- reranked, the best single lambda fitted on the scored questions themselves "
        f"({best_lambda(tuned)}): {recall_at_1(tuned, best_lambda(tuned)):.3f} (upper bound)",
        f"- hybrid at the best single dense weight for the scored questions ({best_weight}): "
        f"{weight_sweep[best_weight] / n:.3f} (upper bound)",
        "",
    ]

    titles = [d["title"] for d in corpus.documents]
    vectors = np.array(embeddings.embed_documents(titles))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    similar = vectors @ vectors.T
    index = {d["id"]: i for i, d in enumerate(corpus.documents)}
    lines.append("Label ceiling, tuned hybrid: recall@1 if an entry whose FAQ question is this close to")
    lines.append("the labelled entry's question also counted (cosine, untuned MiniLM):")
    data["label_ceiling"] = {}
    for threshold in (0.9, 0.85, 0.8, 0.75):
        right = sum(
            any(similar[index[row["ranked"][0]], index[w]] >= threshold for w in row["want"]) for row in tuned
        )
        pairs = int(((similar >= threshold).sum() - len(titles)) / 2)
        lines.append(f"- >= {threshold}: {right / n:.3f} ({pairs} pairs of entries that close)")
        data["label_ceiling"][str(threshold)] = {"recall@1": right / n, "pairs": pairs}
    write_report("upr_rerank", "\n".join(lines), data, Path(args.out_dir))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
