"""Knowledge base: ingest, refresh and retrieve product and policy documents (LangChain + Qdrant).

Not built yet: the knowledge-base issue builds it. Until then, policy questions are
answered from bot/brand/answers.yml by actions/info.py.
"""
