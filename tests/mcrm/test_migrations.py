"""The Alembic migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext


def test_models_and_migrations_agree(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migrations_are_a_single_line_of_history(app):
    from alembic.script import ScriptDirectory
    from flask_migrate import Config  # noqa: F401
    script = ScriptDirectory(app.extensions["migrate"].directory)
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.doc and revision.doc.strip(), f"revision {revision.revision} has no message"

