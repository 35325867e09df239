//! Runs a blocking `dossier` call on its own thread and exposes it as a future.
//!
//! uniffi turns an `async fn` into a Kotlin `suspend fun` / Swift `async` function whose future
//! is polled by the host's executor; a future that blocked inside `poll` would block that
//! executor's thread. Merges are blocking SQLite work, so each async call runs on a thread of its
//! own and wakes the host when done. That needs about forty lines of std, and the host's
//! executor never has to be (or run inside) a tokio runtime. A hub sync is the same blocking call
//! on that thread, driving its WebSocket on a runtime it owns (`sync_io`). Async calls are rare
//! and long (a merge, a hub sync), so a thread per call costs nothing that matters.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::DossierError;

struct Shared<T> {
    result: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// The future returned by [`blocking`].
pub(crate) struct Blocking<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

/// Runs `f` on a new thread; the future completes with its result, or with
/// [`DossierError::Internal`] if it panicked or the thread could not be started.
pub(crate) fn blocking<T, F>(f: F) -> Blocking<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        result: None,
        waker: None,
    }));
    let theirs = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("dossier-async".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let waker = {
                let mut s = theirs.lock().unwrap_or_else(|p| p.into_inner());
                s.result = Some(result);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        });
    if let Err(e) = spawned {
        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
        s.result = Some(Err(Box::new(e)));
    }
    Blocking { shared }
}

impl<T> Future for Blocking<T> {
    type Output = Result<T, DossierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        match s.result.take() {
            Some(Ok(v)) => Poll::Ready(Ok(v)),
            Some(Err(_)) => Poll::Ready(Err(DossierError::Internal(
                "a background call failed unexpectedly".into(),
            ))),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_blocking_call_completes_its_future_with_the_result() {
        assert_eq!(block_on(blocking(|| 6 * 7)), Ok(42));
    }

    #[test]
    fn a_panicking_call_completes_with_an_internal_error_not_a_panic() {
        let r: Result<(), _> = block_on(blocking(|| panic!("boom")));
        assert!(matches!(r, Err(DossierError::Internal(_))));
    }
}
