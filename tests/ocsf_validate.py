"""Validate OCSF events (JSON Lines) against the published OCSF schema, offline.

Usage: ocsf_validate.py EVENTS.jsonl [--also-newest]

Each event is validated against the JSON Schema of its class (`class_uid`) in the OCSF
version it declares (`metadata.version`), generated from the published schema that the
`ocsf-json-schema` package ships (no network), by `jsonschema` (draft 2020-12). With
--also-newest, also against the newest version the package ships. Prints one line per
error (event number, schema version, where, what) and exits 1 if any event fails, or if
there is no event at all: nothing validated is not a pass.

Run by tests/ocsf.rs from the venv tests/python_venv.rs makes under target/.
"""

import json
import sys

from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema, get_packaged_versions


def newest_version():
    released = [v for v in get_packaged_versions() if "-" not in v]
    return max(released, key=lambda v: tuple(int(p) for p in v.split(".")))


_validators = {}


def validator(version, class_uid):
    key = (version, class_uid)
    if key not in _validators:
        schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
        name = schema.lookup_class_name_from_uid(class_uid)
        class_schema = schema.get_class_schema(class_name=name)
        Draft202012Validator.check_schema(class_schema)
        _validators[key] = (name, Draft202012Validator(class_schema))
    return _validators[key]


def main():
    args = sys.argv[1:]
    also_newest = "--also-newest" in args
    paths = [a for a in args if a != "--also-newest"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(paths[0], encoding="utf-8") as f:
        events = [json.loads(line) for line in f if line.strip()]
    if not events:
        print("no OCSF event to validate", file=sys.stderr)
        return 1
    failures = 0
    checked = set()
    for n, event in enumerate(events, 1):
        declared = event.get("metadata", {}).get("version")
        if declared not in get_packaged_versions():
            print(f"event {n}: metadata.version {declared!r} is not a published OCSF version")
            failures += 1
            continue
        versions = [declared] + ([newest_version()] if also_newest else [])
        for version in dict.fromkeys(versions):
            name, v = validator(version, event.get("class_uid"))
            checked.add(f"{version} {name}")
            for error in sorted(v.iter_errors(event), key=lambda e: list(e.absolute_path)):
                where = "/".join(str(p) for p in error.absolute_path) or "(the event)"
                print(f"event {n}, OCSF {version} {name}: at {where}: {error.message}")
                failures += 1
    if failures:
        print(f"{failures} error(s) in {len(events)} event(s)")
        return 1
    print(f"{len(events)} event(s) valid against OCSF {', '.join(sorted(checked))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
