from __future__ import annotations

import pytest

from bootstrap.spec import Spec, SpecError
from tests.bootstrap.specs import KEY_A

GOOD = {"api_keys": (KEY_A,)}


def spec(**fields: object) -> Spec:
    return Spec(**{**GOOD, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"runtime": "tgi"}, "runtime", "use one of: ollama, llamacpp, vllm"),
        ({"runtime": "vllm"}, "runtime", "vllm runs on an NVIDIA GPU only and gpu is off"),
        ({"runtime": "vllm", "gpu": True, "models": ("Qwen3-0.6B",)}, "models", "not a Hugging Face model id"),
        ({"runtime": "vllm", "gpu": True, "models": ("a/b", "c/d")}, "models", "one model per server"),
        ({"runtime": "vllm", "gpu": True, "models": ("org/name:Q4_K_M",)}, "models", "not a Hugging Face model id"),
        ({"runtime": "vllm", "gpu": True, "hf_token": "short"}, "hf_token", "not 8-256 characters"),
        ({"hf_token": "hf_abcdefghijklmnop"}, "hf_token", "ollama reads no Hugging Face token"),
        ({"models": ()}, "models", "the list is empty"),
        ({"models": ("Gemma 3",)}, "models", "not an Ollama model reference"),
        ({"models": ("gemma3:1b; rm -rf /",)}, "models", "not an Ollama model reference"),
        ({"models": ("gemma3:1b", "gemma3:1b")}, "models", "listed twice"),
        ({"runtime": "llamacpp", "models": ("gemma3:1b",)}, "models", "llama.cpp model reference"),
        ({"runtime": "llamacpp", "models": ("http://x.example/m.gguf",)}, "models", "llama.cpp model reference"),
        ({"runtime": "llamacpp", "models": ("https://x.example/m.bin",)}, "models", "not a GGUF URL"),
        ({"runtime": "llamacpp", "models": ("a/b", "c/d")}, "models", "one model per server"),
        ({"runtime": "llamacpp", "models": ("https://[::1/m.gguf",)}, "models", "not a GGUF URL"),
        ({"origins": ("app.example.com",)}, "origins", "scheme://host[:port]"),
        ({"origins": ("https://app.example.com/",)}, "origins", "not an origin"),
        ({"origins": ("https://app.example.com/path",)}, "origins", "not an origin"),
        ({"origins": ("ftp://app.example.com",)}, "origins", "not an origin"),
        ({"origins": ("https://app.example.com:99999",)}, "origins", "invalid port"),
        ({"origins": ("https://[::1",)}, "origins", "not an origin"),  # urlsplit: ValueError
        ({"origins": ("https://[zz]",)}, "origins", "not an origin"),
        ({"api_keys": ("",)}, "api_keys", "a key is empty"),
        ({"api_keys": ("short-key",)}, "api_keys", "only 9 characters long"),
        ({"api_keys": ("x" * 30 + "!",)}, "api_keys", "outside A-Z a-z 0-9 _ -"),
        ({"api_keys": (KEY_A, KEY_A)}, "api_keys", "given twice"),
        ({"api_keys": ()}, "api_keys", "no key is configured"),
        ({"ssm_parameter": "/llmhost/keys"}, "ssm_parameter", "not both"),
        ({"domain": "https://llm.example.com"}, "domain", "not a DNS hostname"),
        ({"domain": "203.0.113.5"}, "domain", "not a DNS hostname"),
        ({"domain": "localhost"}, "domain", "not a DNS hostname"),
        ({"site": "127.0.0.1:8088"}, "site", "no http:// or https:// scheme"),
        ({"site": "http://127.0.0.1:8088/x"}, "site", "not scheme://host[:port]"),
        ({"site": "https://[::1"}, "site", "not scheme://host[:port]"),
        ({"upstream": "127.0.0.1"}, "upstream", "not host:port"),
        ({"tls": "letsencrypt"}, "tls", "use one of"),
        ({"tls": "acme"}, "tls", "acme needs a domain"),
        ({"tls": "ipdomain"}, "tls", "needs the public IP"),
        ({"tls": "ipdomain", "public_ip": "10.0.0.5"}, "tls", "10.0.0.5 is private or local"),
        ({"tls": "ipdomain", "public_ip": "::1"}, "tls", "::1 is private or local"),
        ({"public_ip": "1.2.3"}, "public_ip", "not an IP address"),
        ({"versions": (("ollama", "latest"),)}, "versions", "not a pinned tag"),
        ({"versions": (("nginx", "1.0"),)}, "versions", "use one of"),
        ({"versions": (("vllm", "latest"),)}, "versions", "such as v0.33.0"),  # each component's own tag shape
        ({"max_body_mb": 0}, "max_body_mb", "out of range"),
        ({"keep_alive": "forever"}, "keep_alive", "not a duration"),
        ({"model_volume_id": "vol 1"}, "model_volume_id", "not a volume id"),
        ({"compress": "zstd"}, "compress", "use one of"),
        ({"idle_stop_minutes": 9}, "idle_stop_minutes", "9 is out of range; use 10 to 10080 minutes"),
        ({"idle_stop_minutes": 10081}, "idle_stop_minutes", "out of range"),
        ({"idle_stop_minutes": 0}, "idle_stop_minutes", "out of range"),
        ({"idle_stop_minutes": "60"}, "idle_stop_minutes", "not a whole number of minutes"),
        ({"idle_stop_minutes": True}, "idle_stop_minutes", "not a whole number of minutes"),
    ],
)
def test_invalid_field_names_field_problem_and_allowed(fields: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec(**fields)
    assert caught.value.field == field
    line = caught.value.render()
    assert fragment in line
    assert "\n" not in line
    assert "; " in line  # problem; what is allowed


def test_error_never_contains_the_key() -> None:
    bad = "a-secret-but-too-short"
    with pytest.raises(SpecError) as caught:
        spec(api_keys=(bad,))
    assert bad not in str(caught.value)


def test_key_is_hidden_from_repr() -> None:
    assert KEY_A not in repr(spec())


@pytest.mark.parametrize(
    "model",
    ["gemma3:1b", "llama3.2", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "library/qwen2.5:0.5b-instruct"],
)
def test_valid_ollama_models(model: str) -> None:
    assert spec(models=(model,)).models == (model,)


@pytest.mark.parametrize(
    "model",
    [
        "ggml-org/gemma-3-1b-it-GGUF",
        "ggml-org/gemma-3-1b-it-GGUF:Q4_K_M",
        "https://huggingface.co/o/r/resolve/main/m-Q4_K_M.gguf",
    ],
)
def test_valid_llamacpp_models(model: str) -> None:
    assert spec(runtime="llamacpp", models=(model,)).models == (model,)


def test_tls_auto_resolution_and_site_address() -> None:
    assert spec(domain="llm.example.com").tls_mode == "acme"
    assert spec(domain="llm.example.com").site_address == "llm.example.com"
    ip = spec(public_ip="203.0.113.10")
    assert ip.tls_mode == "ipdomain"
    assert ip.site_address == "203-0-113-10.sslip.io"
    assert ip.public_url == "https://203-0-113-10.sslip.io"
    internal = spec(public_ip="203.0.113.10", tls="internal")
    assert internal.site_address == "https://203.0.113.10"
    assert spec().tls_mode == "internal"
    assert spec().site_address == "https://localhost"
    assert spec(public_ip="2001:db8::1").ip_hostname == "2001-db8--1.sslip.io"
    assert spec(site="http://127.0.0.1:8088/").site_address == "http://127.0.0.1:8088"


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.10", "100.64.0.1", "127.0.0.1", "169.254.1.1",
                                     "::1", "fd00::5", "fe80::1"])
