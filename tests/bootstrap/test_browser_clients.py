"""Real browser clients through the real proxy: Debian's chromium (Playwright) running the official
OpenAI JS SDK from an allowed origin, with ``organization`` and ``project`` set, streaming;
and plain ``fetch`` from a sandboxed iframe, whose origin is ``null``.

The page origin is a loopback static server (tests/browser.py); the proxy allows it with
``--origin``. The ``null`` origin is real, not simulated: a ``sandbox="allow-scripts"``
iframe without ``allow-same-origin`` has an opaque origin, so chromium sends ``Origin: null``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap import proxy_errors
from tests.browser import chromium_page, openai_js_dir, serve_pages
from tests.fakes.ollama import FakeOllama, run_fake_ollama
from tests.proxy_harness import TEST_KEYS, ProxyOptions, run_proxy

pytestmark = pytest.mark.slow

MODEL = "gemma3:1b"
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>llmhost browser client</title>
<script type="module">
window.sdk = async (base, key, model) => {
  const { OpenAI } = await import("/openai/client.mjs");
  const client = new OpenAI({
    baseURL: base + "/v1", apiKey: key, organization: "org-llmhost", project: "proj-llmhost",
    dangerouslyAllowBrowser: true, maxRetries: 0,
  });
  try {
    const stream = await client.chat.completions.create(
      { model, messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "", chunks = 0;
    for await (const chunk of stream) { chunks++; text += chunk.choices[0]?.delta?.content ?? ""; }
    return { ok: true, text, chunks };
  } catch (err) {
    return { ok: false, status: err.status ?? null, message: String(err.message) };
  }
};
window.sandboxed = (base, key) => new Promise((resolve) => {
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  const script = `
    fetch(${JSON.stringify(base)} + "/v1/models", {
      headers: { Authorization: "Bearer " + ${JSON.stringify(key)}, "OpenAI-Organization": "org-llmhost" },
    }).then(async (r) => parent.postMessage({ ok: true, status: r.status, body: await r.text() }, "*"),
            (e) => parent.postMessage({ ok: false, message: String(e) }, "*"));`;
  frame.srcdoc = "<script>" + script + "<" + "/script>";
  window.addEventListener("message", (event) => resolve(event.data), { once: true });
  document.body.appendChild(frame);
});
window.ready = true;
</script>
<body></body>
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with run_fake_ollama() as server:
        yield server


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("pages")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "openai").symlink_to(openai_js_dir(), target_is_directory=True)
    with serve_pages(root) as origin:
        yield origin


def _run(page: Any, origin: str, call: str, *args: object) -> Any:
    page.goto(f"{origin}/index.html")
    page.wait_for_function("window.ready === true", timeout=15_000)
    return page.evaluate(f"(args) => window.{call}(...args)", list(args))


def test_openai_js_sdk_streams_with_organization_and_project(fake: FakeOllama, pages: str, tmp_path: Path) -> None:
    options = ProxyOptions(origins=(pages,))
    with run_proxy(tmp_path, fake.host_port, options) as proxy, chromium_page() as page:
        fake.reset()
        result = _run(page, pages, "sdk", proxy.url, TEST_KEYS[0], MODEL)
        assert result["ok"], result
        assert result["text"] == "".join(fake.tokens)
        assert result["chunks"] >= len(fake.tokens)
        (seen,) = [r for r in fake.requests if r.path == "/v1/chat/completions"]
        assert seen.header("OpenAI-Organization") == "org-llmhost"
        assert seen.header("OpenAI-Project") == "proj-llmhost"
        assert json.loads(seen.body)["stream"] is True

        wrong = _run(page, pages, "sdk", proxy.url, "wrong-key-" + "w" * 30, MODEL)
        assert wrong == {"ok": False, "status": 401, "message": wrong["message"]}
        assert proxy_errors.UNAUTHORIZED.message in wrong["message"], wrong


def test_a_page_from_another_origin_is_blocked_by_the_browser(fake: FakeOllama, pages: str, tmp_path: Path) -> None:
    options = ProxyOptions(origins=("https://app.example.com",))
    with run_proxy(tmp_path, fake.host_port, options) as proxy, chromium_page() as page:
        fake.reset()
        result = _run(page, pages, "sdk", proxy.url, TEST_KEYS[0], MODEL)
        assert result["ok"] is False and result["status"] is None, result  # a network (CORS) error
        assert [r.path for r in fake.requests if r.path.startswith("/v1/chat")] == []


@pytest.mark.parametrize("allow_null", [True, False])
def test_null_origin_only_with_the_opt_in(fake: FakeOllama, pages: str, tmp_path: Path, allow_null: bool) -> None:
    origins = (pages, "null") if allow_null else (pages,)
    extra = ("--allow-null-origin",) if allow_null else ()
    with run_proxy(tmp_path, fake.host_port, ProxyOptions(origins=origins, extra_args=extra)) as proxy:
        with chromium_page() as page:
            fake.reset()
            started = time.monotonic()
            result = _run(page, pages, "sandboxed", proxy.url, TEST_KEYS[0])
        preflights = [e for e in proxy.caddy.access_log() if e["request"]["method"] == "OPTIONS"]
    assert time.monotonic() - started < 30
    assert any(e.get("llmhost_h_origin") == "null" for e in preflights), "chromium sent Origin: null"
    if allow_null:
        assert result["ok"] and result["status"] == 200, result
        assert json.loads(result["body"])["object"] == "list"
    else:
        assert result["ok"] is False, result  # the browser refused: no Allow-Origin for null


EXTENSION_PAGE = '<!doctype html><meta charset="utf-8"><script src="page.js"></script>'
EXTENSION_SCRIPT = """
window.call = (base, key) => fetch(base + "/v1/models", {
  headers: { Authorization: "Bearer " + key, "OpenAI-Project": "proj-llmhost" },
}).then(async (r) => ({ ok: true, status: r.status, body: await r.text() }),
        (e) => ({ ok: false, message: String(e) }));
"""


@pytest.mark.parametrize("allowed", [True, False])
def test_a_real_chrome_extension_origin(fake: FakeOllama, tmp_path: Path, allowed: bool) -> None:
    """An unpacked extension loaded into chromium: its page's fetch carries chrome-extension://<id>."""
    from tests.browser import chromium_with_extension, make_extension

    ext_id = make_extension(tmp_path / "ext", EXTENSION_PAGE, EXTENSION_SCRIPT)
    origin = f"chrome-extension://{ext_id}"
    options = ProxyOptions(origins=(origin,) if allowed else ("https://app.example.com",))
    with run_proxy(tmp_path / "proxy", fake.host_port, options) as proxy:
        with chromium_with_extension(tmp_path / "ext", tmp_path / "profile") as context:
            page = context.new_page()  # type: ignore[attr-defined]
            page.goto(f"{origin}/page.html")
            page.wait_for_function("typeof window.call === 'function'", timeout=15_000)
            result = page.evaluate("(args) => window.call(...args)", [proxy.url, TEST_KEYS[0]])
        origins = [e.get("llmhost_h_origin") for e in proxy.caddy.access_log()]
    assert origin in origins, "chromium sent the extension's origin"
    if allowed:
        assert result["ok"] and result["status"] == 200, result
    else:
        assert result["ok"] is False, result
