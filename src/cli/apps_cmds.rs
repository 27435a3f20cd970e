//! `hookbus apps …` and `hookbus event-types …`.

use std::process::ExitCode;

use serde_json::json;

use super::client::{call, enc, finish, read_json};
use super::output::{block, table, text};
use super::{AppCommand, EventTypeCommand};

const APP_COLUMNS: &[(&str, &str)] = &[("UID", "uid"), ("NAME", "name"), ("ID", "id")];
const TOKEN_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("PREFIX", "prefix"),
    ("CREATED", "created_at"),
];
const TYPE_COLUMNS: &[(&str, &str)] = &[
    ("NAME", "name"),
    ("DEPRECATED", "deprecated"),
    ("DESCRIPTION", "description"),
];

fn rows(v: &serde_json::Value) -> &[serde_json::Value] {
    v["data"].as_array().map_or(&[][..], Vec::as_slice)
}

/// `hookbus apps …`.
pub async fn apps(cmd: AppCommand) -> ExitCode {
    use AppCommand as A;
    match cmd {
        A::List { remote } => {
            let r = call(&remote, "GET", "/v1/apps?limit=1000", None).await;
            finish(&remote, r, |v| table(rows(v), APP_COLUMNS))
        }
        A::Create { uid, name, remote } => {
            let body = json!({"uid": uid, "name": name.unwrap_or_default()});
            let r = call(&remote, "POST", "/v1/apps", Some(&body)).await;
            finish(&remote, r, |v| {
                block(&[
                    ("id", text(&v["id"])),
                    ("uid", text(&v["uid"])),
                    ("name", text(&v["name"])),
                ])
            })
        }
        A::Delete {
            application: app,
            remote,
        } => {
            let r = call(&remote, "DELETE", &format!("/v1/apps/{}", enc(&app)), None).await;
            finish(&remote, r, |_| format!("Deleted application {app}.\n"))
        }
        A::CreateToken {
            application: app,
            name,
            remote,
        } => {
            let body = json!({"name": name});
            let path = format!("/v1/apps/{}/tokens", enc(&app));
            let r = call(&remote, "POST", &path, Some(&body)).await;
            finish(&remote, r, |v| {
                format!(
                    "{}\nThe token is shown only now; store it:\n{}\n",
                    block(&[("id", text(&v["id"])), ("app", text(&v["app_id"]))]),
                    text(&v["token"])
                )
            })
        }
        A::Tokens {
            application: app,
            remote,
        } => {
            let path = format!("/v1/apps/{}/tokens", enc(&app));
            let r = call(&remote, "GET", &path, None).await;
            finish(&remote, r, |v| table(rows(v), TOKEN_COLUMNS))
        }
        A::RevokeToken {
            application: app,
            token,
            remote,
        } => {
            let path = format!("/v1/apps/{}/tokens/{}", enc(&app), enc(&token));
            let r = call(&remote, "DELETE", &path, None).await;
            finish(&remote, r, |_| format!("Revoked {token}.\n"))
        }
    }
}

/// `hookbus event-types …`.
pub async fn event_types(cmd: EventTypeCommand) -> ExitCode {
    use EventTypeCommand as T;
    match cmd {
        T::List { remote } => {
            let r = call(&remote, "GET", "/v1/event-types?limit=1000", None).await;
            finish(&remote, r, |v| table(rows(v), TYPE_COLUMNS))
        }
        T::Create { file, remote } => {
            let r = match read_json(&file) {
                Ok(body) => call(&remote, "POST", "/v1/event-types", Some(&body)).await,
                Err(f) => Err(f),
            };
            finish(&remote, r, |v| format!("Added {}.\n", text(&v["name"])))
        }
        T::Deprecate { name, remote } => {
            let path = format!("/v1/event-types/{}", enc(&name));
            let r = call(&remote, "PATCH", &path, Some(&json!({"deprecated": true}))).await;
            finish(&remote, r, |_| format!("{name} is deprecated.\n"))
        }
        T::Delete { name, remote } => {
            let path = format!("/v1/event-types/{}", enc(&name));
            let r = call(&remote, "DELETE", &path, None).await;
            finish(&remote, r, |_| format!("Removed {name}.\n"))
        }
    }
}