def test_tls_auto_with_a_private_or_local_ip_is_internal_not_an_sslip_certificate(address: str) -> None:
    """render --public-ip 10.0.0.5 gave 10-0-0-5.sslip.io and a Let's Encrypt certificate that can never be
    issued (::1 even the name --1.sslip.io); apply over SSH already chose internal for such hosts."""
    private = spec(public_ip=address)
    assert private.tls_mode == "internal"
    assert "sslip" not in private.site_address
    assert spec(public_ip="198.51.100.7").tls_mode == "ipdomain"  # documentation ranges stand for public ones


def test_images_are_pinned_and_upgradable_by_one_setting() -> None:
    default = spec()
    assert default.runtime_image.startswith("ollama/ollama:")
    assert not default.runtime_image.endswith(":latest")
    assert spec(versions=(("ollama", "0.99.1"),)).runtime_image == "ollama/ollama:0.99.1"
    assert spec(versions=(("caddy", "2.11.0"),)).proxy_image == "caddy:2.11.0"
    with pytest.raises(SpecError) as caught:  # a pin nothing would read is refused, not ignored
        spec(versions=(("llamacpp", "b6833"),))
    assert caught.value.render() == (
        "versions: llamacpp is not the runtime in use (ollama); pin only ollama and caddy, or use runtime llamacpp"
    )
    llama = spec(runtime="llamacpp", models=("a/b",))
    assert llama.runtime_image.startswith("ghcr.io/ggml-org/llama.cpp:server-b")
    assert spec(runtime="llamacpp", models=("a/b",), gpu=True).runtime_image.startswith(
        "ghcr.io/ggml-org/llama.cpp:server-cuda-b"
    )


