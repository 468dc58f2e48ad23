"""artstyle's web app: `python app.py [--host H] [--port P] [--share] [--mcp]`, or Spaces' `app_file`; installed,
the same is `artstyle-app` (artstyle_app/cli.py).

The UI lives in `artstyle_app/` (one module per job); embed it elsewhere with `from app import build_demo`
(`demo.render()` inside another Blocks, or `gr.mount_gradio_app(fastapi_app, demo, "/art")`).
"""

from __future__ import annotations

# ZeroGPU needs `spaces` imported before anything initialises CUDA, so before torch: artstyle_app's first import
# is artstyle_app.zerogpu, which imports it where it is installed (on Spaces).
import artstyle_app.zerogpu  # noqa: F401  # isort: skip

from artstyle_app import MAX_UPLOAD, build_demo
from artstyle_app.cli import main

__all__ = ["MAX_UPLOAD", "build_demo", "main"]

if __name__ == "__main__":
    main()
