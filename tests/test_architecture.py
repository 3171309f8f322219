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


# -- the layers of mcrm (docs/architecture.md) ----------------------------------------------------

#: lowest first; a module may import its own layer and the layers below it. A module belongs to the
#: layer of its longest prefix here (a dotted prefix covers the folder, ``mcrm`` only the package
#: itself); a folder's pages (``views``, ``forms``) are the console layer
LAYERS = (
    ("base", ("mcrm.core", "mcrm.settings", "mcrm.extensions", "mcrm.db", "mcrm.formatting")),
    ("merchants", ("mcrm.merchants",)),
    ("auth", ("mcrm.auth",)),
    # every feature records what staff do to its data
    ("audit", ("mcrm.audit",)),
    # every feature queues its webhook events in the transaction of its change
    ("webhooks", ("mcrm.webhooks",)),
    ("members", ("mcrm.members",)),
    ("points", ("mcrm.points",)),
    # the members import brings opening balances, and a new member's tier, from points
    ("member import", ("mcrm.members.csv_io",)),
    ("messaging", ("mcrm.messaging",)),
    ("feedback and surveys", ("mcrm.feedback", "mcrm.surveys")),
    # the keyword engine's staff commands add and confirm items
    ("agenda", ("mcrm.agenda",)),
    ("keywords", ("mcrm.keywords",)),
    ("segments", ("mcrm.segments",)),
    ("campaigns", ("mcrm.campaigns",)),
    ("care", ("mcrm.care",)),
    ("dashboard", ("mcrm.dashboard",)),
    # the JSON API for tills calls the services of every feature, as the pages do
    ("api", ("mcrm.api",)),
    # the delivery job's claims reuse the outbox's
    ("webhook delivery", ("mcrm.webhooks.delivery",)),
    # a member's data from every feature, and its erasure from each (the API's stored answers too)
    ("privacy", ("mcrm.privacy",)),
    ("jobs", ("mcrm.jobs",)),
    ("operations", ("mcrm.ops",)),
    ("console", ()),
    ("composition", ("mcrm", "mcrm.web", "mcrm.models", "mcrm.demo", "mcrm.cli", "mcrm.workers")),
)
LAYER_INDEX = {name: index for index, (name, _prefixes) in enumerate(LAYERS)}

#: (importing module, imported module) → why the import must stay inside a function
IN_FUNCTION_ALLOWED = {
    ("mcrm", "mcrm.web"): "every `import mcrm.x` runs mcrm/__init__.py first: at module level it "
                          "would load the whole console, circularly, for a look at mcrm.settings",
    ("mcrm", "mcrm.cli"): "the same: the package stays light until create_app runs",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_page(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last in ("views", "forms") or last.endswith(("_views", "_forms"))


def layer_of(module: str) -> str | None:
    if module.startswith("mcrm.") and is_page(module):
        return "console"
    best = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            covers = module == prefix or ("." in prefix and module.startswith(prefix + "."))
            if covers and (best is None or len(prefix) > len(best[1])):
                best = (name, prefix)
    return best[0] if best else None


def feature_of(module: str) -> str:
    """The folder under mcrm/ (or the top-level module) a module is part of."""
    return ".".join(module.split(".")[:2])


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def mcrm_imports(tree: ast.AST):
    """(imported mcrm module, line, inside a function) for each import; ``from pkg import mod`` names mod."""
    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, inside
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    yield (full if is_module(full) else child.module), child.lineno, inside
            yield from visit(child, inside)
    for name, line, inside in visit(tree, False):
        if name == "mcrm" or name.startswith("mcrm."):
            yield name, line, inside


def layer_violations(module: str, source: str) -> list[str]:
    """What breaks the layer order in one module's source: an import of a higher layer, or an
    import of another folder inside a function (an import hidden there to dodge a circle)."""
    own = layer_of(module)
    if own is None:
        return [f"{module} is in no layer: place its folder in LAYERS and docs/architecture.md"]
    found = []
    for target, line, inside in mcrm_imports(ast.parse(source)):
        theirs = layer_of(target)
        if theirs is not None and LAYER_INDEX[theirs] > LAYER_INDEX[own]:
            found.append(f"{module}:{line} imports {target} ({theirs}) from below it ({own})")
        crossing = feature_of(target) != feature_of(module)
        if inside and crossing and (module, target) not in IN_FUNCTION_ALLOWED:
            found.append(f"{module}:{line} imports {target} inside a function")
    return found


def test_every_module_imports_only_its_own_layer_and_below():
    violations, hidden = [], set()
    for path in sorted((ROOT / "mcrm").rglob("*.py")):
        module, source = module_name(path), path.read_text(encoding="utf-8")
        violations += layer_violations(module, source)
        hidden |= {(module, target) for target, _line, inside in mcrm_imports(ast.parse(source)) if inside}
    assert not violations, "\n".join(violations)
    assert set(IN_FUNCTION_ALLOWED) <= hidden, "an allowed import is gone: drop it from IN_FUNCTION_ALLOWED"


def test_layer_check_fails_on_planted_violations():
    upward = "from mcrm.keywords.engine import answer_text\n"
    hidden = "def welcome():\n    from mcrm.messaging.services import enqueue_sms\n"
    assert layer_violations("mcrm.members.services", upward) == [
        "mcrm.members.services:1 imports mcrm.keywords.engine (keywords) from below it (members)"]
    assert layer_violations("mcrm.keywords.engine", hidden) == [
        "mcrm.keywords.engine:2 imports mcrm.messaging.services inside a function"]
    assert layer_violations("mcrm.points.rules", "from mcrm import settings\n") == []
    assert layer_violations("mcrm.points.rules", "from mcrm import web\n") != []
    assert layer_violations("mcrm.newfeature.services", "") != []


def test_pages_sit_above_every_feature_and_services_do_not():
    imports_points = "from mcrm.points.services import refresh_all_tiers\n"
    assert layer_violations("mcrm.merchants.views", imports_points) == []
    assert layer_violations("mcrm.merchants.services", imports_points) != []
    assert layer_violations("mcrm.merchants.views", "from mcrm import cli\n") != []
