//! Every table of SPEC §2, with keys, uniqueness and an index on every
//! foreign key. Deleting a user or a team never deletes history (draft rounds,
//! games): those references are `SET NULL`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261125_000001_schema"
    }
}

const CASCADE: ForeignKeyAction = ForeignKeyAction::Cascade;
const SET_NULL: ForeignKeyAction = ForeignKeyAction::SetNull;

/// `tournaments.winning_team_id` and `teams.tournament_id` point at each
/// other; PostgreSQL gets the first one as a separate constraint.
const TOURNAMENT_WINNER_FK: &str = "fk_tournaments_winning_team_id";

fn fk(
    table: &'static str,
    col: &'static str,
    to: &'static str,
    to_col: &'static str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(format!("fk_{table}_{col}")).from(table, col).to(to, to_col).on_delete(on_delete).take()
}

fn created_updated(t: &mut TableCreateStatement) -> &mut TableCreateStatement {
    t.col(timestamp_with_time_zone("created_at")).col(timestamp_with_time_zone("updated_at"))
}

/// One table: its statement plus the indexes to create with it.
struct TableSpec {
    name: &'static str,
    create: TableCreateStatement,
    indexes: Vec<IndexCreateStatement>,
}

fn index(table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("idx_{table}_{}", cols.join("_"))).table(table);
    for col in cols {
        idx.col(*col);
    }
    idx.take()
}

fn unique(table: &'static str, cols: &[&'static str]) -> IndexCreateStatement {
    let mut idx = index(table, cols);
    idx.name(format!("uq_{table}_{}", cols.join("_"))).unique();
    idx
}

