"""Regenerate schemas/<framework>-<version>.schema.json from each framework's own definitions, inside its env."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from jsonschema import Draft202012Validator  # noqa: E402

from generator import envs, frameworks  # noqa: E402
from generator.errors import FtgenError  # noqa: E402


def _missing_descriptions(node, path="") -> list[str]:
    """Dotted paths of properties without a description, anywhere in the schema."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    if isinstance(prop, dict) and not prop.get("description"):
                        out.append(f"{path}.{name}" if path else name)
                    out.extend(_missing_descriptions(prop, f"{path}.{name}" if path else name))
            elif key not in ("default", "enum", "const", "examples", "x-ftgen"):
                out.extend(_missing_descriptions(value, path))
    elif isinstance(node, list):
        for item in node:
            out.extend(_missing_descriptions(item, path))
    return out


def render(schema: dict) -> str:
    """The committed text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate(framework: str, env_dir: Path | None, install: bool, torch: str) -> tuple[str, dict]:
    env = envs.get_env(framework, env_dir)
    if env is None:
        if not install:
            raise SystemExit(
                f"no {framework} env under {envs.env_root(env_dir)}; run `ftgen env install {framework}` "
                "or pass --install"
            )
        print(f"installing the {framework} env (a few minutes) ...", file=sys.stderr)
        env = envs.install(
            framework,
            root=env_dir,
            torch=torch,
            progress=lambda i, n, d: print(f"  [{i}/{n}] {d}", file=sys.stderr, flush=True),
        )
    print(f"{framework}: generating with {env.python}", file=sys.stderr)
    script = frameworks.get(framework).schema_script
    schema = envs.run_json(env.python, script, env=env.subprocess_env(), timeout=900)
    Draft202012Validator.check_schema(schema)
    missing = _missing_descriptions(schema)
    if missing:
        raise SystemExit(f"{framework}: properties without description: {', '.join(missing[:20])}")
    version = schema["x-ftgen"]["version"]
    if version != env.version:
        raise SystemExit(f"{framework}: env says {env.version} but the generator saw {version}")
    return f"{framework}-{version}.schema.json", schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--framework", choices=[*frameworks.names(), "all"], default="all")
    parser.add_argument(
        "--env-dir", type=Path, default=None, help="env root (default: $FTGEN_HOME/envs or ~/.cache/ftgen/envs)"
    )
    parser.add_argument("--out", type=Path, default=_REPO / "schemas", help="output folder (default: schemas/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a schema would regenerate")
    parser.add_argument("--install", action="store_true", help="install a missing env instead of failing")
    parser.add_argument("--torch", choices=["auto", "cpu", "cuda"], default="auto", help="torch flavor for --install")
    args = parser.parse_args(argv)

    names = list(frameworks.names()) if args.framework == "all" else [args.framework]
    stale = 0
    try:
        for framework in names:
            name, schema = generate(framework, args.env_dir, args.install, args.torch)
            target = args.out / name
            text = render(schema)
            old = target.read_text(encoding="utf-8") if target.is_file() else None
            props = len(schema.get("properties", {}))
            if old == text:
                print(f"{target}: up to date ({props} top-level properties)")
            elif args.check:
                print(f"{target}: would regenerate")
                stale += 1
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                print(f"{target}: written ({props} top-level properties, {len(text) // 1024} KB)")
    except FtgenError as exc:
        print(exc.render(), file=sys.stderr)
        return int(exc.exit_code)
    except envs.ScriptError as exc:
        print(f"schema generator failed: {exc}", file=sys.stderr)
        return 3
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
