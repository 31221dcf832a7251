"""Packaging for the bandersnatch PyPI mirror client."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "bandersnatch" / "__init__.py").read_text()).group(1)

setup(
    name="bandersnatch",
    version=VERSION,
    description="A PyPI mirror client according to PEP 381",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="AFL-2.1",
    python_requires=">=3.9",
    packages=find_packages(include=["bandersnatch", "bandersnatch.*"]),
    package_data={"bandersnatch": ["default.conf"]},
    install_requires=[
        "click>=8.0",
        "packaging>=22",
        "requests>=2.28",
        'tomli>=1.1; python_version < "3.11"',
        "urllib3>=1.26",
    ],
    extras_require={
        "s3": ["boto3>=1.35.10"],  # conditional writes (If-None-Match / If-Match) on put_object
        # hypothesis: property tests of what a hostile master or bundle can send;
        # pypi-simple: an outside PEP 503/691 client that judges our pages, written by nobody here;
        # prometheus-client: Prometheus' own parser of the text format, judging our metrics file;
        # pypiserver: a real foreign index (api-method = index) the tests start as a master.
        "test": [
            "pytest>=7", "responses>=0.23", "uv", "boto3>=1.35.10", "moto[server]>=5.0.20", "hypothesis>=6.100",
            "pypi-simple>=1.6", "prometheus-client>=0.17", "pypiserver>=2.3",
        ],
    },
    entry_points={"console_scripts": ["bandersnatch = bandersnatch.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: System :: Archiving :: Mirroring",
    ],
)
