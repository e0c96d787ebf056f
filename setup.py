"""What pyproject.toml cannot say: a built wheel carries the top-level templates/ (the one copy people
edit and `make report` renders with) as the package data report_builder/templates. A source tree, and an
editable install of it, render with templates/ in place (report/render.py finds both)."""

from setuptools import find_namespace_packages, find_packages, setup

# templates/ and each of its subfolders, as packages of data files (setuptools ships folders as packages).
TEMPLATES = ["report_builder.templates",
             *(f"report_builder.templates.{name}" for name in find_namespace_packages("templates"))]

setup(
    packages=[*find_packages(include=["report_builder", "report_builder.*"]), *TEMPLATES],
    package_dir={"report_builder.templates": "templates"},
    package_data={name: ["*"] for name in TEMPLATES},
)