@pytest.mark.parametrize("minutes", [None, 10, 60, 10080])
def test_idle_stop_minutes_bounds(minutes: int | None) -> None:
    assert spec(idle_stop_minutes=minutes).idle_stop_minutes == minutes


# --- length limits, and long values shortened in errors ----------------------------------------
def test_site_and_acme_email_have_their_rfc_length_limits() -> None:
    label = "a" * 63
    host_253 = ".".join([label, label, label, "b" * 57]) + ".io"  # 63*3 + 57 + 3 dots + ".io" = 252
    assert len(host_253) == 252
    spec(site=f"https://{host_253}:8443")  # at the limit: fine
    with pytest.raises(SpecError) as caught:
        spec(site=f"https://{host_253}xx:8443")
    assert caught.value.field == "site" and "has a host name of 254 characters" in caught.value.problem
    assert "at most 253" in caught.value.allowed
    email = "n" * 64 + "@" + host_253[: 254 - 65]
    assert len(email) == 254
    spec(acme_email=email)
    for too_long in (email + "x", "n" * 65 + "@example.com"):
        with pytest.raises(SpecError) as caught:
            spec(acme_email=too_long)
        assert caught.value.field == "acme_email" and caught.value.problem.endswith("is too long")
        assert "at most 254 characters (64 before the @)" in caught.value.allowed


@pytest.mark.parametrize(
    "fields",
    [
        {"site": "https://" + "a" * 10_000},
        {"site": "x" * 10_000},
        {"acme_email": "a" * 10_000 + "@example.com"},
        {"domain": "a" * 10_000 + ".com"},
        {"origins": ("https://" + "a" * 10_000 + ".com:99999",)},
        {"upstream": "h" * 10_000},
        {"ssm_parameter": "p p" * 5_000},
        {"public_ip": "1" * 10_000},
        {"models": ("m" * 500 + " x",)},
    ],
    ids=lambda fields: next(iter(fields)),
)
def test_an_error_never_repeats_a_10_kb_value(fields: dict[str, object]) -> None:
    with pytest.raises(SpecError) as caught:
        spec(**fields)
    line = caught.value.render()
    assert len(line) < 400, line
    assert "characters)" in line  # the cut value says how long it was
