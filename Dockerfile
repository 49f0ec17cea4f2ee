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

# The agent image, for an Ascend host: vllm-ascend's own image (CANN, torch-npu, vLLM,
# vllm-ascend) plus this project, which runs `vllm serve` there for runner jobs.
#   docker build --target agent --build-arg VLLM_ASCEND_IMAGE=quay.io/ascend/vllm-ascend:<tag> -t ascend-oncall-agent .
#   docker run -d --network host --device /dev/davinci0 ... (as vllm-ascend documents) \
#     -e ONCALL_AGENT_TOKEN=<token> -v /data/models:/data/models:ro ascend-oncall-agent \
#     --server https://oncall.example.com --label a2 --model-root /data/models
# The image's torch and torch-npu stay: the project only adds what torch already satisfies.
ARG VLLM_ASCEND_IMAGE=quay.io/ascend/vllm-ascend:latest
FROM ${VLLM_ASCEND_IMAGE} AS agent
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    ONCALL_RUNNER_DIR=/var/lib/ascend-oncall/runner ONCALL_VLLM_CMD=vllm
WORKDIR /opt/ascend-oncall
COPY pyproject.toml README.md ./
COPY kb kb
COPY bot bot
COPY runners runners
RUN pip install . && mkdir -p /var/lib/ascend-oncall/runner
VOLUME /var/lib/ascend-oncall
# CANN's environment, as vllm-ascend's image sets it for interactive shells.
ENTRYPOINT ["/bin/bash", "-c", "source /usr/local/Ascend/ascend-toolkit/set_env.sh 2>/dev/null; source /usr/local/Ascend/nnal/atb/set_env.sh 2>/dev/null; exec ascend-oncall runner \"$@\"", "--"]
