//! The OpenAPI document as generated clients and schema fuzzers need it
//! (SPEC §18). poem-openapi writes most of it from the route definitions;
//! this pass states what it cannot, so the document describes exactly what
//! the server accepts:
//!
//! - an object that refuses unknown fields says `additionalProperties: false`,
//!   and an optional request field says `nullable` (the server reads `null`
//!   as "not given", or as "clear" where the field is a patch);
//! - a field documented with a description no longer wraps its `$ref` in an
//!   `allOf` with a description-only member (generators drop such schemas);
//! - rules the core checks with 422 publish their pattern or range (Steam
//!   ids, vanity names, Discord channel ids, colours), taken from the core;
//! - `POST /api/jobs` lists each kind's `args` as a `oneOf` on `kind`;
//! - create operations link to the operations that take the id they return,
//!   so stateful clients (and fuzzers) reach every operation with real ids.

use serde_json::{Map, Value, json};
use worker::domain::announcements::{MAX_COLOUR, SNOWFLAKE_PATTERN};
use worker::domain::steam_ids;

use crate::types::steam_id_input_schema;
use crate::validate;

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// The finished document, from the one poem-openapi generated.
pub fn finish(generated: &str) -> Value {
    let mut doc: Value = serde_json::from_str(generated).expect("poem-openapi writes valid JSON");
    flatten_ref_wrappers(&mut doc);
    let request_schemas = request_schema_names(&doc);
    let schemas = doc["components"]["schemas"].as_object_mut().expect("components.schemas");
    for name in &request_schemas {
        if let Some(schema) = schemas.get_mut(name) {
            close_request_object(schema);
        }
    }
    schemas.insert("SteamIdInput".into(), steam_id_input_schema());
    for (schema, field, rule) in field_rules() {
        if let Some(prop) = schemas.get_mut(schema).and_then(|s| s.get_mut("properties")).and_then(|p| p.get_mut(field))
        {
            merge(prop, rule);
        }
    }
    document_job_kinds(schemas);
    for (path, method, param, rule) in parameter_rules() {
        if let Some(params) = doc
            .pointer_mut(&format!("/paths/{}/{method}/parameters", path.replace('~', "~0").replace('/', "~1")))
            .and_then(Value::as_array_mut)
        {
            for p in params.iter_mut().filter(|p| p["name"] == param) {
                merge(&mut p["schema"], rule.clone());
            }
        }
    }
    describe_common_parameters(&mut doc);
    add_links(&mut doc);
    doc
}

fn merge(target: &mut Value, patch: Value) {
    if let (Some(t), Value::Object(p)) = (target.as_object_mut(), patch) {
        t.extend(p);
    }
}

/// `{"allOf": [{"$ref": X}, {"description": …}]}` → `{"$ref": X}`, and a
/// nullable one → `{"allOf": [{"$ref": X}], "nullable": true}`.
fn flatten_ref_wrappers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(members)) = map.get("allOf") {
                let refs: Vec<Value> = members.iter().filter(|m| m.get("$ref").is_some()).cloned().collect();
                let decorative = members.iter().all(|m| {
                    m.get("$ref").is_some()
                        || m.as_object().is_some_and(|o| o.keys().all(|k| k == "description" || k == "nullable"))
                });
                if refs.len() == 1 && decorative {
                    let nullable = map.get("nullable") == Some(&Value::Bool(true));
                    map.clear();
                    if nullable {
                        map.insert("allOf".into(), Value::Array(refs));
                        map.insert("nullable".into(), Value::Bool(true));
                    } else {
                        map.extend(refs[0].as_object().cloned().unwrap_or_default());
                    }
                }
            }
            map.values_mut().for_each(flatten_ref_wrappers);
        }
        Value::Array(items) => items.iter_mut().for_each(flatten_ref_wrappers),
        _ => {}
    }
}

fn ref_name(value: &Value) -> Option<String> {
    value.get("$ref")?.as_str()?.strip_prefix(SCHEMA_PREFIX).map(str::to_owned)
}

