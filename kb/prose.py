"""What users write around their logs in Chinese, in the runbook's English.

Ascend users often describe the failure in Chinese ("容器能正常拉起" then "调用接口进行推理时直接
报错": the server starts, then the first inference request fails), and that sentence is often
all a paste says. The runbook, BM25 and the embedding model read English only, so the words
of a symptom are glossed: a fixed list of the technical words people use for these failures,
each given the English the runbook uses for it. A word, not a sentence, is glossed: the gloss
says what the prose names (a crash, a request, garbled output), never what it means as a whole.
Words that mean something else as often (架构 is mostly the CPU's, 绑定 mostly cards bound to a
container) are glossed only in the compounds that are unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CJK = re.compile(r"[\u4e00-\u9fff]")
_MAX_GLOSSES = 40
_LINE_CHARS = 2000
# What users write is a few sentences; a log that is Chinese throughout is not read whole.
_MAX_LINES = 200
# 无法正常启动 is not 正常启动: a word right after a negation says the opposite, so it is left out.
_NEGATIONS = ("无法", "不能", "没有", "未能", "没", "未", "不")

# An empty gloss consumes a phrase that holds a symptom word without naming a symptom
# (启动命令 is the launch command, not a startup).
GLOSSARY: tuple[tuple[str, str], ...] = (
    ("启动命令", ""),
    ("启动参数", ""),
    ("启动脚本", ""),
    ("启动方式", ""),
    ("无法启动", "startup failed"),
    ("无法正常启动", "startup failed"),
    ("无法正常拉起", "startup failed"),
    ("无法拉起", "startup failed"),
    ("没有启动成功", "startup failed"),
    ("未能启动", "startup failed"),
    ("启动不了", "startup failed"),
    ("启动失败", "startup failed"),
    ("正常拉起", "started ready"),
    ("正常启动", "started ready"),
    ("启动成功", "started ready"),
    ("正常加载", "loaded ready"),
    ("拉起", "start server"),
    ("启动", "startup"),
    ("首次请求", "first request"),
    ("第一次请求", "first request"),
    ("第一个请求", "first request"),
    ("第一次", "first"),
    ("首次", "first"),
    ("请求", "request"),
    ("调用接口", "API request"),
    ("推理", "inference"),
    ("聊天", "chat request"),
    ("对话", "chat request"),
    ("报错", "error"),
    ("崩溃", "crash"),
    ("挂掉", "crash died"),
    ("挂了", "crash died"),
    ("异常退出", "exited abnormally"),
    ("长时间运行", "after serving for a long time"),
    ("运行一段时间", "after serving for a while"),
    ("乱码", "garbled output gibberish"),
    ("胡言乱语", "garbled output gibberish"),
    ("输出异常", "odd output"),
    ("推理异常", "odd inference output"),
    ("结果异常", "odd output"),
    ("重复输出", "repeated output"),
    ("精度下降", "accuracy drop odd output"),
    ("精度问题", "accuracy odd output"),
    ("卡住", "stuck hang"),
    ("卡死", "stuck hang"),
    ("卡在", "stuck at"),
    ("没有反应", "no response hang"),
    ("无响应", "no response hang"),
    ("图模式", "graph mode"),
    ("图捕获", "graph capture"),
    ("编译", "compile"),
    ("端口被占用", "port already in use"),
    ("端口冲突", "port already in use"),
    ("端口绑定", "bind port"),
    ("绑定端口", "bind port"),
    ("端口", "port"),
    ("权重", "weights"),
    ("加载", "load"),
    ("不支持该模型", "model not supported"),
    ("模型架构", "model architecture"),
    ("上下文", "context length"),
    ("超长", "too long"),
    ("超出", "exceeds"),
    ("显存", "device memory"),
    ("内存", "memory"),
    ("形状不匹配", "shape mismatch"),
    ("不匹配", "mismatch"),
    ("量化", "quantization"),
    ("多模态", "multimodal"),
    ("图片", "image"),
    ("视觉", "vision"),
)

# Longer words first, so one that holds another is read whole (首次请求, not 首次 and 请求).
_LONGEST_FIRST = sorted(GLOSSARY, key=lambda pair: -len(pair[0]))


def _said(text: str, word: str) -> bool:
    """Whether `word` is in `text` at least once without a negation right before it."""
    at = text.find(word)
    while at >= 0:
        if not text[max(0, at - 2) : at].endswith(_NEGATIONS):
            return True
        at = text.find(word, at + len(word))
    return False


def gloss(lines: Iterable[str]) -> str:
    """The English of the glossary's words in the Chinese lines, once each, longest first."""
    glosses: list[str] = []
    read = 0
    for line in lines:
        text = line[:_LINE_CHARS]
        if not _CJK.search(text):
            continue
        read += 1
        if read > _MAX_LINES:
            break
        for chinese, english in _LONGEST_FIRST:
            if chinese in text:
                if english and english not in glosses and _said(text, chinese):
                    glosses.append(english)
                text = text.replace(chinese, " ")  # 首次请求 is not also 请求
        if len(glosses) >= _MAX_GLOSSES:
            break
    return " ".join(glosses[:_MAX_GLOSSES])
