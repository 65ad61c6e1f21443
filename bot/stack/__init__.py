"""Running the assistant: its processes (Redis, action server, Rasa), Rasa training, a
REST client of the running stack, and the set-up (bootstrap.py, stdlib only)."""
