"""Code that runs inside the Rasa server (Python 3.10, the other venv): the channels and the
guard on what they accept, the tracker store, lock store and event broker, the response
generator, what Rasa does when a part fails (faults.py) and the work it repeats per turn done
once (speedups.py), the NLU parse helper. It imports nothing else of the project but
bot.core.privacy."""
