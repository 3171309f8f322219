"""The project's own documentation: every page the code, tests and README cite exists, and every
link between the pages lands on a page and heading that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITING = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")] + [
    path for folder in ("mcrm", "sms_gateway", "tests", "bench") for path in (ROOT / folder).rglob("*.py")]
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#([^)\s]+))?\)")


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_cited_docs_page_exists():
    for path in CITING:
        for page in re.findall(r"\bdocs/[\w-]+\.md", path.read_text(encoding="utf-8")):
            assert (ROOT / page).is_file(), f"{path.relative_to(ROOT)} cites {page}, which does not exist"


def test_the_readme_links_every_docs_page():
    linked = set(LINK.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    missing = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")} - {target for target, _ in linked}
    assert not missing, f"README.md does not link {sorted(missing)}"


def test_links_between_pages_land_on_a_page_and_heading():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target, anchor in LINK.findall(path.read_text(encoding="utf-8")):
            page = (path.parent / target).resolve()
            assert page.is_file(), f"{path.relative_to(ROOT)} links to missing {target}"
            assert not anchor or anchor in _anchors(page), \
                f"{path.relative_to(ROOT)}: no #{anchor} in {target}"


#: the name of the rules file that lived outside the repository (written in two pieces so this
#: test, which has to name it, is not itself a citation)
RETIRED_RULES_FILE = "SMS-" + "CONTRACT"


def test_nothing_cites_a_rules_file_users_do_not_have():
    for path in CITING:
        if path == Path(__file__).resolve():
            continue
        assert RETIRED_RULES_FILE not in path.read_text(encoding="utf-8"), f"{path.relative_to(ROOT)} cites it"


def test_the_operations_page_lists_every_periodic_job():
    from mcrm.jobs.definitions import JOBS
    page = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    # the first table after the "| job | what | when |" header, not the metrics table further down
    table = page.split("| job | what | when |", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))
    assert listed == {job["id"] for job in JOBS}