/// Schemas reachable from request bodies (objects nested in them included).
fn request_schema_names(doc: &Value) -> Vec<String> {
    let mut todo: Vec<String> = Vec::new();
    for op in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .flat_map(|ops| ops.as_object())
        .flat_map(|o| o.values())
    {
        for media in op["requestBody"]["content"].as_object().into_iter().flat_map(|c| c.values()) {
            todo.extend(ref_name(&media["schema"]));
        }
    }
    let mut seen: Vec<String> = Vec::new();
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        let schema = &doc["components"]["schemas"][&name];
        for prop in schema["properties"].as_object().into_iter().flat_map(|p| p.values()) {
            todo.extend(ref_name(prop));
            todo.extend(ref_name(&prop["items"]));
            todo.extend(prop["allOf"].as_array().into_iter().flatten().filter_map(ref_name));
        }
        seen.push(name);
    }
    seen
}

/// Every request object refuses unknown fields (`deny_unknown_fields`), and
/// accepts `null` for each optional field.
/// Unions (`anyOf`/`oneOf` of variants) are left as they are.
fn close_request_object(schema: &mut Value) {
    if schema["type"] != "object" || schema.get("anyOf").is_some() || schema.get("oneOf").is_some() {
        return;
    }
    let required: Vec<Value> = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, prop) in props.iter_mut() {
            if !required.contains(&Value::String(name.clone())) {
                make_nullable(prop);
            }
        }
    }
    schema["additionalProperties"] = Value::Bool(false);
}

fn make_nullable(prop: &mut Value) {
    if let Some(reference) = prop.get("$ref").cloned() {
        *prop = json!({ "allOf": [{ "$ref": reference }], "nullable": true });
    } else if let Some(map) = prop.as_object_mut() {
        map.insert("nullable".into(), Value::Bool(true));
    }
}

/// Rules the server checks (422) that the schema states too: text rules
/// from `crate::validate`, Discord rules from the core.
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let pattern = |p: &str| json!({ "pattern": p });
    let (line, text) = (pattern(&validate::line_pattern()), pattern(validate::TEXT_PATTERN));
    let (timezone, username) = (pattern(validate::TIMEZONE_PATTERN), pattern(&validate::username_pattern()));
    let channel = pattern(SNOWFLAKE_PATTERN);
    let colour = json!({ "minimum": 0, "maximum": MAX_COLOUR });
    let mut rules = Vec::new();
    // A bulk action's kind filter names a job kind (422 `unknown_kind` otherwise); null: every kind.
    let kinds: Vec<Value> = worker::jobs::payload::KINDS.iter().map(|k| json!(k)).chain([Value::Null]).collect();
    rules.push(("BulkRequest", "kind", json!({ "enum": kinds })));
    for schema in ["LeagueCreate", "LeaguePatch", "TeamCreate", "TeamPatch", "TournamentCreate", "TournamentPatch"] {
        rules.push((schema, "name", line.clone()));
    }
    for schema in ["LeagueCreate", "LeaguePatch", "TournamentCreate", "TournamentPatch"] {
        rules.push((schema, "timezone", timezone.clone()));
    }
    for schema in ["LeagueCreate", "LeaguePatch", "TemplateCreate", "TemplatePatch"] {
        rules.push((schema, "description", text.clone()));
    }
    for schema in ["LeagueCreate", "LeaguePatch"] {
        rules.push((schema, "rules", text.clone()));
        rules.push((schema, "prize_pool", text.clone()));
    }
    rules.push(("Exclusion", "reason", line.clone()));
    let nickname = pattern(&validate::nickname_pattern());
    for schema in ["UserCreate", "UserPatch"] {
        rules.push((schema, "discordUsername", nickname.clone()));
        rules.push((schema, "nickname", nickname.clone()));
    }
    rules.push(("ProfilePatch", "nickname", nickname));
    for schema in ["UserCreate", "UserPatch", "TestLogin"] {
        rules.push((schema, "username", username.clone()));
    }
    for schema in ["TemplateCreate", "TemplatePatch"] {
        rules.push((schema, "title", line.clone()));
        rules.push((schema, "channel_id", channel.clone()));
        rules.push((schema, "colour", colour.clone()));
    }
    rules
}

/// A search needs three characters besides blanks, and no NUL.
const SEARCH_PATTERN: &str = r"^[^\x00]*[^\x00\s][^\x00]+[^\x00\s][^\x00]*$";

fn parameter_rules() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        ("/steam/resolve", "get", "vanity", json!({ "pattern": steam_ids::lookup_pattern() })),
        ("/users/search", "get", "q", json!({ "pattern": SEARCH_PATTERN })),
    ]
}

