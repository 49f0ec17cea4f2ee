# The bot image: Slack bot (Socket Mode or HTTP), console and command line.
# torch goes first, pinned, from PyTorch's CPU wheel index (the `+cpu` build): PyPI's
# default torch on Linux x86_64 is the CUDA build, several GB of NVIDIA packages. Where that
# index cannot be reached, the build says so and takes torch from the default index.
# Another index (a CUDA build): docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 .
FROM python:3.11-slim AS bot
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    ONCALL_CACHE_DIR=/var/cache/ascend-oncall \
    ONCALL_DATABASE_URL=sqlite:////var/lib/ascend-oncall/oncall.db \
    ONCALL_HOST=0.0.0.0 ONCALL_PORT=3000
WORKDIR /app
RUN pip install --quiet --timeout 10 --retries 0 torch==2.13.0 ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} \
    || { echo "$TORCH_INDEX did not answer: torch from the default index instead (the CUDA build on x86_64)"; \
         pip install --quiet torch==2.13.0; }
COPY pyproject.toml README.md ./
COPY kb kb
COPY bot bot
COPY runners runners
RUN pip install --quiet '.[bot,postgresql]' && useradd --system --create-home oncall \
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
# The image's torch and torch-npu stay: the project only adds what torch already satisfies,
# so no torch is installed here (the bot's CPU index would not fit an NPU image anyway).
ARG VLLM_ASCEND_IMAGE=quay.io/ascend/vllm-ascend:latest
FROM ${VLLM_ASCEND_IMAGE} AS agent
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_OFFLINE=1 \
    ONCALL_RUNNER_DIR=/var/lib/ascend-oncall/runner ONCALL_VLLM_CMD=vllm
WORKDIR /opt/ascend-oncall
COPY pyproject.toml README.md ./
COPY kb kb
COPY bot bot
COPY runners runners
RUN pip install --quiet . && mkdir -p /var/lib/ascend-oncall/runner
VOLUME /var/lib/ascend-oncall
# CANN's environment, as vllm-ascend's image sets it for interactive shells.
ENTRYPOINT ["/bin/bash", "-c", "source /usr/local/Ascend/ascend-toolkit/set_env.sh 2>/dev/null; source /usr/local/Ascend/nnal/atb/set_env.sh 2>/dev/null; exec ascend-oncall runner \"$@\"", "--"]
