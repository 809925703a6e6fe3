"""Fast checks of the rendered Caddyfile text and of the facts it is built from.

The live tests (test_proxy_live.py, test_access_control_live.py) prove the behaviour in a
real Caddy; these pin the structure, so a refactor that drops a rule fails in a second.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bootstrap import caddyfile, layout, proxy_errors, routes
from bootstrap.key_rotation import render_proxy_run_script
from bootstrap.spec import Spec

KEY = "k" * 40


def _render(**fields: object) -> str:
    return caddyfile.render_caddyfile(Spec(api_keys=(KEY,), **fields))  # type: ignore[arg-type]


def _block(text: str, head: str) -> str:
    """The lines of the block that opens with ``head {`` (the renderer puts every brace at a line end)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == head + " {")
    depth = 0
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        depth += stripped.endswith("{") - (stripped == "}")
        if depth == 0:
            return "\n".join(lines[start : index + 1])
    raise AssertionError(f"block {head!r} does not close")


def test_no_key_in_the_caddyfile_and_config_not_persisted() -> None:
    text = _render()
    assert KEY not in text
    assert "\tpersist_config off\n" in text
    assert f"admin {{${layout.ADMIN_ENV_VAR}:{layout.DEFAULT_ADMIN}}}" in text
    assert f"{{${layout.KEY_MAP_ENV_VAR}}}" in text


def _route_map(text: str) -> tuple[list[tuple[str, str]], str]:
    """The rendered route map's (key, value) entries and its default, read back from the text."""
    head = next(
        line.strip()[:-2] for line in text.splitlines() if line.strip().startswith('map "{http.request.method}')
    )
    entries, default = [], ""
    for line in _block(text, head).splitlines()[1:-1]:
        line = line.strip()
        if line.startswith("default "):
            default = line.split()[1]
        else:
            key, value = line.rsplit(" ", 1)
            entries.append((key.strip('"'), value))
    return entries, default


def _map_decides(entries: list[tuple[str, str]], default: str, method: str, path: str) -> str:
    """What Caddy's map handler answers (modules/caddyhttp/map/map.go): the first exact or
    ``~`` regexp entry that matches ``"<method> <path>"``, else the default."""
    key = f"{method} {path}"
    for entry, value in entries:
        if (entry.startswith("~") and re.search(entry[1:], key)) or entry == key:
            return value
    return default


@pytest.mark.parametrize("runtime", list(layout.RUNTIMES))
def test_the_route_map_decides_like_the_route_lists(runtime: str) -> None:
    """Every listed route (each method) and a set of near misses: the rendered map and
    ``routes.user_may_call`` agree, so the live route matrix tests what the lists say."""
    info = layout.RUNTIMES[runtime]
    text = _render(runtime=runtime, models=(info.default_model,), gpu=info.requires_gpu)
    entries, default = _route_map(text)
    assert default == "no" and {value for _, value in entries} == {"yes"}
    samples = {
        ("GET", "/v1/models/a/b:c"),
        ("GET", "/v1/models/../api/pull"),
        ("GET", "/v1/models/.x"),
        ("GET", "/v1/models/"),
        ("GET", "/v1/models/a b"),
        ("get", "/api/tags"),
        ("GET", "/API/TAGS"),
        ("DELETE", "/api/delete"),
        ("POST", "/api/pull"),
        ("GET", "/metrics"),
        ("POST", "/slots/0"),
    }
    for rule in info.user_routes:
        for method in (*rule.methods, "PUT", "DELETE", "OPTIONS"):
            for path in rule.paths:
                samples |= {(method, path), (method, path + "/"), (method, path.upper()), (method, path + " x")}
    for method, path in sorted(samples):
        expected = "yes" if routes.user_may_call(info.user_routes, method, path) else "no"
        assert _map_decides(entries, default, method, path) == expected, (method, path)


