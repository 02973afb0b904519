"""Take the README's screenshot of the playground: the issue's Korean sentence under gpt2,
cl100k_base and o200k_base, a token hovered, the cost for gpt-4o.

Needs toklm[web], selenium, and Debian's chromium + chromium-driver (plus fonts-nanum and
fonts-noto-color-emoji for the Korean text and the emoji). Writes an optimised PNG.

Usage:
    python scripts/playground_screenshot.py [-o docs/playground.png]
"""

from __future__ import annotations

import argparse
import io
import threading
import time
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = "안녕하세요, 우리는 Gmarket입니다. 🎉"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "playground.png")
    parser.add_argument("--colours", type=int, default=96, help="palette size of the PNG")
    args = parser.parse_args()

    import uvicorn
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from toklm.playground.app import LOOPBACK_HOSTS, create_app
    from toklm.playground.server import bind, url_of

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(create_app(allowed_hosts=LOOPBACK_HOSTS), log_level="warning")
    )
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--window-size=1200,900", "--lang=en-US",
                "--hide-scrollbars", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        state = urllib.parse.urlencode(
            [
                ("t", "gpt2"),
                ("t", "cl100k_base"),
                ("t", "o200k_base"),
                ("m", "gpt-4o"),
                ("text", TEXT),
            ]  # fmt: skip
        )
        driver.get(url_of(sock) + "#" + state)
        for _ in range(200):
            if driver.find_elements(By.CSS_SELECTOR, "body[data-drawn]"):
                break
            time.sleep(0.05)
        token = driver.find_element(By.CSS_SELECTOR, '.tk[data-k="2"] .pieces [data-i="1"]')
        ActionChains(driver).move_to_element(token).perform()
        time.sleep(0.3)
        bottom = driver.find_element(By.CSS_SELECTOR, "#view .legend").rect
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
        server.should_exit = True
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.crop((0, 0, image.width, int(bottom["y"] + bottom["height"] + 12)))
    image = image.quantize(colors=args.colours, method=Image.Quantize.MEDIANCUT, dither=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.output, optimize=True)
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes, {image.size})")


if __name__ == "__main__":
    main()
