"""Every sentence the bot says, in one place, so Slack and the console say the same thing."""

from __future__ import annotations

NAME = "ascend-oncall"

MATCH_HEAD = "Runbook match: {title}"
NO_MATCH_HEAD = "No runbook entry matches this"
NO_MATCH_BODY = (
    "I read the paste but none of the runbook's entries fits its root cause, so I will not "
    "guess. If you know the fix, add it to the runbook."
)
LIKELY_HEAD = "Likely: {title}"
LIKELY_BODY = (
    "The paste points to this entry more than to any other, but not strongly enough for me "
    "to be sure ({score:.2f})."
)
CONFIRM = "It is this entry if the log also shows"
LIKELY_ACTIONS = "If it is, what to do"
NO_SIGNATURE = "I found no error line in it."
ROOT_CAUSE = "Root cause"
EVIDENCE = "Lines that match the entry"
ACTIONS = "What to do"
OTHERS = "Other candidates"
MAYBES = "Maybe (weak)"
CONFIDENCE = "Confidence: {confidence} ({score:.2f})"
ASKED_BY = "asked by {who}"
ENTRY_ID = "entry `{id}`"

# A runner job's verdict (bot.core.run_layout): the same words in Slack, `run`, `jobs show`
# and the autopilot's ladder. `code` spans are markup: a plain renderer drops the backticks.
RUNBOOK_HEADS = {
    "match": "Runbook match",
    "likely": "Likely runbook entry",
    "no_match": "Closest runbook entry (weak)",
}
RUN_MATCH = "{heading}: {title}"
RUN_MATCH_META = "{confidence}, " + ENTRY_ID
READY_AFTER = "ready after {seconds:.1f} s"
TIME_PER_PHASE = "time per phase: {phases}"
RUN_EVIDENCE = "evidence: {markers}"
LOST_VERDICT = "the agent stopped heartbeating"
FIRST_ERROR = "First error"
NOT_CLEAN = "Host not clean after the run: {left}"
NEXT = "Next"
LOG_TAIL = "Log tail"
RUN_EAGER = "Run eager isolation"
RUN_FALLBACK = "Run fallback {name}"
RUN_AGAIN = "Run {playbook} again"

HELPFUL = "Helpful"
NOT_THIS = "Not this"
PICK_ENTRY = "Pick the right entry"
RUN_ON_HOST = "Run on a host"
PICKER_TITLE = "Which entry fits?"
PICKER_LABEL = "The runbook entry that fixes this"
PICKER_NONE = "None of these"
PICKER_SUBMIT = "Teach the bot"

THANKS_HELPFUL = "Thanks, noted as helpful."
THANKS_LEARNED = "Thanks: I will answer “{title}” for pastes like this one from now on."
THANKS_NONE = "Thanks, noted: none of the entries fits this."
MARKED_HELPFUL = "{who} found this helpful"
MARKED_NOT_THIS = "{who} says it is *{title}*"
MARKED_NONE = "{who} says no entry fits"

RUNBOOK_HEAD = "Runbook entries for “{query}”"
RUNBOOK_ALL = "The runbook has {n} entries. `/runbook <words>` shows one with its actions:"
RUNBOOK_NONE = "No runbook entry mentions “{query}”. `/runbook` alone lists them all."

TRUNCATED = "(cut here: too long for one message)"
CANNOT_READ = "I could not read that: {reason}"
NO_TRIAGER = "I cannot triage right now: {reason}. Whoever runs the bot can see why in its log."
TOO_SLOW = "This paste took too long to read; paste the part around the first error."
USAGE_TRIAGE = (
    "Usage: `/triage <error line or log>`. For a long log, upload it as a file and mention "
    "me in its thread."
)
NOTHING_IN_THREAD = "I found no text or log file in this thread to triage."
NOT_HERE = "I am not enabled in this {place}. Ask whoever runs the bot to add it."
INVITE_ME = (
    "I cannot post in this channel, so only you see this. Invite me with `/invite @{name}` "
    "and the team will see answers in a thread."
)
UNKNOWN_ANSWER = "That answer is no longer in my records, so I cannot store feedback for it."
FILES_SKIPPED = "Skipped {names}: {reason}"
FAILED = "Sorry, I could not finish answering that; the error is in my log. Please try again."

HELP = f"""{NAME}: I match vLLM / vllm-ascend logs against the team's runbook.
  /triage <error or log>     find the runbook entry for a paste
  /runbook [words]           look up entries (alone: list them all)
  /helpful                   the last answer was right
  /notthis [N|entry-id|none] the last answer was wrong: pick the right entry
  /help, /quit
Or paste a log and end it with a line holding only "." (or end of input)."""
