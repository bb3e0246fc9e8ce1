"""`--replace-sections` (tests/bench/report.py): a partial benchmark run replaces only its
own numbered sections of BENCHMARKS.md and keeps the rest of the file as it was."""

from __future__ import annotations

from tests.bench.report import splice_sections

EXISTING = (
    "# Benchmarks\n\nheader\n\n## Ratios against the goals\n\n| a |\n\n"
    "## 1. Get\n\nold get\n\n## Caveats\n\n- c\n\n"
    "## 3. Source\n\nold source\n\n## 5. History\n\nold\n\n### 5a. sub\n\nold sub\n"
)


def test_a_section_of_the_same_number_is_replaced_and_the_rest_kept() -> None:
    new = "# Benchmarks\n\nother header\n\n## Ratios against the goals\n\n\n## 3. Source\n\nnew\n"
    result = splice_sections(EXISTING, new)
    assert result == EXISTING.replace("old source", "new")


def test_a_section_with_its_subsections_is_replaced_whole() -> None:
    result = splice_sections(EXISTING, "## 5. History\n\nnew\n")
    assert result.endswith("## 5. History\n\nnew\n")
    assert "old sub" not in result and "old source" in result


def test_a_new_section_is_appended() -> None:
    result = splice_sections(EXISTING, "## 6. Security\n\nnew")
    assert result == EXISTING + "\n## 6. Security\n\nnew\n"
    again = splice_sections(result, "## 6. Security\n\nnewer\n")
    assert again == EXISTING + "\n## 6. Security\n\nnewer\n"
