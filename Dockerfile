# The bot image: triage engine and command line (Slack and the runner agent come later).
# torch goes first and pinned to the CPU build; any other spec pulls several GB of CUDA.
# Where PyPI's default torch wheel is the CUDA build (Linux x86_64), point TORCH_INDEX at
# PyTorch's CPU wheel index: docker build --build-arg TORCH_INDEX=<cpu index url> .
FROM python:3.11-slim AS bot
ARG TORCH_INDEX=""
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ONCALL_CACHE_DIR=/var/cache/ascend-oncall
WORKDIR /app
RUN pip install torch==2.13.0 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
COPY pyproject.toml README.md ./
COPY kb kb
COPY bot bot
COPY runners runners
RUN pip install . && useradd --system --create-home oncall \
    && mkdir -p /var/cache/ascend-oncall && chown oncall /var/cache/ascend-oncall
USER oncall
# Build the index once at image build time so the first answer is fast.
RUN printf 'warm-up\n' | ascend-oncall triage - --json > /dev/null
ENTRYPOINT ["ascend-oncall"]
CMD ["--help"]
