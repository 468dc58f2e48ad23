"""artstyle's web app: `python app.py [--host H] [--port P] [--share]`, or Spaces' `app_file`.

The UI lives in `webapp/` (one module per job); embed it elsewhere with `from app import build_demo`
(`demo.render()` inside another Blocks, or `gr.mount_gradio_app(fastapi_app, demo, "/art")`).
"""

from __future__ import annotations

# ZeroGPU needs `spaces` imported before anything initialises CUDA, so before torch: webapp's first import
# is webapp.zerogpu, which imports it where it is installed (on Spaces).
import webapp.zerogpu  # noqa: F401  # isort: skip

import argparse
import os

from webapp import MAX_UPLOAD, build_demo

__all__ = ["MAX_UPLOAD", "build_demo", "main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the artstyle web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve on a public *.gradio.live link")
    args = parser.parse_args(argv)
    build_demo().launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size=MAX_UPLOAD)


if __name__ == "__main__":
    main()