fn tables(backend: DatabaseBackend) -> Vec<TableSpec> {
    let mut specs = Vec::new();

    let mut t = Table::create();
    t.table("users")
        .col(big_pk_auto("id"))
        .col(string_len_uniq("username", 150))
        .col(string_len_null("discord_id", 32).unique_key())
        .col(string_len_null("discord_username", 100))
        .col(big_integer_null("steam_id").unique_key())
        .col(big_integer_null("steam_account_id"))
        .col(string_len_null("avatar", 100))
        .col(timestamp_with_time_zone_null("avatar_checked_at"))
        .col(string_len_null("nickname", 100))
        .col(string_len_null("discord_nickname", 100))
        .col(string_len_null("guild_nickname", 100))
        .col(integer_null("mmr"))
        .col(integer_null("league_mmr"));
    for pos in ["pos_carry", "pos_mid", "pos_offlane", "pos_soft_support", "pos_hard_support"] {
        t.col(small_integer(pos).default(0));
    }
    t.col(boolean("is_staff").default(false)).col(boolean("is_superuser").default(false));
    created_updated(&mut t).col(timestamp_with_time_zone_null("last_login"));
    specs.push(TableSpec {
        name: "users",
        create: t,
        indexes: vec![
            index("users", &["steam_account_id"]),
            index("users", &["discord_username"]),
            index("users", &["avatar_checked_at"]),
        ],
    });

    let mut t = Table::create();
    t.table("leagues")
        .col(big_pk_auto("id"))
        .col(big_integer_uniq("steam_league_id"))
        .col(string_len("name", 255))
        .col(text("description"))
        .col(string_len("timezone", 64))
        .col(boolean("sync_enabled").default(true))
        .col(timestamp_with_time_zone_null("last_synced"));
    created_updated(&mut t);
    specs.push(TableSpec { name: "leagues", create: t, indexes: vec![index("leagues", &["name"])] });

    let mut t = Table::create();
    t.table("tournaments")
        .col(big_pk_auto("id"))
        .col(string_len("name", 255))
        .col(timestamp_with_time_zone("date_played"))
        .col(string_len("timezone", 64))
        .col(string_len("state", 32))
        .col(string_len("tournament_type", 32))
        .col(big_integer_null("league_id"))
        .col(big_integer_null("winning_team_id"))
        .foreign_key(&mut fk("tournaments", "league_id", "leagues", "id", SET_NULL));
    if backend == DatabaseBackend::Sqlite {
        // SQLite cannot add a constraint later, but accepts a forward reference.
        t.foreign_key(&mut fk("tournaments", "winning_team_id", "teams", "id", SET_NULL));
    }
    created_updated(&mut t);
    specs.push(TableSpec {
        name: "tournaments",
        create: t,
        indexes: vec![
            index("tournaments", &["league_id"]),
            index("tournaments", &["winning_team_id"]),
            index("tournaments", &["date_played"]),
            index("tournaments", &["state"]),
        ],
    });

    let mut t = Table::create();
    t.table("tournament_users")
        .col(big_integer("tournament_id"))
        .col(big_integer("user_id"))
        .primary_key(Index::create().col("tournament_id").col("user_id"))
        .foreign_key(&mut fk("tournament_users", "tournament_id", "tournaments", "id", CASCADE))
        .foreign_key(&mut fk("tournament_users", "user_id", "users", "id", CASCADE));
    specs.push(TableSpec {
        name: "tournament_users",
        create: t,
        indexes: vec![index("tournament_users", &["user_id"])],
    });

    let mut t = Table::create();
    t.table("teams")
        .col(big_pk_auto("id"))
        .col(big_integer("tournament_id"))
        .col(string_len("name", 255))
        .col(big_integer_null("captain_id"))
        .col(big_integer_null("deputy_captain_id"))
        .col(integer("draft_order").default(0))
        .col(integer_null("placement"))
        .foreign_key(&mut fk("teams", "tournament_id", "tournaments", "id", CASCADE))
        .foreign_key(&mut fk("teams", "captain_id", "users", "id", SET_NULL))
        .foreign_key(&mut fk("teams", "deputy_captain_id", "users", "id", SET_NULL));
    created_updated(&mut t);
    specs.push(TableSpec {
        name: "teams",
        create: t,
        indexes: vec![
            index("teams", &["tournament_id"]),
            index("teams", &["captain_id"]),
            index("teams", &["deputy_captain_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("team_members")
        .col(big_integer("team_id"))
        .col(big_integer("user_id"))
        .primary_key(Index::create().col("team_id").col("user_id"))
        .foreign_key(&mut fk("team_members", "team_id", "teams", "id", CASCADE))
        .foreign_key(&mut fk("team_members", "user_id", "users", "id", CASCADE));
    specs.push(TableSpec { name: "team_members", create: t, indexes: vec![index("team_members", &["user_id"])] });

    let mut t = Table::create();
    t.table("steam_matches")
        .col(big_integer("match_id").primary_key())
        .col(big_integer_null("match_seq_num"))
        .col(big_integer("league_id"))
        .col(boolean("radiant_win"))
        .col(integer("duration"))
        .col(timestamp_with_time_zone("start_time"))
        .col(integer("game_mode"))
        .col(integer("lobby_type"))
        .col(timestamp_with_time_zone("fetched_at"));
    specs.push(TableSpec {
        name: "steam_matches",
        create: t,
        indexes: vec![index("steam_matches", &["league_id", "start_time"])],
    });

    let mut t = Table::create();
    t.table("games")
        .col(big_pk_auto("id"))
        .col(big_integer_null("tournament_id"))
        .col(big_integer_null("league_id"))
        .col(integer("round").default(1))
        .col(integer("position").default(0))
        .col(string_len("bracket_type", 32))
        .col(string_len("status", 32))
        .col(big_integer_null("radiant_team_id"))
        .col(big_integer_null("dire_team_id"))
        .col(big_integer_null("winning_team_id"))
        .col(big_integer_null("match_id"))
        .foreign_key(&mut fk("games", "tournament_id", "tournaments", "id", CASCADE))
        .foreign_key(&mut fk("games", "league_id", "leagues", "id", SET_NULL))
        .foreign_key(&mut fk("games", "radiant_team_id", "teams", "id", SET_NULL))
        .foreign_key(&mut fk("games", "dire_team_id", "teams", "id", SET_NULL))
        .foreign_key(&mut fk("games", "winning_team_id", "teams", "id", SET_NULL))
        .foreign_key(&mut fk("games", "match_id", "steam_matches", "match_id", SET_NULL));
    created_updated(&mut t);
    specs.push(TableSpec {
        name: "games",
        create: t,
        indexes: [
            "tournament_id",
            "league_id",
            "radiant_team_id",
            "dire_team_id",
            "winning_team_id",
            "match_id",
            "status",
        ]
        .into_iter()
        .map(|c| index("games", &[c]))
        .collect(),
    });

    let mut t = Table::create();
    t.table("drafts")
        .col(big_pk_auto("id"))
        .col(big_integer_uniq("tournament_id"))
        .col(string_len("draft_style", 32))
        .foreign_key(&mut fk("drafts", "tournament_id", "tournaments", "id", CASCADE));
    created_updated(&mut t);
    specs.push(TableSpec { name: "drafts", create: t, indexes: vec![] });

    let mut t = Table::create();
    t.table("draft_rounds")
        .col(big_pk_auto("id"))
        .col(big_integer("draft_id"))
        .col(big_integer_null("captain_id"))
        .col(integer("pick_number"))
        .col(integer("pick_phase"))
        .col(big_integer_null("choice_id"))
        .col(boolean("was_tie").default(false))
        .col(json_binary_null("tie_roll_data"))
        .foreign_key(&mut fk("draft_rounds", "draft_id", "drafts", "id", CASCADE))
        .foreign_key(&mut fk("draft_rounds", "captain_id", "users", "id", SET_NULL))
        .foreign_key(&mut fk("draft_rounds", "choice_id", "users", "id", SET_NULL));
    specs.push(TableSpec {
        name: "draft_rounds",
        create: t,
        indexes: vec![
            unique("draft_rounds", &["draft_id", "pick_number"]),
            unique("draft_rounds", &["draft_id", "choice_id"]),
            index("draft_rounds", &["captain_id"]),
            index("draft_rounds", &["choice_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("draft_events")
        .col(big_pk_auto("id"))
        .col(big_integer("draft_id"))
        .col(string_len("event_type", 32))
        .col(json_binary("payload"))
        .col(big_integer_null("actor_id"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(&mut fk("draft_events", "draft_id", "drafts", "id", CASCADE))
        .foreign_key(&mut fk("draft_events", "actor_id", "users", "id", SET_NULL));
    specs.push(TableSpec {
        name: "draft_events",
        create: t,
        indexes: vec![index("draft_events", &["draft_id", "id"]), index("draft_events", &["actor_id"])],
    });

    let mut t = Table::create();
    t.table("hero_drafts")
        .col(big_pk_auto("id"))
        .col(big_integer_uniq("game_id"))
        .col(string_len("state", 32))
        .col(big_integer_null("roll_winner_team_id"))
        .col(timestamp_with_time_zone_null("paused_at"))
        .col(timestamp_with_time_zone_null("resuming_until"))
        .col(boolean("is_manual_pause").default(false))
        .col(big_integer("version").default(0))
        .foreign_key(&mut fk("hero_drafts", "game_id", "games", "id", CASCADE))
        .foreign_key(&mut fk("hero_drafts", "roll_winner_team_id", "teams", "id", SET_NULL));
    created_updated(&mut t);
    specs.push(TableSpec {
        name: "hero_drafts",
        create: t,
        indexes: vec![index("hero_drafts", &["roll_winner_team_id"]), index("hero_drafts", &["state"])],
    });

    let mut t = Table::create();
    t.table("hero_draft_teams")
        .col(big_pk_auto("id"))
        .col(big_integer("hero_draft_id"))
        .col(big_integer("team_id"))
        .col(boolean_null("is_first_pick"))
        .col(boolean_null("is_radiant"))
        .col(big_integer("reserve_time_remaining_ms"))
        .col(boolean("is_ready").default(false))
        .col(boolean("is_connected").default(false))
        .foreign_key(&mut fk("hero_draft_teams", "hero_draft_id", "hero_drafts", "id", CASCADE))
        .foreign_key(&mut fk("hero_draft_teams", "team_id", "teams", "id", CASCADE));
    specs.push(TableSpec {
        name: "hero_draft_teams",
        create: t,
        indexes: vec![
            unique("hero_draft_teams", &["hero_draft_id", "team_id"]),
            index("hero_draft_teams", &["team_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("hero_draft_rounds")
        .col(big_pk_auto("id"))
        .col(big_integer("hero_draft_id"))
        .col(big_integer("hero_draft_team_id"))
        .col(integer("round_number"))
        .col(string_len("action_type", 32))
        .col(integer_null("hero_id"))
        .col(string_len("state", 32))
        .col(big_integer("grace_time_ms"))
        .col(timestamp_with_time_zone_null("started_at"))
        .col(timestamp_with_time_zone_null("completed_at"))
        .foreign_key(&mut fk("hero_draft_rounds", "hero_draft_id", "hero_drafts", "id", CASCADE))
        .foreign_key(&mut fk("hero_draft_rounds", "hero_draft_team_id", "hero_draft_teams", "id", CASCADE));
    specs.push(TableSpec {
        name: "hero_draft_rounds",
        create: t,
        indexes: vec![
            unique("hero_draft_rounds", &["hero_draft_id", "round_number"]),
            index("hero_draft_rounds", &["hero_draft_team_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("hero_draft_events")
        .col(big_pk_auto("id"))
        .col(big_integer("hero_draft_id"))
        .col(string_len("event_type", 32))
        .col(big_integer_null("hero_draft_team_id"))
        .col(json_binary("metadata"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(&mut fk("hero_draft_events", "hero_draft_id", "hero_drafts", "id", CASCADE))
        .foreign_key(&mut fk("hero_draft_events", "hero_draft_team_id", "hero_draft_teams", "id", SET_NULL));
    specs.push(TableSpec {
        name: "hero_draft_events",
        create: t,
        indexes: vec![
            index("hero_draft_events", &["hero_draft_id", "id"]),
            index("hero_draft_events", &["hero_draft_team_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("player_match_stats")
        .col(big_pk_auto("id"))
        .col(big_integer("match_id"))
        .col(big_integer_null("steam_id"))
        .col(big_integer_null("user_id"))
        .col(integer("player_slot"));
    for stat in [
        "hero_id",
        "kills",
        "deaths",
        "assists",
        "gold_per_min",
        "xp_per_min",
        "last_hits",
        "denies",
        "hero_damage",
        "tower_damage",
        "hero_healing",
    ] {
        t.col(integer(stat).default(0));
    }
    t.foreign_key(&mut fk("player_match_stats", "match_id", "steam_matches", "match_id", CASCADE))
        .foreign_key(&mut fk("player_match_stats", "user_id", "users", "id", SET_NULL));
    specs.push(TableSpec {
        name: "player_match_stats",
        create: t,
        indexes: vec![
            unique("player_match_stats", &["match_id", "player_slot"]),
            index("player_match_stats", &["steam_id"]),
            index("player_match_stats", &["user_id"]),
        ],
    });

    let mut t = Table::create();
    t.table("league_player_stats")
        .col(big_pk_auto("id"))
        .col(big_integer("user_id"))
        .col(big_integer("league_id"))
        .col(integer("games_played").default(0))
        .col(integer("wins").default(0))
        .col(integer("losses").default(0));
    for total in ["total_kills", "total_deaths", "total_assists", "total_gpm", "total_xpm"] {
        t.col(big_integer(total).default(0));
    }
    for avg in ["win_rate", "avg_kills", "avg_deaths", "avg_assists", "avg_gpm", "avg_xpm", "avg_kda"] {
        t.col(double(avg).default(0.0));
    }
    t.col(integer("mmr_adjustment").default(0))
        .col(timestamp_with_time_zone("updated_at"))
        .foreign_key(&mut fk("league_player_stats", "user_id", "users", "id", CASCADE))
        .foreign_key(&mut fk("league_player_stats", "league_id", "leagues", "id", CASCADE));
    specs.push(TableSpec {
        name: "league_player_stats",
        create: t,
        indexes: vec![
            unique("league_player_stats", &["user_id", "league_id"]),
            index("league_player_stats", &["league_id", "games_played"]),
        ],
    });

    let mut t = Table::create();
    t.table("league_sync_states")
        .col(big_pk_auto("id"))
        .col(big_integer_uniq("league_id"))
        .col(big_integer_null("last_match_id"))
        .col(timestamp_with_time_zone_null("last_sync_at"))
        .col(json_binary("failed_match_ids"))
        .col(text_null("last_error"))
        .foreign_key(&mut fk("league_sync_states", "league_id", "leagues", "id", CASCADE));
    specs.push(TableSpec { name: "league_sync_states", create: t, indexes: vec![] });

    let mut t = Table::create();
    t.table("discord_event_templates")
        .col(big_pk_auto("id"))
        .col(string_len("title", 256))
        .col(text("description"))
        .col(integer("colour").default(0))
        .col(string_len("channel_id", 32))
        .col(boolean("include_rsvp").default(false));
    created_updated(&mut t);
    specs.push(TableSpec { name: "discord_event_templates", create: t, indexes: vec![] });

    let mut t = Table::create();
    t.table("scheduled_discord_events")
        .col(big_pk_auto("id"))
        .col(big_integer("template_id"))
        .col(timestamp_with_time_zone("next_post_at"))
        .col(boolean("is_recurring").default(false))
        .col(boolean("is_active").default(true))
        .col(timestamp_with_time_zone_null("last_posted_at"))
        .col(string_len_null("discord_message_id", 32))
        .foreign_key(&mut fk("scheduled_discord_events", "template_id", "discord_event_templates", "id", CASCADE));
    created_updated(&mut t);
    specs.push(TableSpec {
        name: "scheduled_discord_events",
        create: t,
        indexes: vec![
            index("scheduled_discord_events", &["template_id"]),
            index("scheduled_discord_events", &["is_active", "next_post_at"]),
        ],
    });

    let mut t = Table::create();
    t.table("job_runs")
        .col(string_len("id", 64).primary_key())
        .col(string_len("kind", 64))
        .col(json_binary("args"))
        .col(string_len("status", 32))
        .col(integer("attempts").default(0))
        .col(integer("max_attempts"))
        .col(integer_null("progress"))
        .col(json_binary_null("result"))
        .col(text_null("error"))
        .col(big_integer_null("enqueued_by"))
        .col(timestamp_with_time_zone("enqueued_at"))
        .col(timestamp_with_time_zone_null("started_at"))
        .col(timestamp_with_time_zone_null("finished_at"))
        .col(string_len_null("idempotency_key", 255).unique_key())
        .foreign_key(&mut fk("job_runs", "enqueued_by", "users", "id", SET_NULL));
    specs.push(TableSpec {
        name: "job_runs",
        create: t,
        indexes: vec![
            index("job_runs", &["kind", "status"]),
            index("job_runs", &["status", "enqueued_at"]),
            index("job_runs", &["enqueued_by"]),
        ],
    });

    let mut t = Table::create();
    t.table("kv_entries")
        .col(string_len("key", 255).primary_key())
        .col(text("value"))
        .col(timestamp_with_time_zone("expires_at"));
    specs.push(TableSpec { name: "kv_entries", create: t, indexes: vec![index("kv_entries", &["expires_at"])] });

    specs
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for spec in tables(backend) {
            manager.create_table(spec.create).await?;
            for idx in spec.indexes {
                manager.create_index(idx).await?;
            }
        }
        if backend != DatabaseBackend::Sqlite {
            manager
                .create_foreign_key(
                    ForeignKey::create()
                        .name(TOURNAMENT_WINNER_FK)
                        .from("tournaments", "winning_team_id")
                        .to("teams", "id")
                        .on_delete(SET_NULL)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        if backend != DatabaseBackend::Sqlite {
            manager
                .drop_foreign_key(ForeignKey::drop().name(TOURNAMENT_WINNER_FK).table("tournaments").to_owned())
                .await?;
        }
        for spec in tables(backend).into_iter().rev() {
            manager.drop_table(Table::drop().table(spec.name).take()).await?;
        }
        Ok(())
    }
}
