"""artstyle's web app: a Gradio Blocks UI over `artstyle.stylize_iter`, nothing of the algorithm inside.

One module per job: `zerogpu` (Spaces' GPU lending), `devices` (the pool and per-device profiles),
`requests` (page/API inputs -> a validated run, errors -> sentences), `runs` (the streaming runner),
`components` (controls generated from StyleParams), `paintings` (the presets on offer), `estimate`,
`paint_tab`, `paper_tab`, and `demo` (the assembly and its queue).
"""

from . import zerogpu  # noqa: F401  # first: ZeroGPU needs `spaces` imported before torch
from .demo import MAX_UPLOAD, TITLE, build_demo, queue_size

__all__ = ["MAX_UPLOAD", "TITLE", "build_demo", "queue_size"]
