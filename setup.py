"""The one thing pyproject.toml cannot say: the wheel carries `rules/` and `schemas/`, kept at the
top of the repository where their maintainers edit them, as `bcapi/data/rules/` and
`bcapi/data/schemas/`, where `bcapi.data` finds them with importlib.resources."""
from setuptools import find_namespace_packages, setup

SHIPPED = {"bcapi.data.rules": "rules", "bcapi.data.schemas": "schemas"}

setup(
    packages=find_namespace_packages(include=["bcapi", "bcapi.*"]) + list(SHIPPED),
    package_dir=SHIPPED,
    package_data={
        "bcapi": ["storage/migrations/*.mako", "http/templates/*.html", "http/static/**/*"],
        "bcapi.data.rules": ["*.yaml", "tests/*.yaml", "tests/*.md", "tests/cases/*.json", "tests/panel/*.json",
                             "tests/panel/*.yaml", "tests/panel/*.md"],
        "bcapi.data.schemas": ["*.json", "examples/*.json"],
    },
)
