//! The call a forwarded `POST` keeps live on the platform: [`CallHold`] comes with the
//! [`Grant`](crate::Grant), and the gateway holds it until the response has streamed whole
//! (for an event stream: until the stream ends) or the client went away. The platform
//! releases the caller's credentials to the server process only while a call is live
//! (docs/PROTOCOL.md §3).

use std::any::Any;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};

/// Keeps one call live on the platform while held; dropping it ends the call there.
///
/// The platform puts a guard in it (whose `Drop` ends the call); the gateway only holds it.
pub struct CallHold(Option<Box<dyn Any + Send + Sync>>);

impl CallHold {
    /// Holds `guard` until this is dropped.
    pub fn new(guard: impl Any + Send + Sync) -> Self {
        Self(Some(Box::new(guard)))
    }

    /// Holds nothing: for a platform that keeps no table of calls (a test's stand-in).
    pub fn none() -> Self {
        Self(None)
    }
}

impl std::fmt::Debug for CallHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHold")
            .field("holds", &self.0.is_some())
            .finish()
    }
}

/// A response body that holds its call until the body ends, fails or is dropped.
pub(crate) struct HeldBody<B> {
    inner: B,
    hold: Option<CallHold>,
}

impl<B> HeldBody<B> {
    pub(crate) fn new(inner: B, hold: CallHold) -> Self {
        Self {
            inner,
            hold: Some(hold),
        }
    }
}

impl<B> Body for HeldBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            // A body of known length is not polled again after its last byte.
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.hold = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use http_body_util::{BodyExt as _, Full, StreamBody};

    use super::*;

    /// Sets its flag when dropped.
    struct Guard(Arc<AtomicBool>);

    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn guard() -> (CallHold, Arc<AtomicBool>) {
        let ended = Arc::new(AtomicBool::new(false));
        (CallHold::new(Guard(Arc::clone(&ended))), ended)
    }

    #[tokio::test]
    async fn a_stream_holds_its_call_until_it_ends() {
        let (hold, ended) = guard();
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<Frame<axum::body::Bytes>, std::io::Error>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        });
        let mut body = HeldBody::new(StreamBody::new(Box::pin(stream)), hold);
        tx.send(Ok(Frame::data(axum::body::Bytes::from_static(
            b"event: message\n\n",
        ))))
        .await
        .unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "event: message\n\n");
        assert!(!ended.load(Ordering::SeqCst), "the stream is still open");
        drop(tx);
        assert!(body.frame().await.is_none());
        assert!(ended.load(Ordering::SeqCst), "the stream ended");
    }

    #[tokio::test]
    async fn a_body_of_known_length_ends_its_call_with_its_last_byte() {
        let (hold, ended) = guard();
        let mut body = HeldBody::new(Full::new(axum::body::Bytes::from_static(b"{}")), hold);
        body.frame().await.unwrap().unwrap();
        assert!(ended.load(Ordering::SeqCst));
    }

    #[test]
    fn a_body_dropped_unread_ends_its_call() {
        let (hold, ended) = guard();
        let body = HeldBody::new(Full::new(axum::body::Bytes::from_static(b"{}")), hold);
        assert!(!ended.load(Ordering::SeqCst));
        drop(body);
        assert!(ended.load(Ordering::SeqCst));
    }
}
