"""The README's spec reference is the one generated from the schema."""

from pathlib import Path

from generator import specdoc

REPO = Path(__file__).resolve().parents[1]


def test_readme_spec_reference_matches_schema():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert specdoc.section() in readme, "README spec reference is stale: run `python scripts/gen_spec_doc.py`"


def test_every_schema_field_has_a_description():
    from generator.spec import schema

    def walk(node, path):
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{path}{name} has no description"
            walk(child, f"{path}{name}.")
            if "items" in child:
                walk(child["items"], f"{path}{name}[].")

    walk(schema(), "")
