//! Users as clients see them: everyone reads the public profile; role flags
//! and last login only staff and the user themself.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::{Enum, Object};
use worker::domain::active_drafts::{ActiveDraft, DraftKind};

use crate::auth::Viewer;
use crate::types::SteamId64;

/// Playing-position preferences, 0 (does not play) to 5 (best).
#[derive(Debug, Clone, Object)]
pub struct Positions {
    pub carry: i16,
    pub mid: i16,
    pub offlane: i16,
    pub soft_support: i16,
    pub hard_support: i16,
}

/// A user as clients see it.
#[derive(Debug, Clone, Object)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    #[oai(rename = "discordId", nullable)]
    pub discord_id: Option<String>,
    #[oai(rename = "discordUsername", nullable)]
    pub discord_username: Option<String>,
    #[oai(rename = "steamId", nullable)]
    pub steam_id: Option<SteamId64>,
    #[oai(nullable)]
    pub steam_account_id: Option<i64>,
    /// The Steam persona name, as of the last `refresh_steam_profiles`.
    #[oai(rename = "steamPersonaName", nullable)]
    pub steam_persona_name: Option<String>,
    /// The Steam avatar (full size), as of the last `refresh_steam_profiles`.
    #[oai(rename = "steamAvatarUrl", nullable)]
    pub steam_avatar_url: Option<String>,
    /// Discord avatar hash.
    #[oai(nullable)]
    pub avatar: Option<String>,
    #[oai(rename = "avatarUrl", nullable)]
    pub avatar_url: Option<String>,
    #[oai(nullable)]
    pub nickname: Option<String>,
    #[oai(rename = "discordNickname", nullable)]
    pub discord_nickname: Option<String>,
    #[oai(rename = "guildNickname", nullable)]
    pub guild_nickname: Option<String>,
    #[oai(nullable)]
    pub mmr: Option<i32>,
    #[oai(nullable)]
    pub league_mmr: Option<i32>,
    pub positions: Positions,
    /// False for a deactivated user (cannot log in; stays in every history).
    pub is_active: bool,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub is_staff: Option<bool>,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub is_superuser: Option<bool>,
    /// Only for staff and the user themself.
    #[oai(skip_serializing_if_is_none)]
    pub last_login: Option<DateTime<Utc>>,
}

impl UserView {
    /// The public profile (what anonymous callers get).
    pub fn public(u: &user::Model) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            discord_id: u.discord_id.clone(),
            discord_username: u.discord_username.clone(),
            steam_id: u.steam_id.map(SteamId64),
            steam_account_id: u.steam_account_id,
            steam_persona_name: u.steam_persona_name.clone(),
            steam_avatar_url: u.steam_avatar_url.clone(),
            avatar: u.avatar.clone(),
            avatar_url: u.avatar_url(),
            nickname: u.nickname.clone(),
            discord_nickname: u.discord_nickname.clone(),
            guild_nickname: u.guild_nickname.clone(),
            mmr: u.mmr,
            league_mmr: u.league_mmr,
            positions: Positions {
                carry: u.pos_carry,
                mid: u.pos_mid,
                offlane: u.pos_offlane,
                soft_support: u.pos_soft_support,
                hard_support: u.pos_hard_support,
            },
            is_active: u.is_active,
            is_staff: None,
            is_superuser: None,
            last_login: None,
        }
    }

    /// The profile as `viewer` may see it.
    pub fn for_viewer(u: &user::Model, viewer: &Viewer) -> Self {
        let mut view = Self::public(u);
        if viewer.sees_private_fields_of(u.id) {
            view.is_staff = Some(u.is_staff);
            view.is_superuser = Some(u.is_superuser);
            view.last_login = u.last_login;
        }
        view
    }
}

/// Which kind of draft an active draft is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ActiveDraftKind {
    TeamDraft,
    HeroDraft,
}

/// An unfinished draft you captain in: where to go now.
#[derive(Debug, Clone, Object)]
pub struct ActiveDraftView {
    pub kind: ActiveDraftKind,
    /// The draft (`/api/drafts/{id}`) or hero draft (`/api/herodrafts/{id}`).
    pub id: i64,
    #[oai(nullable)]
    pub tournament_id: Option<i64>,
    /// The game of a hero draft.
    #[oai(nullable)]
    pub game_id: Option<i64>,
    /// `drafting` for a team draft; the hero draft's state otherwise.
    pub state: String,
    /// Whether the next move is yours.
    pub my_turn: bool,
}

impl From<ActiveDraft> for ActiveDraftView {
    fn from(d: ActiveDraft) -> Self {
        Self {
            kind: match d.kind {
                DraftKind::TeamDraft => ActiveDraftKind::TeamDraft,
                DraftKind::HeroDraft => ActiveDraftKind::HeroDraft,
            },
            id: d.id,
            tournament_id: d.tournament_id,
            game_id: d.game_id,
            state: d.state,
            my_turn: d.my_turn,
        }
    }
}

/// You: your profile with your private fields, and the drafts waiting for you.
#[derive(Debug, Clone, Object)]
pub struct MeView {
    #[oai(flatten)]
    pub user: UserView,
    pub active_drafts: Vec<ActiveDraftView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> user::Model {
        user::Model {
            discord_id: Some("198618246868500481".into()),
            mmr: Some(3000),
            pos_carry: 5,
            is_staff: true,
            last_login: Some(Utc::now()),
            ..user::Model::blank(7, "ana")
        }
    }

    #[test]
    fn anonymous_never_sees_role_flags() {
        let anon = Viewer { user: None, token: None };
        let view = UserView::for_viewer(&model(), &anon);
        assert_eq!((view.is_staff, view.is_superuser, view.last_login), (None, None, None));
        assert_eq!(view.avatar_url.as_deref(), Some("https://cdn.discordapp.com/embed/avatars/4.png"));
    }

    #[test]
    fn the_user_sees_own_flags() {
        let me = Viewer { user: Some(model()), token: None };
        assert_eq!(UserView::for_viewer(&model(), &me).is_staff, Some(true));
    }
}
