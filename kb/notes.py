"""What an answer says beside its entries: the paste is cut, the request was refused, the
log cannot decide between two readings. Each note tells the user what to paste or do next."""

PARTIAL_NOTE = (
    "The paste stops inside a traceback: its last lines, with the exception, are missing, "
    "so no entry is more than a medium match. Paste the end of the log (the lines after the "
    "last frame) to confirm."
)


REQUEST_NOTE = (
    "The server refused a request (HTTP 4xx: too long, unknown model, bad parameters) and kept "
    "serving: that is the request's input, not a crash of the server."
)
USAGE_NOTE = (
    "vLLM refused the command line (a flag or a value it does not take): fix the command; "
    "`vllm serve --help` lists what this version accepts."
)


IMPORT_NOTE = (
    "The paste does not show whose import of the transformers name failed. If the frame "
    "above the ImportError is in vllm/, vLLM needs a newer transformers (do not apply "
    "'do not upgrade transformers'); if it is in transformers_modules/ or a model's "
    "modeling_*.py, it is the model's remote code. Paste the traceback to confirm."
)
INSPECTION_NOTE = (
    "vLLM could not inspect the model's class: the subprocess that imports it failed, and "
    "why (an import, a missing package, the transformers version) is in that subprocess's "
    "own output, not in the paste. Paste the error printed before 'Error in inspecting "
    "model architecture'; only if it says the architecture is unknown is it that entry."
)
HEADS_TP_NOTE = (
    "vLLM refused the tensor parallel size before loading the model: the attention heads do "
    "not divide evenly across the TP ranks. Pick a --tensor-parallel-size that divides the "
    "head count (add --pipeline-parallel-size for more devices). The QK-norm entry is for a "
    "shape mismatch while loading or running, when TP exceeds the KV heads."
)
MAXLEN_NOTE = (
    "vLLM refused --max-model-len because it is above what the model's config allows "
    "(max_position_embeddings): lower it to that, or, only if the model really supports "
    "more (RoPE scaling), set VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. The config-max-length entry "
    "is for the opposite: a config maximum that does not fit at run time."
)
# Facts that leave two readings open: no entry is more than "likely" until the log says more.
HEDGES = {
    "@import-no-origin": IMPORT_NOTE,
    "@inspection-failed": INSPECTION_NOTE,
    "@heads-tp-check": HEADS_TP_NOTE,
    "@maxlen-over-config": MAXLEN_NOTE,
}

NO_ERROR_NOTE = (
    "The paste shows a traceback but no line that says what went wrong (the exception, an "
    "error code): paste the lines after the traceback's last frame to confirm."
)
REQUEST_CRASH_NOTE = (
    "The paste shows a request crashing the engine (an HTTP 500, a dead engine, a traceback "
    "through the serving loop), but not the startup before it: "
    "whether it was the first request after 'Application startup complete' or one of many "
    "is not shown. The first request: the false-ready entry. After a while of serving: "
    "paste the lines before the first error, with the startup."
)
MLA_CRASH_NOTE = (
    "The crash is in the forward pass of an MLA model (DeepSeek, Kimi, GLM-4.7-Flash, ...) "
    "while it ran a request, but no line says it is MLA attention that failed: paste the "
    "error after the last frame (AtbRingMLA, FusedInferAttentionScore, 561002) to confirm."
)
# Facts that say what happened but not enough to name an entry: an entry that only such a
# fact points to (no line of the paste names it) is "likely" at most.
UNDECIDED = {"@crash-on-request": REQUEST_CRASH_NOTE, "@mla-runtime-crash": MLA_CRASH_NOTE}


WRAPPER_NOTE = (
    "Only wrapper lines were pasted (EngineDeadError, 'See root cause above', ...): the cause "
    "is logged above them. Paste the lines before the first wrapper."
)
