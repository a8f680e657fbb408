//! `users`: players, captains, staff. `steam_account_id` and `updated_at` are
//! kept in sync on every save (see [`ActiveModelBehavior`]).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::steam_id::account_id_of;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub username: String,
    /// The username's case-folded confusable skeleton (unique): look-alike
    /// names cannot stand side by side. Set on every save of the username.
    #[serde(skip)]
    pub username_key: Option<String>,
    #[sea_orm(unique)]
    pub discord_id: Option<String>,
    pub discord_username: Option<String>,
    #[sea_orm(unique)]
    pub steam_id: Option<i64>,
    pub steam_account_id: Option<i64>,
    /// Discord avatar hash (not a URL).
    pub avatar: Option<String>,
    pub avatar_checked_at: Option<DateTimeUtc>,
    pub nickname: Option<String>,
    pub discord_nickname: Option<String>,
    pub guild_nickname: Option<String>,
    pub mmr: Option<i32>,
    pub league_mmr: Option<i32>,
    pub pos_carry: i16,
    pub pos_mid: i16,
    pub pos_offlane: i16,
    pub pos_soft_support: i16,
    pub pos_hard_support: i16,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// A deactivated user cannot log in and stays in every history.
    pub is_active: bool,
    /// Sessions started under an older epoch are void (bumped when the
    /// account's Discord id changes).
    pub session_epoch: i32,
    /// The Steam profile as Steam shows it (`refresh_steam_profiles`).
    pub steam_persona_name: Option<String>,
    pub steam_avatar_url: Option<String>,
    pub steam_checked_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C: ConnectionTrait>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr> {
        let now = chrono::Utc::now();
        if insert && self.created_at.is_not_set() {
            self.created_at = sea_orm::Set(now);
        }
        self.updated_at = sea_orm::Set(now);
        if let sea_orm::ActiveValue::Set(steam_id) = &self.steam_id {
            self.steam_account_id = sea_orm::Set(steam_id.map(account_id_of));
        }
        if let sea_orm::ActiveValue::Set(username) = &self.username {
            self.username_key = sea_orm::Set(Some(username_key(username)));
        }
        Ok(self)
    }
}

/// What two usernames share when people could not tell them apart: the
/// Unicode TR 39 confusable skeleton, case-folded (and skeletoned again, for
/// look-alikes that only appear after folding) — `аdmin` (Cyrillic а),
/// `ADMIN` and `admin` share one key, which is unique.
pub fn username_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::confusable_detection::skeleton;
    // Case is folded first: the skeleton maps capital I to l, so folding
    // after it would keep `SILENTSALVE` apart from `silentsalve`.
    let folded = name.nfkc().collect::<String>().to_lowercase();
    let once: String = skeleton(&folded).collect::<String>().to_lowercase();
    skeleton(&once).collect::<String>().to_lowercase()
}

/// Discord's CDN, the base of every avatar URL.
pub const DISCORD_CDN: &str = "https://cdn.discordapp.com";

impl Model {
    /// An account with nothing but an id and a name, as a row fresh from
    /// sign-up would read (for tests that need a model without a database).
    pub fn blank(id: i64, username: &str) -> Self {
        let now = chrono::Utc::now();
        Self {
            id,
            username: username.to_owned(),
            username_key: None,
            discord_id: None,
            discord_username: None,
            steam_id: None,
            steam_account_id: None,
            avatar: None,
            avatar_checked_at: None,
            nickname: None,
            discord_nickname: None,
            guild_nickname: None,
            mmr: None,
            league_mmr: None,
            pos_carry: 0,
            pos_mid: 0,
            pos_offlane: 0,
            pos_soft_support: 0,
            pos_hard_support: 0,
            is_staff: false,
            is_superuser: false,
            is_active: true,
            session_epoch: 0,
            steam_persona_name: None,
            steam_avatar_url: None,
            steam_checked_at: None,
            created_at: now,
            updated_at: now,
            last_login: None,
        }
    }

