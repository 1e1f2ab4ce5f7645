"""The WHOOP MCP server: wiring only. Tools live in ``tools/``, resources and prompts in ``resources.py``.

Built with the official SDK's ``MCPServer``. Every tool returns ``Annotated[CallToolResult, Model]``:
clients get the model's JSON schema as ``outputSchema``, the data as ``structuredContent`` and a short
readable text. Tools read the one ``WhoopService`` of the process from the lifespan context
(``ctx.request_context.lifespan_context``, a :class:`ServerState`), which builds it in the background
right after ``initialize``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.stdio import stdio_server
from mcp.types import CallToolResult, InputRequiredResult
from mcp.types import Tool as MCPTool

from whoopkit.config import Settings, get_settings
from whoopkit.errors import ConfigError
from whoopkit.mcp_server.arguments import ArgumentChecker
from whoopkit.mcp_server.common import READ_ONLY
from whoopkit.mcp_server.errors import Advice, tool_errors
from whoopkit.mcp_server.resources import register_prompts, register_resources
from whoopkit.mcp_server.schemas import DEMO_SOURCE, lighten_tools
from whoopkit.mcp_server.state import ServerState, WarmUp
from whoopkit.mcp_server.tools import ALL_TOOLS, ToolFn
from whoopkit.mcp_server.wire import Replying

if TYPE_CHECKING:
    from whoopkit.service import WhoopService

SERVER_NAME = "whoop"
INSTRUCTIONS = (
    "Read-only access to the user's WHOOP data (recovery, strain, sleep, workouts, trends). "
    "Start with get_health_summary for 'how am I today' and should_i_train_today for training advice; "
    "use get_trends, compare_periods and get_weekly_report for longer views, get_history for raw "
    "records, and what_affects_my_recovery and get_records for what a long history can answer. Units "
    "are in the field names: hours, minutes, %, bpm, ms (HRV), kJ and kcal. WHOOP days "
    "run from falling asleep to falling asleep, labelled with the day woken into. If data_source is "
    f"'{DEMO_SOURCE}', tell the user the data is simulated, not theirs. If stale is true, say how old "
    "the data is (as_of)."
)


class WhoopMCPServer(MCPServer[ServerState]):
    """``MCPServer`` that checks tool arguments strictly before the SDK's lenient validation."""

    def __init__(self, *args: Any, state: ServerState, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state
        self.argument_checkers: dict[str, ArgumentChecker] = {}
        # lighten_tools walks every schema: done once per set of tools, not on every tools/list.
        self._listed: tuple[list[str], list[MCPTool]] | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[ServerState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """Call a tool once its arguments pass :class:`ArgumentChecker`.

        Raises:
            ToolError: unknown tool, bad arguments, or the tool failed (the server turns it into isError).
        """
        checker = self.argument_checkers.get(name)
        if checker is not None:
            checker.check(arguments)
        return await super().call_tool(name, arguments, context)

    async def run_stdio_async(self) -> None:
        """Serve stdio as the SDK does, but answer every line it cannot parse (see :mod:`.wire`)."""
        async with stdio_server() as (read_stream, write_stream):
            await self._lowlevel_server.run(
                Replying(read_stream, write_stream),
                write_stream,
                self._lowlevel_server.create_initialization_options(),
            )

    async def list_tools(self) -> list[MCPTool]:
        """The tools, input schemas closed to unknown arguments (``call_tool`` rejects them), made light."""
        tools = await super().list_tools()
        names = [tool.name for tool in tools]
        if self._listed is None or self._listed[0] != names:
            for tool in tools:
                if tool.name in self.argument_checkers:
                    tool.input_schema = {**tool.input_schema, "additionalProperties": False}
            self._listed = (names, lighten_tools(tools))
        return list(self._listed[1])


def create_server(
    settings: Settings | None = None,
    service: WhoopService | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> WhoopMCPServer:
    """Build the WHOOP MCP server over ``service`` (tests inject one), else over one built in the background.

    ``clock`` is the built service's "now" (ignored with an injected service, which has its own).

    Raises:
        ConfigError: ``WHOOP_MCP_TOOLS`` names a tool that does not exist.
    """
    settings = settings or get_settings()
    state = ServerState(settings, service, clock=clock)

    @asynccontextmanager
    async def lifespan(_: MCPServer[ServerState]) -> AsyncIterator[ServerState]:
        try:
            yield state
        finally:
            await state.aclose()

    server = WhoopMCPServer(
        SERVER_NAME,
        title="WHOOP",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        lifespan=lifespan,
        state=state,
    )
    server.middleware.append(WarmUp())
    advice = Advice.for_settings(settings)
    _register_tools(server, ALL_TOOLS, settings.mcp_tool_allowlist, advice)
    register_resources(server, state, advice)
    register_prompts(server)
    return server


def tool_description(fn: ToolFn) -> str:
    """The tool's docstring on one line (its line breaks are only the source's wrapping)."""
    return " ".join((fn.__doc__ or "").split())


def _register_tools(
    server: WhoopMCPServer, tools: list[tuple[ToolFn, str]], allowlist: frozenset[str] | None, advice: Advice
) -> None:
    """Register the tools ``WHOOP_MCP_TOOLS`` allows (all when unset), each read-only and error-wrapped.

    Raises:
        ConfigError: the allowlist names an unknown tool.
    """
    names = [fn.__name__ for fn, _ in tools]
    if allowlist is not None:
        unknown = sorted(allowlist - set(names))
        if unknown:
            raise ConfigError(
                f"WHOOP_MCP_TOOLS names unknown tool(s) {', '.join(unknown)}; "
                f"valid names: {', '.join(names)}."
            )
    for fn, title in tools:
        if allowlist is None or fn.__name__ in allowlist:
            wrapped = tool_errors(fn, advice)
            server.argument_checkers[fn.__name__] = ArgumentChecker(fn.__name__, wrapped)
            server.add_tool(
                wrapped,
                name=fn.__name__,
                description=tool_description(fn),
                title=title,
                annotations=READ_ONLY.model_copy(update={"title": title}),
                structured_output=True,
            )
