"""Import rules from STYLE.md §2, checked with an AST scan of the sources."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_sms_gateway_imports_only_stdlib_and_smpplib():
    for path in (ROOT / "sms_gateway").rglob("*.py"):
        forbidden = top_level(imported_modules(path)) & {"mcrm", "flask", "sqlalchemy", "flask_sqlalchemy"}
        assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_mcrm_imports_sms_gateway_in_exactly_two_files():
    importers = {str(path.relative_to(ROOT)) for path in (ROOT / "mcrm").rglob("*.py")
                 if "sms_gateway" in top_level(imported_modules(path))}
    assert importers <= {"mcrm/messaging/store.py", "mcrm/workers.py", "mcrm/messaging/encoding.py"}


def test_pure_modules_touch_no_database_flask_or_clock():
    pure = [p for name in ("rules.py", "flow.py", "audience.py", "birthdays.py")
            for p in (ROOT / "mcrm").rglob(name)]
    assert pure, "no pure modules found"
    for path in pure:
        names = imported_modules(path)
        forbidden = top_level(names) & {"flask", "sqlalchemy", "flask_sqlalchemy"}
        forbidden |= {n for n in names if n in ("mcrm.extensions", "mcrm.core.clock")}
        assert not forbidden, f"{path.relative_to(ROOT)} imports {forbidden}"


def test_services_never_touch_the_request():
    for path in (ROOT / "mcrm").rglob("services.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask":
                used = {alias.name for alias in node.names}
                assert not used & {"request", "g", "session", "current_app"}, f"{path} uses {used}"
