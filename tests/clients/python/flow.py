"""A short real flow through the Python client generated from the live
OpenAPI document (openapi-python-client), as an organiser's script would run
it: log in, create a league, players and a tournament with two teams, draft
the players, enqueue a job and poll it to the end.

Usage: python flow.py <api base, e.g. http://127.0.0.1:8020/api>
(with the generated `dtx_client` package on PYTHONPATH).
"""

import datetime
import random
import sys
import time

from dtx_client import AuthenticatedClient, Client

from dtx_client.api.drafts import create_draft, get_draft, pick_player
from dtx_client.api.jobs import enqueue_job, get_job
from dtx_client.api.leagues import create_league
from dtx_client.api.teams import create_team
from dtx_client.api.testing import test_login
from dtx_client.api.tournaments import add_players, create_tournament
from dtx_client.api.users import create_user, get_me
from dtx_client.models import (
    DraftCreate,
    DraftStyle,
    JobUpdateLeagueStats,
    JobUpdateLeagueStatsArgs,
    JobUpdateLeagueStatsKind,
    LeagueCreate,
    PickRequest,
    PlayersAdd,
    TeamCreate,
    TestLogin,
    TournamentCreate,
    UserCreate,
)


def ok(response, what):
    """The parsed body of a successful call; anything else stops the flow."""
    if response.status_code // 100 != 2 or response.parsed is None:
        raise SystemExit(f"{what}: {response.status_code} {response.content!r}")
    return response.parsed


def main(base: str) -> None:
    login = test_login.sync_detailed(
        client=Client(base_url=base), body=TestLogin(username="py-organiser", is_staff=True, is_superuser=False)
    )
    session = login.headers.get("set-cookie", "").split("dtx_session=", 1)[-1].split(";", 1)[0]
    assert login.status_code == 200 and session, f"login: {login.status_code}"
    # The document's `session` scheme is an apiKey cookie: the client sends it as the Cookie header.
    api = AuthenticatedClient(base_url=base, token=f"dtx_session={session}", auth_header_name="Cookie", prefix="")

    me = ok(get_me.sync_detailed(client=api), "me")
    assert me.username == "py-organiser" and me.is_staff, me

    steam_league_id = random.randint(800_000, 899_999)
    league = ok(create_league.sync_detailed(client=api, body=LeagueCreate(steam_league_id=steam_league_id, name="Py league")), "league")

    # Steam ids as people paste them; SteamID64s come back as strings.
    pasted = ["76561198196640475", "https://www.opendota.com/players/39734272", "STEAM_0:1:19867136", 39734274]
    players = [
        ok(create_user.sync_detailed(client=api, body=UserCreate(username=f"py-player-{i}", mmr=4000 - 100 * i, steam_id=s)), f"user {i}")
        for i, s in enumerate(pasted)
    ]
    assert players[0].steam_id == "76561198196640475", players[0].steam_id
    # STEAM_0:1:19867136 → account 2 × 19867136 + 1 = 39734273 → 76561198000000001.
    assert players[2].steam_id == "76561198000000001", players[2].steam_id

    tournament = ok(
        create_tournament.sync_detailed(
            client=api, body=TournamentCreate(
                name="Py night", date_played=datetime.datetime(2026, 12, 1, 18, tzinfo=datetime.timezone.utc), league_id=league.id
            )
        ),
        "tournament",
    )
    ids = [p.id for p in players]
    ok(add_players.sync_detailed(id=tournament.id, client=api, body=PlayersAdd(user_ids=ids)), "players")
    ok(create_team.sync_detailed(client=api, body=TeamCreate(tournament_id=tournament.id, name="Radiant", captain_id=ids[0], draft_order=0)), "team 1")
    ok(create_team.sync_detailed(client=api, body=TeamCreate(tournament_id=tournament.id, name="Dire", captain_id=ids[1], draft_order=1)), "team 2")

    draft = ok(create_draft.sync_detailed(id=tournament.id, client=api, body=DraftCreate(draft_style=DraftStyle.SNAKE)), "draft")
    assert draft.current_pick_number == 1, draft.current_pick_number
    ok(pick_player.sync_detailed(id=draft.id, client=api, body=PickRequest(user_id=ids[2])), "pick 1")
    ok(pick_player.sync_detailed(id=draft.id, client=api, body=PickRequest(user_id=ids[3])), "pick 2")
    drafted = ok(get_draft.sync_detailed(id=draft.id, client=api), "draft after picks")
    assert drafted.users_remaining == [], drafted.users_remaining
    assert [r.choice_id for r in drafted.rounds[:2]] == ids[2:4]

    job = JobUpdateLeagueStats(kind=JobUpdateLeagueStatsKind.UPDATE_LEAGUE_STATS, args=JobUpdateLeagueStatsArgs(steam_league_id=steam_league_id))
    run = ok(enqueue_job.sync_detailed(client=api, body=job), "enqueue")
    for _ in range(100):
        if run.status == "succeeded":
            break
        assert run.status not in ("failed", "dead"), run.error
        time.sleep(0.1)
        run = ok(get_job.sync_detailed(id=run.id, client=api), "job")
    assert run.status == "succeeded", run.status
    print(f"python flow: ok (league {league.id}, draft {draft.id}, job {run.id})")


if __name__ == "__main__":
    main(sys.argv[1])
