"""Inside an Axolotl env: print the JSON Schema of Axolotl's config, derived from its pydantic models."""

# Runs as `python axolotl_schema.py` with the Axolotl env's interpreter; prints one JSON
# object on stdout. Must not import `generator`. Derived, never hand-typed:
#   - properties, types, defaults and descriptions from AxolotlInputConfig (+ built-in plugins' args);
#   - additionalProperties: false where pydantic would silently drop unknown keys (extra != "allow");
#   - enums for choices Axolotl checks in code: optimizer, lr_scheduler, adapter, datasets[].type.
import ast
import contextlib
import importlib
import importlib.metadata
import inspect
import json
import os
import pkgutil
import sys
import typing

SCRIPT = "generator/_env_scripts/axolotl_schema.py"
NO_DESC = "(no description in axolotl {version})"


def _quiet_imports():
    """Framework imports print banners/warnings on stdout; send fd 1 to stderr meanwhile."""
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def _pydantic_models(annotation, out):
    from pydantic import BaseModel

    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        if annotation not in out:
            out.add(annotation)
            for field in annotation.model_fields.values():
                _pydantic_models(field.annotation, out)
        return
    for arg in typing.get_args(annotation):
        _pydantic_models(arg, out)


def _generator_cls():
    from pydantic.json_schema import GenerateJsonSchema

    class _Gen(GenerateJsonSchema):
        """Writes enums whose values cannot be serialised (torch.dtype) by member name."""

        def enum_schema(self, schema):
            try:
                return super().enum_schema(schema)
            except Exception:
                out = {"enum": [m.name for m in schema["members"]], "type": "string"}
                cls = schema.get("cls")
                if cls is not None:
                    out["title"] = cls.__name__
                    doc = inspect.getdoc(cls)
                    if doc and not doc.startswith("An enumeration"):
                        out["description"] = doc
                return out

        def default_schema(self, schema):
            try:
                return super().default_schema(schema)
            except Exception:
                return self.generate_inner(schema["schema"])

    return _Gen


def _model_schema(model):
    return model.model_json_schema(schema_generator=_generator_cls(), mode="validation", by_alias=True)


def _strip_titles(node):
    if isinstance(node, dict):
        node.pop("title", None)
        for key, value in list(node.items()):
            if key in ("properties", "$defs", "patternProperties"):
                for sub in value.values():
                    _strip_titles(sub)
            elif key != "default" and key != "enum" and key != "const" and key != "examples":
                _strip_titles(value)
    elif isinstance(node, list):
        for item in node:
            _strip_titles(item)


