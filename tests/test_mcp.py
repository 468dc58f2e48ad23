"""The web app as an MCP server (`artstyle-app --mcp`), driven by the official MCP Python client (`mcp`): the
tools an agent sees, and a stylisation called with a small photo and a preset that returns a picture."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import needs_shared, served_app

pytestmark = [needs_shared, pytest.mark.slow]
mcp = pytest.importorskip("mcp", reason="the MCP client comes with gradio[mcp] (the dev and mcp extras)")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("gradio"), mcp=True) as (_demo, base):
        yield f"{base}gradio_api/mcp/"


def _session(url: str, work):
    """Run `work(session)` in an initialised MCP client session over streamable HTTP."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def main():
        async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)

    return asyncio.run(main())


def _photo() -> Image.Image:
    image = Image.new("RGB", (80, 60), (90, 140, 220))
    image.paste((60, 120, 40), (0, 40, 80, 60))
    return image


def _photo_data_url() -> str:
    buffer = io.BytesIO()
    _photo().save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_the_tools_describe_themselves_to_an_agent(url):
    async def work(session):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in _session(url, work)}
    assert set(tools) == {"stylize", "paper_figure"}
    stylize = tools["stylize"]
    assert stylize.description.startswith("Paint a photo in the style of a famous painting")
    properties = stylize.inputSchema["properties"]
    assert stylize.inputSchema["required"] == ["content"]
    assert "the painting's preset id" in properties["preset"]["description"]
    assert "starry_night" in properties["preset"]["enum"]
    assert all(p["description"] for p in properties.values()), json.dumps(properties)[:500]


def test_a_photo_and_a_preset_come_back_as_a_picture(url):
    async def work(session):
        arguments = {"content": _photo_data_url(), "preset": "the_scream", "size": 64, "steps": 5}
        return await session.call_tool("stylize", arguments)

    result = _session(url, work)
    assert not result.isError, result.content
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 1 and images[0].mimeType == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(images[0].data))).convert("RGB")
    assert picture.size == (64, 48)
    photo = np.asarray(_photo().resize(picture.size, Image.Resampling.LANCZOS), dtype=np.float64)
    assert np.abs(np.asarray(picture, dtype=np.float64) - photo).mean() > 2.0  # painted, not the photo handed back


def test_a_preset_that_cannot_be_had_is_refused_with_its_name(url):
    async def work(session):
        arguments = {"content": _photo_data_url(), "preset": "no_such_painting", "size": 64, "steps": 2}
        return await session.call_tool("stylize", arguments)

    result = _session(url, work)
    assert result.isError
    text = " ".join(c.text for c in result.content if c.type == "text")
    assert "no_such_painting" in text
