"""`artstyle-app` (and `python app.py`): serve the web app. `--mcp` (or ARTSTYLE_MCP=1) also serves its API as
an MCP server for agents (Gradio's `mcp_server`, the `mcp` extra)."""

from __future__ import annotations

# ZeroGPU needs `spaces` imported before anything initialises CUDA, so before torch: the package's first import
# is artstyle_app.zerogpu, which imports it where it is installed (on Spaces).
import artstyle_app.zerogpu  # noqa: F401  # isort: skip

import argparse
import os

from .demo import MAX_UPLOAD, build_demo

ENV_MCP = "ARTSTYLE_MCP"
_TRUE = {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="artstyle-app", description="Serve the artstyle web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve on a public *.gradio.live link")
    parser.add_argument(
        "--mcp",
        action="store_true",
        default=os.environ.get(ENV_MCP, "").strip().lower() in _TRUE,
        help=f"also serve the API as an MCP server at /gradio_api/mcp/ (or {ENV_MCP}=1; needs artstyle[mcp])",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    build_demo().launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=MAX_UPLOAD,
        mcp_server=True if args.mcp else None,  # None: Gradio's own GRADIO_MCP_SERVER decides
    )
