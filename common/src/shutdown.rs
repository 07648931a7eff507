//! Graceful shutdown: SIGTERM or SIGINT flips a shared token that every loop watches.

use tokio::sync::watch;

/// A cloneable handle that reports when shutdown was requested.
#[derive(Clone, Debug)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// The side that requests shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

impl ShutdownTrigger {
    /// Requests shutdown of every holder of the paired [`Shutdown`].
    pub fn trigger(&self) {
        let _ = self.sender.send(true);
    }
}

/// A new trigger and token pair.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger { sender }, Shutdown { receiver })
}

impl Shutdown {
    /// A token triggered by SIGTERM or SIGINT (Ctrl-C).
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let (trigger, token) = channel();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT received: shutting down"),
            }
            trigger.trigger();
        });
        Ok(token)
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Resolves once shutdown is requested (immediately if it already was).
    pub async fn requested(&mut self) {
        let _ = self.receiver.wait_for(|requested| *requested).await;
    }
}
