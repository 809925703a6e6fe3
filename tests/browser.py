"""A real browser for the CORS tests: Debian's chromium driven by Playwright, pages served from loopback.

- chromium: the Debian package (``APT_PACKAGES`` in scripts/test.sh), never a downloaded build;
  started headless with the flags below (no sandbox: tests may run as root in a container;
  nothing that phones home).
- the official OpenAI JS SDK: installed by scripts/test.sh into
  ``$LLMHOST_CACHE/npm/openai-<version>`` (pinned); a page imports its ES modules from the
  loopback page server, exactly as a bundler-free web app would.
- pages: a tiny static server on 127.0.0.1 (a free port) serving the SDK and the test page;
  its origin is what the proxy's ``--origin`` allows.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
OPENAI_JS_VERSION = "7.59.0"
"""Pinned in scripts/test.sh (OPENAI_JS_VERSION) too."""
SETUP_HINT = "run `make test`: scripts/test.sh installs chromium (apt), playwright (pip) and the openai JS SDK (npm)"


def openai_js_dir() -> Path:
    cache = Path(os.environ.get("LLMHOST_CACHE", Path.home() / ".cache" / "llmhost"))
    sdk = cache / "npm" / f"openai-{OPENAI_JS_VERSION}" / "node_modules" / "openai"
    if not (sdk / "package.json").is_file():
        pytest.fail(f"the openai JS SDK {OPENAI_JS_VERSION} is not in {sdk.parent}: {SETUP_HINT}", pytrace=False)
    return sdk


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def serve_pages(root: Path) -> Iterator[str]:
    """Serve ``root`` on http://127.0.0.1:<free port>; yields that origin."""
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium_page() -> Iterator[object]:
    """A fresh page in Debian's chromium (Playwright's sync API)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: {SETUP_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"playwright is not installed: {SETUP_HINT}", pytrace=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_FLAGS), headless=True)
        try:
            context = browser.new_context()
            yield context.new_page()
        finally:
            browser.close()


# --- a real extension origin -------------------------------------------------------------------------
def extension_id(public_der: bytes) -> str:
    """Chromium's extension id: the first 128 bits of sha256(public key DER), hex digits 0-f as a-p."""
    import hashlib

    digest = hashlib.sha256(public_der).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def make_extension(directory: Path, page_html: str, script_js: str) -> str:
    """An unpacked MV3 extension with a fixed key (so a known id) and one page; returns its id.

    No host_permissions: its fetches are ordinary CORS requests with
    ``Origin: chrome-extension://<id>``, which is exactly what the proxy must allow.
    """
    import base64
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "manifest_version": 3,
        "name": "llmhost test client",
        "version": "1.0",
        "key": base64.b64encode(der).decode(),
    }
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (directory / "page.html").write_text(page_html, encoding="utf-8")
    (directory / "page.js").write_text(script_js, encoding="utf-8")
    return extension_id(der)


@contextlib.contextmanager
def chromium_with_extension(extension: Path, profile: Path) -> Iterator[object]:
    """A persistent chromium context with one unpacked extension loaded; yields the context."""
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_FLAGS, f"--disable-extensions-except={extension}", f"--load-extension={extension}"]
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=args, headless=True
        )
        try:
            yield context
        finally:
            context.close()
