"""The Alembic migrations build exactly the schema the models describe."""
import sqlalchemy as sa
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



def test_the_opt_out_list_migration_keeps_the_stop_of_members_deleted_before_it(db, merchant, make_member, now):
    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import OptOut
    from mcrm.members.services import opt_out
    stopped, kept = make_member(msisdn="13800138000"), make_member(msisdn="13800138001")
    opt_out(stopped, now=now)
    stopped.deleted_at = kept.deleted_at = now  # deleted the old way: the flag stays on the row only
    db.session.commit()
    db.session.close()
    downgrade(revision="058fe0f41561")
    upgrade()
    assert [(o.msisdn, o.opted_out_at, o.channel) for o in db.session.scalars(sa.select(OptOut))] == \
        [("+8613800138000", now, "member")]


def test_the_name_key_migration_gives_existing_members_their_pinyin_key(db, merchant, make_member):
    from flask_migrate import downgrade, upgrade

    from mcrm.members.models import Member
    named, unnamed = make_member(msisdn="13800138000", name="张三").id, make_member(msisdn="13800138001").id
    db.session.close()
    downgrade(revision="03710c321233")
    upgrade()
    keys = dict(db.session.execute(sa.select(Member.id, Member.name_key)).all())
    assert keys == {named: "zhang1张san1三", unnamed: ""}