def _fill_descriptions(node, no_desc):
    """Every property gets a description (the framework's, or a 'no description' note)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    if isinstance(prop, dict):
                        if not prop.get("description"):  # a $ref sibling is fine in 2020-12
                            prop["description"] = no_desc
                        _fill_descriptions(prop, no_desc)
            elif key not in ("default", "enum", "const", "examples"):
                _fill_descriptions(value, no_desc)
    elif isinstance(node, list):
        for item in node:
            _fill_descriptions(item, no_desc)


def _close_models(schema, models):
    """additionalProperties: false for every object that is a pydantic model not declared extra='allow'."""
    extra_by_name = {m.__name__: m.model_config.get("extra") for m in models}
    closed, open_ = [], []
    for name, definition in schema.get("$defs", {}).items():
        if definition.get("type") == "object" and "properties" in definition:
            if extra_by_name.get(name, "ignore") == "allow":
                open_.append(name)
            else:
                definition["additionalProperties"] = False
                closed.append(name)
    schema["additionalProperties"] = False
    return sorted(closed), sorted(open_)


def _ast_string_set(module, func_name, attr):
    """String literals that `<...>.attr` is compared with (==, in [...]) inside `func_name` of `module`."""
    tree = ast.parse(inspect.getsource(module))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func_name:
            for cmp in ast.walk(node):
                if not isinstance(cmp, ast.Compare):
                    continue
                left = cmp.left
                if not (
                    isinstance(left, (ast.Attribute, ast.Name))
                    and getattr(left, "attr", getattr(left, "id", None)) == attr
                ):
                    continue
                for comp in cmp.comparators:
                    if isinstance(comp, ast.Constant) and isinstance(comp.value, str):
                        found.add(comp.value)
                    elif isinstance(comp, (ast.List, ast.Tuple, ast.Set)):
                        found.update(
                            e.value for e in comp.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                        )
    if not found:
        raise RuntimeError(f"no string choices for {attr} found in {module.__name__}.{func_name}: regenerate by hand")
    return found


def _discover_plugins():
    """Built-in plugins: {canonical name: (aliases, plugin instance)} and import failures."""
    import axolotl.integrations as integrations
    from axolotl.integrations.base import BasePlugin

    plugins, failures = {}, {}
    for info in sorted(pkgutil.iter_modules(integrations.__path__), key=lambda i: i.name):
        if not info.ispkg:
            continue
        pkg_name = f"axolotl.integrations.{info.name}"
        try:
            pkg = importlib.import_module(pkg_name)
        except Exception as exc:
            failures[pkg_name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            continue
        for attr in sorted(dir(pkg)):
            cls = getattr(pkg, attr)
            if inspect.isclass(cls) and issubclass(cls, BasePlugin) and cls is not BasePlugin:
                name = f"{pkg_name}.{cls.__name__}"
                aliases = sorted({name, f"{cls.__module__}.{cls.__name__}"})
                try:
                    plugins[name] = (aliases, cls())
                except Exception as exc:
                    failures[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return plugins, failures


def _add_alias_choices(schema, root_model, models):
    """Add the other names of AliasChoices validation aliases as properties of the same shape."""
    from pydantic import AliasChoices

    for model in sorted(models, key=lambda m: m.__name__):
        target = schema if model is root_model else schema.get("$defs", {}).get(model.__name__)
        if not target or "properties" not in target:
            continue
        props = target["properties"]
        for field in model.model_fields.values():
            alias = field.validation_alias
            if not isinstance(alias, AliasChoices):
                continue
            names = [c for c in alias.choices if isinstance(c, str)]
            shown = next((n for n in names if n in props), None)
            if shown is None:
                continue
            for other in names:
                if other not in props:
                    entry = dict(props[shown])
                    entry["description"] = f"Same as `{shown}`. " + (entry.get("description") or "")
                    props[other] = entry


def _import_object(path):
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _strategy_families():
    """Built-in datasets[].type values per family (sft, dpo, kto, orpo, ebft), derived from the loaders."""
    import axolotl.prompt_strategies as ps
    from axolotl.prompters import PromptStyle
    from axolotl.utils.data.wrappers import DATASET_HANDLERS

    skip_notes = {}

    def module_funcs(mod):
        return sorted(
            n
            for n, f in inspect.getmembers(mod, inspect.isfunction)
            if f.__module__ == mod.__name__ and not n.startswith("_")
        )

    # SFT: axolotl.prompt_strategies.load(strategy): module M with load(), or M.load_*; "messages";
    # DATASET_HANDLERS keys with an optional ":<PromptStyle>"; bradley_terry.<module>[.<fn>].
    rl_packages = ("dpo", "kto", "orpo", "ebft")

    def loaders(mod):
        names = []
        for n in dir(mod):
            if n == "load" or n.startswith("load_"):
                obj = getattr(mod, n)
                if callable(obj) and not inspect.isclass(obj):
                    names.append(n)
        return names

    sft = set()
    sft_modules = set()
    for info in pkgutil.iter_modules(ps.__path__):
        name = info.name
        if name in rl_packages or name == "base":
            continue
        try:
            mod = importlib.import_module(f"axolotl.prompt_strategies.{name}")
        except Exception as exc:
            skip_notes[f"axolotl.prompt_strategies.{name}"] = f"{type(exc).__name__}"
            continue
        if name == "bradley_terry":
            # bradley_terry.load: "<module>" (its load) or "<module>.load_*"
            for sub in pkgutil.iter_modules(mod.__path__):
                submod = importlib.import_module(f"{mod.__name__}.{sub.name}")
                subloaders = loaders(submod)
                if "load" in subloaders:
                    sft.add(f"bradley_terry.{sub.name}")
                sft.update(f"bradley_terry.{sub.name}.{f}" for f in subloaders if f != "load")
            sft_modules.add(name)
            continue
        found = loaders(mod)
        if not found:
            continue
        sft_modules.add(name)
        if "load" in found:
            sft.add(name)
        sft.update(f"{name}.{f}" for f in found)
    styles = [s.value for s in PromptStyle]
    for handler in DATASET_HANDLERS:
        sft.add(handler)
        sft.update(f"{handler}:{style}" for style in styles)
        sft_modules.add(handler)

    families = {"sft": (sorted(sft), sorted(sft_modules))}
    # RL: prompt_strategies.<pkg>.load -> base.load: "M" means M.default, or "M.fn".
    for pkg_name in rl_packages:
        pkg = importlib.import_module(f"axolotl.prompt_strategies.{pkg_name}")
        values, modules = set(), set()
        for info in pkgutil.iter_modules(pkg.__path__):
            try:
                mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
            except Exception as exc:
                skip_notes[f"{pkg.__name__}.{info.name}"] = f"{type(exc).__name__}"
                continue
            funcs = module_funcs(mod)
            if not funcs:
                continue
            modules.add(info.name)
            if "default" in funcs:
                values.add(info.name)
            values.update(f"{info.name}.{f}" for f in funcs)
        families[pkg_name] = (sorted(values), sorted(modules))
    return families, skip_notes


def _type_family_def(values, modules, family):
    custom = {
        "type": "string",
        "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
        "not": {"pattern": "^(" + "|".join(sorted(modules)) + r")(\.|:|$)"},
        "description": "a dotted path module.function to your own strategy (its first part is not a built-in module)",
    }
    return {
        "description": f"datasets[].type for {family}: a built-in strategy, your own module, or a mapping",
        "anyOf": [
            {"enum": values},
            custom,
            {"type": "object"},
            {"type": "null"},
        ],
        "x-ftgen-allowed": f"one of the {len(values)} built-in {family} strategies, "
        "a dotted path module.function to your own, or a mapping (user-defined format)",
    }


def _dataset_conditionals(rl_values):
    """allOf branches choosing the datasets[] item model and type family from `rl`, as validate_config does."""
    dpo_like = ["dpo", "ipo", "simpo"]
    family_of = {"dpo": "dpo", "ipo": "dpo", "simpo": "dpo", "kto": "kto", "orpo": "orpo", "ebft": "ebft"}
    branches = []

    def items_for(rl):
        if rl in dpo_like:
            item = {"$ref": "#/$defs/DPODataset", "properties": {"type": {"$ref": "#/$defs/DatasetType-dpo"}}}
        elif rl == "kto":
            item = {"$ref": "#/$defs/KTODataset", "properties": {"type": {"$ref": "#/$defs/DatasetType-kto"}}}
        else:
            family = family_of.get(rl, "sft" if rl is None else None)
            sft = {"$ref": "#/$defs/SFTDataset"}
            if family is not None:
                sft["properties"] = {"type": {"$ref": f"#/$defs/DatasetType-{family}"}}
            item = {
                "if": {"type": "object", "properties": {"type": {"const": "_synthetic"}}, "required": ["type"]},
                "then": {"$ref": "#/$defs/SyntheticDataset"},
                "else": sft,
            }
        return {
            "properties": {
                "datasets": {"anyOf": [{"type": "array", "items": item}, {"type": "null"}]},
                "test_datasets": {"anyOf": [{"type": "array", "items": item}, {"type": "null"}]},
            }
        }

    branches.append({"if": {"properties": {"rl": {"type": "null"}}}, "then": items_for(None)})
    for rl in rl_values:
        branches.append({"if": {"properties": {"rl": {"const": rl}}, "required": ["rl"]}, "then": items_for(rl)})
    return branches


def build():
    version = importlib.metadata.version("axolotl")
    no_desc = NO_DESC.format(version=version)
    import axolotl.core.builders.base as builders_base
    import axolotl.loaders.adapter as adapter_loader
    from axolotl.utils.schemas.config import AxolotlInputConfig
    from axolotl.utils.schemas.enums import CustomSupportedOptimizers, RLType
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    models = set()
    _pydantic_models(AxolotlInputConfig, models)
    schema = _model_schema(AxolotlInputConfig)
    props = schema["properties"]

    # populate_by_name: a field with an alias is accepted under its own name too.
    by_name = {}
    for name, field in AxolotlInputConfig.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        if alias and alias != name and alias in props and name not in props:
            entry = dict(props[alias])
            entry["description"] = f"Same as `{alias}` (pydantic field name, accepted through populate_by_name). " + (
                entry.get("description") or ""
            )
            props[name] = entry
            by_name[name] = alias

    # Every validation alias (AliasChoices) is accepted, not only the first one the schema shows.
    _add_alias_choices(schema, AxolotlInputConfig, models)
    # check_fsdp_config_kwargs_prefix strips a `fsdp_` prefix from fsdp_config keys (deprecated spelling).
    fsdp_prefixed = []
    if "check_fsdp_config_kwargs_prefix" in AxolotlInputConfig.__pydantic_decorators__.model_validators:
        fsdp_def = schema["$defs"].get("FSDPConfig", {})
        for name, prop in list(fsdp_def.get("properties", {}).items()):
            if name == "fsdp_version" or name.startswith("fsdp_") or f"fsdp_{name}" in fsdp_def["properties"]:
                continue
            entry = {k: v for k, v in prop.items() if k != "description"}
            entry["description"] = (
                f"Deprecated spelling of `{name}`: Axolotl strips the `fsdp_` prefix "
                "(check_fsdp_config_kwargs_prefix). " + (prop.get("description") or "")
            ).strip()
            entry["deprecated"] = True
            fsdp_def["properties"][f"fsdp_{name}"] = entry
            fsdp_prefixed.append(f"fsdp_{name}")

    # Built-in plugins: their args models add top-level keys, valid only with the plugin listed.
    plugins, plugin_failures = _discover_plugins()
    plugin_keys = {}
    plugin_adapters = set()
    for pname, (aliases, plugin) in sorted(plugins.items()):
        try:
            for cap in plugin.get_adapter_capabilities() or []:
                plugin_adapters.add(cap.name)
            args_path = plugin.get_input_args()
            if not args_path:
                continue
            args_model = _import_object(args_path)
            _pydantic_models(args_model, models)
            sub = _model_schema(args_model)
        except Exception as exc:
            plugin_failures[pname] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
            continue
        for dname, definition in sub.get("$defs", {}).items():
            schema.setdefault("$defs", {}).setdefault(dname, definition)
        for key, prop in sub.get("properties", {}).items():
            if key in AxolotlInputConfig.model_fields or key in by_name:
                continue
            plugin_keys.setdefault(key, {"prop": prop, "plugins": set()})
            plugin_keys[key]["plugins"].update(aliases)
    dependent = {}
    for key, info in sorted(plugin_keys.items()):
        prop = dict(info["prop"])
        names = sorted(info["plugins"])
        main = [n for n in names if n.count(".") == 3] or names
        prop["description"] = f"[plugin {', '.join(main)}] " + (prop.get("description") or no_desc)
        prop["x-ftgen-plugins"] = names
        props[key] = prop
        dependent[key] = {
            "required": ["plugins"],
            "properties": {"plugins": {"type": "array", "contains": {"enum": names}}},
        }
    if dependent:
        schema["dependentSchemas"] = dependent

    # Closed choices Axolotl checks in code.
    optimizers = sorted({o.value for o in OptimizerNames} | {o.value for o in CustomSupportedOptimizers})
    alt_schedulers = _ast_string_set(builders_base, "_configure_scheduler", "lr_scheduler")
    schedulers = sorted({s.value for s in SchedulerType} | alt_schedulers)
    adapters = sorted(_ast_string_set(adapter_loader, "load_adapter", "adapter") | plugin_adapters)

    def closed(prop, values, how):
        out = {k: v for k, v in prop.items() if k in ("description", "default", "deprecated")}
        out["anyOf"] = [{"type": "string", "enum": values}, {"type": "null"}]
        out["x-ftgen-enum-source"] = how
        return out

    props["optimizer"] = closed(
        props["optimizer"], optimizers, "transformers OptimizerNames + axolotl CustomSupportedOptimizers"
    )
    props["lr_scheduler"] = closed(
        props["lr_scheduler"],
        schedulers,
        "transformers SchedulerType + the alternate schedulers of axolotl.core.builders.base._configure_scheduler",
    )
    props["adapter"] = closed(
        props["adapter"],
        adapters,
        "adapters of axolotl.loaders.adapter.load_adapter + built-in plugins' adapter capabilities",
    )

    # datasets[].type: per-rl strategy families; the item model follows rl as validate_config does.
    families, strategy_skips = _strategy_families()
    for family, (values, modules) in families.items():
        schema["$defs"][f"DatasetType-{family}"] = _type_family_def(values, modules, family)
    for key in ("datasets", "test_datasets"):
        keep = {k: v for k, v in props[key].items() if k in ("description", "default")}
        keep["anyOf"] = [{"type": "array", "minItems": 1, "items": {"type": "object"}}, {"type": "null"}]
        keep["x-ftgen-items"] = "the item model and its `type` values follow `rl` (see allOf)"
        props[key] = keep
    rl_values = [r.value for r in RLType]
    schema["allOf"] = _dataset_conditionals(rl_values)

    closed_models, open_models = _close_models(schema, models)
    _strip_titles(schema)
    _fill_descriptions(schema, no_desc)
    schema.pop("title", None)
    schema["description"] = f"Axolotl {version} training config (YAML). " + (schema.get("description") or "")

    deps = {}
    for dist in ("axolotl", "pydantic", "transformers", "trl", "peft"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            deps[dist] = importlib.metadata.version(dist)
    out = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://ftgen.invalid/schemas/axolotl-{version}.schema.json",
    }
    out.update(schema)
    out["x-ftgen"] = {
        "framework": "axolotl",
        "version": version,
        "generator": SCRIPT,
        "source": "axolotl.utils.schemas.config.AxolotlInputConfig.model_json_schema(mode='validation') "
        "with torch.dtype enums written by name, plus the args models of axolotl.integrations plugins",
        "packages": deps,
        "closed_models": closed_models,
        "open_models": open_models,
        "field_name_aliases": dict(sorted(by_name.items())),
        "fsdp_prefixed_keys": sorted(fsdp_prefixed),
        "plugin_keys": {k: sorted(v["plugins"]) for k, v in sorted(plugin_keys.items())},
        "plugins_unavailable": dict(sorted(plugin_failures.items())),
        "strategy_modules_unavailable": dict(sorted(strategy_skips.items())),
        "builtin_imports": {
            "why": "Modules of Axolotl's own package that config values name and Axolotl imports: ftgen's spec "
            "check allows these without allow_imports. plugins: every built-in plugin class path "
            "(axolotl.integrations, aliases included; integrations.base.load_plugin also accepts the part after "
            "'axolotl.integrations.'); strategy_modules: per datasets[].type family, the first part of a built-in "
            "strategy name (prompt_strategies.load / prompt_strategies.base.load resolve it inside Axolotl)",
            "plugins": sorted({alias for aliases, _ in plugins.values() for alias in aliases}),
            "strategy_modules": {family: sorted(modules) for family, (_, modules) in sorted(families.items())},
        },
        "derived_enums": {
            "optimizer": len(optimizers),
            "lr_scheduler": len(schedulers),
            "adapter": len(adapters),
            **{f"datasets[].type ({f})": len(v[0]) for f, v in families.items()},
        },
        "numeric_strings": {
            "accepted": True,
            "why": "pydantic (lax mode) converts numeric strings such as '1e-4' (PyYAML reads 1e-4 as a string) "
            "for number and integer fields",
        },
    }
    return out


def main():
    saved = _quiet_imports()
    try:
        schema = build()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
    sys.stdout.write(json.dumps(schema, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
