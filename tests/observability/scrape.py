"""Reading /metrics the way Prometheus does: over HTTP, parsed from the text format."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    text: str

    def families(self) -> dict[str, str]:
        """Family name -> its HELP text."""
        return {f.name: f.documentation for f in text_string_to_metric_families(self.text)}

    def value(self, sample: str, **labels: str) -> float:
        """The sample with exactly these labels (0 when absent: counters start at 0)."""
        for family in text_string_to_metric_families(self.text):
            for found in family.samples:
                if found.name == sample and found.labels == labels:
                    return found.value
        return 0.0

    def labels_of(self, sample: str) -> list[dict[str, str]]:
        return [
            found.labels
            for family in text_string_to_metric_families(self.text)
            for found in family.samples
            if found.name == sample
        ]


def scrape(url: str) -> Scrape:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return Scrape(response.read().decode())
