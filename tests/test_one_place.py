"""Issue 11's "one place each", pinned with AST scans: a rule written twice drifts apart."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCRM = ROOT / "mcrm"

#: POST handlers that change no row of their own, and why
SAVES_NOTHING = {
    "mcrm/auth/views.py:set_language": "the choice lives in the browser's session",
    "mcrm/segments/views.py:preview": "counts and samples members, saves nothing",
    "mcrm/messaging/views.py:simulator": "the gateway's MessageStore saves the text, as for a real MO",
}
#: the one direct commit left in a view, and why
DIRECT_COMMITS = {
    "mcrm/messaging/views.py:simulator": "ends the request's transaction: on SQLite the store then writes "
                                         "from its own connection",
}


def _view_modules() -> list[Path]:
    return sorted(p for p in MCRM.rglob("*.py") if "Blueprint(" in p.read_text(encoding="utf-8"))


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _calls(node: ast.AST) -> set[str]:
    """Names called in ``node``: ``saving`` for ``saving()``, ``db.session.commit`` for that call."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            names.add(ast.unparse(call.func))
    return names


def _accepts_post(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and ast.unparse(decorator.func).endswith(".route"):
            for keyword in decorator.keywords:
                if keyword.arg == "methods" and "POST" in ast.unparse(keyword.value):
                    return True
    return False


def test_the_view_modules_are_found():
    names = {str(p.relative_to(ROOT)) for p in _view_modules()}
    assert {"mcrm/members/views.py", "mcrm/keywords/views.py", "mcrm/auth/staff_views.py"} <= names


def test_views_never_commit_or_roll_back_themselves():
    """A view's change goes through mcrm.core.saving.saving(): commit, or roll back and say why."""
    found = []
    for path in _view_modules():
        for name, function in _functions(ast.parse(path.read_text(encoding="utf-8"))).items():
            where = f"{path.relative_to(ROOT)}:{name}"
            direct = {c for c in _calls(function) if c in ("db.session.commit", "db.session.rollback")}
            if direct and where not in DIRECT_COMMITS:
                found.append(f"{where} calls {sorted(direct)}")
    assert not found, "\n".join(found)


def test_every_post_handler_saves_through_the_helper():
    missing = []
    for path in _view_modules():
        functions = _functions(ast.parse(path.read_text(encoding="utf-8")))
        helpers = {name for name, function in functions.items() if "saving" in _calls(function)}
        for name, function in functions.items():
            where = f"{path.relative_to(ROOT)}:{name}"
            if not _accepts_post(function) or where in SAVES_NOTHING:
                continue
            if not _calls(function) & (helpers | {"saving"}):
                missing.append(where)
    assert not missing, f"POST handlers that save without mcrm.core.saving.saving(): {missing}"


def test_one_function_masks_a_phone_number():
    """mcrm.core.msisdn holds the rule; everything else calls mask_msisdn or mask_numbers."""
    found = []
    for path in MCRM.rglob("*.py"):
        where = str(path.relative_to(ROOT))
        if where == "mcrm/core/msisdn.py":
            continue
        source = path.read_text(encoding="utf-8")
        found += [f"{where}:{node.name}" for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("mask")]
        if '"****"' in source or re.search(r"msisdn\[:?-?\d", source):  # msisdn[:4], msisdn[-4:]
            found.append(f"{where} masks by hand")
    assert not found, found


def test_one_registry_of_member_fields():
    """Replies, wizard apps, the preview and docs/keywords.md all name the registry's fields."""
    from mcrm.keywords import texts, views
    from mcrm.keywords.apps import custom
    from mcrm.keywords.fields import MEMBER_FIELDS
    documented = re.findall(r"^\| `\{(\w+)\}` \|", (ROOT / "docs" / "keywords.md").read_text(encoding="utf-8"),
                            flags=re.M)
    assert tuple(documented) == MEMBER_FIELDS
    assert set(MEMBER_FIELDS) <= set(views.SAMPLE_VALUES)
    assert texts.DEFAULT_REPLIES["points"][1][:len(MEMBER_FIELDS)] == MEMBER_FIELDS
    assert custom.LIMIT_REPLY[1][:len(MEMBER_FIELDS)] == MEMBER_FIELDS
    # nowhere else spells the list out
    spelled = [str(p.relative_to(ROOT)) for p in MCRM.rglob("*.py")
               if '"name", "points", "tier"' in p.read_text(encoding="utf-8")]
    assert spelled == [], spelled


def _string_constants(cls: ast.ClassDef) -> list[str]:
    return [target.id for node in cls.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name) and target.id.isupper()]


def test_status_values_are_str_enums():
    """A set of named string values (statuses, kinds, roles) is a StrEnum, never a class of constants."""
    found = []
    for path in MCRM.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and len(_string_constants(node)) >= 2:
                bases = {ast.unparse(base) for base in node.bases}
                if not bases & {"StrEnum", "enum.StrEnum"}:
                    found.append(f"{path.relative_to(ROOT)}:{node.name}({', '.join(sorted(bases))})")
    assert not found, found


def test_mcrm_has_one_message_status():
    """sms_gateway keeps its own statuses (it imports nothing of mcrm); mcrm names only its own."""
    for path in MCRM.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sms_gateway"):
                assert "MessageStatus" not in {alias.name for alias in node.names}, path
            if isinstance(node, ast.ClassDef) and node.name == "MessageStatus":
                assert path == MCRM / "messaging" / "models.py", path
