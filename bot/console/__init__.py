"""The support team's side of the assistant: the agents' inbox (handoff queue, claims,
evidence packs, replies into the customer's widget, hand-back), answer feedback, and
analytics read from Rasa's event broker (dashboard, knowledge gaps, `tandem report`).

The action server serves its pages (/agent/, behind the agent token); `tandem report`
prints the same figures."""