/// An idempotency key the server accepts (checked by
/// `worker::jobs::enqueue::IdempotencyKey::of_user`): not the scheduler's,
/// no control character.
const IDEMPOTENCY_KEY_PATTERN: &str = r"^(?!cron:)[^\x00-\x1F\x7F-\x9F]+$";

/// `JobRequest` becomes a `oneOf` of one schema per kind, discriminated by `kind`.
fn document_job_kinds(schemas: &mut Map<String, Value>) {
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for (kind, args) in worker::jobs::payload::args_schemas() {
        let name = format!("Job_{kind}");
        let args_optional = args["required"].as_array().is_none_or(|r| r.is_empty());
        let mut args = args;
        if args_optional {
            args["nullable"] = Value::Bool(true);
        }
        let required = if args_optional { json!(["kind"]) } else { json!(["kind", "args"]) };
        schemas.insert(
            name.clone(),
            json!({
                "type": "object",
                "title": name,
                "additionalProperties": false,
                "required": required,
                "properties": {
                    "kind": { "type": "string", "enum": [kind] },
                    "args": args,
                    "idempotency_key": {
                        "type": "string", "minLength": 1, "maxLength": 200, "nullable": true,
                        "pattern": IDEMPOTENCY_KEY_PATTERN,
                        "description": "Enqueue once per key: a key you used before answers with that run. \
                            Keys are yours alone; no control characters; `cron:` keys are the scheduler's."
                    }
                }
            }),
        );
        let reference = format!("{SCHEMA_PREFIX}{name}");
        mapping.insert(kind.to_owned(), Value::String(reference.clone()));
        variants.push(json!({ "$ref": reference }));
    }
    schemas.insert(
        "JobRequest".into(),
        json!({
            "description": "A job kind and its arguments (SPEC §5).",
            "oneOf": variants,
            "discriminator": { "propertyName": "kind", "mapping": mapping }
        }),
    );
}

/// Paging and id parameters described once for every operation.
fn describe_common_parameters(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else { return };
    for (path, ops) in paths.iter_mut() {
        let resource =
            path.trim_start_matches('/').split('/').next().unwrap_or("resource").trim_end_matches('s').to_owned();
        for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                if p.get("description").is_some() {
                    continue;
                }
                let text = match p["name"].as_str().unwrap_or_default() {
                    "id" => format!("The {resource}'s id."),
                    "page" => "Page number, from 1 (default 1).".to_owned(),
                    "page_size" => "Results per page, 1 to 100 (default 20).".to_owned(),
                    "league_id" => "The league's id (`id` in `/api/leagues`; not its Steam league id).".to_owned(),
                    "steam_league_id" => "The league's Steam league id (Dota 2's, e.g. 17929).".to_owned(),
                    "user_id" => "The user's id.".to_owned(),
                    "tournament_id" => "Only those of this tournament.".to_owned(),
                    "match_id" => "The Steam match id.".to_owned(),
                    "status" | "state" => "Only those in this state.".to_owned(),
                    other => format!("The `{other}` filter."),
                };
                p["description"] = Value::String(text);
            }
            for resp in op.get_mut("responses").and_then(Value::as_object_mut).into_iter().flat_map(|r| r.values_mut())
            {
                if resp["description"] == "" {
                    resp["description"] = Value::String("Success.".into());
                }
            }
        }
    }
}

