"""python -m tools.infra_check: the app settings the code reads, and what infra/ sets them to."""

from __future__ import annotations

import sys

from tools.infra_check import bicep, code_settings


def main() -> int:
    template = bicep.load(bicep.MAIN)
    provided = bicep.app_settings(template, bicep.one(template, "Microsoft.Web/sites"))
    uses: dict[str, list[str]] = {}
    for use in code_settings.setting_uses():
        uses.setdefault(use.name, []).append(f"{use.path}:{use.line}")
    missing = []
    print(f"{'setting':<32} {'infra/main.bicep value':<40} read at")
    for name in sorted(uses):
        if code_settings.is_platform_setting(name):
            value = "(platform)"
        elif name in provided:
            value = provided[name]
        else:
            value = "MISSING"
            missing.append(name)
        print(f"{name:<32} {value:<40} {', '.join(uses[name])}")
    for name in sorted(set(provided) - set(uses)):
        print(f"{name:<32} {provided[name][:40]:<40} (not read by the app's Python code)")
    if missing:
        print(f"\nnot provided by infra: {', '.join(missing)} (add them to infra/app-settings.json)", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
