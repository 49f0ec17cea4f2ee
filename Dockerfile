# The bot image: Slack bot (Socket Mode or HTTP), console and command line.
# torch goes first and pinned to the CPU build; any other spec pulls several GB of CUDA.
# Where PyPI's default torch wheel is the CUDA build (Linux x86_64), point TORCH_INDEX at
# PyTorch's CPU wheel index: docker build --build-arg TORCH_INDEX=<cpu index url> .
FROM python:3.11-slim AS bot
ARG TORCH_INDEX=""
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    ONCALL_CACHE_DIR=/var/cache/ascend-oncall \
    ONCALL_DATABASE_URL=sqlite:////var/lib/ascend-oncall/oncall.db \
    ONCALL_HOST=0.0.0.0 ONCALL_PORT=3000
WORKDIR /app
RUN pip install torch==2.13.0 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"}
COPY pyproject.toml README.md ./
COPY kb kb
COPY bot bot
COPY runners runners
RUN pip install . && useradd --system --create-home oncall \
    && mkdir -p /var/cache/ascend-oncall /var/lib/ascend-oncall \
    && chown oncall /var/cache/ascend-oncall /var/lib/ascend-oncall
USER oncall
# Build the index once at image build time so the first answer is fast.
RUN printf 'warm-up\n' | ascend-oncall triage - --json > /dev/null
VOLUME /var/lib/ascend-oncall
EXPOSE 3000
# No command: the Slack bot when SLACK_BOT_TOKEN is set, else the console (docker run -it).
ENTRYPOINT ["ascend-oncall"]