/// Links from each create operation (201, or 202 for a job) to the operations on
/// `{collection}/{param}` and below whose path parameters the created body
/// holds: a parameter takes the body field of its name, the first one `id`.
fn add_links(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object() else { return };
    let mut links: Vec<(String, &str, Map<String, Value>)> = Vec::new();
    for (path, ops) in paths {
        // 201 for a resource, 202 for a job.
        let Some((status, created)) =
            ["201", "202"].into_iter().find_map(|s| ops["post"]["responses"].get(s).map(|r| (s, r)))
        else {
            continue;
        };
        let Some(body) = created["content"].as_object().and_then(|c| c.values().next()) else { continue };
        let Some(name) = ref_name(&body["schema"]) else { continue };
        let fields: Vec<String> = doc["components"]["schemas"][&name]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        // A draft or hero draft is created under its tournament or game, and lives under its own collection.
        let collection = match path.rsplit('/').next() {
            Some("herodraft") => "/herodrafts".to_owned(),
            Some("draft") => "/drafts".to_owned(),
            _ => path.clone(),
        };
        let mut found = Map::new();
        for (target, target_ops) in paths {
            if !target.starts_with(&format!("{collection}/{{")) {
                continue;
            }
            let params: Vec<&str> =
                target.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(p, _)| p).collect();
            let mut parameters = Map::new();
            for (i, param) in params.iter().enumerate() {
                let field = if fields.iter().any(|f| f == param) { Some(*param) } else { (i == 0).then_some("id") };
                match field.filter(|f| fields.iter().any(|x| x == f)) {
                    Some(f) => parameters.insert((*param).to_owned(), Value::String(format!("$response.body#/{f}"))),
                    None => break,
                };
            }
            if parameters.len() != params.len() {
                continue;
            }
            for (method, op) in target_ops.as_object().into_iter().flatten() {
                let Some(op_id) = op["operationId"].as_str() else { continue };
                found.insert(
                    op_id.to_owned(),
                    json!({ "operationId": op_id, "parameters": parameters, "description": format!("{} {target}", method.to_uppercase()) }),
                );
            }
        }
        if !found.is_empty() {
            links.push((path.clone(), status, found));
        }
    }
    for (path, status, found) in links {
        doc["paths"][&path]["post"]["responses"][status]["links"] = Value::Object(found);
    }
}

/// Which methods each documented path has, for the `Allow` header of a 405.
pub struct PathMethods {
    /// Path templates under `/api`, split in segments (`{…}` matches any one).
    templates: Vec<(Vec<String>, Vec<String>)>,
}

impl PathMethods {
    pub fn of(doc: &Value) -> Self {
        let templates = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, ops)| {
                let segments = format!("/api{path}").split('/').map(str::to_owned).collect();
                let mut methods: Vec<String> =
                    ops.as_object().into_iter().flatten().map(|(m, _)| m.to_uppercase()).collect();
                methods.sort();
                (segments, methods)
            })
            .collect();
        Self { templates }
    }

    /// `GET, PATCH` for a path the document has; `None` otherwise.
    pub fn allowed(&self, path: &str) -> Option<String> {
        let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.templates
            .iter()
            .filter(|(segments, _)| {
                segments.len() == wanted.len()
                    && segments.iter().zip(&wanted).all(|(t, w)| t == w || (t.starts_with('{') && !w.is_empty()))
            })
            // A literal segment beats a parameter (`/users/search` before `/users/{id}`).
            .max_by_key(|(segments, _)| segments.iter().filter(|s| !s.starts_with('{')).count())
            .map(|(_, methods)| methods.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_follow_the_document() {
        let doc = json!({ "paths": {
            "/users/{id}": { "get": {}, "patch": {}, "delete": {} },
            "/users/search": { "get": {} },
        } });
        let methods = PathMethods::of(&doc);
        assert_eq!(methods.allowed("/api/users/5").as_deref(), Some("DELETE, GET, PATCH"));
        assert_eq!(methods.allowed("/api/users/search").as_deref(), Some("GET"));
        assert_eq!(methods.allowed("/api/nothing"), None);
    }

    #[test]
    fn description_only_wrappers_become_plain_refs() {
        let mut v = json!({ "p": { "allOf": [{ "$ref": "#/components/schemas/E" }, { "description": "d" }] } });
        flatten_ref_wrappers(&mut v);
        assert_eq!(v, json!({ "p": { "$ref": "#/components/schemas/E" } }));
        let mut n = json!({ "allOf": [{ "$ref": "#/components/schemas/E" }, { "nullable": true }], "nullable": true });
        flatten_ref_wrappers(&mut n);
        assert_eq!(n, json!({ "allOf": [{ "$ref": "#/components/schemas/E" }], "nullable": true }));
    }

    #[test]
    fn request_objects_close_and_optional_fields_take_null() {
        let mut s = json!({ "type": "object", "required": ["a"], "properties": { "a": { "type": "string" }, "b": { "type": "string" } } });
        close_request_object(&mut s);
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["properties"]["a"].get("nullable"), None);
        assert_eq!(s["properties"]["b"]["nullable"], true);
    }
}
