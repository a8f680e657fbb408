// A short real flow through the generated TypeScript SDK, as an organiser's
// tool would run it: log in, create a league, players and a tournament with
// two teams, draft the players, enqueue a job and poll it to the end.
// Usage: node out/flow.js <api base, e.g. http://127.0.0.1:8020/api>

import { client } from './client/client.gen';
import {
  addPlayers,
  createDraft,
  createLeague,
  createTeam,
  createTournament,
  createUser,
  enqueueJob,
  getDraft,
  getJob,
  getMe,
  pickPlayer,
  testLogin,
} from './client/sdk.gen';
import type { JobRunView, UserView } from './client/types.gen';

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`flow failed: ${what}`);
}

/** The body of a successful call; anything else stops the flow with the server's error. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined || !result.response.ok) {
    throw new Error(`${what}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function main(): Promise<void> {
  const base = process.argv[2];
  check(base !== undefined, 'pass the API base URL');
  client.setConfig({ baseUrl: base });

  const login = await testLogin({ body: { username: 'ts-organiser', is_staff: true, is_superuser: false } });
  check(login.response.ok, `login answered ${login.response.status}`);
  const session = /dtx_session=([^;]+)/.exec(login.response.headers.get('set-cookie') ?? '')?.[1];
  check(session !== undefined, 'the login sets the session cookie');
  // The session is the document's `session` security scheme (an apiKey cookie).
  client.setConfig({ baseUrl: base, auth: () => session });

  const me = ok(await getMe(), 'me');
  check(me.username === 'ts-organiser' && me.is_staff === true, 'logged in as staff');
  check(Array.isArray(me.active_drafts), 'me lists active drafts');

  const steamLeagueId = 900_000 + Math.floor(Math.random() * 90_000);
  const league = ok(await createLeague({ body: { steam_league_id: steamLeagueId, name: 'TS league' } }), 'league');

  // Steam ids as people paste them; SteamID64s come back as strings.
  const pasted = ['76561198196640480', 'https://www.dotabuff.com/players/39734282', '[U:1:39734283]', 39734284];
  const players: UserView[] = [];
  for (const [i, steamId] of pasted.entries()) {
    players.push(ok(await createUser({ body: { username: `ts-player-${i}`, mmr: 4000 - i * 100, steamId } }), `user ${i}`));
  }
  check(players[0]?.steamId === '76561198196640480', 'a SteamID64 keeps every digit');
  // 76561197960265728 + 39734282 = 76561198000000010, worked by hand.
  check(players[1]?.steamId === '76561198000000010', 'a Dotabuff URL becomes the SteamID64');

  const tournament = ok(
    await createTournament({ body: { name: 'TS night', date_played: '2026-12-01T18:00:00Z', league_id: league.id } }),
    'tournament',
  );
  const ids = players.map((p) => p.id);
  ok(await addPlayers({ path: { id: tournament.id }, body: { user_ids: ids } }), 'players');
  const [a, b, c, d] = ids;
  check(a !== undefined && b !== undefined && c !== undefined && d !== undefined, 'four players');
  ok(await createTeam({ body: { tournament_id: tournament.id, name: 'Radiant', captain_id: a, draft_order: 0 } }), 'team 1');
  ok(await createTeam({ body: { tournament_id: tournament.id, name: 'Dire', captain_id: b, draft_order: 1 } }), 'team 2');

  const draft = ok(await createDraft({ path: { id: tournament.id }, body: { draft_style: 'snake' } }), 'draft');
  check(draft.current_pick_number === 1, 'the draft starts at pick 1');
  ok(await pickPlayer({ path: { id: draft.id }, body: { user_id: c } }), 'pick 1');
  ok(await pickPlayer({ path: { id: draft.id }, body: { user_id: d } }), 'pick 2');
  const drafted = ok(await getDraft({ path: { id: draft.id } }), 'draft after picks');
  check(drafted.users_remaining.length === 0, 'everyone is drafted');
  check(drafted.rounds[0]?.choice_id === c && drafted.rounds[1]?.choice_id === d, 'picks recorded in order');

  // A job, typed by its kind, polled to the end.
  const queued = ok(
    await enqueueJob({ body: { kind: 'update_league_stats', args: { steam_league_id: steamLeagueId } } }),
    'enqueue',
  );
  let run: JobRunView = queued;
  for (let i = 0; i < 100 && run.status !== 'succeeded'; i++) {
    check(run.status !== 'dead' && run.status !== 'failed', `the job failed: ${run.error ?? ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    run = ok(await getJob({ path: { id: queued.id } }), 'job');
  }
  check(run.status === 'succeeded', `the job finished (${run.status})`);
  console.log(`typescript flow: ok (league ${league.id}, draft ${draft.id}, job ${run.id})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
