//! Every request-handling method of the developer's handler runs in the request's scope, not
//! only `tools/call`.

mod common;

use gumstack::GumstackContext;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListToolsResult,
        PaginatedRequestParams, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, ResourceContents, Role, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
};
use serde_json::Value;

/// Answers with the caller's user id, read through `GumstackContext::current()`.
#[derive(Debug, Clone)]
struct CallerEcho;

fn caller() -> Result<String, ErrorData> {
    GumstackContext::current()
        .map(|caller| caller.user_id)
        .map_err(|error| ErrorData::internal_error(error.to_string(), None))
}

impl ServerHandler for CallerEcho {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        caller().map(|_| ListToolsResult::default())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = ResourceContents::text(caller()?, request.uri);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn get_prompt(
        &self,
        _request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let message = PromptMessage::new_text(Role::User, caller()?);
        Ok(GetPromptResult::new(vec![message]).into())
    }
}

#[tokio::test]
async fn list_tools_read_resource_and_get_prompt_see_the_caller() {
    let config = gumstack::Config::parse(common::NONE_CONFIG).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let host = gumstack::GumstackHost::new(config, CallerEcho).with_env(common::local_env(&[]));
    tokio::spawn(host.serve_with_listener(listener, std::future::pending()));

    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(url),
    );
    let client = rmcp::ServiceExt::serve(rmcp::model::ClientConfig::default(), transport)
        .await
        .unwrap();

    assert!(client.list_all_tools().await.unwrap().is_empty());

    let resource = client
        .read_resource(ReadResourceRequestParams::new("test://caller"))
        .await
        .unwrap();
    let resource = serde_json::to_value(resource).unwrap();
    assert_eq!(resource["contents"][0]["text"], Value::from("local"));

    let prompt = client
        .get_prompt(GetPromptRequestParams::new("caller"))
        .await
        .unwrap();
    let prompt = serde_json::to_value(prompt).unwrap();
    assert_eq!(
        prompt["messages"][0]["content"]["text"],
        Value::from("local")
    );

    client.cancel().await.unwrap();
}
