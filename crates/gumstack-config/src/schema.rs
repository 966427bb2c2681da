//! The config.yaml schema: which keys each section has, which are required, and the rules
//! between them (auth type against `provider`/`credentials`, name patterns, uniqueness).

use std::collections::{BTreeMap, HashMap};

use crate::ConfigError;
use crate::document::{Node, Value, key_path};
use crate::mark::Mark;
use crate::model::{Auth, AuthType, Config, CredentialField, MAX_NAME_CHARS, ToolMeta};
use crate::names::{
    CREDENTIAL_NAME_RULE, PROVIDER_NAME_RULE, SCOPE_RULE, TOOL_NAME_RULE, is_credential_name,
    is_provider_name, is_scope, is_tool_name,
};
use crate::reader::{Field, Fields};

const CONFIG_KEYS: &[&str] = &["name", "description", "icon", "auth", "tools"];
const AUTH_KEYS: &[&str] = &["type", "provider", "credentials"];
const CREDENTIAL_KEYS: &[&str] = &[
    "name",
    "label",
    "description",
    "placeholder",
    "secret",
    "required",
];
const TOOL_KEYS: &[&str] = &["name", "description", "scopes"];

/// Reads the document's root into a [`Config`], checking every rule.
pub(crate) fn decode(root: &Node) -> Result<Config, ConfigError> {
    if !matches!(root.value, Value::Mapping(_)) {
        return Err(ConfigError::at(
            "",
            root.mark,
            format!(
                "expected a mapping at the top level (with `name`, `auth`, ...), found {}",
                root.describe()
            ),
        ));
    }
    let top = Fields::read(root, "", CONFIG_KEYS)?;
    let name = server_name(&top.required("name")?)?;
    let description = top.optional_string("description")?.unwrap_or_default();
    let icon = top.optional_string("icon")?;
    let auth = auth(&top.required("auth")?)?;
    let tools = match top.optional("tools") {
        Some(field) => tools(&field, &auth)?,
        None => Vec::new(),
    };
    Ok(Config {
        name,
        description,
        icon,
        auth,
        tools,
    })
}

fn server_name(field: &Field<'_>) -> Result<String, ConfigError> {
    let name = field.string()?.trim().to_owned();
    if name.is_empty() {
        return Err(field.error("`name` must not be empty"));
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(field.error(format!(
            "`name` is {length} characters long; at most {MAX_NAME_CHARS} are allowed"
        )));
    }
    Ok(name)
}

fn auth(field: &Field<'_>) -> Result<Auth, ConfigError> {
    let fields = field.fields(AUTH_KEYS)?;
    let type_field = fields.required_or(
        "type",
        "missing required key `type` (one of `oauth`, `cred`, `none`)",
    )?;
    let kind = auth_type(&type_field)?;
    match kind {
        AuthType::Oauth => {
            refuse(
                &fields,
                "credentials",
                "`credentials` is not allowed with auth type `oauth`: users connect through the \
                 provider instead (keep the provider's client id and secret in environment variables)",
            )?;
            let provider = fields.required_or(
                "provider",
                "auth type `oauth` requires `provider`: the name of an auth provider the server \
                 registers, or a list of names",
            )?;
            Ok(Auth {
                kind,
                providers: providers(&provider)?,
                credentials: Vec::new(),
            })
        }
        AuthType::Cred => {
            refuse_provider(&fields, kind)?;
            let list = fields.required_or(
                "credentials",
                "auth type `cred` requires `credentials`: the list of fields users fill in",
            )?;
            let credentials = credentials(&list)?;
            if credentials.is_empty() {
                return Err(list.error("auth type `cred` requires at least one credential"));
            }
            Ok(Auth {
                kind,
                providers: Vec::new(),
                credentials,
            })
        }
        AuthType::None => {
            refuse_provider(&fields, kind)?;
            let credentials = match fields.optional("credentials") {
                Some(list) => credentials(&list)?,
                None => Vec::new(),
            };
            Ok(Auth {
                kind,
                providers: Vec::new(),
                credentials,
            })
        }
    }
}

fn auth_type(field: &Field<'_>) -> Result<AuthType, ConfigError> {
    let text = field.string()?;
    text.parse::<AuthType>()
        .map_err(|error| field.error(error.to_string()))
}

/// Refuses `key` when it is written at all, even with an empty value.
fn refuse(fields: &Fields<'_>, key: &str, message: &str) -> Result<(), ConfigError> {
    match fields.entry(key) {
        Some(entry) => Err(ConfigError::at(
            key_path(fields.path(), key),
            entry.key_mark,
            message,
        )),
        None => Ok(()),
    }
}

fn refuse_provider(fields: &Fields<'_>, kind: AuthType) -> Result<(), ConfigError> {
    refuse(
        fields,
        "provider",
        &format!("`provider` is only allowed with auth type `oauth`, and this one is `{kind}`"),
    )
}

