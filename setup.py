"""Build hook: generate the gRPC/protobuf code before packaging.

All metadata lives in pyproject.toml; this file only makes `pip install`
(editable or not) produce vinculo/v1/ on a fresh machine.
"""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

GENERATED_PACKAGE = "vinculo.v1"


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        runpy.run_path(str(Path(__file__).parent / "protos" / "generate.py"))["generate"]()
        # Package discovery ran before the code existed: on a fresh clone the
        # generated package would be left out of the wheel.
        if GENERATED_PACKAGE not in self.packages:
            self.packages.append(GENERATED_PACKAGE)
        super().run()


setup(cmdclass={"build_py": BuildPyWithProtos})
