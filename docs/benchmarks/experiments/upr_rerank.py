"""Run: .venv/bin/python docs/benchmarks/experiments/upr_rerank.py

Zero-shot reranking of hybrid's top 5 by the small LM's likelihood of the question given
the entry (UPR, Sachan et al. 2022), on COVID-QA. Experiment only."""

import sys, time, numpy as np, torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3]))
torch.set_num_threads(2)
from adapters.base_model import load
from knowledge.config import KnowledgeSettings
from knowledge.embeddings import embedding_model
from knowledge.evaluation import covid_qa_corpus, build_store, answering_documents

model, tok = load()
model.eval()
s = KnowledgeSettings()
emb = embedding_model(s.embedding_model)
c = covid_qa_corpus()
doc = {d["id"]: d for d in c.documents}
store, _ = build_store(c, emb)
TOP = 5


def lm_scores(question, ids):
    prompts = [
        f"Passage: {doc[i]['title']} {doc[i]['text'][:300]}\nPlease write a question based on this passage.\nQuestion:"
        for i in ids
    ]
    q_ids = tok(" " + question, add_special_tokens=False)["input_ids"]
    out = []
    seqs = [tok(p, add_special_tokens=False)["input_ids"] + q_ids for p in prompts]
    L = max(map(len, seqs))
    pad = tok.pad_token_id
    x = torch.full((len(seqs), L), pad)
    att = torch.zeros((len(seqs), L), dtype=torch.long)
    for r, sq in enumerate(seqs):
        x[r, : len(sq)] = torch.tensor(sq)
        att[r, : len(sq)] = 1
    with torch.no_grad():
        logits = model(input_ids=x, attention_mask=att).logits.float()
    logp = torch.log_softmax(logits, -1)
    for r, sq in enumerate(seqs):
        n = len(q_ids)
        start = len(sq) - n
        lp = logp[r, start - 1 : len(sq) - 1].gather(1, torch.tensor(sq[start:]).unsqueeze(1)).squeeze(1)
        out.append(float(lp.mean()))
    return np.array(out)


rows = []
t0 = time.time()
for q in c.questions:
    hits = store.search(q["question"], k=20, mode="hybrid")
    ranked = list(dict.fromkeys(h.source for h in hits))[:TOP]
    score = {}
    for h in hits:
        score.setdefault(h.source, h.score)
    rs = np.array([score[i] for i in ranked])
    ls = lm_scores(q["question"], ranked)
    rows.append((set(answering_documents(q)), ranked, rs, ls))
print(f"{len(rows)} questions in {time.time() - t0:.0f} s", flush=True)
z = lambda v: (v - v.mean()) / (v.std() + 1e-9)
for lam in [0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 100]:
    r1 = r5 = 0
    for want, ranked, rs, ls in rows:
        order = np.argsort(-(z(rs) + lam * z(ls)))
        top = [ranked[j] for j in order]
        r1 += top[0] in want
        r5 += any(t in want for t in top[:5])
    print(f"lambda {lam}: R@1 {r1 / len(rows):.3f} R@5(top5 only) {r5 / len(rows):.3f}")
