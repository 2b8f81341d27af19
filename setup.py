"""Packaging glue pyproject.toml cannot express: the Alembic folder ships inside the wheel.

Developers keep adding revisions to migrations/ at the top of the repository; the wheel carries that
folder as the package `app.migrations`, so a node installed from the wheel alone can run
`govhall db upgrade` (app.core.migrate finds it in either place).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["app*"]), "app.migrations", "app.migrations.versions"],
    package_dir={"app.migrations": "migrations"},
)
