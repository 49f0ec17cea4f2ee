"""Chinese prose around a log, glossed into the runbook's English."""

from kb import Triager
from kb.prose import gloss

FALSE_READY = "false-ready-startup-succeeds-but-first-request-crashes"
# As users write it, with full-width punctuation.
SYMPTOM = "容器能正常拉起，但是调用接口进行推理时直接快速报错，并且拉起的服务也立马崩溃"  # noqa: RUF001


def test_the_words_of_a_symptom_are_glossed_once_each_longest_first() -> None:
    said = gloss([f"现象 {SYMPTOM}"])
    for english in ("started ready", "API request", "inference", "error", "crash"):
        assert english in said
    assert said.count("start server") == 1  # 拉起 twice, glossed once
    first = gloss(["首次请求就挂了"])
    assert first.split() == ["first", "request", "crash", "died"]  # not also 首次 and 请求


def test_english_lines_and_unknown_words_add_nothing() -> None:
    assert gloss(["ERROR 12-07 RuntimeError: the first request crashed"]) == ""
    assert gloss(["今天天气很好"]) == ""
    assert gloss(["日" * 2500 + "崩溃"]) == ""  # a huge line is read in its first part only
    # A log in Chinese throughout is read in its first lines only: bounded, whatever its size.
    assert gloss(["日志内容"] * 100_000 + ["崩溃"]) == ""


def test_words_that_mean_something_else_as_often_are_not_glossed() -> None:
    assert "started ready" not in gloss(["容器无法正常拉起"])  # cannot start: the opposite
    assert gloss(["容器无法正常拉起"]) == "startup failed"
    assert "crash" not in gloss(["服务没有崩溃 但是输出乱码"])
    assert gloss(["在arm架构服务器上部署Qwen3"]) == ""  # the CPU's architecture
    assert gloss(["容器绑定了8张卡"]) == ""  # cards bound to a container, not a port
    assert gloss(["启动命令如下"]) == ""  # the launch command, not a startup


def test_a_symptom_told_in_chinese_names_the_entry_told_in_english(triager: Triager) -> None:
    chinese = triager.triage(SYMPTOM + "\n")
    english = triager.triage(
        "The server starts fine, but the first inference request errors out at once and "
        "the server crashes\n"
    )
    assert chinese.matches[0].entry_id == english.matches[0].entry_id == FALSE_READY
