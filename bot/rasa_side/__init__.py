"""Code that runs inside the Rasa server (Python 3.10, the other venv): the socket.io
channel and NLU parsing. It imports nothing else of the project."""
