"""Rasa custom actions: thin glue between Rasa's tracker and the layers below (the gate,
knowledge, the voice model, the brand's order back end and policy).

- knowledge_answer.py  the gate's decision and the grounded answer, every undecided turn
- order_forms.py, order_flows.py   the order flows kit any store brand can reuse
- handoff.py, info.py  handoff and fallback; scripted answers
- server.py, nlg.py    the action server (also the brand's own actions.py) and its NLG endpoint

The action server (`python -m actions.server`) imports every module here.
"""
