"""Build hooks: generate hanzo.kms.secretsync.v1 from the protos before packaging.

The modules (_pb2, _pb2_grpc) and their typed stubs (.pyi, by mypy-protobuf) are made
at build time from the repository's protos/, so the package can never disagree with
the contract. An sdist carries a copy of the protos, so it builds on its own too.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.egg_info import egg_info
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
PACKAGE = Path("hanzo/kms/secretsync/v1")
OUT = HERE / "src"
REPO_PROTOS = HERE.parent.parent / "protos"
SDIST_PROTOS = HERE / "protos"


def proto_root() -> Path:
    """The repository's protos when building in the repository, else the sdist's copy."""
    for root in (REPO_PROTOS, SDIST_PROTOS):
        if (root / PACKAGE).is_dir():
            return root
    raise FileNotFoundError(f"no {PACKAGE} protos in {REPO_PROTOS} or {SDIST_PROTOS}")


def plugin(name: str) -> str:
    """A protoc plugin of the build environment (its scripts may not be on PATH)."""
    places = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent), os.environ["PATH"]]
    found = shutil.which(name, path=os.pathsep.join(places))
    if found is None:
        raise FileNotFoundError(f"{name} not found: is mypy-protobuf installed?")
    return found


def generate() -> None:
    from grpc_tools import protoc  # a build requirement, not a runtime one

    root = proto_root()
    target = OUT / PACKAGE
    shutil.rmtree(target, ignore_errors=True)  # no module of a deleted proto survives
    target.mkdir(parents=True)
    protos = sorted(str(p.relative_to(root)) for p in (root / PACKAGE).glob("*.proto"))
    arguments = [
        "protoc",
        f"-I{root}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",  # google/protobuf/*.proto
        f"--python_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--plugin=protoc-gen-mypy={plugin('protoc-gen-mypy')}",
        f"--mypy_out={OUT}",
        f"--plugin=protoc-gen-mypy_grpc={plugin('protoc-gen-mypy_grpc')}",
        f"--mypy_grpc_out={OUT}",
        *protos,
    ]
    if protoc.main(arguments) != 0:
        raise RuntimeError("protoc failed: " + " ".join(arguments))
    (target / "__init__.py").write_text('"""Generated from protos/ at build time."""\n')
    (target / "py.typed").touch()


class BuildPy(build_py):
    def run(self) -> None:
        generate()
        # An in-tree build keeps build/lib between runs: drop what an old build left.
        shutil.rmtree(Path(self.build_lib) / PACKAGE, ignore_errors=True)
        super().run()


class EggInfo(egg_info):
    """Metadata lists the package's files, so the generated ones must exist by then."""

    def run(self) -> None:
        if not (OUT / PACKAGE / "__init__.py").exists():
            generate()
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        if (REPO_PROTOS / PACKAGE).is_dir():
            shutil.rmtree(SDIST_PROTOS, ignore_errors=True)
            shutil.copytree(REPO_PROTOS, SDIST_PROTOS)
        super().run()


setup(cmdclass={"build_py": BuildPy, "egg_info": EggInfo, "sdist": Sdist})
