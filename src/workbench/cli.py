"""The `workbench` command. Each subcommand lives in its own module as `add_arguments(parser)` and `run(args)`."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> (module, help text). Modules are imported only when their subcommand runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "load": ("workbench.workspace", "读取一个文件夹的导出文件并打印读取报告"),
    "samples": ("workbench.samples", "生成模拟县样例数据（含答案表）"),
    "findings": ("workbench.findings", "比对核查，输出问题清单"),
    "followup": ("workbench.followup", "疑似问题清单：导入、跟踪、导出反馈表"),
    "dashboards": ("workbench.serve", "启动 Voila 看板（默认使用样例数据）"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="教育扶贫数据工作台")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a subcommand whose module is not built yet
            if exc.name != module_name:
                raise
            p.set_defaults(_missing=True)
            continue
        module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        print(f"子命令 {args.command} 尚未提供", file=sys.stderr)
        return 2
    module = importlib.import_module(args._module)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
