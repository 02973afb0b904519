"""The page in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by
Selenium against a uvicorn server on a free loopback port."""

from __future__ import annotations

import time
from typing import Any

import pytest
import toklm

from tests.cli.runner import KOREAN

pytestmark = pytest.mark.usefixtures("web")


TIMEOUT_S = 30


def wait_for(check: Any, what: str, timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as e:  # a stale element while the view is redrawn
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def counts(d: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute("data-count") for e in d.find_elements(By.CSS_SELECTOR, "#view .count")]


def replace_text(d: Any, element: Any, text: str) -> None:
    """Select all and type `text`; characters outside the BMP (ChromeDriver cannot type them)
    are inserted as typed text through the editing command, which fires the same input event."""
    from selenium.webdriver.common.keys import Keys

    element.click()
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    for ch in text:
        if ord(ch) > 0xFFFF:
            d.execute_script("document.execCommand('insertText', false, arguments[0])", ch)
        else:
            element.send_keys(ch)


def choose(d: Any, names: list[str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    for i in range(4):
        box = d.find_element(By.ID, f"tok{i}")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        if i < len(names):
            box.send_keys(names[i])
        box.send_keys(Keys.TAB)


def test_type_choose_count_hover(browser: Any, server: str, artefacts: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "#t=p50k_base&text=start")
    wait_for(lambda: counts(d) == ["1"], "the first view")
    replace_text(d, d.find_element(By.ID, "text"), KOREAN)
    choose(d, ["gpt2", "cl100k_base", "o200k_base"])
    wait_for(lambda: counts(d) == ["37", "17", "10"], "the counts 37, 17, 10")
    assert d.find_element(By.ID, "text").get_attribute("value") == KOREAN

    # Hover over a token: its id lights up in the ids pane and the column names it.
    gpt2_ids = toklm.get_encoding("gpt2").encode(KOREAN)
    column = d.find_element(By.CSS_SELECTOR, '.tk[data-k="0"]')
    token = column.find_element(By.CSS_SELECTOR, '.pieces [data-i="6"]')
    ActionChains(d).move_to_element(token).perform()
    lit = wait_for(lambda: column.find_elements(By.CSS_SELECTOR, ".ids .hl"), "a lit id")
    assert [e.text for e in lit] == [str(gpt2_ids[6])]
    assert "hl" in token.get_attribute("class")
    info = column.find_element(By.CSS_SELECTOR, ".hover").text
    assert f"id {gpt2_ids[6]}" in info and "part of 하" in info
    # The other columns outline the tokens over the same bytes: 하 is in o200k's 녕하세요.
    same = d.find_elements(By.CSS_SELECTOR, '.tk[data-k="2"] .pieces .hl2')
    assert [e.text for e in same] == ["녕하세요"]
    # ...and the other way: hovering an id lights its token.
    o200k = d.find_element(By.CSS_SELECTOR, '.tk[data-k="2"]')
    ActionChains(d).move_to_element(
        o200k.find_element(By.CSS_SELECTOR, '.ids [data-i="1"]')
    ).perform()
    lit = wait_for(lambda: o200k.find_elements(By.CSS_SELECTOR, ".pieces .hl"), "a lit token")
    assert [e.text for e in lit] == ["녕하세요"]
    assert o200k.find_element(By.CSS_SELECTOR, ".ids .hl").text == "171731"

    # Parts of characters are drawn as their bytes; spaces are visible.
    first = column.find_element(By.CSS_SELECTOR, '.pieces [data-i="0"]')
    assert first.text == "ec" and "f" in first.get_attribute("class").split()
    assert o200k.find_element(By.CSS_SELECTOR, '.pieces [data-i="3"]').text == "·우리는"
    # Spans split differently are marked; o200k's "," is shared by all three.
    assert (
        "d"
        in o200k.find_element(By.CSS_SELECTOR, '.pieces [data-i="0"]')
        .get_attribute("class")
        .split()
    )
    assert (
        "d"
        not in o200k.find_element(By.CSS_SELECTOR, '.pieces [data-i="2"]')
        .get_attribute("class")
        .split()
    )

    # The state is in the URL: loading it again gives the same view.
    url = d.current_url
    assert "t=gpt2&t=cl100k_base&t=o200k_base" in url
    d.save_screenshot(str(artefacts / "playground-test.png"))
    d.get("about:blank")
    d.get(url)
    wait_for(lambda: counts(d) == ["37", "17", "10"], "the counts from the URL")
    assert d.find_element(By.ID, "text").get_attribute("value") == KOREAN


def test_cost_and_premium(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(server + "#t=gpt2&t=o200k_base&text=" + "hello%20world")
    wait_for(lambda: counts(d) == ["2", "2"], "the first view")
    Select(d.find_element(By.ID, "model")).select_by_value("gpt-4o")
    cost = wait_for(lambda: d.find_element(By.ID, "cost").text, "the cost")
    assert "gpt-4o (o200k_base): 2 tokens" in cost and "$2.50 / 1M" in cost
    Select(d.find_element(By.ID, "lang")).select_by_value("ko")
    table = wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#premium td.premium"), "premium")
    assert len(table) == 2 and all(e.text.endswith("×") for e in table)
    assert "m=gpt-4o" in d.current_url and "l=ko" in d.current_url

    # A pasted pair of one's own.
    Select(d.find_element(By.ID, "lang")).select_by_value("own")
    d.find_element(By.ID, "own-en").send_keys("Hello world")
    d.find_element(By.ID, "own-other").send_keys("안녕하세요 세계")
    own = toklm.get_encoding("gpt2").encode("안녕하세요 세계")
    wait_for(
        lambda: (
            f"{len(own)}" in d.find_element(By.ID, "premium").text
            and "your text" in d.find_element(By.ID, "premium").text
        ),
        "the pasted pair's premium",
    )


def test_errors_are_shown_in_the_page(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "#t=gpt2&text=hi")
    wait_for(lambda: counts(d) == ["1"], "the first view")
    choose(d, ["gpt2", "no-such-tokenizer"])
    error = d.find_element(By.ID, "error")
    wait_for(lambda: error.is_displayed() and "no-such-tokenizer" in error.text, "the error")
    assert "unknown tokenizer 'no-such-tokenizer'" in error.text
    assert "bad" in d.find_element(By.ID, "tok1").get_attribute("class")
    choose(d, ["gpt2"])
    wait_for(lambda: not error.is_displayed(), "the error to clear")

    # A 10 MB paste is refused with a message that names the limit.
    d.execute_script(
        "var t = document.getElementById('text'); t.value = 'x'.repeat(10000000);"
        "t.dispatchEvent(new Event('input'));"
    )
    wait_for(lambda: error.is_displayed() and "at most 1,000,000" in error.text, "the limit")
    assert "10,000,000 characters" in error.text


def test_long_text_draws_in_windows(browser: Any, server: str) -> None:
    from selenium.webdriver.common.by import By

    d = browser
    d.get(server + "#t=gpt2&text=x")
    wait_for(lambda: counts(d) == ["1"], "the first view")
    text = (KOREAN + "\n") * 200
    d.execute_script(
        "var t = document.getElementById('text'); t.value = arguments[0];"
        "t.dispatchEvent(new Event('input'));",
        text,
    )
    n = len(toklm.get_encoding("gpt2").encode(text))
    wait_for(lambda: counts(d) == [str(n)], "the long text's count")
    pane = d.find_element(By.CSS_SELECTOR, '.tk[data-k="0"] .pieces')
    # The first window, then more until the pane is full; scrolling to the end draws more.
    drawn = wait_for(lambda: len(pane.find_elements(By.CSS_SELECTOR, ".t")) >= 300 and
                     pane.get_property("scrollHeight") > pane.get_property("clientHeight") + 200
                     and len(pane.find_elements(By.CSS_SELECTOR, ".t")), "a full pane")  # fmt: skip
    assert drawn < n
    time.sleep(0.5)
    drawn = len(pane.find_elements(By.CSS_SELECTOR, ".t"))
    d.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", pane)
    wait_for(lambda: len(pane.find_elements(By.CSS_SELECTOR, ".t")) > drawn, "the next window")
    ids = [int(e.text) for e in d.find_elements(By.CSS_SELECTOR, '.tk[data-k="0"] .ids .id')]
    assert ids == toklm.get_encoding("gpt2").encode(text)[: len(ids)]


def test_theme_follows_the_system(browser: Any, server: str) -> None:
    d = browser
    colours = {}
    try:
        for scheme in ("light", "dark"):
            d.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            d.get(server + "#t=gpt2&text=hi")
            wait_for(lambda: counts(d) == ["1"], "the view")
            colours[scheme] = d.execute_script(
                "return [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.querySelector('.toklm-view .t')).backgroundColor]"
            )
    finally:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert colours["light"][0] == "rgb(255, 255, 255)"
    assert colours["dark"][0] == "rgb(13, 17, 23)"
    assert colours["light"][1] != colours["dark"][1]
