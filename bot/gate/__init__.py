"""The confidence gate: what to do with each turn.

- evidence.py: what a turn shows (NLU ranking, retrieval scores, nearest examples), built once
- decide.py: the route (flow, knowledge, clarify, handoff, out of scope) from the evidence
- thresholds.py: the brand's gate.yml, typed
- neighbours.py: the second NLU opinion: nearest training example, embedding classifier
- calibration.py: the search that fits the thresholds to labelled messages
"""
