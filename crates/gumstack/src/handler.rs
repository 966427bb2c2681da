//! [`ScopedHandler`]: the developer's rmcp handler, run inside the request's [`RequestScope`].
//!
//! Every `ServerHandler` method is delegated to the inner handler unchanged. Methods that handle
//! a request (they receive a `RequestContext`) run inside a task-local scope holding the host
//! state and the caller recorded by the [identity](crate::identity) middleware, which is how
//! `GumstackContext::current()` and `get_credentials()` find them without plumbing.
//! Notifications and `listen` carry no request of their own and are passed through as is.

// The wrapper delegates every method, including the ones the protocol deprecates (logging
// level, legacy resource subscriptions), so it stays transparent for older clients.
#![allow(deprecated)]

use std::{borrow::Cow, sync::Arc};

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CancelTaskParams, CancelledNotificationParam,
        CompleteRequestParams, CompleteResult, CustomNotification, CustomRequest, CustomResult,
        DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetSkillRequestParams,
        GetSkillResult, GetTaskParams, GetTaskResult, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListSkillsResult,
        ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion,
        ReadResourceDirectoryRequestParams, ReadResourceDirectoryResult, ReadResourceRequestParams,
        ReadResourceResponse, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
        SubscriptionFilter, Tool, UnsubscribeRequestParams, UpdateTaskParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};

use crate::{
    identity::CallerIdentity,
    scope::{HostState, RequestScope},
};

/// Wraps the developer's handler `H`; built by the host, one per request (stateless mode).
#[derive(Debug, Clone)]
pub(crate) struct ScopedHandler<H> {
    inner: H,
    host: Arc<HostState>,
}

impl<H> ScopedHandler<H> {
    pub(crate) fn new(inner: H, host: Arc<HostState>) -> Self {
        Self { inner, host }
    }

    fn scope_for(&self, context: &RequestContext<RoleServer>) -> RequestScope {
        RequestScope::new(Arc::clone(&self.host), CallerIdentity::of(context))
    }
}

type Res<T> = Result<T, ErrorData>;
type Ctx = RequestContext<RoleServer>;

impl<H: ServerHandler> ServerHandler for ScopedHandler<H> {
    async fn ping(&self, context: Ctx) -> Res<()> {
        self.scope_for(&context).run(self.inner.ping(context)).await
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: Ctx,
    ) -> Res<InitializeResult> {
        self.scope_for(&context)
            .run(self.inner.initialize(request, context))
            .await
    }

    fn negotiate_initialize(&self, request: &InitializeRequestParams) -> Res<InitializeResult> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    async fn discover(&self, context: Ctx) -> Res<DiscoverResult> {
        self.scope_for(&context)
            .run(self.inner.discover(context))
            .await
    }

    async fn complete(&self, request: CompleteRequestParams, context: Ctx) -> Res<CompleteResult> {
        self.scope_for(&context)
            .run(self.inner.complete(request, context))
            .await
    }

    async fn set_level(&self, request: SetLevelRequestParams, context: Ctx) -> Res<()> {
        self.scope_for(&context)
            .run(self.inner.set_level(request, context))
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: Ctx,
    ) -> Res<GetPromptResponse> {
        self.scope_for(&context)
            .run(self.inner.get_prompt(request, context))
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: Ctx,
    ) -> Res<ListPromptsResult> {
        self.scope_for(&context)
            .run(self.inner.list_prompts(request, context))
            .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: Ctx,
    ) -> Res<ListResourcesResult> {
        self.scope_for(&context)
            .run(self.inner.list_resources(request, context))
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: Ctx,
    ) -> Res<ListResourceTemplatesResult> {
        self.scope_for(&context)
            .run(self.inner.list_resource_templates(request, context))
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: Ctx,
    ) -> Res<ReadResourceResponse> {
        self.scope_for(&context)
            .run(self.inner.read_resource(request, context))
            .await
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    async fn listen(&self, context: SubscriptionContext) -> Res<()> {
        self.inner.listen(context).await
    }

    async fn subscribe(&self, request: SubscribeRequestParams, context: Ctx) -> Res<()> {
        self.scope_for(&context)
            .run(self.inner.subscribe(request, context))
            .await
    }

    async fn unsubscribe(&self, request: UnsubscribeRequestParams, context: Ctx) -> Res<()> {
        self.scope_for(&context)
            .run(self.inner.unsubscribe(request, context))
            .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: Ctx,
    ) -> Res<CallToolResponse> {
        self.scope_for(&context)
            .run(self.inner.call_tool(request, context))
            .await
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: Ctx,
    ) -> Res<ListToolsResult> {
        self.scope_for(&context)
            .run(self.inner.list_tools(request, context))
            .await
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    async fn on_custom_request(&self, request: CustomRequest, context: Ctx) -> Res<CustomResult> {
        self.scope_for(&context)
            .run(self.inner.on_custom_request(request, context))
            .await
    }

    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner.on_cancelled(notification, context).await
    }

    async fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner.on_progress(notification, context).await
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.inner.on_initialized(context).await
    }

    async fn on_roots_list_changed(&self, context: NotificationContext<RoleServer>) {
        self.inner.on_roots_list_changed(context).await
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) {
        self.inner
            .on_custom_notification(notification, context)
            .await
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    async fn get_task(&self, request: GetTaskParams, context: Ctx) -> Res<GetTaskResult> {
        self.scope_for(&context)
            .run(self.inner.get_task(request, context))
            .await
    }

    async fn update_task(&self, request: UpdateTaskParams, context: Ctx) -> Res<()> {
        self.scope_for(&context)
            .run(self.inner.update_task(request, context))
            .await
    }

    async fn cancel_task(&self, request: CancelTaskParams, context: Ctx) -> Res<()> {
        self.scope_for(&context)
            .run(self.inner.cancel_task(request, context))
            .await
    }

    async fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: Ctx,
    ) -> Res<ListSkillsResult> {
        self.scope_for(&context)
            .run(self.inner.list_skills(request, context))
            .await
    }

    async fn get_skill(&self, request: GetSkillRequestParams, context: Ctx) -> Res<GetSkillResult> {
        self.scope_for(&context)
            .run(self.inner.get_skill(request, context))
            .await
    }

    async fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: Ctx,
    ) -> Res<ReadResourceDirectoryResult> {
        self.scope_for(&context)
            .run(self.inner.read_resource_directory(request, context))
            .await
    }
}