/// `provider`: one name or a list of names.
fn providers(field: &Field<'_>) -> Result<Vec<String>, ConfigError> {
    let items = match &field.node.value {
        Value::Scalar(_) => vec![field.clone()],
        Value::Sequence(_) => field.items("a list")?,
        Value::Mapping(_) => {
            return Err(field.error(format!(
                "expected a provider name or a list of provider names, found {}",
                field.node.describe()
            )));
        }
    };
    if items.is_empty() {
        return Err(field.error("`provider` lists no provider; name at least one"));
    }
    let mut names = Unique::new("provider");
    let mut providers = Vec::with_capacity(items.len());
    for item in &items {
        let name = item.string()?;
        if !is_provider_name(&name) {
            return Err(item.error(format!(
                "invalid provider name `{name}`: expected {PROVIDER_NAME_RULE}"
            )));
        }
        names.insert(&name, item)?;
        providers.push(name);
    }
    Ok(providers)
}

fn credentials(field: &Field<'_>) -> Result<Vec<CredentialField>, ConfigError> {
    let items = field.items("a list of credential fields")?;
    let mut names = Unique::new("credential name");
    let mut credentials = Vec::with_capacity(items.len());
    for item in &items {
        let fields = item.fields(CREDENTIAL_KEYS)?;
        let name_field = fields.required("name")?;
        let name = name_field.string()?;
        if !is_credential_name(&name) {
            return Err(name_field.error(format!(
                "invalid credential name `{name}`: expected {CREDENTIAL_NAME_RULE}"
            )));
        }
        names.insert(&name, &name_field)?;
        let label = match fields.optional("label") {
            Some(label_field) => {
                let label = label_field.string()?;
                if label.trim().is_empty() {
                    return Err(label_field
                        .error("`label` must not be blank; leave it out to show the name"));
                }
                label
            }
            None => name.clone(),
        };
        credentials.push(CredentialField {
            label,
            description: fields.optional_string("description")?,
            placeholder: fields.optional_string("placeholder")?,
            secret: fields.optional_bool("secret", false)?,
            required: fields.optional_bool("required", true)?,
            name,
        });
    }
    Ok(credentials)
}

fn tools(field: &Field<'_>, auth: &Auth) -> Result<Vec<ToolMeta>, ConfigError> {
    let items = field.items("a list of tools")?;
    let mut names = Unique::new("tool name");
    let mut tools = Vec::with_capacity(items.len());
    for item in &items {
        let fields = item.fields(TOOL_KEYS)?;
        let name_field = fields.required("name")?;
        let name = name_field.string()?;
        if !is_tool_name(&name) {
            return Err(name_field.error(format!(
                "invalid tool name `{name}`: expected {TOOL_NAME_RULE}"
            )));
        }
        names.insert(&name, &name_field)?;
        let scopes = match fields.optional("scopes") {
            Some(field) => tool_scopes(&field, auth)?,
            None => BTreeMap::new(),
        };
        tools.push(ToolMeta {
            name,
            description: fields.optional_string("description")?,
            scopes,
        });
    }
    Ok(tools)
}

/// A tool's `scopes`: a list (the server's one provider) or a mapping from provider to list.
fn tool_scopes(
    field: &Field<'_>,
    auth: &Auth,
) -> Result<BTreeMap<String, Vec<String>>, ConfigError> {
    if auth.kind != AuthType::Oauth {
        return Err(field.error(format!(
            "`scopes` are provider scopes, for auth type `oauth` only; this server's is `{}`",
            auth.kind
        )));
    }
    let mut scopes = BTreeMap::new();
    match &field.node.value {
        Value::Mapping(_) => {
            let names: Vec<&str> = auth.providers.iter().map(String::as_str).collect();
            let fields = field.fields(&names).map_err(|error| ConfigError {
                message: format!(
                    "{} (`scopes` maps a provider of `auth.provider` to its scopes)",
                    error.message
                ),
                ..error
            })?;
            for provider in &auth.providers {
                if let Some(list) = fields.optional(provider) {
                    scopes.insert(provider.clone(), scope_list(&list)?);
                }
            }
        }
        _ => match auth.providers.as_slice() {
            [provider] => {
                scopes.insert(provider.clone(), scope_list(field)?);
            }
            providers => {
                return Err(field.error(format!(
                    "this server has several providers ({}): map each to its scopes, as \
                     `scopes: {{{}: [...]}}`",
                    providers.join(", "),
                    providers[0]
                )));
            }
        },
    }
    Ok(scopes)
}

/// A list of OAuth scopes (RFC 6749 scope-tokens, without commas), each once.
fn scope_list(field: &Field<'_>) -> Result<Vec<String>, ConfigError> {
    let mut scopes: Vec<String> = Vec::new();
    for item in field.items("a list of scopes")? {
        let scope = item.string()?;
        if !is_scope(&scope) {
            return Err(item.error(format!(
                "invalid scope `{}`: expected {SCOPE_RULE}",
                scope.escape_default()
            )));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// Names seen so far in one list, with where each was first written.
struct Unique {
    what: &'static str,
    seen: HashMap<String, Mark>,
}

impl Unique {
    fn new(what: &'static str) -> Self {
        Unique {
            what,
            seen: HashMap::new(),
        }
    }

    /// Records `name`, or refuses it at `field` when it was seen before.
    fn insert(&mut self, name: &str, field: &Field<'_>) -> Result<(), ConfigError> {
        if let Some(first) = self.seen.get(name) {
            return Err(field.error(format!(
                "duplicate {} `{name}` (first defined on line {})",
                self.what, first.line
            )));
        }
        self.seen.insert(name.to_owned(), field.mark());
        Ok(())
    }
}