def test_the_route_checks_use_anded_matchers() -> None:
    """Caddy's vars matcher ORs its keys: a set that tests the role has no other ``vars`` test.

    ``@forbidden`` ANDs the role with a ``not`` matcher (a type of its own), and the
    admin-only blocks AND it with ``path``.
    """
    for runtime in layout.RUNTIMES:
        info = layout.RUNTIMES[runtime]
        text = _render(runtime=runtime, models=(info.default_model,), gpu=info.requires_gpu)
        forbidden = _block(text, "@forbidden").splitlines()[1:-1]
        assert [line.strip() for line in forbidden] == [
            "vars {llmhost_key_role} user",
            "not vars {llmhost_route_ok} yes",
        ]
        assert "vars_regexp {llmhost_key_role}" not in text
        for head in ("@admin_metrics", "@admin_runtime_metrics"):
            if f"{head} {{" in text:
                lines = [line.strip() for line in _block(text, head).splitlines()[1:-1]]
                assert lines[0] == "vars {llmhost_key_role} admin" and lines[1].startswith("path ")
                assert len(lines) == 2


def test_query_strip_runs_only_on_a_query_string() -> None:
    text = _render()
    matcher = f'@{caddyfile.QUERY_MATCHER} not vars {{http.request.uri.query}} ""'
    assert f"\t\t{matcher}\n" in text
    assert _block(text, f"uri @{caddyfile.QUERY_MATCHER} query")


def test_vary_origin_only_when_an_origin_is_allowed() -> None:
    assert "Vary Origin" not in _render()
    assert "\t\theader Vary Origin\n" in _render(origins=("https://app.example.com",))


def test_header_stripping_in_the_runtime_proxy_and_healthz() -> None:
    text = _render()
    main = _block(text[text.index(f"{layout.AUTH_LOG_FIELD} ok") :], "reverse_proxy runtime:11434")
    for header in ("Origin", *caddyfile.CLIENT_CREDENTIAL_HEADERS):
        assert f"header_up -{header}\n" in main
    healthz = _block(text, "handle @healthz")
    assert "header_up -*" in healthz and "rewrite * /api/version?" in healthz
    strip = _block(text, f"uri @{caddyfile.QUERY_MATCHER} query")
    for param in caddyfile.KEY_QUERY_PARAMS:
        assert f"\t-{param}\n" in strip


def test_log_deletes_headers_and_uri() -> None:
    log = _block(_render(), "log")
    assert "request>headers delete" in log and "request>uri delete" in log and "resp_headers delete" in log


@pytest.mark.parametrize("error", [proxy_errors.UNAUTHORIZED, proxy_errors.FORBIDDEN_USER, proxy_errors.TOO_LARGE])
def test_each_error_is_rendered_in_both_dialects(error: proxy_errors.ProxyError) -> None:
    text = _render()
    for line in proxy_errors.caddy_error_responses(error):
        assert line in text


def test_proxy_error_shapes() -> None:
    assert json.loads(proxy_errors.proxy_error("ollama", 503, "busy", "server_error", "overloaded")) == {
        "error": "busy"
    }
    assert json.loads(proxy_errors.proxy_error("openai", 503, "busy", "server_error", "overloaded")) == {
        "error": {"message": "busy", "type": "server_error", "code": "overloaded"}
    }
    with pytest.raises(ValueError, match="dialect"):
        proxy_errors.proxy_error("xml", 503, "busy", "server_error")
    assert proxy_errors.dialect_for_path("/api/chat") == "ollama"
    assert proxy_errors.dialect_for_path("/v1/chat/completions") == "openai"
    assert proxy_errors.dialect_for_path("/completion") == "openai"


@pytest.mark.parametrize(
    ("runtime", "method", "path", "allowed"),
    [
        ("ollama", "POST", "/api/chat", True),
        ("ollama", "GET", "/api/chat", False),
        ("ollama", "POST", "/api/pull", False),
        ("ollama", "DELETE", "/api/delete", False),
        ("ollama", "GET", "/v1/models/hf.co/org/repo:Q4_K_M", True),
        ("ollama", "GET", "/v1/models/../api/pull", False),
        ("ollama", "GET", "/metrics", False),
        ("llamacpp", "GET", "/props", True),
        ("llamacpp", "POST", "/props", False),
        ("llamacpp", "POST", "/slots/0", False),
        ("llamacpp", "GET", "/lora-adapters", False),
        ("llamacpp", "POST", "/v1/chat/completions", True),
        ("llamacpp", "POST", "/v1/messages", True),
        ("llamacpp", "POST", "/v1/messages/count_tokens", True),
        ("llamacpp", "POST", "/v1/responses", True),
        ("llamacpp", "POST", "/v1/chat/completions/control", False),
        ("llamacpp", "GET", "/v1/stream", False),
        ("llamacpp", "POST", "/v1/streams/lookup", False),
    ],
)
def test_route_lists(runtime: str, method: str, path: str, allowed: bool) -> None:
    assert routes.user_may_call(layout.RUNTIMES[runtime].user_routes, method, path) is allowed


