"""Gemini that knows the notebook: Python functions and MCP servers' tools as tools, and the
notebook's own context. The MCP parts import the optional `mcp` SDK only when a server is used."""

from ._functions import Tool, ToolResult, tools_from
from ._mcp_result import McpToolOutput
from ._mcp_session import McpServerError
from ._mcp_session import running as running_mcp_servers
from ._mcp_session import stop as stop_mcp_servers
from ._mcp_tools import McpServer, McpTool, mcp_server

__all__ = [
    "McpServer",
    "McpServerError",
    "McpTool",
    "McpToolOutput",
    "Tool",
    "ToolResult",
    "mcp_server",
    "running_mcp_servers",
    "stop_mcp_servers",
    "tools_from",
]
