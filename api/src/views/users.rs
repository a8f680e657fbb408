//! Users as clients see them: everyone reads the public profile; role flags
//! and last login only staff and the user themself.

use chrono::{DateTime, Utc};
use entity::user;
use poem_openapi::Object;

use crate::auth::Viewer;

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
    pub steam_id: Option<i64>,
    #[oai(nullable)]
    pub steam_account_id: Option<i64>,
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
            steam_id: u.steam_id,
            steam_account_id: u.steam_account_id,
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
