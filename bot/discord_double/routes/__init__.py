"""Discord's REST API v10, one module per resource; :func:`route_table` lists every route the double answers.

A request for any other route is answered 404 and kept in ``DiscordDouble.unhandled``, so a
test notices when the bot starts using an endpoint the double does not know yet.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.discord_double.interactions import Interactions
from bot.discord_double.rest import RouteSpec
from bot.discord_double.routes.channels import ChannelRoutes
from bot.discord_double.routes.commands import CommandRoutes
from bot.discord_double.routes.guilds import GuildRoutes
from bot.discord_double.routes.interactions import InteractionRoutes
from bot.discord_double.routes.messages import MessageRoutes
from bot.discord_double.routes.polls import PollRoutes
from bot.discord_double.routes.reactions import ReactionRoutes
from bot.discord_double.routes.threads import ThreadRoutes
from bot.discord_double.routes.users import UserRoutes
from bot.discord_double.routes.webhooks import WebhookRoutes
from bot.discord_double.world import World


def route_table(world: World, interactions: Interactions, gateway_url: Callable[[], str]) -> list[RouteSpec]:
    interaction_routes = InteractionRoutes(world, interactions)
    resources = [
        UserRoutes(world, gateway_url),
        CommandRoutes(world),
        GuildRoutes(world),
        ChannelRoutes(world),
        ThreadRoutes(world),
        MessageRoutes(world),
        ReactionRoutes(world),
        PollRoutes(world),
        # Before the interaction routes: channel webhooks share the /webhooks/{id}/{token} paths with follow-ups.
        WebhookRoutes(world, interaction_routes),
        interaction_routes,
    ]
    return [route for resource in resources for route in resource.routes()]
