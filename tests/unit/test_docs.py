"""The documentation holds together: a short README, and every relative link and anchor in
README.md and docs/*.md (and every alert's runbook_url) leads somewhere that exists."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
REPO_URL = "https://github.com/promcast/promcast/blob/main/"

# Pages being written alongside this one: a link to them is allowed while they do not exist yet.
# Once they exist, their anchors are checked like any other page's. Remove entries once merged.

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"", re.I)


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "``", line)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its rendered text, lower case, punctuation other than
    '-' and '_' dropped, spaces as '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(HTML_ANCHOR.findall(line))
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")  # GitHub numbers repeated headings
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, line in prose_lines(page.read_text()):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            where = f"{page.relative_to(root)}:{number}: {target}"
            file_part, _, fragment = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            try:
                rel = dest.relative_to(root).as_posix()
            except ValueError:
                problems.append(f"{where}: points outside the repository")
                continue
            if not dest.exists():
                problems.append(f"{where}: no such file {rel}")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                problems.append(f"{where}: {rel} has no heading or anchor #{fragment}")
    return problems


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= 300, f"README.md has {lines} lines; move details into docs/ (at most 300)"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_exists(page):
    assert broken_links(page) == []


def test_the_link_checker_catches_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Top\n")
    (tmp_path / "docs" / "runbook.md").write_text("# Runbook\n\n### PromcastX\n")
    page = tmp_path / "docs" / "probe.md"
    page.write_text(
        "# Probe\n\n[ok](#probe) [up](../README.md#top) [alert](runbook.md#promcastx)\n"
        "[gone](nothere.md) [bad](runbook.md#nope) [out](../../elsewhere.md)\n"
        "`[in code](nothere.md)`\n```\n[fenced](nothere.md)\n```\n"
    )
    assert [p.split(": ", 2)[2] for p in broken_links(page, tmp_path)] == [
        "no such file docs/nothere.md",
        "docs/runbook.md has no heading or anchor #nope",
        "points outside the repository",
    ]


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("Forecaster (`promcast-forecaster`)", "forecaster-promcast-forecaster"),
        (
            "Capacity planning: scenarios, order-by dates, autoscaling",
            "capacity-planning-scenarios-order-by-dates-autoscaling",
        ),
        ("The forecaster's API", "the-forecasters-api"),
        ("PromcastCapacityExhaustionSoon", "promcastcapacityexhaustionsoon"),
        ("Cost and budget_usd [v2](x.md)", "cost-and-budget_usd-v2"),
    ],
)
def test_anchors_follow_githubs_rendering(heading, anchor):
    assert slug(heading) == anchor


def test_every_alert_runbook_url_leads_to_a_section():
    missing = []
    for rules in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            for rule in group["rules"]:
                url = rule.get("annotations", {}).get("runbook_url")
                if not url:
                    continue
                assert url.startswith(REPO_URL), (
                    f"{rule['alert']}: runbook_url {url} is not in this repository"
                )
                path, _, fragment = url[len(REPO_URL) :].partition("#")
                if not (ROOT / path).exists() or fragment not in anchors(ROOT / path):
                    missing.append(f"{rule['alert']}: {url}")
    assert missing == []


def test_every_alert_has_a_section_in_the_runbook():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    names = {
        r["alert"]
        for p in (ROOT / "rules").glob("*.yml")
        for g in yaml.safe_load(p.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert names and {n for n in names if f"\n### {n}\n" not in runbook} == set()


def test_the_two_commands_are_the_ones_ci_and_make_run():
    readme = README.read_text()
    section = readme[readme.index("## Two commands") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines()]
    assert commands == ["make demo", "make test"]
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()
    dry = subprocess.run(["make", "-n", "demo", "test"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr


def repository_text_files():
    folders = [
        "exporter",
        "forecaster",
        "tests",
        "dashboards",
        "deploy",
        "demo",
        "benchmarks",
        "rules",
        "alertmanager",
        "docker",
        "docs",
        ".ci",
    ]
    # The previous release's configs are kept verbatim, comments and all, to test compatibility.
    snapshot = ROOT / "tests" / "fixtures" / "previous_release"
    files = [
        p
        for f in folders
        for p in (ROOT / f).rglob("*")
        if p.is_file()
        and p.suffix != ".png"
        and "__pycache__" not in p.parts
        and not p.is_relative_to(snapshot)
    ]
    files += [ROOT / n for n in ("README.md", "Makefile", "Dockerfile", "pyproject.toml")]
    files += sorted(ROOT.glob("docker-compose*.yml"))
    return [(p.relative_to(ROOT).as_posix(), p.read_text(errors="replace")) for p in files]


def test_no_file_cites_a_document_the_repository_does_not_have():
    # The design notes behind promcast are not part of the repository; a comment that points at
    # them leaves the reader nowhere. Say the fact itself, or link a file that is here.
    needle = "DESIGN" + ".md"
    assert [name for name, text in repository_text_files() if needle in text] == []


def test_every_readme_section_named_in_a_file_exists():
    # A comment that sends the reader to a README section by its quoted name: it must be there.
    headings = {m.group(1) for m in re.finditer(r"^#+ (.*)$", README.read_text(), re.M)}
    named = [
        (name, section)
        for name, text in repository_text_files()
        for section in re.findall(r'README\s+(?:#\s+)?"([^"]+)"', text)
    ]
    assert [(name, s) for name, s in named if s not in headings] == []


def config_examples():
    """Every YAML example of the configuration pages, except fragments (a line `# ... as above`)."""
    examples = []
    for page in ("configuration.md", "reports.md"):
        text = (ROOT / "docs" / page).read_text()
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S):
            if not re.search(r"^\s*# \.\.\. ", m.group(1), re.M):
                line = text[: m.start()].count("\n") + 1
                examples.append(pytest.param(m.group(1), id=f"{page}:{line}"))
    return examples


@pytest.mark.parametrize("block", config_examples())
def test_every_documented_config_example_is_accepted(block, tmp_path):
    from promcast_exporter.config import ExporterConfig
    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from rules.config import AlertingConfig
    from rules.config import load as load_alerting

    # The example names a file of the user's; the built-in catalogue has the same format.
    block = block.replace(
        "/etc/promcast/instance_types.yaml",
        str(ROOT / "forecaster" / "instance_types.yaml"),
    )
    data = yaml.safe_load(block)
    if "providers" in data:
        validate(ExporterConfig, data, "docs")
    elif set(data) & set(ForecasterConfig.model_fields):
        validate(ForecasterConfig, {"prometheus": {"url": "http://127.0.0.1:9090"}, **data}, "docs")
    elif set(data) & set(AlertingConfig.model_fields):
        path = tmp_path / "alerting.yml"  # laid over the shipped defaults, as a user's file is
        path.write_text(block)
        load_alerting(path)
    else:  # another program's file (rules config, Prometheus, Grafana): not ours to check here
        pytest.skip(f"not an exporter or forecaster config: {sorted(data)}")


def test_every_series_the_docs_name_is_in_the_catalogue():
    from promcast_common.catalogue import CATALOGUE

    packages = {"promcast_common", "promcast_exporter", "promcast_forecaster"}  # import names
    unknown = []
    for page in (README, *DOCS):
        # Names inside recording rules (`level:promcast_x:op`) and function calls are not series.
        for name in re.findall(r"(?<![:\w])promcast_[a-z0-9_]+(?![\w(])", page.read_text()):
            if name in packages:
                continue
            known = name in CATALOGUE or (
                name.endswith("_") and any(c.startswith(name) for c in CATALOGUE)
            )
            if not known:
                unknown.append(f"{page.relative_to(ROOT)}: {name}")
    assert unknown == []