    /// The avatar URL shown to clients (SPEC §2): the custom avatar when a
    /// hash is known, Discord's default avatar otherwise, null without a
    /// Discord account.
    pub fn avatar_url(&self) -> Option<String> {
        avatar_url(DISCORD_CDN, self.discord_id.as_deref(), self.avatar.as_deref())
    }
}

/// Whether `hash` is a Discord avatar hash: hex, `a_` first when animated
/// (anything else — a path, markup — never reaches a URL).
pub fn is_avatar_hash(hash: &str) -> bool {
    let hex = hash.strip_prefix("a_").unwrap_or(hash);
    (1..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// See [`Model::avatar_url`]; `cdn` is a parameter so the avatar check can
/// point it at a test server. A stored hash that is not one is ignored.
pub fn avatar_url(cdn: &str, discord_id: Option<&str>, avatar: Option<&str>) -> Option<String> {
    let discord_id = discord_id.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))?;
    Some(match avatar.filter(|hash| is_avatar_hash(hash)) {
        Some(hash) => {
            let ext = if hash.starts_with("a_") { "gif" } else { "png" };
            format!("{cdn}/avatars/{discord_id}/{hash}.{ext}")
        }
        None => {
            let index = discord_id.parse::<u64>().map(|id| (id >> 22) % 6).unwrap_or(0);
            format!("{cdn}/embed/avatars/{index}.png")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hex_hashes_make_avatar_urls() {
        let cdn = "https://cdn.discordapp.com";
        assert_eq!(
            avatar_url(cdn, Some("80351110224678912"), Some("a_1269e74af4df7417b13759eae50c83dc")).as_deref(),
            Some("https://cdn.discordapp.com/avatars/80351110224678912/a_1269e74af4df7417b13759eae50c83dc.gif")
        );
        let forged = r#"../../../attachments/x?y="><script>"#;
        assert_eq!(
            avatar_url(cdn, Some("80351110224678912"), Some(forged)).as_deref(),
            // Discord's default for that id: (80351110224678912 >> 22) % 6 = 5.
            Some("https://cdn.discordapp.com/embed/avatars/5.png"),
            "a forged hash falls back to the default avatar"
        );
        assert!(!is_avatar_hash("A1B2") && !is_avatar_hash("a_") && is_avatar_hash("deadbeef"));
    }

    #[test]
    fn look_alikes_and_case_share_a_key() {
        assert_eq!(username_key("admin"), username_key("\u{0430}dmin"), "Cyrillic а");
        assert_eq!(username_key("root"), username_key("ROOT"));
        assert_eq!(username_key("silentsalve"), username_key("SILENTSALVE"), "capital I is not l");
        assert_eq!(username_key("ｐｌａｙｅｒ"), username_key("player"), "fullwidth letters");
        assert_ne!(username_key("ana"), username_key("anna"));
    }

    #[test]
    fn custom_avatar_png_and_animated_gif() {
        assert_eq!(
            avatar_url(DISCORD_CDN, Some("42"), Some("abc")).as_deref(),
            Some("https://cdn.discordapp.com/avatars/42/abc.png")
        );
        assert_eq!(
            avatar_url(DISCORD_CDN, Some("42"), Some("a_abc")).as_deref(),
            Some("https://cdn.discordapp.com/avatars/42/a_abc.gif")
        );
    }

    #[test]
    fn default_avatar_from_snowflake() {
        assert_eq!(
            avatar_url(DISCORD_CDN, Some("198618246868500481"), None).as_deref(),
            Some("https://cdn.discordapp.com/embed/avatars/4.png")
        );
    }

    #[test]
    fn no_discord_account_no_avatar() {
        assert_eq!(avatar_url(DISCORD_CDN, None, Some("abc")), None);
        assert_eq!(avatar_url(DISCORD_CDN, Some(""), Some("abc")), None);
    }
}