# --- proxy-run.sh: proxy.env -> the key map --------------------------------------------------------
def _key_map(tmp_path: Path, env_text: str) -> str:
    """Run the rendered proxy-run.sh with a ``caddy`` stand-in that prints the map it was given."""
    (tmp_path / layout.PROXY_RUN_SCRIPT).write_text(render_proxy_run_script())
    (tmp_path / layout.PROXY_ENV_FILE).write_text(env_text)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    stand_in = bindir / "caddy"
    # Prints the map, then how many key variables leaked into Caddy's environment (must be 0).
    stand_in.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "${layout.KEY_MAP_ENV_VAR}"\nenv | grep -c "^LLMHOST_[A-Z]*_KEYS=" || true\n'
    )
    stand_in.chmod(0o755)
    result = subprocess.run(
        ["sh", str(tmp_path / layout.PROXY_RUN_SCRIPT), "run"],
        env={"PATH": f"{bindir}:/usr/bin:/bin", "LLMHOST_PROXY_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stderr == ""
    return result.stdout


def test_proxy_run_builds_the_key_map(tmp_path: Path) -> None:
    a, b, c = "a" * 30, "b" * 30, "c" * 30
    out = _key_map(tmp_path, f"{layout.KEYS_ENV_VAR}=alice:{a}|{b}\n{layout.ADMIN_KEYS_ENV_VAR}=ops:{c}\n")
    assert out == f"{a} alice user\n{b} key-2 user\n{c} ops admin\n0\n"


@pytest.mark.parametrize(
    "entry",
    [
        "Alice:" + "a" * 30,  # uppercase name
        "a" * 33 + ":" + "a" * 30,  # name too long
        "alice:short",  # key too short
        "alice:" + "a" * 29 + "}",  # a character that could break out of the map block
        "alice:" + "a" * 20 + " x y z",  # blanks: extra tokens
        "alice:",
        "",
    ],
)
def test_proxy_run_drops_invalid_entries(tmp_path: Path, entry: str) -> None:
    good = "g" * 30
    out = _key_map(tmp_path, f"{layout.KEYS_ENV_VAR}={entry}|{good}\n")
    assert out == f"{good} key-2 user\n0\n"


def test_proxy_run_keeps_the_first_role_of_a_duplicated_key(tmp_path: Path) -> None:
    key = "d" * 30
    out = _key_map(tmp_path, f"{layout.KEYS_ENV_VAR}={key}\n{layout.ADMIN_KEYS_ENV_VAR}={key}\n")
    assert out == f"{key} key-1 user\n0\n"


def test_proxy_run_without_proxy_env_gives_an_empty_map(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    out = _key_map(tmp_path / "x", "")
    assert out == "\n0\n"


@pytest.mark.parametrize("limit", [0, 1, 9, 10, 19, 99, 100, 1234, 20_000_000, 1_024_000_000])
def test_the_declared_body_cap_pattern_matches_exactly_the_numbers_above_the_limit(limit: int) -> None:
    """``@too_large`` is a header_regexp (cheaper than CEL): every number above the cap, nothing else."""
    import random
    import re

    pattern = re.compile(caddyfile.greater_than_pattern(limit))
    rng = random.Random(limit)
    near = range(max(0, limit - 300), limit + 300)
    for number in [*range(0, 300), *near, *(rng.randrange(10**15) for _ in range(3000)), 10**40]:
        for text in (str(number), "0" + str(number), "000" + str(number)):
            assert bool(pattern.fullmatch(text)) == (number > limit), text
    for text in ("", "-5", "1e9", " 30000000", "30000000 ", "3O000000", "+30000000", "0x7fffffff"):
        assert not pattern.fullmatch(text), text


def test_the_body_cap_is_a_header_regexp_of_the_configured_size() -> None:
    text = _render()
    (line,) = [x.strip() for x in text.splitlines() if x.strip().startswith("@too_large ")]
    limit = layout.DEFAULT_MAX_BODY_MB * 1_000_000
    assert line == f'@too_large header_regexp Content-Length "{caddyfile.greater_than_pattern(limit)}"'
    assert "expression" not in text
