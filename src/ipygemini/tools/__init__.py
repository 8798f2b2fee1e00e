"""Gemini that knows the notebook: Python functions as tools, and the notebook's own context."""

from ._functions import Tool, ToolResult, tools_from

__all__ = ["Tool", "ToolResult", "tools_from"]
